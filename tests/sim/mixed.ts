/**
 * The mixed-type workload's commands (issue 5), shared by the simulator and the fault harness: writes
 * of every data type on keys of their own, mostly coordination-free (hashes with field expiry, sorted
 * sets, list edits, bitmaps, HyperLogLogs, streams, geo, set moves) and a few exclusive ones (ZPOPMIN,
 * LMOVE, SMOVE). Only convergence judges them.
 */

/**
 * The longest field TTL the commands set (ms). A final read of every node's keyspace, which takes
 * its nodes one after another, must start this long after the last write: a field expiring
 * between two nodes' reads would look like a divergence.
 */
export const MIXED_TTL_MAX_MS = 3000;

/** The random source the commands draw their arguments from. */
export interface MixedRng {
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
}

/** Coordination-free (and a few exclusive) writes of every type, on their own keys. */
export const MIXED: readonly ((r: MixedRng) => string[])[] = [
  (r) => ["HSET", "h0", `f${r.int(8)}`, `v${r.int(100)}`],
  (r) => ["HINCRBY", "h0", `n${r.int(3)}`, String(r.range(1, 5))],
  (r) => ["HDEL", "h0", `f${r.int(8)}`],
  (r) => ["HPEXPIRE", "h0", String(r.range(100, MIXED_TTL_MAX_MS)), "FIELDS", "1", `f${r.int(8)}`],
  (r) => ["ZADD", "z0", String(r.range(-50, 50)), `m${r.int(10)}`],
  (r) => ["ZINCRBY", "z0", String(r.range(1, 3)), `m${r.int(10)}`],
  (r) => ["ZREM", "z0", `m${r.int(10)}`],
  (r) => ["ZADD", "z0", "GT", String(r.range(-50, 50)), `m${r.int(10)}`],
  () => ["ZPOPMIN", "z0"],
  (r) => ["LPUSH", "ml0", `v${r.int(10)}`],
  (r) => ["LINSERT", "ml0", r.chance(0.5) ? "BEFORE" : "AFTER", `v${r.int(10)}`, `w${r.int(10)}`],
  (r) => ["LSET", "ml0", String(r.int(3)), `s${r.int(10)}`],
  (r) => ["LREM", "ml0", String(r.range(-1, 1)), `v${r.int(10)}`],
  (r) => ["LTRIM", "ml0", "0", String(r.range(5, 20))],
  (r) => ["LMOVE", "ml0", "ml1", r.chance(0.5) ? "LEFT" : "RIGHT", "RIGHT"],
  (r) => ["SETBIT", "b0", String(r.int(64)), String(r.int(2))],
  (r) => ["BITFIELD", "b1", "INCRBY", "u8", String(8 * r.int(4)), "1"],
  (r) => ["PFADD", "p0", `e${r.int(1000)}`, `e${r.int(1000)}`],
  (r) => ["XADD", "x0", "MAXLEN", "~", "40", "*", "f", `v${r.int(10)}`],
  (r) => ["XTRIM", "x0", "MAXLEN", String(r.range(10, 30))],
  (r) => ["GEOADD", "geo0", String(r.range(-170, 170)), String(r.range(-80, 80)), `m${r.int(10)}`],
  (r) => ["SADD", "s1", `m${r.int(10)}`],
  (r) => ["SREM", "s1", `m${r.int(10)}`],
  (r) => ["SMOVE", "s1", "s2", `m${r.int(10)}`],
  (r) => ["HSETEX", "h1", "PX", String(r.range(100, MIXED_TTL_MAX_MS)), "FIELDS", "1", `f${r.int(4)}`, "v"],
];
