/**
 * WAIT and WAITAOF: how many other members hold this connection's last write.
 *
 * Swytch has no replicas; every member receives every write over its session. A member
 * acknowledges an effect when its status (sent every heartbeat) says it has logged it durably,
 * so WAIT and WAITAOF count the same members, and the count lags by up to one heartbeat. The
 * write is the last one this connection made on the local path (`Client.lastWrite`); a
 * connection that wrote nothing waits for nothing and gets the number of other members.
 */
import type { Ctx, Handler } from "./command.ts";
import { Deferred, fail, parseInt64 } from "./command.ts";
import { E, err, type Reply } from "./reply.ts";

/** How often a waiting WAIT looks at the members' statuses again. */
const POLL_MS = 10;

const E_TIMEOUT_NEGATIVE = err("ERR timeout is negative");
const E_AOF_OFF = err("ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.");

/** Parses WAIT's millisecond timeout (an integer; 0 = forever). */
function msArg(s: string): number {
  const n = parseInt64(s);
  if (n === null) fail(err("ERR timeout is not an integer or out of range"));
  if (n < 0) fail(E_TIMEOUT_NEGATIVE);
  return Number(n);
}

/** Members other than this one that hold the client's last write right now. */
function acked(ctx: Ctx): number {
  const cluster = ctx.face.cluster;
  if (cluster === null || !cluster.multiNode()) return 0;
  const last = ctx.client.lastWrite;
  if (last === null) return Number(cluster.info()["members"] ?? 1) - 1;
  return cluster.acknowledgedBy(last.w, last.seq);
}

/** True when this node's log holds the client's last write durably. */
function localDurable(ctx: Ctx): boolean {
  if (!ctx.face.config.appendonly) return false;
  const last = ctx.client.lastWrite;
  if (last === null) return true;
  return (ctx.engine.durableHave().get(last.w) ?? 0) >= last.seq;
}

/** Polls `ready` until it holds or `timeoutMs` (0 = forever) passes, then answers `value()`. */
function waitFor(ctx: Ctx, timeoutMs: number, ready: () => boolean, value: () => Reply): Deferred {
  const env = ctx.engine.env;
  return new Deferred((reply) => {
    const deadline = timeoutMs === 0 ? Infinity : env.monotonicMs() + timeoutMs;
    const check = () => {
      if (ctx.client.closed) return;
      if (ready() || env.monotonicMs() >= deadline) return reply(value());
      env.setTimer(Math.min(POLL_MS, Math.max(1, deadline - env.monotonicMs())), check);
    };
    check();
  });
}

/** WAIT numreplicas timeout */
const wait: Handler = (ctx, args) => {
  const want = parseInt64(args[1]);
  if (want === null) fail(E.notInt);
  const timeoutMs = msArg(args[2]);
  if (ctx.nested === true || acked(ctx) >= want) return acked(ctx);
  return waitFor(ctx, timeoutMs, () => acked(ctx) >= want, () => acked(ctx));
};

/** WAITAOF numlocal numreplicas timeout */
const waitaof: Handler = (ctx, args) => {
  const local = parseInt64(args[1]);
  const want = parseInt64(args[2]);
  if (local === null || want === null) fail(E.notInt);
  const timeoutMs = msArg(args[3]);
  if (local < 0 || want < 0) fail(E.positive);
  if (local > 0 && !ctx.face.config.appendonly) fail(E_AOF_OFF);
  const value = (): Reply => [localDurable(ctx) ? 1 : 0, acked(ctx)];
  const ready = () => (local === 0 || localDurable(ctx)) && acked(ctx) >= want;
  if (ctx.nested === true || ready()) return value();
  return waitFor(ctx, timeoutMs, ready, value);
};

/** WAIT and WAITAOF, keyed by lower-case command name. */
export const waitCommands: Record<string, Handler> = { wait, waitaof };
