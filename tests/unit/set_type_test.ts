import { describe, expect, test } from "bun:test";
import { defaultEncodingLimits } from "../../redis/encodings.ts";
import fc from "fast-check";
import { type Op, Writer } from "../../core/effect.ts";
import type { ApplyCtx } from "../../core/reducer.ts";
import type { Engine } from "../../core/engine.ts";
import { CommandError, type Ctx } from "../../redis/command.ts";
import type { EncodingLimits } from "../../redis/encodings.ts";
import { type Reply, SetReply } from "../../redis/reply.ts";
import {
  SET_MEMBER_OVERHEAD,
  setCommands,
  SetState,
  setType,
  SRANDMEMBER_MAX_REPEATS,
} from "../../redis/types/set.ts";
import { commandNode, shuffle } from "./fake_env.ts";

const LIMITS = defaultEncodingLimits();

// ---------------------------------------------------------------- reducer

const W = Writer.of("n1", 1);

function actx(seq: number, opIndex = 0): ApplyCtx {
  return { hlc: seq * 2048, w: W, seq, opIndex };
}

/** Canonical text, members in position order, bytes and peaks: an exact picture of a state. */
function snap(s: SetState | undefined): string {
  if (s === undefined) return "<absent>";
  return JSON.stringify([setType.canonical(s), s.members(), s.bytes, s.size, s.peaks]);
}

function bytesOf(members: Iterable<string>): number {
  let n = 0;
  for (const m of members) n += m.length + SET_MEMBER_OVERHEAD;
  return n;
}

/** Builds a set by one sadd. */
function mk(...members: string[]): SetState {
  return setType.apply(undefined, ["sadd", ...members], actx(1)).state!;
}

describe("set reducer", () => {
  test("sadd creates, ignores duplicates and counts bytes", () => {
    const a = setType.apply(undefined, ["sadd", "a", "bb", "a"], actx(1));
    const s = a.state!;
    expect(s.members()).toEqual(["a", "bb"]);
    expect(a.delta).toBe(bytesOf(["a", "bb"]));
    expect(setType.size(s)).toBe(bytesOf(["a", "bb"]));
    const b = setType.apply(s, ["sadd", "bb", "ccc"], actx(2));
    expect(b.state).toBe(s);
    expect(b.delta).toBe(3 + SET_MEMBER_OVERHEAD);
    expect(s.members()).toEqual(["a", "bb", "ccc"]);
    expect(setType.undo(s, b.undo)).toBe(s);
    expect(s.members()).toEqual(["a", "bb"]);
    // Undoing the creating add deletes the key.
    expect(setType.undo(s, a.undo)).toBeUndefined();
  });

  test("srem removes, deletes the key on the last member, undo restores positions", () => {
    const s = mk("a", "b", "c", "d");
    const r = setType.apply(s, ["srem", "a", "x", "c"], actx(2));
    expect(r.state).toBe(s);
    expect(r.delta).toBe(-bytesOf(["a", "c"]));
    expect(new Set(s.members())).toEqual(new Set(["b", "d"]));
    expect(setType.undo(s, r.undo)).toBe(s);
    expect(s.members()).toEqual(["a", "b", "c", "d"]);
    const all = setType.apply(s, ["srem", "d", "c", "b", "a"], actx(3));
    expect(all.state).toBeUndefined();
    expect(all.delta).toBe(-bytesOf(["a", "b", "c", "d"]));
    const back = setType.undo(undefined, all.undo)!;
    expect(back.members()).toEqual(["a", "b", "c", "d"]);
    expect(back.bytes).toBe(bytesOf(["a", "b", "c", "d"]));
  });

  test("no-op ops: srem on absent or of missing members, non-string members, unknown ops", () => {
    expect(setType.apply(undefined, ["srem", "a"], actx(1)).state).toBeUndefined();
    expect(setType.apply(undefined, ["sadd"], actx(1)).state).toBeUndefined();
    expect(setType.apply(undefined, ["sadd", 5, null], actx(1)).state).toBeUndefined();
    const s = mk("a");
    for (const op of [["srem", "x"], ["srem", 1], ["sadd", "a"], ["sadd", 7], ["nope", "a"]] as Op[]) {
      const r = setType.apply(s, op, actx(2));
      expect(r.state).toBe(s);
      expect(r.delta).toBe(0);
      expect(setType.undo(s, r.undo)).toBe(s);
    }
    expect(s.members()).toEqual(["a"]);
  });

  test("events, canonical, encode and decode, encoding", () => {
    expect(setType.event(["sadd", "a"])).toBe("sadd");
    expect(setType.event(["srem", "a"])).toBe("srem");
    const a = mk("b", "a", "c\u0000", "\u00ff");
    const b = mk("\u00ff", "c\u0000", "a", "b");
    expect(setType.canonical(a)).toBe(setType.canonical(b));
    expect(setType.canonical(mk("ab"))).not.toBe(setType.canonical(mk("a", "b")));
    const enc = structuredClone(setType.encode(a));
    expect(enc).toEqual(["b", "a", "c\u0000", "\u00ff"]);
    const d = setType.decode(enc);
    expect(snap(d)).toBe(snap(a));
    expect(setType.encoding(mk("1", "-5", "9223372036854775807"), LIMITS)).toBe("intset");
    expect(setType.encoding(mk("1", "01"), LIMITS)).toBe("listpack");
    expect(setType.encoding(mk("a", "x".repeat(64)), LIMITS)).toBe("listpack");
    expect(setType.encoding(mk("a", "x".repeat(65)), LIMITS)).toBe("hashtable");
    const many = Array.from({ length: 129 }, (_, i) => `m${i}`);
    expect(setType.encoding(mk(...many), LIMITS)).toBe("hashtable");
    const ints = Array.from({ length: 512 }, (_, i) => String(i));
    expect(setType.encoding(mk(...ints), LIMITS)).toBe("intset");
    expect(setType.encoding(mk(...ints, "512"), LIMITS)).toBe("hashtable");
  });

  test("encoding follows the history: it grows with adds, never shrinks, undo takes it back", () => {
    const r1 = setType.apply(undefined, ["sadd", "1", "2", "3"], actx(1));
    const s = r1.state!;
    expect(setType.encoding(s, LIMITS)).toBe("intset");
    const r2 = setType.apply(s, ["sadd", "a"], actx(2));
    expect(setType.encoding(s, LIMITS)).toBe("listpack");
    const r3 = setType.apply(s, ["srem", "a"], actx(3));
    expect(setType.encoding(s, LIMITS)).toBe("listpack");
    const long = "x".repeat(65);
    const r4 = setType.apply(s, ["sadd", long], actx(4));
    expect(setType.encoding(s, LIMITS)).toBe("hashtable");
    const r5 = setType.apply(s, ["srem", long], actx(5));
    expect(setType.encoding(s, LIMITS)).toBe("hashtable");
    expect(s.peaks).toEqual({ size: 4, len: 65, nonInt: true });
    // Limits are read when asked (CONFIG SET changes the answer, not the history).
    expect(setType.encoding(s, { ...LIMITS, "set-max-listpack-value": 100 })).toBe("listpack");
    setType.undo(s, r5.undo);
    setType.undo(s, r4.undo);
    expect(setType.encoding(s, LIMITS)).toBe("listpack");
    setType.undo(s, r3.undo);
    setType.undo(s, r2.undo);
    expect(setType.encoding(s, LIMITS)).toBe("intset");
    expect(s.peaks).toEqual({ size: 3, len: 1, nonInt: false });
    // An intset past set-max-intset-entries becomes a hash table, as in Redis.
    const ints = mk(...Array.from({ length: 513 }, (_, i) => String(i)));
    setType.apply(ints, ["srem", "0", "1"], actx(2));
    expect(setType.encoding(ints, LIMITS)).toBe("hashtable");
    // A decoded copy starts over from its contents (as Redis's RDB load).
    expect(setType.encoding(setType.decode(setType.encode(s)), LIMITS)).toBe("intset");
  });

  const stepArb = fc.record({
    add: fc.boolean(),
    members: fc.array(fc.constantFrom("a", "b", "c", "d", "e", "f", "", "xyz", "\u0000", "\u00ff\u0001"), {
      maxLength: 8,
    }),
  });

  test("property: apply then undo in reverse restores every state exactly; deltas match sizes", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 60 }), (steps) => {
        let s: SetState | undefined;
        let bytes = 0;
        const model = new Set<string>();
        const trail: { before: string; undo: unknown; after: SetState | undefined }[] = [];
        steps.forEach((step, i) => {
          const before = snap(s);
          const op: Op = [step.add ? "sadd" : "srem", ...step.members];
          const r = setType.apply(s, op, actx(i + 1, i % 3));
          bytes += r.delta;
          s = r.state;
          for (const m of step.members) step.add ? model.add(m) : model.delete(m);
          expect(bytes).toBe(s === undefined ? 0 : setType.size(s));
          expect(bytes).toBe(bytesOf(model));
          if (s !== undefined) {
            expect(s.size).toBeGreaterThan(0);
            expect(new Set(s.members())).toEqual(model);
            for (const m of model) expect(s.has(m)).toBe(true);
            // A copy starts its encoding history from its contents (see the module comment).
            const copy = setType.decode(structuredClone(setType.encode(s)));
            expect(copy.members()).toEqual(s.members());
            expect(copy.bytes).toBe(s.bytes);
            expect(copy.peaks.size).toBe(s.size);
          } else {
            expect(model.size).toBe(0);
          }
          trail.push({ before, undo: r.undo, after: s });
        });
        for (let i = trail.length - 1; i >= 0; i--) {
          expect(snap(s)).toBe(snap(trail[i].after));
          s = setType.undo(s, trail[i].undo);
          expect(snap(s)).toBe(trail[i].before);
        }
        expect(s).toBeUndefined();
      }),
      { numRuns: 400 },
    );
  });

  test("property: canonical does not depend on insertion order", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ maxLength: 4 }), { minLength: 1, maxLength: 20 }),
        fc.integer(),
        (ms, seed) => {
          expect(setType.canonical(mk(...ms))).toBe(setType.canonical(mk(...shuffle(ms, seed))));
        },
      ),
      { numRuns: 200 },
    );
  });

  test("100k adds and removals stay fast", () => {
    const t0 = performance.now();
    let s: SetState | undefined;
    for (let i = 0; i < 100_000; i++) s = setType.apply(s, ["sadd", `m${i}`], actx(i + 1)).state;
    expect(s!.size).toBe(100_000);
    for (let i = 0; i < 100_000; i++) {
      s = setType.apply(s, ["srem", `m${(i * 7919) % 100_000}`], actx(i + 1)).state;
    }
    expect(s).toBeUndefined();
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

// ---------------------------------------------------------------- handlers on a real engine

function node(seed: number, peers: string[] = []) {
  return commandNode(seed, setType, setCommands, peers);
}

/** The sorted items of a set reply; fails on anything else. */
function items(r: Reply | string): string[] {
  if (!(r instanceof SetReply)) throw new Error(`not a set reply: ${JSON.stringify(r)}`);
  return (r.items as string[]).slice().sort();
}

function sorted(r: Reply | string): string[] {
  if (!Array.isArray(r)) throw new Error(`not an array: ${JSON.stringify(r)}`);
  return (r as string[]).slice().sort();
}

const WRONG = "ERR:WRONGTYPE Operation against a key holding the wrong kind of value";

/** Runs a set command on `engine` with a face that has encoding limits (SSCAN reads them). */
function runScan(engine: Engine, limits: EncodingLimits, ...args: string[]): Reply | string {
  const batch = engine.begin();
  const ctx: Ctx = {
    face: { touched() {}, config: { encodings: limits } } as any,
    engine,
    client: {} as any,
    batch,
    db: 0,
  };
  try {
    return setCommands[args[0].toLowerCase()](ctx, args) as Reply;
  } catch (e) {
    if (e instanceof CommandError) return `ERR:${e.reply.s}`;
    throw e;
  } finally {
    batch.release();
  }
}

/** Every member SSCAN returns from cursor 0 until it answers 0, and the number of calls. */
function scanAll(
  engine: Engine,
  key: string,
  count: string,
  between?: (call: number) => void,
): [string[], number] {
  let cursor = "0";
  const out: string[] = [];
  let calls = 0;
  do {
    const r = runScan(engine, LIMITS, "SSCAN", key, cursor, "COUNT", count) as [string, string[]];
    cursor = r[0];
    out.push(...r[1]);
    calls++;
    between?.(calls);
  } while (cursor !== "0" && calls < 10_000);
  return [out, calls];
}

describe("set commands", () => {
  test("SADD, SREM, SCARD, SISMEMBER, SMISMEMBER, SMEMBERS", () => {
    const { run, engine, lastOps } = node(1);
    expect(run("SADD", "s", "a", "b", "a")).toBe(2);
    expect(lastOps()).toEqual([["sadd", "a", "b"]]);
    expect(run("SADD", "s", "b", "c")).toBe(1);
    expect(lastOps()).toEqual([["sadd", "c"]]);
    expect(run("SADD", "s", "a", "c")).toBe(0);
    expect(lastOps()).toEqual([]);
    expect(run("SCARD", "s")).toBe(3);
    expect(run("SCARD", "nokey")).toBe(0);
    expect(run("SISMEMBER", "s", "a")).toBe(1);
    expect(run("SISMEMBER", "s", "z")).toBe(0);
    expect(run("SISMEMBER", "nokey", "a")).toBe(0);
    expect(run("SMISMEMBER", "s", "a", "z", "c", "a")).toEqual([1, 0, 1, 1]);
    expect(run("SMISMEMBER", "nokey", "a", "b")).toEqual([0, 0]);
    expect(items(run("SMEMBERS", "s"))).toEqual(["a", "b", "c"]);
    expect(items(run("SMEMBERS", "nokey"))).toEqual([]);
    expect(run("SREM", "s", "a", "z", "a")).toBe(1);
    expect(lastOps()).toEqual([["srem", "a"]]);
    expect(run("SREM", "s", "z")).toBe(0);
    expect(lastOps()).toEqual([]);
    expect(run("SREM", "nokey", "a")).toBe(0);
    expect(run("SREM", "s", "b", "c")).toBe(2);
    expect(engine.dbsize(0)).toBe(0);
    expect(run("SCARD", "s")).toBe(0);
    expect(engine.usedBytes()).toBe(0);
    // Binary members.
    expect(run("SADD", "b", "\u0000\u00ff", "")).toBe(2);
    expect(run("SISMEMBER", "b", "")).toBe(1);
    expect(items(run("SMEMBERS", "b"))).toEqual(["", "\u0000\u00ff"]);
  });

  test("SRANDMEMBER", () => {
    const { run, lastOps } = node(2);
    expect(run("SRANDMEMBER", "nokey")).toBe(null);
    expect(run("SRANDMEMBER", "nokey", "5")).toEqual([]);
    expect(run("SRANDMEMBER", "nokey", "-5")).toEqual([]);
    expect(run("SRANDMEMBER", "nokey", "x")).toBe("ERR:ERR value is not an integer or out of range");
    expect(run("SRANDMEMBER", "nokey", "-9223372036854775808")).toBe(
      "ERR:ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
    );
    expect(run("SRANDMEMBER", "nokey", "1", "2")).toBe("ERR:ERR syntax error");
    const all = Array.from({ length: 50 }, (_, i) => `m${i}`);
    run("SADD", "s", ...all);
    const one = run("SRANDMEMBER", "s") as string;
    expect(all).toContain(one);
    expect(lastOps()).toEqual([]);
    expect(run("SRANDMEMBER", "s", "0")).toEqual([]);
    const single = run("SRANDMEMBER", "s", "1") as string[];
    expect(single.length).toBe(1);
    expect(all).toContain(single[0]);
    // Positive counts: distinct members, at most the whole set, in both sampling strategies.
    for (const n of [2, 10, 17, 40, 49, 50, 51, 1000]) {
      const r = run("SRANDMEMBER", "s", String(n)) as string[];
      expect(Array.isArray(r)).toBe(true);
      expect(r.length).toBe(Math.min(n, 50));
      expect(new Set(r).size).toBe(r.length);
      for (const m of r) expect(all).toContain(m);
    }
    expect(sorted(run("SRANDMEMBER", "s", "9223372036854775807"))).toEqual(all.slice().sort());
    // Negative counts: exactly that many, repeats allowed, drawn from the whole set.
    const rep = run("SRANDMEMBER", "s", "-2000") as string[];
    expect(rep.length).toBe(2000);
    expect(new Set(rep).size).toBe(50);
    run("SADD", "t", "only");
    expect(run("SRANDMEMBER", "t", "-3")).toEqual(["only", "only", "only"]);
    expect(run("SRANDMEMBER", "t", String(-SRANDMEMBER_MAX_REPEATS - 1))).toMatch(
      /^ERR:ERR value is out of range/,
    );
    // Positive counts vary with the random source.
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add(JSON.stringify(run("SRANDMEMBER", "s", "3")));
    expect(seen.size).toBeGreaterThan(1);
  });

  test("SPOP", () => {
    const { run, engine, lastOps } = node(3);
    expect(run("SPOP", "nokey")).toBe(null);
    expect(items(run("SPOP", "nokey", "3"))).toEqual([]);
    expect(run("SPOP", "nokey", "-1")).toBe("ERR:ERR value is out of range, must be positive");
    expect(run("SPOP", "nokey", "x")).toBe("ERR:ERR value is out of range, must be positive");
    expect(run("SPOP", "nokey", "1", "2")).toBe("ERR:ERR syntax error");
    const all = Array.from({ length: 30 }, (_, i) => `m${i}`);
    run("SADD", "s", ...all);
    expect(items(run("SPOP", "s", "0"))).toEqual([]);
    expect(lastOps()).toEqual([]);
    const one = run("SPOP", "s") as string;
    expect(all).toContain(one);
    expect(lastOps()).toEqual([["srem", one]]);
    expect(run("SISMEMBER", "s", one)).toBe(0);
    const popped = items(run("SPOP", "s", "5"));
    expect(popped.length).toBe(5);
    expect(new Set(popped).size).toBe(5);
    expect(sorted(lastOps()[0].slice(1))).toEqual(popped);
    expect(run("SCARD", "s")).toBe(24);
    const big = items(run("SPOP", "s", "20"));
    expect(big.length).toBe(20);
    expect(run("SCARD", "s")).toBe(4);
    const rest = items(run("SPOP", "s", "100"));
    expect(rest.length).toBe(4);
    expect([one, ...popped, ...big, ...rest].sort()).toEqual(all.slice().sort());
    expect(engine.dbsize(0)).toBe(0);
    expect(engine.usedBytes()).toBe(0);
    run("SADD", "s", "x");
    expect(run("SPOP", "s")).toBe("x");
    expect(engine.dbsize(0)).toBe(0);
  });

  test("SMOVE", () => {
    const { run, other, lastOps, engine } = node(4);
    other("str");
    run("SADD", "a", "x", "y");
    run("SADD", "b", "y");
    expect(run("SMOVE", "nokey", "str", "x")).toBe(0);
    expect(run("SMOVE", "str", "b", "x")).toBe(WRONG);
    expect(run("SMOVE", "a", "str", "x")).toBe(WRONG);
    expect(run("SMOVE", "a", "a", "x")).toBe(1);
    expect(run("SMOVE", "a", "a", "z")).toBe(0);
    expect(lastOps()).toEqual([]);
    expect(run("SMOVE", "a", "b", "z")).toBe(0);
    expect(lastOps()).toEqual([]);
    expect(run("SMOVE", "a", "b", "x")).toBe(1);
    expect(lastOps()).toEqual([["srem", "x"], ["sadd", "x"]]);
    expect(items(run("SMEMBERS", "a"))).toEqual(["y"]);
    expect(items(run("SMEMBERS", "b"))).toEqual(["x", "y"]);
    // Already in the destination: only the source changes; the emptied source is deleted.
    expect(run("SMOVE", "a", "b", "y")).toBe(1);
    expect(lastOps()).toEqual([["srem", "y"]]);
    expect(engine.lookup(0, "a", Infinity)).toBeUndefined();
    expect(run("SMOVE", "b", "c", "x")).toBe(1);
    expect(items(run("SMEMBERS", "c"))).toEqual(["x"]);
  });

  test("SINTER, SUNION, SDIFF", () => {
    const { run, other } = node(5);
    run("SADD", "a", "1", "2", "3", "4");
    run("SADD", "b", "2", "3", "5");
    run("SADD", "c", "3", "2", "9");
    other("str");
    expect(items(run("SINTER", "a", "b", "c"))).toEqual(["2", "3"]);
    expect(items(run("SINTER", "a"))).toEqual(["1", "2", "3", "4"]);
    expect(items(run("SINTER", "a", "a"))).toEqual(["1", "2", "3", "4"]);
    expect(items(run("SINTER", "a", "nokey"))).toEqual([]);
    expect(run("SINTER", "nokey", "str")).toBe(WRONG);
    expect(run("SINTER", "a", "str")).toBe(WRONG);
    expect(items(run("SUNION", "a", "b", "nokey", "c"))).toEqual(["1", "2", "3", "4", "5", "9"]);
    expect(items(run("SUNION", "nokey"))).toEqual([]);
    expect(run("SUNION", "nokey", "str")).toBe(WRONG);
    expect(items(run("SDIFF", "a", "b"))).toEqual(["1", "4"]);
    expect(items(run("SDIFF", "a", "b", "c", "nokey"))).toEqual(["1", "4"]);
    expect(items(run("SDIFF", "a", "nokey"))).toEqual(["1", "2", "3", "4"]);
    expect(items(run("SDIFF", "a", "a"))).toEqual([]);
    expect(items(run("SDIFF", "nokey", "a"))).toEqual([]);
    expect(run("SDIFF", "nokey", "str")).toBe(WRONG);
  });

  test("SINTERCARD", () => {
    const { run, other } = node(6);
    run("SADD", "a", "1", "2", "3", "4");
    run("SADD", "b", "2", "3", "4", "5");
    other("str");
    expect(run("SINTERCARD", "2", "a", "b")).toBe(3);
    expect(run("SINTERCARD", "1", "a")).toBe(4);
    expect(run("SINTERCARD", "2", "a", "nokey")).toBe(0);
    expect(run("SINTERCARD", "2", "a", "b", "LIMIT", "2")).toBe(2);
    expect(run("SINTERCARD", "2", "a", "b", "limit", "0")).toBe(3);
    expect(run("SINTERCARD", "2", "a", "b", "LIMIT", "10")).toBe(3);
    expect(run("SINTERCARD", "2", "a", "b", "LIMIT", "1", "LIMIT", "5")).toBe(3);
    expect(run("SINTERCARD", "0", "a")).toBe("ERR:ERR numkeys should be greater than 0");
    expect(run("SINTERCARD", "-1", "a")).toBe("ERR:ERR numkeys should be greater than 0");
    expect(run("SINTERCARD", "x", "a")).toBe("ERR:ERR numkeys should be greater than 0");
    expect(run("SINTERCARD", "3", "a", "b")).toBe(
      "ERR:ERR Number of keys can't be greater than number of args",
    );
    expect(run("SINTERCARD", "99999999999999999999", "a")).toBe("ERR:ERR numkeys should be greater than 0");
    expect(run("SINTERCARD", "1", "a", "LIMIT", "-1")).toBe("ERR:ERR LIMIT can't be negative");
    expect(run("SINTERCARD", "1", "a", "LIMIT", "x")).toBe("ERR:ERR LIMIT can't be negative");
    expect(run("SINTERCARD", "1", "a", "LIMIT")).toBe("ERR:ERR syntax error");
    expect(run("SINTERCARD", "1", "a", "b")).toBe("ERR:ERR syntax error");
    expect(run("SINTERCARD", "2", "nokey", "str")).toBe(WRONG);
  });

  test("SINTERSTORE, SUNIONSTORE, SDIFFSTORE", () => {
    const { run, other, value, lastOps, engine } = node(7);
    run("SADD", "a", "1", "2", "3");
    run("SADD", "b", "2", "3", "4");
    expect(run("SINTERSTORE", "d", "a", "b")).toBe(2);
    expect(lastOps()).toEqual([["del"], ["sadd", "2", "3"]]);
    expect(items(run("SMEMBERS", "d"))).toEqual(["2", "3"]);
    expect(run("SUNIONSTORE", "d", "a", "b")).toBe(4);
    expect(items(run("SMEMBERS", "d"))).toEqual(["1", "2", "3", "4"]);
    expect(run("SDIFFSTORE", "d", "a", "b")).toBe(1);
    expect(items(run("SMEMBERS", "d"))).toEqual(["1"]);
    // The destination may be a source.
    expect(run("SUNIONSTORE", "a", "a", "b")).toBe(4);
    expect(items(run("SMEMBERS", "a"))).toEqual(["1", "2", "3", "4"]);
    // An empty result deletes the destination; with no destination it writes nothing.
    expect(run("SINTERSTORE", "d", "a", "nokey")).toBe(0);
    expect(lastOps()).toEqual([["del"]]);
    expect(value("d")).toBeUndefined();
    expect(run("SDIFFSTORE", "d", "a", "a")).toBe(0);
    expect(lastOps()).toEqual([]);
    // The destination's type does not matter, and its TTL goes.
    other("str");
    expect(run("SUNIONSTORE", "str", "b")).toBe(3);
    expect(items(run("SMEMBERS", "str"))).toEqual(["2", "3", "4"]);
    const batch = engine.begin();
    batch.write(0, "str", ["pexpire", 100_000]);
    batch.commit(() => {});
    expect(value("str")!.deadline).toBeGreaterThan(0);
    expect(run("SINTERSTORE", "str", "a", "b")).toBe(3);
    expect(value("str")!.deadline).toBe(0);
    other("o");
    expect(run("SINTERSTORE", "o", "a", "nokey")).toBe(0);
    expect(value("o")).toBeUndefined();
    // Sources of another type fail before anything is written.
    other("o");
    expect(run("SUNIONSTORE", "d", "a", "o")).toBe(WRONG);
    expect(run("SINTERSTORE", "d", "nokey", "o")).toBe(WRONG);
    expect(run("SDIFFSTORE", "d", "o")).toBe(WRONG);
    expect(value("d")).toBeUndefined();
  });

  test("SSCAN: small sets whole, large ones downwards, options and errors", () => {
    const { run, engine, other } = node(7);
    const scan = (...a: string[]) => runScan(engine, LIMITS, "SSCAN", ...a);
    expect(scan("nokey", "0")).toEqual(["0", []]);
    // The key is looked up before the options are parsed, as in Redis.
    expect(scan("nokey", "0", "COUNT", "0")).toEqual(["0", []]);
    expect(scan("nokey", "x")).toBe("ERR:ERR invalid cursor");
    expect(scan("nokey", "-1")).toBe("ERR:ERR invalid cursor");
    expect(scan("nokey", "18446744073709551616")).toBe("ERR:ERR invalid cursor");
    run("SADD", "s", "a", "b", "foo", "fab", "1");
    expect(scan("s", "0")).toEqual(["0", ["a", "b", "foo", "fab", "1"]]);
    expect(scan("s", "+0", "MATCH", "f*", "COUNT", "1")).toEqual(["0", ["foo", "fab"]]);
    expect(scan("s", "0", "MATCH", "*1*")).toEqual(["0", ["1"]]);
    expect(scan("s", "0", "match", "*")).toEqual(["0", ["a", "b", "foo", "fab", "1"]]);
    expect(scan("s", "0", "COUNT", "0")).toBe("ERR:ERR syntax error");
    expect(scan("s", "0", "COUNT", "x")).toBe("ERR:ERR value is not an integer or out of range");
    expect(scan("s", "0", "MATCH")).toBe("ERR:ERR syntax error");
    expect(scan("s", "0", "TYPE", "set")).toBe("ERR:ERR syntax error");
    expect(scan("s", "0", "NOVALUES")).toBe("ERR:ERR NOVALUES option can only be used in HSCAN");
    other("str");
    expect(scan("str", "0")).toBe(WRONG);
    // A hash-table set: COUNT positions per call, from the top down.
    const big = Array.from({ length: 200 }, (_, i) => `m${i}`);
    run("SADD", "big", ...big);
    const [all, calls] = scanAll(engine, "big", "10");
    expect(calls).toBe(20);
    expect(all.slice().sort()).toEqual(big.slice().sort());
    expect(scan("big", "0", "COUNT", "3")).toEqual(["197", ["m199", "m198", "m197"]]);
    expect(scan("big", "5000", "COUNT", "3")).toEqual(["197", ["m199", "m198", "m197"]]);
  });

  test("SSCAN returns every member present for the whole scan, whatever is removed or added", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 130, max: 400 }),
        fc.nat(10),
        fc.integer({ min: 1, max: 20 }),
        (n, at, count) => {
          const { run, engine } = node(8);
          const members = Array.from({ length: n }, (_, i) => `e${i}`);
          run("SADD", "s", ...members);
          // Members e0..e99 stay; the others go (or more come) while the scan runs.
          const [seen] = scanAll(engine, "s", String(count), (call) => {
            if (call === at) run("SREM", "s", ...members.slice(100));
            if (call === at + 1) run("SADD", "s", "new1", "new2");
          });
          const got = new Set(seen);
          for (let i = 0; i < 100; i++) expect(got.has(`e${i}`)).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  test("WRONGTYPE", () => {
    const { run, other } = node(8);
    other("s");
    for (
      const args of [
        ["SADD", "s", "a"],
        ["SREM", "s", "a"],
        ["SMEMBERS", "s"],
        ["SISMEMBER", "s", "a"],
        ["SMISMEMBER", "s", "a"],
        ["SCARD", "s"],
        ["SRANDMEMBER", "s"],
        ["SRANDMEMBER", "s", "-3"],
        ["SPOP", "s"],
        ["SPOP", "s", "2"],
        ["SINTER", "s"],
        ["SUNION", "s"],
        ["SDIFF", "s"],
        ["SINTERCARD", "1", "s"],
      ]
    ) {
      expect(run(...args)).toBe(WRONG);
    }
    // Argument errors come first, as in Redis.
    expect(run("SPOP", "s", "x")).toBe("ERR:ERR value is out of range, must be positive");
    expect(run("SRANDMEMBER", "s", "x")).toBe("ERR:ERR value is not an integer or out of range");
    expect(run("SINTERCARD", "0", "s")).toBe("ERR:ERR numkeys should be greater than 0");
  });

  test("keyspace hits and misses: read lookups count, write lookups do not", () => {
    const { run, engine } = node(9);
    run("SADD", "s", "a");
    const stats = engine.stats;
    const h = stats.keyspaceHits, m = stats.keyspaceMisses;
    run("SISMEMBER", "s", "a");
    run("SCARD", "nokey");
    expect([stats.keyspaceHits - h, stats.keyspaceMisses - m]).toEqual([1, 1]);
    run("SADD", "s", "b");
    run("SREM", "nokey", "b");
    expect([stats.keyspaceHits - h, stats.keyspaceMisses - m]).toEqual([1, 1]);
  });

  test("accounted bytes follow adds and removals", () => {
    const { run, engine } = node(10);
    run("SADD", "k", "aaa", "bb");
    const withSet = engine.usedBytes();
    run("SREM", "k", "aaa");
    expect(withSet - engine.usedBytes()).toBe(3 + SET_MEMBER_OVERHEAD);
  });

  test("engines receiving the same effects in different orders converge", () => {
    let reorders = 0;
    let nonEmpty = 0;
    const keys = ["k", "j"];
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            node: fc.nat(1),
            cmd: fc.constantFrom("SADD", "SREM", "SPOP", "SMOVE", "SUNIONSTORE", "SINTERSTORE", "SDIFFSTORE"),
            key: fc.nat(1),
            members: fc.array(fc.constantFrom("a", "b", "c", "d", "e"), { minLength: 1, maxLength: 3 }),
            tick: fc.nat(3),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        fc.integer(),
        fc.integer(),
        (cmds, seedA, seedB) => {
          // Two writers working concurrently on two keys; neither sees the other's effects.
          const writers = [node(11, ["x"]), node(12, ["x"])];
          for (const c of cmds) {
            const w = writers[c.node];
            w.clock.ms += c.tick;
            const k = keys[c.key], o = keys[1 - c.key];
            switch (c.cmd) {
              case "SADD":
              case "SREM":
                w.run(c.cmd, k, ...c.members);
                break;
              case "SPOP":
                w.run(c.cmd, k, String(c.members.length - 1));
                break;
              case "SMOVE":
                w.run(c.cmd, k, o, c.members[0]);
                break;
              default:
                w.run(c.cmd, k, k, o);
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
          for (const k of keys) {
            const s1 = r1.value(k)?.value as SetState | undefined;
            const s2 = r2.value(k)?.value as SetState | undefined;
            expect(s1?.members().sort()).toEqual(s2?.members().sort());
            // The encoding history is a function of the fold order, so nodes report alike.
            expect(s1?.peaks).toEqual(s2?.peaks);
            if (s1 !== undefined) nonEmpty++;
          }
          reorders += r1.engine.stats.reorders + r2.engine.stats.reorders;
          expect(r1.engine.usedBytes()).toBe(r2.engine.usedBytes());
          // A writer that receives the other's effects converges too.
          for (const e of writers[1].effects) writers[0].engine.receive(e);
          expect(writers[0].engine.stateHash()).toBe(r1.engine.stateHash());
        },
      ),
      { numRuns: 150 },
    );
    // The runs did exercise out-of-order folds and left sets behind.
    expect(reorders).toBeGreaterThan(0);
    expect(nonEmpty).toBeGreaterThan(0);
  });
});
