/** Set checker on golden histories: acknowledged SADDs everywhere, nothing that was never (or only failingly) added. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseHistory } from "./history.ts";
import { checkSet } from "./set.ts";

const golden = (name: string) =>
  parseHistory(readFileSync(new URL(`golden/${name}`, import.meta.url), "utf8"));

/** Final reads of key s on the given nodes, all after time 2000. */
const finals = (members: Record<string, unknown>) =>
  Object.entries(members).map(([node, v], i) =>
    `{"type":"invoke","process":${100 + i},"node":"${node}","time":2000,"f":"final-read","key":"s"}
{"type":"ok","process":${100 + i},"node":"${node}","time":2001,"f":"final-read","key":"s","value":${
      JSON.stringify(v)
    }}`
  ).join("\n");

/** a acknowledged, b timed out, c failed. */
const WORKLOAD = `
{"type":"invoke","process":1,"node":"n1","time":0,"f":"sadd","key":"s","value":"a"}
{"type":"ok","process":1,"node":"n1","time":1,"f":"sadd","key":"s","value":1}
{"type":"invoke","process":2,"node":"n2","time":2,"f":"sadd","key":"s","value":"b"}
{"type":"info","process":2,"node":"n2","time":1002,"f":"sadd","key":"s","value":"timeout"}
{"type":"invoke","process":3,"node":"n3","time":3,"f":"sadd","key":"s","value":"c"}
{"type":"fail","process":3,"node":"n3","time":4,"f":"sadd","key":"s","value":"ERR"}
`;

describe("valid", () => {
  test("golden: an indeterminate add that took effect, a failed and a never-completed one that did not", () => {
    expect(checkSet(golden("set_valid.jsonl"))).toEqual({
      valid: true,
      errors: [],
      stats: {
        acknowledged: 1,
        indeterminate: 2,
        failed: 1,
        finalSize: 2,
        lost: 0,
        unexpected: 0,
        divergent: 0,
      },
    });
  });

  test("a multi-member SADD, an element re-added after a failure, an indeterminate add left out", () => {
    const h = parseHistory(
      WORKLOAD + `
{"type":"invoke","process":4,"node":"n1","time":5,"f":"sadd","key":"s","value":["c","d"]}
{"type":"ok","process":4,"node":"n1","time":6,"f":"sadd","key":"s","value":2}
{"type":"invoke","process":4,"node":"n1","time":7,"f":"smembers","key":"s"}
{"type":"ok","process":4,"node":"n1","time":8,"f":"smembers","key":"s","value":["d","a","c"]}
${finals({ n1: ["a", "c", "d"], n2: ["d", "c", "a"] })}`,
    );
    const r = checkSet(h);
    expect(r.errors).toEqual([]);
    expect(r.stats).toMatchObject({ acknowledged: 2, indeterminate: 1, failed: 1, finalSize: 3 });
  });
});

describe("invalid", () => {
  test("golden: a phantom element that was never added", () => {
    const r = checkSet(golden("set_phantom.jsonl"));
    expect(r.valid).toBe(false);
    expect(r.errors).toEqual([
      'final-read on n1 (process 10) holds "z", never added',
      'final-read on n2 (process 11) holds "z", never added',
    ]);
    expect(r.stats.unexpected).toBe(1);
  });

  test("a lost acknowledged SADD", () => {
    const r = checkSet(parseHistory(WORKLOAD + finals({ n1: ["a", "b"], n2: ["b"], n3: ["b"] })));
    expect(r.errors).toEqual(['acknowledged "a" missing from the final read on n2, n3']);
    expect(r.stats.lost).toBe(1);
  });

  test("an element whose only SADD failed is present", () => {
    const r = checkSet(parseHistory(WORKLOAD + finals({ n1: ["a", "c"], n2: ["c", "a"] })));
    expect(r.errors).toEqual([
      'final-read on n1 (process 100) holds "c", only added by SADDs that failed',
      'final-read on n2 (process 101) holds "c", only added by SADDs that failed',
    ]);
  });

  test("an indeterminate add that took effect on some nodes only", () => {
    const r = checkSet(parseHistory(WORKLOAD + finals({ n1: ["a", "b"], n2: ["a"], n3: ["a", "b"] })));
    expect(r.errors).toEqual(['final reads diverge on "b": present on n1, n3, missing on n2']);
    expect(r.stats.divergent).toBe(1);
  });

  test("a read sees an element before its SADD was invoked; duplicates and malformed replies", () => {
    const h = parseHistory(`
{"type":"invoke","process":1,"node":"n1","time":0,"f":"smembers","key":"s"}
{"type":"ok","process":1,"node":"n1","time":1,"f":"smembers","key":"s","value":["a"]}
{"type":"invoke","process":2,"node":"n1","time":2,"f":"sadd","key":"s","value":"a"}
{"type":"ok","process":2,"node":"n1","time":3,"f":"sadd","key":"s","value":1}
${finals({ n1: ["a", "a"], n2: "a" })}`);
    expect(checkSet(h).errors).toEqual([
      'smembers on n1 (process 1) holds "a", added only after the read returned',
      "final-read on n1 (process 100) lists a member twice",
      'final-read on n2 (process 101) returned "a", not an array of strings',
      'acknowledged "a" missing from the final read on n2',
    ]);
  });

  test("no final reads", () => {
    expect(checkSet(parseHistory(WORKLOAD)).errors).toEqual(["no final reads"]);
  });
});
