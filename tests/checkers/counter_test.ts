/** Counter checker on golden histories: acknowledged increments count, failed ones do not, indeterminate ones may. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { checkCounter } from "./counter.ts";
import { parseHistory } from "./history.ts";

const golden = (name: string) =>
  parseHistory(readFileSync(new URL(`golden/${name}`, import.meta.url), "utf8"));

/** Final reads of key c on the given nodes, all after time 2000. */
const finals = (values: Record<string, unknown>) =>
  Object.entries(values).map(([node, v], i) =>
    `{"type":"invoke","process":${100 + i},"node":"${node}","time":2000,"f":"final-read","key":"c"}
{"type":"ok","process":${100 + i},"node":"${node}","time":2001,"f":"final-read","key":"c","value":${
      JSON.stringify(v)
    }}`
  ).join("\n");

/** Two acknowledged increments (1 + 5), one failed (+1), one timed out (+3): bounds [6, 9]. */
const WORKLOAD = `
{"type":"invoke","process":1,"node":"n1","time":0,"f":"incr","key":"c"}
{"type":"ok","process":1,"node":"n1","time":1,"f":"incr","key":"c","value":1}
{"type":"invoke","process":2,"node":"n2","time":2,"f":"incrby","key":"c","value":5}
{"type":"ok","process":2,"node":"n2","time":3,"f":"incrby","key":"c","value":6}
{"type":"invoke","process":1,"node":"n1","time":4,"f":"incr","key":"c"}
{"type":"fail","process":1,"node":"n1","time":5,"f":"incr","key":"c","value":"ERR"}
{"type":"invoke","process":3,"node":"n3","time":6,"f":"incrby","key":"c","value":3}
{"type":"info","process":3,"node":"n3","time":1006,"f":"incrby","key":"c","value":"timeout"}
`;

describe("valid", () => {
  test("golden: an indeterminate increment that took effect, a failed one that did not", () => {
    const r = checkCounter(golden("counter_valid.jsonl"));
    expect(r).toEqual({
      valid: true,
      errors: [],
      stats: { acknowledged: 2, failed: 1, indeterminate: 1, lower: 6, upper: 9, finalReads: 3, reads: 1 },
    });
    expect(checkCounter(golden("counter_valid.jsonl"), { linearizable: true }).valid).toBe(true);
  });

  test("indeterminate increments that did not take effect, negative deltas, a never-completed one", () => {
    const h = parseHistory(`
{"type":"invoke","process":1,"node":"n1","time":0,"f":"incrby","key":"c","value":-2}
{"type":"invoke","process":2,"node":"n2","time":0,"f":"incr","key":"c"}
{"type":"ok","process":2,"node":"n2","time":1,"f":"incr","key":"c","value":1}
{"type":"invoke","process":2,"node":"n2","time":2,"f":"decrby","key":"c","value":3}
{"type":"ok","process":2,"node":"n2","time":3,"f":"decrby","key":"c","value":-2}
{"type":"invoke","process":3,"node":"n1","time":4,"f":"incrby","key":"c","value":7}
{"type":"info","process":1,"node":"n1","time":1000,"f":"incrby","key":"c","value":"connection lost"}
${finals({ n1: -2, n2: "-2", n3: -2 })}`);
    const r = checkCounter(h);
    expect(r.errors).toEqual([]);
    expect(r.stats).toMatchObject({ acknowledged: 2, indeterminate: 2, lower: -4, upper: 5 });
  });

  test("the history may name the key in options and hold other keys", () => {
    const other = `{"type":"invoke","process":9,"node":"n1","time":7,"f":"incr","key":"other"}`;
    const h = parseHistory(WORKLOAD + other + "\n" + finals({ n1: 7, n2: 7 }));
    expect(checkCounter(h, { key: "c" }).valid).toBe(true);
    expect(() => checkCounter(h)).toThrow("history has several keys (c, other); pass the key");
  });
});

describe("invalid", () => {
  test("golden: a lost acknowledged increment is below the lower bound", () => {
    const r = checkCounter(golden("counter_lost_ack.jsonl"));
    expect(r.valid).toBe(false);
    expect(r.errors).toEqual([
      "final read on n1 = 5 is below the lower bound 6: acknowledged increments lost",
      "final read on n2 = 5 is below the lower bound 6: acknowledged increments lost",
    ]);
  });

  test("counting a failed increment exceeds the upper bound", () => {
    const r = checkCounter(parseHistory(WORKLOAD + finals({ n1: 10, n2: 10 })));
    expect(r.valid).toBe(false);
    expect(r.errors[0]).toBe(
      "final read on n1 = 10 exceeds the upper bound 9: counts increments that failed or never ran",
    );
  });

  test("final reads within bounds but different on different nodes", () => {
    const r = checkCounter(parseHistory(WORKLOAD + finals({ n1: 6, n2: 9, n3: 6 })));
    expect(r.errors).toEqual(["final reads diverge: 6 on n1, n3; 9 on n2"]);
  });

  test("an intermediate read sees an increment not yet invoked", () => {
    const h = parseHistory(`
{"type":"invoke","process":1,"node":"n1","time":0,"f":"read","key":"c"}
{"type":"ok","process":1,"node":"n1","time":1,"f":"read","key":"c","value":"1"}
{"type":"invoke","process":2,"node":"n2","time":2,"f":"incr","key":"c"}
{"type":"ok","process":2,"node":"n2","time":3,"f":"incr","key":"c","value":1}
${finals({ n1: 1 })}`);
    expect(checkCounter(h).errors).toEqual(["read on n1 (process 1, 0..1) = 1 outside [0, 0]"]);
  });

  test("a stale read passes by default but not with linearizable", () => {
    const h = parseHistory(`
{"type":"invoke","process":1,"node":"n1","time":0,"f":"incrby","key":"c","value":4}
{"type":"ok","process":1,"node":"n1","time":1,"f":"incrby","key":"c","value":4}
{"type":"invoke","process":2,"node":"n2","time":2,"f":"read","key":"c"}
{"type":"ok","process":2,"node":"n2","time":3,"f":"read","key":"c","value":null}
${finals({ n1: 4, n2: 4 })}`);
    expect(checkCounter(h).valid).toBe(true);
    expect(checkCounter(h, { linearizable: true }).errors).toEqual([
      "read on n2 (process 2, 2..3) = 0 outside [4, 4]",
    ]);
  });

  test("no final reads, a non-integer final read, an increment after the final reads began", () => {
    expect(checkCounter(parseHistory(WORKLOAD)).errors).toEqual(["no final reads"]);
    const late = `{"type":"invoke","process":5,"node":"n1","time":3000,"f":"incr","key":"c"}`;
    const r = checkCounter(parseHistory(WORKLOAD + finals({ n1: 6, n2: "six" }) + "\n" + late));
    expect(r.errors).toEqual([
      "incr by process 5 invoked at 3000, after final reads began at 2000",
      'final-read on n2 (process 101) returned a non-integer "six"',
    ]);
  });
});
