/**
 * What a command handler sees, and the small parsing helpers every data type shares.
 *
 * A handler is a plan run on the local path: it reads keys through `ctx.get*` (the batch's view,
 * one clock reading), writes by handing normalized ops to `ctx.write`, and returns its reply.
 * It validates everything before its first write, so an error never leaves half a command.
 */
import type { Batch, Engine } from "../core/engine.ts";
import type { Op } from "../core/effect.ts";
import type { KeyState } from "../core/keyspace.ts";
import type { Reducer } from "../core/reducer.ts";
import { E, err, type ErrorReply, type Reply } from "./reply.ts";
import type { Client } from "./client.ts";
import type { Face } from "./face.ts";

/** Thrown by handlers to answer with an error; the dispatcher turns it into the reply. */
export class CommandError extends Error {
  constructor(readonly reply: ErrorReply) {
    super(reply.s);
  }
}

/** Answers the current command with `e`. */
export function fail(e: ErrorReply): never {
  throw new CommandError(e);
}

/** The context of one command execution. */
export interface Ctx {
  readonly face: Face;
  readonly engine: Engine;
  readonly client: Client;
  readonly batch: Batch;
  /** The client's selected database. */
  readonly db: number;
  /** The command may pause (a script past the busy threshold returns `Running`). */
  readonly mayPause?: boolean;
  /** Inside EXEC or a script: the command answers at once (WAIT does not wait). */
  readonly nested?: boolean;
  /** Called by a script (redis.call). */
  readonly fromScript?: boolean;
}

export type Handler = (ctx: Ctx, args: string[]) => Reply | Deferred | Block | Running;

/** A reply known only later (SAVE, SHUTDOWN): `start` is called once the command's writes are durable. */
export class Deferred {
  constructor(readonly start: (reply: (r: Reply) => void) => void) {}
}

/**
 * A command still running that lets other clients in (a script past the busy threshold that has
 * touched no data): the face releases the batch, answers other clients -BUSY, and calls `resume`
 * with a new context (a new batch) on a later tick; `abandon` drops it when its client leaves.
 */
export class Running {
  constructor(readonly resume: (ctx: Ctx) => Reply | Running, readonly abandon: () => void) {}
}

/**
 * A blocking command (BLPOP, BZPOPMIN, XREAD BLOCK, ...) that found nothing to serve: the handler
 * wrote nothing and returns this. The face parks the client (FIFO per key, cluster-wide wake-ups
 * through replicated writes) and runs the command again, with `retryArgs` when given (XREAD's `$`
 * resolved to an id), whenever one of `keys` is written on any node, until the handler answers
 * something else or `timeoutMs` (0 = forever) passes, which answers `onTimeout`. Inside MULTI/EXEC
 * (and scripts) the face answers at once: `inTransaction` when given (BLMOVE answers a null bulk
 * there, a null array on timeout), else `onTimeout`, as Redis does.
 */
export class Block {
  constructor(
    readonly keys: readonly string[],
    readonly timeoutMs: number,
    readonly onTimeout: Reply,
    readonly retryArgs?: string[],
    readonly inTransaction?: Reply,
  ) {}
}

/**
 * Parses a blocking command's timeout in seconds (a double, as Redis 6+): ms, 0 = forever.
 * Errors are Redis's.
 */
export function timeoutArg(s: string): number {
  // Redis reads the timeout as a long double, hexadecimal included.
  const n = /^[+-]?0x[0-9a-f]+$/i.test(s)
    ? (s[0] === "-" ? -1 : 1) * Number(s.replace(/^[+-]/, ""))
    : parseFloatArg(s);
  if (n === null || !Number.isFinite(n)) fail(err("ERR timeout is not a float or out of range"));
  if (n < 0) fail(err("ERR timeout is negative"));
  const ms = Math.ceil(n * 1000);
  if (ms > 2 ** 52) fail(err("ERR timeout is out of range"));
  return ms;
}

/** The live state of `key` in the selected db (expired keys are absent). */
export function getKey(ctx: Ctx, key: string, db = ctx.db): KeyState | undefined {
  const ks = ctx.batch.get(db, key);
  if (ks !== undefined && !ctx.client.noTouch) ks.accessMs = ctx.batch.nowMs;
  return ks;
}

/**
 * The value of `key` if it holds `type`, undefined when absent; WRONGTYPE otherwise.
 * Counts keyspace hits and misses as Redis does for lookups by read commands.
 */
export function getTyped<S>(ctx: Ctx, key: string, type: Reducer<S>, db = ctx.db): S | undefined {
  const ks = ctx.batch.get(db, key);
  if (ks === undefined) {
    ctx.engine.stats.keyspaceMisses++;
    return undefined;
  }
  if (ks.type !== type) fail(E.wrongType);
  ctx.engine.stats.keyspaceHits++;
  if (!ctx.client.noTouch) ks.accessMs = ctx.batch.nowMs;
  return ks.value as S;
}

/** Applies an op to `key` now (the effect is sealed when the command or transaction ends). */
export function write(ctx: Ctx, key: string, op: Op, db = ctx.db): void {
  ctx.batch.write(db, key, op);
  ctx.face.touched(db, key);
}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const INT_RE = /^-?(0|[1-9][0-9]*)$/;

/**
 * Parses a Redis integer (string2ll: optional minus, no leading zeros, no spaces, no plus) into a
 * number when it is a safe integer, else a bigint; null when it is not an int64.
 */
export function parseInt64(s: string): number | bigint | null {
  if (s.length === 0 || s.length > 20 || !INT_RE.test(s) || s === "-0") return null;
  if (s.length < 16) return Number(s);
  const b = BigInt(s);
  if (b < I64_MIN || b > I64_MAX) return null;
  return Number.isSafeInteger(Number(b)) ? Number(b) : b;
}

/** Parses an int64 argument or answers "value is not an integer or out of range". */
export function intArg(s: string, e: ErrorReply = E.notInt): number | bigint {
  const n = parseInt64(s);
  if (n === null) fail(e);
  return n;
}

/** Like `intArg` but the result must fit a JS safe integer (counts, indexes, times). */
export function safeIntArg(s: string, e: ErrorReply = E.notInt): number {
  const n = parseInt64(s);
  if (n === null) fail(e);
  if (typeof n === "bigint") {
    // Out of safe range but a valid int64: clamp; callers treat such values as huge.
    return n < 0n ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  }
  return n;
}

/** True when `n` is an int64 (number or bigint) within [-(2^63), 2^63-1]. */
export function isInt64(n: bigint): boolean {
  return n >= I64_MIN && n <= I64_MAX;
}

/** Normalizes a bigint result to a number when it is safe. */
export function normInt(n: bigint): number | bigint {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

/**
 * Parses a Redis float argument (strtold-like: decimal, exponent, inf/-inf/+inf; no trailing
 * junk, no spaces, not NaN). Returns null when invalid.
 */
export function parseFloatArg(s: string): number | null {
  if (s.length === 0 || s.length > 5000) return null;
  const l = s.toLowerCase();
  if (l === "inf" || l === "+inf" || l === "infinity" || l === "+infinity") return Infinity;
  if (l === "-inf" || l === "-infinity") return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) return null;
  const n = Number(s);
  return Number.isNaN(n) ? null : n;
}

/**
 * A SCAN-family cursor as Redis accepts it: an unsigned decimal up to 2^64-1 (optional "+", leading
 * zeros); one beyond the safe integers reads as the largest safe one (past every real position).
 */
export function scanCursor(s: string): number {
  const m = /^\+?([0-9]+)$/.exec(s);
  if (m === null) fail(E.cursor);
  const digits = m[1];
  if (digits.length > 15) {
    if (BigInt(digits) > 2n ** 64n - 1n) fail(E.cursor);
    return Number.MAX_SAFE_INTEGER;
  }
  return Number(digits);
}

/** Uppercases an option argument (ASCII) for matching. */
export function upper(s: string): string {
  return s.toUpperCase();
}

/**
 * Formats a double the way Redis replies with one as a bulk string (INCRBYFLOAT and friends use
 * up to 17 significant digits without trailing zeros and no exponent for ordinary values).
 */
export function formatDouble(n: number): string {
  if (n === Infinity) return "inf";
  if (n === -Infinity) return "-inf";
  if (Object.is(n, -0)) return "-0";
  return String(n);
}

/** A random integer in [0, n), from the engine's environment. */
export function randomIndex(ctx: Ctx, n: number): number {
  return Math.min(n - 1, Math.floor(ctx.engine.env.random() * n));
}

/** `count` distinct random indexes of [0, n) (0 < count < n), in random order. */
export function sampleIndexes(ctx: Ctx, n: number, count: number): number[] {
  if (count * 3 > n) {
    // Many of them: a partial Fisher-Yates shuffle.
    const a = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < count; i++) {
      const j = i + randomIndex(ctx, n - i);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    a.length = count;
    return a;
  }
  // Few of them: draw until enough distinct ones came up.
  const seen = new Set<number>();
  while (seen.size < count) seen.add(randomIndex(ctx, n));
  return [...seen];
}

/** SINTERCARD's and ZINTERCARD's `[LIMIT limit]` from `args[from]` on: 0 = no limit. */
export function cardLimit(args: string[], from: number): number {
  let limit = 0;
  for (let j = from; j < args.length; j++) {
    if (upper(args[j]) !== "LIMIT" || j + 1 >= args.length) fail(E.syntax);
    const l = parseInt64(args[++j]);
    if (l === null || l < 0) fail(E.limitNegative);
    limit = typeof l === "bigint" ? Number.MAX_SAFE_INTEGER : l;
  }
  return limit;
}
