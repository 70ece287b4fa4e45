/**
 * The engine of one node: clock, effect ids, keyspace, folding, stability, the log, recovery.
 *
 * Synchronous and sans-IO: every input is a method call, every output goes through `Env`.
 * The faces run commands through `Batch`es: a batch applies ops to local state as the command
 * plans (so the command reads its own writes and the reply reflects local state), then `commit`
 * seals one effect per key written (one group, one log record) and says when it is durable.
 */
import { decodeRecord, decodeValue, encodeBatch, encodeEpoch, encodeValue } from "./codec.ts";
import { type Effect, type EffectId, type EpochEffect, type EpochOp, type Op, Writer } from "./effect.ts";
import type { Env } from "./env.ts";
import { applyEffect, applyOp, depsApplied, insertEffect, isApplied, pruneLog } from "./fold.ts";
import { Hlc, hlcMs } from "./hlc.ts";
import { Db, type DeadlineEntry, DeadlineIndex, KeyState } from "./keyspace.ts";
import { type Reducer, ReducerRegistry } from "./reducer.ts";

export type AppendFsync = "always" | "everysec" | "no";

export interface EngineOptions {
  reducers: readonly Reducer<any>[];
  /** Number of databases (SELECT 0..n-1). */
  databases?: number;
  appendfsync?: AppendFsync;
  /**
   * The subscribers of every key besides this node. Empty (a cluster of one): every effect is
   * stable as soon as it is applied. Non-empty: effects stay unstable until acknowledged.
   */
  peers?: readonly string[];
  /** Test-only: release replies before the fsync under `always` (the simulator's planted bug). */
  plantedBugReplyBeforeFsync?: boolean;
}

/**
 * Accounted per-key overhead beside the key and value bytes: the KeyState (64 B in JSC), its Map
 * entry and scan slot, and the two string headers; measured with bun:jsc heapStats (docs/design.md).
 */
export const KEY_OVERHEAD_BYTES = 160;
/** Largest number of effects held waiting for their deps before the engine refuses more. */
export const MAX_HELD_EFFECTS = 1_000_000;
/** The log grows to at least this before an automatic checkpoint compacts it. */
export const AUTO_CHECKPOINT_MIN_BYTES = 64 * 1024 * 1024;
/** Keys expired per active-expiry cycle at most, so one cycle never stalls the loop. */
const EXPIRE_BATCH = 2000;

/** Counters reported by INFO. */
export interface EngineStats {
  expiredKeys: number;
  keyspaceHits: number;
  keyspaceMisses: number;
  effectsApplied: number;
  effectsReceived: number;
  reorders: number;
  logRecords: number;
  fsyncs: number;
}

/** What recovery did. */
export interface RecoveryReport {
  nodeId: string;
  incarnation: number;
  keysLoaded: number;
  recordsReplayed: number;
  truncated: string | null;
}

export class Engine {
  readonly env: Env;
  readonly registry: ReducerRegistry;
  readonly dbs: Db[];
  readonly hlc: Hlc;
  readonly appendfsync: AppendFsync;
  readonly stats: EngineStats = {
    expiredKeys: 0,
    keyspaceHits: 0,
    keyspaceMisses: 0,
    effectsApplied: 0,
    effectsReceived: 0,
    reorders: 0,
    logRecords: 0,
    fsyncs: 0,
  };
  readonly #peers: readonly string[];
  readonly #subscribers: readonly string[];
  readonly #plantedBug: boolean;
  #writer: Writer | null = null;
  #seq = 0;
  readonly #deadlines = new DeadlineIndex();
  /** Received effects (or whole groups) waiting for deps or group members. */
  #held: Effect[][] = [];
  #heldIds = new Set<string>();
  #partialGroups = new Map<string, Effect[]>();
  #heldCount = 0;
  #closed = false;
  /** The batch being planned (batches never interleave: a command runs to its commit). */
  #open: Batch | null = null;
  #syncWaiters: (() => void)[] = [];
  #syncInFlight = false;
  #lastSave = 0;
  #saving = false;
  #saveWaiters: ((error?: string) => void)[] = [];
  #changesSinceSave = 0;
  #expireTimer: unknown = null;
  #everysecTimer: unknown = null;
  #housekeepingTimer: unknown = null;
  /** Bytes of the last checkpoint: the log may grow to twice that (at least 64 MiB) before the next. */
  #lastCheckpointBytes = 0;

  constructor(env: Env, opts: EngineOptions) {
    this.env = env;
    this.registry = new ReducerRegistry(opts.reducers);
    this.dbs = Array.from({ length: opts.databases ?? 16 }, () => new Db());
    this.hlc = new Hlc(() => env.wallMs());
    this.appendfsync = opts.appendfsync ?? "everysec";
    this.#peers = opts.peers ?? [];
    this.#subscribers = ["self", ...this.#peers];
    this.#plantedBug = opts.plantedBugReplyBeforeFsync ?? false;
  }

  /** This node's current writer (node id and incarnation); set by `open`. */
  get writer(): Writer {
    if (this.#writer === null) throw new Error("engine not open");
    return this.#writer;
  }

  /** Loads the checkpoint, replays the log, and starts a new incarnation (fsynced). */
  open(): RecoveryReport {
    const stored = this.env.storage.load();
    const nodeId = stored.meta?.nodeId ?? randomNodeId(this.env);
    const incarnation = (stored.meta?.incarnation ?? 0) + 1;
    this.env.storage.writeMeta({ nodeId, incarnation });
    this.#writer = Writer.of(nodeId, incarnation);
    let keysLoaded = 0;
    if (stored.checkpoint !== null) keysLoaded = this.#loadCheckpoint(stored.checkpoint);
    for (const payload of stored.records) {
      const rec = decodeRecord(payload);
      if (rec.kind === "batch") this.#replay(rec.effects);
      else this.#applyEpoch(rec.effect);
    }
    const truncated = stored.truncated === null
      ? null
      : `${stored.truncated.segment}@${stored.truncated.offset}: ${stored.truncated.reason}`;
    if (truncated !== null) this.env.log("warn", "log tail truncated", { at: truncated });
    this.#lastSave = Math.floor(this.env.wallMs() / 1000);
    this.#scheduleExpire();
    if (this.appendfsync === "everysec" && this.env.storage.durable) this.#scheduleEverysec();
    if (this.env.storage.durable) this.#scheduleHousekeeping();
    return { nodeId, incarnation, keysLoaded, recordsReplayed: stored.records.length, truncated };
  }

  /** Stops timers and flushes the log (durably when `sync`), then calls `done`. */
  close(done: () => void): void {
    if (this.#expireTimer !== null) this.env.clearTimer(this.#expireTimer);
    if (this.#everysecTimer !== null) this.env.clearTimer(this.#everysecTimer);
    if (this.#housekeepingTimer !== null) this.env.clearTimer(this.#housekeepingTimer);
    this.#expireTimer = this.#everysecTimer = this.#housekeepingTimer = null;
    this.#closed = true;
    if (!this.env.storage.durable) return done();
    // This sync covers every record, including those whose group commit had not run yet.
    this.env.storage.sync(() => {
      const waiters = this.#syncWaiters;
      this.#syncWaiters = [];
      for (const w of waiters) w();
      done();
    });
  }

  // ---------------------------------------------------------------- reads

  /**
   * The live state of a key at time `nowMs`, or undefined when absent or expired. An expired key
   * whose history is settled is freed here (lazy expiry; no effect is written).
   */
  lookup(db: number, key: string, nowMs: number): KeyState | undefined {
    const d = this.dbs[db];
    const ks = d.map.get(key);
    if (ks === undefined || ks.type === null) return undefined;
    if (ks.deadline !== 0 && ks.deadline <= nowMs) {
      // A key the open batch wrote stays in place (its effect is being built); the fold resets
      // it at the next write anyway, since that write's hlc is past the deadline.
      if (this.#open === null || this.#open._entry(ks) === undefined) this.#expire(db, key, ks);
      return undefined;
    }
    return ks;
  }

  /** Number of keys with a value in `db` (expired ones not yet freed included, as Redis does). */
  dbsize(db: number): number {
    return this.dbs[db].live;
  }

  /** Accounted bytes of all keys. */
  usedBytes(): number {
    let n = 0;
    for (const d of this.dbs) n += d.bytes + d.map.size * KEY_OVERHEAD_BYTES;
    return n;
  }

  /** Keys with a deadline in `db`. */
  expiringKeys(db: number): number {
    return this.dbs[db].expiring;
  }

  // ---------------------------------------------------------------- local writes

  /** Starts a command's batch: one HLC timestamp for its reads and its effects. */
  begin(): Batch {
    return this.#open = new Batch(this, this.hlc.tick());
  }

  /** Applies `op` to `key` inside `batch` (called by Batch.write). */
  _write(batch: Batch, db: number, key: string, op: Op): void {
    const d = this.dbs[db];
    const ks = d.ensure(key);
    let entry = batch._entry(ks);
    const before = this.#measure(ks), beforeDeadline = ks.deadline;
    const withUndo = ks.log !== null || this.#peers.length > 0;
    if (entry === undefined) {
      const e: Effect = {
        w: this.writer,
        seq: ++this.#seq,
        db,
        key,
        deps: ks.tips(),
        hlc: batch.hlc,
        cls: 1,
        group: null,
        ops: [],
      };
      entry = { ks, e, steps: applyEffect(ks, e, this.registry, withUndo) };
      batch._add(entry);
    }
    (entry.e.ops as Op[]).push(op);
    applyOp(ks, entry.e, entry.e.ops.length - 1, this.registry, entry.steps, withUndo);
    this.#account(d, db, key, ks, before, beforeDeadline);
  }

  /** Forgets the open batch (it wrote nothing). */
  _release(batch: Batch): void {
    if (this.#open === batch) this.#open = null;
  }

  /** Seals a batch: one effect per key, one log record; `durable` runs when the policy allows. */
  _commit(batch: Batch, durable: () => void, final = true): void {
    if (final && this.#open === batch) this.#open = null;
    const entries = batch.entries;
    if (entries.length === 0) return batch.epochs > 0 ? this.#durable(durable) : durable();
    const effects: Effect[] = [];
    for (const { e } of entries) effects.push(e);
    if (effects.length > 1) {
      const group = { first: effects[0].seq, size: effects.length };
      for (let i = 0; i < effects.length; i++) {
        if (effects[i].seq !== group.first + i) throw new Error("batch seqs not consecutive");
        (effects[i] as { group: unknown }).group = group;
      }
    }
    if (this.env.storage.durable) {
      this.env.storage.append(encodeBatch(effects));
      this.stats.logRecords++;
    }
    for (const entry of entries) this.#settleLocal(entry.ks, entry.e, entry.steps);
    this.stats.effectsApplied += effects.length;
    this.#changesSinceSave += effects.length;
    this.#durable(durable);
  }

  /** A local effect just applied: stable at once in a cluster of one, else kept for acks. */
  #settleLocal(ks: KeyState, e: Effect, steps: unknown[]): void {
    if (ks.log === null && this.#peers.length === 0) {
      // A cluster of one receives nothing, so it needs no version vector to tell what it has:
      // the new effect covers every tip and becomes the key's only one.
      ks.setTips([e]);
      ks.vv = null;
      if (ks.type === null) this.#dropIfSettled(e.db, e.key, ks);
      return;
    }
    if (ks.log === null) {
      ks.pinVv();
      ks.log = [];
    }
    ks.log.push({ e, steps });
    ks.setTips([e]);
    this.#stabilize(ks, e.db, e.key);
    if (ks.type === null) this.#dropIfSettled(e.db, e.key, ks);
  }

  /**
   * The nodes that hold `key` and must acknowledge its effects before they are stable. Every
   * send and every stability decision goes through here; today every member holds every key.
   */
  subscribers(_db: number, _key: string): readonly string[] {
    return this.#subscribers;
  }

  /**
   * Folds the stable prefix of a key's log into its base: the effects every subscriber has
   * acknowledged. This node acknowledges what it applied, so a cluster of one folds everything;
   * with peers, acknowledgements arrive with the peer sessions (cluster issue) and nothing is
   * pruned before them.
   */
  #stabilize(ks: KeyState, db: number, key: string): void {
    if (ks.log !== null && this.subscribers(db, key).length === 1) pruneLog(ks, ks.log.length);
  }

  #durable(done: () => void): void {
    if (!this.env.storage.durable || this.appendfsync !== "always") return done();
    if (this.#plantedBug) {
      done();
      done = () => {};
    }
    this.#syncWaiters.push(done);
    if (this.#syncInFlight) return;
    // Group commit: one sync per turn covers every record appended before it. The simulator
    // may delay it, so more commands pile up behind one fsync.
    this.#syncInFlight = true;
    const delay = this.env.buggify("engine.group-commit-delay") ? 1 + Math.floor(this.env.random() * 20) : 0;
    this.env.setTimer(delay, () => this.#syncNow());
  }

  #syncNow(): void {
    if (this.#closed) return;
    const waiters = this.#syncWaiters;
    this.#syncWaiters = [];
    this.stats.fsyncs++;
    this.env.storage.sync(() => {
      this.#syncInFlight = false;
      for (const w of waiters) w();
      if (this.#syncWaiters.length > 0) {
        this.#syncInFlight = true;
        this.#syncNow();
      }
    });
  }

  /** Checkpoints on its own when the log outgrows the last checkpoint (like AOF auto-rewrite). */
  #scheduleHousekeeping(): void {
    this.#housekeepingTimer = this.env.setTimer(1000, () => {
      const limit = Math.max(AUTO_CHECKPOINT_MIN_BYTES, 2 * this.#lastCheckpointBytes);
      if (!this.#saving && this.env.storage.logBytes() > limit) {
        this.checkpoint((error) => {
          if (error !== undefined) this.env.log("error", "automatic checkpoint failed", { error });
        });
      }
      this.#scheduleHousekeeping();
    });
  }

  #scheduleEverysec(): void {
    this.#everysecTimer = this.env.setTimer(1000, () => {
      this.stats.fsyncs++;
      this.env.storage.sync(() => {});
      this.#scheduleEverysec();
    });
  }

  // ---------------------------------------------------------------- keyspace-wide effects

  /** FLUSHALL, FLUSHDB or SWAPDB as one effect (called by Batch.epoch). */
  _epoch(op: EpochOp): void {
    const e: EpochEffect = { w: this.writer, seq: ++this.#seq, hlc: this.hlc.tick(), op };
    if (this.env.storage.durable) {
      this.env.storage.append(encodeEpoch(e));
      this.stats.logRecords++;
    }
    this.#applyEpoch(e);
    this.#changesSinceSave++;
  }

  #applyEpoch(e: EpochEffect): void {
    this.hlc.observe(e.hlc);
    const op = e.op;
    if (op[0] === "flushall" || op[0] === "flushdb") {
      if (op[0] === "flushall") { for (const d of this.dbs) d.clear(); }
      else this.dbs[op[1]].clear();
      // The index must not keep the flushed values alive: drop its entries now (heap-sized work).
      this.#deadlines.compact((x) => this.#indexed(x));
    } else {
      const [, a, b] = op;
      const t = this.dbs[a];
      this.dbs[a] = this.dbs[b];
      this.dbs[b] = t;
      this.#deadlines.swapDbs(a, b);
    }
  }

  // ---------------------------------------------------------------- remote effects

  /**
   * Takes an effect from elsewhere (a peer, or the log at recovery). Duplicates are ignored;
   * effects whose deps (or group members) are missing are held until they arrive.
   * Returns false when the effect was refused because too many are held.
   */
  receive(e: Effect): boolean {
    this.hlc.observe(e.hlc);
    this.stats.effectsReceived++;
    const ks = this.dbs[e.db].map.get(e.key);
    const id = `${e.w.key}:${e.seq}`;
    if ((ks !== undefined && isApplied(ks, e)) || this.#heldIds.has(id)) return true;
    if (this.#heldCount >= MAX_HELD_EFFECTS) return false;
    let unit: Effect[] = [e];
    if (e.group !== null) {
      const gid = `${e.w.key}:${e.group.first}`;
      const members = this.#partialGroups.get(gid) ?? [];
      members.push(e);
      this.#heldIds.add(id);
      this.#heldCount++;
      if (members.length < e.group.size) {
        this.#partialGroups.set(gid, members);
        return true;
      }
      this.#partialGroups.delete(gid);
      unit = members;
      for (const m of members) this.#heldIds.delete(`${m.w.key}:${m.seq}`);
      this.#heldCount -= members.length;
    }
    if (!this.#tryApply(unit)) {
      this.#held.push(unit);
      for (const m of unit) this.#heldIds.add(`${m.w.key}:${m.seq}`);
      this.#heldCount += unit.length;
      return true;
    }
    this.#drainHeld();
    return true;
  }

  /** Applies a unit when every member's deps are applied. */
  #tryApply(unit: Effect[]): boolean {
    for (const e of unit) {
      const ks = this.dbs[e.db].map.get(e.key);
      if (e.deps.length > 0 && (ks === undefined || !depsApplied(ks, e))) return false;
    }
    for (const e of unit) {
      const d = this.dbs[e.db];
      const ks = d.ensure(e.key);
      if (isApplied(ks, e)) continue;
      const before = this.#measure(ks), beforeDeadline = ks.deadline;
      this.stats.reorders += insertEffect(ks, e, this.registry);
      this.stats.effectsApplied++;
      this.#stabilize(ks, e.db, e.key);
      this.#account(d, e.db, e.key, ks, before, beforeDeadline);
      if (ks.type === null) this.#dropIfSettled(e.db, e.key, ks);
    }
    return true;
  }

  #drainHeld(): void {
    let progress = true;
    while (progress && this.#held.length > 0) {
      progress = false;
      const still: Effect[][] = [];
      for (const unit of this.#held) {
        if (this.#tryApply(unit)) {
          for (const m of unit) this.#heldIds.delete(`${m.w.key}:${m.seq}`);
          this.#heldCount -= unit.length;
          progress = true;
        } else {
          still.push(unit);
        }
      }
      this.#held = still;
    }
  }

  /** Effects received but not applied yet (waiting for deps or group members). */
  heldCount(): number {
    return this.#heldCount;
  }

  /** Replays our own logged effects at recovery: applied in log order, stable at once. */
  #replay(effects: Effect[]): void {
    for (const e of effects) {
      this.hlc.observe(e.hlc);
      const d = this.dbs[e.db];
      const ks = d.ensure(e.key);
      if (isApplied(ks, e)) continue;
      const before = this.#measure(ks), beforeDeadline = ks.deadline;
      applyEffect(ks, e, this.registry, false);
      this.#account(d, e.db, e.key, ks, before, beforeDeadline);
      if (this.#peers.length === 0) {
        ks.setTips([e]);
        ks.vv = null;
      } else {
        if (ks.vv === null && (ks.moreTips !== null || (ks.tipW !== null && ks.tipW !== e.w))) ks.pinVv();
        const tips = ks.tips().filter((t) => !e.deps.some((x) => x.w === t.w && x.seq === t.seq));
        tips.push({ w: e.w, seq: e.seq });
        if (tips.length > 1) ks.pinVv();
        ks.setTips(tips);
        if (ks.vv !== null) ks.raiseBase(e.w, e.seq);
      }
      if (ks.type === null) this.#dropIfSettled(e.db, e.key, ks);
    }
  }

  // ---------------------------------------------------------------- accounting and expiry

  #measure(ks: KeyState): number {
    return ks.type === null ? -1 : ks.bytes;
  }

  /**
   * Adjusts the db's counters after `ks` changed from (`before` bytes or -1 when absent,
   * `beforeDeadline`), and indexes a new deadline.
   */
  #account(d: Db, db: number, key: string, ks: KeyState, before: number, beforeDeadline: number): void {
    const wasLive = before >= 0;
    const isLive = ks.type !== null;
    if (wasLive !== isLive) {
      d.live += isLive ? 1 : -1;
      d.bytes += isLive ? key.length : -key.length;
    }
    d.bytes += (isLive ? ks.bytes : 0) - (wasLive ? before : 0);
    const wasExpiring = wasLive && beforeDeadline !== 0, isExpiring = isLive && ks.deadline !== 0;
    if (wasExpiring !== isExpiring) d.expiring += isExpiring ? 1 : -1;
    if (isExpiring && ks.deadline !== beforeDeadline) this.#deadlines.push(ks.deadline, db, key, ks);
  }

  #dropIfSettled(db: number, key: string, ks: KeyState): void {
    // A cluster of one forgets a deleted key's tips with it; with peers a tombstone stays until
    // the key's history is stable everywhere (the next issue's subscriptions).
    if (ks.type === null && ks.settled() && this.#peers.length === 0) {
      this.dbs[db].drop(key, ks);
    }
  }

  /** Frees an expired key whose history is settled (no effect: every node expires it alike). */
  #expire(db: number, key: string, ks: KeyState): void {
    if (!ks.settled()) return;
    const d = this.dbs[db];
    const before = this.#measure(ks), beforeDeadline = ks.deadline;
    ks.type = null;
    ks.value = undefined;
    ks.deadline = 0;
    this.#account(d, db, key, ks, before, beforeDeadline);
    this.stats.expiredKeys++;
    this.#dropIfSettled(db, key, ks);
    this.onExpired?.(db, key);
  }

  /** Called when a key expires (keyspace notifications hook). */
  onExpired: ((db: number, key: string) => void) | null = null;

  /** One active-expiry pass over due deadlines; returns how many keys it expired. */
  expireCycle(): number {
    const now = this.hlc.nowMs();
    // The simulator may starve active expiry, so reads must expire keys lazily on their own.
    const budget = this.env.buggify("engine.expire-budget") ? 1 : EXPIRE_BATCH;
    let n = 0;
    while (n < budget && this.#deadlines.peek() <= now) {
      const x = this.#deadlines.pop()!;
      if (!this.#indexed(x)) continue;
      this.#expire(x.db, x.key, x.ks);
      n++;
    }
    if (this.#deadlines.size > 1024 && this.#deadlines.size > 4 * this.#expiringTotal()) {
      this.#deadlines.compact((x) => this.#indexed(x));
    }
    return n;
  }

  /** True while an index entry still describes its key (same state object, same deadline). */
  #indexed(x: DeadlineEntry): boolean {
    const ks = x.ks;
    return ks.deadline === x.deadline && ks.type !== null && this.dbs[x.db].map.get(x.key) === ks;
  }

  #expiringTotal(): number {
    let n = 0;
    for (const d of this.dbs) n += d.expiring;
    return n;
  }

  /** Active expiry: a cycle every 100 ms, back to back while a backlog of due keys remains. */
  #scheduleExpire(delay = 100): void {
    this.#expireTimer = this.env.setTimer(delay, () => {
      const n = this.expireCycle();
      this.#scheduleExpire(n >= EXPIRE_BATCH ? 0 : 100);
    });
  }

  // ---------------------------------------------------------------- checkpoints

  /** Unix seconds of the last successful checkpoint (or of the start). */
  lastSave(): number {
    return this.#lastSave;
  }

  /** Writes since the last checkpoint. */
  changesSinceSave(): number {
    return this.#changesSinceSave;
  }

  saving(): boolean {
    return this.#saving;
  }

  /**
   * Writes a checkpoint of every key (folded base, tips, version vector) and drops the log it
   * covers, then calls `done`. Returns false when one was already being written: this one is
   * then written right after it.
   */
  checkpoint(done: (error?: string) => void): boolean {
    if (this.#saving) {
      // One is being written: a new one follows it (it must include what came since).
      this.#saveWaiters.push(done);
      return false;
    }
    if (!this.env.storage.durable) {
      this.#lastSave = Math.floor(this.env.wallMs() / 1000);
      this.#changesSinceSave = 0;
      done();
      return true;
    }
    let bytes: Uint8Array;
    try {
      bytes = this.#encodeCheckpoint();
    } catch (e) {
      done(String((e as Error).message ?? e));
      return true;
    }
    this.#saving = true;
    this.#lastCheckpointBytes = bytes.length;
    const changes = this.#changesSinceSave;
    this.env.storage.checkpoint(bytes, (error) => {
      this.#saving = false;
      if (error === undefined) {
        this.#lastSave = Math.floor(this.env.wallMs() / 1000);
        this.#changesSinceSave -= changes;
      }
      done(error);
      const waiters = this.#saveWaiters;
      this.#saveWaiters = [];
      if (waiters.length > 0) this.checkpoint((e) => waiters.forEach((w) => w(e)));
    });
    return true;
  }

  /**
   * Checkpoint format 2: `[2, hlc, writers, dbs]` where `writers` is a flat `[node, inc, ...]`
   * table and every id is `[writerIndex, seq]`, so a node id is written once, not once per key.
   */
  #encodeCheckpoint(): Uint8Array {
    const writers: unknown[] = [];
    const index = new Map<Writer, number>();
    const ref = (w: Writer): number => {
      let i = index.get(w);
      if (i === undefined) {
        index.set(w, i = index.size);
        writers.push(w.node, w.inc);
      }
      return i;
    };
    const dbs: unknown[] = [];
    this.dbs.forEach((d, db) => {
      const keys: unknown[] = [];
      for (const [key, ks] of d.map) {
        if (!ks.settled()) throw new Error("checkpoint with unstable effects is not supported yet");
        if (ks.type === null) continue;
        const tips: number[] = [];
        for (const t of ks.tips()) tips.push(ref(t.w), t.seq);
        let vv: number[] | null = null;
        if (ks.vv !== null) {
          vv = [];
          for (let i = 0; i < ks.vv.length; i += 2) vv.push(ref(ks.vv[i] as Writer), ks.vv[i + 1] as number);
        }
        keys.push([key, ks.type.type, ks.type.encode(ks.value), ks.deadline, tips, vv]);
      }
      if (keys.length > 0) dbs.push([db, keys]);
    });
    return encodeValue([2, this.hlc.peek(), writers, dbs]);
  }

  #loadCheckpoint(bytes: Uint8Array): number {
    const [version, hlc, flatWriters, dbs] = decodeValue(bytes) as [
      number,
      number,
      unknown[],
      [number, unknown[][]][],
    ];
    if (version !== 2) throw new Error(`checkpoint format ${version} not supported`);
    this.hlc.observe(hlc);
    const writers: Writer[] = [];
    for (let i = 0; i < flatWriters.length; i += 2) {
      writers.push(Writer.of(flatWriters[i] as string, flatWriters[i + 1] as number));
    }
    const ids = (flat: number[]): EffectId[] => {
      const out: EffectId[] = [];
      for (let i = 0; i < flat.length; i += 2) out.push({ w: writers[flat[i]], seq: flat[i + 1] });
      return out;
    };
    let n = 0;
    for (const [db, keys] of dbs) {
      if (db >= this.dbs.length) throw new Error(`checkpoint has db ${db}; start with --databases ${db + 1}`);
      const d = this.dbs[db];
      for (
        const [key, type, enc, deadline, tips, vv] of keys as [
          string,
          string,
          unknown,
          number,
          number[],
          number[] | null,
        ][]
      ) {
        const r = this.registry.forType(type);
        if (r === undefined) throw new Error(`checkpoint has unknown type ${type}`);
        const ks = d.ensure(key);
        ks.type = r;
        ks.value = r.decode(enc);
        ks.deadline = deadline;
        ks.setTips(ids(tips));
        if (vv !== null) {
          ks.vv = [];
          for (const id of ids(vv)) ks.vv.push(id.w, id.seq);
        }
        this.#account(d, db, key, ks, -1, 0);
        n++;
      }
    }
    return n;
  }

  // ---------------------------------------------------------------- state hash and scanning

  /** A deterministic digest of every key's value and deadline (for convergence checks). */
  stateHash(): string {
    const parts: string[] = [];
    this.dbs.forEach((d, db) => {
      const keys = [...d.map.keys()].filter((k) => d.map.get(k)!.type !== null).sort();
      for (const k of keys) {
        const ks = d.map.get(k)!;
        parts.push(
          `${db}\u0000${k}\u0000${ks.type!.type}\u0000${ks.deadline}\u0000${ks.type!.canonical(ks.value)}`,
        );
      }
    });
    return fnv64(parts.join("\u0001"));
  }
}

function randomNodeId(env: Env): string {
  let s = "";
  for (let i = 0; i < 16; i++) s += Math.floor(env.random() * 16).toString(16);
  return s;
}

/** A 64-bit FNV-style digest of a string as 16 hex chars (state hashes; not cryptographic). */
export function fnv64(s: string): string {
  let h1 = 0x811c9dc5, h2 = 0x01000193;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0;
  }
  return h1.toString(16).padStart(8, "0") + h2.toString(16).padStart(8, "0");
}

/** A key's effect being built by a batch, with its undo steps. */
export interface BatchEntry {
  ks: KeyState;
  e: Effect;
  steps: unknown[];
}

/** Entries a batch finds by linear scan before it builds an index (most commands write one key). */
const BATCH_SCAN_MAX = 8;

/**
 * One command's (or one MULTI's) writes on the local path. Reads go through `get` so the command
 * sees the batch's own writes and one clock reading.
 */
export class Batch {
  /** Per key written, in write order: the effect being built and its undo steps. */
  entries: BatchEntry[] = [];
  #index: Map<KeyState, BatchEntry> | null = null;

  /** The entries by key (for tests and tools; the engine uses `_entry`). */
  get effects(): Map<KeyState, BatchEntry> {
    return new Map(this.entries.map((x) => [x.ks, x]));
  }

  /** The entry of `ks`, if the batch wrote it. */
  _entry(ks: KeyState): BatchEntry | undefined {
    if (this.#index !== null) return this.#index.get(ks);
    for (const x of this.entries) if (x.ks === ks) return x;
    return undefined;
  }

  _add(entry: BatchEntry): void {
    this.entries.push(entry);
    if (this.#index !== null) this.#index.set(entry.ks, entry);
    else if (this.entries.length > BATCH_SCAN_MAX) this.#index = new Map(this.entries.map((x) => [x.ks, x]));
  }

  constructor(readonly engine: Engine, readonly hlc: number) {}

  /** The batch's notion of now, in ms: what expiry is judged against. */
  get nowMs(): number {
    return hlcMs(this.hlc);
  }

  /** The live state of a key, or undefined. */
  get(db: number, key: string): KeyState | undefined {
    return this.engine.lookup(db, key, this.nowMs);
  }

  /** Applies one op to a key now; the effect is sealed by `commit`. */
  write(db: number, key: string, op: Op): void {
    this.engine._write(this, db, key, op);
  }

  /** Set when the batch ran a keyspace-wide effect (its reply waits for durability too). */
  epochs = 0;

  /** FLUSHDB, FLUSHALL or SWAPDB, applied now as one effect. */
  epoch(op: EpochOp): void {
    if (this.entries.length > 0) {
      // Effects before a flush must be logged before it, so replay folds them in the same order.
      this.engine._commit(this, () => {}, false);
      this.entries = [];
      this.#index = null;
    }
    this.engine._epoch(op);
    this.epochs++;
  }

  /** True while the batch wrote nothing (its reply need not wait for anything). */
  readOnly(): boolean {
    return this.entries.length === 0 && this.epochs === 0;
  }

  /** Ends a batch that wrote nothing (instead of `commit`). */
  release(): void {
    if (this.entries.length > 0 || this.epochs > 0) throw new Error("release of a batch that wrote");
    this.engine._release(this);
  }

  /** Seals the batch; `durable` runs once the log policy allows replying. */
  commit(durable: () => void): void {
    this.engine._commit(this, durable);
  }
}
