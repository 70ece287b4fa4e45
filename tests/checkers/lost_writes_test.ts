/** Lost-writes checker on golden histories: no acknowledged write is lost or silently replaced by an older one. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseHistory } from "./history.ts";
import { checkLostWrites } from "./lost_writes.ts";

const golden = (name: string) =>
  parseHistory(readFileSync(new URL(`golden/${name}`, import.meta.url), "utf8"));

/** Final reads of key k on the given nodes, all after time 2000. */
const finals = (values: Record<string, unknown>, key = "k") =>
  Object.entries(values).map(([node, v], i) =>
    `{"type":"invoke","process":${100 + i},"node":"${node}","time":2000,"f":"final-read","key":"${key}"}
{"type":"ok","process":${100 + i},"node":"${node}","time":2001,"f":"final-read","key":"${key}","value":${
      JSON.stringify(v)
    }}`
  ).join("\n");

/** One op on key k by `process` from `start` to `end`, completed with `type`. */
const op = (f: string, process: number, start: number, end: number, type: string, value?: string) =>
  `{"type":"invoke","process":${process},"node":"n1","time":${start},"f":"${f}","key":"k"${
    value === undefined ? "" : `,"value":"${value}"`
  }}
{"type":"${type}","process":${process},"node":"n1","time":${end},"f":"${f}","key":"k","value":"r"}
`;

describe("valid", () => {
  test("golden: concurrent writes either way, an indeterminate write landing last, a failed write, a delete", () => {
    expect(checkLostWrites(golden("lost_writes_valid.jsonl"))).toEqual({
      valid: true,
      errors: [],
      stats: {
        keys: 4,
        acknowledged: 4,
        failed: 1,
        indeterminate: 1,
        lost: 0,
        stale: 0,
        unexpected: 0,
        divergent: 0,
      },
    });
  });

  test("an indeterminate write may win over a later acknowledged one; a key nobody wrote reads null", () => {
    const h = parseHistory(
      op("write", 1, 0, 1000, "info", "a1") + op("write", 2, 5, 6, "ok", "a2") +
        finals({ n1: "a1", n2: "a1" }) +
        "\n" + finals({ n1: null }, "untouched"),
    );
    expect(checkLostWrites(h).errors).toEqual([]);
  });
});

describe("invalid", () => {
  test("golden: the final value was acknowledged before another acknowledged write began", () => {
    const r = checkLostWrites(golden("lost_writes_stale.jsonl"));
    expect(r.valid).toBe(false);
    expect(r.errors).toEqual([
      'key "k": final read on n1, n2 holds "a1", but write "a1" by process 1 was acknowledged at 1, ' +
      'before acknowledged write "a2" by process 2 was invoked at 2',
    ]);
    expect(r.stats.stale).toBe(1);
  });

  test("golden: an acknowledged write lost, the key empty", () => {
    const r = checkLostWrites(golden("lost_writes_lost.jsonl"));
    expect(r.valid).toBe(false);
    expect(r.errors).toEqual([
      'key "k": final read on n1, n2 holds null, but 1 write(s) were acknowledged and nothing deleted the key',
    ]);
    expect(r.stats).toMatchObject({ lost: 1, acknowledged: 1, indeterminate: 1 });
  });

  test("a later acknowledged delete also overwrites; a failed delete does not excuse null", () => {
    const overwritten = parseHistory(
      op("write", 1, 0, 1, "ok", "a1") + op("delete", 2, 2, 3, "ok") + finals({ n1: "a1" }),
    );
    expect(checkLostWrites(overwritten).errors).toEqual([
      'key "k": final read on n1 holds "a1", but write "a1" by process 1 was acknowledged at 1, ' +
      "before acknowledged delete on n1 (process 2) was invoked at 2",
    ]);
    const failed = parseHistory(
      op("write", 1, 0, 1, "ok", "a1") + op("delete", 2, 2, 3, "fail") + finals({ n1: null }),
    );
    expect(checkLostWrites(failed).stats.lost).toBe(1);
  });

  test("divergent final reads, a value never written, a value only a failed write wrote", () => {
    const h = parseHistory(op("write", 1, 0, 1, "fail", "a1") + finals({ n1: "a1", n2: "zz", n3: 5 }));
    const r = checkLostWrites(h);
    expect(r.errors).toEqual([
      'key "k": final-read on n3 (process 102) returned 5, not a string or null',
      'key "k": final reads diverge: "a1" on n1; "zz" on n2',
      'key "k": final read on n1 holds "a1", written only by write "a1" by process 1, which failed',
      'key "k": final read on n2 holds "zz", never written',
    ]);
    expect(r.stats).toMatchObject({ unexpected: 2, divergent: 1 });
  });

  test("workload error, an acknowledged key never read, a write after final reads, no final reads", () => {
    expect(checkLostWrites(parseHistory(op("write", 1, 0, 1, "ok", "a1"))).errors).toEqual([
      "no final reads",
      'key "k": 1 acknowledged write(s) but no final read',
    ]);
    const h = parseHistory(
      op("write", 1, 0, 1, "ok", "a1") + op("write", 2, 2, 3, "info", "a1") +
        op("write", 3, 3000, 3001, "ok", "a3") +
        finals({ n1: "a1" }),
    );
    expect(checkLostWrites(h).errors).toEqual([
      'key "k": workload error: "a1" written twice (write "a1" by process 1, write "a1" by process 2)',
      'key "k": write "a3" by process 3 invoked after final reads began at 2000',
      'key "k": final read on n1 holds "a1", but write "a1" by process 1 was acknowledged at 1, ' +
      'before acknowledged write "a3" by process 3 was invoked at 3000',
    ]);
    const bad = `{"type":"invoke","process":1,"node":"n1","time":0,"f":"write","key":"k","value":7}`;
    expect(() => checkLostWrites(parseHistory(bad))).toThrow("write 7 by process 1: value must be a string");
  });
});
