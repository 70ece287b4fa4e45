/**
 * Generic commands over keys of several types: SORT, SORT_RO, DUMP and RESTORE.
 *
 * SORT reads a list, set or sorted set (and the keys its BY and GET patterns name) from this
 * node's view. SORT ... STORE writes `["del"]` then `["push", "R", values]` to its destination,
 * like SINTERSTORE: coordination-free, the destination becomes this node's result, and concurrent
 * writes to it that sort before the store are replaced, as a later SET would.
 *
 * DUMP answers Swytch's own payload (it is not Redis's RDB): `payload | version | checksum`, laid
 * out like Redis's so a damaged one is refused with Redis's error:
 * - payload: CBOR (core/codec.ts) of `[type name, the reducer's encode of the value]`;
 * - version: 2 bytes, little-endian, `DUMP_VERSION` (above any RDB version, so Redis refuses ours);
 * - checksum: 8 bytes, little-endian: the CRC-32 (core/crc32.ts) of payload and version, then the
 *   payload's length.
 * RESTORE checks all three, decodes the value once locally (a payload that does not decode is
 * "Bad data format", nothing written), then writes the core op `["restore", type, encoded,
 * deadline]` (core/fold.ts), which every node decodes alike. RESTORE without REPLACE promises the
 * key did not exist, a conditional write: exclusive. With REPLACE it overwrites: last writer wins.
 * IDLETIME sets the key's last access time on this node (OBJECT IDLETIME reads it); FREQ is
 * checked as Redis checks it and otherwise ignored: Swytch keeps no LFU counter per key.
 */
import { decodeValue, encodeValue } from "../core/codec.ts";
import { crc32 } from "../core/crc32.ts";
import type { KeyState } from "../core/keyspace.ts";
import { type Ctx, fail, getKey, type Handler, parseInt64, upper, write } from "./command.ts";
import { E, err, type ErrorReply, OK } from "./reply.ts";
import { type HashState, hashType } from "./types/hash.ts";
import { type ListState, listType } from "./types/list.ts";
import { type SetState, setType } from "./types/set.ts";
import { stringType, type StrState, sv } from "./types/string.ts";
import { zsetCommands } from "./types/zset.ts";

// ---------------------------------------------------------------- SORT

const E_SCORES = err("ERR One or more scores can't be converted into double");

/** What SORT's options asked for. */
interface SortOptions {
  by: string | null;
  /** BY named a pattern without `*`: keep the native order. */
  dontsort: boolean;
  gets: string[];
  start: number;
  /** LIMIT's count; negative: to the end. */
  count: number;
  desc: boolean;
  alpha: boolean;
  store: string | null;
}

/** A LIMIT bound: an int64, clamped into the safe range (beyond it every collection is smaller). */
function limitArg(s: string): number {
  const n = parseInt64(s);
  if (n === null) fail(E.notInt);
  if (typeof n === "bigint") return n < 0n ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  return n;
}

/** Parses SORT's options (args[2...]); SORT_RO (`readonly`) has no STORE. */
function sortOptions(args: readonly string[], readonly: boolean): SortOptions {
  const o: SortOptions = {
    by: null,
    dontsort: false,
    gets: [],
    start: 0,
    count: -1,
    desc: false,
    alpha: false,
    store: null,
  };
  for (let j = 2; j < args.length; j++) {
    const opt = upper(args[j]);
    const left = args.length - j - 1;
    if (opt === "ASC") o.desc = false;
    else if (opt === "DESC") o.desc = true;
    else if (opt === "ALPHA") o.alpha = true;
    else if (opt === "LIMIT" && left >= 2) {
      o.start = limitArg(args[j + 1]);
      o.count = limitArg(args[j + 2]);
      j += 2;
    } else if (opt === "STORE" && !readonly && left >= 1) {
      o.store = args[++j];
    } else if (opt === "BY" && left >= 1) {
      o.by = args[++j];
      o.dontsort = !o.by.includes("*");
    } else if (opt === "GET" && left >= 1) {
      o.gets.push(args[++j]);
    } else {
      fail(E.syntax);
    }
  }
  return o;
}

/**
 * Looks up what `pattern` names for element `elem` (Redis's rules): "#" is the element itself;
 * the first `*` is replaced by the element; `key->field` (a non-empty field after the first "->"
 * following the `*`) reads a hash field, otherwise a string key. Null when there is no `*`, the
 * key is missing, or it holds another type.
 */
function lookupPattern(ctx: Ctx, pattern: string, elem: string): string | null {
  if (pattern === "#") return elem;
  const star = pattern.indexOf("*");
  if (star < 0) return null;
  const arrow = pattern.indexOf("->", star + 1);
  const field = arrow >= 0 && arrow + 2 < pattern.length ? pattern.slice(arrow + 2) : null;
  const keyPattern = field === null ? pattern : pattern.slice(0, arrow);
  const key = keyPattern.slice(0, star) + elem + keyPattern.slice(star + 1);
  const ks = getKey(ctx, key);
  if (ks === undefined) return null;
  if (field !== null) return ks.type === hashType ? (ks.value as HashState).get(field) ?? null : null;
  return ks.type === stringType ? sv(ks.value as StrState) : null;
}

const STRTOD_DEC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const STRTOD_HEX = /^([+-]?)0[xX]([0-9a-fA-F]*)\.?([0-9a-fA-F]*)(?:[pP]([+-]?\d+))?$/;
const STRTOD_INF = /^[+-]?inf(inity)?$/i;
const SPACE = /^[ \t\n\v\f\r]+/;
/** Smallest normal double: glibc's strtod reports ERANGE below it. */
const MIN_NORMAL = 2.2250738585072014e-308;

/**
 * A score as Redis reads one for SORT (C's strtod, whole string, not NaN, no ERANGE): leading
 * white space, decimal or hex floats, inf; the empty string is 0. Null when it is not a double.
 */
export function sortScore(s: string): number | null {
  if (s.length === 0) return 0;
  if (s.length > 5000) return null;
  const t = s.replace(SPACE, "");
  let x: number;
  if (STRTOD_INF.test(t)) return t[0] === "-" ? -Infinity : Infinity;
  if (STRTOD_DEC.test(t)) {
    x = Number(t);
  } else {
    const m = STRTOD_HEX.exec(t);
    if (m === null || m[2].length + m[3].length === 0) return null;
    const mant = parseInt(m[2] + m[3] || "0", 16);
    x = mant * 2 ** (Number(m[4] ?? "0") - 4 * m[3].length);
    if (m[1] === "-") x = -x;
  }
  if (!Number.isFinite(x)) return null;
  const digits = /[1-9a-fA-F]/.test(t.replace(/[eEpP].*$/, "").replace(/^[+-]?0[xX]/, ""));
  if ((x === 0 && digits) || (x !== 0 && Math.abs(x) < MIN_NORMAL)) return null;
  return x;
}

/** Binary comparison of two byte strings (memcmp, then length). */
function cmpBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The members of a sorted set in score order, read through the zset family's ZRANGE. */
function zsetMembers(ctx: Ctx, key: string): string[] {
  const zrange = zsetCommands.zrange;
  if (zrange === undefined) fail(err("ERR SORT of a sorted set is not supported by this node yet"));
  return zrange(ctx, ["zrange", key, "0", "-1"]) as string[];
}

/** The elements to sort in their native order, and whether that order means something. */
function sortSource(ctx: Ctx, key: string): { elems: string[]; ordered: boolean } {
  const ks = getKey(ctx, key);
  if (ks === undefined) {
    ctx.engine.stats.keyspaceMisses++;
    return { elems: [], ordered: true };
  }
  ctx.engine.stats.keyspaceHits++;
  if (ks.type === listType) return { elems: (ks.value as ListState).values(), ordered: true };
  if (ks.type === setType) return { elems: (ks.value as SetState).members(), ordered: false };
  if (ks.type!.type === "zset") return { elems: zsetMembers(ctx, key), ordered: true };
  return fail(E.wrongType);
}

/** Sorts `elems` in place as SORT does: by score (ties by bytes) or ALPHA, by element or BY key. */
function sortElements(ctx: Ctx, elems: string[], o: SortOptions): void {
  const by = o.by;
  const sign = o.desc ? -1 : 1;
  if (o.alpha) {
    if (by === null) {
      elems.sort((a, b) => sign * cmpBytes(a, b));
      return;
    }
    // A missing BY value sorts first.
    const keys = elems.map((e) => ({ e, k: lookupPattern(ctx, by, e) }));
    keys.sort((x, y) => {
      if (x.k === null || y.k === null) return sign * (x.k === y.k ? 0 : x.k === null ? -1 : 1);
      return sign * cmpBytes(x.k, y.k);
    });
    for (let i = 0; i < keys.length; i++) elems[i] = keys[i].e;
    return;
  }
  const keys = elems.map((e) => {
    const v = by === null ? e : lookupPattern(ctx, by, e);
    const score = v === null ? 0 : sortScore(v);
    if (score === null) fail(E_SCORES);
    return { e, score };
  });
  keys.sort((x, y) => sign * (x.score > y.score ? 1 : x.score < y.score ? -1 : cmpBytes(x.e, y.e)));
  for (let i = 0; i < keys.length; i++) elems[i] = keys[i].e;
}

/** SORT and SORT_RO. */
function sortCommand(readonly: boolean): Handler {
  return (ctx, args) => {
    const o = sortOptions(args, readonly);
    const { elems, ordered } = sortSource(ctx, args[1]);
    // A set has no native order: with STORE (or from a script, as Redis does) it is sorted ALPHA,
    // so every node stores the same list.
    if (o.dontsort && !ordered && (o.store !== null || ctx.fromScript === true)) {
      o.dontsort = false;
      o.alpha = true;
      o.by = null;
    }
    if (!o.dontsort) sortElements(ctx, elems, o);
    else if (ordered && o.desc) elems.reverse();
    const n = elems.length;
    let start = o.start < 0 ? 0 : o.start;
    let end = o.count < 0 ? n - 1 : start + o.count - 1;
    if (start >= n) {
      start = n - 1;
      end = n - 2;
    }
    if (end >= n) end = n - 1;
    const out: (string | null)[] = [];
    for (let i = start; i <= end; i++) {
      if (o.gets.length === 0) out.push(elems[i]);
      else for (const g of o.gets) out.push(lookupPattern(ctx, g, elems[i]));
    }
    if (o.store === null) return out;
    if (out.length === 0) {
      if (getKey(ctx, o.store) !== undefined) write(ctx, o.store, ["del"]);
      return 0;
    }
    write(ctx, o.store, ["del"]);
    write(ctx, o.store, ["push", "R", out.map((v) => v ?? "")]);
    return out.length;
  };
}

// ---------------------------------------------------------------- DUMP and RESTORE

/** The version DUMP writes and RESTORE accepts (0x5357, "SW": above every RDB version). */
export const DUMP_VERSION = 0x5357;
/** Bytes after the payload: version (2) and checksum (8). */
const DUMP_FOOTER = 10;
/** Deepest nesting a RESTOREd value may have (reducers' encodings are a few levels deep). */
const MAX_DUMP_DEPTH = 32;

const E_PAYLOAD = err("ERR DUMP payload version or checksum are wrong");
const E_BAD_DATA = err("ERR Bad data format");
const E_BUSY = err("BUSYKEY Target key name already exists.");
const E_TTL = err("ERR Invalid TTL value, must be >= 0");
const E_IDLE = err("ERR Invalid IDLETIME value, must be >= 0");
const E_FREQ = err("ERR Invalid FREQ value, must be >= 0 and <= 255");

/** A binary-safe string (one char per byte) as bytes. */
function toBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** Bytes as a binary-safe string. */
function fromBytes(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 8192) {
    s += String.fromCharCode.apply(null, b.subarray(i, i + 8192) as unknown as number[]);
  }
  return s;
}

/** The DUMP payload of a key's value (no TTL, as Redis's). */
export function dumpPayload(ks: KeyState): string {
  const body = encodeValue([ks.type!.type, ks.type!.encode(ks.value)]);
  const out = new Uint8Array(body.length + DUMP_FOOTER);
  out.set(body);
  const dv = new DataView(out.buffer);
  dv.setUint16(body.length, DUMP_VERSION, true);
  dv.setUint32(body.length + 2, crc32(out, 0, body.length + 2), true);
  dv.setUint32(body.length + 6, body.length, true);
  return fromBytes(out);
}

const NOT_BYTES = /[\u0100-\uffff]/;

/**
 * True when `x` holds only what the log can write: binary-safe strings (one char per byte),
 * numbers, booleans, null, and arrays of those.
 */
function plainValue(x: unknown, depth: number): boolean {
  if (Array.isArray(x)) return depth < MAX_DUMP_DEPTH && x.every((y) => plainValue(y, depth + 1));
  if (typeof x === "string") return !NOT_BYTES.test(x);
  const t = typeof x;
  return x === null || t === "number" || t === "bigint" || t === "boolean";
}

/** The `[type, encoded]` of a payload, after checking its footer and that the value decodes. */
export function readPayload(ctx: Ctx, payload: string): [string, unknown] {
  if (payload.length < DUMP_FOOTER) fail(E_PAYLOAD);
  const bytes = toBytes(payload);
  const n = bytes.length - DUMP_FOOTER;
  const dv = new DataView(bytes.buffer);
  if (
    dv.getUint16(n, true) !== DUMP_VERSION || dv.getUint32(n + 2, true) !== crc32(bytes, 0, n + 2) ||
    dv.getUint32(n + 6, true) !== n
  ) {
    fail(E_PAYLOAD);
  }
  let data: unknown;
  try {
    data = decodeValue(bytes.subarray(0, n));
  } catch {
    fail(E_BAD_DATA);
  }
  if (!Array.isArray(data) || data.length !== 2 || typeof data[0] !== "string" || !plainValue(data[1], 0)) {
    fail(E_BAD_DATA);
  }
  const r = ctx.engine.registry.forType(data[0]);
  if (r === undefined) fail(E_BAD_DATA);
  try {
    r.canonical(r.decode(data[1]));
  } catch {
    fail(E_BAD_DATA);
  }
  return [data[0], data[1]];
}

const dump: Handler = (ctx, args) => {
  const ks = getKey(ctx, args[1]);
  if (ks === undefined) {
    ctx.engine.stats.keyspaceMisses++;
    return null;
  }
  ctx.engine.stats.keyspaceHits++;
  return dumpPayload(ks);
};

/** A non-negative int64 option of RESTORE, or `e`. */
function nonNegative(s: string, e: ErrorReply): number {
  const n = parseInt64(s);
  if (n === null) fail(E.notInt);
  if (n < 0) fail(e);
  return typeof n === "bigint" ? Number(n) : n;
}

/** RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f], checks in Redis's order. */
const restore: Handler = (ctx, args) => {
  let replace = false, absttl = false, idle = false, freq = false, idleSec = 0;
  for (let j = 4; j < args.length; j++) {
    const opt = upper(args[j]);
    const more = j + 1 < args.length;
    if (opt === "REPLACE") replace = true;
    else if (opt === "ABSTTL") absttl = true;
    else if (opt === "IDLETIME" && more && !freq) {
      idleSec = nonNegative(args[++j], E_IDLE);
      idle = true;
    } else if (opt === "FREQ" && more && !idle) {
      if (nonNegative(args[++j], E_FREQ) > 255) fail(E_FREQ);
      freq = true;
    } else {
      fail(E.syntax);
    }
  }
  const key = args[1];
  const existing = getKey(ctx, key);
  if (!replace && existing !== undefined) fail(E_BUSY);
  const ttl = nonNegative(args[2], E_TTL);
  const [type, encoded] = readPayload(ctx, args[3]);
  const now = ctx.batch.nowMs;
  const deadline = ttl === 0 ? 0 : absttl ? ttl : now + ttl;
  if (deadline !== 0 && deadline <= now) {
    // Already expired: nothing is created; REPLACE still deletes the old value.
    if (existing !== undefined) write(ctx, key, ["del"]);
    return OK;
  }
  write(ctx, key, ["restore", type, encoded, deadline]);
  if (idle) getKey(ctx, key)!.accessMs = now - idleSec * 1000;
  return OK;
};

// ---------------------------------------------------------------- tables

/** Command handlers, keyed by lower-case command name. */
export const genericCommands: Record<string, Handler> = {
  sort: sortCommand(false),
  sort_ro: sortCommand(true),
  dump,
  restore,
};

/** Why a command of this family is exclusive given its arguments, or null (see redis/exclusive.ts). */
export const genericExclusive: Record<string, (args: readonly string[]) => string | null> = {
  restore: (args) =>
    args.slice(4).some((a) => upper(a) === "REPLACE")
      ? null
      : "RESTORE without REPLACE is a conditional write",
};
