/** List-append checker on golden histories: serializable histories pass, each anomaly is named. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { type Event, parseHistory } from "./history.ts";
import { checkListAppend } from "./list_append.ts";

const golden = (name: string) =>
  parseHistory(readFileSync(new URL(`golden/${name}`, import.meta.url), "utf8"));

type Mop = [f: "append" | "r", key: string | number, value: unknown];

/** One txn per entry, run one after another by process i: [invoke micro-ops, status, reply]. */
const txns = (ts: [Mop[], "ok" | "fail" | "info", unknown][]): Event[] =>
  ts.flatMap(([mops, status, reply], i) => [
    { type: "invoke", process: i, node: "n1", time: 2 * i, f: "txn", value: mops },
    { type: status, process: i, node: "n1", time: 2 * i + 1, f: "txn", value: reply },
  ]);

/** An ok txn whose reply is its micro-ops with reads filled in (`reads` in order). */
const ok = (mops: Mop[], ...reads: unknown[][]): [Mop[], "ok", unknown] => {
  let i = 0;
  return [mops, "ok", mops.map(([f, k, v]) => f === "r" ? [f, k, reads[i++]] : [f, k, v])];
};

/**
 * A serializable history of `n` txns run one at a time over `keys` keys: each has 1-4 micro-ops,
 * appends and reads half and half, and reads see everything before them. Deterministic (seeded).
 */
function serial(n: number, keys: number): { events: Event[]; lists: number[][] } {
  let seed = 42;
  const rand = (m: number) => {
    // mulberry32: small, seedable, and good in its low bits.
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) % m;
  };
  const lists: number[][] = Array.from({ length: keys }, () => []);
  const events: Event[] = [];
  let value = 0;
  for (let i = 0; i < n; i++) {
    const mops: Mop[] = [], reply: Mop[] = [];
    for (let j = 1 + rand(4); j > 0; j--) {
      const k = rand(keys);
      if (rand(2) === 0) {
        lists[k].push(++value);
        mops.push(["append", k, value]);
        reply.push(["append", k, value]);
      } else {
        mops.push(["r", k, null]);
        reply.push(["r", k, [...lists[k]]]);
      }
    }
    events.push(
      { type: "invoke", process: i % 10, node: "n1", time: 2 * i, f: "txn", value: mops },
      { type: "ok", process: i % 10, node: "n1", time: 2 * i + 1, f: "txn", value: reply },
    );
  }
  return { events, lists };
}

describe("valid", () => {
  test("golden: failed and indeterminate txns, reads of own appends, an empty key", () => {
    const r = checkListAppend(golden("list_append_valid.jsonl"));
    expect(r.errors).toEqual([]);
    expect(r.stats).toMatchObject({
      txns: 7,
      committed: 4,
      failed: 1,
      indeterminate: 2,
      observedIndeterminate: 1,
      keys: 3,
      edges: 6,
      cycles: 0,
    });
  });

  test("an indeterminate txn nobody read adds no edges; once read it does", () => {
    const unread = txns([
      [[["append", "x", 1], ["append", "y", 2]], "info", "timeout"],
      ok([["append", "x", 2], ["append", "y", 1]]),
      ok([["r", "x", null], ["r", "y", null]], [2], [1]),
    ]);
    expect(checkListAppend(unread).stats).toMatchObject({ observedIndeterminate: 0, cycles: 0, edges: 1 });
    const read = txns([
      [[["append", "x", 1], ["append", "y", 2]], "info", "timeout"],
      ok([["append", "x", 2], ["append", "y", 1]]),
      ok([["r", "x", null], ["r", "y", null]], [1, 2], [1, 2]),
    ]);
    const r = checkListAppend(read);
    expect(r.errors).toEqual([
      "G0 cycle among 2 txns: T1 -ww x-> T2 -ww y-> T1 (T1 = process 0 on n1 at 0..1; T2 = process 1 on n1 at 2..3)",
    ]);
    expect(r.stats.observedIndeterminate).toBe(1);
  });

  test("numeric keys and values; a null read is an empty list", () => {
    const h = txns([ok([["r", 1, null], ["append", 1, 10]], []), ok([["r", 1, null]], [10]), [
      [["r", 1, null]],
      "ok",
      [["r", 1, null]],
    ]]);
    expect(checkListAppend(h).errors).toEqual([]);
  });

  test("20,000 serializable txns on 10 keys (reads of thousands of values) check in about a second", () => {
    const { events } = serial(20_000, 10);
    const started = performance.now();
    const r = checkListAppend(events);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(r.errors).toEqual([]);
    expect(r.stats.txns).toBe(20_000);
  });
});

describe("invalid", () => {
  test("golden: G0, two txns' appends interleaved in opposite orders on two keys", () => {
    const r = checkListAppend(golden("list_append_g0.jsonl"));
    expect(r.errors).toEqual([
      "G0 cycle among 2 txns: T1 -ww x-> T2 -ww y-> T1 (T1 = process 1 on n1 at 0..3; T2 = process 2 on n2 at 1..2)",
    ]);
    expect(r.stats).toMatchObject({ G0: 1, cycles: 1 });
  });

  test("golden: G1c, each txn read the other's append", () => {
    const r = checkListAppend(golden("list_append_g1c.jsonl"));
    expect(r.errors).toEqual([
      "G1c cycle among 2 txns: T1 -wr x-> T2 -wr y-> T1 (T1 = process 1 on n1 at 0..3; T2 = process 2 on n2 at 1..2)",
    ]);
    expect(r.stats.G1c).toBe(1);
  });

  test("golden: G-single, a lost update (both read the empty list, both appended)", () => {
    const r = checkListAppend(golden("list_append_lost_update.jsonl"));
    expect(r.errors).toEqual([
      "G-single cycle among 2 txns: T1 -ww x-> T2 -rw x-> T1 (T1 = process 1 on n1 at 0..2; T2 = process 2 on n2 at 1..3)",
    ]);
    expect(r.stats["G-single"]).toBe(1);
  });

  test("golden: G2, write skew (each missed the other's append)", () => {
    const r = checkListAppend(golden("list_append_write_skew.jsonl"));
    expect(r.errors).toEqual([
      "G2 cycle among 2 txns: T1 -rw x-> T2 -rw y-> T1 (T1 = process 1 on n1 at 0..2; T2 = process 2 on n2 at 1..3)",
    ]);
    expect(r.stats.G2).toBe(1);
  });

  test("a component with both a write skew and a single-rw cycle is reported as G-single", () => {
    const h = txns([
      ok([["r", "x", null], ["append", "y", 1], ["r", "z", null]], [], [1]),
      ok([["r", "y", null], ["append", "x", 1], ["append", "z", 1]], []),
      ok([["r", "x", null], ["r", "y", null]], [1], [1]),
    ]);
    const r = checkListAppend(h);
    expect(r.errors).toEqual([
      "G-single cycle among 2 txns: T1 -rw x-> T2 -wr z-> T1 (T1 = process 0 on n1 at 0..1; T2 = process 1 on n1 at 2..3)",
    ]);
    expect(r.stats).toMatchObject({ cycles: 1, "G-single": 1, G2: 0 });
  });

  test("golden: G1a, a read of a failed txn's append", () => {
    const r = checkListAppend(golden("list_append_aborted_read.jsonl"));
    expect(r.errors).toEqual(["G1a (aborted read): T3 read 1 in key x, appended by T1, which failed"]);
    expect(r.stats).toMatchObject({ G1a: 1, cycles: 0 });
  });

  test("golden: incompatible read orders", () => {
    const r = checkListAppend(golden("list_append_incompatible.jsonl"));
    expect(r.errors).toEqual([
      "incompatible read orders on key x: T4 read [2] and T3 read [1,2], which differ at index 0 (2 vs 1)",
    ]);
    expect(r.stats).toMatchObject({ incompatibleOrder: 1, edges: 0 });
  });

  test("internal: a read that misses the txn's own append, or contradicts its earlier read", () => {
    const h = txns([
      ok([["append", "x", 1]]),
      ok([["append", "x", 2], ["r", "x", null]], [1]),
      ok([["r", "x", null], ["append", "x", 3], ["r", "x", null]], [1], [1, 2, 3]),
      ok([["r", "x", null]], [1, 3]),
    ]);
    expect(checkListAppend(h).errors).toEqual([
      "internal: T2 read key x as [1], which does not end with its own appends [2]",
      "internal: T3 read key x as [1,2,3], but its earlier read and own appends make it [1,3]",
      "incompatible read orders on key x: T4 read [1,3] and T3 read [1,2,3], which differ at index 1 (3 vs 2)",
    ]);
  });

  test("garbage reads, duplicate elements, a value appended twice, a reply that does not match", () => {
    const h = txns([
      ok([["append", "x", 1]]),
      ok([["append", "x", 1]]),
      ok([["r", "x", null], ["r", "y", null]], [1, 1], [7]),
      [[["r", "x", null]], "ok", [["r", "y", []]]],
    ]);
    expect(checkListAppend(h).errors).toEqual([
      'T4 (process 3) replied [["r","y",[]]]: micro-op 1 does not match the invoke',
      "workload error: 1 appended to key x twice (T1 and T2)",
      "duplicate elements: T3 read key x as [1,1]",
      "garbage read: T3 read 7 in key y, which no txn appended",
    ]);
    expect(() => checkListAppend(txns([[[["put", "x", 1] as unknown as Mop], "ok", []]]))).toThrow(
      'T1 (process 0): invoke value micro-op 1: must be ["append"|"r", key, value]',
    );
  });

  test("a lost update hidden in 20,000 txns is found as G-single", () => {
    const { events, lists } = serial(20_000, 100);
    // Read key 5 without its last element, then append to it: misses one write and overwrites after it.
    const stale = lists[5].slice(0, -1);
    const n = events.length / 2;
    events.push(
      {
        type: "invoke",
        process: 99,
        node: "n2",
        time: 2 * n,
        f: "txn",
        value: [["r", 5, null], ["append", 5, -1]],
      },
      {
        type: "ok",
        process: 99,
        node: "n2",
        time: 2 * n + 1,
        f: "txn",
        value: [["r", 5, stale], ["append", 5, -1]],
      },
      { type: "invoke", process: 99, node: "n2", time: 2 * n + 2, f: "txn", value: [["r", 5, null]] },
      {
        type: "ok",
        process: 99,
        node: "n2",
        time: 2 * n + 3,
        f: "txn",
        value: [["r", 5, [...lists[5], -1]]],
      },
    );
    const r = checkListAppend(events);
    expect(r.stats).toMatchObject({ cycles: 1, "G-single": 1 });
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/^G-single cycle among \d+ txns: T(\d+) -ww 5-> T20001 -rw 5-> T\1 /);
  });

  test("a ring of 1,000 write skews is one G2 cycle, shown in part", () => {
    // T(i) reads key i empty and appends to key i + 1: each missed its predecessor's append.
    const ring = 1000;
    const h = txns([
      ...Array.from({ length: ring }, (_, i) => ok([["r", i, null], ["append", (i + 1) % ring, i]], [])),
      ok(
        Array.from({ length: ring }, (_, i) => ["r", i, null] as Mop),
        ...Array.from({ length: ring }, (_, i) => [(i + ring - 1) % ring]),
      ),
    ]);
    const r = checkListAppend(h);
    expect(r.stats).toMatchObject({ cycles: 1, G2: 1 });
    expect(r.errors[0]).toStartWith(
      `G2 cycle among ${ring} txns: T1 -rw 0-> T${ring} -rw ${ring - 1}-> T${ring - 1}`,
    );
    expect(r.errors[0]).toContain(`... (${ring - 10} more edges back to T1)`);
  });
});
