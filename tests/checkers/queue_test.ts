/** Queue checker on golden histories: every pushed element is delivered once, by a pop or the final list. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseHistory } from "./history.ts";
import { checkQueue } from "./queue.ts";

const golden = (name: string) =>
  parseHistory(readFileSync(new URL(`golden/${name}`, import.meta.url), "utf8"));

/** Final reads of key q on the given nodes, all after time 2000. */
const finals = (lists: Record<string, unknown>) =>
  Object.entries(lists).map(([node, v], i) =>
    `{"type":"invoke","process":${100 + i},"node":"${node}","time":2000,"f":"final-read","key":"q"}
{"type":"ok","process":${100 + i},"node":"${node}","time":2001,"f":"final-read","key":"q","value":${
      JSON.stringify(v)
    }}`
  ).join("\n");

/** a acknowledged, b timed out, c failed. */
const WORKLOAD = `
{"type":"invoke","process":1,"node":"n1","time":0,"f":"push","key":"q","value":"a"}
{"type":"ok","process":1,"node":"n1","time":1,"f":"push","key":"q","value":1}
{"type":"invoke","process":2,"node":"n2","time":2,"f":"push","key":"q","value":"b"}
{"type":"info","process":2,"node":"n2","time":1002,"f":"push","key":"q","value":"timeout"}
{"type":"invoke","process":3,"node":"n3","time":3,"f":"push","key":"q","value":"c"}
{"type":"fail","process":3,"node":"n3","time":4,"f":"push","key":"q","value":"ERR"}
`;

/** One pop by process 4 at `time`, completed with `type` and `value`. */
const pop = (time: number, type: string, value: unknown, asked?: number) =>
  `{"type":"invoke","process":4,"node":"n1","time":${time},"f":"pop","key":"q"${
    asked === undefined ? "" : `,"value":${asked}`
  }}
{"type":"${type}","process":4,"node":"n1","time":${time + 1},"f":"pop","key":"q","value":${
    JSON.stringify(value)
  }}
`;

describe("valid", () => {
  test("golden: multi-push, multi-pop, empty pop, an indeterminate pop that took an element", () => {
    expect(checkQueue(golden("queue_valid.jsonl"))).toEqual({
      valid: true,
      errors: [],
      stats: {
        acknowledgedPushes: 4,
        okPops: 3,
        emptyPops: 1,
        indeterminatePops: 2,
        duplicates: 0,
        unexpected: 0,
        lost: 0,
        unaccounted: 1,
      },
    });
  });

  test("an indeterminate push that never showed up need not be in the final read", () => {
    const r = checkQueue(parseHistory(WORKLOAD + finals({ n1: ["a"], n2: ["a"] })));
    expect(r.errors).toEqual([]);
    expect(r.stats).toMatchObject({ acknowledgedPushes: 1, lost: 0, unaccounted: 0 });
  });

  test("an indeterminate push popped by an ok pop; an indeterminate multi-pop absorbs its count", () => {
    const h = parseHistory(
      WORKLOAD + pop(10, "ok", "b") + `
{"type":"invoke","process":5,"node":"n2","time":20,"f":"push","key":"q","value":["d","e","f"]}
{"type":"ok","process":5,"node":"n2","time":21,"f":"push","key":"q","value":4}
` + pop(30, "info", "timeout", 3) + finals({ n1: ["a"], n2: ["a"] }),
    );
    const r = checkQueue(h);
    expect(r.errors).toEqual([]);
    expect(r.stats).toMatchObject({ indeterminatePops: 1, lost: 0, unaccounted: 3 });
  });

  test("the history may name the key in options and hold other keys", () => {
    const other = `{"type":"invoke","process":9,"node":"n1","time":7,"f":"push","key":"other","value":"a"}`;
    const h = parseHistory(WORKLOAD + other + "\n" + finals({ n1: ["a"] }));
    expect(checkQueue(h, { key: "q" }).valid).toBe(true);
    expect(() => checkQueue(h)).toThrow("history has several keys (q, other); pass the key");
  });
});

describe("invalid", () => {
  test("golden: two acknowledged elements missing, one indeterminate pop covers only one", () => {
    const r = checkQueue(golden("queue_lost.jsonl"));
    expect(r.valid).toBe(false);
    expect(r.errors).toEqual([
      'final read on n1, n2: 2 pushed element(s) neither popped by an ok pop nor present ("b", "c"); ' +
      "1 indeterminate pop(s) may account for 1, so 1 lost",
    ]);
    expect(r.stats).toMatchObject({ lost: 1, unaccounted: 1, indeterminatePops: 1, okPops: 1 });
  });

  test("golden: an element popped twice and still present", () => {
    const r = checkQueue(golden("queue_duplicate.jsonl"));
    expect(r.valid).toBe(false);
    expect(r.errors).toEqual([
      '"a" popped 2 times (pop by process 1 at 5, pop by process 2 at 6)',
      '"a" popped and still present: taken by pop by process 1 at 5, pop by process 2 at 6, ' +
      "listed by final read on n1, n2",
    ]);
    expect(r.stats).toMatchObject({ duplicates: 1, lost: 0 });
  });

  test("pops of elements never pushed, pushed by a failed push, or pushed after the pop returned", () => {
    const late = `{"type":"invoke","process":6,"node":"n1","time":50,"f":"push","key":"q","value":"d"}
{"type":"ok","process":6,"node":"n1","time":51,"f":"push","key":"q","value":1}
`;
    const h = parseHistory(
      WORKLOAD + pop(10, "ok", ["z", "c"]) + pop(20, "ok", "d") + late + finals({ n1: ["a"] }),
    );
    const r = checkQueue(h);
    expect(r.errors).toEqual([
      'pop by process 4 at 10 returned "z", never pushed',
      'pop by process 4 at 10 returned "c", pushed by push by process 3 at 3, which failed',
      'pop by process 4 at 20 returned "d", pushed only after it returned (push by process 6 at 50)',
    ]);
    expect(r.stats.unexpected).toBe(3);
  });

  test("final reads that differ in order only, a phantom and a repeated element in a final read", () => {
    const r = checkQueue(
      parseHistory(WORKLOAD + finals({ n1: ["a", "b"], n2: ["b", "a"], n3: ["a", "a", "x"] })),
    );
    expect(r.errors).toEqual([
      'final reads diverge: ["a","b"] on n1; ["b","a"] on n2; ["a","a","x"] on n3',
      'final read on n3 lists "a" twice',
      'final read on n3 holds "x", never pushed',
      'final read on n3: 1 pushed element(s) neither popped by an ok pop nor present ("b"); ' +
      "0 indeterminate pop(s) may account for 0, so 1 lost",
    ]);
    expect(r.stats).toMatchObject({ duplicates: 1, unexpected: 1, lost: 1 });
  });

  test("workload error: an element pushed twice", () => {
    const again = `{"type":"invoke","process":5,"node":"n2","time":5,"f":"push","key":"q","value":["d","a"]}
{"type":"ok","process":5,"node":"n2","time":6,"f":"push","key":"q","value":3}
`;
    const r = checkQueue(parseHistory(WORKLOAD + again + finals({ n1: ["a", "d"] })));
    expect(r.errors).toEqual([
      'workload error: "a" pushed twice (push by process 1 at 0 and push by process 5 at 5)',
    ]);
  });

  test("no final reads, a malformed reply, a push after the final reads began", () => {
    expect(checkQueue(parseHistory(WORKLOAD)).errors).toEqual(["no final reads"]);
    const late = `{"type":"invoke","process":6,"node":"n1","time":3000,"f":"push","key":"q","value":"d"}`;
    const r = checkQueue(
      parseHistory(WORKLOAD + pop(10, "ok", 7) + finals({ n1: ["a"], n2: "a" }) + "\n" + late),
    );
    expect(r.errors).toEqual([
      "push by process 6 at 3000 invoked after final reads began at 2000",
      "pop by process 4 at 10 returned 7, not an element, an array of elements or null",
      'final-read by process 101 at 2000 returned "a", not an array of strings',
    ]);
  });

  test("a malformed push argument is a broken history", () => {
    const bad = `{"type":"invoke","process":1,"node":"n1","time":0,"f":"push","key":"q","value":5}`;
    expect(() => checkQueue(parseHistory(bad))).toThrow("push by process 1 at 0: value must be a string");
  });
});
