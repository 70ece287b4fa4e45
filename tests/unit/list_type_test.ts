import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type Op, Writer } from "../../core/effect.ts";
import type { ApplyCtx } from "../../core/reducer.ts";
import { NULL_ARRAY } from "../../redis/reply.ts";
import { LIST_ELEMENT_OVERHEAD, listCommands, ListState, listType } from "../../redis/types/list.ts";
import { commandNode } from "./fake_env.ts";

// ---------------------------------------------------------------- reducer

const W = Writer.of("n1", 1);

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

type Step = { kind: "push"; left: boolean; values: string[] } | { kind: "rem"; picks: number[] };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("push" as const),
    left: fc.boolean(),
    values: fc.array(fc.string({ maxLength: 4 }), { maxLength: 12 }),
  }),
  fc.record({ kind: fc.constant("rem" as const), picks: fc.array(fc.nat(1000), { maxLength: 10 }) }),
);

/** Turns a step into an op against the current state (rem picks ids anywhere, or missing ids). */
function toOp(s: ListState | undefined, step: Step): Op {
  if (step.kind === "push") return ["push", step.left ? "L" : "R", step.values];
  const len = s?.length ?? 0;
  const ids = step.picks.map((p) => {
    const mode = p % 4;
    if (len === 0 || mode === 3) return `nowhere/1:${p}:0:0`;
    if (mode === 0) return s!.idAt(0)!;
    if (mode === 1) return s!.idAt(len - 1)!;
    return s!.idAt(p % len)!;
  });
  return ["rem", ids];
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

  test("engines receiving the same effects in different orders converge", () => {
    let reorders = 0;
    let nonEmpty = 0;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            node: fc.nat(1),
            cmd: fc.constantFrom("LPUSH", "RPUSH", "LPOP", "RPOP"),
            n: fc.integer({ min: 1, max: 3 }),
            tick: fc.nat(3),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        fc.integer(),
        fc.integer(),
        (cmds, seedA, seedB) => {
          // Two writers working concurrently on one key; neither sees the other's effects.
          const writers = [node(11, ["x"]), node(12, ["x"])];
          let v = 0;
          for (const c of cmds) {
            const w = writers[c.node];
            w.clock.ms += c.tick;
            if (c.cmd.endsWith("PUSH")) {
              const vals = Array.from({ length: c.n }, () => `v${v++}`);
              w.run(c.cmd, "k", ...vals);
            } else {
              w.run(c.cmd, "k", String(c.n));
            }
          }
          const all = [...writers[0].effects, ...writers[1].effects];
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
    expect(reorders).toBeGreaterThan(0);
    expect(nonEmpty).toBeGreaterThan(0);
  });
});

/** A seeded Fisher-Yates shuffle. */
function shuffle<T>(a: readonly T[], seed: number): T[] {
  const out = [...a];
  let x = (seed >>> 0) || 1;
  for (let i = out.length - 1; i > 0; i--) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
