/**
 * The hash type: a reducer over an insertion-ordered map of fields to values, and the hash
 * commands HSET, HMSET, HSETNX, HGET, HMGET, HGETALL, HDEL, HLEN, HEXISTS, HKEYS, HVALS, HSTRLEN,
 * HINCRBY and HINCRBYFLOAT.
 *
 * Fields iterate in insertion order, as Redis's small (listpack) hashes do: overwriting a field
 * keeps its place, a field deleted then set again goes to the end. Field names and values are
 * binary strings, one JS char per byte.
 *
 * Ops:
 * - `["hset", f1, v1, f2, v2, ...]`: sets the fields left to right (a field given twice ends with
 *   its last value).
 * - `["hdel", f1, ...]`: deletes the fields; missing ones are ignored. Deleting the last field
 *   deletes the key (Redis removes empty hashes).
 * - `["hincrby", f, delta]`: int64 add to the field's value (a missing field counts as 0); `delta`
 *   is a number or a bigint. No-op when the value is not an integer or the sum would overflow.
 * - `["hincrbyfloat", f, delta]`: long-double add with INCRBYFLOAT's arithmetic and formatting;
 *   `delta` is the client's decimal text. No-op when the value or the delta is not a float or the
 *   result is not finite.
 * The increments are ops of their own, not the `hset` of the value computed locally, so that
 * concurrent increments on different nodes both count. Any other op, or an argument of the wrong
 * kind, is a no-op (apply is total).
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
  write,
} from "../command.ts";
import { E, err, MapReply, OK, type Reply } from "../reply.ts";
import { incrFloat } from "./string.ts";

/**
 * Accounted bytes per field besides its name and value: the map entry (key, value and chain
 * slots plus its share of the index table), the entry object (value and ordinal) and the two
 * strings' headers.
 */
export const HASH_FIELD_OVERHEAD = 64;

/** A field's value and its insertion ordinal. */
export class HashEntry {
  constructor(public v: string, readonly o: number) {}
}

/** An insertion-ordered map of fields to values with its accounted bytes kept in O(1). */
export class HashState {
  #m = new Map<string, HashEntry>();
  /** Ordinal of the next new field; above every ordinal present. */
  #next = 0;
  #bytes = 0;

  /** Number of fields. */
  get size(): number {
    return this.#m.size;
  }

  /** Accounted bytes: field and value lengths plus `HASH_FIELD_OVERHEAD` per field. */
  get bytes(): number {
    return this.#bytes;
  }

  get(field: string): string | undefined {
    return this.#m.get(field)?.v;
  }

  has(field: string): boolean {
    return this.#m.has(field);
  }

  /** Field names, in order. */
  fields(): string[] {
    return [...this.#m.keys()];
  }

  /** Values, in field order. */
  values(): string[] {
    const out: string[] = new Array(this.#m.size);
    let i = 0;
    for (const e of this.#m.values()) out[i++] = e.v;
    return out;
  }

  /** Field, value, field, value... in order. */
  flat(): string[] {
    const out: string[] = new Array(this.#m.size * 2);
    let i = 0;
    for (const [f, e] of this.#m) {
      out[i++] = f;
      out[i++] = e.v;
    }
    return out;
  }

  /** Sets `field`; returns its previous value, or null when the field is new (added last). */
  set(field: string, value: string): string | null {
    const e = this.#m.get(field);
    if (e === undefined) {
      this.#m.set(field, new HashEntry(value, this.#next++));
      this.#bytes += field.length + value.length + HASH_FIELD_OVERHEAD;
      return null;
    }
    const old = e.v;
    e.v = value;
    this.#bytes += value.length - old.length;
    return old;
  }

  /** Takes back a `set` that returned `old`, the state being the one that `set` left. */
  unset(field: string, old: string | null): void {
    const e = this.#m.get(field);
    if (e === undefined) throw new Error("hash: undo of a set of a missing field");
    if (old === null) {
      // A new field: it is the last one and holds the last ordinal.
      this.#m.delete(field);
      this.#next--;
      this.#bytes -= field.length + e.v.length + HASH_FIELD_OVERHEAD;
    } else {
      this.#bytes += old.length - e.v.length;
      e.v = old;
    }
  }

  /** Deletes `field`; returns its entry, or undefined when it was absent. */
  delete(field: string): HashEntry | undefined {
    const e = this.#m.get(field);
    if (e === undefined) return undefined;
    this.#m.delete(field);
    this.#bytes -= field.length + e.v.length + HASH_FIELD_OVERHEAD;
    return e;
  }

  /** Puts deleted entries (`field, entry` pairs) back at their ordinals' places. */
  reinsert(removed: readonly (string | HashEntry)[]): void {
    const add: [string, HashEntry][] = [];
    for (let k = 0; k < removed.length; k += 2) add.push([removed[k] as string, removed[k + 1] as HashEntry]);
    add.sort((a, b) => a[1].o - b[1].o);
    const old = this.#m;
    const m = new Map<string, HashEntry>();
    let k = 0;
    for (const [f, e] of old) {
      while (k < add.length && add[k][1].o < e.o) m.set(add[k][0], add[k++][1]);
      m.set(f, e);
    }
    while (k < add.length) m.set(add[k][0], add[k++][1]);
    for (const [f, e] of add) this.#bytes += f.length + e.v.length + HASH_FIELD_OVERHEAD;
    this.#m = m;
  }
}

// ---------------------------------------------------------------- the reducer

/** Undo of a `hset` or an increment: `field, previous value or null (new field)` pairs. */
class SetUndo {
  constructor(readonly h: HashState, readonly created: boolean, readonly changes: (string | null)[]) {}
}

/** Undo of a `hdel`: the hash (kept: the key may be gone) and `field, entry` pairs. */
class DelUndo {
  constructor(readonly h: HashState, readonly removed: (string | HashEntry)[]) {}
}

const NO_CHANGE = (state: HashState | undefined): Applied<HashState> => ({ state, undo: null, delta: 0 });

function applySet(state: HashState | undefined, op: Op): Applied<HashState> {
  const before = state?.bytes ?? 0;
  let h = state;
  let changes: (string | null)[] | null = null;
  for (let i = 1; i + 1 < op.length; i += 2) {
    const f = op[i], v = op[i + 1];
    if (typeof f !== "string" || typeof v !== "string") continue;
    h ??= new HashState();
    (changes ??= []).push(f, h.set(f, v));
  }
  if (changes === null) return NO_CHANGE(state);
  return {
    state: h,
    undo: new SetUndo(h!, state === undefined, changes),
    delta: h!.bytes - before,
  };
}

/** Sets one field to a value computed from its current one (the increments). */
function setOne(state: HashState | undefined, field: string, value: string): Applied<HashState> {
  const before = state?.bytes ?? 0;
  const h = state ?? new HashState();
  const old = h.set(field, value);
  return { state: h, undo: new SetUndo(h, state === undefined, [field, old]), delta: h.bytes - before };
}

function applyDel(state: HashState | undefined, op: Op): Applied<HashState> {
  if (state === undefined) return NO_CHANGE(state);
  const before = state.bytes;
  let removed: (string | HashEntry)[] | null = null;
  for (let i = 1; i < op.length; i++) {
    const f = op[i];
    if (typeof f !== "string") continue;
    const e = state.delete(f);
    if (e !== undefined) (removed ??= []).push(f, e);
  }
  if (removed === null) return NO_CHANGE(state);
  return {
    state: state.size === 0 ? undefined : state,
    undo: new DelUndo(state, removed),
    delta: state.bytes - before,
  };
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

function applyIncr(state: HashState | undefined, op: Op): Applied<HashState> {
  const f = op[1], delta = op[2];
  if (typeof f !== "string") return NO_CHANGE(state);
  if (typeof delta === "bigint" ? !isInt64(delta) : !Number.isSafeInteger(delta)) return NO_CHANGE(state);
  const r = incrInt(state?.get(f), delta as number | bigint);
  return r === "value" || r === "overflow" ? NO_CHANGE(state) : setOne(state, f, String(r));
}

function applyIncrFloat(state: HashState | undefined, op: Op): Applied<HashState> {
  const f = op[1], delta = op[2];
  if (typeof f !== "string" || (typeof delta !== "string" && typeof delta !== "number")) {
    return NO_CHANGE(state);
  }
  const r = incrFloat(state?.get(f), delta);
  return r === "value" || r === "delta" || r === "range" ? NO_CHANGE(state) : setOne(state, f, r);
}

/** Redis converts a hash from listpack to hashtable past these (hash-max-listpack-*). */

/** The hash reducer (TYPE "hash"); see the module comment for its ops. */
export const hashType: Reducer<HashState> & { encoding(state: HashState, limits: EncodingLimits): string } = {
  type: "hash",
  opcodes: ["hset", "hdel", "hincrby", "hincrbyfloat"],

  apply(state, op) {
    switch (op[0]) {
      case "hset":
        return applySet(state, op);
      case "hdel":
        return applyDel(state, op);
      case "hincrby":
        return applyIncr(state, op);
      case "hincrbyfloat":
        return applyIncrFloat(state, op);
    }
    return NO_CHANGE(state);
  },

  undo(state, record) {
    if (record instanceof SetUndo) {
      // A hash the op created goes away whole; its object is not reused.
      if (record.created) return undefined;
      const c = record.changes;
      for (let i = c.length - 2; i >= 0; i -= 2) record.h.unset(c[i] as string, c[i + 1]);
      return record.h;
    }
    if (record instanceof DelUndo) {
      record.h.reinsert(record.removed);
      return record.h;
    }
    return state;
  },

  size(state) {
    return state.bytes;
  },

  /** Field, value, field, value... in order (the ordinals are renumbered on decode). */
  encode(state) {
    return state.flat();
  },

  decode(data) {
    const flat = data as string[];
    const h = new HashState();
    for (let i = 0; i + 1 < flat.length; i += 2) h.set(flat[i], flat[i + 1]);
    return h;
  },

  canonical(state) {
    // Length-prefixed fields and values, in order: unambiguous whatever bytes they hold.
    let out = "";
    const flat = state.flat();
    for (let i = 0; i < flat.length; i += 2) {
      out += `${flat[i].length}:${flat[i]}=${flat[i + 1].length}:${flat[i + 1]},`;
    }
    return out;
  },

  /** OBJECT ENCODING: Redis's listpack holds up to 128 fields, each name and value up to 64 bytes. */
  encoding(state, limits) {
    if (state.size > limits["hash-max-listpack-entries"]) return "hashtable";
    const flat = state.flat();
    for (const s of flat) if (s.length > limits["hash-max-listpack-value"]) return "hashtable";
    return "listpack";
  },

  event(op) {
    return typeof op[0] === "string" ? op[0] : String(op[0]);
  },
};

// ---------------------------------------------------------------- commands
// Handlers get the whole command line (args[0] is the command name); the dispatcher checked arity.

const E_NOT_INT = err("ERR hash value is not an integer");
const E_NOT_FLOAT = err("ERR hash value is not a float");
const E_INCR_NAN = err("ERR value is NaN or Infinity");
const E_RESULT_NAN = err("ERR increment would produce NaN or Infinity");

/** The hash at `key` for a write command (no hit/miss stats, as Redis's write lookups). */
function hashForWrite(ctx: Ctx, key: string): HashState | undefined {
  const ks = getKey(ctx, key);
  if (ks === undefined) return undefined;
  if (ks.type !== hashType) fail(E.wrongType);
  return ks.value as HashState;
}

/** HSET and HMSET: the number of fields created (HSET) or OK (HMSET). */
function hset(name: "hset" | "hmset"): Handler {
  return (ctx, args) => {
    if (args.length % 2 === 1) fail(E.arity(name));
    const key = args[1];
    const before = hashForWrite(ctx, key)?.size ?? 0;
    write(ctx, key, ["hset", ...args.slice(2)]);
    if (name === "hmset") return OK;
    return ((getKey(ctx, key)?.value as HashState | undefined)?.size ?? 0) - before;
  };
}

function hsetnx(ctx: Ctx, args: string[]): Reply {
  const key = args[1];
  if (hashForWrite(ctx, key)?.has(args[2])) return 0;
  write(ctx, key, ["hset", args[2], args[3]]);
  return 1;
}

function hdel(ctx: Ctx, args: string[]): Reply {
  const key = args[1];
  const h = hashForWrite(ctx, key);
  if (h === undefined) return 0;
  // Only the fields this node sees: a concurrent HSET of another field is not undone by a delete
  // that did not observe it.
  const present = new Set<string>();
  for (let j = 2; j < args.length; j++) if (h.has(args[j])) present.add(args[j]);
  if (present.size === 0) return 0;
  write(ctx, key, ["hdel", ...present]);
  return present.size;
}

function hincrby(ctx: Ctx, args: string[]): Reply {
  const delta = intArg(args[3]);
  const key = args[1], field = args[2];
  const r = incrInt(hashForWrite(ctx, key)?.get(field), delta);
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
  const r = incrFloat(hashForWrite(ctx, key)?.get(field), delta);
  if (r === "value") fail(E_NOT_FLOAT);
  if (r === "delta") fail(E.notFloat);
  if (r === "range") fail(E_RESULT_NAN);
  write(ctx, key, ["hincrbyfloat", field, delta]);
  return r;
}

function hget(ctx: Ctx, args: string[]): Reply {
  return getTyped(ctx, args[1], hashType)?.get(args[2]) ?? null;
}

function hmget(ctx: Ctx, args: string[]): Reply {
  const h = getTyped(ctx, args[1], hashType);
  const out: Reply[] = new Array(args.length - 2);
  for (let j = 2; j < args.length; j++) out[j - 2] = h?.get(args[j]) ?? null;
  return out;
}

function hgetall(ctx: Ctx, args: string[]): Reply {
  // A map in RESP3, a flat array in RESP2.
  return new MapReply(getTyped(ctx, args[1], hashType)?.flat() ?? []);
}

function hkeys(ctx: Ctx, args: string[]): Reply {
  return getTyped(ctx, args[1], hashType)?.fields() ?? [];
}

function hvals(ctx: Ctx, args: string[]): Reply {
  return getTyped(ctx, args[1], hashType)?.values() ?? [];
}

function hlen(ctx: Ctx, args: string[]): Reply {
  return getTyped(ctx, args[1], hashType)?.size ?? 0;
}

function hexists(ctx: Ctx, args: string[]): Reply {
  return getTyped(ctx, args[1], hashType)?.has(args[2]) ? 1 : 0;
}

function hstrlen(ctx: Ctx, args: string[]): Reply {
  return getTyped(ctx, args[1], hashType)?.get(args[2])?.length ?? 0;
}

/** Hash command handlers, keyed by lower-case command name. */
export const hashCommands: Record<string, Handler> = {
  hset: hset("hset"),
  hmset: hset("hmset"),
  hsetnx,
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
};

/** Why a command of this family is exclusive given its arguments, or null (see redis/exclusive.ts). */
export const hashExclusive: Record<string, (args: readonly string[]) => string | null> = {};
