import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type Op, Writer } from "../../core/effect.ts";
import type { ApplyCtx } from "../../core/reducer.ts";
import { Block, type Ctx } from "../../redis/command.ts";
import { defaultEncodingLimits, type EncodingLimits } from "../../redis/encodings.ts";
import { NULL_ARRAY, OK, type Reply } from "../../redis/reply.ts";
import {
  LIST_ELEMENT_OVERHEAD,
  listCommands,
  listpackEntryBytes,
  ListState,
  listType,
} from "../../redis/types/list.ts";
import { commandNode, shuffle } from "./fake_env.ts";

// ---------------------------------------------------------------- reducer

const W = Writer.of("n1", 1);
const WRONG = "WRONGTYPE Operation against a key holding the wrong kind of value";

function actx(seq: number, opIndex = 0): ApplyCtx {
  return { hlc: seq * 2048, w: W, seq, opIndex };
}

/** Values and ids of a state, for exact comparisons. */
function snap(s: ListState | undefined): string {
  if (s === undefined) return "<absent>";
  return JSON.stringify([listType.canonical(s), s.ids(), s.values(), s.bytes]);
}

function bytesOf(values: string[]): number {
  return values.reduce((n, v) => n + v.length + LIST_ELEMENT_OVERHEAD, 0);
}

type Step =
  | { kind: "push"; left: boolean; values: string[] }
  | { kind: "rem"; picks: number[] }
  | { kind: "set"; pick: number; value: string }
  | { kind: "insert"; pick: number; before: boolean; value: string };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("push" as const),
    left: fc.boolean(),
    values: fc.array(fc.string({ maxLength: 4 }), { maxLength: 12 }),
  }),
  // Up to 30 ids: both the one-by-one and the one-pass removal paths.
  fc.record({ kind: fc.constant("rem" as const), picks: fc.array(fc.nat(1000), { maxLength: 30 }) }),
  fc.record({ kind: fc.constant("set" as const), pick: fc.nat(1000), value: fc.string({ maxLength: 6 }) }),
  fc.record({
    kind: fc.constant("insert" as const),
    pick: fc.nat(1000),
    before: fc.boolean(),
    value: fc.string({ maxLength: 6 }),
  }),
);

/** An element id of `s` picked by `p`: the head, the tail, anywhere, or one that does not exist. */
function pickId(s: ListState | undefined, p: number): string {
  const len = s?.length ?? 0;
  const mode = p % 4;
  if (len === 0 || mode === 3) return `nowhere/1:${p}:0:0`;
  if (mode === 0) return s!.idAt(0)!;
  if (mode === 1) return s!.idAt(len - 1)!;
  return s!.idAt(p % len)!;
}

/** Turns a step into an op against the current state (ids anywhere, or missing ids). */
function toOp(s: ListState | undefined, step: Step): Op {
  switch (step.kind) {
    case "push":
      return ["push", step.left ? "L" : "R", step.values];
    case "rem":
      return ["rem", step.picks.map((p) => pickId(s, p))];
    case "set":
      return ["lset", pickId(s, step.pick), step.value];
    case "insert":
      return ["linsert", step.before ? "B" : "A", pickId(s, step.pick), step.value];
  }
}

describe("list reducer", () => {
  test("LPUSH order, ids, delta, delete on last removal", () => {
    const a = listType.apply(undefined, ["push", "L", ["a", "b", "c"]], actx(1));
    const s = a.state!;
    expect(s.values()).toEqual(["c", "b", "a"]);
    expect(s.ids()).toEqual(["n1/1:1:0:2", "n1/1:1:0:1", "n1/1:1:0:0"]);
    expect(a.delta).toBe(bytesOf(["a", "b", "c"]));
    const b = listType.apply(s, ["push", "R", ["d"]], actx(2, 1));
    expect(b.state!.values()).toEqual(["c", "b", "a", "d"]);
    expect(b.state!.idAt(3)).toBe("n1/1:2:1:0");
    const r = listType.apply(b.state, ["rem", [...b.state!.ids(), "missing:0"]], actx(3));
    expect(r.state).toBeUndefined();
    expect(r.delta).toBe(-bytesOf(["a", "b", "c", "d"]));
    const back = listType.undo(undefined, r.undo)!;
    expect(back.values()).toEqual(["c", "b", "a", "d"]);
    expect(listType.event(["push", "L", []])).toBe("lpush");
    expect(listType.event(["push", "R", []])).toBe("rpush");
    expect(listType.event(["rem", []])).toBe("lpop");
    expect(listType.event(["rem", [], "rpop"])).toBe("rpop");
  });

  test("no-op ops: rem on absent, rem of missing ids, empty push", () => {
    expect(listType.apply(undefined, ["rem", ["x:1"]], actx(1)).state).toBeUndefined();
    expect(listType.apply(undefined, ["push", "L", []], actx(1)).state).toBeUndefined();
    const s = listType.apply(undefined, ["push", "R", ["a"]], actx(1)).state!;
    const r = listType.apply(s, ["rem", ["x:1", 5, "nocolon"]], actx(2));
    expect(r.state).toBe(s);
    expect(r.delta).toBe(0);
    expect(listType.undo(s, r.undo)).toBe(s);
  });

  test("property: apply then undo in reverse restores every state exactly", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 60 }), (steps) => {
        let s: ListState | undefined;
        let bytes = 0;
        const trail: { before: string; undo: unknown; after: ListState | undefined }[] = [];
        steps.forEach((step, i) => {
          const before = snap(s);
          const op = toOp(s, step);
          const r = listType.apply(s, op, actx(i + 1, i % 3));
          bytes += r.delta;
          s = r.state;
          expect(bytes).toBe(s === undefined ? 0 : listType.size(s));
          if (s !== undefined) {
            expect(s.length).toBeGreaterThan(0);
            const copy = listType.decode(structuredClone(listType.encode(s)));
            expect(snap(copy)).toBe(snap(s));
          }
          trail.push({ before, undo: r.undo, after: s });
        });
        for (let i = trail.length - 1; i >= 0; i--) {
          expect(snap(s)).toBe(snap(trail[i].after));
          s = listType.undo(s, trail[i].undo);
          expect(snap(s)).toBe(trail[i].before);
        }
        expect(s).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  test("property: deque matches an array model", () => {
    const action = fc.oneof(
      fc.record({ t: fc.constant("pf" as const), v: fc.string({ maxLength: 3 }) }),
      fc.record({ t: fc.constant("pb" as const), v: fc.string({ maxLength: 3 }) }),
      fc.record({ t: fc.constant("of" as const) }),
      fc.record({ t: fc.constant("ob" as const) }),
      fc.record({ t: fc.constant("ins" as const), i: fc.nat(), v: fc.string({ maxLength: 3 }) }),
      fc.record({ t: fc.constant("del" as const), i: fc.nat() }),
      fc.record({ t: fc.constant("many" as const), n: fc.nat(40) }),
      fc.record({ t: fc.constant("drain" as const), n: fc.nat(40) }),
    );
    fc.assert(
      fc.property(fc.array(action, { maxLength: 120 }), fc.integer({ min: -60, max: 60 }), (acts, probe) => {
        const d = new ListState();
        const model: [string, string][] = [];
        let k = 0;
        const id = (): string => `b:${k++}`;
        for (const a of acts) {
          switch (a.t) {
            case "pf": {
              const i = id();
              d.pushFront(a.v, "b", Number(i.slice(2)));
              model.unshift([a.v, i]);
              break;
            }
            case "pb": {
              const i = id();
              d.pushBack(a.v, "b", Number(i.slice(2)));
              model.push([a.v, i]);
              break;
            }
            case "of":
              if (model.length > 0) {
                d.popFront();
                model.shift();
              }
              break;
            case "ob":
              if (model.length > 0) {
                d.popBack();
                model.pop();
              }
              break;
            case "ins": {
              const at = a.i % (model.length + 1);
              const i = id();
              d.insertAt(at, a.v, "b", Number(i.slice(2)));
              model.splice(at, 0, [a.v, i]);
              break;
            }
            case "del":
              if (model.length > 0) {
                const at = a.i % model.length;
                d.removeAt(at);
                model.splice(at, 1);
              }
              break;
            case "many":
              for (let j = 0; j < a.n; j++) {
                const i = id();
                d.pushBack(`m${j}`, "b", Number(i.slice(2)));
                model.push([`m${j}`, i]);
              }
              break;
            case "drain":
              for (let j = 0; j < a.n && model.length > 0; j++) {
                d.popFront();
                model.shift();
              }
              break;
          }
          expect(d.length).toBe(model.length);
        }
        expect(d.values()).toEqual(model.map((x) => x[0]));
        expect(d.ids()).toEqual(model.map((x) => x[1]));
        expect(d.at(probe)).toBe(probe >= 0 ? model[probe]?.[0] : undefined);
        const start = probe, stop = -probe + 3;
        expect(d.range(start, stop)).toEqual(modelRange(model.map((x) => x[0]), start, stop));
        model.forEach(([, i], at) => expect(d.indexOfId("b", Number(i.slice(2)))).toBe(at));
        expect(d.bytes).toBe(bytesOf(model.map((x) => x[0])));
      }),
      { numRuns: 300 },
    );
  });

  test("100k pushes and pops at both ends stay fast", () => {
    const t0 = performance.now();
    let s: ListState | undefined;
    for (let i = 0; i < 100_000; i++) {
      s = listType.apply(s, ["push", i % 2 === 0 ? "L" : "R", [`v${i}`]], actx(i + 1)).state;
    }
    expect(s!.length).toBe(100_000);
    expect(s!.at(0)).toBe("v99998");
    expect(s!.at(99_999)).toBe("v99999");
    for (let i = 0; i < 100_000; i++) {
      const id = i % 2 === 0 ? s!.idAt(0)! : s!.idAt(s!.length - 1)!;
      s = listType.apply(s, ["rem", [id]], actx(200_000 + i)).state;
    }
    expect(s).toBeUndefined();
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  test("encode compresses push runs", () => {
    const s = listType.apply(undefined, ["push", "L", ["a", "b", "c", "d"]], actx(1)).state!;
    listType.apply(s, ["push", "R", ["e", "f", "g"]], actx(2));
    const [values, runs] = listType.encode(s) as [string[], unknown[]];
    expect(values).toEqual(["d", "c", "b", "a", "e", "f", "g"]);
    expect(runs).toEqual(["n1/1:1:0", 3, 4, -1, "n1/1:2:0", 0, 3, 1]);
    expect(listType.decode([values, runs]).ids()).toEqual(s.ids());
  });
});

describe("list reducer: LSET, LINSERT, large removals, encodings", () => {
  test("lset replaces by id and keeps the id; undo puts the old value back", () => {
    const s = listType.apply(undefined, ["push", "R", ["a", "bb", "c"]], actx(1)).state!;
    const id = s.idAt(1)!;
    const r = listType.apply(s, ["lset", id, "xyz"], actx(2));
    expect(s.values()).toEqual(["a", "xyz", "c"]);
    expect(s.idAt(1)).toBe(id);
    expect(r.delta).toBe(1);
    expect(listType.event(["lset", id, "xyz"])).toBe("lset");
    listType.undo(s, r.undo);
    expect(s.values()).toEqual(["a", "bb", "c"]);
    // The element is gone: nothing happens.
    const gone = listType.apply(s, ["lset", "n1/1:9:0:0", "q"], actx(3));
    expect(gone.undo).toBeNull();
    expect(listType.apply(undefined, ["lset", id, "q"], actx(3)).state).toBeUndefined();
  });

  test("linsert next to an id; a gone pivot inserts nothing", () => {
    const s = listType.apply(undefined, ["push", "R", ["a", "b"]], actx(1)).state!;
    const b = s.idAt(1)!;
    listType.apply(s, ["linsert", "B", b, "x"], actx(2));
    listType.apply(s, ["linsert", "A", b, "y"], actx(3, 1));
    expect(s.values()).toEqual(["a", "x", "b", "y"]);
    expect(s.ids()).toEqual(["n1/1:1:0:0", "n1/1:2:0:0", "n1/1:1:0:1", "n1/1:3:1:0"]);
    expect(listType.event(["linsert", "B", b, "x"])).toBe("linsert");
    listType.apply(s, ["rem", [b], "lrem"], actx(4));
    const r = listType.apply(s, ["linsert", "A", b, "z"], actx(5));
    expect(r.undo).toBeNull();
    expect(s.values()).toEqual(["a", "x", "y"]);
    expect(listType.apply(s, ["linsert", "X", s.idAt(0)!, "z"], actx(6)).undo).toBeNull();
  });

  test("removing many ids from the middle takes one pass and undoes exactly", () => {
    const values = Array.from({ length: 50_000 }, (_, i) => `v${i}`);
    const s = listType.apply(undefined, ["push", "R", values], actx(1)).state!;
    const before = JSON.stringify([s.ids(), s.values(), s.bytes, s.listpackBytes]);
    const ids = s.ids().filter((_, i) => i % 3 === 1);
    const t0 = performance.now();
    const r = listType.apply(s, ["rem", ids, "lrem"], actx(2));
    expect(performance.now() - t0).toBeLessThan(500);
    expect(s.length).toBe(50_000 - ids.length);
    expect(s.at(1)).toBe("v2");
    expect(listType.event(["rem", ids, "lrem"])).toBe("lrem");
    listType.undo(s, r.undo);
    expect(JSON.stringify([s.ids(), s.values(), s.bytes, s.listpackBytes])).toBe(before);
  });

  test("listpack entry sizes follow Redis's encodings", () => {
    expect(listpackEntryBytes("0")).toBe(2);
    expect(listpackEntryBytes("127")).toBe(2);
    expect(listpackEntryBytes("128")).toBe(3);
    expect(listpackEntryBytes("-4096")).toBe(3);
    expect(listpackEntryBytes("32767")).toBe(4);
    expect(listpackEntryBytes("8388607")).toBe(5);
    expect(listpackEntryBytes("2147483647")).toBe(6);
    expect(listpackEntryBytes("9223372036854775807")).toBe(10);
    expect(listpackEntryBytes("9223372036854775808")).toBe(1 + 19 + 1);
    expect(listpackEntryBytes("007")).toBe(5);
    expect(listpackEntryBytes("")).toBe(2);
    expect(listpackEntryBytes("x".repeat(63))).toBe(65);
    expect(listpackEntryBytes("x".repeat(64))).toBe(66 + 1);
    expect(listpackEntryBytes("x".repeat(5000))).toBe(5005 + 2);
  });

  test("OBJECT ENCODING by size: entries or byte classes", () => {
    const limits = defaultEncodingLimits();
    const s = listType.apply(undefined, ["push", "R", ["a", "b", "c"]], actx(1)).state!;
    expect(listType.encoding(s, limits)).toBe("listpack");
    limits["list-max-listpack-size"] = 2;
    expect(listType.encoding(s, limits)).toBe("quicklist");
    limits["list-max-listpack-size"] = -1;
    listType.apply(s, ["push", "R", ["x".repeat(4096)]], actx(2));
    expect(listType.encoding(s, limits)).toBe("quicklist");
    limits["list-max-listpack-size"] = -9; // below -5 counts as -5: 64 KB
    expect(listType.encoding(s, limits)).toBe("listpack");
  });
});

function modelRange(a: string[], start: number, stop: number): string[] {
  if (start < 0) start += a.length;
  if (stop < 0) stop += a.length;
  if (start < 0) start = 0;
  if (start > stop || start >= a.length) return [];
  return a.slice(start, Math.min(stop, a.length - 1) + 1);
}

// ---------------------------------------------------------------- handlers on a real engine

function node(seed: number, peers: string[] = []) {
  return commandNode(seed, listType, listCommands, peers);
}

describe("list commands", () => {
  test("push, length, range, index", () => {
    const { run } = node(1);
    expect(run("LPUSH", "l", "a", "b", "c")).toBe(3);
    expect(run("RPUSH", "l", "d")).toBe(4);
    expect(run("LRANGE", "l", "0", "-1")).toEqual(["c", "b", "a", "d"]);
    expect(run("LRANGE", "l", "-100", "100")).toEqual(["c", "b", "a", "d"]);
    expect(run("LRANGE", "l", "2", "1")).toEqual([]);
    expect(run("LRANGE", "l", "1", "-2")).toEqual(["b", "a"]);
    expect(run("LRANGE", "nokey", "0", "-1")).toEqual([]);
    expect(run("LRANGE", "nokey", "a", "1")).toBe("ERR:ERR value is not an integer or out of range");
    expect(run("LLEN", "l")).toBe(4);
    expect(run("LLEN", "nokey")).toBe(0);
    expect(run("LINDEX", "l", "0")).toBe("c");
    expect(run("LINDEX", "l", "-1")).toBe("d");
    expect(run("LINDEX", "l", "4")).toBe(null);
    expect(run("LINDEX", "l", "-5")).toBe(null);
    expect(run("LINDEX", "l", "abc")).toBe("ERR:ERR value is not an integer or out of range");
    expect(run("LINDEX", "nokey", "abc")).toBe(null);
    expect(run("LPUSHX", "nokey", "a")).toBe(0);
    expect(run("RPUSHX", "nokey", "a")).toBe(0);
    expect(run("LLEN", "nokey")).toBe(0);
    expect(run("LPUSHX", "l", "x", "y")).toBe(6);
    expect(run("RPUSHX", "l", "z")).toBe(7);
    expect(run("LRANGE", "l", "0", "-1")).toEqual(["y", "x", "c", "b", "a", "d", "z"]);
  });

  test("pops with and without count", () => {
    const { run, engine } = node(2);
    expect(run("LPOP", "nokey")).toBe(null);
    expect(run("LPOP", "nokey", "0")).toBe(NULL_ARRAY);
    expect(run("RPOP", "nokey", "3")).toBe(NULL_ARRAY);
    expect(run("LPOP", "nokey", "-1")).toBe("ERR:ERR value is out of range, must be positive");
    expect(run("LPOP", "nokey", "abc")).toBe("ERR:ERR value is out of range, must be positive");
    expect(run("LPOP", "nokey", "99999999999999999999")).toBe(
      "ERR:ERR value is out of range, must be positive",
    );
    expect(run("LPOP", "nokey", "1", "2")).toBe("ERR:ERR wrong number of arguments for 'lpop' command");
    expect(run("RPUSH", "l", "a", "b", "c", "d", "e")).toBe(5);
    expect(run("LPOP", "l", "0")).toEqual([]);
    expect(run("LPOP", "l")).toBe("a");
    expect(run("RPOP", "l")).toBe("e");
    expect(run("RPOP", "l", "2")).toEqual(["d", "c"]);
    expect(run("LPOP", "l", "1")).toEqual(["b"]);
    expect(run("LLEN", "l")).toBe(0);
    expect(engine.dbsize(0)).toBe(0);
    expect(run("RPUSH", "l", "a", "b")).toBe(2);
    expect(run("LPOP", "l", "9223372036854775807")).toEqual(["a", "b"]);
    expect(run("LPOP", "l")).toBe(null);
    expect(engine.usedBytes()).toBe(0);
  });

  test("WRONGTYPE", () => {
    const { run, engine } = node(3);
    const batch = engine.begin();
    batch.write(0, "s", ["tset", "x"]);
    batch.commit(() => {});
    const wrong = "ERR:WRONGTYPE Operation against a key holding the wrong kind of value";
    for (
      const args of [
        ["LPUSH", "s", "a"],
        ["RPUSH", "s", "a"],
        ["LPUSHX", "s", "a"],
        ["RPUSHX", "s", "a"],
        ["LPOP", "s"],
        ["RPOP", "s", "0"],
        ["LLEN", "s"],
        ["LRANGE", "s", "0", "1"],
        ["LINDEX", "s", "abc"],
        ["LINSERT", "s", "before", "a", "b"],
        ["LSET", "s", "0", "a"],
        ["LSET", "s", "abc", "a"],
        ["LREM", "s", "0", "a"],
        ["LTRIM", "s", "0", "1"],
        ["LPOS", "s", "a"],
        ["LMOVE", "s", "d", "left", "left"],
        ["RPOPLPUSH", "s", "d"],
        ["LMPOP", "1", "s", "left"],
        ["BLPOP", "s", "0"],
        ["BRPOP", "s", "0"],
        ["BLMOVE", "s", "d", "left", "left", "0"],
        ["BRPOPLPUSH", "s", "d", "0"],
        ["BLMPOP", "0", "1", "s", "left"],
      ]
    ) {
      expect(run(...args)).toBe(wrong);
    }
    expect(run("LPOP", "s", "abc")).toBe("ERR:ERR value is out of range, must be positive");
    expect(run("LRANGE", "s", "a", "1")).toBe("ERR:ERR value is not an integer or out of range");
  });

  test("accounted bytes follow pushes and pops", () => {
    const { run, engine } = node(4);
    run("RPUSH", "k", "aaa", "bb");
    const withList = engine.usedBytes();
    run("LPOP", "k");
    expect(withList - engine.usedBytes()).toBe(3 + LIST_ELEMENT_OVERHEAD);
  });

  test("LINSERT", () => {
    const { run, lastOps } = node(5);
    expect(run("LINSERT", "l", "middle", "a", "b")).toBe("ERR:ERR syntax error");
    expect(run("LINSERT", "l", "before", "a", "b")).toBe(0);
    run("RPUSH", "l", "a", "b", "a");
    expect(run("LINSERT", "l", "BEFORE", "a", "x")).toBe(4);
    expect(run("LINSERT", "l", "after", "b", "y")).toBe(5);
    expect(run("LINSERT", "l", "after", "nope", "z")).toBe(-1);
    expect(run("LRANGE", "l", "0", "-1")).toEqual(["x", "a", "b", "y", "a"]);
    expect(lastOps()).toEqual([]);
    expect(run("LINSERT", "l", "AFTER", "a", "q")).toBe(6);
    expect(lastOps()).toEqual([["linsert", "A", expect.any(String), "q"]]);
    expect(run("LRANGE", "l", "0", "-1")).toEqual(["x", "a", "q", "b", "y", "a"]);
  });

  test("LSET", () => {
    const { run } = node(6);
    expect(run("LSET", "l", "x", "v")).toBe("ERR:ERR no such key");
    expect(run("LSET", "l", "0", "v")).toBe("ERR:ERR no such key");
    run("RPUSH", "l", "a", "b", "c");
    expect(run("LSET", "l", "x", "v")).toBe("ERR:ERR value is not an integer or out of range");
    expect(run("LSET", "l", "3", "v")).toBe("ERR:ERR index out of range");
    expect(run("LSET", "l", "-4", "v")).toBe("ERR:ERR index out of range");
    expect(run("LSET", "l", "9223372036854775807", "v")).toBe("ERR:ERR index out of range");
    expect(run("LSET", "l", "1", "B")).toBe(OK);
    expect(run("LSET", "l", "-1", "C")).toBe(OK);
    expect(run("LRANGE", "l", "0", "-1")).toEqual(["a", "B", "C"]);
  });

  test("LREM", () => {
    const { run, engine } = node(7);
    expect(run("LREM", "l", "x", "a")).toBe("ERR:ERR value is not an integer or out of range");
    expect(run("LREM", "l", "0", "a")).toBe(0);
    run("RPUSH", "l", "a", "b", "a", "c", "a", "a");
    expect(run("LREM", "l", "1", "a")).toBe(1);
    expect(run("LRANGE", "l", "0", "-1")).toEqual(["b", "a", "c", "a", "a"]);
    expect(run("LREM", "l", "-2", "a")).toBe(2);
    expect(run("LRANGE", "l", "0", "-1")).toEqual(["b", "a", "c"]);
    expect(run("LREM", "l", "0", "zz")).toBe(0);
    expect(run("LREM", "l", "0", "a")).toBe(1);
    expect(run("LREM", "l", "-9223372036854775808", "b")).toBe(1);
    expect(run("LREM", "l", "0", "c")).toBe(1);
    expect(engine.dbsize(0)).toBe(0);
  });

  test("LTRIM matches LRANGE's range", () => {
    const { run, engine } = node(8);
    expect(run("LTRIM", "l", "a", "1")).toBe("ERR:ERR value is not an integer or out of range");
    expect(run("LTRIM", "l", "0", "1")).toBe(OK);
    const all = ["1", "2", "3", "4", "5"];
    for (const [a, b] of [[0, 0], [1, -2], [-2, -1], [-10, 10], [0, -6], [3, 1], [5, 9], [-1, -1]]) {
      run("RPUSH", "l", ...all);
      const expected = run("LRANGE", "l", String(a), String(b));
      expect(run("LTRIM", "l", String(a), String(b))).toBe(OK);
      expect(run("LRANGE", "l", "0", "-1")).toEqual(expected);
      run("LTRIM", "l", "1", "0");
    }
    expect(engine.dbsize(0)).toBe(0);
  });

  test("LPOS", () => {
    const { run } = node(9);
    expect(run("LPOS", "l", "c")).toBe(null);
    expect(run("LPOS", "l", "c", "COUNT", "0")).toEqual([]);
    run("RPUSH", "l", "a", "b", "c", "d", "1", "2", "3", "4", "3", "3", "3");
    expect(run("LPOS", "l", "3")).toBe(6);
    expect(run("LPOS", "l", "3", "RANK", "2")).toBe(8);
    expect(run("LPOS", "l", "3", "RANK", "-1")).toBe(10);
    expect(run("LPOS", "l", "3", "RANK", "9")).toBe(null);
    expect(run("LPOS", "l", "3", "COUNT", "0")).toEqual([6, 8, 9, 10]);
    expect(run("LPOS", "l", "3", "COUNT", "2", "RANK", "-1")).toEqual([10, 9]);
    expect(run("LPOS", "l", "3", "COUNT", "0", "MAXLEN", "9")).toEqual([6, 8]);
    expect(run("LPOS", "l", "3", "COUNT", "0", "MAXLEN", "2", "RANK", "-2")).toEqual([9]);
    expect(run("LPOS", "l", "zz", "COUNT", "3")).toEqual([]);
    expect(run("LPOS", "l", "a", "RANK", "0")).toBe(
      "ERR:ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
    );
    expect(run("LPOS", "l", "a", "RANK", "-9223372036854775808")).toBe(
      "ERR:ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
    );
    expect(run("LPOS", "l", "a", "RANK", "x")).toBe("ERR:ERR value is not an integer or out of range");
    expect(run("LPOS", "l", "a", "COUNT", "-1")).toBe("ERR:ERR COUNT can't be negative");
    expect(run("LPOS", "l", "a", "COUNT", "x")).toBe("ERR:ERR COUNT can't be negative");
    expect(run("LPOS", "l", "a", "MAXLEN", "-1")).toBe("ERR:ERR MAXLEN can't be negative");
    expect(run("LPOS", "l", "a", "RANK")).toBe("ERR:ERR syntax error");
    expect(run("LPOS", "l", "a", "FOO", "1")).toBe("ERR:ERR syntax error");
    expect(run("LPOS", "nokey", "a", "FOO", "1")).toBe("ERR:ERR syntax error");
  });

  test("LMOVE and RPOPLPUSH, the same key rotating", () => {
    const { run, lastOps } = node(10);
    expect(run("LMOVE", "s", "d", "up", "left")).toBe("ERR:ERR syntax error");
    expect(run("LMOVE", "s", "d", "left", "left")).toBe(null);
    expect(run("RPOPLPUSH", "s", "d")).toBe(null);
    run("RPUSH", "s", "a", "b", "c");
    expect(run("RPOPLPUSH", "s", "d")).toBe("c");
    expect(run("LMOVE", "s", "d", "LEFT", "RIGHT")).toBe("a");
    expect(run("LRANGE", "d", "0", "-1")).toEqual(["c", "a"]);
    expect(run("LMOVE", "d", "d", "left", "right")).toBe("c");
    expect(lastOps()).toEqual([["rem", [expect.any(String)]], ["push", "R", ["c"]]]);
    expect(run("LRANGE", "d", "0", "-1")).toEqual(["a", "c"]);
    expect(run("LMOVE", "s", "s", "right", "left")).toBe("b");
    expect(run("LRANGE", "s", "0", "-1")).toEqual(["b"]);
  });

  test("LMPOP parses like Redis and pops from the first non-empty list", () => {
    const { run } = node(11);
    const cases: [string[], string][] = [
      [["LMPOP", "0", "l", "LEFT"], "ERR numkeys should be greater than 0"],
      [["LMPOP", "a", "l", "LEFT"], "ERR numkeys should be greater than 0"],
      [["LMPOP", "-1", "l", "LEFT"], "ERR numkeys should be greater than 0"],
      [["LMPOP", "99999999999999999999", "l", "LEFT"], "ERR numkeys should be greater than 0"],
      [["LMPOP", "9223372036854775807", "l", "LEFT"], "ERR syntax error"],
      [["LMPOP", "2", "l", "LEFT"], "ERR syntax error"],
      [["LMPOP", "1", "l", "bad"], "ERR syntax error"],
      [["LMPOP", "1", "l", "LEFT", "bar"], "ERR syntax error"],
      [["LMPOP", "1", "l", "RIGHT", "LEFT"], "ERR syntax error"],
      [["LMPOP", "1", "l", "LEFT", "COUNT"], "ERR syntax error"],
      [["LMPOP", "1", "l", "LEFT", "COUNT", "1", "COUNT", "2"], "ERR syntax error"],
      [["LMPOP", "1", "l", "LEFT", "COUNT", "0"], "ERR count should be greater than 0"],
      [["LMPOP", "1", "l", "LEFT", "COUNT", "a"], "ERR count should be greater than 0"],
      [["BLMPOP", "x", "0", "l", "LEFT"], "ERR numkeys should be greater than 0"],
      [["BLMPOP", "-1", "1", "l", "LEFT"], "ERR timeout is negative"],
      [["BLMPOP", "x", "1", "l", "LEFT"], "ERR timeout is not a float or out of range"],
    ];
    for (const [args, e] of cases) expect(run(...args)).toBe(`ERR:${e}`);
    expect(run("LMPOP", "2", "a", "b", "LEFT")).toBe(NULL_ARRAY);
    run("RPUSH", "b", "1", "2", "3");
    expect(run("LMPOP", "2", "a", "b", "left")).toEqual(["b", ["1"]]);
    expect(run("LMPOP", "2", "a", "b", "RIGHT", "count", "5")).toEqual(["b", ["3", "2"]]);
    expect(run("LLEN", "b")).toBe(0);
    run("RPUSH", "a", "x");
    expect(run("BLMPOP", "0", "2", "b", "a", "LEFT", "COUNT", "9223372036854775807")).toEqual(["a", ["x"]]);
  });

  test("blocking commands serve at once or return a Block on their keys", () => {
    const { run, other } = node(12);
    const b = run("BLPOP", "a", "b", "a", "1.5") as unknown as Block;
    expect(b).toBeInstanceOf(Block);
    expect(b.keys).toEqual(["a", "b", "a"]);
    expect(b.timeoutMs).toBe(1500);
    expect(b.onTimeout).toBe(NULL_ARRAY);
    const m = run("BLMOVE", "s", "d", "LEFT", "RIGHT", "0") as unknown as Block;
    expect(m.keys).toEqual(["s"]);
    expect(m.timeoutMs).toBe(0);
    expect((run("BRPOPLPUSH", "s", "d", "0.001") as unknown as Block).timeoutMs).toBe(1);
    expect((run("BLMPOP", "2", "2", "x", "y", "RIGHT") as unknown as Block).keys).toEqual(["x", "y"]);
    expect(run("BLPOP", "a", "-1")).toBe("ERR:ERR timeout is negative");
    expect(run("BLPOP", "a", "abc")).toBe("ERR:ERR timeout is not a float or out of range");
    expect(run("BLMOVE", "s", "d", "LEFT", "UP", "x")).toBe("ERR:ERR syntax error");
    expect(run("BLMOVE", "s", "d", "LEFT", "LEFT", "x")).toBe(
      "ERR:ERR timeout is not a float or out of range",
    );
    run("RPUSH", "b", "1", "2");
    expect(run("BLPOP", "a", "b", "0")).toEqual(["b", "1"]);
    expect(run("BRPOP", "a", "b", "0")).toEqual(["b", "2"]);
    run("RPUSH", "s", "v", "w");
    expect(run("BLMOVE", "s", "d", "RIGHT", "LEFT", "0")).toBe("w");
    expect(run("BRPOPLPUSH", "s", "d", "0")).toBe("v");
    expect(run("LRANGE", "d", "0", "-1")).toEqual(["v", "w"]);
    // WRONGTYPE: at a key before the first list, or a destination of another type.
    other("t");
    run("RPUSH", "b", "1");
    expect(run("BLPOP", "t", "b", "0")).toBe(`ERR:${WRONG}`);
    expect(run("BLPOP", "b", "t", "0")).toEqual(["b", "1"]);
    expect(run("BRPOP", "a", "t", "0")).toBe(`ERR:${WRONG}`);
    expect(run("BLMPOP", "0", "2", "a", "t", "LEFT")).toBe(`ERR:${WRONG}`);
    expect(run("BRPOPLPUSH", "t", "d", "0")).toBe(`ERR:${WRONG}`);
    expect(run("BRPOPLPUSH", "d", "t", "0")).toBe(`ERR:${WRONG}`);
    expect(run("BRPOPLPUSH", "nokey", "t", "0")).toBeInstanceOf(Block);
    expect(run("RPOPLPUSH", "nokey", "t")).toBe(null);
    expect(run("LRANGE", "d", "0", "-1")).toEqual(["v", "w"]);
  });

  test("OBJECT ENCODING hint follows Redis's conversions with the node's limits", () => {
    const { engine } = node(13);
    const limits: EncodingLimits = defaultEncodingLimits();
    const run = (...args: string[]): Reply | Block => {
      const batch = engine.begin();
      const ctx = {
        face: { touched() {}, config: { encodings: limits } },
        engine,
        client: {},
        batch,
        db: 0,
      } as unknown as Ctx;
      const r = listCommands[args[0].toLowerCase()](ctx, args) as Reply;
      batch.commit(() => {});
      return r;
    };
    const enc = (key: string) =>
      listType.encoding(engine.lookup(0, key, Infinity)!.value as ListState, limits);
    limits["list-max-listpack-size"] = 4;
    run("RPUSH", "l", "a", "b", "c", "d");
    expect(enc("l")).toBe("listpack");
    run("RPUSH", "l", "e");
    expect(enc("l")).toBe("quicklist");
    run("RPOP", "l", "2");
    expect(enc("l")).toBe("quicklist"); // 3 left: not under half the limit
    run("LREM", "l", "1", "a");
    expect(enc("l")).toBe("listpack");
    run("RPUSH", "l", "x", "y");
    expect(enc("l")).toBe("listpack"); // 4 entries: a listpack grows up to the limit
    run("LINSERT", "l", "before", "nope", "z"); // Redis converts before it looks for the pivot
    expect(enc("l")).toBe("quicklist");
    limits["list-max-listpack-size"] = -1;
    run("LTRIM", "l", "1", "0");
    run("RPUSH", "m", "a", "b", "c");
    run("LSET", "m", "0", "x".repeat(5000));
    expect(enc("m")).toBe("quicklist");
    run("LSET", "m", "0", "a");
    expect(enc("m")).toBe("listpack");
    run("RPUSH", "n", "x".repeat(3000));
    run("LMOVE", "n", "m", "LEFT", "RIGHT");
    expect(enc("m")).toBe("listpack"); // 3k of 4k
    run("RPUSH", "m", "x".repeat(1100));
    expect(enc("m")).toBe("quicklist");
    run("RPOP", "m");
    expect(enc("m")).toBe("quicklist"); // over 2k
    run("LTRIM", "m", "0", "1");
    expect(enc("m")).toBe("listpack");
  });

  test("engines receiving the same effects in different orders converge", () => {
    let reorders = 0;
    let nonEmpty = 0;
    const opsSeen = new Set<string>();
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            node: fc.nat(1),
            cmd: fc.constantFrom(
              "LPUSH",
              "RPUSH",
              "LPOP",
              "RPOP",
              "LSET",
              "LINSERT",
              "LREM",
              "LTRIM",
              "LMOVE",
            ),
            n: fc.integer({ min: 1, max: 3 }),
            pick: fc.nat(40),
            tick: fc.nat(3),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        fc.integer(),
        fc.integer(),
        (cmds, seedA, seedB) => {
          // Two writers working concurrently on two keys; neither sees the other's effects.
          const writers = [node(11, ["x"]), node(12, ["x"])];
          let v = 0;
          for (const c of cmds) {
            const w = writers[c.node];
            w.clock.ms += c.tick;
            const old = `v${c.pick % (v + 1)}`;
            const key = c.pick % 5 === 0 ? "k2" : "k";
            switch (c.cmd) {
              case "LPUSH":
              case "RPUSH":
                w.run(c.cmd, key, ...Array.from({ length: c.n }, () => `v${v++}`));
                break;
              case "LSET":
                w.run(c.cmd, key, String(c.pick % 7 - 3), `v${v++}`);
                break;
              case "LINSERT":
                w.run(c.cmd, key, c.n === 1 ? "BEFORE" : "AFTER", old, `v${v++}`);
                break;
              case "LREM":
                w.run(c.cmd, key, String(c.n - 2), old);
                break;
              case "LTRIM":
                w.run(c.cmd, key, String(c.n - 1), String(c.pick % 9 - 4));
                break;
              case "LMOVE":
                w.run(c.cmd, key, c.n === 2 ? key : "k2", c.n === 1 ? "LEFT" : "RIGHT", "LEFT");
                break;
              default:
                w.run(c.cmd, key, String(c.n));
            }
          }
          const all = [...writers[0].effects, ...writers[1].effects];
          for (const e of all) for (const op of e.ops) opsSeen.add(String(op[0]));
          const r1 = node(21, ["x"]);
          const r2 = node(22, ["x"]);
          const r3 = node(23, ["x"]);
          for (const e of shuffle(all, seedA)) expect(r1.engine.receive(e)).toBe(true);
          for (const e of shuffle(all, seedB)) expect(r2.engine.receive(e)).toBe(true);
          for (const e of all) r3.engine.receive(e);
          expect(r1.engine.heldCount()).toBe(0);
          expect(r2.engine.heldCount()).toBe(0);
          expect(r1.engine.stateHash()).toBe(r2.engine.stateHash());
          expect(r1.engine.stateHash()).toBe(r3.engine.stateHash());
          const l1 = r1.engine.lookup(0, "k", Infinity)?.value as ListState | undefined;
          const l2 = r2.engine.lookup(0, "k", Infinity)?.value as ListState | undefined;
          expect(l1?.ids()).toEqual(l2?.ids());
          reorders += r1.engine.stats.reorders + r2.engine.stats.reorders;
          if (l1 !== undefined) nonEmpty++;
          expect(r1.engine.usedBytes()).toBe(r2.engine.usedBytes());
          // A writer that receives the other's effects converges too.
          for (const e of writers[1].effects) writers[0].engine.receive(e);
          expect(writers[0].engine.stateHash()).toBe(r1.engine.stateHash());
        },
      ),
      { numRuns: 150 },
    );
    // The runs did exercise out-of-order folds and left lists behind.
    expect([...opsSeen].sort()).toEqual(["linsert", "lset", "push", "rem"]);
    expect(reorders).toBeGreaterThan(0);
    expect(nonEmpty).toBeGreaterThan(0);
  });
});
