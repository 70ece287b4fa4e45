/** History format: JSONL parsing and validation, recording, pairing invokes with completions, the CLI. */
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { checkCounter } from "./counter.ts";
import { checkResult, HistoryRecorder, pairOps, parseHistory, toJsonl } from "./history.ts";

describe("parseHistory", () => {
  test("reads every field, skips blank lines, keeps null values", () => {
    const h = parseHistory(`
{"type":"invoke","process":1,"node":"n1","time":0.25,"f":"incrby","key":"c","value":2}

{"type":"ok","process":1,"node":"n1","time":1,"f":"incrby","key":"c","value":null}
`);
    expect(h).toEqual([
      { type: "invoke", process: 1, node: "n1", time: 0.25, f: "incrby", key: "c", value: 2 },
      { type: "ok", process: 1, node: "n1", time: 1, f: "incrby", key: "c", value: null },
    ]);
  });

  test("bad lines are rejected with their line number", () => {
    const ok = `{"type":"invoke","process":1,"node":"n1","time":0,"f":"incr"}\n`;
    expect(() => parseHistory(ok + "{not json")).toThrow(/^line 2: not JSON/);
    expect(() => parseHistory(ok + "\n[1]")).toThrow("line 3: not a JSON object");
    expect(() => parseHistory(ok.replace("invoke", "done"))).toThrow(
      'line 1: type must be invoke, ok, fail or info, got "done"',
    );
    expect(() => parseHistory(ok.replace('"process":1', '"process":"1"'))).toThrow(
      "line 1: process must be an integer",
    );
    expect(() => parseHistory(ok.replace('"node":"n1"', '"node":""'))).toThrow("line 1: node must be");
    expect(() => parseHistory(ok.replace('"time":0', '"time":null'))).toThrow("line 1: time must be");
    expect(() => parseHistory(ok.replace('"f":"incr"', '"f":3'))).toThrow("line 1: f must be");
    expect(() => parseHistory(ok.replace("}", ',"key":7}'))).toThrow("line 1: key must be a string");
  });

  test("toJsonl round-trips", () => {
    const text = `{"type":"invoke","process":3,"node":"n2","time":5,"f":"sadd","key":"s","value":["a","b"]}
{"type":"info","process":3,"node":"n2","time":9,"f":"sadd","key":"s","value":"timeout"}
{"type":"invoke","process":4,"node":"n1","time":10,"f":"final-read"}
`;
    expect(toJsonl(parseHistory(text))).toBe(text);
  });
});

describe("pairOps", () => {
  test("pairs per process in invoke order; a missing completion is indeterminate", () => {
    const ops = pairOps(parseHistory(`
{"type":"invoke","process":1,"node":"n1","time":0,"f":"incr","key":"c"}
{"type":"invoke","process":2,"node":"n2","time":1,"f":"read","key":"c"}
{"type":"ok","process":2,"node":"n2","time":2,"f":"read","key":"c","value":"0"}
{"type":"fail","process":1,"node":"n1","time":3,"f":"incr","key":"c","value":"ERR"}
{"type":"invoke","process":1,"node":"n1","time":4,"f":"incr","key":"c"}
`));
    expect(ops).toEqual([
      { process: 1, node: "n1", f: "incr", key: "c", status: "fail", result: "ERR", start: 0, end: 3 },
      { process: 2, node: "n2", f: "read", key: "c", status: "ok", result: "0", start: 1, end: 2 },
      { process: 1, node: "n1", f: "incr", key: "c", status: "info", start: 4, end: Infinity },
    ]);
  });

  test("malformed pairings throw", () => {
    const inv = (p: number, f = "incr", t = 0) =>
      `{"type":"invoke","process":${p},"node":"n1","time":${t},"f":"${f}"}`;
    const ok = (p: number, f = "incr", t = 1) =>
      `{"type":"ok","process":${p},"node":"n1","time":${t},"f":"${f}"}`;
    expect(() => pairOps(parseHistory(inv(1) + "\n" + inv(1)))).toThrow(
      "event 2 (process 1, invoke incr): invoked with an operation still in flight",
    );
    expect(() => pairOps(parseHistory(ok(1)))).toThrow(
      "event 1 (process 1, ok incr): completion without an invoke",
    );
    expect(() => pairOps(parseHistory(inv(1) + "\n" + ok(1, "read")))).toThrow("completes incr");
    expect(() => pairOps(parseHistory(inv(1, "incr", 5) + "\n" + ok(1, "incr", 4)))).toThrow(
      "before its invoke",
    );
  });
});

describe("HistoryRecorder", () => {
  test("records with the given clock; the result goes through JSONL into a checker", () => {
    let now = 0;
    const rec = new HistoryRecorder(() => now++);
    const a = rec.invoke(1, "n1", "incrby", "c", 2);
    const b = rec.invoke(2, "n2", "incr", "c");
    a.ok(2);
    b.info(new Error("timeout"));
    const c = rec.invoke(1, "n1", "incr", "c");
    c.fail("ERR refused");
    rec.invoke(3, "n1", "final-read", "c").ok("3");
    expect(rec.events()[3]).toEqual({
      type: "info",
      process: 2,
      node: "n2",
      time: 3,
      f: "incr",
      key: "c",
      value: "timeout",
    });
    const r = checkCounter(parseHistory(toJsonl(rec.events())));
    expect(r).toMatchObject({
      valid: true,
      stats: { acknowledged: 1, failed: 1, indeterminate: 1, lower: 2, upper: 3 },
    });
  });

  test("refuses a second operation in flight and a second completion", () => {
    const rec = new HistoryRecorder();
    const a = rec.invoke(1, "n1", "incr", "c");
    expect(() => rec.invoke(1, "n1", "incr", "c")).toThrow("process 1 already has an operation in flight");
    a.ok(1);
    expect(() => a.fail("late")).toThrow("process 1: incr completed twice");
    expect(rec.events().map((e) => e.type)).toEqual(["invoke", "ok"]);
    expect(rec.events()[1].time).toBeGreaterThanOrEqual(rec.events()[0].time);
  });
});

test("checkResult caps the error list", () => {
  const errors = Array.from({ length: 23 }, (_, i) => `e${i}`);
  const r = checkResult(errors, { n: 1 });
  expect(r.valid).toBe(false);
  expect(r.errors).toEqual([...errors.slice(0, 20), "... and 3 more"]);
  expect(checkResult([], {})).toEqual({ valid: true, errors: [], stats: {} });
});

describe("CLI", () => {
  const main = fileURLToPath(new URL("main.ts", import.meta.url));
  const golden = (name: string) => fileURLToPath(new URL(`golden/${name}`, import.meta.url));
  const cli = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: "utf8" });

  test("exit 0 and the result as JSON on a valid history, 1 on an invalid one", () => {
    const good = cli("counter", golden("counter_valid.jsonl"), "--key", "c");
    expect(good.status).toBe(0);
    expect(JSON.parse(good.stdout)).toMatchObject({ valid: true, stats: { lower: 6, upper: 9 } });
    const bad = cli("set", golden("set_phantom.jsonl"));
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout).errors[0]).toBe('final-read on n1 (process 10) holds "z", never added');
    expect(cli("convergence", golden("convergence_divergent.jsonl")).status).toBe(1);
    expect(cli("convergence", golden("convergence_valid.jsonl")).status).toBe(0);
  });

  test("exit 2 on bad usage or a malformed history", () => {
    const r = cli("bogus", golden("set_valid.jsonl"));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("usage:");
    expect(cli("counter", golden("set_valid.jsonl"), "--what").status).toBe(2);
    expect(cli("set", main).stderr).toContain("line 1: not JSON");
  });
});
