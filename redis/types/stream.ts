/**
 * The stream type: a reducer over an append-only log of entries with consumer groups, and the
 * stream commands XADD, XRANGE, XREVRANGE, XLEN, XDEL, XDELEX, XTRIM, XREAD, XSETID, XGROUP,
 * XREADGROUP, XACK, XACKDEL, XPENDING, XCLAIM, XAUTOCLAIM and XINFO.
 *
 * An entry id is a 128-bit number (`ms << 64 | seq`, a bigint in the API, "ms-seq" in ops; the
 * entries and the last id keep it as two numbers while both parts fit, as every clock-made id
 * does, so that XADD computes ids and stores entries without bigints). Ids are chosen by the
 * handler (XADD `*` from `ctx.batch.nowMs` and the last id) and written into the op, so an op
 * replays identically on every node. Times kept in the pending entries lists
 * (PEL) and consumers come from the op too (the handler's clock reading), never from apply time.
 *
 * Entries sit in a sorted array (binary search by id, amortized O(1) appends); a deletion leaves
 * a tombstone that a compaction drops once tombstones outnumber live entries. Entries are grouped
 * into "nodes" the way Redis packs them (stream-node-max-entries / -bytes, decided by the handler
 * and carried by the op) because approximate trimming (`~`) removes whole nodes only.
 *
 * Ops (any other op, or a malformed one, is a no-op: apply is total):
 * - `["xadd", id, fields, newNode, trim]`: appends the entry if `id` is above the last id (the
 *   stream is created if absent), in a new node when `newNode` is 1, then trims by `trim` (null
 *   or a `Trim`, evaluated on the state it lands on).
 * - `["xtrim", trim]`: trims.
 * - `["xdel", ids, policy, event]`: deletes these entries (missing ones are ignored); `policy`
 *   "KEEPREF" leaves PEL references, "DELREF" removes them from every group, "ACKED" deletes only
 *   entries no group still needs. XDEL-like deletions raise the max deleted id.
 * - `["xsetid", lastId, entriesAdded, maxDeletedId]`: sets the stream's counters (-1 / "" keep).
 * - `["xgcreate", group, lastId, entriesRead]`: creates a group (and an empty stream when the key
 *   is absent: MKSTREAM); an existing group is left as is.
 * - `["xgsetid", group, lastId, entriesRead]`, `["xgdestroy", group]`.
 * - `["xgcc", group, consumer, ms]`, `["xgdc", group, consumer]`: create / delete a consumer (a
 *   deleted consumer's pending entries leave the PEL).
 * - `["xdeliver", group, consumer, ms, ids, lastId, entriesRead, noack, history]`: XREADGROUP;
 *   new deliveries move the group's last id and enter the PEL (unless NOACK); history re-reads
 *   bump the delivery count of the consumer's pending entries.
 * - `["xack", group, ids]`: removes ids from the group's PEL.
 * - `["xclaim", group, consumer, ms, claims, drops, lastId, active]`: claims `[id, time, count]`
 *   PEL entries for the consumer and drops `drops` from the PEL (entries that no longer exist).
 *
 * Merge rule: ops apply in the fold order; XADD, XGROUP, XREADGROUP, XACK, XACKDEL, XCLAIM,
 * XAUTOCLAIM and XSETID are exclusive (envelopes), so ids increase on every node and each entry
 * goes to one consumer; XDEL, XDELEX (but ACKED) and XTRIM are coordination-free: a deletion of
 * an entry deleted concurrently is a no-op and a trim is evaluated where it lands.
 *
 * Undo: each op records the inverse of every mutation it made (a journal of closures, and a plain
 * record for an append), replayed backwards. Memory accounting: entries cost their fields plus `ENTRY_OVERHEAD`, PEL entries
 * `PEL_OVERHEAD`, consumers and groups their names plus an overhead.
 */
import type { Op } from "../../core/effect.ts";
import type { Applied, Reducer } from "../../core/reducer.ts";
import {
  Block,
  type Ctx,
  fail,
  getKey,
  getTyped,
  type Handler,
  parseInt64,
  upper,
  write,
} from "../command.ts";
import { E, err, MapReply, NULL_ARRAY, OK, type Reply, SimpleReply } from "../reply.ts";

/** Accounted bytes per entry besides its fields: id, slots, tombstone flag, node number. */
export const ENTRY_OVERHEAD = 48;
/** Accounted bytes per PEL entry. */
export const PEL_OVERHEAD = 64;
/** Accounted bytes per consumer besides its name, and per group besides its name. */
const CONSUMER_OVERHEAD = 64, GROUP_OVERHEAD = 128;

// ---------------------------------------------------------------- ids

const U64 = (1n << 64n) - 1n;
/** The largest id, 18446744073709551615-18446744073709551615. */
export const MAX_ID = (U64 << 64n) | U64;

/** Formats an id as "ms-seq". */
export function fmtId(id: bigint): string {
  const ms = id >> 64n, seq = id & U64;
  // Number formatting is several times faster than BigInt's; ids are mostly below 2^53.
  return (ms <= SAFE ? String(Number(ms)) : String(ms)) + "-" +
    (seq <= SAFE ? String(Number(seq)) : String(seq));
}

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Parses an unsigned 64-bit decimal; null when invalid. */
function parseU64(s: string): bigint | null {
  if (s.length === 0 || s.length > 20 || !/^[0-9]+$/.test(s)) return null;
  const n = BigInt(s);
  return n > U64 ? null : n;
}

/**
 * Parses "ms-seq" or "ms" (seq = `missingSeq`); "-" and "+" when not `strict`. Null when invalid.
 */
export function parseId(s: string, missingSeq = 0n, strict = true): bigint | null {
  if (s.length > 127) return null;
  if (!strict && s === "-") return 0n;
  if (!strict && s === "+") return MAX_ID;
  const dash = s.indexOf("-");
  const ms = parseU64(dash < 0 ? s : s.slice(0, dash));
  const seq = dash < 0 ? missingSeq : parseU64(s.slice(dash + 1));
  if (ms === null || seq === null) return null;
  return (ms << 64n) | seq;
}

/** An op's id ("ms-seq"), or null. */
function opId(x: unknown): bigint | null {
  return typeof x === "string" ? parseId(x) : null;
}

/**
 * An id as parts: `ms` and `seq` as numbers, exact when `big` is null (both at most 2^53 - 1, as
 * every clock-made id); otherwise `big` is the exact id and the numbers are its rounded parts. The
 * hot paths (XADD, entry storage) work on parts so that an entry retains no bigint.
 */
interface Parts {
  ms: number;
  seq: number;
  big: bigint | null;
}

const SAFE_N = Number.MAX_SAFE_INTEGER;

/** Splits an id into `p`. */
function splitId(id: bigint, p: Parts): void {
  const ms = id >> 64n, seq = id & U64;
  p.ms = Number(ms);
  p.seq = Number(seq);
  p.big = ms <= SAFE && seq <= SAFE ? null : id;
}

/** The parts of an id. */
function partsOf(id: bigint): Parts {
  const p: Parts = { ms: 0, seq: 0, big: null };
  splitId(id, p);
  return p;
}

/** The id of parts. */
function joinId(ms: number, seq: number, big: bigint | null): bigint {
  return big ?? ((BigInt(ms) << 64n) | BigInt(seq));
}

/** Compares two ids given as parts. */
function cmpParts(
  am: number,
  as: number,
  ab: bigint | null,
  bm: number,
  bs: number,
  bb: bigint | null,
): number {
  if (ab === null && bb === null) return am !== bm ? (am < bm ? -1 : 1) : as < bs ? -1 : as > bs ? 1 : 0;
  const a = joinId(am, as, ab), b = joinId(bm, bs, bb);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Parses a decimal of at most 15 digits (below 2^53) as a number; -1 when it is not one. */
function smallDecimal(s: string, from: number, to: number): number {
  if (to <= from || to - from > 15) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** The parts of an op's id ("ms-seq") in the scratch `OP_ID`; false when invalid. */
function opParts(x: unknown): boolean {
  if (typeof x !== "string") return false;
  if (x === clockText) {
    // The op XADD `*` just wrote, applied at once: its parts are known.
    OP_ID.ms = clockMs;
    OP_ID.seq = clockSeq;
    OP_ID.big = null;
    return true;
  }
  const dash = x.indexOf("-");
  const ms = dash < 0 ? -1 : smallDecimal(x, 0, dash),
    seq = ms < 0 ? -1 : smallDecimal(x, dash + 1, x.length);
  if (seq >= 0) {
    OP_ID.ms = ms;
    OP_ID.seq = seq;
    OP_ID.big = null;
    return true;
  }
  const id = parseId(x);
  if (id === null) return false;
  splitId(id, OP_ID);
  return true;
}

/** Scratch parts of the op id being applied (one at a time: apply is synchronous). */
const OP_ID: Parts = { ms: 0, seq: 0, big: null };

// ---------------------------------------------------------------- state

/** A pending entry: its owner, last delivery time (ms) and delivery count. */
export interface Nack {
  consumer: string;
  time: number;
  count: number;
}

/** A consumer: seen-time (last interaction) and active-time (last successful read, -1 never). */
export interface Consumer {
  readonly name: string;
  seen: number;
  active: number;
  pending: number;
}

/** A consumer group: last delivered id, its logical read counter (-1 unknown), PEL, consumers. */
export interface Group {
  readonly name: string;
  lastId: bigint;
  entriesRead: number;
  readonly pel: Map<bigint, Nack>;
  /** The PEL's ids, ascending. */
  readonly pelIds: bigint[];
  readonly consumers: Map<string, Consumer>;
}

/** A node of entries (approximate trimming removes whole nodes); its last id as parts. */
interface NodeInfo {
  live: number;
  total: number;
  bytes: number;
  lastMs: number;
  lastSeq: number;
  lastBig: bigint | null;
}

/** The last id appended to a node. */
function nodeLastId(n: NodeInfo): bigint {
  return joinId(n.lastMs, n.lastSeq, n.lastBig);
}

/** A journal of inverse mutations, run backwards by undo. */
type Journal = (Inverse | (() => void))[];

/** An inverse mutation kept as a record rather than a closure. */
interface Inverse {
  run(): void;
}

/** Index of the first element >= `id` in the ascending array `a`. */
function lowerBound(a: readonly bigint[], id: bigint): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Bytes a node accounts for one entry (an estimate of Redis's listpack growth). */
export function entryNodeBytes(fields: readonly string[]): number {
  let n = 8;
  for (const f of fields) n += f.length + 2;
  return n;
}

/** A stream: entries, counters and consumer groups. */
export class StreamState {
  /**
   * Entry ids ascending, tombstones included, as parts: `ids` holds the ms parts, `seqs` the seq
   * parts (numbers, exact while `bigIds` is null); once any id does not fit, `bigIds` holds every
   * id exactly (and stays).
   */
  ids: number[] = [];
  seqs: number[] = [];
  bigIds: bigint[] | null = null;
  /** Field-value lists parallel to `ids`; null is a tombstone. */
  vals: (string[] | null)[] = [];
  /** Node number of each entry. */
  nodeOf: number[] = [];
  readonly nodes = new Map<number, NodeInfo>();
  nextNode = 0;
  /** Index of the first slot that may be live. */
  head = 0;
  length = 0;
  /** The last id as parts (see `Parts`). */
  lastMs = 0;
  lastSeq = 0;
  lastBig: bigint | null = null;
  maxDeleted = 0n;
  entriesAdded = 0;
  readonly groups = new Map<string, Group>();
  bytes = 0;

  /** The last id. */
  get lastId(): bigint {
    return joinId(this.lastMs, this.lastSeq, this.lastBig);
  }

  set lastId(id: bigint) {
    const p = partsOf(id);
    this.setLastParts(p.ms, p.seq, p.big);
  }

  /** Sets the last id's parts. */
  setLastParts(ms: number, seq: number, big: bigint | null): void {
    this.lastMs = ms;
    this.lastSeq = seq;
    this.lastBig = big;
  }

  /** The id at slot `i`. */
  idAt(i: number): bigint {
    return this.bigIds !== null ? this.bigIds[i] : joinId(this.ids[i], this.seqs[i], null);
  }

  /** Compares the id at slot `i` with an id given as parts. */
  cmpAt(i: number, ms: number, seq: number, big: bigint | null): number {
    if (this.bigIds === null) {
      // Stored parts are exact and below 2^53; a rounded part of a larger id still compares above.
      const m = this.ids[i];
      if (m !== ms) return m < ms ? -1 : 1;
      const q = this.seqs[i];
      return q < seq ? -1 : q > seq ? 1 : 0;
    }
    const a = this.bigIds[i], b = joinId(ms, seq, big);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  /** Compares the id at slot `i` with `k`. */
  cmpKey(i: number, k: Parts): number {
    return this.cmpAt(i, k.ms, k.seq, k.big);
  }

  /** Index of the first slot with an id >= `k`. */
  lowerBound(k: Parts): number {
    let lo = 0, hi = this.ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cmpKey(mid, k) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the live entry `id`, or -1. */
  indexOf(id: bigint): number {
    const k = keyOf(id);
    const i = this.lowerBound(k);
    return i < this.ids.length && this.cmpKey(i, k) === 0 && this.vals[i] !== null ? i : -1;
  }

  /** The fields of entry `id`, or null. */
  get(id: bigint): string[] | null {
    const i = this.indexOf(id);
    return i < 0 ? null : this.vals[i];
  }

  /** Id of the first live entry (0 when empty). */
  firstId(): bigint {
    const i = this.#nextLive(this.head);
    return i < 0 ? 0n : this.idAt(i);
  }

  /** Index of the first live slot at or after `i`, or -1. */
  #nextLive(i: number): number {
    for (; i < this.ids.length; i++) if (this.vals[i] !== null) return i;
    return -1;
  }

  /** Index of the first live entry with an id >= `id`, or -1. */
  liveIndexFrom(id: bigint): number {
    return this.#nextLive(Math.max(this.lowerBound(keyOf(id)), this.head));
  }

  /** Index of the last live slot, or -1. */
  lastIndex(): number {
    for (let i = this.ids.length - 1; i >= this.head; i--) if (this.vals[i] !== null) return i;
    return -1;
  }

  /**
   * Live entries with `start <= id <= end`, ascending (or descending when `rev`), at most `count`
   * (0 = all) as `[id, fields]`.
   */
  range(start: bigint, end: bigint, count: number, rev = false): [bigint, string[]][] {
    const out: [bigint, string[]][] = [];
    if (start > end) return out;
    const ks = keyOf(start), ke = keyOf(end);
    if (!rev) {
      for (let i = Math.max(this.lowerBound(ks), this.head); i < this.ids.length; i++) {
        if (this.cmpKey(i, ke) > 0) break;
        const v = this.vals[i];
        if (v === null) continue;
        out.push([this.idAt(i), v]);
        if (count > 0 && out.length >= count) break;
      }
    } else {
      for (let i = this.lowerBound(keyOf(end + 1n)) - 1; i >= this.head; i--) {
        if (this.cmpKey(i, ks) < 0) break;
        const v = this.vals[i];
        if (v === null) continue;
        out.push([this.idAt(i), v]);
        if (count > 0 && out.length >= count) break;
      }
    }
    return out;
  }

  /** The last node, if it still holds entries. */
  lastNode(): NodeInfo | undefined {
    return this.nodes.get(this.nextNode - 1);
  }

  /** Inserts a slot at `k` (appends when `k` is the length). */
  insertSlot(
    k: number,
    ms: number,
    seq: number,
    big: bigint | null,
    fields: string[] | null,
    num: number,
  ): void {
    if (big !== null && this.bigIds === null) {
      this.bigIds = this.ids.map((m, i) => joinId(m, this.seqs[i], null));
    }
    if (k === this.ids.length) {
      this.ids.push(ms);
      this.seqs.push(seq);
      this.bigIds?.push(joinId(ms, seq, big));
      this.vals.push(fields);
      this.nodeOf.push(num);
      return;
    }
    this.ids.splice(k, 0, ms);
    this.seqs.splice(k, 0, seq);
    this.bigIds?.splice(k, 0, joinId(ms, seq, big));
    this.vals.splice(k, 0, fields);
    this.nodeOf.splice(k, 0, num);
  }

  /** Removes the last slot. */
  popSlot(): void {
    this.ids.pop();
    this.seqs.pop();
    this.bigIds?.pop();
    this.vals.pop();
    this.nodeOf.pop();
    if (this.head > this.ids.length) this.head = this.ids.length;
  }

  /**
   * Appends an entry (id above every id and the last id), in a new node or the last one, and makes
   * it the last id (counting it in entries-added).
   */
  append(ms: number, seq: number, big: bigint | null, fields: string[], newNode: boolean, j: Journal): void {
    // Tombstones at or above the id (XSETID may lower the last id below trimmed entries) go first:
    // they are invisible, and undoing their deletion re-inserts by id.
    while (this.ids.length > 0 && this.cmpAt(this.ids.length - 1, ms, seq, big) >= 0) {
      if (this.vals[this.ids.length - 1] !== null) throw new Error("stream: append below a live entry");
      this.popSlot();
    }
    let num = this.nextNode - 1;
    let node = this.nodes.get(num);
    const created = newNode || node === undefined;
    if (created) {
      num = this.nextNode++;
      node = { live: 0, total: 0, bytes: 0, lastMs: 0, lastSeq: 0, lastBig: null };
      this.nodes.set(num, node);
    }
    j.push(new AppendInverse(this, node!, created ? num : -1));
    node!.live++;
    node!.total++;
    node!.bytes += entryNodeBytes(fields);
    node!.lastMs = ms;
    node!.lastSeq = seq;
    node!.lastBig = big;
    this.insertSlot(this.ids.length, ms, seq, big, fields, num);
    this.length++;
    this.bytes += entryBytes(fields);
    this.setLastParts(ms, seq, big);
    this.entriesAdded++;
  }

  /** Deletes the live entry at index `i` (a tombstone; the node goes when it empties). */
  deleteAt(i: number, j: Journal): void {
    const ms = this.ids[i], seq = this.seqs[i], big = this.bigIds?.[i] ?? null;
    const fields = this.vals[i]!, num = this.nodeOf[i];
    const node = this.nodes.get(num)!;
    this.vals[i] = null;
    this.length--;
    const cost = entryBytes(fields);
    this.bytes -= cost;
    node.live--;
    if (node.live === 0) this.nodes.delete(num);
    j.push(() => {
      const k = this.lowerBound({ ms, seq, big });
      if (k < this.ids.length && this.cmpAt(k, ms, seq, big) === 0) this.vals[k] = fields;
      else this.insertSlot(k, ms, seq, big, fields, num);
      if (k < this.head) this.head = k;
      if (node.live === 0) this.nodes.set(num, node);
      node.live++;
      this.length++;
      this.bytes += cost;
    });
    while (this.head < this.ids.length && this.vals[this.head] === null) this.head++;
    this.#maybeCompact();
  }

  /** Drops tombstones once they outnumber live entries (ids do not move logically). */
  #maybeCompact(): void {
    const dead = this.ids.length - this.length;
    if (dead < 64 || dead <= this.length) return;
    const ids: number[] = [], seqs: number[] = [], vals: (string[] | null)[] = [], nodeOf: number[] = [];
    const big = this.bigIds, bigIds: bigint[] | null = big === null ? null : [];
    for (let i = 0; i < this.ids.length; i++) {
      if (this.vals[i] === null) continue;
      ids.push(this.ids[i]);
      seqs.push(this.seqs[i]);
      bigIds?.push(big![i]);
      vals.push(this.vals[i]);
      nodeOf.push(this.nodeOf[i]);
    }
    this.ids = ids;
    this.seqs = seqs;
    this.bigIds = bigIds;
    this.vals = vals;
    this.nodeOf = nodeOf;
    this.head = 0;
  }

  /** Sets `obj[key]` to `value`, journaled. */
  set<T extends object, K extends keyof T>(obj: T, key: K, value: T[K], j: Journal): void {
    const old = obj[key];
    if (old === value) return;
    obj[key] = value;
    j.push(() => {
      obj[key] = old;
    });
  }

  /** Adds a byte count, journaled. */
  account(n: number, j: Journal): void {
    if (n === 0) return;
    this.bytes += n;
    j.push(() => {
      this.bytes -= n;
    });
  }

  /** Creates a consumer if absent (seen = `ms`); returns it. */
  consumer(g: Group, name: string, ms: number, j: Journal): Consumer {
    let c = g.consumers.get(name);
    if (c !== undefined) return c;
    c = { name, seen: ms, active: -1, pending: 0 };
    g.consumers.set(name, c);
    this.account(name.length + CONSUMER_OVERHEAD, j);
    j.push(() => g.consumers.delete(name));
    return c;
  }

  /** Sets the PEL entry of `id` (adding it when absent), keeping consumer counts. */
  pelSet(g: Group, id: bigint, nack: Nack, j: Journal): void {
    const old = g.pel.get(id);
    if (old === undefined) {
      const k = lowerBound(g.pelIds, id);
      g.pelIds.splice(k, 0, id);
      this.account(PEL_OVERHEAD, j);
      j.push(() => {
        const i = lowerBound(g.pelIds, id);
        g.pelIds.splice(i, 1);
      });
    } else this.#pendingDelta(g, old.consumer, -1, j);
    g.pel.set(id, nack);
    this.#pendingDelta(g, nack.consumer, 1, j);
    j.push(() => {
      if (old === undefined) g.pel.delete(id);
      else g.pel.set(id, old);
    });
  }

  /** Removes `id` from the group's PEL; false when it was not pending. */
  pelDelete(g: Group, id: bigint, j: Journal): boolean {
    const old = g.pel.get(id);
    if (old === undefined) return false;
    g.pel.delete(id);
    const k = lowerBound(g.pelIds, id);
    g.pelIds.splice(k, 1);
    this.#pendingDelta(g, old.consumer, -1, j);
    this.account(-PEL_OVERHEAD, j);
    j.push(() => {
      g.pel.set(id, old);
      g.pelIds.splice(lowerBound(g.pelIds, id), 0, id);
    });
    return true;
  }

  #pendingDelta(g: Group, name: string, d: number, j: Journal): void {
    const c = g.consumers.get(name);
    if (c === undefined) return;
    c.pending += d;
    j.push(() => {
      c.pending -= d;
    });
  }

  /** True when no group still needs entry `id` (none has it pending, each read past it). */
  acked(id: bigint): boolean {
    for (const g of this.groups.values()) {
      if (g.lastId < id || g.pel.has(id)) return false;
    }
    return true;
  }

  /** Deletes the live entry at `i` with a reference policy; false when ACKED keeps it. */
  deleteWithPolicy(i: number, policy: string, j: Journal): boolean {
    const id = this.idAt(i);
    if (policy === "ACKED" && !this.acked(id)) return false;
    this.deleteAt(i, j);
    if (policy === "DELREF") { for (const g of this.groups.values()) this.pelDelete(g, id, j); }
    return true;
  }
}

/** An id as a search key (its exact value in `big`, which the number comparisons ignore). */
function keyOf(id: bigint): Parts {
  return { ms: Number(id >> 64n), seq: Number(id & U64), big: id };
}

/** The inverse of an append (a record, not closures: every XADD keeps one until it is stable). */
class AppendInverse implements Inverse {
  readonly nodeMs: number;
  readonly nodeSeq: number;
  readonly nodeBig: bigint | null;
  readonly lastMs: number;
  readonly lastSeq: number;
  readonly lastBig: bigint | null;

  /** Records the state before `s` appends to `node` (`created` is its number when new, else -1). */
  constructor(readonly s: StreamState, readonly node: NodeInfo, readonly created: number) {
    this.nodeMs = node.lastMs;
    this.nodeSeq = node.lastSeq;
    this.nodeBig = node.lastBig;
    this.lastMs = s.lastMs;
    this.lastSeq = s.lastSeq;
    this.lastBig = s.lastBig;
  }

  run(): void {
    const s = this.s, n = this.node, fields = s.vals[s.ids.length - 1];
    if (fields === null || fields === undefined) throw new Error("stream: undo of an append out of order");
    s.popSlot();
    s.length--;
    s.bytes -= entryBytes(fields);
    n.live--;
    n.total--;
    n.bytes -= entryNodeBytes(fields);
    n.lastMs = this.nodeMs;
    n.lastSeq = this.nodeSeq;
    n.lastBig = this.nodeBig;
    if (this.created >= 0) {
      s.nodes.delete(this.created);
      s.nextNode--;
    }
    s.setLastParts(this.lastMs, this.lastSeq, this.lastBig);
    s.entriesAdded--;
  }
}

/** Accounted bytes of one entry. */
function entryBytes(fields: readonly string[]): number {
  let n = ENTRY_OVERHEAD;
  for (const f of fields) n += f.length;
  return n;
}

// ---------------------------------------------------------------- lag and read counters

/** True when a deleted entry (tombstone) may lie after `from` within the live range. */
function tombstonesAfter(s: StreamState, from: bigint): boolean {
  if (s.length === 0 || s.maxDeleted === 0n) return false;
  if (s.firstId() > s.maxDeleted) return false;
  return from <= s.maxDeleted;
}

/** The logical number of entries up to `id` since the stream began, or -1 when unknown. */
export function entriesUpTo(s: StreamState, id: bigint): number {
  if (s.entriesAdded === 0) return 0;
  if (s.length === 0 && id <= s.lastId) return s.entriesAdded;
  if (id === s.lastId) return s.entriesAdded;
  if (id > s.lastId) return -1;
  const first = s.firstId();
  if (s.maxDeleted === 0n || s.maxDeleted < first) {
    if (id < first) return s.entriesAdded - s.length;
    if (id === first) return s.entriesAdded - s.length + 1;
  }
  return -1;
}

/** True when the group's read counter can be trusted as is. */
function counterValid(s: StreamState, g: Group): boolean {
  return g.entriesRead >= 0 && !tombstonesAfter(s, g.lastId) && g.lastId >= s.firstId();
}

/** The group's lag, or null when it cannot be known. */
export function groupLag(s: StreamState, g: Group): number | null {
  if (s.entriesAdded === 0 || s.length === 0) return 0;
  if (counterValid(s, g)) return s.entriesAdded - g.entriesRead;
  const read = entriesUpTo(s, g.lastId);
  return read < 0 ? null : s.entriesAdded - read;
}

/** The group's read counter once it delivered entries up to `id`. */
export function readCounterAfter(s: StreamState, g: Group, id: bigint, delivered: number): number {
  if (counterValid(s, g)) return g.entriesRead + delivered;
  return entriesUpTo(s, id);
}

// ---------------------------------------------------------------- trimming

/**
 * A trim: `[strategy "MAXLEN" | "MINID", threshold (count or id text), approx 0|1, limit (0 =
 * none), policy "KEEPREF" | "DELREF" | "ACKED"]`.
 */
export type Trim = [string, string, number, number, string];

/** Applies a trim; returns the number of entries deleted. */
function trim(s: StreamState, t: Trim, j: Journal): number {
  const [strategy, thr, approx, limit, policy] = t;
  const maxlen = strategy === "MAXLEN" ? Number(thr) : -1;
  const minid = strategy === "MINID" ? parseId(thr) : null;
  if (maxlen < 0 && minid === null) return 0;
  let deleted = 0;
  // Walk by id (a deletion may compact the arrays); ACKED skips the entries a group still needs.
  let next = 0n;
  for (;;) {
    if (maxlen >= 0 && s.length <= maxlen) break;
    const i = s.liveIndexFrom(next);
    if (i < 0) break;
    if (!approx) {
      const id = s.idAt(i);
      if (minid !== null && id >= minid) break;
      next = id + 1n;
      if (s.deleteWithPolicy(i, policy, j)) deleted++;
      continue;
    }
    const num = s.nodeOf[i], node = s.nodes.get(num)!;
    if (limit > 0 && deleted + node.live > limit) break;
    const whole = maxlen >= 0 ? s.length - node.live >= maxlen : nodeLastId(node) < minid!;
    if (!whole) break;
    const ids: bigint[] = [];
    for (let k = i; k < s.ids.length && s.nodeOf[k] === num; k++) {
      if (s.vals[k] !== null) ids.push(s.idAt(k));
    }
    for (const id of ids) if (s.deleteWithPolicy(s.indexOf(id), policy, j)) deleted++;
    next = ids[ids.length - 1] + 1n;
  }
  return deleted;
}

// ---------------------------------------------------------------- reducer

const NO_CHANGE = (state: StreamState | undefined): Applied<StreamState> => ({ state, undo: null, delta: 0 });

/** Undo records: null (nothing), "new" (the op created the key), a journal or a lone append's inverse. */
type StreamUndo = null | "new" | Journal | AppendInverse;

function finish(state: StreamState, before: number, j: Journal, created: boolean): Applied<StreamState> {
  if (created) return { state, undo: "new", delta: state.bytes };
  const undo = j.length === 0 ? null : j.length === 1 && j[0] instanceof AppendInverse ? j[0] : j;
  return { state, undo, delta: state.bytes - before };
}

function isTrim(t: unknown): t is Trim {
  return Array.isArray(t) && t.length === 5 && typeof t[0] === "string" && typeof t[1] === "string";
}

function strings(x: unknown): string[] {
  if (!Array.isArray(x)) return [];
  // The usual case, every element a string, keeps the array as it is.
  for (const v of x) if (typeof v !== "string") return x.filter((v): v is string => typeof v === "string");
  return x as string[];
}

function applyXadd(state: StreamState | undefined, op: Op, j: Journal): StreamState | undefined {
  const fields = strings(op[2]);
  if (!opParts(op[1]) || fields.length === 0 || fields.length % 2 !== 0) return state;
  const { ms, seq, big } = OP_ID;
  if (big === null && ms === 0 && seq === 0) return state;
  const s = state ?? new StreamState();
  if (cmpParts(ms, seq, big, s.lastMs, s.lastSeq, s.lastBig) <= 0) return state;
  const li = s.lastIndex();
  if (li >= 0 && s.cmpAt(li, ms, seq, big) >= 0) return state;
  s.append(ms, seq, big, fields, op[3] === 1, j);
  if (isTrim(op[4])) trim(s, op[4], j);
  return s;
}

function applyXdel(s: StreamState, op: Op, j: Journal): void {
  const policy = typeof op[2] === "string" ? op[2] : "KEEPREF";
  for (const x of strings(op[1])) {
    const id = parseId(x);
    if (id === null) continue;
    const i = s.indexOf(id);
    if (i < 0) continue;
    if (!s.deleteWithPolicy(i, policy, j)) continue;
    if (id > s.maxDeleted) s.set(s, "maxDeleted", id, j);
  }
}

function applyXsetid(s: StreamState, op: Op, j: Journal): void {
  const last = opId(op[1]);
  if (last !== null) s.set(s, "lastId", last, j);
  if (typeof op[2] === "number" && op[2] >= 0) s.set(s, "entriesAdded", op[2], j);
  const md = opId(op[3]);
  if (md !== null) s.set(s, "maxDeleted", md, j);
}

function applyGroupCreate(s: StreamState, op: Op, j: Journal): void {
  const name = op[1], last = opId(op[2]);
  if (typeof name !== "string" || last === null || s.groups.has(name)) return;
  const g: Group = {
    name,
    lastId: last,
    entriesRead: typeof op[3] === "number" ? op[3] : -1,
    pel: new Map(),
    pelIds: [],
    consumers: new Map(),
  };
  s.groups.set(name, g);
  s.account(name.length + GROUP_OVERHEAD, j);
  j.push(() => s.groups.delete(name));
}

function applyGroupDestroy(s: StreamState, g: Group, j: Journal): void {
  let cost = g.name.length + GROUP_OVERHEAD + g.pel.size * PEL_OVERHEAD;
  for (const c of g.consumers.values()) cost += c.name.length + CONSUMER_OVERHEAD;
  s.groups.delete(g.name);
  s.account(-cost, j);
  j.push(() => s.groups.set(g.name, g));
}

function applyDelConsumer(s: StreamState, g: Group, name: string, j: Journal): void {
  const c = g.consumers.get(name);
  if (c === undefined) return;
  for (const id of g.pelIds.slice()) {
    if (g.pel.get(id)!.consumer === name) s.pelDelete(g, id, j);
  }
  g.consumers.delete(name);
  s.account(-(name.length + CONSUMER_OVERHEAD), j);
  j.push(() => g.consumers.set(name, c));
}

function applyDeliver(s: StreamState, g: Group, op: Op, j: Journal): void {
  const name = op[2], ms = op[3];
  if (typeof name !== "string" || typeof ms !== "number") return;
  const c = s.consumer(g, name, ms, j);
  s.set(c, "seen", ms, j);
  const ids = strings(op[4]).map((x) => parseId(x)).filter((x): x is bigint => x !== null);
  if (op[8] === 1) {
    for (const id of ids) {
      const n = g.pel.get(id);
      if (n === undefined || n.consumer !== name) continue;
      s.pelSet(g, id, { consumer: name, time: ms, count: n.count + 1 }, j);
    }
    return;
  }
  const last = opId(op[5]);
  if (last !== null && last > g.lastId) s.set(g, "lastId", last, j);
  if (typeof op[6] === "number") s.set(g, "entriesRead", op[6], j);
  if (ids.length > 0) s.set(c, "active", ms, j);
  if (op[7] === 1) return;
  for (const id of ids) s.pelSet(g, id, { consumer: name, time: ms, count: 1 }, j);
}

function applyClaim(s: StreamState, g: Group, op: Op, j: Journal): void {
  const name = op[2], ms = op[3];
  if (typeof name !== "string" || typeof ms !== "number") return;
  const claims = Array.isArray(op[4]) ? op[4] : [];
  if (claims.length > 0) {
    // Only a claim creates (or refreshes) the consumer.
    const c = s.consumer(g, name, ms, j);
    s.set(c, "seen", ms, j);
    if (op[7] === 1) s.set(c, "active", ms, j);
  }
  for (const cl of claims) {
    if (!Array.isArray(cl)) continue;
    const id = opId(cl[0]);
    if (id === null || typeof cl[1] !== "number" || typeof cl[2] !== "number") continue;
    s.pelSet(g, id, { consumer: name, time: cl[1], count: cl[2] }, j);
  }
  for (const x of strings(op[5])) {
    const id = parseId(x);
    if (id !== null) s.pelDelete(g, id, j);
  }
  const last = opId(op[6]);
  if (last !== null && last > g.lastId) s.set(g, "lastId", last, j);
}

/** Applies a group op (the group must exist; otherwise a no-op). */
function applyGroupOp(s: StreamState, op: Op, j: Journal): void {
  const g = typeof op[1] === "string" ? s.groups.get(op[1]) : undefined;
  if (g === undefined) return;
  switch (op[0]) {
    case "xgsetid": {
      const last = opId(op[2]);
      if (last === null) return;
      s.set(g, "lastId", last, j);
      s.set(g, "entriesRead", typeof op[3] === "number" ? op[3] : -1, j);
      return;
    }
    case "xgdestroy":
      return applyGroupDestroy(s, g, j);
    case "xgcc":
      if (typeof op[2] === "string" && typeof op[3] === "number") s.consumer(g, op[2], op[3], j);
      return;
    case "xgdc":
      if (typeof op[2] === "string") applyDelConsumer(s, g, op[2], j);
      return;
    case "xdeliver":
      return applyDeliver(s, g, op, j);
    case "xack":
      for (const x of strings(op[2])) {
        const id = parseId(x);
        if (id !== null) s.pelDelete(g, id, j);
      }
      return;
    case "xclaim":
      return applyClaim(s, g, op, j);
  }
}

const OPCODES = [
  "xadd",
  "xtrim",
  "xdel",
  "xsetid",
  "xgcreate",
  "xgsetid",
  "xgdestroy",
  "xgcc",
  "xgdc",
  "xdeliver",
  "xack",
  "xclaim",
];

const EVENTS: Record<string, string> = {
  xadd: "xadd",
  xtrim: "xtrim",
  xsetid: "xsetid",
  xgcreate: "xgroup-create",
  xgsetid: "xgroup-setid",
  xgdestroy: "xgroup-destroy",
  xgcc: "xgroup-createconsumer",
  xgdc: "xgroup-delconsumer",
  xdeliver: "xreadgroup",
  xack: "xack",
  xclaim: "xclaim",
};

function nackText(id: bigint, n: Nack): string {
  return `${fmtId(id)}>${n.consumer.length}:${n.consumer}@${n.time}#${n.count}`;
}

/** The stream reducer (TYPE "stream"); see the module comment for its ops. */
export const streamType: Reducer<StreamState> = {
  type: "stream",
  opcodes: OPCODES,

  apply(state, op, _ctx) {
    const j: Journal = [];
    const before = state?.bytes ?? 0;
    if (op[0] === "xadd") {
      const s = applyXadd(state, op, j);
      if (s === undefined || (s === state && j.length === 0)) return NO_CHANGE(state);
      return finish(s, before, j, state === undefined);
    }
    if (op[0] === "xgcreate") {
      const s = state ?? new StreamState();
      applyGroupCreate(s, op, j);
      if (j.length === 0) return NO_CHANGE(state);
      return finish(s, before, j, state === undefined);
    }
    if (state === undefined) return NO_CHANGE(state);
    switch (op[0]) {
      case "xtrim":
        if (isTrim(op[1])) trim(state, op[1], j);
        break;
      case "xdel":
        applyXdel(state, op, j);
        break;
      case "xsetid":
        applyXsetid(state, op, j);
        break;
      default:
        applyGroupOp(state, op, j);
    }
    return finish(state, before, j, false);
  },

  undo(state, record) {
    const u = record as StreamUndo;
    if (u === null) return state;
    if (u === "new") return undefined;
    if (u instanceof AppendInverse) u.run();
    else {
      for (let k = u.length - 1; k >= 0; k--) {
        const step = u[k];
        if (typeof step === "function") step();
        else step.run();
      }
    }
    return state;
  },

  size(state) {
    return state.bytes;
  },

  encode(state) {
    const entries: unknown[] = [];
    for (let i = state.head; i < state.ids.length; i++) {
      const v = state.vals[i];
      if (v !== null) entries.push([fmtId(state.idAt(i)), v, state.nodeOf[i]]);
    }
    const nodes: unknown[] = [];
    for (const num of [...state.nodes.keys()].sort((a, b) => a - b)) {
      const n = state.nodes.get(num)!;
      nodes.push([num, n.total, n.bytes, fmtId(nodeLastId(n))]);
    }
    const groups: unknown[] = [];
    for (const g of sortedGroups(state)) {
      const pel = g.pelIds.map((id) => {
        const n = g.pel.get(id)!;
        return [fmtId(id), n.consumer, n.time, n.count];
      });
      const consumers = sortedConsumers(g).map((c) => [c.name, c.seen, c.active]);
      groups.push([g.name, fmtId(g.lastId), g.entriesRead, pel, consumers]);
    }
    return [
      entries,
      nodes,
      state.nextNode,
      fmtId(state.lastId),
      fmtId(state.maxDeleted),
      state.entriesAdded,
      groups,
    ];
  },

  decode(data) {
    const [entries, nodes, nextNode, last, maxDel, added, groups] = data as [
      [string, string[], number][],
      [number, number, number, string][],
      number,
      string,
      string,
      number,
      [string, string, number, [string, string, number, number][], [string, number, number][]][],
    ];
    const s = new StreamState();
    for (const [num, total, bytes, lastId] of nodes) {
      const p = partsOf(parseId(lastId) ?? 0n);
      s.nodes.set(num, { live: 0, total, bytes, lastMs: p.ms, lastSeq: p.seq, lastBig: p.big });
    }
    for (const [id, fields, num] of entries) {
      const p = partsOf(parseId(id) ?? 0n);
      s.insertSlot(s.ids.length, p.ms, p.seq, p.big, fields, num);
      s.length++;
      s.bytes += entryBytes(fields);
      const n = s.nodes.get(num);
      if (n !== undefined) n.live++;
    }
    s.nextNode = nextNode;
    s.lastId = parseId(last) ?? 0n;
    s.maxDeleted = parseId(maxDel) ?? 0n;
    s.entriesAdded = added;
    for (const [name, lastId, read, pel, consumers] of groups) {
      const g: Group = {
        name,
        lastId: parseId(lastId) ?? 0n,
        entriesRead: read,
        pel: new Map(),
        pelIds: [],
        consumers: new Map(),
      };
      s.groups.set(name, g);
      s.bytes += name.length + GROUP_OVERHEAD;
      for (const [cname, seen, active] of consumers) {
        g.consumers.set(cname, { name: cname, seen, active, pending: 0 });
        s.bytes += cname.length + CONSUMER_OVERHEAD;
      }
      for (const [id, consumer, time, count] of pel) {
        const bid = parseId(id) ?? 0n;
        g.pelIds.push(bid);
        g.pel.set(bid, { consumer, time, count });
        const c = g.consumers.get(consumer);
        if (c !== undefined) c.pending++;
        s.bytes += PEL_OVERHEAD;
      }
    }
    return s;
  },

  canonical(state) {
    let out = `${fmtId(state.lastId)}|${fmtId(state.maxDeleted)}|${state.entriesAdded}|`;
    for (let i = state.head; i < state.ids.length; i++) {
      const v = state.vals[i];
      if (v === null) continue;
      out += `${fmtId(state.idAt(i))}/${state.nodeOf[i]}:`;
      for (const f of v) out += `${f.length}:${f},`;
    }
    const names = [...state.groups.keys()].sort();
    for (const name of names) {
      const g = state.groups.get(name)!;
      out += `|G${name.length}:${name}@${fmtId(g.lastId)}#${g.entriesRead}`;
      for (const id of g.pelIds) out += nackText(id, g.pel.get(id)!);
      for (const c of [...g.consumers.keys()].sort()) {
        const x = g.consumers.get(c)!;
        out += `C${c.length}:${c}@${x.seen}/${x.active}`;
      }
    }
    return out;
  },

  event(op) {
    if (op[0] === "xdel") return typeof op[3] === "string" ? op[3] : "xdel";
    return EVENTS[op[0] as string] ?? "xadd";
  },
};

// ---------------------------------------------------------------- commands
// Handlers get the whole command line (args[0] is the command name); the dispatcher checked arity.

const INVALID_ID = err("ERR Invalid stream ID specified as stream command argument");
const SMALLER_TOP = err("ERR The ID specified in XADD is equal or smaller than the target stream top item");
const NO_SUCH_KEY = E.noSuchKey;
const NEEDS_KEY = err(
  "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
);

/** The stream at `key` for a write command (no hit/miss stats), WRONGTYPE otherwise. */
function streamForWrite(ctx: Ctx, key: string): StreamState | undefined {
  const ks = getKey(ctx, key);
  if (ks === undefined) return undefined;
  if (ks.type !== streamType) fail(E.wrongType);
  return ks.value as StreamState;
}

/** The stream after this command's own writes. */
function current(ctx: Ctx, key: string): StreamState | undefined {
  const ks = getKey(ctx, key);
  return ks?.type === streamType ? ks.value as StreamState : undefined;
}

/** Parses an id argument or answers Redis's error. */
function idArg(s: string, missingSeq = 0n, strict = true): bigint {
  const id = parseId(s, missingSeq, strict);
  if (id === null) fail(INVALID_ID);
  return id;
}

/** A range bound: "-", "+", an id, or "(id" exclusive. */
function boundArg(s: string, isStart: boolean): bigint {
  if (s.length > 1 && s[0] === "(") {
    const id = idArg(s.slice(1), isStart ? 0n : U64, true);
    if (isStart) {
      if (id === MAX_ID) fail(err("ERR invalid start ID for the interval"));
      return id + 1n;
    }
    if (id === 0n) fail(err("ERR invalid end ID for the interval"));
    return id - 1n;
  }
  return idArg(s, isStart ? 0n : U64, false);
}

/** A non-negative int64 option value, with Redis's error for others. */
function longArg(s: string, e = E.notInt): number {
  const n = parseInt64(s);
  if (n === null) fail(e);
  return typeof n === "bigint" ? (n < 0n ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER) : n;
}

/** An entry as Redis replies with it. */
function entryReply(id: bigint, fields: string[] | null): Reply {
  return [fmtId(id), fields === null ? NULL_ARRAY : fields];
}

/** XREAD's reply: a map in RESP3, an array of [key, entries] pairs in RESP2. */
function keyedReply(ctx: Ctx, flat: Reply[]): Reply {
  if (ctx.client.resp === 3) return new MapReply(flat);
  const out: Reply[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}

function entriesReply(list: [bigint, string[]][]): Reply[] {
  return list.map(([id, f]) => entryReply(id, f));
}

// ------------------------------------------------------------ trimming arguments

interface TrimArgs {
  strategy: string;
  threshold: string;
  approx: boolean;
  limit: number;
  policy: string;
}

const POLICIES = new Set(["KEEPREF", "DELREF", "ACKED"]);

/**
 * Parses a trimming option at args[i] (MAXLEN/MINID [=|~] threshold, LIMIT n, or a policy) into
 * `t`; returns the index after it, or -1 when args[i] is not a trimming option.
 */
function trimOption(args: string[], i: number, t: TrimArgs): number {
  const opt = upper(args[i]);
  const more = args.length - 1 - i;
  if ((opt === "MAXLEN" || opt === "MINID") && more >= 1) {
    if (t.strategy !== "" && t.strategy !== opt) {
      fail(err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible"));
    }
    t.strategy = opt;
    let k = i + 1;
    if ((args[k] === "~" || args[k] === "=") && more >= 2) {
      t.approx = args[k] === "~";
      k++;
    }
    if (opt === "MAXLEN") {
      const n = longArg(args[k]);
      if (n < 0) fail(err("ERR The MAXLEN argument must be >= 0."));
      t.threshold = String(n);
    } else t.threshold = fmtId(idArg(args[k]));
    return k + 1;
  }
  if (opt === "LIMIT" && more >= 1) {
    const n = longArg(args[i + 1]);
    if (n < 0) fail(err("ERR The LIMIT argument must be >= 0."));
    t.limit = n;
    return i + 2;
  }
  if (POLICIES.has(opt)) {
    t.policy = opt;
    return i + 1;
  }
  return -1;
}

/** Checks parsed trimming options and returns the op's Trim (null when there is none). */
function trimSpec(ctx: Ctx, t: TrimArgs): Trim | null {
  if (t.limit >= 0 && t.strategy === "") {
    fail(err("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"));
  }
  if (t.limit >= 0 && !t.approx) {
    fail(err("ERR syntax error, LIMIT cannot be used without the special ~ option"));
  }
  if (t.strategy === "") return null;
  let limit = t.limit;
  if (t.approx && limit < 0) {
    const per = ctx.face.config.encodings["stream-node-max-entries"];
    limit = per > 0 ? Math.min(100 * per, Number.MAX_SAFE_INTEGER) : 10000;
  }
  return [t.strategy, t.threshold, t.approx ? 1 : 0, Math.max(limit, 0), t.policy];
}

function newTrimArgs(): TrimArgs {
  return { strategy: "", threshold: "", approx: false, limit: -1, policy: "KEEPREF" };
}

// ------------------------------------------------------------ XADD

/** XADD `*`'s id ("ms-seq") computed on numbers, or null when that needs bigints (see `nextId`). */
function clockId(ctx: Ctx, s: StreamState | undefined): string | null {
  if (s !== undefined && s.lastBig !== null) return null;
  const lastMs = s?.lastMs ?? 0, lastSeq = s?.lastSeq ?? 0;
  const now = Math.max(0, Math.floor(ctx.batch.nowMs));
  if (now > SAFE_N || (now <= lastMs && lastSeq >= SAFE_N)) return null;
  const ms = now > lastMs ? now : lastMs, seq = now > lastMs ? 0 : lastSeq + 1;
  if (ms !== clockMs) clockMsText = String(ms) + "-";
  clockMs = ms;
  clockSeq = seq;
  clockText = clockMsText + String(seq);
  return clockText;
}

/**
 * The last id `clockId` made, as text and parts (its op is applied right after: `opParts` reads
 * the parts instead of parsing), and its ms part as text ("ms-", reused while the ms stays).
 */
let clockText = "0-0", clockMs = 0, clockSeq = 0, clockMsText = "0-";

/** The id XADD gives: explicit, `ms-*` or `*` (from the clock and the last id). */
function nextId(ctx: Ctx, s: StreamState | undefined, spec: string): bigint {
  const last = s?.lastId ?? 0n;
  const lastMs = last >> 64n, lastSeq = last & U64;
  if (last === MAX_ID) {
    fail(err("ERR The stream has exhausted the last possible ID, unable to add more items"));
  }
  if (spec === "*") {
    const now = BigInt(Math.max(0, Math.floor(ctx.batch.nowMs)));
    if (now > lastMs) return now << 64n;
    return lastSeq === U64 ? (lastMs + 1n) << 64n : last + 1n;
  }
  const dash = spec.indexOf("-");
  if (dash >= 0 && spec.slice(dash + 1) === "*") {
    const ms = parseU64(spec.slice(0, dash));
    if (ms === null) fail(INVALID_ID);
    if (ms < lastMs || (ms === lastMs && lastSeq === U64)) fail(SMALLER_TOP);
    const seq = ms === lastMs && last !== 0n ? lastSeq + 1n : ms === 0n ? 1n : 0n;
    return (ms << 64n) | seq;
  }
  const id = idArg(spec);
  if (id === 0n) fail(err("ERR The ID specified in XADD must be greater than 0-0"));
  if (id <= last) fail(SMALLER_TOP);
  return id;
}

/** Whether the next entry starts a new node (stream-node-max-entries / -bytes). */
function needsNewNode(ctx: Ctx, s: StreamState | undefined, fields: string[]): boolean {
  const node = s?.lastNode();
  if (node === undefined) return true;
  const lim = ctx.face.config.encodings;
  const maxBytes = lim["stream-node-max-bytes"], maxEntries = lim["stream-node-max-entries"];
  if (maxBytes > 0 && node.bytes + entryNodeBytes(fields) >= maxBytes) return true;
  return maxEntries > 0 && node.total >= maxEntries;
}

function xadd(ctx: Ctx, args: string[]): Reply {
  const key = args[1];
  const t = newTrimArgs();
  let nomk = false;
  let i = 2;
  for (; i < args.length; i++) {
    if (args[i] === "*") break;
    if (upper(args[i]) === "NOMKSTREAM") {
      nomk = true;
      continue;
    }
    const next = trimOption(args, i, t);
    if (next < 0) break;
    i = next - 1;
  }
  const idSpec = args[i] ?? "";
  const nf = args.length - i - 1;
  if (nf < 2 || nf % 2 !== 0) fail(E.arity("xadd"));
  const trimOp = trimSpec(ctx, t);
  const s = streamForWrite(ctx, key);
  if (idSpec !== "*" && parseId(idSpec) === null && !/^[0-9]+-\*$/.test(idSpec)) fail(INVALID_ID);
  if (s === undefined && nomk) return null;
  const id = (idSpec === "*" ? clockId(ctx, s) : null) ?? fmtId(nextId(ctx, s, idSpec));
  const fields = args.slice(i + 1);
  write(ctx, key, ["xadd", id, fields, needsNewNode(ctx, s, fields) ? 1 : 0, trimOp]);
  return id;
}

// ------------------------------------------------------------ reads

function rangeCommand(rev: boolean): Handler {
  return (ctx, args) => {
    const start = boundArg(args[rev ? 3 : 2], true);
    const end = boundArg(args[rev ? 2 : 3], false);
    let count = 0;
    if (args.length > 4) {
      if (args.length !== 6 || upper(args[4]) !== "COUNT") fail(E.syntax);
      count = longArg(args[5]);
      if (count <= 0) return getTyped(ctx, args[1], streamType) === undefined ? [] : NULL_ARRAY;
    }
    const s = getTyped(ctx, args[1], streamType);
    if (s === undefined) return [];
    return entriesReply(s.range(start, end, count, rev));
  };
}

function xlen(ctx: Ctx, args: string[]): Reply {
  return getTyped(ctx, args[1], streamType)?.length ?? 0;
}

/** Parses a BLOCK timeout in ms. */
function blockArg(s: string): number {
  const n = parseInt64(s);
  if (n === null) fail(err("ERR timeout is not an integer or out of range"));
  if (n < 0) fail(err("ERR timeout is negative"));
  return Number(n);
}

interface ReadArgs {
  count: number;
  block: number;
  noack: boolean;
  claim: number;
  group: string | null;
  consumer: string;
  keys: string[];
  ids: string[];
  streamsAt: number;
}

function parseRead(args: string[], isGroup: boolean): ReadArgs {
  const r: ReadArgs = {
    count: 0,
    block: -1,
    noack: false,
    claim: -1,
    group: null,
    consumer: "",
    keys: [],
    ids: [],
    streamsAt: -1,
  };
  for (let i = 1; i < args.length; i++) {
    const opt = upper(args[i]);
    const more = args.length - 1 - i;
    if (opt === "BLOCK" && more >= 1) {
      r.block = blockArg(args[++i]);
    } else if (opt === "COUNT" && more >= 1) {
      const n = longArg(args[++i]);
      r.count = n < 0 ? 0 : n;
    } else if (opt === "STREAMS" && more >= 1) {
      r.streamsAt = i + 1;
      const n = args.length - r.streamsAt;
      if (n % 2 !== 0) {
        fail(
          err(
            isGroup
              ? "ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified."
              : "ERR Unbalanced 'xread' list of streams: for each stream key an ID, '+', or '$' must be specified.",
          ),
        );
      }
      r.keys = args.slice(r.streamsAt, r.streamsAt + n / 2);
      r.ids = args.slice(r.streamsAt + n / 2);
      break;
    } else if (opt === "GROUP" && more >= 2) {
      if (!isGroup) {
        fail(err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."));
      }
      r.group = args[i + 1];
      r.consumer = args[i + 2];
      i += 2;
    } else if (opt === "NOACK" && isGroup) {
      r.noack = true;
    } else if (opt === "CLAIM" && isGroup && more >= 1) {
      const n = longArg(args[++i], err("ERR Invalid min-idle-time argument for CLAIM"));
      if (n < 0) fail(err("ERR Invalid min-idle-time argument for CLAIM"));
      r.claim = n;
    } else fail(E.syntax);
  }
  if (r.streamsAt < 0) fail(E.syntax);
  if (isGroup && r.group === null) fail(err("ERR Missing GROUP option for XREADGROUP"));
  return r;
}

/**
 * The argument lists XREAD handed back as `retryArgs`: a parked XREAD run again ignores keys that
 * now hold another type (Redis keeps it blocked) instead of answering WRONGTYPE.
 */
const XREAD_RETRIES = new WeakSet<string[]>();

/** The stream at `key` for XREAD; on a retry a key of another type counts as absent. */
function readStream(ctx: Ctx, key: string, retry: boolean): StreamState | undefined {
  if (retry && getKey(ctx, key)?.type !== streamType) return undefined;
  return getTyped(ctx, key, streamType);
}

function xread(ctx: Ctx, args: string[]): Reply | Block {
  const r = parseRead(args, false);
  const isRetry = XREAD_RETRIES.has(args);
  const starts: (bigint | "+")[] = [];
  for (let k = 0; k < r.keys.length; k++) {
    const id = r.ids[k];
    if (id === ">") {
      fail(
        err(
          "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
        ),
      );
    }
    if (id === "$") {
      const s = readStream(ctx, r.keys[k], isRetry);
      starts.push(s?.lastId ?? 0n);
    } else if (id === "+") starts.push("+");
    else starts.push(idArg(id, 0n, true));
  }
  const out: Reply[] = [];
  const retry = args.slice();
  for (let k = 0; k < r.keys.length; k++) {
    const s = readStream(ctx, r.keys[k], isRetry);
    const st = starts[k];
    if (st === "+") {
      const li = s === undefined ? -1 : s.lastIndex();
      if (li >= 0) out.push(r.keys[k], [entryReply(s!.idAt(li), s!.vals[li])]);
      retry[r.streamsAt + r.keys.length + k] = fmtId(s?.lastId ?? 0n);
      continue;
    }
    retry[r.streamsAt + r.keys.length + k] = fmtId(st);
    if (s === undefined || st === MAX_ID) continue;
    const list = s.range(st + 1n, MAX_ID, r.count);
    if (list.length > 0) out.push(r.keys[k], entriesReply(list));
  }
  if (out.length > 0) return keyedReply(ctx, out);
  if (r.block < 0) return NULL_ARRAY;
  XREAD_RETRIES.add(retry);
  return new Block(r.keys, r.block, NULL_ARRAY, retry);
}

/** The group for XREADGROUP-like commands, or NOGROUP with `suffix`. */
function groupOf(s: StreamState | undefined, key: string, group: string, suffix = ""): Group {
  const g = s?.groups.get(group);
  if (g === undefined) fail(err(`NOGROUP No such key '${key}' or consumer group '${group}'${suffix}`));
  return g;
}

/** Serves one stream of XREADGROUP ">" (claiming idle entries first with CLAIM); null when empty. */
function readNew(ctx: Ctx, key: string, s: StreamState, g: Group, r: ReadArgs): Reply[] | null {
  const now = ctx.batch.nowMs;
  const out: Reply[] = [];
  const claims: [string, number, number][] = [], drops: string[] = [];
  if (r.claim >= 0) {
    // Idle pending entries first, the longest idle first (then by id).
    const idleIds = g.pelIds.filter((id) => now - g.pel.get(id)!.time >= r.claim);
    idleIds.sort((a, b) => g.pel.get(a)!.time - g.pel.get(b)!.time || (a < b ? -1 : 1));
    for (const id of idleIds) {
      if (r.count > 0 && out.length >= r.count) break;
      const n = g.pel.get(id)!;
      const idle = Math.max(0, now - n.time);
      const f = s.get(id);
      if (f === null) {
        drops.push(fmtId(id));
        continue;
      }
      claims.push([fmtId(id), now, n.count + 1]);
      out.push([fmtId(id), f, idle, n.count]);
    }
  }
  const room = r.count > 0 ? r.count - out.length : 0;
  const list = g.lastId === MAX_ID || (r.count > 0 && room <= 0) ? [] : s.range(g.lastId + 1n, MAX_ID, room);
  if (claims.length === 0 && list.length === 0) return null;
  if (claims.length > 0 || drops.length > 0) {
    write(ctx, key, ["xclaim", g.name, r.consumer, now, claims, drops, "", claims.length > 0 ? 1 : 0]);
  }
  if (list.length > 0) {
    let read = g.entriesRead, last = g.lastId;
    for (const [id] of list) {
      read = readCounterAfter(s, { ...g, entriesRead: read, lastId: last }, id, 1);
      last = id;
    }
    const ids = list.map(([id]) => fmtId(id));
    write(ctx, key, ["xdeliver", g.name, r.consumer, now, ids, fmtId(last), read, r.noack ? 1 : 0, 0]);
    for (const [id, f] of list) out.push(r.claim >= 0 ? [fmtId(id), f, 0, 0] : entryReply(id, f));
  }
  return out;
}

/** Serves one stream of XREADGROUP from the consumer's history (pending entries after `from`). */
function readHistory(ctx: Ctx, key: string, s: StreamState, g: Group, r: ReadArgs, from: bigint): Reply[] {
  const out: Reply[] = [];
  const ids: string[] = [];
  for (let k = lowerBound(g.pelIds, from); k < g.pelIds.length; k++) {
    if (r.count > 0 && out.length >= r.count) break;
    const id = g.pelIds[k];
    if (id < from || g.pel.get(id)!.consumer !== r.consumer) continue;
    out.push(entryReply(id, s.get(id)));
    ids.push(fmtId(id));
  }
  write(ctx, key, ["xdeliver", g.name, r.consumer, ctx.batch.nowMs, ids, "", null, 0, 1]);
  return out;
}

function xreadgroup(ctx: Ctx, args: string[]): Reply | Block {
  const r = parseRead(args, true);
  const group = r.group!;
  const targets: { s: StreamState; g: Group; from: bigint | null }[] = [];
  for (let k = 0; k < r.keys.length; k++) {
    const s = streamForWrite(ctx, r.keys[k]);
    const g = groupOf(s, r.keys[k], group, " in XREADGROUP with GROUP option");
    const id = r.ids[k];
    if (id === "$" || id === "+") {
      fail(
        err(
          `ERR The ${id} ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The ${id} ID would just return an empty result set.`,
        ),
      );
    }
    targets.push({ s: s!, g, from: id === ">" ? null : idArg(id, 0n, true) });
  }
  const out: Reply[] = [];
  const idle: number[] = [];
  for (let k = 0; k < r.keys.length; k++) {
    const { s, g, from } = targets[k];
    if (from !== null) {
      out.push(r.keys[k], readHistory(ctx, r.keys[k], s, g, r, from === MAX_ID ? MAX_ID : from + 1n));
      continue;
    }
    const got = readNew(ctx, r.keys[k], s, g, r);
    if (got !== null) out.push(r.keys[k], got);
    else idle.push(k);
  }
  if (out.length === 0 && r.block >= 0) return new Block(r.keys, r.block, NULL_ARRAY);
  // The consumer exists (and was seen now) in every group read, even when it got nothing.
  for (const k of idle) {
    write(ctx, r.keys[k], ["xdeliver", group, r.consumer, ctx.batch.nowMs, [], "", null, 0, 0]);
  }
  return out.length > 0 ? keyedReply(ctx, out) : NULL_ARRAY;
}

// ------------------------------------------------------------ deletion and trimming

function xdel(ctx: Ctx, args: string[]): Reply {
  const ids = args.slice(2).map((a) => idArg(a));
  const s = streamForWrite(ctx, args[1]);
  if (s === undefined) return 0;
  const before = s.length;
  write(ctx, args[1], ["xdel", ids.map(fmtId), "KEEPREF", "xdel"]);
  return before - (current(ctx, args[1])?.length ?? 0);
}

/** Parses `[policy] IDS numids id...` from args[start]; returns the policy and the ids. */
function idsBlock(args: string[], start: number): [string, bigint[]] {
  let i = start, policy = "KEEPREF";
  if (i < args.length && POLICIES.has(upper(args[i]))) policy = upper(args[i++]);
  if (i >= args.length || upper(args[i]) !== "IDS" || i + 1 >= args.length) fail(E.syntax);
  const n = parseInt64(args[i + 1]);
  if (n === null || n <= 0) fail(err("ERR Number of IDs must be a positive integer"));
  if (Number(n) !== args.length - i - 2) {
    fail(err("ERR The `numids` parameter must match the number of arguments"));
  }
  return [policy, args.slice(i + 2).map((a) => idArg(a))];
}

/**
 * The reply codes of XDELEX / XACKDEL for `ids` under `policy`: -1 no such entry (or an id given twice),
 * 1 deleted, 2 kept because a group still needs it (ACKED).
 */
function deletionCodes(s: StreamState, ids: bigint[], policy: string): number[] {
  const seen = new Set<bigint>();
  return ids.map((id) => {
    if (seen.has(id) || s.indexOf(id) < 0) return -1;
    seen.add(id);
    return policy === "ACKED" && !s.acked(id) ? 2 : 1;
  });
}

function xdelex(ctx: Ctx, args: string[]): Reply {
  const [policy, ids] = idsBlock(args, 2);
  const s = streamForWrite(ctx, args[1]);
  if (s === undefined) return ids.map(() => -1);
  const codes = deletionCodes(s, ids, policy);
  if (codes.includes(1)) write(ctx, args[1], ["xdel", ids.map(fmtId), policy, "xdelex"]);
  return codes;
}

function xtrim(ctx: Ctx, args: string[]): Reply {
  const t = newTrimArgs();
  for (let i = 2; i < args.length;) {
    const next = trimOption(args, i, t);
    if (next < 0) fail(E.syntax);
    i = next;
  }
  const spec = trimSpec(ctx, t);
  if (spec === null) fail(err("ERR syntax error, XTRIM must be called with a trimming strategy"));
  const s = streamForWrite(ctx, args[1]);
  if (s === undefined) return 0;
  const before = s.length;
  write(ctx, args[1], ["xtrim", spec]);
  return before - (current(ctx, args[1])?.length ?? 0);
}

function xsetid(ctx: Ctx, args: string[]): Reply {
  const id = idArg(args[2]);
  let added = -1, maxDel: bigint | null = null;
  for (let i = 3; i < args.length; i += 2) {
    const opt = upper(args[i]);
    if (i + 1 >= args.length) fail(E.syntax);
    if (opt === "ENTRIESADDED") {
      added = longArg(args[i + 1]);
      if (added < 0) fail(err("ERR entries_added must be positive"));
    } else if (opt === "MAXDELETEDID") {
      maxDel = idArg(args[i + 1]);
    } else fail(E.syntax);
  }
  const s = streamForWrite(ctx, args[1]);
  if (s === undefined) fail(NO_SUCH_KEY);
  if (maxDel !== null && id < maxDel) {
    fail(err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"));
  }
  if (added >= 0 && added < s.length) {
    fail(err("ERR The entries_added specified in XSETID is smaller than the target stream length"));
  }
  const li = s.lastIndex();
  if (li >= 0 && id < s.idAt(li)) {
    fail(err("ERR The ID specified in XSETID is smaller than the target stream top item"));
  }
  if (maxDel === null && id < s.maxDeleted) {
    fail(err("ERR The ID specified in XSETID is smaller than current max_deleted_entry_id"));
  }
  write(ctx, args[1], ["xsetid", fmtId(id), added, maxDel === null ? "" : fmtId(maxDel)]);
  return OK;
}

// ------------------------------------------------------------ XGROUP

/** Parses a group id argument: "$" is the stream's last id. */
function groupIdArg(s: StreamState | undefined, a: string): bigint {
  return a === "$" ? s?.lastId ?? 0n : idArg(a, 0n, false);
}

/** Parses `[ENTRIESREAD n]` (and MKSTREAM when allowed) from args[start]. */
function groupOptions(args: string[], start: number, allowMk: boolean): { mk: boolean; read: number } {
  const bad = err(`ERR unknown subcommand or wrong number of arguments for '${args[1]}'. Try XGROUP HELP.`);
  const o = { mk: false, read: -1 };
  for (let i = start; i < args.length; i++) {
    const opt = upper(args[i]);
    if (opt === "MKSTREAM" && allowMk) o.mk = true;
    else if (opt === "ENTRIESREAD" && i + 1 < args.length) {
      const n = longArg(args[++i]);
      if (n < -1) fail(err("ERR value for ENTRIESREAD must be positive or -1"));
      o.read = n;
    } else fail(bad);
  }
  return o;
}

function xgroupCreate(ctx: Ctx, args: string[]): Reply {
  const [key, name] = [args[2], args[3]];
  const o = groupOptions(args, 5, true);
  const s = streamForWrite(ctx, key);
  if (s === undefined && !o.mk) fail(NEEDS_KEY);
  const id = groupIdArg(s, args[4]);
  if (s?.groups.has(name)) fail(err("BUSYGROUP Consumer Group name already exists"));
  write(ctx, key, ["xgcreate", name, fmtId(id), o.read]);
  return OK;
}

/** The stream and group of an XGROUP subcommand, with Redis's errors. */
function xgroupTarget(ctx: Ctx, args: string[]): [StreamState, Group] {
  const s = streamForWrite(ctx, args[2]);
  if (s === undefined) fail(NEEDS_KEY);
  const g = s.groups.get(args[3]);
  if (g === undefined) fail(err(`NOGROUP No such consumer group '${args[3]}' for key name '${args[2]}'`));
  return [s, g];
}

function xgroupSetid(ctx: Ctx, args: string[]): Reply {
  const o = groupOptions(args, 5, false);
  const [s] = xgroupTarget(ctx, args);
  const id = groupIdArg(s, args[4]);
  write(ctx, args[2], ["xgsetid", args[3], fmtId(id), o.read]);
  return OK;
}

function xgroupDestroy(ctx: Ctx, args: string[]): Reply {
  const s = streamForWrite(ctx, args[2]);
  if (s === undefined) fail(NEEDS_KEY);
  if (!s.groups.has(args[3])) return 0;
  write(ctx, args[2], ["xgdestroy", args[3]]);
  return 1;
}

function xgroupCreateConsumer(ctx: Ctx, args: string[]): Reply {
  const [, g] = xgroupTarget(ctx, args);
  if (g.consumers.has(args[4])) return 0;
  write(ctx, args[2], ["xgcc", args[3], args[4], ctx.batch.nowMs]);
  return 1;
}

function xgroupDelConsumer(ctx: Ctx, args: string[]): Reply {
  const [, g] = xgroupTarget(ctx, args);
  const c = g.consumers.get(args[4]);
  if (c === undefined) return 0;
  const pending = c.pending;
  write(ctx, args[2], ["xgdc", args[3], args[4]]);
  return pending;
}

const XGROUP_HELP = [
  "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "CREATE <key> <groupname> <id|$> [option]",
  "    Create a new consumer group. Options are:",
  "    * MKSTREAM",
  "      Create the empty stream if it does not exist.",
  "    * ENTRIESREAD entries_read",
  "      Set the group's entries_read counter (internal use).",
  "CREATECONSUMER <key> <groupname> <consumer>",
  "    Create a new consumer in the specified group.",
  "DELCONSUMER <key> <groupname> <consumer>",
  "    Remove the specified consumer.",
  "DESTROY <key> <groupname>",
  "    Remove the specified group.",
  "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
  "    Set the current group ID and entries_read counter.",
  "HELP",
  "    Print this help.",
];

const XINFO_HELP = [
  "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "CONSUMERS <key> <groupname>",
  "    Show consumers of <groupname>.",
  "GROUPS <key>",
  "    Show the stream consumer groups.",
  "STREAM <key> [FULL [COUNT <count>]",
  "    Show information about the stream.",
  "HELP",
  "    Print this help.",
];

function helpReply(lines: string[]): Reply {
  return lines.map((l) => new SimpleReply(l));
}

// ------------------------------------------------------------ acknowledgement

function xack(ctx: Ctx, args: string[]): Reply {
  const ids = args.slice(3).map((a) => idArg(a));
  const s = streamForWrite(ctx, args[1]);
  const g = s?.groups.get(args[2]);
  if (g === undefined) return 0;
  const unique = [...new Set(ids)].filter((id) => g.pel.has(id));
  if (unique.length === 0) return 0;
  write(ctx, args[1], ["xack", args[2], unique.map(fmtId)]);
  return unique.length;
}

function xackdel(ctx: Ctx, args: string[]): Reply {
  const [policy, ids] = idsBlock(args, 3);
  const s = streamForWrite(ctx, args[1]);
  if (s === undefined) return ids.map(() => -1);
  const g = groupOf(s, args[1], args[2]);
  const acked = [...new Set(ids)].filter((id) => g.pel.has(id));
  if (acked.length > 0) write(ctx, args[1], ["xack", args[2], acked.map(fmtId)]);
  const codes = deletionCodes(current(ctx, args[1])!, ids, policy);
  if (codes.includes(1)) write(ctx, args[1], ["xdel", ids.map(fmtId), policy, "xackdel"]);
  return codes;
}

// ------------------------------------------------------------ XPENDING

function xpending(ctx: Ctx, args: string[]): Reply {
  const key = args[1], group = args[2];
  let extended = false, minIdle = 0, start = 0n, end = MAX_ID, count = 0;
  let consumer: string | null = null;
  if (args.length >= 6) {
    extended = true;
    let i = 3;
    if (upper(args[3]) === "IDLE") {
      minIdle = longArg(args[4]);
      if (args.length < 8) fail(E.syntax);
      i = 5;
    }
    if (args.length > i + 4) fail(E.syntax);
    start = boundArg(args[i], true);
    end = boundArg(args[i + 1], false);
    count = longArg(args[i + 2]);
    if (count < 0) count = 0;
    if (args.length === i + 4) consumer = args[i + 3];
  } else if (args.length !== 3) fail(E.syntax);
  const s = getTyped(ctx, key, streamType);
  const g = groupOf(s, key, group);
  const now = ctx.batch.nowMs;
  if (!extended) {
    if (g.pelIds.length === 0) return [0, null, null, NULL_ARRAY];
    const per = [...g.consumers.values()].filter((c) => c.pending > 0).sort((a, b) => cmp(a.name, b.name));
    return [
      g.pelIds.length,
      fmtId(g.pelIds[0]),
      fmtId(g.pelIds[g.pelIds.length - 1]),
      per.map((c) => [c.name, String(c.pending)]),
    ];
  }
  const out: Reply[] = [];
  if (count === 0 || start > end) return out;
  for (let k = lowerBound(g.pelIds, start); k < g.pelIds.length && out.length < count; k++) {
    const id = g.pelIds[k];
    if (id > end) break;
    const n = g.pel.get(id)!;
    if (consumer !== null && n.consumer !== consumer) continue;
    const idle = Math.max(0, now - n.time);
    if (idle < minIdle) continue;
    out.push([fmtId(id), n.consumer, idle, n.count]);
  }
  return out;
}

/** Byte-wise string order (one char per byte). */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ------------------------------------------------------------ XCLAIM / XAUTOCLAIM

function xclaim(ctx: Ctx, args: string[]): Reply {
  const [key, group, consumer] = [args[1], args[2], args[3]];
  const s = streamForWrite(ctx, key);
  const g = groupOf(s, key, group);
  const minIdleRaw = parseInt64(args[4]);
  if (minIdleRaw === null) fail(err("ERR Invalid min-idle-time argument for XCLAIM"));
  const minIdle = Math.max(0, Number(minIdleRaw));
  let i = 5;
  const ids: bigint[] = [];
  for (; i < args.length; i++) {
    const id = parseId(args[i]);
    if (id === null) break;
    ids.push(id);
  }
  const now = ctx.batch.nowMs;
  let time = -1, retry = -1, force = false, justid = false, lastId: bigint | null = null;
  for (; i < args.length; i++) {
    const opt = upper(args[i]);
    const more = args.length - 1 - i;
    if (opt === "FORCE") force = true;
    else if (opt === "JUSTID") justid = true;
    else if (opt === "IDLE" && more >= 1) {
      const n = parseInt64(args[++i]);
      if (n === null) fail(err("ERR Invalid IDLE option argument for XCLAIM"));
      time = now - Number(n);
    } else if (opt === "TIME" && more >= 1) {
      const n = parseInt64(args[++i]);
      if (n === null) fail(err("ERR Invalid TIME option argument for XCLAIM"));
      time = Number(n);
    } else if (opt === "RETRYCOUNT" && more >= 1) {
      const n = parseInt64(args[++i]);
      if (n === null) fail(err("ERR Invalid RETRYCOUNT option argument for XCLAIM"));
      retry = Number(n);
    } else if (opt === "LASTID" && more >= 1) {
      lastId = idArg(args[++i]);
    } else fail(err(`ERR Unrecognized XCLAIM option '${args[i]}'`));
  }
  if (time < 0 || time > now) time = now;
  const st = s!;
  const claims: [string, number, number][] = [], drops: string[] = [];
  const out: Reply[] = [];
  const done = new Set<bigint>();
  for (const id of ids) {
    if (done.has(id)) continue;
    done.add(id);
    const n = g.pel.get(id);
    const f = st.get(id);
    if (n === undefined && !(force && f !== null)) continue;
    if (f === null) {
      if (n !== undefined) drops.push(fmtId(id));
      continue;
    }
    if (n !== undefined && minIdle > 0 && now - n.time < minIdle) continue;
    const prev = n?.count ?? 1; // FORCE creates the entry as delivered once
    const cnt = retry >= 0 ? retry : justid ? prev : prev + 1;
    claims.push([fmtId(id), time, cnt]);
    out.push(justid ? fmtId(id) : entryReply(id, f));
  }
  const moveLast = lastId !== null && lastId > g.lastId;
  if (claims.length > 0 || drops.length > 0 || moveLast) {
    const last = moveLast ? fmtId(lastId!) : "";
    write(ctx, key, ["xclaim", group, consumer, now, claims, drops, last, claims.length > 0 ? 1 : 0]);
  }
  return out;
}

function xautoclaim(ctx: Ctx, args: string[]): Reply {
  const [key, group, consumer] = [args[1], args[2], args[3]];
  const minIdleRaw = parseInt64(args[4]);
  if (minIdleRaw === null) fail(err("ERR Invalid min-idle-time argument for XAUTOCLAIM"));
  const minIdle = Math.max(0, Number(minIdleRaw));
  const start = boundArg(args[5], true);
  let count = 100, justid = false;
  for (let i = 6; i < args.length; i++) {
    const opt = upper(args[i]);
    if (opt === "COUNT" && i + 1 < args.length) {
      const n = parseInt64(args[++i]);
      if (n === null) fail(E.notInt);
      if (n < 1 || n > 2n ** 63n / 10n) fail(err("ERR COUNT must be > 0"));
      count = Number(n);
    } else if (opt === "JUSTID") justid = true;
    else fail(E.syntax);
  }
  const s = streamForWrite(ctx, key);
  const g = groupOf(s, key, group);
  const st = s!;
  const now = ctx.batch.nowMs;
  let attempts = count * 10;
  const claims: [string, number, number][] = [], drops: string[] = [];
  const out: Reply[] = [];
  let k = lowerBound(g.pelIds, start);
  for (; k < g.pelIds.length && attempts > 0 && count > 0; k++) {
    attempts--;
    const id = g.pelIds[k];
    const n = g.pel.get(id)!;
    const f = st.get(id);
    if (f === null) {
      drops.push(fmtId(id));
      count--;
      continue;
    }
    if (minIdle > 0 && now - n.time < minIdle) continue;
    claims.push([fmtId(id), now, justid ? n.count : n.count + 1]);
    out.push(justid ? fmtId(id) : entryReply(id, f));
    count--;
  }
  const cursor = k < g.pelIds.length ? fmtId(g.pelIds[k]) : "0-0";
  if (claims.length > 0 || drops.length > 0) {
    write(ctx, key, ["xclaim", group, consumer, now, claims, drops, "", claims.length > 0 ? 1 : 0]);
  }
  return [cursor, out, drops];
}

// ------------------------------------------------------------ XINFO

function nullableCount(n: number): Reply {
  return n < 0 ? null : n;
}

function xinfoStream(ctx: Ctx, args: string[]): Reply {
  let full = false, count = 10;
  if (args.length > 3) {
    if (upper(args[3]) !== "FULL") fail(E.syntax);
    full = true;
    if (args.length === 6 && upper(args[4]) === "COUNT") {
      count = longArg(args[5]);
      if (count < 0) count = 0;
    } else if (args.length !== 4) fail(E.syntax);
  }
  const s = getTyped(ctx, args[2], streamType);
  if (s === undefined) fail(NO_SUCH_KEY);
  const head: Reply[] = [
    "length",
    s.length,
    "radix-tree-keys",
    s.nodes.size,
    "radix-tree-nodes",
    s.nodes.size === 0 ? 1 : s.nodes.size * 2,
    "last-generated-id",
    fmtId(s.lastId),
    "max-deleted-entry-id",
    fmtId(s.maxDeleted),
    "entries-added",
    s.entriesAdded,
    "recorded-first-entry-id",
    fmtId(s.firstId()),
  ];
  if (!full) {
    const li = s.lastIndex();
    const fi = li < 0 ? -1 : s.indexOf(s.firstId());
    head.push(
      "groups",
      s.groups.size,
      "first-entry",
      fi < 0 ? null : entryReply(s.idAt(fi), s.vals[fi]),
      "last-entry",
      li < 0 ? null : entryReply(s.idAt(li), s.vals[li]),
    );
    return new MapReply(head);
  }
  head.push("entries", entriesReply(s.range(0n, MAX_ID, count)));
  head.push("groups", sortedGroups(s).map((g) => fullGroup(s, g, count)));
  return new MapReply(head);
}

function sortedGroups(s: StreamState): Group[] {
  return [...s.groups.values()].sort((a, b) => cmp(a.name, b.name));
}

function sortedConsumers(g: Group): Consumer[] {
  return [...g.consumers.values()].sort((a, b) => cmp(a.name, b.name));
}

function fullGroup(s: StreamState, g: Group, count: number): Reply {
  const lim = count === 0 ? Infinity : count;
  const pending: Reply[] = [];
  for (const id of g.pelIds) {
    if (pending.length >= lim) break;
    const n = g.pel.get(id)!;
    pending.push([fmtId(id), n.consumer, n.time, n.count]);
  }
  const consumers = sortedConsumers(g).map((c) => {
    const mine: Reply[] = [];
    for (const id of g.pelIds) {
      if (mine.length >= lim) break;
      const n = g.pel.get(id)!;
      if (n.consumer === c.name) mine.push([fmtId(id), n.time, n.count]);
    }
    return new MapReply([
      "name",
      c.name,
      "seen-time",
      c.seen,
      "active-time",
      c.active,
      "pel-count",
      c.pending,
      "pending",
      mine,
    ]);
  });
  return new MapReply([
    "name",
    g.name,
    "last-delivered-id",
    fmtId(g.lastId),
    "entries-read",
    nullableCount(g.entriesRead),
    "lag",
    groupLag(s, g),
    "pel-count",
    g.pelIds.length,
    "pending",
    pending,
    "consumers",
    consumers,
  ]);
}

function xinfoGroups(ctx: Ctx, args: string[]): Reply {
  const s = getTyped(ctx, args[2], streamType);
  if (s === undefined) fail(NO_SUCH_KEY);
  return sortedGroups(s).map((g) =>
    new MapReply([
      "name",
      g.name,
      "consumers",
      g.consumers.size,
      "pending",
      g.pelIds.length,
      "last-delivered-id",
      fmtId(g.lastId),
      "entries-read",
      nullableCount(g.entriesRead),
      "lag",
      groupLag(s, g),
    ])
  );
}

function xinfoConsumers(ctx: Ctx, args: string[]): Reply {
  const s = getTyped(ctx, args[2], streamType);
  if (s === undefined) fail(NO_SUCH_KEY);
  const g = s.groups.get(args[3]);
  if (g === undefined) fail(err(`NOGROUP No such consumer group '${args[3]}' for key name '${args[2]}'`));
  const now = ctx.batch.nowMs;
  return sortedConsumers(g).map((c) =>
    new MapReply([
      "name",
      c.name,
      "pending",
      c.pending,
      "idle",
      Math.max(0, now - c.seen),
      "inactive",
      c.active < 0 ? -1 : Math.max(0, now - c.active),
    ])
  );
}

// ------------------------------------------------------------ tables

/** Stream command handlers, keyed by lower-case command name. */
export const streamCommands: Record<string, Handler> = {
  xadd,
  xrange: rangeCommand(false),
  xrevrange: rangeCommand(true),
  xlen,
  xdel,
  xdelex,
  xtrim,
  xread,
  xsetid,
  "xgroup|create": xgroupCreate,
  "xgroup|setid": xgroupSetid,
  "xgroup|destroy": xgroupDestroy,
  "xgroup|createconsumer": xgroupCreateConsumer,
  "xgroup|delconsumer": xgroupDelConsumer,
  "xgroup|help": () => helpReply(XGROUP_HELP),
  xreadgroup,
  xack,
  xackdel,
  xpending,
  xclaim,
  xautoclaim,
  "xinfo|stream": xinfoStream,
  "xinfo|groups": xinfoGroups,
  "xinfo|consumers": xinfoConsumers,
  "xinfo|help": () => helpReply(XINFO_HELP),
};

/** ACKED deletion depends on every group's PEL (a conditional delete). */
function ackedPolicy(args: readonly string[]): boolean {
  return args.some((a) => upper(a) === "ACKED");
}

/** Why a command of this family is exclusive given its arguments, or null (see redis/exclusive.ts). */
export const streamExclusive: Record<string, (args: readonly string[]) => string | null> = {
  xsetid: () => "XSETID checks the stream's last id",
  xdelex: (args) => ackedPolicy(args.slice(2)) ? "XDELEX ACKED deletes only what no group needs" : null,
  xtrim: (args) => ackedPolicy(args.slice(2)) ? "XTRIM ACKED deletes only what no group needs" : null,
};
