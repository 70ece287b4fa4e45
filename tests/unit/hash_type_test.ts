import { describe, expect, test } from "bun:test";
import { defaultEncodingLimits } from "../../redis/encodings.ts";
import fc from "fast-check";
import { type Op, Writer } from "../../core/effect.ts";
import type { ApplyCtx } from "../../core/reducer.ts";
import { MapReply, SimpleReply } from "../../redis/reply.ts";
import { HASH_FIELD_OVERHEAD, hashCommands, HashState, hashType } from "../../redis/types/hash.ts";
import { commandNode } from "./fake_env.ts";

const LIMITS = defaultEncodingLimits();

// ---------------------------------------------------------------- reducer

const W = Writer.of("n1", 1);

function actx(seq: number, opIndex = 0): ApplyCtx {
  return { hlc: seq * 2048, w: W, seq, opIndex };
}

/** Everything observable of a state, order included, for exact comparisons. */
function snap(s: HashState | undefined): string {
  if (s === undefined) return "<absent>";
  return JSON.stringify([hashType.canonical(s), s.flat(), s.size, s.bytes]);
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
        let s: HashState | undefined;
        let bytes = 0;
        const trail: { before: string; undo: unknown; after: string }[] = [];
        ops.forEach((op, i) => {
          const before = snap(s);
          const r = hashType.apply(s, op, actx(i + 1, i % 3));
          bytes += r.delta;
          s = r.state;
          expect(bytes).toBe(s === undefined ? 0 : hashType.size(s));
          if (s !== undefined) {
            expect(s.size).toBeGreaterThan(0);
            expect(s.bytes).toBe(bytesOf(s.flat()));
            const copy = hashType.decode(structuredClone(hashType.encode(s)));
            expect(snap(copy)).toBe(snap(s));
          }
          trail.push({ before, undo: r.undo, after: snap(s) });
        });
        for (let i = trail.length - 1; i >= 0; i--) {
          expect(snap(s)).toBe(trail[i].after);
          s = hashType.undo(s, trail[i].undo);
          expect(snap(s)).toBe(trail[i].before);
        }
        expect(s).toBeUndefined();
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
