import { describe, expect, test } from "bun:test";
import { defaultEncodingLimits } from "../../redis/encodings.ts";
import fc from "fast-check";
import { type Op, Writer } from "../../core/effect.ts";
import type { ApplyCtx } from "../../core/reducer.ts";
import type { Ctx } from "../../redis/command.ts";
import { MapReply, type Reply, SimpleReply } from "../../redis/reply.ts";
import {
  HASH_FIELD_OVERHEAD,
  HASH_MAX_DEADLINE_MS,
  hashCommands,
  hashExclusive,
  HashState,
  hashType,
} from "../../redis/types/hash.ts";
import { commandNode, shuffle } from "./fake_env.ts";

const LIMITS = defaultEncodingLimits();

// ---------------------------------------------------------------- reducer

const W = Writer.of("n1", 1);

function actx(seq: number, opIndex = 0): ApplyCtx {
  return { hlc: seq * 2048, w: W, seq, opIndex };
}

/** Everything observable of a state, order included, for exact comparisons. */
function snap(s: HashState | undefined): string {
  if (s === undefined) return "<absent>";
  return JSON.stringify([hashType.canonical(s), s.flat(), s.size, s.bytes, s.volatile]);
}

/** Accounted bytes of field, value pairs. */
function bytesOf(flat: string[]): number {
  let n = 0;
  for (let i = 0; i < flat.length; i += 2) n += flat[i].length + flat[i + 1].length + HASH_FIELD_OVERHEAD;
  return n;
}

/** A model of a hash: an insertion-ordered list of pairs. */
function modelSet(m: [string, string][], f: string, v: string): void {
  const i = m.findIndex((p) => p[0] === f);
  if (i >= 0) m[i][1] = v;
  else m.push([f, v]);
}

const field = fc.constantFrom("a", "b", "c", "d", "e", "", "\u0000", "\u00ff\u0001");
const value = fc.oneof(
  fc.string({ maxLength: 4 }),
  fc.constantFrom("0", "-1", "9223372036854775807", "-9223372036854775808", "1.5", "-0", "abc", "1e3"),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.array(fc.tuple(field, value), { maxLength: 5 }).map((ps) => ["hset", ...ps.flat()] as Op),
  fc.array(field, { maxLength: 4 }).map((fs) => ["hdel", ...fs] as Op),
  fc.tuple(
    field,
    fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.constantFrom(2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n)),
  ).map(([f, d]) => ["hincrby", f, d] as Op),
  fc.tuple(field, fc.constantFrom("0.1", "-2.5", "1e3", "abc", "inf", "1")).map(([f, d]) =>
    ["hincrbyfloat", f, d] as Op
  ),
  // Malformed ops: apply is total.
  fc.constantFrom<Op>(["hset", "odd"], ["hset", 1, "x"], ["hdel", 5], ["hincrby", "a", 1.5], ["nope"]),
);

/** Ops with field deadlines too: a deadline of d ms expires at `actx(d)`, so some pass mid-sequence. */
const deadline = fc.integer({ min: 1, max: 60 });
const opArbTtl: fc.Arbitrary<Op> = fc.oneof(
  opArb,
  fc.tuple(fc.oneof(deadline, fc.constant(-1)), fc.array(fc.tuple(field, value), { maxLength: 3 })).map((
    [d, ps],
  ) => ["hsetex", d, ...ps.flat()] as Op),
  fc.tuple(deadline, fc.array(field, { maxLength: 3 })).map(([d, fs]) => ["hpexpireat", d, ...fs] as Op),
  fc.array(field, { maxLength: 3 }).map((fs) => ["hpersist", ...fs] as Op),
  fc.constantFrom<Op>(["hsetex", 0, "a", "b"], ["hsetex", 1.5, "a", "b"], ["hpexpireat", -1, "a"], [
    "hpersist",
    3,
  ]),
);

/**
 * Applies `ops` in order (op i at time i + 1), checking that the deltas add up to size() and each
 * state with `check`, then undoes them in reverse: every state comes back exactly, down to none.
 */
function applyThenUndo(ops: Op[], check: (s: HashState, i: number) => void): void {
  let s: HashState | undefined;
  let bytes = 0;
  const trail: { before: string; undo: unknown; after: string }[] = [];
  ops.forEach((op, i) => {
    const before = snap(s);
    const r = hashType.apply(s, op, actx(i + 1, i % 3));
    bytes += r.delta;
    s = r.state;
    expect(bytes).toBe(s === undefined ? 0 : hashType.size(s));
    if (s !== undefined) check(s, i);
    trail.push({ before, undo: r.undo, after: snap(s) });
  });
  for (let i = trail.length - 1; i >= 0; i--) {
    expect(snap(s)).toBe(trail[i].after);
    s = hashType.undo(s, trail[i].undo);
    expect(snap(s)).toBe(trail[i].before);
  }
  expect(s).toBeUndefined();
}

describe("hash reducer", () => {
  test("hset, hdel, order, delta, delete on last removal, events", () => {
    const a = hashType.apply(undefined, ["hset", "f1", "v1", "f2", "v2", "f1", "v3"], actx(1));
    const h = a.state!;
    expect(h.flat()).toEqual(["f1", "v3", "f2", "v2"]);
    expect(a.delta).toBe(bytesOf(["f1", "v3", "f2", "v2"]));
    expect(hashType.size(h)).toBe(a.delta);
    const b = hashType.apply(h, ["hset", "f0", "x", "f1", "longer"], actx(2));
    expect(b.state!.flat()).toEqual(["f1", "longer", "f2", "v2", "f0", "x"]);
    expect(b.delta).toBe(2 + 1 + HASH_FIELD_OVERHEAD + 6 - 2);
    const d = hashType.apply(b.state, ["hdel", "f2", "missing", "f2"], actx(3));
    expect(d.state!.fields()).toEqual(["f1", "f0"]);
    expect(d.delta).toBe(-(2 + 2 + HASH_FIELD_OVERHEAD));
    // Undo of a middle delete puts the field back in its place.
    expect(hashType.undo(d.state, d.undo)!.fields()).toEqual(["f1", "f2", "f0"]);
    const sizeBefore = hashType.size(h);
    const e = hashType.apply(h, ["hdel", "f1", "f2", "f0"], actx(4));
    expect(e.state).toBeUndefined();
    expect(e.delta).toBe(-sizeBefore);
    expect(hashType.undo(undefined, e.undo)!.flat()).toEqual(["f1", "longer", "f2", "v2", "f0", "x"]);
    expect(hashType.event(["hset", "f", "v"])).toBe("hset");
    expect(hashType.event(["hdel", "f"])).toBe("hdel");
    expect(hashType.event(["hincrby", "f", 1])).toBe("hincrby");
    expect(hashType.event(["hincrbyfloat", "f", "1.5"])).toBe("hincrbyfloat");
  });

  test("no-op ops: hdel on absent or of missing fields, empty or malformed hset", () => {
    expect(hashType.apply(undefined, ["hdel", "x"], actx(1)).state).toBeUndefined();
    expect(hashType.apply(undefined, ["hset"], actx(1)).state).toBeUndefined();
    expect(hashType.apply(undefined, ["hset", "f"], actx(1)).state).toBeUndefined();
    expect(hashType.apply(undefined, ["hincrby", "f", "1"], actx(1)).state).toBeUndefined();
    expect(hashType.apply(undefined, ["hincrbyfloat", "f", "x"], actx(1)).state).toBeUndefined();
    const s = hashType.apply(undefined, ["hset", "a", "1"], actx(1)).state!;
    for (const op of [["hdel", "x", 3], ["hset", 1, "2"], ["other"]] as Op[]) {
      const r = hashType.apply(s, op, actx(2));
      expect(r.state).toBe(s);
      expect(r.delta).toBe(0);
      expect(hashType.undo(s, r.undo)).toBe(s);
    }
  });

  test("increments: int64 and long double arithmetic, no-ops on bad values or overflow", () => {
    let s = hashType.apply(undefined, ["hincrby", "n", 5], actx(1)).state!;
    expect(s.get("n")).toBe("5");
    s = hashType.apply(s, ["hincrby", "n", -7], actx(2)).state!;
    expect(s.get("n")).toBe("-2");
    s = hashType.apply(s, ["hset", "big", "9223372036854775806"], actx(3)).state!;
    s = hashType.apply(s, ["hincrby", "big", 1n], actx(4)).state!;
    expect(s.get("big")).toBe("9223372036854775807");
    const over = hashType.apply(s, ["hincrby", "big", 1], actx(5));
    expect(over.delta).toBe(0);
    expect(over.undo).toBeNull();
    expect(s.get("big")).toBe("9223372036854775807");
    // An increment outside int64 is refused even when the sum would fit.
    s = hashType.apply(s, ["hset", "m", "-1"], actx(6)).state!;
    expect(hashType.apply(s, ["hincrby", "m", 2n ** 63n], actx(7)).undo).toBeNull();
    for (const v of ["abc", "-0", "+1", " 1", "1.0", ""]) {
      s = hashType.apply(s, ["hset", "x", v], actx(8)).state!;
      expect(hashType.apply(s, ["hincrby", "x", 1], actx(9)).undo).toBeNull();
    }
    s = hashType.apply(s, ["hincrbyfloat", "f", "0.1"], actx(10)).state!;
    s = hashType.apply(s, ["hincrbyfloat", "f", "0.2"], actx(11)).state!;
    expect(s.get("f")).toBe("0.3");
    s = hashType.apply(s, ["hset", "z", "-0"], actx(12)).state!;
    s = hashType.apply(s, ["hincrbyfloat", "z", "1"], actx(13)).state!;
    expect(s.get("z")).toBe("1");
    for (const [v, d] of [["abc", "1"], ["1", "abc"], ["1", "inf"], ["1.1e4932", "1.1e4932"]]) {
      s = hashType.apply(s, ["hset", "y", v], actx(14)).state!;
      expect(hashType.apply(s, ["hincrbyfloat", "y", d], actx(15)).undo).toBeNull();
    }
  });

  test("property: apply then undo in reverse restores every state exactly; deltas match size()", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        applyThenUndo(ops, (s) => {
          expect(s.size).toBeGreaterThan(0);
          expect(s.bytes).toBe(bytesOf(s.flat()));
          const copy = hashType.decode(structuredClone(hashType.encode(s)));
          expect(snap(copy)).toBe(snap(s));
        });
      }),
      { numRuns: 500 },
    );
  });

  test("property: matches an insertion-ordered model, also after undo and redo", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), fc.nat(40), (ops, cut) => {
        const model: [string, string][] = [];
        let s: HashState | undefined;
        const undos: unknown[] = [];
        for (const [i, op] of ops.entries()) {
          const r = hashType.apply(s, op, actx(i + 1));
          s = r.state;
          undos.push(r.undo);
          if (op[0] === "hset") {
            for (let k = 1; k + 1 < op.length; k += 2) {
              if (typeof op[k] === "string" && typeof op[k + 1] === "string") {
                modelSet(model, op[k] as string, op[k + 1] as string);
              }
            }
          } else if (op[0] === "hdel") {
            for (const f of op.slice(1)) {
              const at = model.findIndex((p) => p[0] === f);
              if (at >= 0) model.splice(at, 1);
            }
          } else if (op[0] === "hincrby" || op[0] === "hincrbyfloat") {
            const f = op[1] as string;
            const v = s?.get(f);
            if (r.undo !== null && v !== undefined) modelSet(model, f, v);
          }
          expect(s?.flat() ?? []).toEqual(model.flat());
        }
        // Roll back a suffix and reapply it (a reordered fold does this): same state, same order.
        const end = snap(s);
        const from = Math.min(cut, ops.length);
        for (let i = ops.length - 1; i >= from; i--) s = hashType.undo(s, undos[i]);
        for (let i = from; i < ops.length; i++) s = hashType.apply(s, ops[i], actx(i + 1)).state;
        expect(snap(s)).toBe(end);
      }),
      { numRuns: 300 },
    );
  });

  test("field deadlines: set, kept, cleared; expired fields are absent to ops at or past them", () => {
    let r = hashType.apply(undefined, ["hsetex", 10, "a", "1", "b", "2"], actx(1));
    let h = r.state!;
    expect(h.volatile).toBe(2);
    expect(hashType.endsAt(h)).toBe(10);
    expect(hashType.encoding(h, LIMITS)).toBe("listpackex");
    expect(hashType.event(["hsetex", 10, "a", "1"])).toBe("hset");
    expect(hashType.event(["hpexpireat", 10, "a"])).toBe("hexpire");
    expect(hashType.event(["hpersist", "a"])).toBe("hpersist");
    h = hashType.apply(h, ["hset", "c", "3"], actx(2)).state!;
    expect(hashType.endsAt(h)).toBe(0);
    // Increments keep the deadline; HSET clears it; KEEPTTL keeps it.
    h = hashType.apply(h, ["hincrby", "a", 5], actx(3)).state!;
    expect(h.live("a")!.d).toBe(10);
    h = hashType.apply(h, ["hsetex", -1, "a", "x"], actx(3)).state!;
    expect(h.live("a")!.d).toBe(10);
    h = hashType.apply(h, ["hset", "b", "x"], actx(4)).state!;
    expect(h.live("b")!.d).toBe(0);
    // Reads judge at their own time; ops at the effect's hlc.
    expect(h.get("a", 9)).toBe("x");
    expect(h.get("a", 10)).toBeUndefined();
    expect(h.flat(10)).toEqual(["b", "x", "c", "3"]);
    expect(h.liveSize(10)).toBe(2);
    const before = snap(h);
    r = hashType.apply(h, ["hincrby", "a", 1], actx(10));
    expect(r.state!.flat()).toEqual(["b", "x", "c", "3", "a", "1"]);
    expect(r.state!.live("a")!.d).toBe(0);
    expect(snap(hashType.undo(r.state, r.undo))).toBe(before);
    // A hash whose fields all expired is deleted by the next op that adds nothing.
    r = hashType.apply(undefined, ["hsetex", 5, "a", "1"], actx(1));
    const gone = hashType.apply(r.state, ["hdel", "zz"], actx(5));
    expect(gone.state).toBeUndefined();
    expect(gone.delta).toBe(-(2 + HASH_FIELD_OVERHEAD));
    expect(snap(hashType.undo(undefined, gone.undo))).toBe(snap(r.state));
    // Deadlines survive encode/decode and show in the canonical text; the encoding flag sticks.
    h = hashType.apply(r.state, ["hpersist", "a"], actx(2)).state!;
    expect(h.volatile).toBe(0);
    expect(hashType.encoding(h, LIMITS)).toBe("listpackex");
    expect(snap(hashType.decode(structuredClone(hashType.encode(h))))).toBe(snap(h));
    h = hashType.apply(h, ["hpexpireat", 7, "a", "nope"], actx(3)).state!;
    expect(hashType.canonical(h)).toBe("x;1:a=1:1@7,");
    expect(snap(hashType.decode(structuredClone(hashType.encode(h))))).toBe(snap(h));
  });

  test("property: with deadlines, undo restores exactly and a state folds like its encoded copy", () => {
    fc.assert(
      fc.property(fc.array(opArbTtl, { maxLength: 60 }), (ops) => {
        applyThenUndo(ops, (s, i) => {
          // Nothing expired at the op's own time survives it.
          expect(s.liveSize(i + 1)).toBe(s.size);
          expect(s.bytes).toBe(bytesOf(s.flat()));
          const copy = hashType.decode(structuredClone(hashType.encode(s)));
          expect(hashType.canonical(copy)).toBe(hashType.canonical(s));
          // The copy folds the next op the same way.
          const next = ops[i + 1];
          if (next !== undefined) {
            const a = hashType.apply(copy, next, actx(i + 2));
            const b = hashType.apply(hashType.decode(hashType.encode(s)), next, actx(i + 2));
            expect(snap(a.state)).toBe(snap(b.state));
          }
        });
      }),
      { numRuns: 500 },
    );
  });

  test("encoding follows Redis's listpack limits", () => {
    let s = hashType.apply(undefined, ["hset", "f", "v"], actx(1)).state!;
    expect(hashType.encoding(s, LIMITS)).toBe("listpack");
    s = hashType.apply(s, ["hset", "g", "x".repeat(65)], actx(2)).state!;
    expect(hashType.encoding(s, LIMITS)).toBe("hashtable");
    const many: string[] = [];
    for (let i = 0; i < 129; i++) many.push(`f${i}`, "v");
    expect(hashType.encoding(hashType.apply(undefined, ["hset", ...many], actx(3)).state!, LIMITS)).toBe(
      "hashtable",
    );
  });

  test("100k fields set and deleted stay fast", () => {
    const t0 = performance.now();
    let s: HashState | undefined;
    for (let i = 0; i < 100_000; i++) s = hashType.apply(s, ["hset", `f${i}`, `v${i}`], actx(i + 1)).state;
    expect(s!.size).toBe(100_000);
    for (let i = 0; i < 100_000; i++) s = hashType.apply(s, ["hdel", `f${i}`], actx(200_000 + i)).state;
    expect(s).toBeUndefined();
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

// ---------------------------------------------------------------- handlers on a real engine

function node(seed: number, peers: string[] = []) {
  return commandNode(seed, hashType, hashCommands, peers);
}

const OK_REPLY = new SimpleReply("OK");

describe("hash commands", () => {
  test("HSET, HMSET, HSETNX, HGET, HMGET, HGETALL, HKEYS, HVALS, HLEN", () => {
    const { run, engine } = node(1);
    expect(run("HSET", "h", "a", "1", "b", "2", "a", "3")).toBe(2);
    expect(run("HSET", "h", "b", "x", "c", "y")).toBe(1);
    expect(run("HSET", "h", "a")).toBe("ERR:ERR wrong number of arguments for 'hset' command");
    expect(run("HSET", "h", "a", "1", "b")).toBe("ERR:ERR wrong number of arguments for 'hset' command");
    expect(run("HMSET", "h", "d", "4")).toEqual(OK_REPLY);
    expect(run("HMSET", "h", "d", "4", "e")).toBe("ERR:ERR wrong number of arguments for 'hmset' command");
    expect(run("HSETNX", "h", "a", "new")).toBe(0);
    expect(run("HSETNX", "h", "e", "5")).toBe(1);
    expect(run("HSETNX", "n", "f", "v")).toBe(1);
    expect(run("HGET", "h", "a")).toBe("3");
    expect(run("HGET", "h", "nope")).toBe(null);
    expect(run("HGET", "nokey", "a")).toBe(null);
    expect(run("HMGET", "h", "a", "nope", "b")).toEqual(["3", null, "x"]);
    expect(run("HMGET", "nokey", "a", "b")).toEqual([null, null]);
    expect(run("HGETALL", "h")).toEqual(new MapReply(["a", "3", "b", "x", "c", "y", "d", "4", "e", "5"]));
    expect(run("HGETALL", "nokey")).toEqual(new MapReply([]));
    expect(run("HKEYS", "h")).toEqual(["a", "b", "c", "d", "e"]);
    expect(run("HVALS", "h")).toEqual(["3", "x", "y", "4", "5"]);
    expect(run("HKEYS", "nokey")).toEqual([]);
    expect(run("HVALS", "nokey")).toEqual([]);
    expect(run("HLEN", "h")).toBe(5);
    expect(run("HLEN", "nokey")).toBe(0);
    expect(engine.dbsize(0)).toBe(2);
  });

  test("HDEL, HEXISTS, HSTRLEN; an emptied hash is deleted", () => {
    const { run, engine, effects } = node(2);
    expect(run("HDEL", "h", "a")).toBe(0);
    run("HSET", "h", "a", "1", "b", "hello", "c", "");
    expect(run("HEXISTS", "h", "a")).toBe(1);
    expect(run("HEXISTS", "h", "z")).toBe(0);
    expect(run("HEXISTS", "nokey", "a")).toBe(0);
    expect(run("HSTRLEN", "h", "b")).toBe(5);
    expect(run("HSTRLEN", "h", "c")).toBe(0);
    expect(run("HSTRLEN", "h", "z")).toBe(0);
    expect(run("HSTRLEN", "nokey", "z")).toBe(0);
    const before = effects.length;
    expect(run("HDEL", "h", "z", "y")).toBe(0);
    expect(effects.length).toBe(before);
    expect(run("HDEL", "h", "a", "a", "z")).toBe(1);
    // Only the fields present are in the op.
    expect(effects.at(-1)!.ops).toEqual([["hdel", "a"]]);
    expect(run("HKEYS", "h")).toEqual(["b", "c"]);
    run("HSET", "h", "a", "again");
    expect(run("HKEYS", "h")).toEqual(["b", "c", "a"]);
    expect(run("HDEL", "h", "a", "b", "c")).toBe(3);
    expect(run("HLEN", "h")).toBe(0);
    expect(engine.dbsize(0)).toBe(0);
    expect(engine.usedBytes()).toBe(0);
  });

  test("HINCRBY", () => {
    const { run } = node(3);
    expect(run("HINCRBY", "h", "n", "5")).toBe(5);
    expect(run("HINCRBY", "h", "n", "-7")).toBe(-2);
    expect(run("HGET", "h", "n")).toBe("-2");
    expect(run("HINCRBY", "h", "n", "abc")).toBe("ERR:ERR value is not an integer or out of range");
    expect(run("HINCRBY", "h", "n", "1.5")).toBe("ERR:ERR value is not an integer or out of range");
    expect(run("HINCRBY", "h", "n", "9223372036854775808")).toBe(
      "ERR:ERR value is not an integer or out of range",
    );
    run("HSET", "h", "s", "x", "z", "-0", "big", "9223372036854775806");
    expect(run("HINCRBY", "h", "s", "1")).toBe("ERR:ERR hash value is not an integer");
    expect(run("HINCRBY", "h", "z", "1")).toBe("ERR:ERR hash value is not an integer");
    expect(run("HINCRBY", "h", "big", "1")).toBe(9223372036854775807n);
    expect(run("HINCRBY", "h", "big", "1")).toBe("ERR:ERR increment or decrement would overflow");
    expect(run("HINCRBY", "h", "big", "-9223372036854775808")).toBe(-1);
    run("HSET", "h", "low", "-9223372036854775808");
    expect(run("HINCRBY", "h", "low", "-1")).toBe("ERR:ERR increment or decrement would overflow");
    expect(run("HINCRBY", "h", "low", "0")).toBe(-9223372036854775808n);
  });

  test("HINCRBYFLOAT", () => {
    const { run } = node(4);
    expect(run("HINCRBYFLOAT", "h", "f", "0.1")).toBe("0.1");
    expect(run("HINCRBYFLOAT", "h", "f", "0.2")).toBe("0.3");
    expect(run("HINCRBYFLOAT", "h", "f", "-0.3")).toBe("0");
    expect(run("HINCRBYFLOAT", "h", "f", "1e3")).toBe("1000");
    expect(run("HINCRBYFLOAT", "h", "f", "abc")).toBe("ERR:ERR value is not a valid float");
    expect(run("HINCRBYFLOAT", "h", "f", "nan")).toBe("ERR:ERR value is not a valid float");
    expect(run("HINCRBYFLOAT", "h", "f", "inf")).toBe("ERR:ERR value is NaN or Infinity");
    expect(run("HINCRBYFLOAT", "h", "f", "-inf")).toBe("ERR:ERR value is NaN or Infinity");
    run("HSET", "h", "s", "x", "z", "-0", "i", "10", "huge", "1.1e4932");
    expect(run("HINCRBYFLOAT", "h", "s", "1")).toBe("ERR:ERR hash value is not a float");
    expect(run("HINCRBYFLOAT", "h", "z", "1")).toBe("1");
    expect(run("HINCRBYFLOAT", "h", "i", "-1.5")).toBe("8.5");
    expect(run("HINCRBYFLOAT", "h", "huge", "1.1e4932")).toBe(
      "ERR:ERR increment would produce NaN or Infinity",
    );
    expect(run("HGET", "h", "huge")).toBe("1.1e4932");
    expect(run("HINCRBYFLOAT", "h", "huge", "-1.1e4932")).toBe("0");
  });

  test("WRONGTYPE, and argument errors that come first", () => {
    const { run, engine } = node(5);
    const batch = engine.begin();
    batch.write(0, "s", ["tset", "x"]);
    batch.commit(() => {});
    const wrong = "ERR:WRONGTYPE Operation against a key holding the wrong kind of value";
    for (
      const args of [
        ["HSET", "s", "f", "v"],
        ["HMSET", "s", "f", "v"],
        ["HSETNX", "s", "f", "v"],
        ["HGET", "s", "f"],
        ["HMGET", "s", "f"],
        ["HGETALL", "s"],
        ["HDEL", "s", "f"],
        ["HLEN", "s"],
        ["HEXISTS", "s", "f"],
        ["HKEYS", "s"],
        ["HVALS", "s"],
        ["HSTRLEN", "s", "f"],
        ["HINCRBY", "s", "f", "1"],
        ["HINCRBYFLOAT", "s", "f", "1"],
      ]
    ) {
      expect(run(...args)).toBe(wrong);
    }
    expect(run("HSET", "s", "f")).toBe("ERR:ERR wrong number of arguments for 'hset' command");
    expect(run("HINCRBY", "s", "f", "x")).toBe("ERR:ERR value is not an integer or out of range");
    expect(run("HINCRBYFLOAT", "s", "f", "x")).toBe("ERR:ERR value is not a valid float");
    expect(run("HINCRBYFLOAT", "s", "f", "inf")).toBe("ERR:ERR value is NaN or Infinity");
  });

  test("read commands count keyspace hits and misses, writes do not", () => {
    const { run, engine } = node(6);
    run("HSET", "h", "f", "v");
    run("HDEL", "nokey", "f");
    expect(engine.stats.keyspaceHits + engine.stats.keyspaceMisses).toBe(0);
    run("HGET", "h", "f");
    run("HLEN", "nokey");
    expect(engine.stats.keyspaceHits).toBe(1);
    expect(engine.stats.keyspaceMisses).toBe(1);
  });

  test("accounted bytes follow sets and deletes", () => {
    const { run, engine } = node(7);
    run("HSET", "k", "aaa", "bb");
    const withHash = engine.usedBytes();
    run("HSET", "k", "f", "vvvv");
    expect(engine.usedBytes() - withHash).toBe(5 + HASH_FIELD_OVERHEAD);
    run("HSET", "k", "f", "v");
    expect(engine.usedBytes() - withHash).toBe(2 + HASH_FIELD_OVERHEAD);
    run("HDEL", "k", "f");
    expect(engine.usedBytes()).toBe(withHash);
  });

  test("engines receiving the same effects in different orders converge", () => {
    let reorders = 0;
    let nonEmpty = 0;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            node: fc.nat(1),
            cmd: fc.constantFrom("HSET", "HDEL", "HINCRBY", "HINCRBYFLOAT", "HSETNX"),
            f: fc.constantFrom("a", "b", "c"),
            g: fc.constantFrom("a", "b", "c"),
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
            if (c.cmd === "HSET") w.run("HSET", "k", c.f, `v${v++}`, c.g, String(v));
            else if (c.cmd === "HSETNX") w.run("HSETNX", "k", c.f, `n${v++}`);
            else if (c.cmd === "HDEL") w.run("HDEL", "k", c.f, c.g);
            else if (c.cmd === "HINCRBY") w.run("HINCRBY", "k", c.f, "2");
            else w.run("HINCRBYFLOAT", "k", c.g, "0.5");
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
          const h1 = r1.engine.lookup(0, "k", Infinity)?.value as HashState | undefined;
          const h2 = r2.engine.lookup(0, "k", Infinity)?.value as HashState | undefined;
          expect(h1?.flat()).toEqual(h2?.flat());
          reorders += r1.engine.stats.reorders + r2.engine.stats.reorders;
          if (h1 !== undefined) nonEmpty++;
          expect(r1.engine.usedBytes()).toBe(r2.engine.usedBytes());
          // A writer that receives the other's effects converges too.
          for (const e of writers[1].effects) writers[0].engine.receive(e);
          expect(writers[0].engine.stateHash()).toBe(r1.engine.stateHash());
        },
      ),
      { numRuns: 150 },
    );
    // The runs did exercise out-of-order folds and left hashes behind.
    expect(reorders).toBeGreaterThan(0);
    expect(nonEmpty).toBeGreaterThan(0);
  });

  test("concurrent HINCRBYs on two nodes both count", () => {
    const a = node(31, ["x"]);
    const b = node(32, ["x"]);
    expect(a.run("HINCRBY", "k", "n", "3")).toBe(3);
    expect(b.run("HINCRBY", "k", "n", "4")).toBe(4);
    for (const e of b.effects) a.engine.receive(e);
    for (const e of a.effects) b.engine.receive(e);
    expect(a.run("HGET", "k", "n")).toBe("7");
    expect(b.run("HGET", "k", "n")).toBe("7");
  });
});

/** Runs a read-only command on `n`'s engine with a client of protocol `resp` and the default encodings. */
function readAs(n: ReturnType<typeof node>, resp: 2 | 3, ...args: string[]): Reply | string {
  const batch = n.engine.begin();
  const ctx: Ctx = {
    face: { touched() {}, config: { encodings: LIMITS } } as any,
    engine: n.engine,
    client: { resp } as any,
    batch,
    db: 0,
  };
  try {
    return hashCommands[args[0].toLowerCase()](ctx, args) as Reply;
  } catch (e) {
    return `ERR:${(e as { reply: { s: string } }).reply.s}`;
  } finally {
    batch.release();
  }
}

describe("hash field expiry commands", () => {
  test("HEXPIRE family: per-field replies, conditions, past deadlines, duplicates", () => {
    const { run, clock, lastOps } = node(41);
    const now = () => clock.ms;
    run("HSET", "h", "a", "1", "b", "2", "c", "3");
    expect(run("HEXPIRE", "h", "100", "FIELDS", "2", "a", "zz")).toEqual([1, -2]);
    // Relative times become absolute deadlines in the op.
    expect(lastOps()).toEqual([["hpexpireat", now() + 100_000, "a"]]);
    expect(run("HPEXPIRE", "h", "50000", "NX", "FIELDS", "2", "a", "b")).toEqual([0, 1]);
    expect(run("HPEXPIRE", "h", "200000", "GT", "FIELDS", "3", "a", "b", "c")).toEqual([1, 1, 0]);
    expect(run("HPEXPIRE", "h", "150000", "LT", "FIELDS", "3", "a", "b", "c")).toEqual([1, 1, 1]);
    expect(run("HPERSIST", "h", "FIELDS", "1", "c")).toEqual([1]);
    expect(run("HPEXPIRE", "h", "1000", "XX", "FIELDS", "3", "a", "c", "a")).toEqual([1, 0, 1]);
    expect(run("HPTTL", "h", "FIELDS", "4", "a", "b", "c", "zz")).toEqual([1000, 150_000, -1, -2]);
    expect(run("HTTL", "h", "FIELDS", "2", "a", "b")).toEqual([1, 150]);
    expect(run("HPEXPIRETIME", "h", "FIELDS", "1", "a")).toEqual([now() + 1000]);
    expect(run("HEXPIRETIME", "h", "FIELDS", "1", "a")).toEqual([Math.ceil((now() + 1000) / 1000)]);
    clock.ms += 1;
    // HTTL rounds up what is left.
    expect(run("HTTL", "h", "FIELDS", "1", "a")).toEqual([1]);
    expect(run("HPEXPIREAT", "h", String(now() + 10), "FIELDS", "1", "c")).toEqual([1]);
    // A past or present deadline deletes (2); the same field again is gone (-2).
    expect(run("HPEXPIRE", "h", "0", "NX", "FIELDS", "3", "c", "a", "a")).toEqual([0, 0, 0]);
    expect(run("HEXPIREAT", "h", "1", "FIELDS", "2", "c", "c")).toEqual([2, -2]);
    expect(lastOps()).toEqual([["hdel", "c"]]);
    expect(run("HPERSIST", "h", "FIELDS", "4", "a", "b", "c", "a")).toEqual([1, 1, -2, -1]);
    expect(run("HPERSIST", "h", "FIELDS", "1", "a")).toEqual([-1]);
    expect(run("HGETALL", "h")).toEqual(new MapReply(["a", "1", "b", "2"]));
    // A missing key: -2 for every field, after the arguments are checked.
    expect(run("HEXPIRE", "nokey", "10", "FIELDS", "2", "a", "b")).toEqual([-2, -2]);
    expect(run("HTTL", "nokey", "FIELDS", "1", "a")).toEqual([-2]);
    expect(run("HPERSIST", "nokey", "FIELDS", "1", "a")).toEqual([-2]);
    expect(run("HEXPIRE", "nokey", "-1", "FIELDS", "1", "a")).toBe(
      "ERR:ERR invalid expire time, must be >= 0",
    );
  });

  test("HEXPIRE family: argument errors in Redis's words and order", () => {
    const { run, other } = node(42);
    run("HSET", "h", "a", "1");
    const e = (s: string) => `ERR:ERR ${s}`;
    expect(run("HEXPIRE", "h", "x", "FIELDS", "1", "a")).toBe(e("value is not an integer or out of range"));
    expect(run("HEXPIRE", "h", "-9223372036854775808", "FIELDS", "1", "a")).toBe(
      e("invalid expire time, must be >= 0"),
    );
    expect(run("HEXPIRE", "h", String(Math.floor(2 ** 48 / 1000)), "FIELDS", "1", "a")).toBe(
      e("invalid expire time in 'hexpire' command"),
    );
    expect(run("HPEXPIRE", "h", String(2 ** 48), "FIELDS", "1", "a")).toBe(
      e("invalid expire time in 'hpexpire' command"),
    );
    expect(run("HPEXPIREAT", "h", String(HASH_MAX_DEADLINE_MS + 1), "FIELDS", "1", "a")).toBe(
      e("invalid expire time in 'hpexpireat' command"),
    );
    expect(run("HPEXPIREAT", "h", String(HASH_MAX_DEADLINE_MS), "FIELDS", "1", "a")).toEqual([1]);
    expect(run("HEXPIREAT", "h", "9223372036854775807", "FIELDS", "1", "a")).toBe(
      e("invalid expire time in 'hexpireat' command"),
    );
    const fields = e("Mandatory argument FIELDS is missing or not at the right position");
    expect(run("HEXPIRE", "h", "10", "NX", "XX", "FIELDS", "1", "a")).toBe(fields);
    expect(run("HEXPIRE", "h", "10", "FIELD", "1", "a")).toBe(fields);
    expect(run("HEXPIRE", "h", "10", "FIELDS", "0", "a")).toBe(
      e("Parameter `numFields` should be greater than 0"),
    );
    expect(run("HEXPIRE", "h", "10", "FIELDS", "abc", "a")).toBe(
      e("Parameter `numFields` should be greater than 0"),
    );
    const match = e("The `numfields` parameter must match the number of arguments");
    expect(run("HEXPIRE", "h", "10", "NX", "FIELDS", "2", "a")).toBe(match);
    expect(run("HEXPIRE", "h", "10", "FIELDS", "1", "a", "b")).toBe(match);
    expect(run("HTTL", "h", "FIELDS", "0", "a")).toBe(e("Number of fields must be a positive integer"));
    expect(run("HTTL", "h", "FIELDS", "2", "a")).toBe(match);
    expect(run("HTTL", "h", "NOTFIELDS", "1", "a")).toBe(fields);
    expect(run("HPERSIST", "h", "FIELDS", "-1", "a")).toBe(e("Number of fields must be a positive integer"));
    other("s");
    const wrong = "ERR:WRONGTYPE Operation against a key holding the wrong kind of value";
    for (
      const args of [
        ["HEXPIRE", "s", "10", "FIELDS", "1", "a"],
        ["HPEXPIREAT", "s", "x", "FIELDS", "1", "a"],
        ["HTTL", "s", "FIELDS", "1", "a"],
        ["HPEXPIRETIME", "s", "FIELDS", "1", "a"],
        ["HPERSIST", "s", "FIELDS", "1", "a"],
        ["HGETEX", "s", "FIELDS", "1", "a"],
        ["HSETEX", "s", "FIELDS", "1", "a", "v"],
        ["HGETDEL", "s", "FIELDS", "1", "a"],
        ["HRANDFIELD", "s"],
        ["HSCAN", "s", "0"],
      ]
    ) {
      expect(run(...args)).toBe(wrong);
    }
  });

  test("expired fields are absent to every read, and to writes at or past the deadline", () => {
    const { run, clock, engine } = node(43);
    run("HSET", "h", "a", "10", "b", "2", "c", "3");
    run("HPEXPIRE", "h", "5", "FIELDS", "2", "a", "b");
    clock.ms += 5;
    expect(run("HGET", "h", "a")).toBe(null);
    expect(run("HMGET", "h", "a", "c")).toEqual([null, "3"]);
    expect(run("HEXISTS", "h", "b")).toBe(0);
    expect(run("HSTRLEN", "h", "a")).toBe(0);
    expect(run("HLEN", "h")).toBe(1);
    expect(run("HKEYS", "h")).toEqual(["c"]);
    expect(run("HVALS", "h")).toEqual(["3"]);
    expect(run("HGETALL", "h")).toEqual(new MapReply(["c", "3"]));
    expect(run("HTTL", "h", "FIELDS", "1", "a")).toEqual([-2]);
    expect(run("HDEL", "h", "a")).toBe(0);
    expect(run("HSETNX", "h", "b", "new")).toBe(1);
    // An expired field counts as 0 and loses its deadline.
    expect(run("HINCRBY", "h", "a", "1")).toBe(1);
    expect(run("HTTL", "h", "FIELDS", "2", "a", "b")).toEqual([-1, -1]);
    expect(run("HSET", "h", "a", "x", "z", "y")).toBe(1);
    // HINCRBY(FLOAT) keep a live field's deadline.
    run("HPEXPIRE", "h", "100", "FIELDS", "1", "z");
    run("HSET", "h", "z", "1");
    run("HPEXPIRE", "h", "100", "FIELDS", "1", "z");
    expect(run("HINCRBYFLOAT", "h", "z", "1.5")).toBe("2.5");
    expect(run("HPTTL", "h", "FIELDS", "1", "z")).toEqual([100]);
    // A hash whose every field expired reads as empty; the next write frees it.
    run("HPEXPIRE", "h", "1", "FIELDS", "4", "a", "b", "c", "z");
    clock.ms += 1;
    expect(run("HLEN", "h")).toBe(0);
    expect(run("HGETALL", "h")).toEqual(new MapReply([]));
    expect(run("HRANDFIELD", "h")).toBe(null);
    expect(run("HDEL", "h", "a")).toBe(0);
    expect(run("HSETEX", "h", "FXX", "FIELDS", "1", "a", "v")).toBe(0);
    // The next write starts from an empty hash (whether or not the engine freed the key already).
    expect(run("HSET", "h", "n", "1")).toBe(1);
    expect((engine.lookup(0, "h", clock.ms)!.value as HashState).flat()).toEqual(["n", "1"]);
  });

  test("HGETDEL and HGETEX", () => {
    const { run, clock, lastOps, engine } = node(44);
    const e = (s: string) => `ERR:ERR ${s}`;
    run("HSET", "h", "a", "1", "b", "2", "c", "3");
    expect(run("HGETDEL", "h", "FIELDS", "3", "a", "zz", "a")).toEqual(["1", null, "1"]);
    expect(lastOps()).toEqual([["hdel", "a"]]);
    expect(run("HGETDEL", "h", "FIELDS", "1", "zz")).toEqual([null]);
    expect(run("HGETDEL", "nokey", "FIELDS", "1", "a")).toEqual([null]);
    expect(run("HGETDEL", "h", "FIELD", "1", "a")).toBe(
      e("Mandatory argument FIELDS is missing or not at the right position"),
    );
    expect(run("HGETDEL", "h", "FIELDS", "0", "a")).toBe(e("Number of fields must be a positive integer"));
    expect(run("HGETDEL", "h", "FIELDS", "2", "a")).toBe(
      e("The `numfields` parameter must match the number of arguments"),
    );
    expect(run("HGETEX", "h", "FIELDS", "2", "b", "zz")).toEqual(["2", null]);
    expect(run("HGETEX", "h", "EX", "100", "FIELDS", "2", "b", "zz")).toEqual(["2", null]);
    expect(lastOps()).toEqual([["hpexpireat", clock.ms + 100_000, "b"]]);
    expect(run("HGETEX", "h", "PXAT", String(clock.ms + 7), "FIELDS", "1", "c")).toEqual(["3"]);
    expect(run("HPTTL", "h", "FIELDS", "2", "b", "c")).toEqual([100_000, 7]);
    expect(run("HGETEX", "h", "PERSIST", "FIELDS", "2", "b", "c")).toEqual(["2", "3"]);
    expect(run("HTTL", "h", "FIELDS", "2", "b", "c")).toEqual([-1, -1]);
    expect(run("HGETEX", "h", "PERSIST", "FIELDS", "1", "b")).toEqual(["2"]);
    expect(lastOps()).toEqual([]);
    expect(run("HGETEX", "h", "EXAT", "1", "FIELDS", "1", "b")).toEqual(["2"]);
    expect(run("HGETEX", "h", "PX", "0", "FIELDS", "1", "c")).toEqual(["3"]);
    expect(engine.dbsize(0)).toBe(0);
    expect(run("HGETEX", "h", "EX", "bla", "FIELDS", "1", "a")).toBe(
      e("value is not an integer or out of range"),
    );
    expect(run("HGETEX", "h", "PX", "-1", "FIELDS", "1", "a")).toBe(e("invalid expire time, must be >= 0"));
    expect(run("HGETEX", "h", "EXAT", String(2 ** 46 + 100), "FIELDS", "1", "a")).toBe(
      e("invalid expire time in 'hgetex' command"),
    );
    expect(run("HGETEX", "h", "EX", "1", "PX", "1", "FIELDS", "1", "a")).toBe(
      e("Only one of EX, PX, EXAT, PXAT or PERSIST arguments can be specified"),
    );
    const fields = e("Mandatory argument FIELDS is missing or not at the right position");
    expect(run("HGETEX", "h", "XFIELDX", "1", "a")).toBe(fields);
    expect(run("HGETEX", "h", "PXAT", "1", "1")).toBe(fields);
    expect(run("HGETEX", "h", "PERSIST", "1", "FIELDS", "1", "a")).toBe(fields);
    expect(run("HGETEX", "h", "FIELDS", "9223372036854775808", "a")).toBe(
      e("Number of fields must be a positive integer"),
    );
  });

  test("HSETEX: conditions, deadlines, KEEPTTL, errors", () => {
    const { run, clock, lastOps, engine } = node(45);
    const e = (s: string) => `ERR:ERR ${s}`;
    expect(run("HSETEX", "h", "FXX", "FIELDS", "1", "a", "1")).toBe(0);
    expect(engine.dbsize(0)).toBe(0);
    expect(run("HSETEX", "h", "FNX", "EX", "100", "FIELDS", "2", "a", "1", "b", "2")).toBe(1);
    expect(lastOps()).toEqual([["hsetex", clock.ms + 100_000, "a", "1", "b", "2"]]);
    expect(run("HSETEX", "h", "FNX", "FIELDS", "2", "c", "3", "a", "x")).toBe(0);
    expect(run("HSETEX", "h", "PX", "5000", "FXX", "FIELDS", "1", "a", "x")).toBe(1);
    expect(run("HPTTL", "h", "FIELDS", "2", "a", "b")).toEqual([5000, 100_000]);
    expect(run("HSETEX", "h", "KEEPTTL", "FIELDS", "2", "a", "y", "c", "3")).toBe(1);
    expect(run("HPTTL", "h", "FIELDS", "2", "a", "c")).toEqual([5000, -1]);
    expect(run("HSETEX", "h", "FIELDS", "1", "a", "z")).toBe(1);
    expect(lastOps()).toEqual([["hset", "a", "z"]]);
    expect(run("HPTTL", "h", "FIELDS", "1", "a")).toEqual([-1]);
    // A deadline already past deletes the fields (reply 1 all the same).
    expect(run("HSETEX", "h", "EXAT", "1", "FIELDS", "2", "a", "1", "zz", "2")).toBe(1);
    expect(lastOps()).toEqual([["hdel", "a"]]);
    expect(run("HSETEX", "nokey", "PX", "0", "FIELDS", "1", "a", "1")).toBe(1);
    expect(engine.lookup(0, "nokey", clock.ms)).toBeUndefined();
    expect(run("HGETALL", "h")).toEqual(new MapReply(["b", "2", "c", "3"]));
    const arity = e("wrong number of arguments for 'hsetex' command");
    expect(run("HSETEX", "h", "FIELDS", "2", "a", "b", "c")).toBe(arity);
    expect(run("HSETEX", "h", "FIELDS", "1", "a", "b", "unknown")).toBe(arity);
    expect(run("HSETEX", "h", "nx", "FIELDS", "1", "a", "b")).toBe(e("unknown argument: nx"));
    expect(run("HSETEX", "h", "FXX", "FNX", "FIELDS", "1", "a", "b")).toBe(
      e("Only one of FXX or FNX arguments can be specified"),
    );
    expect(run("HSETEX", "h", "EX", "1", "KEEPTTL", "FIELDS", "1", "a", "b")).toBe(
      e("Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified"),
    );
    expect(run("HSETEX", "h", "EX", "FIELDS", "1", "a", "b")).toBe(
      e("value is not an integer or out of range"),
    );
    expect(run("HSETEX", "h", "EXAT", String(2 ** 48), "1", "a", "b")).toBe(
      e("invalid expire time in 'hsetex' command"),
    );
    expect(run("HSETEX", "h", "EXAT", "-1", "1", "a", "b")).toBe(e("invalid expire time, must be >= 0"));
    expect(run("HSETEX", "h", "FIELDS", "x", "a", "b")).toBe(e("invalid number of fields"));
    expect(run("HSETEX", "h", "FIELDS", "0", "a", "b")).toBe(e("invalid number of fields"));
  });

  test("HRANDFIELD: counts, repeats, values in RESP2 and RESP3, limits", () => {
    const n = node(46);
    const { run } = n;
    expect(run("HRANDFIELD", "h")).toBe(null);
    expect(run("HRANDFIELD", "h", "5")).toEqual([]);
    run("HSET", "h", "a", "1", "b", "2", "c", "3");
    expect(["a", "b", "c"]).toContain(run("HRANDFIELD", "h") as string);
    expect(run("HRANDFIELD", "h", "0")).toEqual([]);
    expect(run("HRANDFIELD", "h", "3")).toEqual(["a", "b", "c"]);
    expect(run("HRANDFIELD", "h", "10", "WITHVALUES")).toEqual(["a", "1", "b", "2", "c", "3"]);
    const two = run("HRANDFIELD", "h", "2") as string[];
    expect(new Set(two).size).toBe(2);
    const many = run("HRANDFIELD", "h", "-50") as string[];
    expect(many.length).toBe(50);
    expect(new Set(many)).toEqual(new Set(["a", "b", "c"]));
    const pairs = run("HRANDFIELD", "h", "-4", "WITHVALUES") as string[];
    expect(pairs.length).toBe(8);
    for (let i = 0; i < 8; i += 2) expect(pairs[i + 1]).toBe(String(" abc".indexOf(pairs[i])));
    const nested = readAs(n, 3, "HRANDFIELD", "h", "-2", "WITHVALUES") as string[][];
    expect(nested.length).toBe(2);
    for (const p of nested) expect(p.length).toBe(2);
    expect(readAs(n, 3, "HRANDFIELD", "h", "2")).toHaveLength(2);
    expect(run("HRANDFIELD", "h", "1", "WITHVALUE")).toBe("ERR:ERR syntax error");
    expect(run("HRANDFIELD", "h", "1", "WITHVALUES", "x")).toBe("ERR:ERR syntax error");
    expect(run("HRANDFIELD", "h", "x")).toBe("ERR:ERR value is not an integer or out of range");
    expect(run("HRANDFIELD", "h", "-9223372036854775808")).toBe(
      "ERR:ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
    );
    expect(run("HRANDFIELD", "h", "-9223372036854770000", "WITHVALUES")).toBe(
      "ERR:ERR value is out of range",
    );
    expect(run("HRANDFIELD", "h", "-100000000")).toBe(
      "ERR:ERR value is out of range, must be between -16777216 and 9223372036854775807",
    );
  });

  test("HSCAN: small hashes whole, big ones by ordinal; every field present throughout comes once", () => {
    const n = node(47);
    const { run } = n;
    expect(readAs(n, 2, "HSCAN", "nokey", "0", "BAD")).toEqual(["0", []]);
    run("HSET", "h", "a", "1", "b", "2", "c", "3");
    expect(readAs(n, 2, "HSCAN", "h", "0", "COUNT", "1")).toEqual(["0", ["a", "1", "b", "2", "c", "3"]]);
    expect(readAs(n, 2, "HSCAN", "h", "0", "MATCH", "[ab]", "NOVALUES")).toEqual(["0", ["a", "b"]]);
    expect(readAs(n, 2, "HSCAN", "h", "x")).toBe("ERR:ERR invalid cursor");
    expect(readAs(n, 2, "HSCAN", "h", "0", "COUNT", "0")).toBe("ERR:ERR syntax error");
    expect(readAs(n, 2, "HSCAN", "h", "0", "COUNT")).toBe("ERR:ERR syntax error");
    const args: string[] = [];
    for (let i = 0; i < 300; i++) args.push(`f${i}`, `v${i}`);
    run("HSET", "big", ...args);
    let cursor = "0";
    const seen: string[] = [];
    let calls = 0;
    do {
      const [next, items] = readAs(n, 2, "HSCAN", "big", cursor, "COUNT", "25", "NOVALUES") as [
        string,
        string[],
      ];
      seen.push(...items);
      cursor = next;
      // Meanwhile fields come and go: those present for the whole scan must all come back.
      run("HDEL", "big", `f${calls * 7 + 3}`);
      run("HSET", "big", `new${calls}`, "x");
      calls++;
    } while (cursor !== "0" && calls < 100);
    expect(cursor).toBe("0");
    for (let i = 0; i < 300; i++) {
      if (i % 7 === 3 && (i - 3) / 7 < calls) continue;
      expect(seen).toContain(`f${i}`);
    }
    expect(new Set(seen).size).toBe(seen.length);
  });

  test("exclusive classification", () => {
    expect(hashExclusive.hgetdel(["hgetdel", "k", "FIELDS", "1", "f"])).not.toBeNull();
    expect(hashExclusive.hgetex(["hgetex", "k", "FIELDS", "1", "f"])).toBeNull();
    expect(hashExclusive.hgetex(["hgetex", "k", "PERSIST", "FIELDS", "1", "f"])).not.toBeNull();
    expect(hashExclusive.hsetex(["hsetex", "k", "EX", "1", "FIELDS", "1", "fnx", "v"])).toBeNull();
    expect(hashExclusive.hsetex(["hsetex", "k", "EX", "1", "fxx", "FIELDS", "1", "f", "v"])).not.toBeNull();
    expect(hashExclusive.hexpire(["hexpire", "k", "1", "FIELDS", "1", "nx"])).toBeNull();
    expect(hashExclusive.hpexpireat(["hpexpireat", "k", "1", "gt", "FIELDS", "1", "f"])).not.toBeNull();
    expect(hashExclusive.hpersist).toBeUndefined();
  });

  test("engines receiving field-expiry effects in different orders converge", () => {
    let reorders = 0;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            node: fc.nat(1),
            cmd: fc.constantFrom("HSET", "HSETEX", "HPEXPIRE", "HPERSIST", "HINCRBY", "HDEL", "HGETEX"),
            f: fc.constantFrom("a", "b", "c"),
            ttl: fc.integer({ min: 0, max: 6 }),
            tick: fc.nat(3),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        fc.integer(),
        fc.integer(),
        (cmds, seedA, seedB) => {
          const writers = [node(51, ["x"]), node(52, ["x"])];
          let v = 0;
          for (const c of cmds) {
            const w = writers[c.node];
            w.clock.ms += c.tick;
            const ttl = String(c.ttl);
            if (c.cmd === "HSET") w.run("HSET", "k", c.f, `v${v++}`);
            else if (c.cmd === "HSETEX") w.run("HSETEX", "k", "PX", ttl, "FIELDS", "1", c.f, `x${v++}`);
            else if (c.cmd === "HPEXPIRE") w.run("HPEXPIRE", "k", ttl, "FIELDS", "2", c.f, "a");
            else if (c.cmd === "HPERSIST") w.run("HPERSIST", "k", "FIELDS", "1", c.f);
            else if (c.cmd === "HINCRBY") w.run("HINCRBY", "k", c.f, "2");
            else if (c.cmd === "HDEL") w.run("HDEL", "k", c.f);
            else w.run("HGETEX", "k", "PX", ttl, "FIELDS", "1", c.f);
          }
          const all = [...writers[0].effects, ...writers[1].effects];
          const r1 = node(61, ["x"]);
          const r2 = node(62, ["x"]);
          for (const e of shuffle(all, seedA)) expect(r1.engine.receive(e)).toBe(true);
          for (const e of shuffle(all, seedB)) expect(r2.engine.receive(e)).toBe(true);
          expect(r1.engine.stateHash()).toBe(r2.engine.stateHash());
          expect(r1.engine.usedBytes()).toBe(r2.engine.usedBytes());
          reorders += r1.engine.stats.reorders + r2.engine.stats.reorders;
          for (const e of writers[1].effects) writers[0].engine.receive(e);
          expect(writers[0].engine.stateHash()).toBe(r1.engine.stateHash());
        },
      ),
      { numRuns: 150 },
    );
    expect(reorders).toBeGreaterThan(0);
  });
});
