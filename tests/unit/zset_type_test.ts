import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type Op, Writer } from "../../core/effect.ts";
import type { ApplyCtx } from "../../core/reducer.ts";
import { Block } from "../../redis/command.ts";
import { defaultEncodingLimits } from "../../redis/encodings.ts";
import { DoubleReply, NullArrayReply, type Reply } from "../../redis/reply.ts";
import {
  coveringRanges,
  geoCommands,
  geoDecode,
  geoDistance,
  geohashString,
  geoScore,
  humanDouble,
  inShape,
  type Shape,
} from "../../redis/types/geo.ts";
import { ZSET_MEMBER_OVERHEAD, zsetCommands, ZSetState, zsetType } from "../../redis/types/zset.ts";
import { commandNode, shuffle } from "./fake_env.ts";

const LIMITS = defaultEncodingLimits();
const W = Writer.of("n1", 1);

function actx(seq: number, opIndex = 0): ApplyCtx {
  return { hlc: seq * 2048, w: W, seq, opIndex };
}

/** Members and scores in order. */
function items(z: ZSetState | undefined): [string, number][] {
  const out: [string, number][] = [];
  for (let n = z?.first() ?? null; n !== null; n = n.next[0]) out.push([n.member, n.score]);
  return out;
}

/** An exact picture of a state, checking the skip list's ranks, back links and order on the way. */
function snap(z: ZSetState | undefined): string {
  if (z === undefined) return "<absent>";
  const all = items(z);
  let prev: [string, number] | null = null;
  all.forEach(([m, s], i) => {
    if (prev !== null) expect(prev[1] < s || (prev[1] === s && prev[0] < m)).toBe(true);
    expect(z.rank(m)).toBe(i);
    expect(z.at(i)!.member).toBe(m);
    expect(z.score(m)).toBe(s);
    prev = [m, s];
  });
  // Walking back from the tail gives the same members reversed.
  const back: string[] = [];
  for (let n = z.last(); n !== null; n = n.prev) back.push(n.member);
  expect(back.reverse()).toEqual(all.map(([m]) => m));
  expect(z.size).toBe(all.length);
  return JSON.stringify([zsetType.canonical(z), z.bytes, z.peakSize, z.peakLen]);
}

function mk(...pairs: (string | number)[]): ZSetState {
  return zsetType.apply(undefined, ["zadd", ...pairs], actx(1)).state!;
}

function bytesOf(...members: string[]): number {
  return members.reduce((n, m) => n + m.length + ZSET_MEMBER_OVERHEAD, 0);
}

describe("zset reducer", () => {
  test("zadd creates, orders by (score, member), re-scores, counts bytes; undo restores", () => {
    const a = zsetType.apply(undefined, ["zadd", "b", 1, "a", 1, "c", 0], actx(1));
    const z = a.state!;
    expect(items(z)).toEqual([["c", 0], ["a", 1], ["b", 1]]);
    expect(a.delta).toBe(bytesOf("a", "b", "c"));
    const b = zsetType.apply(z, ["zadd", "c", 5, "d", -Infinity], actx(2));
    expect(items(z)).toEqual([["d", -Infinity], ["a", 1], ["b", 1], ["c", 5]]);
    expect(b.delta).toBe(bytesOf("d"));
    expect(zsetType.undo(z, b.undo)).toBe(z);
    expect(items(z)).toEqual([["c", 0], ["a", 1], ["b", 1]]);
    expect(zsetType.undo(z, a.undo)).toBeUndefined();
  });

  test("zincr adds up, starts at 0, ignores a NaN result; zrem deletes the key at the end", () => {
    const z = mk("a", 1);
    zsetType.apply(z, ["zincr", "a", 2.5], actx(2));
    zsetType.apply(z, ["zincr", "b", -1], actx(3));
    expect(items(z)).toEqual([["b", -1], ["a", 3.5]]);
    zsetType.apply(z, ["zincr", "a", Infinity], actx(4));
    const nan = zsetType.apply(z, ["zincr", "a", -Infinity], actx(5));
    expect(nan.undo).toBeNull();
    expect(z.score("a")).toBe(Infinity);
    const r = zsetType.apply(z, ["zrem", "a", "x", "b"], actx(6));
    expect(r.state).toBeUndefined();
    expect(r.delta).toBe(-bytesOf("a", "b"));
    const back = zsetType.undo(undefined, r.undo)!;
    expect(items(back)).toEqual([["b", -1], ["a", Infinity]]);
  });

  test("no-op and malformed ops; -0 is stored as 0", () => {
    expect(zsetType.apply(undefined, ["zrem", "a"], actx(1)).state).toBeUndefined();
    expect(zsetType.apply(undefined, ["zadd", "a"], actx(1)).state).toBeUndefined();
    expect(zsetType.apply(undefined, ["zadd", 5, 1, "a", NaN, "b", "1"], actx(1)).state).toBeUndefined();
    expect(zsetType.apply(undefined, ["zincr", "a", "x"], actx(1)).state).toBeUndefined();
    const z = mk("a", -0);
    expect(Object.is(z.score("a"), 0)).toBe(true);
    expect(zsetType.apply(z, ["zadd", "a", 0], actx(2)).undo).toBeNull();
    expect(zsetType.apply(z, ["nope"], actx(2)).state).toBe(z);
  });

  test("ranges, counts and ranks on a large set", () => {
    const pairs: (string | number)[] = [];
    for (let i = 0; i < 2000; i++) pairs.push(`m${i}`, i % 100);
    const z = mk(...pairs);
    snap(z);
    const range = {
      above: (n: { score: number }) => n.score >= 10,
      below: (n: { score: number }) => n.score < 20,
    };
    expect(z.count(range)).toBe(200);
    expect(z.firstIn(range)![1]).toBe(200);
    expect(z.lastIn(range)![1]).toBe(399);
    expect(z.count({ above: (n) => n.score > 99, below: () => true })).toBe(0);
  });

  test("zstore replaces the contents and clears the TTL; undo puts the old state back", () => {
    const z = mk("a", 1, "b", 2);
    const r = zsetType.apply(z, ["zstore", "zunionstore", "c", 3], actx(2));
    expect(items(r.state)).toEqual([["c", 3]]);
    expect(r.deadline).toBe(0);
    expect(r.delta).toBe(bytesOf("c") - bytesOf("a", "b"));
    expect(zsetType.undo(r.state, r.undo)).toBe(z);
    expect(items(z)).toEqual([["a", 1], ["b", 2]]);
    expect(zsetType.apply(z, ["zstore", "zrangestore"], actx(3)).state).toBeUndefined();
  });

  test("events, encode/decode, canonical, OBJECT ENCODING by peaks", () => {
    expect(zsetType.event(["zadd"] as Op)).toBe("zadd");
    expect(zsetType.event(["zincr"] as Op)).toBe("zincr");
    expect(zsetType.event(["zpopmin"] as Op)).toBe("zpopmin");
    expect(zsetType.event(["zstore", "zinterstore"] as Op)).toBe("zinterstore");
    const z = mk("a", 1, "b", Infinity, "c", -2.5);
    const d = zsetType.decode(structuredClone(zsetType.encode(z)));
    expect(zsetType.canonical(d)).toBe(zsetType.canonical(z));
    expect(zsetType.encoding(z, LIMITS)).toBe("listpack");
    zsetType.apply(z, ["zadd", "x".repeat(65), 1], actx(2));
    expect(zsetType.encoding(z, LIMITS)).toBe("skiplist");
    // Removing the long member does not convert back (as Redis); a fresh copy starts over.
    zsetType.apply(z, ["zrem", "x".repeat(65)], actx(3));
    expect(zsetType.encoding(z, LIMITS)).toBe("skiplist");
    expect(zsetType.encoding(zsetType.decode(zsetType.encode(z)), LIMITS)).toBe("listpack");
    expect(zsetType.encoding(z, { ...LIMITS, "zset-max-listpack-value": 100 })).toBe("listpack");
  });

  const opArb = fc.oneof(
    fc.tuple(
      fc.constant("zadd"),
      fc.array(
        fc.tuple(
          fc.constantFrom("a", "b", "c", "d", "e", "", "\u00ff", "long member"),
          fc.constantFrom(0, 1, -1, 2.5, Infinity, -Infinity, 1e300),
        ),
        { maxLength: 5 },
      ),
    ).map(([c, ps]) => [c, ...ps.flat()] as Op),
    fc.tuple(
      fc.constant("zincr"),
      fc.constantFrom("a", "b", "z"),
      fc.constantFrom(1, -3, 0.5, Infinity, -Infinity),
    )
      .map((t) => t as Op),
    fc.tuple(
      fc.constantFrom("zrem", "zpopmin", "zremrangebyscore"),
      fc.array(fc.constantFrom("a", "b", "c", "d", "z"), { maxLength: 4 }),
    ).map(([c, ms]) => [c, ...ms] as Op),
    fc.array(fc.tuple(fc.constantFrom("a", "q", "r"), fc.constantFrom(1, 2, -1)), { maxLength: 3 })
      .map((ps) => ["zstore", "zunionstore", ...ps.flat()] as Op),
  );

  test("property: apply then undo in reverse restores every state exactly; deltas match sizes", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        let z: ZSetState | undefined;
        const states: string[] = [];
        const undos: unknown[] = [];
        ops.forEach((op, i) => {
          states.push(snap(z));
          const before = z?.bytes ?? 0;
          const r = zsetType.apply(z, op, actx(i + 1));
          undos.push(r.undo);
          z = r.undo === null ? z : r.state;
          expect((z?.bytes ?? 0) - before).toBe(r.delta);
          if (z !== undefined) expect(zsetType.size(z)).toBe(z.bytes);
        });
        for (let i = ops.length - 1; i >= 0; i--) {
          if (undos[i] !== null) z = zsetType.undo(z, undos[i]);
          expect(snap(z)).toBe(states[i]);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("property: canonical does not depend on insertion order", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.string({ maxLength: 3 }), fc.integer({ min: -5, max: 5 })), {
          selector: ([m]) => m,
          maxLength: 30,
        }),
        fc.integer(),
        (pairs, seed) => {
          if (pairs.length === 0) return;
          const a = mk(...pairs.flat());
          const b = mk(...shuffle(pairs, seed).flat());
          expect(snap(a)).toBe(snap(b));
        },
      ),
    );
  });
});

// ---------------------------------------------------------------- commands

function node(seed: number, peers: string[] = []) {
  return commandNode(seed, zsetType, { ...zsetCommands, ...geoCommands }, peers);
}

/** Replies with doubles as plain numbers, for comparisons. */
function plain(r: Reply | string): unknown {
  if (r instanceof DoubleReply) return r.n;
  if (Array.isArray(r)) return r.map(plain);
  if (r instanceof NullArrayReply) return "<nil-array>";
  return r;
}

describe("zset commands", () => {
  test("ZADD flags, CH, INCR, errors", () => {
    const { run } = node(1);
    const p = (...a: string[]) => plain(run(...a));
    expect(p("ZADD", "z", "1", "a", "2", "b", "3", "a")).toBe(2);
    expect(p("ZADD", "z", "CH", "1", "a", "2", "b", "5", "c")).toBe(2);
    expect(p("ZADD", "z", "NX", "9", "a", "4", "d")).toBe(1);
    expect(p("ZADD", "z", "XX", "CH", "9", "a", "4", "e")).toBe(1);
    expect(p("ZADD", "z", "GT", "CH", "1", "a", "10", "b")).toBe(1);
    expect(p("ZADD", "z", "LT", "CH", "0", "a", "11", "b")).toBe(1);
    expect(p("ZRANGE", "z", "0", "-1", "WITHSCORES")).toEqual(["a", 0, "d", 4, "c", 5, "b", 10]);
    expect(p("ZADD", "z", "INCR", "2", "a")).toBe(2);
    expect(p("ZADD", "z", "NX", "INCR", "2", "a")).toBe(null);
    expect(p("ZADD", "z", "XX", "INCR", "2", "nope")).toBe(null);
    expect(p("ZADD", "z", "GT", "INCR", "-1", "a")).toBe(null);
    expect(p("ZADD", "z", "NX", "XX", "1", "a")).toBe(
      "ERR:ERR XX and NX options at the same time are not compatible",
    );
    expect(p("ZADD", "z", "GT", "LT", "1", "a")).toBe(
      "ERR:ERR GT, LT, and/or NX options at the same time are not compatible",
    );
    expect(p("ZADD", "z", "INCR", "1", "a", "2", "b")).toBe(
      "ERR:ERR INCR option supports a single increment-element pair",
    );
    expect(p("ZADD", "z", "1", "a", "2")).toBe("ERR:ERR syntax error");
    expect(p("ZADD", "z", "nan", "a")).toBe("ERR:ERR value is not a valid float");
    expect(p("ZADD", "z", "inf", "x")).toBe(1);
    expect(p("ZINCRBY", "z", "-inf", "x")).toBe("ERR:ERR resulting score is not a number (NaN)");
    expect(p("ZINCRBY", "z", "1.5", "new")).toBe(1.5);
  });

  test("ZADD writes only what changed; ZREM only what is present", () => {
    const { run, lastOps } = node(2);
    run("ZADD", "z", "1", "a", "2", "b");
    run("ZADD", "z", "1", "a", "3", "b", "4", "c");
    expect(lastOps()).toEqual([["zadd", "b", 3, "c", 4]]);
    run("ZADD", "z", "1", "a");
    expect(lastOps()).toEqual([]);
    expect(run("ZREM", "z", "a", "x", "a")).toBe(1);
    expect(lastOps()).toEqual([["zrem", "a"]]);
  });

  test("reads: ZSCORE, ZMSCORE, ZRANK WITHSCORE, ZCOUNT, ZLEXCOUNT, ranges", () => {
    const { run } = node(3);
    const p = (...a: string[]) => plain(run(...a));
    run("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e");
    expect(p("ZSCORE", "z", "c")).toBe(3);
    expect(p("ZMSCORE", "z", "a", "x")).toEqual([1, null]);
    expect(p("ZRANK", "z", "c", "WITHSCORE")).toEqual([2, 3]);
    expect(p("ZREVRANK", "z", "c")).toBe(2);
    expect(p("ZRANK", "z", "x", "WITHSCORE")).toBe("<nil-array>");
    expect(p("ZCOUNT", "z", "(1", "3")).toBe(2);
    expect(p("ZCOUNT", "z", "x", "3")).toBe("ERR:ERR min or max is not a float");
    expect(p("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1", "2")).toEqual(["b", "c"]);
    expect(p("ZREVRANGEBYSCORE", "z", "4", "(1", "WITHSCORES", "LIMIT", "1", "2")).toEqual(["c", 3, "b", 2]);
    expect(p("ZRANGE", "z", "(4", "0", "BYSCORE", "REV")).toEqual(["c", "b", "a"]);
    expect(p("ZREVRANGE", "z", "0", "1")).toEqual(["e", "d"]);
    expect(p("ZRANGE", "z", "0", "1", "LIMIT", "0", "1")).toBe(
      "ERR:ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
    );
    run("ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d");
    expect(p("ZRANGEBYLEX", "l", "(a", "[c")).toEqual(["b", "c"]);
    expect(p("ZREVRANGEBYLEX", "l", "+", "(b", "LIMIT", "0", "1")).toEqual(["d"]);
    expect(p("ZLEXCOUNT", "l", "-", "+")).toBe(4);
    expect(p("ZLEXCOUNT", "l", "a", "+")).toBe("ERR:ERR min or max not valid string range item");
    expect(p("ZREMRANGEBYLEX", "l", "[b", "(d")).toBe(2);
    expect(p("ZREMRANGEBYRANK", "z", "0", "1")).toBe(2);
    expect(p("ZREMRANGEBYSCORE", "z", "(3", "+inf")).toBe(2);
    expect(p("ZRANGE", "z", "0", "-1")).toEqual(["c"]);
  });

  test("pops, ZMPOP, blocking pops that find nothing block", () => {
    const { run } = node(4);
    const p = (...a: string[]) => plain(run(...a));
    run("ZADD", "z", "1", "a", "2", "b", "3", "c");
    expect(p("ZPOPMIN", "z")).toEqual(["a", 1]);
    expect(p("ZPOPMAX", "z", "5")).toEqual(["c", 3, "b", 2]);
    expect(p("ZPOPMIN", "z", "-1")).toBe("ERR:ERR value is out of range, must be positive");
    expect(p("ZMPOP", "1", "z", "MIN")).toBe("<nil-array>");
    run("ZADD", "y", "1", "a", "2", "b");
    expect(p("ZMPOP", "2", "z", "y", "MAX", "COUNT", "5")).toEqual(["y", [["b", 2], ["a", 1]]]);
    expect(p("ZMPOP", "1", "z", "MIN", "COUNT", "0")).toBe("ERR:ERR count should be greater than 0");
    expect(run("BZPOPMIN", "z", "y", "0.5")).toBeInstanceOf(Block);
    run("ZADD", "y", "7", "q");
    expect(p("BZPOPMAX", "z", "y", "0")).toEqual(["y", "q", 7]);
    expect(run("BZMPOP", "1", "1", "z", "MIN")).toBeInstanceOf(Block);
  });

  test("ZUNION/ZINTER/ZDIFF with sets, weights, aggregates; STORE; ZINTERCARD", () => {
    const { run, engine } = node(5);
    const p = (...a: string[]) => plain(run(...a));
    run("ZADD", "a", "1", "x", "2", "y", "3", "z");
    run("ZADD", "b", "10", "y", "20", "z", "30", "w");
    expect(p("ZUNION", "2", "a", "b", "WITHSCORES")).toEqual(["x", 1, "y", 12, "z", 23, "w", 30]);
    expect(p("ZINTER", "2", "a", "b", "WEIGHTS", "2", "1", "AGGREGATE", "MAX", "WITHSCORES")).toEqual([
      "y",
      10,
      "z",
      20,
    ]);
    expect(p("ZDIFF", "2", "a", "b", "WITHSCORES")).toEqual(["x", 1]);
    expect(p("ZUNIONSTORE", "d", "2", "a", "b", "AGGREGATE", "MIN")).toBe(4);
    expect(p("ZRANGE", "d", "0", "-1", "WITHSCORES")).toEqual(["x", 1, "y", 2, "z", 3, "w", 30]);
    expect(p("ZINTERSTORE", "d", "2", "a", "nokey")).toBe(0);
    expect(engine.lookup(0, "d", Date.now())).toBeUndefined();
    expect(p("ZINTERCARD", "2", "a", "b", "LIMIT", "1")).toBe(1);
    expect(p("ZUNION", "0", "a")).toBe("ERR:ERR at least 1 input key is needed for 'zunion' command");
    expect(p("ZDIFF", "1", "a", "WEIGHTS", "1")).toBe("ERR:ERR syntax error");
    expect(p("ZUNION", "1", "a", "WEIGHTS", "x")).toBe("ERR:ERR weight value is not a float");
    expect(p("ZRANGESTORE", "r", "a", "1", "2", "BYSCORE")).toBe(2);
    expect(p("ZRANGE", "r", "0", "-1")).toEqual(["x", "y"]);
  });

  test("ZRANDMEMBER and ZSCAN over a large set visit every member once", () => {
    const { run } = node(6);
    const args: string[] = [];
    for (let i = 0; i < 500; i++) args.push(String(i % 37), `m${i}`);
    run("ZADD", "z", ...args);
    const seen = new Map<string, number>();
    let cursor = "0", calls = 0;
    do {
      const [c, els] = run("ZSCAN", "z", cursor, "COUNT", "20") as [string, string[]];
      for (let i = 0; i < els.length; i += 2) seen.set(els[i], (seen.get(els[i]) ?? 0) + 1);
      cursor = c;
      calls++;
    } while (cursor !== "0" && calls < 1000);
    expect(seen.size).toBe(500);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(calls).toBeGreaterThan(1);
    expect(plain(run("ZSCAN", "z", "x"))).toBe("ERR:ERR invalid cursor");
    const r = run("ZRANDMEMBER", "z", "10") as string[];
    expect(new Set(r).size).toBe(10);
    expect((run("ZRANDMEMBER", "z", "-600") as string[]).length).toBe(600);
    expect(run("ZRANDMEMBER", "z", "-4611686018427387904", "WITHSCORES")).toBe(
      "ERR:ERR value is out of range",
    );
  });

  test("engines receiving the same effects in different orders converge", () => {
    const keys = ["k", "j"];
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            node: fc.nat(1),
            cmd: fc.constantFrom("ZADD", "ZINCRBY", "ZREM", "ZPOPMIN", "ZREMRANGEBYRANK", "ZUNIONSTORE"),
            key: fc.nat(1),
            member: fc.constantFrom("a", "b", "c", "d"),
            score: fc.constantFrom("1", "2", "-1", "0.5"),
            tick: fc.nat(3),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        fc.integer(),
        (cmds, seed) => {
          const writers = [node(11, ["x"]), node(12, ["x"])];
          for (const c of cmds) {
            const w = writers[c.node];
            w.clock.ms += c.tick;
            const k = keys[c.key], o = keys[1 - c.key];
            if (c.cmd === "ZADD") w.run("ZADD", k, c.score, c.member);
            else if (c.cmd === "ZINCRBY") w.run("ZINCRBY", k, c.score, c.member);
            else if (c.cmd === "ZREM") w.run("ZREM", k, c.member);
            else if (c.cmd === "ZPOPMIN") w.run("ZPOPMIN", k);
            else if (c.cmd === "ZREMRANGEBYRANK") w.run("ZREMRANGEBYRANK", k, "0", "0");
            else w.run("ZUNIONSTORE", k, "2", k, o);
          }
          const all = [...writers[0].effects, ...writers[1].effects];
          const r1 = node(21, ["x"]), r2 = node(22, ["x"]);
          for (const e of shuffle(all, seed)) expect(r1.engine.receive(e)).toBe(true);
          for (const e of all) r2.engine.receive(e);
          expect(r1.engine.stateHash()).toBe(r2.engine.stateHash());
          expect(r1.engine.usedBytes()).toBe(r2.engine.usedBytes());
          for (const k of keys) {
            const z1 = r1.value(k)?.value as ZSetState | undefined;
            const z2 = r2.value(k)?.value as ZSetState | undefined;
            expect(snap(z1)).toBe(snap(z2));
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------- geo

describe("geo", () => {
  test("scores, positions, geohash strings and distances match Redis's", () => {
    expect(geoScore(-73.9454966, 40.747533)).toBe(1791875804419201);
    expect(geoScore(-74.0131604, 40.7126674)).toBe(1791873972053020);
    expect(geohashString(geoScore(-5.6, 42.6))).toBe("ezs42e44yx0");
    const [lon, lat] = geoDecode(geoScore(13.361389, 38.115556));
    expect(humanDouble(lon)).toBe("13.36138933897018433");
    expect(humanDouble(lat)).toBe("38.11555639549629859");
    const [lon2, lat2] = geoDecode(geoScore(15.087269, 37.502669));
    expect(geoDistance(lon, lat, lon2, lat2).toFixed(4)).toBe("166274.1516");
    expect(humanDouble(-0.5)).toBe("-0.5");
    expect(humanDouble(3)).toBe("3");
  });

  test("commands: GEOADD errors, GEOPOS, GEODIST, GEOSEARCH, STORE", () => {
    const { run } = node(7);
    const p = (...a: string[]) => plain(run(...a));
    expect(p("GEOADD", "s", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")).toBe(
      2,
    );
    expect(p("GEOADD", "s", "181", "10", "x")).toBe(
      "ERR:ERR invalid longitude,latitude pair 181.000000,10.000000",
    );
    expect(p("GEOADD", "s", "XX", "NX", "1", "1", "x")).toBe("ERR:ERR syntax error");
    expect(p("GEOPOS", "s", "Palermo", "nope")).toEqual([
      ["13.36138933897018433", "38.11555639549629859"],
      "<nil-array>",
    ]);
    expect(p("GEODIST", "s", "Palermo", "Catania", "km")).toBe("166.2742");
    expect(p("GEODIST", "s", "Palermo", "Catania", "parsec")).toBe(
      "ERR:ERR unsupported unit provided. please use M, KM, FT, MI",
    );
    expect(p("GEOSEARCH", "s", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC", "WITHDIST")).toEqual(
      [
        ["Catania", "56.4413"],
        ["Palermo", "190.4424"],
      ],
    );
    expect(p("GEORADIUSBYMEMBER", "s", "Palermo", "100", "km")).toEqual(["Palermo"]);
    expect(p("GEOSEARCH", "s", "BYBOX", "1", "1", "km")).toBe(
      "ERR:ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH",
    );
    expect(p("GEORADIUS", "s", "15", "37", "200", "km", "COUNT", "1", "ANY", "STOREDIST", "d")).toBe(1);
    expect(p("GEOSEARCHSTORE", "d2", "s", "FROMMEMBER", "nope", "BYRADIUS", "1", "m")).toBe(
      "ERR:ERR could not decode requested zset member",
    );
    expect(p("GEOHASH", "s", "Palermo", "x")).toEqual(["sqc8b49rny0", null]);
  });

  test("property: a search finds exactly the points inside the shape (brute force)", () => {
    const pt = fc.oneof(
      fc.tuple(
        fc.double({ min: -180, max: 180, noNaN: true }),
        fc.double({ min: -85, max: 85, noNaN: true }),
      ),
      // The map's edges: the east and north ones hash past 2^52 and are never found, as in Redis.
      fc.tuple(fc.constantFrom(-180, 180, 179.99999999999997), fc.constantFrom(0, 85.05112878, -85.05112878)),
    );
    fc.assert(
      fc.property(
        fc.array(pt, { minLength: 1, maxLength: 200 }),
        pt,
        fc.integer({ min: 1, max: 6_000_000 }),
        fc.integer({ min: 1, max: 6_000_000 }),
        fc.boolean(),
        (pts, [clon, clat], r1, r2, circle) => {
          const z = new ZSetState();
          pts.forEach(([lon, lat], i) => z.set(`p${i}`, geoScore(lon, lat)));
          const shape: Shape = circle
            ? { lon: clon, lat: clat, radius: r1, width: 0, height: 0 }
            : { lon: clon, lat: clat, radius: -1, width: r1, height: r2 };
          const expected = new Set<string>();
          for (let n = z.first(); n !== null; n = n.next[0]) {
            const [lon, lat] = geoDecode(n.score);
            if (inShape(shape, lon, lat) >= 0 && n.score < 2 ** 52) expected.add(n.member);
          }
          const found = new Set<string>();
          for (const [lo, hi] of coveringRanges(shape)) {
            for (let n = z.first(); n !== null; n = n.next[0]) {
              if (n.score >= lo && n.score < hi) found.add(n.member);
            }
          }
          for (const m of expected) expect(found.has(m)).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
