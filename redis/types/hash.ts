/**
 * The hash type: a reducer over an insertion-ordered map of fields to values, each field with an
 * optional expiry deadline, and the 28 hash commands of Redis 8.4: HSET, HMSET, HSETNX, HGET,
 * HMGET, HGETALL, HDEL, HLEN, HEXISTS, HKEYS, HVALS, HSTRLEN, HINCRBY, HINCRBYFLOAT, HRANDFIELD,
 * HSCAN, HGETDEL, HGETEX, HSETEX, HEXPIRE, HPEXPIRE, HEXPIREAT, HPEXPIREAT, HTTL, HPTTL,
 * HEXPIRETIME, HPEXPIRETIME and HPERSIST.
 *
 * Fields iterate in insertion order, as Redis's small (listpack) hashes do: overwriting a field
 * keeps its place, a field deleted then set again goes to the end. Field names and values are
 * binary strings, one JS char per byte.
 *
 * Field expiry. A field's deadline (absolute ms, 0 = none) is part of the state and only ops set
 * it, so every node folds the same deadlines. The rule that makes expiry deterministic: a field
 * whose deadline is at or before a time `t` is absent at `t`.
 * - Reads (the handlers) judge at the command's clock reading, `ctx.batch.nowMs`.
 * - The fold judges at the effect's HLC (`hlcMs(ctx.hlc)`): before any op of this type applies,
 *   the fields expired at its HLC are removed (and put back by undo), so the op sees them as
 *   absent. A hash emptied that way, with nothing added by the op, is deleted. Since a command's
 *   reads and its effect share one HLC, what the handler saw is what its ops find on every node.
 * - A hash whose remaining fields have all expired is absent: the engine ends a key at the sooner
 *   of its deadline and `hashType.endsAt` (the time the value empties by itself), for lookups and
 *   for the fold alike. Its TTL stays -1 meanwhile (Redis has no key TTL there either).
 *
 * Ops:
 * - `["hset", f1, v1, f2, v2, ...]`: sets the fields left to right (a field given twice ends with
 *   its last value); a field overwritten loses its deadline, as in Redis.
 * - `["hsetex", d, f1, v1, ...]`: the same with the fields' deadline set to `d` (ms > 0), or kept
 *   as it was when `d` is -1 (KEEPTTL; a new field then has none). A deadline at or before the
 *   op's HLC deletes the fields instead, here and in `hpexpireat`: no op leaves an expired field.
 * - `["hdel", f1, ...]`: deletes the fields; missing ones are ignored. Deleting the last field
 *   deletes the key (Redis removes empty hashes).
 * - `["hincrby", f, delta]`: int64 add to the field's value (a missing field counts as 0); `delta`
 *   is a number or a bigint. No-op when the value is not an integer or the sum would overflow.
 * - `["hincrbyfloat", f, delta]`: long-double add with INCRBYFLOAT's arithmetic and formatting;
 *   `delta` is the client's decimal text. No-op when the value or the delta is not a float or the
 *   result is not finite. Both increments keep the field's deadline.
 * - `["hpexpireat", d, f1, ...]`: sets the deadline of the fields present to `d` (ms > 0).
 * - `["hpersist", f1, ...]`: removes the deadline of the fields present.
 * The increments are ops of their own, not the `hset` of the value computed locally, so that
 * concurrent increments on different nodes both count. Any other op, or an argument of the wrong
 * kind, is a no-op (apply is total). Merge: in the fold order, each op acts on the fields present
 * where it lands (last writer wins per field for sets, deadlines and deletes).
 *
 * Undo restores the exact previous state, insertion order included: every field carries an
 * ordinal (a counter of the state, bumped by each new field) and the map iterates in ascending
 * ordinal. Undoing a delete puts the fields back at their ordinals' places by rebuilding the map,
 * O(n); only a reordered fold does that.
 *
 * Memory accounting: each field costs its name's and value's lengths plus `HASH_FIELD_OVERHEAD`.
 */
import type { EncodingLimits } from "../encodings.ts";
import type { Op } from "../../core/effect.ts";
import { hlcMs } from "../../core/hlc.ts";
import type { Applied, Reducer } from "../../core/reducer.ts";
import {
  type Ctx,
  fail,
  getKey,
  getTyped,
  type Handler,
  intArg,
  isInt64,
  normInt,
  parseInt64,
  randomIndex,
  sampleIndexes,
  scanCursor,
  upper,
  write,
} from "../command.ts";
import { globMatch } from "../command_table.ts";
import { E, err, type ErrorReply, MapReply, OK, type Reply } from "../reply.ts";
import { incrFloat } from "./string.ts";

/**
 * Accounted bytes per field besides its name and value: the map entry (key, value and chain
 * slots plus its share of the index table), the entry object (value, ordinal, deadline) and the
 * two strings' headers.
 */
export const HASH_FIELD_OVERHEAD = 64;

/** A field's value, its insertion ordinal and its deadline (absolute ms, 0 = none). */
export class HashEntry {
  constructor(public v: string, readonly o: number, public d = 0) {}
}

/** `set`'s deadline argument that keeps a field's deadline (a new field gets none). */
export const KEEP_TTL = -1;

/** True when an entry with deadline `d` is expired at `now` (0 = never). */
function gone(d: number, now: number): boolean {
  return d !== 0 && d <= now;
}

/**
 * An insertion-ordered map of fields to values and deadlines, with its accounted bytes kept in
 * O(1). Readers pass `now` to see only the fields live then; `now` = 0 sees every field.
 */
export class HashState {
  #m = new Map<string, HashEntry>();
  /** Ordinal of the next new field; above every ordinal present. */
  #next = 0;
  #bytes = 0;
  /** Fields with a deadline. */
  #volatile = 0;
  /** At most the smallest deadline present: no field is expired before it. */
  #minD = Infinity;
  /** The entries in ordinal order for HSCAN, rebuilt after fields come or go. */
  #order: [string, HashEntry][] | null = null;
  /** `endsAt`'s answer, until a field or a deadline changes. */
  #end: number | null = null;
  /** Once a field had a deadline the hash reports Redis's "listpackex" encoding (sticky, as Redis). */
  ex = false;

  /** Number of fields, expired ones included. */
  get size(): number {
    return this.#m.size;
  }

  /** Accounted bytes: field and value lengths plus `HASH_FIELD_OVERHEAD` per field. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Number of fields with a deadline. */
  get volatile(): number {
    return this.#volatile;
  }

  /** The entry of `field` if it is live at `now`. */
  live(field: string, now = 0): HashEntry | undefined {
    const e = this.#m.get(field);
    return e === undefined || gone(e.d, now) ? undefined : e;
  }

  get(field: string, now = 0): string | undefined {
    return this.live(field, now)?.v;
  }

  has(field: string, now = 0): boolean {
    return this.live(field, now) !== undefined;
  }

  /** True when some field is expired at `now` (O(1) unless one may be). */
  anyExpired(now: number): boolean {
    if (this.#volatile === 0 || now < this.#minD) return false;
    let min = Infinity;
    for (const e of this.#m.values()) if (e.d !== 0 && e.d < min) min = e.d;
    this.#minD = min;
    return min <= now;
  }

  /** Number of fields live at `now`. */
  liveSize(now = 0): number {
    if (!this.anyExpired(now)) return this.#m.size;
    let n = 0;
    for (const e of this.#m.values()) if (!gone(e.d, now)) n++;
    return n;
  }

  /** Field names live at `now`, in order. */
  fields(now = 0): string[] {
    if (!this.anyExpired(now)) return [...this.#m.keys()];
    const out: string[] = [];
    for (const [f, e] of this.#m) if (!gone(e.d, now)) out.push(f);
    return out;
  }

  /** Values of the fields live at `now`, in field order. */
  values(now = 0): string[] {
    const out: string[] = [];
    for (const e of this.#m.values()) if (!gone(e.d, now)) out.push(e.v);
    return out;
  }

  /** Field, value, field, value... of the fields live at `now`, in order. */
  flat(now = 0): string[] {
    const out: string[] = [];
    for (const [f, e] of this.#m) {
      if (!gone(e.d, now)) out.push(f, e.v);
    }
    return out;
  }

  /** Fields expired at `now`. */
  expired(now: number): string[] {
    const out: string[] = [];
    if (!this.anyExpired(now)) return out;
    for (const [f, e] of this.#m) if (gone(e.d, now)) out.push(f);
    return out;
  }

  /**
   * The time at which the hash empties by itself: the last deadline when every field has one,
   * else 0 (never).
   */
  endsAt(): number {
    if (this.#m.size === 0 || this.#volatile < this.#m.size) return 0;
    if (this.#end === null) {
      let max = 0;
      for (const e of this.#m.values()) if (e.d > max) max = e.d;
      this.#end = max;
    }
    return this.#end;
  }

  /** The entries in ordinal order (cached until a field comes or goes). */
  ordered(): readonly [string, HashEntry][] {
    return this.#order ??= [...this.#m];
  }

  /** Sets `field` to `value` with deadline `d` (or `KEEP_TTL`); a new field goes last. */
  set(field: string, value: string, d: number): void {
    const e = this.#m.get(field);
    if (e === undefined) {
      const n = new HashEntry(value, this.#next++);
      this.#m.set(field, n);
      this.#order = null;
      this.#end = null;
      this.#bytes += field.length + value.length + HASH_FIELD_OVERHEAD;
      if (d !== KEEP_TTL) this.#deadline(n, d);
      return;
    }
    this.#bytes += value.length - e.v.length;
    e.v = value;
    if (d !== KEEP_TTL) this.#deadline(e, d);
  }

  /** Sets the deadline of a present field. */
  setDeadline(field: string, d: number): void {
    const e = this.#m.get(field);
    if (e !== undefined) this.#deadline(e, d);
  }

  #deadline(e: HashEntry, d: number): void {
    if ((e.d !== 0) !== (d !== 0)) this.#volatile += d !== 0 ? 1 : -1;
    this.#end = null;
    e.d = d;
    if (d !== 0) {
      this.ex = true;
      if (d < this.#minD) this.#minD = d;
    } else if (this.#volatile === 0) {
      this.#minD = Infinity;
    }
  }

  /** Takes back the creation of `field`, the newest field (undo). */
  dropNewest(field: string): void {
    const e = this.#m.get(field);
    if (e === undefined || e.o !== this.#next - 1) throw new Error("hash: undo of a creation out of order");
    this.#remove(field, e);
    this.#next--;
  }

  /** Restores a present field's value and deadline (undo). */
  restore(field: string, value: string, d: number): void {
    const e = this.#m.get(field);
    if (e === undefined) throw new Error("hash: undo of a change of a missing field");
    this.#bytes += value.length - e.v.length;
    e.v = value;
    this.#deadline(e, d);
  }

  /** Deletes `field`; returns its entry, or undefined when it was absent. */
  delete(field: string): HashEntry | undefined {
    const e = this.#m.get(field);
    if (e !== undefined) this.#remove(field, e);
    return e;
  }

  #remove(field: string, e: HashEntry): void {
    this.#m.delete(field);
    this.#order = null;
    this.#end = null;
    this.#bytes -= field.length + e.v.length + HASH_FIELD_OVERHEAD;
    if (e.d !== 0 && --this.#volatile === 0) this.#minD = Infinity;
  }

  /** Puts deleted entries (`field, entry` pairs) back at their ordinals' places. */
  reinsert(removed: readonly (string | HashEntry)[]): void {
    const add: [string, HashEntry][] = [];
    for (let k = 0; k < removed.length; k += 2) add.push([removed[k] as string, removed[k + 1] as HashEntry]);
    add.sort((a, b) => a[1].o - b[1].o);
    const m = new Map<string, HashEntry>();
    let k = 0;
    for (const [f, e] of this.#m) {
      while (k < add.length && add[k][1].o < e.o) m.set(add[k][0], add[k++][1]);
      m.set(f, e);
    }
    while (k < add.length) m.set(add[k][0], add[k++][1]);
    for (const [f, e] of add) {
      this.#bytes += f.length + e.v.length + HASH_FIELD_OVERHEAD;
      if (e.d !== 0) {
        this.#volatile++;
        if (e.d < this.#minD) this.#minD = e.d;
      }
    }
    this.#m = m;
    this.#order = null;
    this.#end = null;
  }
}

// ---------------------------------------------------------------- the reducer

/**
 * Undo of one op: the fields it removed as expired first (`field, entry` pairs), the fields it
 * changed (`field, previous value or null when created, previous deadline` triples, in order) or
 * deleted (pairs), and the encoding flag before it.
 */
class HashUndo {
  constructor(
    readonly h: HashState,
    readonly created: boolean,
    readonly ex: boolean,
    readonly purged: (string | HashEntry)[] | null,
    readonly changes: (string | number | null)[],
    readonly removed: (string | HashEntry)[],
  ) {}
}

const NO_CHANGE = (state: HashState | undefined): Applied<HashState> => ({ state, undo: null, delta: 0 });

/**
 * What one op did to a hash, for its undo record. `t` is the op's time: a deadline at or before it
 * leaves the field absent at once (the op deletes it), so no op leaves a field expired behind.
 */
class Trail {
  readonly changes: (string | number | null)[] = [];
  readonly removed: (string | HashEntry)[] = [];

  constructor(readonly h: HashState, readonly t: number) {}

  /** Sets a field, noting what it held. */
  set(f: string, v: string, d: number): void {
    if (d > 0 && d <= this.t) return this.delete(f);
    const e = this.h.live(f);
    this.changes.push(f, e === undefined ? null : e.v, e === undefined ? 0 : e.d);
    this.h.set(f, v, d);
  }

  /** Sets a present field's deadline, noting the old one. */
  deadline(f: string, d: number): void {
    if (d > 0 && d <= this.t) return this.delete(f);
    const e = this.h.live(f);
    if (e === undefined || e.d === d) return;
    this.changes.push(f, e.v, e.d);
    this.h.setDeadline(f, d);
  }

  delete(f: string): void {
    const e = this.h.delete(f);
    if (e !== undefined) this.removed.push(f, e);
  }

  empty(): boolean {
    return this.changes.length === 0 && this.removed.length === 0;
  }
}

/** Removes the fields expired at `t`; returns them as `field, entry` pairs, or null. */
function purge(h: HashState, t: number): (string | HashEntry)[] | null {
  const fields = h.expired(t);
  if (fields.length === 0) return null;
  const out: (string | HashEntry)[] = [];
  for (const f of fields) out.push(f, h.delete(f)!);
  return out;
}

/** Sets `field, value` pairs from `op[from]` on (pairs of the wrong kind are skipped). */
function setPairs(tr: Trail, op: Op, from: number, d: number): void {
  for (let i = from; i + 1 < op.length; i += 2) {
    const f = op[i], v = op[i + 1];
    if (typeof f === "string" && typeof v === "string") tr.set(f, v, d);
  }
}

/** A deadline argument of an op: a positive safe integer (or -1 when `keep` allows it), else null. */
function deadlineOf(x: unknown, keep: boolean): number | null {
  if (typeof x !== "number" || !Number.isSafeInteger(x)) return null;
  return x > 0 || (keep && x === KEEP_TTL) ? x : null;
}

/** `cur + delta` when it stays in int64, else null. */
function addI64(cur: number | bigint, delta: number | bigint): number | bigint | null {
  if (typeof cur === "number" && typeof delta === "number") {
    const r = cur + delta;
    if (Number.isSafeInteger(r)) return r;
  }
  const r = BigInt(cur) + BigInt(delta);
  return isInt64(r) ? normInt(r) : null;
}

/** The int64 sum of a field's value (undefined = absent, 0) and `delta`; "value" or "overflow" when impossible. */
function incrInt(cur: string | undefined, delta: number | bigint): number | bigint | "value" | "overflow" {
  const v = cur === undefined ? 0 : parseInt64(cur);
  if (v === null) return "value";
  return addI64(v, delta) ?? "overflow";
}

/** Applies the op's own effect to `tr.h` (expired fields already removed). */
function applyOp(tr: Trail, op: Op): void {
  const h = tr.h;
  switch (op[0]) {
    case "hset":
      return setPairs(tr, op, 1, 0);
    case "hsetex": {
      const d = deadlineOf(op[1], true);
      if (d !== null) setPairs(tr, op, 2, d);
      return;
    }
    case "hdel":
      for (let i = 1; i < op.length; i++) if (typeof op[i] === "string") tr.delete(op[i] as string);
      return;
    case "hincrby": {
      const f = op[1], delta = op[2];
      if (typeof f !== "string") return;
      if (typeof delta === "bigint" ? !isInt64(delta) : !Number.isSafeInteger(delta)) return;
      const r = incrInt(h.get(f), delta as number | bigint);
      if (r !== "value" && r !== "overflow") tr.set(f, String(r), KEEP_TTL);
      return;
    }
    case "hincrbyfloat": {
      const f = op[1], delta = op[2];
      if (typeof f !== "string" || (typeof delta !== "string" && typeof delta !== "number")) return;
      const r = incrFloat(h.get(f), delta);
      if (r !== "value" && r !== "delta" && r !== "range") tr.set(f, r, KEEP_TTL);
      return;
    }
    case "hpexpireat": {
      const d = deadlineOf(op[1], false);
      if (d === null) return;
      for (let i = 2; i < op.length; i++) if (typeof op[i] === "string") tr.deadline(op[i] as string, d);
      return;
    }
    case "hpersist":
      for (let i = 1; i < op.length; i++) if (typeof op[i] === "string") tr.deadline(op[i] as string, 0);
      return;
  }
}

/** First element of an encoding whose fields carry deadlines (a plain encoding starts with a field name). */
const FVD = 1;

/** Keyspace event names of the ops (Redis's). */
const EVENTS: Record<string, string> = {
  hset: "hset",
  hsetex: "hset",
  hdel: "hdel",
  hincrby: "hincrby",
  hincrbyfloat: "hincrbyfloat",
  hpexpireat: "hexpire",
  hpersist: "hpersist",
};

/** The hash reducer (TYPE "hash"); see the module comment for its ops. */
export const hashType: Reducer<HashState> & {
  encoding(state: HashState, limits: EncodingLimits): string;
  endsAt(state: HashState): number;
} = {
  type: "hash",
  opcodes: ["hset", "hsetex", "hdel", "hincrby", "hincrbyfloat", "hpexpireat", "hpersist"],

  apply(state, op, ctx) {
    const before = state?.bytes ?? 0;
    const h = state ?? new HashState();
    const ex = h.ex;
    const t = hlcMs(ctx.hlc);
    const purged = state === undefined ? null : purge(state, t);
    const tr = new Trail(h, t);
    applyOp(tr, op);
    if (purged === null && tr.empty()) return NO_CHANGE(state);
    return {
      state: h.size === 0 ? undefined : h,
      undo: new HashUndo(h, state === undefined, ex, purged, tr.changes, tr.removed),
      delta: h.bytes - before,
    };
  },

  undo(state, record) {
    if (!(record instanceof HashUndo)) return state;
    const h = record.h;
    if (record.removed.length > 0) h.reinsert(record.removed);
    const c = record.changes;
    for (let i = c.length - 3; i >= 0; i -= 3) {
      const f = c[i] as string, v = c[i + 1] as string | null;
      if (v === null) h.dropNewest(f);
      else h.restore(f, v, c[i + 2] as number);
    }
    if (record.purged !== null) h.reinsert(record.purged);
    h.ex = record.ex;
    // A hash the op created goes away whole; its object is not reused.
    return record.created ? undefined : h;
  },

  size(state) {
    return state.bytes;
  },

  /**
   * Field, value, field, value... in order; once fields had deadlines, `FVD` then field, value,
   * deadline, ... (arrays only: encodings travel in records). Ordinals are renumbered on decode.
   */
  encode(state) {
    if (!state.ex) return state.flat();
    const out: (string | number)[] = [FVD];
    for (const [f, e] of state.ordered()) out.push(f, e.v, e.d);
    return out;
  },

  decode(data) {
    const a = data as (string | number)[];
    const h = new HashState();
    if (a[0] !== FVD) {
      for (let i = 0; i + 1 < a.length; i += 2) h.set(a[i] as string, a[i + 1] as string, 0);
      return h;
    }
    for (let i = 1; i + 2 < a.length; i += 3) h.set(a[i] as string, a[i + 1] as string, a[i + 2] as number);
    h.ex = true;
    return h;
  },

  canonical(state) {
    // Length-prefixed fields and values, in order, with deadlines: unambiguous whatever bytes they hold.
    let out = state.ex ? "x;" : "";
    for (const [f, e] of state.ordered()) {
      out += `${f.length}:${f}=${e.v.length}:${e.v}${e.d === 0 ? "" : `@${e.d}`},`;
    }
    return out;
  },

  /**
   * OBJECT ENCODING: Redis's listpack holds up to 128 fields, each name and value up to 64 bytes;
   * a listpack that had field deadlines is a "listpackex".
   */
  encoding(state, limits) {
    if (state.size > limits["hash-max-listpack-entries"]) return "hashtable";
    const max = limits["hash-max-listpack-value"];
    for (const [f, e] of state.ordered()) if (f.length > max || e.v.length > max) return "hashtable";
    return state.ex ? "listpackex" : "listpack";
  },

  /** When the value empties by itself (every field expired), in ms; 0 = never. */
  endsAt(state) {
    return state.endsAt();
  },

  event(op) {
    return EVENTS[op[0] as string] ?? String(op[0]);
  },
};

// ---------------------------------------------------------------- argument parsing
// Handlers get the whole command line (args[0] is the command name); the dispatcher checked arity.

const E_NOT_INT = err("ERR hash value is not an integer");
const E_NOT_FLOAT = err("ERR hash value is not a float");
const E_INCR_NAN = err("ERR value is NaN or Infinity");
const E_RESULT_NAN = err("ERR increment would produce NaN or Infinity");
const E_FIELDS = err("ERR Mandatory argument FIELDS is missing or not at the right position");
const E_NUMFIELDS_EXPIRE = err("ERR Parameter `numFields` should be greater than 0");
const E_NUMFIELDS = err("ERR Number of fields must be a positive integer");
const E_NUMFIELDS_MATCH = err("ERR The `numfields` parameter must match the number of arguments");
const E_NUMFIELDS_SETEX = err("ERR invalid number of fields");
const E_NEGATIVE_TIME = err("ERR invalid expire time, must be >= 0");
const E_ONE_COND = err("ERR Only one of FXX or FNX arguments can be specified");
const E_ONE_SETEX_TTL = err("ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified");
const E_ONE_GETEX_TTL = err("ERR Only one of EX, PX, EXAT, PXAT or PERSIST arguments can be specified");
const E_MISSING_TIME = err("ERR missing expire time");
const E_VALUES_RANGE = err("ERR value is out of range");

/** The largest field deadline Redis accepts (its expiry index keeps 46 bits of ms): 2^46 - 1. */
export const HASH_MAX_DEADLINE_MS = 2 ** 46 - 1;

/**
 * Most fields HRANDFIELD with a negative count answers. Redis streams such a reply without bound;
 * here the reply is built in memory first, so a count beyond this is refused.
 */
export const HRANDFIELD_MAX_REPEATS = 1 << 24;
const E_REPEATS = err(
  `ERR value is out of range, must be between -${HRANDFIELD_MAX_REPEATS} and 9223372036854775807`,
);

/** Redis's bound on HRANDFIELD's count with WITHVALUES: LONG_MAX / 2. */
const HALF_LONG_MAX = 2n ** 62n - 1n;

/** HSCAN's default COUNT: fields visited per call. */
const HSCAN_DEFAULT_COUNT = 10;

/**
 * The fields after `FIELDS numfields` at `at` (where FIELDS must be), checked as Redis does:
 * `numErr` when the count is not a positive integer, and it must match the fields given.
 */
function fieldsAt(args: readonly string[], at: number, numErr: ErrorReply): string[] {
  if (at >= args.length || upper(args[at]) !== "FIELDS") fail(E_FIELDS);
  const n = at + 1 < args.length ? parseInt64(args[at + 1]) : null;
  if (n === null || n <= 0) fail(numErr);
  if (n !== args.length - at - 2) fail(E_NUMFIELDS_MATCH);
  return args.slice(at + 2);
}

/** How an expire time argument counts: seconds or ms, relative to now or absolute. */
interface TimeUnit {
  seconds: boolean;
  absolute: boolean;
}

const UNITS: Record<string, TimeUnit> = {
  EX: { seconds: true, absolute: false },
  PX: { seconds: false, absolute: false },
  EXAT: { seconds: true, absolute: true },
  PXAT: { seconds: false, absolute: true },
};

/**
 * An absolute deadline in ms from an expire time argument, checked as Redis checks field TTLs:
 * an int64, not negative, and the deadline at most `HASH_MAX_DEADLINE_MS`.
 */
function deadlineArg(s: string, unit: TimeUnit, now: number, cmd: string): number {
  const n = intArg(s);
  if (n < 0) fail(E_NEGATIVE_TIME);
  const max = HASH_MAX_DEADLINE_MS;
  // Beyond 2^46 no deadline fits, which also keeps every number below exact in a double.
  if (typeof n === "bigint" || n > max) fail(E.invalidExpire(cmd));
  let ms = n;
  if (unit.seconds) {
    if (ms > Math.floor(max / 1000)) fail(E.invalidExpire(cmd));
    ms *= 1000;
  }
  if (!unit.absolute) {
    if (ms > max - now) fail(E.invalidExpire(cmd));
    ms += now;
  }
  return ms;
}

/** The hash at `key` for a write command (no hit/miss stats, as Redis's write lookups). */
function hashForWrite(ctx: Ctx, key: string): HashState | undefined {
  const ks = getKey(ctx, key);
  if (ks === undefined) return undefined;
  if (ks.type !== hashType) fail(E.wrongType);
  return ks.value as HashState;
}

/** The live size of the hash at `key` after this command's writes. */
function sizeNow(ctx: Ctx, key: string): number {
  return (getKey(ctx, key)?.value as HashState | undefined)?.liveSize(ctx.batch.nowMs) ?? 0;
}

// ---------------------------------------------------------------- HSET family

/** HSET and HMSET: the number of fields created (HSET) or OK (HMSET). */
function hset(name: "hset" | "hmset"): Handler {
  return (ctx, args) => {
    if (args.length % 2 === 1) fail(E.arity(name));
    const key = args[1];
    const before = hashForWrite(ctx, key)?.liveSize(ctx.batch.nowMs) ?? 0;
    write(ctx, key, ["hset", ...args.slice(2)]);
    if (name === "hmset") return OK;
    return sizeNow(ctx, key) - before;
  };
}

function hsetnx(ctx: Ctx, args: string[]): Reply {
  const key = args[1];
  if (hashForWrite(ctx, key)?.has(args[2], ctx.batch.nowMs)) return 0;
  write(ctx, key, ["hset", args[2], args[3]]);
  return 1;
}

function hdel(ctx: Ctx, args: string[]): Reply {
  const key = args[1];
  const h = hashForWrite(ctx, key);
  if (h === undefined) return 0;
  // Only the fields this node sees: a concurrent HSET of another field is not undone by a delete
  // that did not observe it.
  const now = ctx.batch.nowMs;
  const present = new Set<string>();
  for (let j = 2; j < args.length; j++) if (h.has(args[j], now)) present.add(args[j]);
  if (present.size === 0) return 0;
  write(ctx, key, ["hdel", ...present]);
  return present.size;
}

function hincrby(ctx: Ctx, args: string[]): Reply {
  const delta = intArg(args[3]);
  const key = args[1], field = args[2];
  const r = incrInt(hashForWrite(ctx, key)?.get(field, ctx.batch.nowMs), delta);
  if (r === "value") fail(E_NOT_INT);
  if (r === "overflow") fail(E.overflow);
  write(ctx, key, ["hincrby", field, delta]);
  return r;
}

function hincrbyfloat(ctx: Ctx, args: string[]): Reply {
  const delta = args[3];
  // The increment is checked first, before the key's type, as Redis does.
  const d = incrFloat(undefined, delta);
  if (d === "delta" || d === "value") fail(E.notFloat);
  if (d === "range") fail(E_INCR_NAN);
  const key = args[1], field = args[2];
  const r = incrFloat(hashForWrite(ctx, key)?.get(field, ctx.batch.nowMs), delta);
  if (r === "value") fail(E_NOT_FLOAT);
  if (r === "delta") fail(E.notFloat);
  if (r === "range") fail(E_RESULT_NAN);
  write(ctx, key, ["hincrbyfloat", field, delta]);
  return r;
}

/**
 * HSETEX key [FNX | FXX] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL] FIELDS n field value ...:
 * 1 when the fields were set, 0 when FNX/FXX refused. A deadline already past deletes the
 * fields instead (Redis sets then expires them at once).
 */
function hsetex(ctx: Ctx, args: string[]): Reply {
  const now = ctx.batch.nowMs;
  let cond: "FNX" | "FXX" | null = null;
  let deadline = 0;
  let ttlGiven = false;
  let i = 2;
  for (;;) {
    if (i >= args.length) fail(E.arity("hsetex"));
    const opt = upper(args[i]);
    if (opt === "FIELDS") break;
    if (opt === "FNX" || opt === "FXX") {
      if (cond !== null) fail(E_ONE_COND);
      cond = opt;
      i++;
    } else if (opt === "KEEPTTL" || UNITS[opt] !== undefined) {
      if (ttlGiven) fail(E_ONE_SETEX_TTL);
      ttlGiven = true;
      if (opt === "KEEPTTL") {
        deadline = KEEP_TTL;
        i++;
      } else {
        if (i + 1 >= args.length) fail(E_MISSING_TIME);
        deadline = deadlineArg(args[i + 1], UNITS[opt], now, "hsetex");
        i += 2;
      }
    } else {
      fail(err(`ERR unknown argument: ${args[i]}`));
    }
  }
  const n = i + 1 < args.length ? parseInt64(args[i + 1]) : null;
  if (n === null || n <= 0) fail(E_NUMFIELDS_SETEX);
  if (typeof n === "bigint" || 2 * n !== args.length - i - 2) fail(E.arity("hsetex"));
  const pairs = args.slice(i + 2);
  const key = args[1];
  const h = hashForWrite(ctx, key);
  if (cond !== null) {
    for (let j = 0; j < pairs.length; j += 2) {
      const present = h?.has(pairs[j], now) ?? false;
      if (present !== (cond === "FXX")) return 0;
    }
  }
  if (deadline > 0 && deadline <= now) {
    const present = new Set<string>();
    for (let j = 0; j < pairs.length; j += 2) if (h?.has(pairs[j], now)) present.add(pairs[j]);
    if (present.size > 0) write(ctx, key, ["hdel", ...present]);
    return 1;
  }
  write(ctx, key, deadline === 0 ? ["hset", ...pairs] : ["hsetex", deadline, ...pairs]);
  return 1;
}

// ---------------------------------------------------------------- reads

function hget(ctx: Ctx, args: string[]): Reply {
  return getTyped(ctx, args[1], hashType)?.get(args[2], ctx.batch.nowMs) ?? null;
}

function hmget(ctx: Ctx, args: string[]): Reply {
  const h = getTyped(ctx, args[1], hashType);
  const now = ctx.batch.nowMs;
  const out: Reply[] = new Array(args.length - 2);
  for (let j = 2; j < args.length; j++) out[j - 2] = h?.get(args[j], now) ?? null;
  return out;
}

function hgetall(ctx: Ctx, args: string[]): Reply {
  // A map in RESP3, a flat array in RESP2.
  return new MapReply(getTyped(ctx, args[1], hashType)?.flat(ctx.batch.nowMs) ?? []);
}

function hkeys(ctx: Ctx, args: string[]): Reply {
  return getTyped(ctx, args[1], hashType)?.fields(ctx.batch.nowMs) ?? [];
}

function hvals(ctx: Ctx, args: string[]): Reply {
  return getTyped(ctx, args[1], hashType)?.values(ctx.batch.nowMs) ?? [];
}

function hlen(ctx: Ctx, args: string[]): Reply {
  return getTyped(ctx, args[1], hashType)?.liveSize(ctx.batch.nowMs) ?? 0;
}

function hexists(ctx: Ctx, args: string[]): Reply {
  return getTyped(ctx, args[1], hashType)?.has(args[2], ctx.batch.nowMs) ? 1 : 0;
}

function hstrlen(ctx: Ctx, args: string[]): Reply {
  return getTyped(ctx, args[1], hashType)?.get(args[2], ctx.batch.nowMs)?.length ?? 0;
}

/**
 * The entries live at `now`, in order: the hash's cached ordered entries when none expired (so
 * repeated HRANDFIELDs between writes cost no copy), else a filtered copy.
 */
function liveEntries(h: HashState, now: number): readonly [string, HashEntry][] {
  const all = h.ordered();
  return h.anyExpired(now) ? all.filter(([, e]) => !gone(e.d, now)) : all;
}

/**
 * HRANDFIELD key [count [WITHVALUES]]. Without a count: one field or nil. A positive count gives
 * distinct fields (the whole hash when it is that small), a negative one |count| draws with
 * repeats. WITHVALUES pairs each field with its value: a flat array in RESP2, an array of
 * two-element arrays in RESP3, as Redis answers.
 */
function hrandfield(ctx: Ctx, args: string[]): Reply {
  const now = ctx.batch.nowMs;
  if (args.length === 2) {
    const h = getTyped(ctx, args[1], hashType);
    const live = h === undefined ? [] : liveEntries(h, now);
    return live.length === 0 ? null : live[randomIndex(ctx, live.length)][0];
  }
  const n = parseInt64(args[2]);
  if (n === null) fail(E.notInt);
  if (n === -(2n ** 63n)) fail(E.longRange);
  if (args.length > 4 || (args.length === 4 && upper(args[3]) !== "WITHVALUES")) fail(E.syntax);
  const withValues = args.length === 4;
  if (withValues && (n < -HALF_LONG_MAX || n > HALF_LONG_MAX)) fail(E_VALUES_RANGE);
  if (n < -HRANDFIELD_MAX_REPEATS) fail(E_REPEATS);
  const count = typeof n === "bigint" ? Number.MAX_SAFE_INTEGER : Math.abs(n);
  const h = getTyped(ctx, args[1], hashType);
  const live = h === undefined ? [] : liveEntries(h, now);
  const size = live.length;
  if (size === 0 || count === 0) return [];
  let picks: number[];
  if (n < 0) {
    picks = new Array(count);
    for (let i = 0; i < count; i++) picks[i] = randomIndex(ctx, size);
  } else if (count >= size) {
    picks = Array.from({ length: size }, (_, i) => i);
  } else {
    picks = sampleIndexes(ctx, size, count);
  }
  if (!withValues) return picks.map((i) => live[i][0]);
  if (ctx.client.resp === 3) return picks.map((i) => [live[i][0], live[i][1].v]);
  const out: string[] = new Array(2 * picks.length);
  for (let k = 0; k < picks.length; k++) {
    out[2 * k] = live[picks[k]][0];
    out[2 * k + 1] = live[picks[k]][1].v;
  }
  return out;
}

/**
 * HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES]. A hash Redis keeps as a listpack is
 * returned whole with cursor 0, as Redis does. A larger one is walked by insertion ordinal: the
 * cursor is the next ordinal to visit, a field keeps its ordinal while it exists and new fields
 * get higher ones, so a field present for the whole scan is returned exactly once. COUNT fields
 * (expired ones included, then left out) are visited per call. As in Redis, the key is looked
 * up before the options are parsed: a missing key answers an empty scan whatever they are.
 */
function hscan(ctx: Ctx, args: string[]): Reply {
  const cursor = scanCursor(args[2]);
  const h = getTyped(ctx, args[1], hashType);
  if (h === undefined) return ["0", []];
  let count = HSCAN_DEFAULT_COUNT;
  let pattern: string | null = null;
  let novalues = false;
  for (let i = 3; i < args.length; i++) {
    const opt = upper(args[i]);
    if (opt === "COUNT" && i + 1 < args.length) {
      const n = intArg(args[++i]);
      if (n < 1) fail(E.syntax);
      count = typeof n === "bigint" ? Number.MAX_SAFE_INTEGER : n;
    } else if (opt === "MATCH" && i + 1 < args.length) {
      pattern = args[++i] === "*" ? null : args[i];
    } else if (opt === "NOVALUES") {
      novalues = true;
    } else {
      fail(E.syntax);
    }
  }
  const now = ctx.batch.nowMs;
  const out: string[] = [];
  const keep = (f: string, e: HashEntry) => {
    if (gone(e.d, now) || (pattern !== null && !globMatch(pattern, f, false))) return;
    if (novalues) out.push(f);
    else out.push(f, e.v);
  };
  const entries = h.ordered();
  if (hashType.encoding(h, ctx.face.config.encodings) !== "hashtable") {
    for (const [f, e] of entries) keep(f, e);
    return ["0", out];
  }
  // The first entry at or past the cursor's ordinal.
  let lo = 0, hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (entries[mid][1].o < cursor) lo = mid + 1;
    else hi = mid;
  }
  const end = Math.min(entries.length, lo + count);
  for (let i = lo; i < end; i++) keep(entries[i][0], entries[i][1]);
  return [end >= entries.length ? "0" : String(entries[end - 1][1].o + 1), out];
}

// ---------------------------------------------------------------- HGETDEL, HGETEX

/** HGETDEL key FIELDS n field...: the values (nil for missing fields), then deletes the fields. */
function hgetdel(ctx: Ctx, args: string[]): Reply {
  const fields = fieldsAt(args, 2, E_NUMFIELDS);
  const key = args[1];
  const h = hashForWrite(ctx, key);
  const now = ctx.batch.nowMs;
  const out: Reply[] = fields.map((f) => h?.get(f, now) ?? null);
  const present = new Set<string>();
  for (const f of fields) if (h?.has(f, now)) present.add(f);
  if (present.size > 0) write(ctx, key, ["hdel", ...present]);
  return out;
}

/**
 * HGETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST] FIELDS n field...: the values, then
 * sets (or with PERSIST removes) the deadline of the fields present; a deadline already past
 * deletes them.
 */
function hgetex(ctx: Ctx, args: string[]): Reply {
  const now = ctx.batch.nowMs;
  let deadline: number | null = null;
  let persist = false;
  let i = 2;
  for (;;) {
    const opt = i < args.length ? upper(args[i]) : "";
    if (opt !== "PERSIST" && UNITS[opt] === undefined) break;
    if (deadline !== null || persist) fail(E_ONE_GETEX_TTL);
    if (opt === "PERSIST") {
      persist = true;
      i++;
    } else {
      if (i + 1 >= args.length) fail(E_MISSING_TIME);
      deadline = deadlineArg(args[i + 1], UNITS[opt], now, "hgetex");
      i += 2;
    }
  }
  const fields = fieldsAt(args, i, E_NUMFIELDS);
  const key = args[1];
  const h = hashForWrite(ctx, key);
  const out: Reply[] = fields.map((f) => h?.get(f, now) ?? null);
  if (h === undefined || (deadline === null && !persist)) return out;
  const touched = new Set<string>();
  for (const f of fields) {
    const e = h.live(f, now);
    if (e !== undefined && !(persist && e.d === 0)) touched.add(f);
  }
  if (touched.size === 0) return out;
  if (persist) write(ctx, key, ["hpersist", ...touched]);
  else if (deadline! <= now) write(ctx, key, ["hdel", ...touched]);
  else write(ctx, key, ["hpexpireat", deadline!, ...touched]);
  return out;
}

// ---------------------------------------------------------------- field expiry

/** HEXPIRE's per-field replies. */
const NO_FIELD = -2, NOT_SET = 0, SET = 1, DELETED = 2;
const CONDITIONS = new Set(["NX", "XX", "GT", "LT"]);

/**
 * HEXPIRE, HPEXPIRE, HEXPIREAT, HPEXPIREAT key time [NX | XX | GT | LT] FIELDS n field...: per
 * field -2 (no such field), 0 (condition not met), 1 (deadline set) or 2 (deleted: the deadline
 * is already past). A field named twice is judged again after its first change, as in Redis.
 */
function hexpire(name: string, unit: TimeUnit): Handler {
  return (ctx, args) => {
    const key = args[1];
    const h = hashForWrite(ctx, key);
    const now = ctx.batch.nowMs;
    const when = deadlineArg(args[2], unit, now, name);
    const cond = CONDITIONS.has(upper(args[3])) ? upper(args[3]) : null;
    const fields = fieldsAt(args, cond === null ? 3 : 4, E_NUMFIELDS_EXPIRE);
    if (h === undefined) return fields.map(() => NO_FIELD);
    // Each field's deadline as the command goes (undefined: absent).
    const cur = new Map<string, number | undefined>();
    const out = fields.map((f) => {
      const d = cur.has(f) ? cur.get(f) : h.live(f, now)?.d;
      if (d === undefined) return NO_FIELD;
      if (
        (cond === "NX" && d !== 0) || (cond === "XX" && d === 0) ||
        (cond === "GT" && (d === 0 || when <= d)) || (cond === "LT" && d !== 0 && when >= d)
      ) return NOT_SET;
      cur.set(f, when <= now ? undefined : when);
      return when <= now ? DELETED : SET;
    });
    const changed = [...cur.keys()];
    if (changed.length > 0) {
      write(ctx, key, when <= now ? ["hdel", ...changed] : ["hpexpireat", when, ...changed]);
    }
    return out;
  };
}

/** HPERSIST key FIELDS n field...: per field -2 (no such field), -1 (no deadline) or 1 (removed). */
function hpersist(ctx: Ctx, args: string[]): Reply {
  const key = args[1];
  const h = hashForWrite(ctx, key);
  const fields = fieldsAt(args, 2, E_NUMFIELDS);
  if (h === undefined) return fields.map(() => NO_FIELD);
  const now = ctx.batch.nowMs;
  const done = new Set<string>();
  const out = fields.map((f) => {
    const e = h.live(f, now);
    if (e === undefined) return NO_FIELD;
    if (e.d === 0 || done.has(f)) return -1;
    done.add(f);
    return 1;
  });
  if (done.size > 0) write(ctx, key, ["hpersist", ...done]);
  return out;
}

/**
 * HTTL, HPTTL, HEXPIRETIME, HPEXPIRETIME key FIELDS n field...: per field -2 (no such field), -1
 * (no deadline), or the time left / the deadline, in ms or in seconds rounded up (Redis's rule for
 * fields).
 */
function httl(ms: boolean, absolute: boolean): Handler {
  return (ctx, args) => {
    const h = getTyped(ctx, args[1], hashType);
    const fields = fieldsAt(args, 2, E_NUMFIELDS);
    const now = ctx.batch.nowMs;
    return fields.map((f) => {
      const e = h?.live(f, now);
      if (e === undefined) return NO_FIELD;
      if (e.d === 0) return -1;
      const t = absolute ? e.d : e.d - now;
      return ms ? t : Math.floor((t + 999) / 1000);
    });
  };
}

/** Hash command handlers, keyed by lower-case command name. */
export const hashCommands: Record<string, Handler> = {
  hset: hset("hset"),
  hmset: hset("hmset"),
  hsetnx,
  hsetex,
  hget,
  hmget,
  hgetall,
  hdel,
  hlen,
  hexists,
  hkeys,
  hvals,
  hstrlen,
  hincrby,
  hincrbyfloat,
  hrandfield,
  hscan,
  hgetdel,
  hgetex,
  hexpire: hexpire("hexpire", UNITS.EX),
  hpexpire: hexpire("hpexpire", UNITS.PX),
  hexpireat: hexpire("hexpireat", UNITS.EXAT),
  hpexpireat: hexpire("hpexpireat", UNITS.PXAT),
  hpersist,
  httl: httl(false, false),
  hpttl: httl(true, false),
  hexpiretime: httl(false, true),
  hpexpiretime: httl(true, true),
};

/** The option words of HSETEX before FIELDS (its FNX / FXX make it a conditional write). */
function hsetexCondition(args: readonly string[]): string | null {
  for (let i = 2; i < args.length; i++) {
    const u = upper(args[i]);
    if (u === "FIELDS") return null;
    if (u === "FNX" || u === "FXX") return `HSETEX ${u} is a conditional write`;
  }
  return null;
}

/** A conditional HEXPIRE-family command (NX | XX | GT | LT): its reply depends on the old deadline. */
function expireCondition(name: string): (args: readonly string[]) => string | null {
  return (args) =>
    args.length > 3 && CONDITIONS.has(upper(args[3]))
      ? `${name} ${upper(args[3])} is a conditional write`
      : null;
}

/**
 * Why a command of this family is exclusive given its arguments, or null (see redis/exclusive.ts).
 * HSETNX is in the ALWAYS list there.
 */
export const hashExclusive: Record<string, (args: readonly string[]) => string | null> = {
  hgetdel: () => "HGETDEL deletes what it read",
  hgetex: (
    args,
  ) => (args.length > 2 && upper(args[2]) !== "FIELDS" ? "HGETEX with options writes what it read" : null),
  hsetex: hsetexCondition,
  hexpire: expireCondition("HEXPIRE"),
  hpexpire: expireCondition("HPEXPIRE"),
  hexpireat: expireCondition("HEXPIREAT"),
  hpexpireat: expireCondition("HPEXPIREAT"),
};
