/** Bank checker on golden histories: money is conserved and the final balances are reachable. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { checkBank } from "./bank.ts";
import { type Event, parseHistory } from "./history.ts";

const golden = (name: string) =>
  parseHistory(readFileSync(new URL(`golden/${name}`, import.meta.url), "utf8"));

/** Final reads on the given nodes, all after time 2000. */
const finals = (states: Record<string, unknown>) =>
  Object.entries(states).map(([node, v], i) =>
    `{"type":"invoke","process":${100 + i},"node":"${node}","time":2000,"f":"final-read"}
{"type":"ok","process":${100 + i},"node":"${node}","time":2001,"f":"final-read","value":${JSON.stringify(v)}}`
  ).join("\n");

type Transfer = [from: string, to: string, amount: number, status: "ok" | "fail" | "info"];

/** Transfers by processes 1, 2, ... at times 0, 1, ..., each completed with its status. */
const transfers = (ts: Transfer[]) =>
  ts.map(([from, to, amount, status], i) =>
    `{"type":"invoke","process":${i + 1},"node":"n1","time":${i},"f":"transfer","value":${
      JSON.stringify({ from, to, amount })
    }}
{"type":"${status}","process":${i + 1},"node":"n1","time":${i + 0.5},"f":"transfer","value":"r"}`
  ).join("\n") + "\n";

const ABC = { total: 30, accounts: ["a", "b", "c"] };

describe("valid", () => {
  test("golden: a failed transfer, an indeterminate one applied and one not", () => {
    expect(checkBank(golden("bank_valid.jsonl"), ABC)).toEqual({
      valid: true,
      errors: [],
      stats: {
        acknowledged: 1,
        failed: 1,
        indeterminate: 2,
        reads: 2,
        finalReads: 3,
        badSums: 0,
        negative: 0,
        exactReachability: 1,
        boundedReachability: 0,
      },
    });
  });

  test("accounts inferred from the history, or taken from initial; null and missing accounts are 0", () => {
    const h = parseHistory(
      transfers([["a", "b", 30, "ok"]]) + finals({ n1: { a: null, b: 30 }, n2: { b: "30" } }),
    );
    expect(checkBank(h, { total: 30, initial: { a: 30, b: 0 } }).errors).toEqual([]);
    const even = parseHistory(transfers([["a", "b", 5, "ok"]]) + finals({ n1: { a: 10, b: 20 } }));
    expect(checkBank(even, { total: 30 }).errors).toEqual([]);
  });

  test("exact search over twenty indeterminate transfers finds a subset that explains them", () => {
    // a->b of 2, 4, ..., 40: moving 42 needs a subset summing to 42 (e.g. {2, 40}).
    const ts = Array.from({ length: 20 }, (_, i) => ["a", "b", 2 * (i + 1), "info"] as Transfer);
    const h = parseHistory(transfers(ts) + finals({ n1: { a: 258, b: 342, c: 300 } }));
    const r = checkBank(h, { total: 900, accounts: ["a", "b", "c"] });
    expect(r.errors).toEqual([]);
    expect(r.stats).toMatchObject({ indeterminate: 20, exactReachability: 1, boundedReachability: 0 });
  });
});

describe("invalid", () => {
  test("golden: balances that sum to the total but no subset of indeterminate transfers reaches", () => {
    const r = checkBank(golden("bank_unreachable.jsonl"), ABC);
    expect(r.valid).toBe(false);
    expect(r.errors).toEqual([
      "final balances on n1, n2 are unreachable: no subset of the 1 indeterminate transfer(s) explains " +
      'their difference from initial + acknowledged transfers ("a" -2, "c" +2)',
    ]);
    expect(r.stats.exactReachability).toBe(1);
  });

  test("golden: money lost from an acknowledged transfer's destination", () => {
    const r = checkBank(golden("bank_lost_money.jsonl"), ABC);
    expect(r.valid).toBe(false);
    expect(r.errors).toEqual([
      "final-read on n1 (process 10) sums to 25, not 30",
      "final-read on n2 (process 11) sums to 25, not 30",
      'final balance of "b" on n1, n2 is 10, initial + acknowledged transfers give 15: ' +
      "the 0 indeterminate transfer(s) can only move it within [0, +0]",
    ]);
    expect(r.stats).toMatchObject({ badSums: 2, reads: 1 });
  });

  test("an odd difference no subset of twenty even transfers explains (the whole search space is walked)", () => {
    const ts = Array.from({ length: 20 }, (_, i) => ["a", "b", 2 * (i + 1), "info"] as Transfer);
    const started = performance.now();
    const r = checkBank(parseHistory(transfers(ts) + finals({ n1: { a: 299, b: 301, c: 300 } })), {
      total: 900,
      accounts: ["a", "b", "c"],
    });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(r.errors).toEqual([
      "final balances on n1 are unreachable: no subset of the 20 indeterminate transfer(s) explains " +
      'their difference from initial + acknowledged transfers ("a" -1, "b" +1)',
    ]);
  });

  test("more than twenty indeterminate transfers: only the per-account bounds are checked", () => {
    const ts = Array.from({ length: 21 }, () => ["a", "b", 1, "info"] as Transfer);
    // Unreachable (c cannot change) but within bounds for a and b: the bounds cannot see it.
    const loose = parseHistory(transfers(ts) + finals({ n1: { a: 5, b: 15, c: 10 } }));
    expect(checkBank(loose, ABC).errors).toEqual([]);
    const r = checkBank(parseHistory(transfers(ts) + finals({ n1: { a: 10, b: 9, c: 11 } })), ABC);
    expect(r.errors).toEqual([
      'final balance of "b" on n1 is 9, initial + acknowledged transfers give 10: ' +
      "the 21 indeterminate transfer(s) can only move it within [0, +21]",
      'final balance of "c" on n1 is 11, initial + acknowledged transfers give 10: ' +
      "the 21 indeterminate transfer(s) can only move it within [0, +0]",
    ]);
    expect(r.stats).toMatchObject({ exactReachability: 0, boundedReachability: 1 });
  });

  test("a negative balance, divergent final reads, an unknown account and a malformed balance", () => {
    const h = parseHistory(
      transfers([["a", "b", 12, "info"]]) +
        `{"type":"invoke","process":9,"node":"n2","time":5,"f":"read"}
{"type":"ok","process":9,"node":"n2","time":6,"f":"read","value":{"a":-2,"b":22,"c":10}}
` +
        finals({
          n1: { a: 10, b: 10, c: 10 },
          n2: { a: -2, b: 22, c: 10 },
          n3: { a: 10, b: 20, z: 0 },
          n4: { a: "x" },
        }),
    );
    expect(checkBank(h, ABC).errors).toEqual([
      'read on n2 (process 9) has negative balances: "a" = -2',
      'final-read on n2 (process 101) has negative balances: "a" = -2',
      'final-read on n3 (process 102) holds "z", which is not an account',
      'final-read on n4 (process 103) holds "a" = "x", not an integer',
      'final reads diverge: {"a": 10, "b": 10, "c": 10} on n1; {"a": -2, "b": 22, "c": 10} on n2',
    ]);
  });

  test("no final reads; a transfer after the final reads began", () => {
    expect(checkBank(parseHistory(transfers([["a", "b", 1, "ok"]])), ABC).errors).toEqual(["no final reads"]);
    const late =
      `{"type":"invoke","process":7,"node":"n1","time":3000,"f":"transfer","value":{"from":"a","to":"b","amount":1}}`;
    expect(checkBank(parseHistory(finals({ n1: { a: 10, b: 10, c: 10 } }) + "\n" + late), ABC).errors)
      .toEqual([
        'transfer {"from":"a","to":"b","amount":1} by process 7 invoked after final reads began at 2000',
      ]);
  });

  test("bad options and malformed transfers are broken histories", () => {
    const h: Event[] = parseHistory(transfers([["a", "b", 1, "ok"]]));
    expect(() => checkBank(h, { total: 30, initial: { a: 10, b: 10 } })).toThrow(
      "initial balances sum to 20, not total 30",
    );
    expect(() => checkBank(h, { total: 31, accounts: ["a", "b"] })).toThrow("does not split evenly");
    expect(() => checkBank(parseHistory(transfers([["a", "q", 1, "ok"]])), ABC)).toThrow(
      "value must be {from, to, amount} with known accounts and a positive integer",
    );
    expect(() => checkBank(parseHistory(transfers([["a", "b", 0, "ok"]])), ABC)).toThrow("positive integer");
  });
});
