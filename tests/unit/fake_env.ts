/** A deterministic `Env`, and a real engine running one type's commands, for unit tests without IO. */
import type { Effect, Op } from "../../core/effect.ts";
import { Engine } from "../../core/engine.ts";
import { type Env, noStorage } from "../../core/env.ts";
import { expect } from "bun:test";
import type { ApplyCtx, Reducer } from "../../core/reducer.ts";
import { CommandError, type Ctx, type Handler } from "../../redis/command.ts";
import type { Reply } from "../../redis/reply.ts";
import { defaultEncodingLimits } from "../../redis/encodings.ts";
import { handlers, reducers } from "../../redis/mod.ts";
import { stringType, type StrState, sv } from "../../redis/types/string.ts";

/** Wall clock from `clock.ms`, seeded xorshift randomness, no timers, no storage. */
export function fakeEnv(seed: number, clock: { ms: number }): Env {
  let x = seed >>> 0 || 1;
  return {
    monotonicMs: () => clock.ms,
    wallMs: () => clock.ms,
    random: () => {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      return x / 2 ** 32;
    },
    setTimer: () => null,
    clearTimer: () => {},
    storage: noStorage,
    log: () => {},
    buggify: () => false,
  };
}

/** A second type, to provoke WRONGTYPE in a type's command tests. */
export const otherType: Reducer<string> = {
  type: "string",
  opcodes: ["tset"],
  apply: (_s, op) => ({ state: op[1] as string, undo: null, delta: 0 }),
  undo: (s) => s,
  size: (s) => s.length,
  encode: (s) => s,
  decode: (d) => d as string,
  canonical: (s) => s,
  event: () => "set",
};

/**
 * A real engine holding one data type (plus `otherType`), and `run` calling that type's command
 * handlers directly: the reply, or `ERR:<text>` for a command error. With `peers` the engine is
 * clustered and never folds, so effects stay unstable as they would while peers lag.
 */
export function commandNode(
  seed: number,
  types: Reducer<any> | Reducer<any>[],
  commands: Record<string, Handler>,
  peers: string[] = [],
) {
  const clock = { ms: 1_700_000_000_000 };
  const given = Array.isArray(types) ? types : [types];
  // The stand-in "other" type only where the node has no real type under its name.
  const reducers = given.some((t) => t.type === otherType.type) ? given : [...given, otherType];
  const engine = new Engine(fakeEnv(seed, clock), {
    reducers,
    clustered: peers.length > 0,
  });
  engine.open();
  if (peers.length > 0) engine.setMembers(["self", ...peers]);
  const effects: Effect[] = [];
  const ops: Op[][] = [];
  const run = (...args: string[]): Reply | string => {
    const batch = engine.begin();
    const ctx: Ctx = {
      face: { touched() {}, digest: () => "0", config: { encodings: defaultEncodingLimits() } } as any,
      engine,
      client: {} as any,
      batch,
      db: 0,
    };
    let reply: Reply;
    try {
      reply = commands[args[0].toLowerCase()](ctx, args) as Reply;
    } catch (e) {
      if (e instanceof CommandError) {
        if (batch.readOnly()) batch.release();
        return `ERR:${e.reply.s}`;
      }
      throw e;
    }
    const written: Op[] = [];
    for (const { e } of batch.effects.values()) {
      effects.push(e);
      written.push(...e.ops);
    }
    ops.push(written);
    batch.commit(() => {});
    return reply;
  };
  /** Writes a value of the other type at `key`. */
  const other = (key: string) => {
    const batch = engine.begin();
    batch.write(0, key, ["tset", "x"]);
    batch.commit(() => {});
  };
  const value = (key: string) => engine.lookup(0, key, clock.ms);
  /** The last command's ops, all keys together. */
  const lastOps = () => ops[ops.length - 1];
  return { engine, clock, effects, run, other, value, lastOps };
}

/** A seeded Fisher-Yates shuffle (xorshift32): the same order for the same seed. */
export function shuffle<T>(a: readonly T[], seed: number): T[] {
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

/**
 * A real engine with every Redis type, running the face's handlers directly (no dispatcher, no
 * clock: time stands at 1_700_000_000_000, randomness at 0.5). `run` answers the reply, or
 * `ERR:<text>`; `lastOps` holds the ops the last command wrote, per key; `encodings` is the CONFIG
 * the handlers read; `get` reads a string value.
 */
export function faceNode() {
  const env = { ...fakeEnv(1, { ms: 1_700_000_000_000 }), monotonicMs: () => 0, random: () => 0.5 };
  const engine = new Engine(env, { reducers });
  engine.open();
  const encodings = defaultEncodingLimits();
  const face = { touched() {}, cluster: null, config: { protoMaxBulkLen: 512 * 1024 * 1024, encodings } };
  const node = {
    engine,
    encodings,
    lastOps: [] as [string, Op[]][],
    run(...args: string[]): Reply | string {
      const name = args[0].toLowerCase();
      const handler = handlers[name] ?? handlers[`${name}|${(args[1] ?? "").toLowerCase()}`];
      const batch = engine.begin();
      const ctx: Ctx = { face: face as any, engine, client: {} as any, batch, db: 0 };
      let reply: Reply;
      try {
        reply = handler(ctx, args) as Reply;
      } catch (e) {
        if (!(e instanceof CommandError)) throw e;
        reply = `ERR:${e.reply.s}`;
      }
      node.lastOps = batch.entries.map((x) => [x.e.key, x.e.ops]);
      batch.commit(() => {});
      return reply;
    },
    get(key: string): string | undefined {
      const ks = engine.lookup(0, key, 1_700_000_000_000);
      return ks === undefined ? undefined : sv(ks.value as StrState);
    },
  };
  return node;
}

/**
 * Applies string ops from `s0`, checking each delta is the length change, then undoes them in
 * reverse: every earlier state comes back (the same object). Returns the state after the ops.
 */
export function stringApplyUndo(s0: StrState | undefined, ops: Op[]): StrState | undefined {
  const actx = {} as ApplyCtx;
  let s = s0;
  const history: [StrState | undefined, unknown][] = [];
  for (const op of ops) {
    const r = stringType.apply(s, op, actx);
    expect(r.delta).toBe((sv(r.state)?.length ?? 0) - (sv(s)?.length ?? 0));
    history.push([s, r.undo]);
    s = r.state;
  }
  const after = s;
  for (let i = history.length - 1; i >= 0; i--) {
    s = stringType.undo(s, history[i][1]);
    expect(s).toBe(history[i][0]);
  }
  return after;
}
