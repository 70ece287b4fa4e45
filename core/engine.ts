/**
 * The engine of one node: clock, effect ids, keyspace, folding, stability, the log, recovery.
 *
 * Synchronous and sans-IO: every input is a method call, every output goes through `Env`.
 * The faces run commands through `Batch`es: a batch applies ops to local state as the command
 * plans (so the command reads its own writes and the reply reflects local state), then `commit`
 * seals one effect per key written (one group, one log record) and says when it is durable.
 */
import {
  type DecodedRecord,
  decodeEffects,
  decodeRecord,
  decodeValue,
  encodeBatch,
  encodeDecision,
  encodeDump,
  encodeEffects,
  encodeEnvelopeState,
  encodeEpoch,
  encodeValue,
  type KeyDump,
  readIds,
  readWriters,
  WriterTable,
} from "./codec.ts";
import {
  decodeBody,
  type EnvelopeBody,
  envelopeId,
  type EnvelopeKey,
  type EnvelopePlan,
} from "./envelope.ts";
import { type Effect, type EffectId, type EpochEffect, type EpochOp, type Op, Writer } from "./effect.ts";
import type { Env } from "./env.ts";
import { applyEffect, applyOp, depsApplied, insertEffect, isApplied, pruneLog, undoSteps } from "./fold.ts";
import { Hlc, hlcFromMs, hlcMs } from "./hlc.ts";
import { Db, type DeadlineEntry, DeadlineIndex, KeyState, type LogEntry } from "./keyspace.ts";
import { type Reducer, ReducerRegistry } from "./reducer.ts";

export type AppendFsync = "always" | "everysec" | "no";

export interface EngineOptions {
  reducers: readonly Reducer<any>[];
  /** Number of databases (SELECT 0..n-1). */
  databases?: number;
  appendfsync?: AppendFsync;
  /**
   * True once the node is part of a cluster (or may become one again): effects stay unstable
   * until every member has them (`setStable`), keys keep version vectors and tombstones, and
   * recovery replays every record as received. False: a cluster of one that never had peers.
   */
  clustered?: boolean;
  /** Effects stamped further than this ahead of the local wall clock are refused (DESIGN.md 2). */
  maxClockOffsetMs?: number;
  /**
   * Most bytes of unstable effects one key may keep (while a member is unreachable nothing
   * becomes stable); writes to a key past it are refused. 0 = no limit.
   */
  maxUnstableBytes?: number;
  /** Test-only: advertise effects as had before they are logged durably (a planted bug). */
  plantedBugAckBeforeLog?: boolean;
  /** Test-only: release replies before the fsync under `always` (the simulator's planted bug). */
  plantedBugReplyBeforeFsync?: boolean;
}

/**
 * Accounted per-key overhead beside the key and value bytes: the KeyState (64 B in JSC), its Map
 * entry and scan slot, and the two string headers; measured with bun:jsc heapStats (docs/design.md).
 */
export const KEY_OVERHEAD_BYTES = 160;
/**
 * Envelope effects have their own writer per node incarnation, `(node, inc + ENVELOPE_INC)`: an
 * envelope takes its seqs when it starts, and one that aborts must not leave a gap in the
 * writer whose effects the node's plain writes chain on (docs/protocol.md).
 */
export const ENVELOPE_INC = 1 << 30;
/** Decided envelopes remembered (late messages about them are answered, not re-voted). */
const MAX_DECIDED = 100_000;
/** Largest number of effects held waiting for their deps before the engine refuses more. */
export const MAX_HELD_EFFECTS = 1_000_000;
/** The log grows to at least this before an automatic checkpoint compacts it. */
export const AUTO_CHECKPOINT_MIN_BYTES = 64 * 1024 * 1024;
/** Keys expired per active-expiry cycle at most, so one cycle never stalls the loop. */
const EXPIRE_BATCH = 2000;
/** How long active expiry waits before looking again at a due key it could not free yet. */
const EXPIRE_RETRY_MS = 1000;
/** How long a node that started over waits before writing its new identity\'s checkpoint again. */
const IDENTITY_RETRY_MS = 500;

/** Default bound on one key's unstable effects (`--max-unstable-bytes`). */
export const DEFAULT_MAX_UNSTABLE_BYTES = 64 * 1024 * 1024;

/** True when `key` keeps more unstable bytes than allowed (its writes are refused until they fold). */
export function overUnstableLimit(engine: Engine, db: number, key: string): boolean {
  const ks = engine.dbs[db].map.get(key);
  return engine.maxUnstableBytes > 0 && ks !== undefined && ks.unstableBytes > engine.maxUnstableBytes;
}

/** Out-of-order seqs remembered per writer at most (beyond, stability waits for a claim). */
const MAX_AHEAD = 100_000;

/** What a node has of one writer: everything up to `upTo`, plus `ahead` out of order. */
interface Have {
  upTo: number;
  ahead: Set<number> | null;
}

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
  /** Received records refused because their clock ran too far ahead of ours. */
  clockRefused: number;
  /** Keys of anti-entropy dumps installed, and those skipped as not installable. */
  dumpsInstalled: number;
  dumpsSkipped: number;
  /** Complete anti-entropy rounds whose claims this node adopted (it holds what the sender held). */
  claimsAdopted: number;
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
  /** See `EngineOptions.maxUnstableBytes`. */
  readonly maxUnstableBytes: number;
  readonly stats: EngineStats = {
    expiredKeys: 0,
    keyspaceHits: 0,
    keyspaceMisses: 0,
    effectsApplied: 0,
    effectsReceived: 0,
    reorders: 0,
    logRecords: 0,
    fsyncs: 0,
    clockRefused: 0,
    dumpsInstalled: 0,
    dumpsSkipped: 0,
    claimsAdopted: 0,
  };
  #clustered: boolean;
  /**
   * Members of the cluster (node ids); set by the replicator. Null until it does: a clustered
   * node then folds nothing (at recovery it cannot know who else must have an effect first).
   */
  #members: readonly string[] | null = null;
  readonly #maxClockOffsetMs: number;
  readonly #plantedAckBeforeLog: boolean;
  /** Per writer: what this node has applied (and appended to its log), contiguously. */
  readonly #have = new Map<Writer, Have>();
  /** `#have` as of the last completed sync: what may be advertised to peers. */
  #synced = new Map<Writer, number>();
  /** Seqs held beyond the contiguous frontier as of the last completed sync (see `durableAhead`). */
  #syncedAhead: [Writer, number][] = [];
  /** Per writer: effects up to this seq are held by every member (set by the replicator). */
  #stable = new Map<Writer, number>();
  /** Keys with unstable effects, so stability sweeps cost what is unstable, not the keyspace. */
  readonly #unstable = new Map<KeyState, { db: number; key: string }>();
  readonly #plantedBug: boolean;
  #writer: Writer | null = null;
  #seq = 0;
  /** Seqs taken by this incarnation's envelopes (their own writer). */
  #envSeq = 0;
  /** Undecided envelopes known here: their latest durable state and the keys they pin. */
  readonly #envelopes = new Map<string, { body: EnvelopeBody; state: Uint8Array }>();
  /** Keys (`${db}\0${key}`) with undecided envelopes: nothing on them is folded meanwhile. */
  readonly #pins = new Map<string, number>();
  /** Recently decided envelopes: id -> committed. */
  readonly #decided = new Map<string, boolean>();
  /** Called when an envelope's outcome is applied here (its own decision or a peer's record). */
  onEnvelopeDecided: ((id: string, committed: boolean) => void) | null = null;
  /** Called when an effect from elsewhere is applied on a key (WATCH). */
  onApplied: ((db: number, key: string) => void) | null = null;
  #deadlines = new DeadlineIndex();
  /** Received effects (or whole groups) waiting for deps or group members. */
  /** Held units by the id of the first dep they miss: applying that effect wakes them. */
  #waiting = new Map<string, Effect[][]>();
  /** Units woken and not yet retried. */
  #ready: Effect[][] = [];
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
    this.#clustered = opts.clustered ?? false;
    this.maxUnstableBytes = opts.maxUnstableBytes ?? DEFAULT_MAX_UNSTABLE_BYTES;
    this.#maxClockOffsetMs = opts.maxClockOffsetMs ?? 500;
    this.#plantedAckBeforeLog = opts.plantedBugAckBeforeLog ?? false;
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
    if (stored.meta?.clustered === true) this.#clustered = true;
    this.env.storage.writeMeta({ nodeId, incarnation, clustered: this.#clustered });
    this.#writer = Writer.of(nodeId, incarnation);
    let keysLoaded = 0;
    if (stored.checkpoint !== null) keysLoaded = this.#loadCheckpoint(stored.checkpoint);
    for (const payload of stored.records) {
      const rec = decodeRecord(payload);
      // A cluster's log holds effects of many writers, received in any order: replay them as
      // received (held until their deps are back), unstable until the members say otherwise.
      if (this.#clustered) this.#applyRecord(rec);
      else if (rec.kind === "batch") this.#replay(rec.effects);
      else if (rec.kind === "epoch") this.#applyEpoch(rec.effect);
    }
    // Whatever this node had is durable now (recovery fsynced the log it replayed).
    this.#synced = this.have();
    this.#syncedAhead = this.ahead();
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
    this.#sync(() => {
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
    const end = ks.end;
    if (end !== 0 && end <= nowMs) {
      // A key the open batch wrote stays in place (its effect is being built); the fold resets
      // it at the next write anyway, since that write's hlc is past the deadline.
      if (this.#open === null || this.#open._entry(ks) === undefined) this.#expire(db, key, ks);
      return undefined;
    }
    return ks;
  }

  /** Keys held in all databases (tombstones included): what anti-entropy compares. */
  keyCount(): number {
    let n = 0;
    for (const d of this.dbs) n += d.map.size;
    return n;
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
    const withUndo = ks.log !== null || this.#clustered;
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
    ks.accessMs = batch.nowMs;
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
    if (this.onRecord !== null) this.onRecord(encodeBatch(effects).slice());
    this.#durable(durable);
  }

  /** A local effect just applied: stable at once in a cluster of one, else kept for acks. */
  #settleLocal(ks: KeyState, e: Effect, steps: unknown[]): void {
    this.#markHave(e.w, e.seq);
    if (ks.log === null && !this.#clustered) {
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
    ks.noteLogged(e);
    ks.setTips([e]);
    this.#stabilize(ks, e.db, e.key);
    if (ks.type === null) this.#dropIfSettled(e.db, e.key, ks);
  }

  /**
   * The nodes that hold `key` and must have its effects before they are stable. Every send and
   * every stability decision goes through here; today every member holds every key.
   */
  subscribers(_db: number, _key: string): readonly string[] {
    return this.#members ?? ["self"];
  }

  /** Sets the membership (node ids; the replicator keeps it current). */
  setMembers(members: readonly string[]): void {
    this.#members = members.length === 0 ? ["self"] : members;
  }

  /**
   * Folds the stable prefix of a key's log into its base: the effects every subscriber has.
   * A cluster of one folds everything at once; a cluster folds what `setStable` says every member
   * has, and remembers the key until then.
   */
  #stabilize(ks: KeyState, db: number, key: string): void {
    const log = ks.log;
    if (log === null) return;
    if (!this.#clustered || (this.#members !== null && this.#members.length <= 1)) {
      pruneLog(ks, log.length);
      this.#unstable.delete(ks);
      return;
    }
    let n = 0;
    if (this.#pins.size === 0 || !this.#pins.has(`${db}\u0000${key}`)) {
      while (n < log.length && log[n].e.seq <= (this.#stable.get(log[n].e.w) ?? 0)) n++;
    }
    pruneLog(ks, n);
    if (ks.log === null) this.#unstable.delete(ks);
    else this.#unstable.set(ks, { db, key });
  }

  /**
   * What every member has, per writer (the replicator's min over the members' advertised
   * frontiers): the effects it covers become stable and are folded into their keys' bases.
   */
  setStable(stable: Map<Writer, number>): void {
    this.#stable = stable;
    for (const [ks, { db, key }] of this.#unstable) {
      if (this.dbs[db].map.get(key) !== ks) {
        this.#unstable.delete(ks);
        continue;
      }
      this.#stabilize(ks, db, key);
    }
  }

  /** The base version vector of a key (what its folded base holds), `[node, inc, seq, ...]`. */
  baseVersion(db: number, key: string): (string | number)[] {
    const ks = this.dbs[db].map.get(key);
    const out: (string | number)[] = [];
    if (ks !== undefined) { for (const [w, seq] of baseVvOf(ks)) out.push(w.node, w.inc, seq); }
    return out;
  }

  /** True when effect (w, seq) of `key` is applied here. */
  hasEffect(db: number, key: string, w: Writer, seq: number): boolean {
    const ks = this.dbs[db].map.get(key);
    return ks !== undefined && isApplied(ks, { w, seq });
  }

  /** What `setStable` last said every member has, per writer. */
  stableFrontier(): ReadonlyMap<Writer, number> {
    return this.#stable;
  }

  /**
   * What this node may claim a peer holds after a round that compared effects up to `cutoff`:
   * its frontier, capped per writer below the first unstable effect stamped after the cutoff.
   */
  claimsAt(cutoff: number): Map<Writer, number> {
    const out = this.have();
    for (const ks of this.#unstable.keys()) {
      for (const x of ks.log ?? []) {
        if (x.e.hlc > cutoff && (out.get(x.e.w) ?? 0) >= x.e.seq) out.set(x.e.w, x.e.seq - 1);
      }
    }
    // An undecided envelope's seqs are here only as its body: a peer adopting the claim would
    // not hold it, so the claim stops below it.
    for (const { body } of this.#envelopes.values()) {
      if ((out.get(body.w) ?? 0) >= body.first) out.set(body.w, body.first - 1);
    }
    return out;
  }

  /** Keys with unstable effects, and how many effects. */
  unstableCounts(): { keys: number; effects: number } {
    let effects = 0;
    for (const ks of this.#unstable.keys()) effects += ks.log?.length ?? 0;
    return { keys: this.#unstable.size, effects };
  }

  /** True once the node keeps what a cluster needs (version vectors, unstable logs, tombstones). */
  get clustered(): boolean {
    return this.#clustered;
  }

  /** Starts a new incarnation now (a removed node rejoining): new effect ids, fsynced first. */
  reincarnate(): void {
    const w = this.writer;
    this.env.storage.writeMeta({ nodeId: w.node, incarnation: w.inc + 1, clustered: this.#clustered });
    this.#writer = Writer.of(w.node, w.inc + 1);
    this.#seq = 0;
    this.#envSeq = 0;
  }

  /**
   * Starts over as a new node (a node that learns it was removed from the cluster): a new node
   * id, incarnation 1, no data; the log and checkpoint are replaced by an empty checkpoint.
   * Returns what the old identity wrote that may exist nowhere else: its own unstable effects
   * (everything it folded, every member had), oldest first, for the caller to write again.
   */
  startAsNewNode(): Effect[] {
    const old = this.writer.node;
    const mine: Effect[] = [];
    for (const ks of this.#unstable.keys()) {
      for (const x of ks.log ?? []) if (x.e.w.node === old && x.e.w.inc < ENVELOPE_INC) mine.push(x.e);
    }
    mine.sort((a, b) => a.hlc - b.hlc || a.seq - b.seq);
    for (let i = 0; i < this.dbs.length; i++) this.dbs[i] = new Db();
    this.#have.clear();
    this.#synced = new Map();
    this.#syncedAhead = [];
    this.#stable = new Map();
    this.#unstable.clear();
    this.#deadlines = new DeadlineIndex();
    this.#waiting = new Map();
    this.#ready = [];
    this.#heldIds.clear();
    this.#partialGroups.clear();
    this.#heldCount = 0;
    this.#envelopes.clear();
    this.#pins.clear();
    this.#decided.clear();
    this.#roundSkipped.clear();
    this.#members = null;
    this.#writer = Writer.of(randomNodeId(this.env), 1);
    this.#seq = 0;
    this.#envSeq = 0;
    // The new identity becomes durable only with its empty checkpoint: a crash before that
    // restarts the old identity with its old data (still removed, so it starts over again). Until
    // then it must write nothing (`identityPending`): what it wrote again under an identity a
    // crash forgets would be written again by the next one.
    this.#identityPending = true;
    this.#checkpointIdentity({ nodeId: this.#writer.node, incarnation: 1, clustered: true });
    return mine;
  }

  /** A node that started over and whose new identity is not durable yet (see startAsNewNode). */
  identityPending(): boolean {
    return this.#identityPending;
  }

  #identityPending = false;

  /** Writes the new identity's empty checkpoint, then its meta; retried until it succeeds. */
  #checkpointIdentity(meta: { nodeId: string; incarnation: number; clustered: boolean }): void {
    this.checkpoint((error) => {
      if (this.#writer?.node !== meta.nodeId) return;
      if (error === undefined) {
        this.env.storage.writeMeta(meta);
        this.#identityPending = false;
        return;
      }
      this.env.log("error", "checkpoint of the new identity failed; retrying", { error });
      this.env.setTimer(IDENTITY_RETRY_MS, () => this.#checkpointIdentity(meta));
    });
  }

  /** Turns a cluster of one into a member of a cluster (the first node joins it); persisted. */
  becomeClustered(): void {
    if (this.#clustered) return;
    this.#clustered = true;
    this.env.storage.writeMeta({ nodeId: this.writer.node, incarnation: this.writer.inc, clustered: true });
  }

  // ---------------------------------------------------------------- envelopes

  /** This incarnation's envelope writer. */
  envelopeWriter(): Writer {
    return Writer.of(this.writer.node, this.writer.inc + ENVELOPE_INC);
  }

  /** Takes `size` consecutive seqs of the envelope writer for a new envelope. */
  reserveEnvelope(size: number): { w: Writer; first: number } {
    const first = this.#envSeq + 1;
    this.#envSeq += size;
    return { w: this.envelopeWriter(), first };
  }

  /**
   * Turns a planned batch into an envelope plan instead of committing it: its writes are undone
   * (an envelope's effects become visible only when it commits) and the plan keeps, per key,
   * the version read and the ops written. Keys read through `batch.get` are in the plan too.
   */
  planEnvelope(batch: Batch): EnvelopePlan {
    if (this.#open === batch) this.#open = null;
    if (batch.epochs > 0) throw new Error("an envelope cannot hold keyspace-wide effects");
    const entries = batch.entries;
    for (let i = entries.length - 1; i >= 0; i--) {
      const { ks, e, steps } = entries[i];
      const d = this.dbs[e.db];
      const before = this.#measure(ks), beforeDeadline = ks.deadline;
      undoSteps(ks, steps);
      this.#account(d, e.db, e.key, ks, before, beforeDeadline);
    }
    if (entries.length > 0) {
      // The batch's effects took the writer's newest seqs; they are given back (no gap).
      if (entries[entries.length - 1].e.seq !== this.#seq) throw new Error("batch seqs are not the newest");
      this.#seq -= entries.length;
    }
    const keys: EnvelopeKey[] = [];
    const written = new Set<string>();
    for (const { ks, e } of entries) {
      written.add(`${e.db}\u0000${e.key}`);
      keys.push({ db: e.db, key: e.key, vv: idsOf(versionOf(ks)), deps: e.deps, ops: e.ops });
      if (ks.type === null) this.#dropIfSettled(e.db, e.key, ks);
    }
    for (const [db, key] of batch.reads ?? []) {
      const id = `${db}\u0000${key}`;
      if (written.has(id)) continue;
      written.add(id);
      keys.push({ db, key, vv: this.versionIds(db, key), deps: null, ops: null });
    }
    return { hlc: batch.hlc, keys };
  }

  /** Everything this node holds of a key, as ids (per writer, the highest seq). */
  versionIds(db: number, key: string): EffectId[] {
    const ks = this.dbs[db].map.get(key);
    return ks === undefined ? [] : idsOf(versionOf(ks));
  }

  /**
   * The keys of an envelope on which this node holds an effect the envelope did not read (an
   * applied effect beyond its version, or one held waiting for deps): it must vote no.
   */
  envelopeStale(keys: readonly EnvelopeKey[]): string[] {
    const out: string[] = [];
    for (const k of keys) {
      const ks = this.dbs[k.db].map.get(k.key);
      if (ks !== undefined && !covers(vvMap(k.vv), versionOf(ks))) out.push(k.key);
      else if (this.#heldCount > 0 && this.#holdsFor(k.db, k.key)) out.push(k.key);
    }
    return out;
  }

  #holdsFor(db: number, key: string): boolean {
    for (const units of this.#waiting.values()) {
      for (const unit of units) for (const e of unit) if (e.db === db && e.key === key) return true;
    }
    for (const members of this.#partialGroups.values()) {
      for (const e of members) if (e.db === db && e.key === key) return true;
    }
    return false;
  }

  /** The outcome of envelope `id` if this node knows it was decided. */
  envelopeDecided(id: string): boolean | undefined {
    return this.#decided.get(id);
  }

  /** Undecided envelopes' latest states (what the envelope module restores after a restart). */
  undecidedEnvelopes(): Uint8Array[] {
    return [...this.#envelopes.values()].map((x) => x.state);
  }

  /**
   * Logs a participant's envelope state; the first one also pins the envelope's keys (nothing
   * on them folds until it is decided) and counts its seqs as held here, so a status naming them
   * makes every peer wait for the envelope before folding what might sort after it. `done` runs
   * once the record is on disk (with `sync`; only the planted bug passes false): votes, promises
   * and acceptances are fsynced before they are sent, whatever --appendfsync says.
   */
  logEnvelope(body: EnvelopeBody, state: Uint8Array, sync: boolean, done: () => void): void {
    if (this.#decided.has(body.id)) return done();
    this.#noteEnvelope(body, state);
    if (!this.env.storage.durable) return done();
    this.env.storage.append(encodeEnvelopeState(state));
    this.stats.logRecords++;
    if (sync) this.#forceSync(done);
    else done();
  }

  #noteEnvelope(body: EnvelopeBody, state: Uint8Array): void {
    if (this.#decided.has(body.id)) return;
    const known = this.#envelopes.get(body.id);
    if (known !== undefined) {
      known.state = state;
      return;
    }
    this.#envelopes.set(body.id, { body, state });
    for (const k of body.keys) {
      const id = `${k.db}\u0000${k.key}`;
      this.#pins.set(id, (this.#pins.get(id) ?? 0) + 1);
    }
    for (let i = 0; i < body.size; i++) this.#markHave(body.w, body.first + i);
  }

  /**
   * Applies an envelope's outcome decided here: a commit's effects as one class-0 record (or,
   * without effects, a decision record), logged and applied; replicated when `broadcast`.
   */
  decideEnvelope(body: EnvelopeBody, committed: boolean, broadcast: boolean): void {
    if (this.#decided.has(body.id)) return;
    const written = body.keys.filter((k) => k.ops !== null);
    let record: Uint8Array;
    if (committed && written.length > 0) {
      const group = written.length > 1 ? { first: body.first, size: written.length } : null;
      const effects = written.map((k, i): Effect => ({
        w: body.w,
        seq: body.first + i,
        db: k.db,
        key: k.key,
        deps: k.deps ?? [],
        hlc: body.hlc,
        cls: 0,
        group,
        ops: k.ops!,
      }));
      record = encodeBatch(effects).slice();
      this.#receiveRecord(effects);
    } else {
      record = encodeDecision({ w: body.w, first: body.first, size: body.size, committed });
      for (let i = 0; i < body.size; i++) this.#markHave(body.w, body.first + i);
    }
    if (this.env.storage.durable) {
      this.env.storage.append(record);
      this.stats.logRecords++;
    }
    if (broadcast && this.onRecord !== null) this.onRecord(record);
    this.#settled(body.id, committed);
  }

  /** An envelope is decided here: unpin its keys (folding resumes) and tell the module. */
  #settled(id: string, committed: boolean): void {
    if (this.#decided.has(id)) return;
    this.#decided.set(id, committed);
    if (this.#decided.size > MAX_DECIDED) this.#decided.delete(this.#decided.keys().next().value!);
    const x = this.#envelopes.get(id);
    if (x !== undefined) {
      this.#envelopes.delete(id);
      for (const k of x.body.keys) {
        const kid = `${k.db}\u0000${k.key}`;
        const n = (this.#pins.get(kid) ?? 1) - 1;
        if (n <= 0) this.#pins.delete(kid);
        else this.#pins.set(kid, n);
        const ks = this.dbs[k.db].map.get(k.key);
        if (ks !== undefined) this.#stabilize(ks, k.db, k.key);
      }
    }
    this.onEnvelopeDecided?.(id, committed);
  }

  /** Syncs the log now (group-committed), whatever the fsync policy. */
  #forceSync(done: () => void): void {
    this.#forcedWaiters.push(done);
    if (this.#forcedInFlight) return;
    this.#forcedInFlight = true;
    this.env.setTimer(0, () => this.#forceSyncNow());
  }

  #forcedWaiters: (() => void)[] = [];
  #forcedInFlight = false;

  #forceSyncNow(): void {
    if (this.#closed) return;
    const waiters = this.#forcedWaiters;
    this.#forcedWaiters = [];
    this.stats.fsyncs++;
    this.#sync(() => {
      this.#forcedInFlight = false;
      for (const w of waiters) w();
      if (this.#forcedWaiters.length > 0) {
        this.#forcedInFlight = true;
        this.#forceSyncNow();
      }
    });
  }

  // ---------------------------------------------------------------- what this node has

  /** Records that effect (w, seq) is applied here; advances w's contiguous frontier. */
  #markHave(w: Writer, seq: number): void {
    let h = this.#have.get(w);
    if (h === undefined) this.#have.set(w, h = { upTo: 0, ahead: null });
    if (seq <= h.upTo) return;
    if (seq !== h.upTo + 1) {
      if (h.ahead === null) h.ahead = new Set();
      // Bounded: a dropped seq only delays stability until a claim or a resend covers it.
      if (h.ahead.size < MAX_AHEAD) h.ahead.add(seq);
      return;
    }
    h.upTo = seq;
    if (h.ahead !== null) {
      while (h.ahead.delete(h.upTo + 1)) h.upTo++;
      if (h.ahead.size === 0) h.ahead = null;
    }
  }

  /**
   * Raises the frontiers to `claims`: this node now holds everything the claimer held up to
   * them (an anti-entropy round installed it).
   */
  #claim(claims: Map<Writer, number>): void {
    for (const [w, upTo] of claims) {
      let h = this.#have.get(w);
      if (h === undefined) this.#have.set(w, h = { upTo: 0, ahead: null });
      if (upTo <= h.upTo) continue;
      h.upTo = upTo;
      if (h.ahead !== null) {
        for (const s of h.ahead) if (s <= upTo) h.ahead.delete(s);
        while (h.ahead.delete(h.upTo + 1)) h.upTo++;
        if (h.ahead.size === 0) h.ahead = null;
      }
    }
  }

  /** Per writer, the contiguous seq this node has applied (in memory; maybe not durable yet). */
  have(): Map<Writer, number> {
    const out = new Map<Writer, number>();
    for (const [w, h] of this.#have) out.set(w, h.upTo);
    return out;
  }

  /**
   * Per writer, what this node has durably logged: what it may advertise, since a member that
   * advertised an effect and lost it in a crash would let the others fold it away too early.
   */
  durableHave(): Map<Writer, number> {
    if (this.#plantedAckBeforeLog || !this.env.storage.durable || this.appendfsync === "no") {
      return this.have();
    }
    return this.#synced;
  }

  /** Effects held beyond each writer's contiguous frontier (received out of order), in memory. */
  ahead(): [Writer, number][] {
    const out: [Writer, number][] = [];
    for (const [w, h] of this.#have) if (h.ahead !== null) { for (const seq of h.ahead) out.push([w, seq]); }
    return out;
  }

  /**
   * `ahead` as of the last sync. A status names these too: a member holding an effect of a
   * writer that crashed before its own log kept it is the only place that effect lives, and
   * nothing that sorts after it may fold anywhere until it is everywhere.
   */
  durableAhead(): [Writer, number][] {
    if (this.#plantedAckBeforeLog || !this.env.storage.durable || this.appendfsync === "no") {
      return this.ahead();
    }
    return this.#syncedAhead;
  }

  /** True when this node holds effect (w, seq). */
  hasSeq(w: Writer, seq: number): boolean {
    const h = this.#have.get(w);
    return h !== undefined && (seq <= h.upTo || (h.ahead?.has(seq) ?? false));
  }

  /** Asks for a sync soon (received effects wait for one before they are advertised). */
  requestSync(): void {
    if (this.env.storage.durable && this.appendfsync === "always") this.#durable(() => {});
  }

  /** `storage.sync` that also records which frontier the sync made durable. */
  #sync(done: () => void): void {
    const snap = this.have(), ahead = this.ahead();
    this.env.storage.sync(() => {
      this.#synced = snap;
      this.#syncedAhead = ahead;
      done();
    });
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
    this.#sync(() => {
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
      this.#sync(() => {});
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
    this.#markHave(e.w, e.seq);
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
    if (ks !== undefined && isApplied(ks, e)) {
      this.#markHave(e.w, e.seq);
      return true;
    }
    if (this.#heldIds.has(id)) return true;
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
      this.#hold(unit);
      return true;
    }
    this.#drainReady();
    return true;
  }

  /**
   * Takes one record's effects (a command's whole group) as one unit: the members already
   * applied here (one came with a dump, say) are skipped, and the rest apply together.
   */
  #receiveRecord(effects: Effect[]): void {
    const unit: Effect[] = [];
    for (const e of effects) {
      this.hlc.observe(e.hlc);
      this.stats.effectsReceived++;
      const ks = this.dbs[e.db].map.get(e.key);
      if (ks !== undefined && isApplied(ks, e)) this.#markHave(e.w, e.seq);
      else if (!this.#heldIds.has(`${e.w.key}:${e.seq}`)) unit.push(e);
    }
    if (unit.length === 0) return;
    if (this.#heldCount + unit.length > MAX_HELD_EFFECTS) {
      throw new Error("too many effects held waiting for their deps");
    }
    if (!this.#tryApply(unit)) this.#hold(unit);
    else this.#drainReady();
  }

  /** Parks a unit under the first dep it misses. */
  #hold(unit: Effect[]): void {
    let missing = "";
    for (const e of unit) {
      const ks = this.dbs[e.db].map.get(e.key);
      const d = e.deps.find((x) => ks === undefined || !isApplied(ks, x));
      if (d !== undefined) {
        missing = `${d.w.key}:${d.seq}`;
        break;
      }
    }
    const list = this.#waiting.get(missing);
    if (list === undefined) this.#waiting.set(missing, [unit]);
    else list.push(unit);
    for (const m of unit) this.#heldIds.add(`${m.w.key}:${m.seq}`);
    this.#heldCount += unit.length;
  }

  /** Retries the units woken by what was just applied (each one costs its own deps, not all held). */
  #drainReady(): void {
    while (this.#ready.length > 0) {
      const unit = this.#ready.pop()!;
      for (const m of unit) this.#heldIds.delete(`${m.w.key}:${m.seq}`);
      this.#heldCount -= unit.length;
      if (!this.#tryApply(unit)) this.#hold(unit);
    }
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
      this.#markHave(e.w, e.seq);
      this.#stabilize(ks, e.db, e.key);
      this.#account(d, e.db, e.key, ks, before, beforeDeadline);
      if (ks.type === null) this.#dropIfSettled(e.db, e.key, ks);
      this.onApplied?.(e.db, e.key);
      const woken = this.#waiting.get(`${e.w.key}:${e.seq}`);
      if (woken !== undefined) {
        this.#waiting.delete(`${e.w.key}:${e.seq}`);
        this.#ready.push(...woken);
      }
    }
    return true;
  }

  /** Retries every held unit (after a dump installed bases, which satisfy deps wholesale). */
  #drainHeld(): void {
    for (const units of this.#waiting.values()) this.#ready.push(...units);
    this.#waiting.clear();
    this.#drainReady();
  }

  /** The first held effects and what each waits for (diagnostics for the simulator and logs). */
  heldSummary(max = 5): string[] {
    const out: string[] = [];
    for (const unit of [...this.#waiting.values()].flat()) {
      for (const e of unit) {
        const ks = this.dbs[e.db].map.get(e.key);
        const missing = e.deps.filter((d) => ks === undefined || !isApplied(ks, d)).map((d) =>
          `${d.w.key}:${d.seq}`
        );
        out.push(`${e.w.key}:${e.seq} ${e.key} waits for ${missing.join(",") || "group members"}`);
        if (out.length >= max) return out;
      }
    }
    for (const [gid, members] of this.#partialGroups) {
      out.push(`group ${gid} has ${members.length}/${members[0].group!.size} members`);
      if (out.length >= max) return out;
    }
    return out;
  }

  /**
   * Drops the held effects (waiting for deps) written by `node`, a node removed from the cluster:
   * its records are not taken any more, so their missing deps may never come. One that some
   * member applied comes back with anti-entropy from that member.
   */
  dropHeldOf(node: string): number {
    let n = 0;
    for (const [dep, units] of this.#waiting) {
      const keep = units.filter((u) => !u.some((e) => e.w.node === node));
      for (const u of units) {
        if (keep.includes(u)) continue;
        for (const e of u) this.#heldIds.delete(`${e.w.key}:${e.seq}`);
        this.#heldCount -= u.length;
        n += u.length;
      }
      if (keep.length === 0) this.#waiting.delete(dep);
      else this.#waiting.set(dep, keep);
    }
    for (const [gid, members] of this.#partialGroups) {
      if (!members.some((e) => e.w.node === node)) continue;
      for (const e of members) this.#heldIds.delete(`${e.w.key}:${e.seq}`);
      this.#heldCount -= members.length;
      n += members.length;
      this.#partialGroups.delete(gid);
    }
    return n;
  }

  /** The effects held units wait for (their first missing dep), with how many effects wait. */
  heldWaits(): { w: Writer; seq: number; effects: number }[] {
    const out: { w: Writer; seq: number; effects: number }[] = [];
    for (const units of this.#waiting.values()) {
      const e = units[0][0];
      const ks = this.dbs[e.db].map.get(e.key);
      const d = e.deps.find((x) => ks === undefined || !isApplied(ks, x));
      if (d !== undefined) out.push({ w: d.w, seq: d.seq, effects: units.reduce((n, u) => n + u.length, 0) });
    }
    return out;
  }

  /** Effects received but not applied yet (waiting for deps or group members). */
  heldCount(): number {
    return this.#heldCount;
  }

  /** Replays a cluster of one's own logged effects at recovery: in log order, stable at once. */
  #replay(effects: Effect[]): void {
    for (const e of effects) {
      this.hlc.observe(e.hlc);
      const d = this.dbs[e.db];
      const ks = d.ensure(e.key);
      if (isApplied(ks, e)) continue;
      const before = this.#measure(ks), beforeDeadline = ks.deadline;
      applyEffect(ks, e, this.registry, false);
      this.#account(d, e.db, e.key, ks, before, beforeDeadline);
      this.#markHave(e.w, e.seq);
      ks.setTips([e]);
      ks.vv = null;
      if (ks.type === null) this.#dropIfSettled(e.db, e.key, ks);
    }
  }

  // ---------------------------------------------------------------- records from peers

  /**
   * Takes a record a peer sent (effects, or an anti-entropy dump): it is appended to the log,
   * then applied. Returns false when it was refused: an effect stamped more than
   * `--max-clock-offset` ahead of our clock (anti-entropy brings it again later).
   */
  ingest(payload: Uint8Array): boolean {
    const rec = decodeRecord(payload);
    const limit = hlcFromMs(this.env.wallMs() + this.#maxClockOffsetMs);
    const effects = rec.kind === "batch"
      ? rec.effects
      : rec.kind === "dump"
      ? rec.keys.flatMap((k) => k.log)
      : [];
    for (const e of effects) {
      if (e.hlc > limit) {
        this.stats.clockRefused++;
        return false;
      }
    }
    if (rec.kind === "dump" && rec.hlc > limit) {
      this.stats.clockRefused++;
      return false;
    }
    if (rec.kind === "epoch") throw new Error("keyspace-wide effects are not replicated");
    if (this.env.storage.durable) {
      this.env.storage.append(payload);
      this.stats.logRecords++;
    }
    this.#applyRecord(rec);
    this.requestSync();
    return true;
  }

  /** Skipped dump keys per sender since its current round started (claims need none). */
  readonly #roundSkipped = new Map<string, boolean>();

  #applyRecord(rec: DecodedRecord): void {
    if (rec.kind === "envelope") {
      return this.#noteEnvelope(decodeBody((decodeValue(rec.state) as unknown[])[0]), rec.state);
    }
    if (rec.kind === "decision") {
      for (let i = 0; i < rec.size; i++) this.#markHave(rec.w, rec.first + i);
      return this.#settled(envelopeId(rec.w, rec.first), rec.committed);
    }
    if (rec.kind === "batch") {
      this.#receiveRecord(rec.effects);
      // A batch of class 0 is a committed envelope: its decision, applied (or held) above.
      const e0 = rec.effects[0];
      if (e0 !== undefined && e0.cls === 0) this.#settled(envelopeId(e0.w, e0.group?.first ?? e0.seq), true);
    } else if (rec.kind === "epoch") {
      this.#applyEpoch(rec.effect);
      this.#markHave(rec.effect.w, rec.effect.seq);
    } else {
      if (rec.roundStart) this.#roundSkipped.set(rec.from, false);
      // A base brings tips whose clocks we never saw: our next write on the key must stamp
      // above them, so take the sender's clock (it is at or above all of them).
      this.hlc.observe(rec.hlc);
      for (const k of rec.keys) {
        if (this.#install(k)) this.stats.dumpsInstalled++;
        else {
          this.stats.dumpsSkipped++;
          this.#roundSkipped.set(rec.from, true);
        }
      }
      this.#drainHeld();
      if (rec.claims !== null && this.#roundSkipped.get(rec.from) === false) {
        const claims = new Map<Writer, number>();
        for (const c of rec.claims) claims.set(c.w, c.seq);
        this.#claim(claims);
        this.stats.claimsAdopted++;
      }
    }
  }

  /**
   * Installs one key of a dump. The receiver keeps everything it has: when it holds the dump's
   * whole base, the dump's unstable effects are received like any; when the dump holds this
   * node's whole base, its base is taken and this node's extra effects are folded on top; when
   * neither holds the other's base, nothing is done (another round, or another peer, settles it).
   */
  #install(k: KeyDump): boolean {
    const d = this.dbs[k.db];
    const ks = d.ensure(k.key);
    const mine = versionOf(ks), theirs = vvMap(k.baseVv);
    for (const e of k.log) raise(theirs, e.w, e.seq);
    if (covers(mine, theirs)) return true;
    if (k.partial && !covers(mine, vvMap(k.baseVv))) return false;
    if (covers(mine, vvMap(k.baseVv))) {
      // Applied one by one: a dump ships keys, not groups, and the group's other keys may be
      // here already (or not shipped at all), so waiting for them could wait forever.
      for (const e of k.log) {
        if (!this.receive(e.group === null ? e : { ...e, group: null })) {
          throw new Error("too many effects held");
        }
      }
      // All of it applied, or this key does not count as installed (its round claims nothing).
      return k.log.every((e) => isApplied(ks, e));
    }
    if (!covers(theirs, baseVvOf(ks))) return false;
    const extras = (ks.log ?? []).filter((x) => (theirs.get(x.e.w) ?? 0) < x.e.seq).map((x) => x.e);
    const before = this.#measure(ks), beforeDeadline = ks.deadline;
    const r = k.type === null ? null : this.registry.forType(k.type);
    if (r === undefined) throw new Error(`dump of unknown type ${k.type}`);
    ks.type = r;
    ks.value = r === null ? undefined : r.decode(k.enc);
    ks.deadline = r === null ? 0 : k.deadline;
    ks.log = null;
    ks.vv = [];
    for (const id of k.baseVv) ks.raiseBase(id.w, id.seq);
    if (k.log.length > 0) {
      const log: LogEntry[] = [];
      for (const e of k.log) log.push({ e, steps: applyEffect(ks, e, this.registry, true) });
      ks.log = log;
    }
    ks.setTips(k.tips);
    for (const e of extras) this.stats.reorders += insertEffect(ks, e, this.registry);
    for (const e of k.log) this.#markHave(e.w, e.seq);
    this.#stabilize(ks, k.db, k.key);
    this.#account(d, k.db, k.key, ks, before, beforeDeadline);
    return true;
  }

  // ---------------------------------------------------------------- anti-entropy

  /**
   * Digest of the keyspace in `buckets` buckets: two 32-bit lanes per bucket, the sum over its
   * keys of a hash of (db, key, version vector). Equal digests mean equal effect sets. Unstable
   * effects stamped after `cutoff` are left out of every comparison: they are most likely still
   * on their way through the sessions, and shipping them again would double the traffic of a
   * busy cluster.
   */
  digest(buckets: number, cutoff = Infinity): Uint32Array {
    const out = new Uint32Array(2 * buckets);
    this.dbs.forEach((d, db) => {
      for (const [key, ks] of d.map) {
        const v = versionOf(ks, cutoff);
        if (v.size === 0) continue;
        const b = bucketOf(db, key, buckets);
        const [h1, h2] = hashPair(`${db}\u0000${key}\u0000${versionText(v)}`);
        out[2 * b] = (out[2 * b] + h1) >>> 0;
        out[2 * b + 1] = (out[2 * b + 1] + h2) >>> 0;
      }
    });
    return out;
  }

  /** Every key in the given buckets with its version vector (`[node, inc, seq, ...]`). */
  versionsIn(
    bucketSet: ReadonlySet<number>,
    buckets: number,
    cutoff = Infinity,
  ): [number, string, (string | number)[]][] {
    const out: [number, string, (string | number)[]][] = [];
    this.dbs.forEach((d, db) => {
      for (const [key, ks] of d.map) {
        if (!bucketSet.has(bucketOf(db, key, buckets))) continue;
        const flat: (string | number)[] = [];
        for (const [w, seq] of versionOf(ks, cutoff)) flat.push(w.node, w.inc, seq);
        if (flat.length > 0) out.push([db, key, flat]);
      }
    });
    return out;
  }

  /**
   * Compares a peer's versions of the keys in `bucketSet` with ours: the keys where we hold
   * effects the peer lacks (to ship), and whether the peer holds any we lack.
   */
  compare(
    peer: readonly [number, string, (string | number)[]][],
    bucketSet: ReadonlySet<number>,
    buckets: number,
    cutoff = Infinity,
  ): { ship: [number, string, Map<Writer, number> | null][]; peerAhead: boolean } {
    const theirs = new Map<string, Map<Writer, number>>();
    let peerAhead = false;
    for (const [db, key, flat] of peer) {
      const m = new Map<Writer, number>();
      for (let i = 0; i < flat.length; i += 3) {
        m.set(Writer.of(flat[i] as string, flat[i + 1] as number), flat[i + 2] as number);
      }
      theirs.set(`${db}\u0000${key}`, m);
      const ks = this.dbs[db]?.map.get(key);
      if (!covers(ks === undefined ? new Map() : versionOf(ks, cutoff), m)) peerAhead = true;
    }
    const ship: [number, string, Map<Writer, number> | null][] = [];
    this.dbs.forEach((d, db) => {
      for (const [key, ks] of d.map) {
        if (!bucketSet.has(bucketOf(db, key, buckets))) continue;
        const mine = versionOf(ks, cutoff);
        const peerHas = theirs.get(`${db}\u0000${key}`) ?? null;
        if (mine.size > 0 && !covers(peerHas ?? new Map(), mine)) ship.push([db, key, peerHas]);
      }
    });
    return { ship, peerAhead };
  }

  /** A dump record of `keys` (see `ingest`), to be sent to a peer. */
  dump(
    keys: readonly [number, string, Map<Writer, number> | null][],
    opts: { from: string; roundStart: boolean; claims: Map<Writer, number> | null; cutoff?: number },
  ): Uint8Array {
    const out: KeyDump[] = [];
    const cutoff = opts.cutoff ?? Infinity;
    for (const [db, key, peerHas] of keys) {
      const ks = this.dbs[db].map.get(key);
      if (ks === undefined) continue;
      if (peerHas !== null && covers(peerHas, baseVvOf(ks))) {
        // The peer holds the whole base: only the unstable effects it lacks travel.
        const log = (ks.log ?? []).map((x) => x.e).filter((e) =>
          e.hlc <= cutoff && (peerHas.get(e.w) ?? 0) < e.seq
        );
        const baseVv: EffectId[] = [];
        for (const [w, seq] of baseVvOf(ks)) baseVv.push({ w, seq });
        out.push({ db, key, type: null, enc: null, deadline: 0, tips: [], baseVv, log, partial: true });
      } else {
        out.push(this.#dumpKey(db, key, ks));
      }
    }
    const claims = opts.claims === null ? null : [...opts.claims].map(([w, seq]) => ({ w, seq }));
    return encodeDump({
      from: opts.from,
      roundStart: opts.roundStart,
      keys: out,
      claims,
      hlc: this.hlc.peek(),
    });
  }

  #dumpKey(db: number, key: string, ks: KeyState): KeyDump {
    const vv: EffectId[] = [];
    for (const [w, seq] of baseVvOf(ks)) vv.push({ w, seq });
    const tips = ks.tips();
    const log = ks.log;
    const base = this.#withBase(ks, () => ({
      type: ks.type === null ? null : ks.type.type,
      enc: ks.type === null ? null : ks.type.encode(ks.value),
      deadline: ks.deadline,
    }));
    return {
      db,
      key,
      ...base,
      tips,
      baseVv: vv,
      log: log === null ? [] : log.map((x) => x.e),
      partial: false,
    };
  }

  /** Runs `fn` on the key's base (its unstable effects undone), then reapplies them. */
  #withBase<T>(ks: KeyState, fn: () => T): T {
    const log = ks.log;
    if (log === null) return fn();
    for (let i = log.length - 1; i >= 0; i--) undoSteps(ks, log[i].steps);
    const out = fn();
    for (const x of log) x.steps = applyEffect(ks, x.e, this.registry, true);
    return out;
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
    // A value that ends by itself before its deadline (a hash whose fields all expire) is indexed too.
    const end = isLive ? ks.end : 0;
    if (end !== 0 && end !== ks.deadline) this.#deadlines.push(end, db, key, ks);
  }

  #dropIfSettled(db: number, key: string, ks: KeyState): void {
    // A cluster of one forgets a deleted key's tips with it; with peers a tombstone stays until
    // the key's history is stable everywhere (the next issue's subscriptions).
    if (ks.type === null && ks.settled() && !this.#clustered) {
      this.dbs[db].drop(key, ks);
    }
  }

  /**
   * In a cluster, the time before which no effect can still arrive from a member (the replicator
   * keeps it: the oldest clock the members last reported). An expired key is freed only before
   * it, so a late effect never lands on a value one node freed and another still has.
   */
  expirySafeMs = Infinity;

  /** Frees an expired key whose history is settled (no effect: every node expires it alike). */
  #expire(db: number, key: string, ks: KeyState): boolean {
    if (!ks.settled()) return false;
    if (this.#clustered && (ks.end >= this.expirySafeMs || this.#heldCount > 0)) return false;
    const d = this.dbs[db];
    const before = this.#measure(ks), beforeDeadline = ks.deadline;
    ks.type = null;
    ks.value = undefined;
    ks.deadline = 0;
    this.#account(d, db, key, ks, before, beforeDeadline);
    this.stats.expiredKeys++;
    this.#dropIfSettled(db, key, ks);
    this.onExpired?.(db, key);
    return true;
  }

  /** Called with every local batch's record (a copy), for the replicator to send. */
  onRecord: ((record: Uint8Array) => void) | null = null;

  /** Called when a key expires (keyspace notifications hook). */
  onExpired: ((db: number, key: string) => void) | null = null;

  /** One active-expiry pass over due deadlines; returns how many keys it expired. */
  expireCycle(): number {
    let now = this.hlc.nowMs();
    if (this.#clustered) now = this.#heldCount > 0 ? 0 : Math.min(now, this.expirySafeMs - 1);
    // The simulator may starve active expiry, so reads must expire keys lazily on their own.
    const budget = this.env.buggify("engine.expire-budget") ? 1 : EXPIRE_BATCH;
    let n = 0;
    const later: DeadlineEntry[] = [];
    while (n < budget && this.#deadlines.peek() <= now) {
      const x = this.#deadlines.pop()!;
      if (!this.#indexed(x)) continue;
      if (this.#expire(x.db, x.key, x.ks)) n++;
      else later.push(x);
    }
    // A key not settled yet (an effect on it is unstable) is looked at again a little later, so
    // it is freed (and DBSIZE stops counting it) without a client having to read it.
    for (const x of later) this.#deadlines.push(x.deadline, x.db, x.key, x.ks, now + EXPIRE_RETRY_MS);
    if (this.#deadlines.size > 1024 && this.#deadlines.size > 4 * this.#expiringTotal()) {
      this.#deadlines.compact((x) => this.#indexed(x));
    }
    return n;
  }

  /** True while an index entry still describes its key (same state object, same deadline). */
  #indexed(x: DeadlineEntry): boolean {
    const ks = x.ks;
    return ks.type !== null && ks.end === x.deadline && this.dbs[x.db].map.get(x.key) === ks;
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
   * Checkpoint format 3: `[3, hlc, writers, dbs, have]`. `writers` is a flat `[node, inc, ...]`
   * table and every id is `[writerIndex, seq]`, so a node id is written once, not once per key.
   * Per key: its base (type, value, deadline), tips, base version vector and unstable effects;
   * `have` is the per-writer frontier with its out-of-order seqs.
   */
  #encodeCheckpoint(): Uint8Array {
    const t = new WriterTable();
    const dbs: unknown[] = [];
    this.dbs.forEach((d, db) => {
      const keys: unknown[] = [];
      for (const [key, ks] of d.map) {
        if (ks.type === null && (!this.#clustered || (ks.tipW === null && ks.log === null))) continue;
        const k = this.#dumpKey(db, key, ks);
        keys.push([
          key,
          k.type,
          k.enc,
          k.deadline,
          t.ids(k.tips),
          ks.vv === null ? null : t.ids(k.baseVv),
          encodeEffects(t, k.log),
        ]);
      }
      if (keys.length > 0) dbs.push([db, keys]);
    });
    const have: unknown[] = [];
    for (const [w, h] of this.#have) have.push(t.ref(w), h.upTo, h.ahead === null ? [] : [...h.ahead]);
    // Effects still waiting for their deps: the records that brought them are dropped with the
    // log this checkpoint covers, so they must live on here.
    const held = [...this.#waiting.values()].flat(2);
    for (const members of this.#partialGroups.values()) held.push(...members);
    const envelopes = [...this.#envelopes.values()].map((x) => x.state);
    return encodeValue([3, this.hlc.peek(), t.flat, dbs, have, encodeEffects(t, held), envelopes]);
  }

  #loadCheckpoint(bytes: Uint8Array): number {
    const [version, hlc, flatWriters, dbs, have, held, envelopes] = decodeValue(bytes) as [
      number,
      number,
      unknown[],
      [number, unknown[][]][],
      unknown[],
      unknown[][] | undefined,
      Uint8Array[] | undefined,
    ];
    // Format 2 (issue 2) is format 3 without unstable effects and frontiers.
    if (version !== 3 && version !== 2) throw new Error(`checkpoint format ${version} not supported`);
    this.hlc.observe(hlc);
    const writers = readWriters(flatWriters);
    let n = 0;
    for (const [db, keys] of dbs) {
      if (db >= this.dbs.length) throw new Error(`checkpoint has db ${db}; start with --databases ${db + 1}`);
      const d = this.dbs[db];
      for (
        const [key, type, enc, deadline, tips, vv, log] of keys as [
          string,
          string | null,
          unknown,
          number,
          number[],
          number[] | null,
          unknown[][],
        ][]
      ) {
        const r = type === null ? null : this.registry.forType(type);
        if (r === undefined) throw new Error(`checkpoint has unknown type ${type}`);
        const ks = d.ensure(key);
        ks.type = r;
        ks.value = r === null ? undefined : r.decode(enc);
        ks.deadline = deadline;
        if (vv !== null) {
          ks.vv = [];
          for (const id of readIds(writers, vv)) ks.vv.push(id.w, id.seq);
        }
        const effects = decodeEffects(writers, log ?? []);
        if (effects.length > 0) {
          ks.pinVv();
          ks.log = effects.map((e) => ({ e, steps: applyEffect(ks, e, this.registry, true) }));
          this.#unstable.set(ks, { db, key });
        }
        ks.setTips(readIds(writers, tips));
        this.#account(d, db, key, ks, -1, 0);
        if (ks.type !== null) n++;
      }
    }
    for (let i = 0; i < (have?.length ?? 0); i += 3) {
      const ahead = have[i + 2] as number[];
      this.#have.set(writers[have[i] as number], {
        upTo: have[i + 1] as number,
        ahead: ahead.length === 0 ? null : new Set(ahead),
      });
    }
    for (const e of decodeEffects(writers, held ?? [])) this.receive(e);
    for (const state of envelopes ?? []) {
      this.#noteEnvelope(decodeBody((decodeValue(state) as unknown[])[0]), state);
    }
    return n;
  }

  // ---------------------------------------------------------------- state hash and scanning

  /**
   * A deterministic digest of every key's value and deadline (for convergence checks); keys
   * expired at `nowMs` are left out, since nodes free them at different moments.
   */
  stateHash(nowMs = 0): string {
    const parts: string[] = [];
    this.dbs.forEach((d, db) => {
      const live = (ks: KeyState) => ks.type !== null && (nowMs === 0 || ks.end === 0 || ks.end > nowMs);
      const keys = [...d.map.keys()].filter((k) => live(d.map.get(k)!)).sort();
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

/** The base version vector of a key: what its folded base holds, per writer. */
function baseVvOf(ks: KeyState): Map<Writer, number> {
  const out = new Map<Writer, number>();
  const vv = ks.vv;
  if (vv !== null) { for (let i = 0; i < vv.length; i += 2) out.set(vv[i] as Writer, vv[i + 1] as number); }
  else if (ks.tipW !== null && ks.log === null) out.set(ks.tipW, ks.tipSeq);
  return out;
}

/**
 * Everything a key holds, per writer: its base plus its unstable effects. A writer's effects on
 * one key form a causal chain and a node applies only effects whose deps it has, so the highest
 * seq per writer names the whole set exactly.
 */
function versionOf(ks: KeyState, cutoff = Infinity): Map<Writer, number> {
  const out = baseVvOf(ks);
  const log = ks.log;
  // Deps stamp below their dependents, so the effects up to a cutoff are a causally closed set.
  if (log !== null) { for (const x of log) if (x.e.hlc <= cutoff) raise(out, x.e.w, x.e.seq); }
  return out;
}

function idsOf(v: Map<Writer, number>): EffectId[] {
  const out: EffectId[] = [];
  for (const [w, seq] of v) out.push({ w, seq });
  return out;
}

function raise(m: Map<Writer, number>, w: Writer, seq: number): void {
  if ((m.get(w) ?? 0) < seq) m.set(w, seq);
}

function vvMap(ids: readonly EffectId[]): Map<Writer, number> {
  const out = new Map<Writer, number>();
  for (const id of ids) raise(out, id.w, id.seq);
  return out;
}

/** True when `a` holds everything `b` does. */
function covers(a: Map<Writer, number>, b: Map<Writer, number>): boolean {
  for (const [w, seq] of b) if ((a.get(w) ?? 0) < seq) return false;
  return true;
}

function versionText(v: Map<Writer, number>): string {
  const parts: string[] = [];
  for (const [w, seq] of v) parts.push(`${w.key}:${seq}`);
  return parts.sort().join(",");
}

function bucketOf(db: number, key: string, buckets: number): number {
  return hashPair(`${db}\u0000${key}`)[0] % buckets;
}

/** Two independent 32-bit FNV-style hashes of a string. */
function hashPair(s: string): [number, number] {
  let h1 = 0x811c9dc5, h2 = 0x01000193;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0;
  }
  return [h1, h2];
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

  /** Keys read, when the face plans an envelope (null: not tracked). */
  reads: [number, string][] | null = null;

  /** The live state of a key, or undefined. */
  get(db: number, key: string): KeyState | undefined {
    if (this.reads !== null) this.reads.push([db, key]);
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
