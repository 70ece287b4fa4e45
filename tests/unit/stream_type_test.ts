import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type Op, Writer } from "../../core/effect.ts";
import { Engine } from "../../core/engine.ts";
import type { ApplyCtx } from "../../core/reducer.ts";
import { Block, CommandError, type Ctx } from "../../redis/command.ts";
import { defaultEncodingLimits } from "../../redis/encodings.ts";
import { MapReply, NULL_ARRAY, OK, type Reply } from "../../redis/reply.ts";
import {
  entriesUpTo,
  fmtId,
  parseId,
  streamCommands,
  type StreamState,
  streamType,
} from "../../redis/types/stream.ts";
import { fakeEnv, otherType } from "./fake_env.ts";

// ---------------------------------------------------------------- reducer

const W = Writer.of("n1", 1);

function actx(seq: number): ApplyCtx {
  return { hlc: seq * 2048, w: W, seq, opIndex: 0 };
}

/** The whole observable state: canonical text, accounted bytes and the encoded form. */
function snap(s: StreamState | undefined): string {
  if (s === undefined) return "<absent>";
  return JSON.stringify([streamType.canonical(s), s.bytes, s.length, streamType.encode(s)]);
}

/** Applies ops in order, returning the state and the undo records. */
function applyAll(ops: Op[], start?: StreamState): { state: StreamState | undefined; undos: unknown[] } {
  let state = start;
  const undos: unknown[] = [];
  ops.forEach((op, i) => {
    const r = streamType.apply(state, op, actx(i + 1));
    state = r.state;
    undos.push(r.undo);
  });
  return { state, undos };
}

const GROUPS = ["g1", "g2"];
const CONSUMERS = ["alice", "bob"];

/** Random ops over a small id space, so deletions, claims and acks hit existing entries. */
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.tuple(fc.nat(60), fc.boolean(), fc.string({ maxLength: 3 })).map(
      ([ms, nn, v]) => ["xadd", `${ms}-0`, ["f", v], nn ? 1 : 0, null] as Op,
    ),
  },
  fc.tuple(fc.nat(60), fc.nat(8), fc.boolean(), fc.constantFrom("KEEPREF", "DELREF", "ACKED")).map(
    ([ms, n, approx, pol]) =>
      ["xadd", `${ms}-1`, ["f", "t"], 0, ["MAXLEN", String(n), approx ? 1 : 0, 0, pol]] as Op,
  ),
  fc.tuple(fc.array(fc.nat(60), { maxLength: 4 }), fc.constantFrom("KEEPREF", "DELREF", "ACKED")).map(
    ([ids, pol]) => ["xdel", ids.map((m) => `${m}-0`), pol, "xdel"] as Op,
  ),
  fc.tuple(fc.nat(60), fc.boolean()).map(([m, approx]) =>
    ["xtrim", ["MINID", `${m}-0`, approx ? 1 : 0, 0, "KEEPREF"]] as Op
  ),
  fc.tuple(fc.constantFrom(...GROUPS), fc.nat(60)).map(([g, m]) => ["xgcreate", g, `${m}-0`, -1] as Op),
  fc.tuple(
    fc.constantFrom(...GROUPS),
    fc.constantFrom(...CONSUMERS),
    fc.array(fc.nat(60), { maxLength: 3 }),
    fc.boolean(),
  )
    .map(([g, c, ids, noack]) =>
      [
        "xdeliver",
        g,
        c,
        1000,
        ids.map((m) => `${m}-0`),
        ids.length ? `${Math.max(...ids)}-0` : "",
        3,
        noack ? 1 : 0,
        0,
      ] as Op
    ),
  fc.tuple(fc.constantFrom(...GROUPS), fc.constantFrom(...CONSUMERS), fc.array(fc.nat(60), { maxLength: 3 }))
    .map(
      ([g, c, ids]) => ["xdeliver", g, c, 2000, ids.map((m) => `${m}-0`), "", null, 0, 1] as Op,
    ),
  fc.tuple(fc.constantFrom(...GROUPS), fc.array(fc.nat(60), { maxLength: 3 })).map(
    ([g, ids]) => ["xack", g, ids.map((m) => `${m}-0`)] as Op,
  ),
  fc.tuple(fc.constantFrom(...GROUPS), fc.constantFrom(...CONSUMERS), fc.nat(60), fc.nat(60)).map(
    ([g, c, a, b]) => ["xclaim", g, c, 3000, [[`${a}-0`, 2500, 4]], [`${b}-0`], `${a}-0`, 1] as Op,
  ),
  fc.tuple(fc.constantFrom(...GROUPS), fc.constantFrom(...CONSUMERS)).map(([g, c]) => ["xgdc", g, c] as Op),
  fc.tuple(fc.constantFrom(...GROUPS), fc.constantFrom(...CONSUMERS)).map(([g, c]) =>
    ["xgcc", g, c, 5] as Op
  ),
  fc.constantFrom(...GROUPS).map((g) => ["xgdestroy", g] as Op),
  fc.tuple(fc.constantFrom(...GROUPS), fc.nat(60)).map(([g, m]) => ["xgsetid", g, `${m}-0`, 2] as Op),
  fc.nat(80).map((m) => ["xsetid", `${m}-5`, -1, ""] as Op),
);

describe("stream reducer", () => {
  test("ids parse and format as Redis's", () => {
    expect(parseId("5")).toBe(5n << 64n);
    expect(parseId("5", (1n << 64n) - 1n)).toBe((5n << 64n) | ((1n << 64n) - 1n));
    expect(parseId("18446744073709551616-0")).toBe(null);
    expect(parseId("-", 0n, true)).toBe(null);
    expect(parseId("+", 0n, false)).toBe((1n << 128n) - 1n);
    expect(parseId("1-2-3")).toBe(null);
    expect(fmtId(parseId("18446744073709551615-18446744073709551615")!)).toBe(
      "18446744073709551615-18446744073709551615",
    );
  });

  test("undo restores the exact previous state after every op", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        let state: StreamState | undefined;
        ops.forEach((op, i) => {
          const before = snap(state);
          const bytes = state?.bytes ?? 0;
          const r = streamType.apply(state, op, actx(i + 1));
          if (r.state !== undefined) expect(r.state.bytes).toBe(bytes + r.delta);
          const back = streamType.undo(r.state, r.undo);
          expect(snap(back)).toBe(before);
          state = streamType.apply(back, op, actx(i + 1)).state;
        });
      }),
      { numRuns: 300 },
    );
  });

  test("undoing a whole sequence backwards restores the start; encode/decode round-trips", () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { minLength: 1, maxLength: 80 }),
        fc.array(opArb, { maxLength: 40 }),
        (pre, ops) => {
          const base = applyAll(pre).state;
          const start = snap(base);
          const copy = base === undefined ? undefined : streamType.decode(streamType.encode(base));
          const { state, undos } = applyAll(ops, base);
          if (state !== undefined) {
            const d = streamType.decode(streamType.encode(state));
            expect(streamType.canonical(d)).toBe(streamType.canonical(state));
            expect(streamType.size(d)).toBe(state.bytes);
          }
          let s = state;
          for (let k = undos.length - 1; k >= 0; k--) s = streamType.undo(s, undos[k]);
          expect(snap(s)).toBe(start);
          if (copy !== undefined) expect(streamType.canonical(copy)).toBe(streamType.canonical(base!));
        },
      ),
      { numRuns: 200 },
    );
  });

  test("a fold that rolls back and reapplies in a different order converges", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), fc.array(opArb, { maxLength: 30 }), (a, b) => {
        // Node 1 applies A then B (the fold order).
        const n1 = applyAll([...a, ...b]).state;
        // Node 2 first saw B, then A arrived sorting earlier: roll B back, apply A, reapply B.
        const first = applyAll(b);
        let s = first.state;
        for (let k = first.undos.length - 1; k >= 0; k--) s = streamType.undo(s, first.undos[k]);
        const n2 = applyAll([...a, ...b], s).state;
        expect(snap(n2)).toBe(snap(n1));
      }),
      { numRuns: 200 },
    );
  });

  test("deletions compact tombstones and undo puts entries back", () => {
    const ops: Op[] = [];
    for (let i = 1; i <= 300; i++) ops.push(["xadd", `${i}-0`, ["f", String(i)], i % 10 === 1 ? 1 : 0, null]);
    const { state } = applyAll(ops);
    const before = snap(state);
    const del: Op = ["xdel", Array.from({ length: 250 }, (_, i) => `${i + 20}-0`), "KEEPREF", "xdel"];
    const r = streamType.apply(state, del, actx(999));
    const s = r.state!;
    expect(s.length).toBe(50);
    expect(s.ids.length).toBeLessThan(300);
    expect(s.range(0n, (1n << 128n) - 1n, 0).map(([id]) => fmtId(id)).slice(18, 21)).toEqual([
      "19-0",
      "270-0",
      "271-0",
    ]);
    expect(snap(streamType.undo(s, r.undo))).toBe(before);
  });

  test("approximate trimming removes whole nodes only", () => {
    const ops: Op[] = [];
    for (let i = 1; i <= 25; i++) ops.push(["xadd", `${i}-0`, ["f", "v"], i % 10 === 1 ? 1 : 0, null]);
    const { state } = applyAll(ops);
    streamType.apply(state, ["xtrim", ["MAXLEN", "12", 1, 0, "KEEPREF"]], actx(50));
    expect(state!.length).toBe(15);
    streamType.apply(state, ["xtrim", ["MAXLEN", "12", 0, 0, "KEEPREF"]], actx(51));
    expect(state!.length).toBe(12);
    expect(state!.nodes.size).toBe(2);
  });

  test("entries-read estimates follow Redis's rules", () => {
    const ops: Op[] = [];
    for (let i = 1; i <= 5; i++) ops.push(["xadd", `${i}-0`, ["f", "v"], 0, null]);
    const { state } = applyAll(ops);
    const s = state!;
    expect(entriesUpTo(s, 0n)).toBe(0);
    expect(entriesUpTo(s, 1n << 64n)).toBe(1);
    expect(entriesUpTo(s, 5n << 64n)).toBe(5);
    expect(entriesUpTo(s, 9n << 64n)).toBe(-1);
    streamType.apply(s, ["xdel", ["3-0"], "KEEPREF", "xdel"], actx(9));
    expect(entriesUpTo(s, 1n << 64n)).toBe(-1);
  });

  test("ops of other shapes are no-ops", () => {
    const { state } = applyAll([["xadd", "1-0", ["a", "b"], 1, null]]);
    const before = snap(state);
    for (
      const op of [["xadd", "1-0", ["c", "d"], 0, null], ["xadd", "bad", ["a"], 0, null], ["xack", 5, []], [
        "xgdc",
        "nogroup",
        "x",
      ], ["xdel", "notalist"]] as Op[]
    ) {
      const r = streamType.apply(state, op, actx(3));
      expect(r.undo).toBe(null);
      expect(snap(r.state)).toBe(before);
    }
    expect(streamType.apply(undefined, ["xdel", ["1-0"]], actx(1)).state).toBe(undefined);
  });
});

// ---------------------------------------------------------------- commands

/** A real engine with the stream type and a fake face (config, RESP2 client). */
function node(seed = 1, resp: 2 | 3 = 2) {
  const clock = { ms: 1_700_000_000_000 };
  const engine = new Engine(fakeEnv(seed, clock), { reducers: [streamType, otherType] });
  engine.open();
  const face = { touched() {}, config: { encodings: defaultEncodingLimits() } } as any;
  const run = (...args: string[]): Reply | Block | string => {
    const batch = engine.begin();
    const ctx: Ctx = { face, engine, client: { resp } as any, batch, db: 0 };
    const name = args[0].toLowerCase();
    const sub = `${name}|${(args[1] ?? "").toLowerCase()}`;
    const h = streamCommands[sub] ?? streamCommands[name];
    let reply: Reply | Block;
    try {
      reply = h(ctx, args) as Reply | Block;
    } catch (e) {
      if (e instanceof CommandError) {
        if (batch.readOnly()) batch.release();
        return `ERR:${e.reply.s}`;
      }
      throw e;
    }
    if (batch.readOnly()) batch.release();
    else batch.commit(() => {});
    return reply;
  };
  const other = (key: string) => {
    const batch = engine.begin();
    batch.write(0, key, ["tset", "x"]);
    batch.commit(() => {});
  };
  return { engine, clock, run, other, face };
}

/** A MapReply's flat entries as an object (RESP2 pairs). */
function dict(r: unknown): Record<string, unknown> {
  const flat = (r as MapReply).entries;
  const o: Record<string, unknown> = {};
  for (let i = 0; i < flat.length; i += 2) o[flat[i] as string] = flat[i + 1];
  return o;
}

describe("stream commands", () => {
  test("XADD ids, options and errors", () => {
    const { run, clock, other } = node();
    expect(run("XADD", "s", "*", "a", "1")).toBe(`${clock.ms}-0`);
    expect(run("XADD", "s", "*", "a", "2")).toBe(`${clock.ms}-1`);
    expect(run("XADD", "s", `${clock.ms}-*`, "a", "3")).toBe(`${clock.ms}-2`);
    expect(run("XADD", "s", "5-1", "a", "1")).toBe(
      "ERR:ERR The ID specified in XADD is equal or smaller than the target stream top item",
    );
    expect(run("XADD", "t", "0-0", "a", "1")).toBe(
      "ERR:ERR The ID specified in XADD must be greater than 0-0",
    );
    expect(run("XADD", "t", "0-*", "a", "1")).toBe("0-1");
    expect(run("XADD", "t", "abc", "a", "1")).toBe(
      "ERR:ERR Invalid stream ID specified as stream command argument",
    );
    expect(run("XADD", "t", "*", "a")).toBe("ERR:ERR wrong number of arguments for 'xadd' command");
    expect(run("XADD", "u", "NOMKSTREAM", "*", "a", "1")).toBe(null);
    expect(run("XADD", "t", "MAXLEN", "-1", "*", "a", "1")).toBe("ERR:ERR The MAXLEN argument must be >= 0.");
    expect(run("XADD", "t", "MAXLEN", "1", "LIMIT", "5", "*", "a", "1")).toBe(
      "ERR:ERR syntax error, LIMIT cannot be used without the special ~ option",
    );
    expect(run("XADD", "v", "18446744073709551615-18446744073709551615", "a", "b")).toBe(
      "18446744073709551615-18446744073709551615",
    );
    expect(run("XADD", "v", "*", "c", "d")).toBe(
      "ERR:ERR The stream has exhausted the last possible ID, unable to add more items",
    );
    expect(run("XADD", "e", "MAXLEN", "0", "*", "a", "b")).toMatch(/-0$/);
    expect(run("XLEN", "e")).toBe(0);
    other("str");
    expect(run("XADD", "str", "*", "a", "b")).toBe(
      "ERR:WRONGTYPE Operation against a key holding the wrong kind of value",
    );
  });

  test("XADD ~ trims whole nodes by stream-node-max-entries; XTRIM LIMIT", () => {
    const { run, face } = node();
    face.config.encodings["stream-node-max-entries"] = 10;
    for (let i = 1; i <= 100; i++) run("XADD", "s", `${i}-0`, "x", "v");
    run("XADD", "s", "MAXLEN", "~", "55", "LIMIT", "30", "*", "x", "v");
    expect(run("XLEN", "s")).toBe(71);
    expect(run("XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "5")).toBe(0);
    expect(run("XTRIM", "s", "MAXLEN", "=", "3")).toBe(68);
    expect(run("XTRIM", "s", "MINID", "1000")).toBe(2);
    expect(run("XTRIM", "s", "FOO")).toBe("ERR:ERR syntax error");
    expect(run("XTRIM", "s", "LIMIT", "1")).toBe(
      "ERR:ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
    );
    expect(run("XTRIM", "s", "KEEPREF")).toBe(
      "ERR:ERR syntax error, XTRIM must be called with a trimming strategy",
    );
  });

  test("XRANGE / XREVRANGE with exclusive bounds and COUNT", () => {
    const { run } = node();
    for (const id of ["1-0", "2-0", "3-0", "4-0"]) run("XADD", "s", id, "f", id);
    expect(run("XRANGE", "s", "(1-0", "(4-0")).toEqual([["2-0", ["f", "2-0"]], ["3-0", ["f", "3-0"]]]);
    expect(run("XREVRANGE", "s", "+", "-", "COUNT", "1")).toEqual([["4-0", ["f", "4-0"]]]);
    expect(run("XRANGE", "s", "-", "+", "COUNT", "0")).toEqual(NULL_ARRAY);
    expect(run("XRANGE", "s", "(-", "+")).toBe(
      "ERR:ERR Invalid stream ID specified as stream command argument",
    );
    expect(run("XRANGE", "s", "(18446744073709551615-18446744073709551615", "+")).toBe(
      "ERR:ERR invalid start ID for the interval",
    );
    expect(run("XRANGE", "s", "-", "(0-0")).toBe("ERR:ERR invalid end ID for the interval");
    expect(run("XRANGE", "nokey", "-", "+")).toEqual([]);
  });

  test("XREAD: non-blocking, $ and + resolved in the retry arguments", () => {
    const { run } = node();
    run("XADD", "s", "1-0", "a", "1");
    expect(run("XREAD", "STREAMS", "s", "0")).toEqual([["s", [["1-0", ["a", "1"]]]]]);
    expect(run("XREAD", "STREAMS", "s", "+")).toEqual([["s", [["1-0", ["a", "1"]]]]]);
    expect(run("XREAD", "STREAMS", "s", "1-0")).toEqual(NULL_ARRAY);
    const b = run("XREAD", "BLOCK", "0", "STREAMS", "s", "nokey", "$", "+") as Block;
    expect(b).toBeInstanceOf(Block);
    expect(b.retryArgs).toEqual(["XREAD", "BLOCK", "0", "STREAMS", "s", "nokey", "1-0", "0-0"]);
    expect(b.onTimeout).toBe(NULL_ARRAY);
    expect(run("XREAD", "STREAMS", "s", ">")).toMatch(/The > ID can be specified only/);
    expect(run("XREAD", "BLOCK", "-1", "STREAMS", "s", "0")).toBe("ERR:ERR timeout is negative");
    expect(run("XREAD", "STREAMS", "s")).toMatch(/Unbalanced 'xread'/);
  });

  test("consumer groups: read, pending, ack, claim, autoclaim, lag", () => {
    const { run, clock } = node();
    for (const id of ["1-0", "2-0", "3-0"]) run("XADD", "s", id, "f", "v");
    expect(run("XGROUP", "CREATE", "s", "g", "0")).toEqual(OK);
    expect(run("XGROUP", "CREATE", "s", "g", "0")).toBe("ERR:BUSYGROUP Consumer Group name already exists");
    expect(run("XGROUP", "CREATE", "nokey", "g", "0")).toMatch(/requires the key to exist/);
    expect(run("XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "s", ">")).toEqual([[
      "s",
      [["1-0", ["f", "v"]], ["2-0", ["f", "v"]]],
    ]]);
    clock.ms += 100;
    expect(run("XPENDING", "s", "g")).toEqual([2, "1-0", "2-0", [["alice", "2"]]]);
    expect(run("XPENDING", "s", "g", "-", "+", "10")).toEqual([["1-0", "alice", 100, 1], [
      "2-0",
      "alice",
      100,
      1,
    ]]);
    expect(run("XCLAIM", "s", "g", "bob", "50", "1-0")).toEqual([["1-0", ["f", "v"]]]);
    expect(run("XPENDING", "s", "g", "-", "+", "10", "bob")).toEqual([["1-0", "bob", 0, 2]]);
    expect(run("XACK", "s", "g", "1-0", "9-0")).toBe(1);
    run("XDEL", "s", "2-0");
    expect(run("XAUTOCLAIM", "s", "g", "bob", "0", "0")).toEqual(["0-0", [], ["2-0"]]);
    expect(run("XAUTOCLAIM", "s", "g", "bob", "0", "0", "COUNT", "0")).toBe("ERR:ERR COUNT must be > 0");
    const info = dict((run("XINFO", "GROUPS", "s") as Reply[])[0]);
    expect(info["entries-read"]).toBe(2);
    expect(info.lag).toBe(null);
    expect(run("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">")).toEqual([["s", [["3-0", [
      "f",
      "v",
    ]]]]]);
    const after = dict((run("XINFO", "GROUPS", "s") as Reply[])[0]);
    expect(after["entries-read"]).toBe(3);
    expect(after.lag).toBe(0);
    expect(run("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0")).toEqual([["s", [["3-0", [
      "f",
      "v",
    ]]]]]);
    expect(run("XREADGROUP", "GROUP", "nog", "alice", "STREAMS", "s", ">")).toBe(
      "ERR:NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option",
    );
    const blocked = run("XREADGROUP", "GROUP", "g", "alice", "BLOCK", "10", "STREAMS", "s", ">");
    expect(blocked).toBeInstanceOf(Block);
    expect(run("XGROUP", "DELCONSUMER", "s", "g", "alice")).toBe(1);
    expect(run("XGROUP", "DESTROY", "s", "g")).toBe(1);
    expect(run("XGROUP", "DESTROY", "s", "g")).toBe(0);
  });

  test("XREADGROUP CLAIM serves idle pending entries first, longest idle first", () => {
    const { run, clock } = node();
    for (const id of ["1-0", "2-0", "3-0"]) run("XADD", "s", id, "f", "v");
    run("XGROUP", "CREATE", "s", "g", "0");
    run("XREADGROUP", "GROUP", "g", "a", "COUNT", "1", "STREAMS", "s", ">");
    clock.ms += 10;
    run("XREADGROUP", "GROUP", "g", "a", "COUNT", "1", "STREAMS", "s", ">");
    clock.ms += 100;
    expect(run("XREADGROUP", "GROUP", "g", "b", "CLAIM", "50", "STREAMS", "s", ">")).toEqual([[
      "s",
      [["1-0", ["f", "v"], 110, 1], ["2-0", ["f", "v"], 100, 1], ["3-0", ["f", "v"], 0, 0]],
    ]]);
    expect(run("XPENDING", "s", "g", "-", "+", "10")).toEqual([["1-0", "b", 0, 2], ["2-0", "b", 0, 2], [
      "3-0",
      "b",
      0,
      1,
    ]]);
  });

  test("XDELEX and XACKDEL reference policies", () => {
    const { run } = node();
    for (const id of ["1-0", "2-0", "3-0"]) run("XADD", "s", id, "f", "v");
    run("XGROUP", "CREATE", "s", "g", "0");
    run("XREADGROUP", "GROUP", "g", "a", "COUNT", "2", "STREAMS", "s", ">");
    expect(run("XDELEX", "s", "ACKED", "IDS", "3", "1-0", "3-0", "9-0")).toEqual([2, 2, -1]);
    expect(run("XACKDEL", "s", "g", "ACKED", "IDS", "1", "1-0")).toEqual([1]);
    expect(run("XDELEX", "s", "DELREF", "IDS", "1", "2-0")).toEqual([1]);
    expect(run("XPENDING", "s", "g")).toEqual([0, null, null, NULL_ARRAY]);
    expect(run("XDELEX", "s", "IDS", "2", "3-0")).toMatch(/numids/);
    expect(run("XLEN", "s")).toBe(1);
  });

  test("XCLAIM FORCE, JUSTID, RETRYCOUNT, LASTID; XTRIM policies", () => {
    const { run, clock } = node();
    for (const id of ["1-0", "2-0", "3-0"]) run("XADD", "s", id, "f", "v");
    run("XGROUP", "CREATE", "s", "g", "$");
    expect(run("XCLAIM", "s", "g", "c", "0", "1-0", "FORCE", "JUSTID")).toEqual(["1-0"]);
    expect(run("XCLAIM", "s", "g", "c", "0", "2-0", "FORCE")).toEqual([["2-0", ["f", "v"]]]);
    expect(run("XCLAIM", "s", "g", "c", "0", "3-0", "RETRYCOUNT", "7", "FORCE", "LASTID", "9-0")).toEqual([[
      "3-0",
      ["f", "v"],
    ]]);
    expect(run("XPENDING", "s", "g", "-", "+", "10")).toEqual([["1-0", "c", 0, 1], ["2-0", "c", 0, 2], [
      "3-0",
      "c",
      0,
      7,
    ]]);
    expect(run("XCLAIM", "s", "g", "c", "0", "1-0", "BOGUS")).toBe(
      "ERR:ERR Unrecognized XCLAIM option 'BOGUS'",
    );
    clock.ms += 5;
    expect(run("XCLAIM", "s", "g", "d", "10", "1-0")).toEqual([]);
    const g = dict((run("XINFO", "GROUPS", "s") as Reply[])[0]);
    expect(g["last-delivered-id"]).toBe("9-0");
    // ACKED skips what the group still has pending; DELREF drops the PEL references.
    expect(run("XTRIM", "s", "MAXLEN", "0", "ACKED")).toBe(0);
    expect(run("XTRIM", "s", "MAXLEN", "2", "DELREF")).toBe(1);
    expect(run("XPENDING", "s", "g")).toEqual([2, "2-0", "3-0", [["c", "2"]]]);
    expect(run("XACK", "s", "g", "3-0")).toBe(1);
    expect(run("XADD", "s", "ACKED", "MAXLEN", "1", "4-0", "f", "v")).toBe("4-0");
    // 3-0 and the new 4-0 (below the group's last id, not pending) go; the pending 2-0 stays.
    expect(run("XRANGE", "s", "-", "+")).toEqual([["2-0", ["f", "v"]]]);
  });

  test("XSETID checks and XINFO STREAM", () => {
    const { run } = node(1, 3);
    run("XADD", "x", "1-1", "a", "1");
    run("XADD", "x", "1-2", "b", "2");
    run("XADD", "x", "1-3", "c", "3");
    run("XDEL", "x", "1-2", "1-3");
    expect(run("XSETID", "x", "1-2")).toMatch(/smaller than current max_deleted_entry_id/);
    expect(run("XSETID", "nokey", "1-2")).toBe("ERR:ERR no such key");
    expect(run("XSETID", "x", "1-2", "0")).toBe("ERR:ERR syntax error");
    expect(run("XSETID", "x", "5-0")).toEqual(OK);
    const s = dict(run("XINFO", "STREAM", "x"));
    expect(s.length).toBe(1);
    expect(s["last-generated-id"]).toBe("5-0");
    expect(s["max-deleted-entry-id"]).toBe("1-3");
    expect(s["first-entry"]).toEqual(["1-1", ["a", "1"]]);
    expect(run("XREAD", "STREAMS", "x", "0")).toEqual(new MapReply(["x", [["1-1", ["a", "1"]]]]));
    expect(run("XINFO", "STREAM", "nokey")).toBe("ERR:ERR no such key");
  });
});
