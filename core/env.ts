/**
 * The one door between the sans-IO engine and the world.
 *
 * `core/`, `redis/` and `sql/` reach time, randomness, timers, disk and peers only through an
 * `Env`. `net/` implements it for real; `tests/sim/` implements it deterministically, which is
 * what lets the simulator decide every interleaving.
 */
export interface Env {
  /** Monotonic milliseconds (never goes back); for timeouts and durations. */
  monotonicMs(): number;
  /** Wall-clock milliseconds since the epoch (may jump); feeds the HLC and expiry. */
  wallMs(): number;
  /** Uniform in [0, 1). */
  random(): number;
  /** Calls `fn` once after `ms`; returns a handle for `clearTimer`. */
  setTimer(ms: number, fn: () => void): unknown;
  clearTimer(handle: unknown): void;
  /** The node's durable storage. */
  storage: Storage;
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  /** True when the simulator forces the slow path at `site`; always false in production. */
  buggify(site: string): boolean;
}

export type LogLevel = "debug" | "info" | "warn" | "error";

/** What recovery finds on disk. */
export interface StoredState {
  /** The node meta file (id, incarnation), or null on a fresh data dir. */
  meta: NodeMeta | null;
  /** The latest checkpoint's bytes, or null. */
  checkpoint: Uint8Array | null;
  /** Log record payloads after the checkpoint, in append order, CRC-checked. */
  records: Uint8Array[];
  /** Set when a torn or corrupt tail was found and truncated. */
  truncated: { segment: string; offset: number; reason: string } | null;
}

export interface NodeMeta {
  nodeId: string;
  incarnation: number;
  /** Set once the node has been a member of a cluster of more than one (see Engine). */
  clustered?: boolean;
}

/**
 * Append-only log plus checkpoint. Appends are buffered; `sync` makes everything appended so far
 * durable and calls `done` when it is (one fsync serves every append before it: group commit).
 */
export interface Storage {
  /** False for a memory-only node (`--data-dir ""`); then every call is a cheap no-op. */
  readonly durable: boolean;
  load(): StoredState;
  /** Writes and fsyncs the meta file before returning (start-up only). */
  writeMeta(meta: NodeMeta): void;
  /** Buffers one record payload; the storage frames it with length and CRC. */
  append(payload: Uint8Array): void;
  /** Writes buffered records to the OS without waiting for the disk (appendfsync no/everysec). */
  flush(): void;
  /** Makes all appended records durable, then calls `done` on a later turn (memory-only: at once). */
  sync(done: () => void): void;
  /** Replaces the checkpoint with `bytes` and drops the log it covers, then calls `done(error?)`. */
  checkpoint(bytes: Uint8Array, done: (error?: string) => void): void;
  /** Bytes in the log since the last checkpoint. */
  logBytes(): number;
}

/** A storage for memory-only nodes. */
export const noStorage: Storage = {
  durable: false,
  load: () => ({ meta: null, checkpoint: null, records: [], truncated: null }),
  writeMeta: () => {},
  append: () => {},
  flush: () => {},
  sync: (done) => done(),
  checkpoint: (_bytes, done) => done(),
  logBytes: () => 0,
};
