/**
 * The string data type: its reducer and the 25 string commands of Redis 8.4.
 *
 * A value is a binary string, one JS char per byte ("latin1"). Ops are normalized and total:
 *   ["set", v]            value v, TTL cleared;     ["set", v, 1]  value v, TTL kept (KEEPTTL);
 *   ["set", v, 2]         value v, TTL cleared, OBJECT ENCODING "raw" (BITOP's result);
 *   ["incr", delta]       int64 add (number or bigint); no-op on a non-integer value or overflow;
 *   ["incrbyfloat", d]    long-double add; d is the client's decimal text (or a number); no-op on a
 *                         non-float value or an inf/NaN result;
 *   ["append", s];  ["setrange", offset, s]   (zero-padded);
 *   ["setbit", offset, bit] and the BITFIELD ops ["bfset" | "bfincr" | "bfgrow", ...] (redis/types/bitmap.ts);
 *   the HyperLogLog ops ["pfadd" | "pfmerge" | "pfcache" | "pfdense", ...] (redis/types/hll.ts).
 * Expiry, deletion and copies are the core's ops (pexpire, pexpireat, persist, del, restore).
 *
 * INCRBYFLOAT follows Redis on x86-64, where the arithmetic is done in 80-bit extended precision
 * (64-bit mantissa) and the result printed with 17 digits after the point: that is emulated here
 * exactly with bigints, so "0.1 + 0.2" gives "0.3" as Redis does.
 */
import type { KeyState } from "../../core/keyspace.ts";
import type { Op } from "../../core/effect.ts";
import type { Applied, Reducer } from "../../core/reducer.ts";
import { type Ctx, fail, getTyped, type Handler, normInt, parseInt64, write } from "../command.ts";
import { E, err, MapReply, OK, type Reply } from "../reply.ts";
import { applyBitOp } from "./bitmap.ts";
import { applyHllOp } from "./hll.ts";

// ------------------------------------------------------------------------------------------------
// Integers

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** Redis's string2ll rules: like parseInt64, but "-0" is not an integer. */
function parseI64(s: string): number | bigint | null {
  if (s === "-0") return null;
  return parseInt64(s);
}

/** `cur + delta` when it stays in int64, else null. */
function addI64(cur: number | bigint, delta: number | bigint): number | bigint | null {
  if (typeof cur === "number" && typeof delta === "number") {
    const r = cur + delta;
    if (Number.isSafeInteger(r)) return r;
  }
  const r = BigInt(cur) + BigInt(delta);
  if (r < I64_MIN || r > I64_MAX) return null;
  return normInt(r);
}

// ------------------------------------------------------------------------------------------------
// 80-bit long double emulation (x87 extended: 64-bit mantissa, exponent range of 15 bits)

/** A finite long double `(-1)^neg * m * 2^e` (m < 2^64, m = 0 for zero), or an infinity. */
type LD = { inf: false; neg: boolean; m: bigint; e: number } | { inf: true; neg: boolean };

const TWO63 = 1n << 63n;
const TWO64 = 1n << 64n;
/** Exponent of the smallest subnormal quantum: 2^-16445. */
const LD_MIN_E = -16445;
/** Largest exponent with a 64-bit mantissa: values stay below 2^16384. */
const LD_MAX_E = 16320;
const ZERO: LD = { inf: false, neg: false, m: 0n, e: 0 };

function bitLen(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/** Rounds the exact value `(-1)^neg * num / den * 2^base` (num >= 0, den > 0) to a long double. */
function roundLD(neg: boolean, num: bigint, den: bigint, base: number): LD {
  if (num === 0n) return { inf: false, neg, m: 0n, e: 0 };
  // num / den lies in [2^(k-1), 2^(k+1)); scale it so the quotient has 64 (or 65) bits.
  let e = bitLen(num) - bitLen(den) - 64;
  if (base + e < LD_MIN_E) e = LD_MIN_E - base;
  let q = 0n, r = 0n, d = 0n;
  for (;;) {
    const n = e >= 0 ? num : num << BigInt(-e);
    d = e >= 0 ? den << BigInt(e) : den;
    q = n / d;
    r = n - q * d;
    if (q < TWO64) break;
    e++;
  }
  const twice = 2n * r;
  if (twice > d || (twice === d && (q & 1n) === 1n)) q++;
  if (q === TWO64) {
    q = TWO63;
    e++;
  }
  if (base + e > LD_MAX_E) return { inf: true, neg };
  if (q === 0n) return { inf: false, neg, m: 0n, e: 0 };
  return { inf: false, neg, m: q, e: base + e };
}

const MAX_LD_CHARS = 5 * 1024;

/**
 * Parses a value or argument as Redis's string2ld does with strtold: no leading space, no trailing
 * junk, decimal or hexadecimal ("0x1p3") notation, inf/infinity; NaN, overflow and underflow to
 * zero are refused. Returns null when invalid.
 */
function parseLD(s: string): LD | null {
  const n = s.length;
  if (n === 0 || n >= MAX_LD_CHARS) return null;
  let i = 0;
  let neg = false;
  if (s[0] === "+" || s[0] === "-") {
    neg = s[0] === "-";
    i = 1;
  }
  const rest = s.slice(i).toLowerCase();
  if (rest === "inf" || rest === "infinity") return { inf: true, neg };
  if (rest.length >= 3 && rest.startsWith("0x") && isHex(rest.charCodeAt(2)) || /^0x\.[0-9a-f]/.test(rest)) {
    return parseHexLD(neg, rest.slice(2));
  }
  const m = /^([0-9]*)(?:\.([0-9]*))?(?:e([+-]?[0-9]+))?$/.exec(rest);
  if (m === null) return null;
  const intDigits = m[1];
  const fracDigits = m[2] ?? "";
  if (intDigits.length + fracDigits.length === 0) return null;
  const all = (intDigits + fracDigits).replace(/^0+/, "");
  if (all.length === 0) return { inf: false, neg, m: 0n, e: 0 };
  const exp10 = expValue(m[3]) - fracDigits.length;
  // The value is all * 10^exp10; its decimal magnitude is about 10^(exp10 + all.length).
  const mag = exp10 + all.length;
  if (mag > 4940) return null; // overflow (long double max is about 1.19e4932)
  if (mag < -4960) return null; // underflow to zero (smallest subnormal is about 3.6e-4951)
  const digits = BigInt(all);
  const r = exp10 >= 0
    ? roundLD(neg, digits * 10n ** BigInt(exp10), 1n, 0)
    : roundLD(neg, digits, 10n ** BigInt(-exp10), 0);
  return finiteNonZero(r);
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102);
}

/** The value of an optional decimal exponent, saturated far beyond any representable range. */
function expValue(t: string | undefined): number {
  if (t === undefined) return 0;
  const neg = t[0] === "-";
  const digits = t.replace(/^[+-]/, "").replace(/^0+/, "");
  const v = digits.length > 9 ? 1e9 : Number(digits === "" ? "0" : digits);
  return neg ? -v : v;
}

function parseHexLD(neg: boolean, body: string): LD | null {
  const m = /^([0-9a-f]*)(?:\.([0-9a-f]*))?(?:p([+-]?[0-9]+))?$/.exec(body);
  if (m === null) return null;
  const intDigits = m[1];
  const fracDigits = m[2] ?? "";
  if (intDigits.length + fracDigits.length === 0) return null;
  const all = (intDigits + fracDigits).replace(/^0+/, "");
  if (all.length === 0) return { inf: false, neg, m: 0n, e: 0 };
  const exp2 = expValue(m[3]) - 4 * fracDigits.length;
  const mag = exp2 + 4 * all.length;
  if (mag > 16390) return null;
  if (mag < -16460) return null;
  return finiteNonZero(roundLD(neg, BigInt("0x" + all), 1n, exp2));
}

/** A parse that rounded to infinity or to zero is an overflow or underflow: refused. */
function finiteNonZero(r: LD): LD | null {
  if (r.inf || r.m === 0n) return null;
  return r;
}

const F64 = new DataView(new ArrayBuffer(8));

/** The exact long double of a double. */
function ldFromNumber(x: number): LD {
  if (x === Infinity || x === -Infinity) return { inf: true, neg: x < 0 };
  if (x === 0) return { inf: false, neg: Object.is(x, -0), m: 0n, e: 0 };
  F64.setFloat64(0, x);
  const hi = F64.getUint32(0);
  const lo = F64.getUint32(4);
  const neg = (hi >>> 31) === 1;
  const bexp = (hi >>> 20) & 0x7ff;
  const frac = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (bexp === 0) return { inf: false, neg, m: frac, e: -1074 };
  return { inf: false, neg, m: frac | (1n << 52n), e: bexp - 1075 };
}

/** a + b rounded to a long double; null when the result is NaN or infinite. */
function addLD(a: LD, b: LD): LD | null {
  if (a.inf || b.inf) return null;
  if (a.m === 0n && b.m === 0n) return { inf: false, neg: a.neg && b.neg, m: 0n, e: 0 };
  if (a.m === 0n) return b;
  if (b.m === 0n) return a;
  const base = Math.min(a.e, b.e);
  const va = (a.m << BigInt(a.e - base)) * (a.neg ? -1n : 1n);
  const vb = (b.m << BigInt(b.e - base)) * (b.neg ? -1n : 1n);
  const sum = va + vb;
  if (sum === 0n) return ZERO;
  const r = roundLD(sum < 0n, sum < 0n ? -sum : sum, 1n, base);
  return r.inf ? null : r;
}

const TEN17 = 10n ** 17n;

/** `%.17Lf` with trailing zeros (and a trailing point) removed; "-0" becomes "0". */
function formatLD(v: LD): string {
  if (v.inf) return v.neg ? "-inf" : "inf";
  let q: bigint;
  if (v.e >= 0) {
    q = (v.m << BigInt(v.e)) * TEN17;
  } else {
    const num = v.m * TEN17;
    const sh = BigInt(-v.e);
    q = num >> sh;
    const r = num - (q << sh);
    const half = 1n << (sh - 1n);
    if (r > half || (r === half && (q & 1n) === 1n)) q++;
  }
  const ip = q / TEN17;
  let fp = (q % TEN17).toString().padStart(17, "0").replace(/0+$/, "");
  if (fp.length > 0) fp = "." + fp;
  const s = ip.toString() + fp;
  return v.neg && s !== "0" ? "-" + s : s;
}

/**
 * INCRBYFLOAT: the new value text for `cur` (undefined = absent) plus `delta`; "value" when the
 * value is not a float, "delta" when the increment is not, "range" on NaN or infinity. HINCRBYFLOAT
 * (redis/types/hash.ts) shares it: Redis does the same arithmetic and formatting for hash fields.
 */
export function incrFloat(
  cur: string | undefined,
  delta: string | number,
): string | "value" | "delta" | "range" {
  const a = cur === undefined ? ZERO : parseLD(cur);
  if (a === null) return "value";
  const b = typeof delta === "number" ? (Number.isNaN(delta) ? null : ldFromNumber(delta)) : parseLD(delta);
  if (b === null) return "delta";
  const sum = addLD(a, b);
  if (sum === null) return "range";
  return formatLD(sum);
}

// ------------------------------------------------------------------------------------------------
// The reducer

/**
 * A short value made by APPEND, SETRANGE or SETBIT: Redis reports such values as "raw" whatever
 * they look like, while SET and INCR give "int" or "embstr". The wrapper exists only to answer
 * OBJECT ENCODING like Redis; values longer than 44 bytes are raw anyway and stay plain strings.
 */
export class RawString {
  constructor(readonly s: string) {}
}

/** A string key's state. */
export type StrState = string | RawString;

/** The bytes of a string state. */
export function sv(v: StrState): string;
export function sv(v: StrState | undefined): string | undefined;
export function sv(v: StrState | undefined): string | undefined {
  return v === undefined || typeof v === "string" ? v : v.s;
}

const EMBSTR_MAX = 44;

function unchanged(state: StrState | undefined): Applied<StrState> {
  return { state, undo: state, delta: 0 };
}

function changed(
  state: StrState | undefined,
  next: string,
  clearTtl = false,
  raw = false,
): Applied<StrState> {
  const delta = next.length - (sv(state)?.length ?? 0);
  const v = raw && next.length <= EMBSTR_MAX ? new RawString(next) : next;
  return clearTtl ? { state: v, undo: state, delta, deadline: 0 } : { state: v, undo: state, delta };
}

/** Sets bit `offset` (0 = most significant bit of the first byte) of `s`, padding with zeros. */
function setBit(s: string, offset: number, bit: number): string {
  const byte = Math.floor(offset / 8);
  const mask = 0x80 >> (offset % 8);
  const pad = byte >= s.length ? s + "\u0000".repeat(byte - s.length + 1) : s;
  const old = pad.charCodeAt(byte);
  const b = bit === 1 ? old | mask : old & ~mask;
  return pad.slice(0, byte) + String.fromCharCode(b) + pad.slice(byte + 1);
}

/** Bit `offset` of `s` (0 past the end). */
export function getBit(s: string, offset: number): number {
  const byte = Math.floor(offset / 8);
  if (byte >= s.length) return 0;
  return (s.charCodeAt(byte) >> (7 - (offset % 8))) & 1;
}

/** Builds `s` padded with NULs to `offset` then overwritten with `v`; null if JS cannot hold it. */
function setRange(s: string, offset: number, v: string): string | null {
  try {
    const pad = offset > s.length ? s + "\u0000".repeat(offset - s.length) : s;
    return pad.slice(0, offset) + v + pad.slice(offset + v.length);
  } catch {
    return null;
  }
}

/** Keyspace event names; "" for ops Redis announces nothing for (PFCOUNT's cache, PFDEBUG). */
const EVENTS: Record<string, string> = {
  set: "set",
  incr: "incrby",
  incrbyfloat: "incrbyfloat",
  append: "append",
  setrange: "setrange",
  setbit: "setbit",
  bfset: "setbit",
  bfincr: "setbit",
  bfgrow: "setbit",
  pfadd: "pfadd",
  pfmerge: "pfadd",
  pfcache: "",
  pfdense: "",
};

export const stringType: Reducer<StrState> & { encoding(state: StrState): string } = {
  type: "string",
  // Listed literally: bitmap.ts and hll.ts import this module, so their constants may not exist yet.
  opcodes: [
    "set",
    "incr",
    "incrbyfloat",
    "append",
    "setrange",
    "setbit",
    "bfset",
    "bfincr",
    "bfgrow",
    "pfadd",
    "pfmerge",
    "pfcache",
    "pfdense",
  ],

  apply(prev: StrState | undefined, op: Op): Applied<StrState> {
    const state = sv(prev);
    switch (op[0]) {
      case "set": {
        const v = op[1];
        return changed(prev, typeof v === "string" ? v : String(v), op[2] !== 1, op[2] === 2);
      }
      case "incr": {
        const delta = op[1];
        if (typeof delta !== "bigint" && !Number.isSafeInteger(delta)) return unchanged(prev);
        const cur = state === undefined ? 0 : parseI64(state);
        if (cur === null) return unchanged(prev);
        const r = addI64(cur, delta as number | bigint);
        return r === null ? unchanged(prev) : changed(prev, String(r));
      }
      case "incrbyfloat": {
        const delta = op[1];
        if (typeof delta !== "string" && typeof delta !== "number") return unchanged(prev);
        const r = incrFloat(state, delta);
        return r === "value" || r === "delta" || r === "range" ? unchanged(prev) : changed(prev, r);
      }
      case "append": {
        const s = op[1];
        if (typeof s !== "string") return unchanged(prev);
        try {
          return changed(prev, (state ?? "") + s, false, true);
        } catch {
          return unchanged(prev);
        }
      }
      case "setrange": {
        const offset = op[1];
        const s = op[2];
        if (
          typeof s !== "string" || typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0
        ) {
          return unchanged(prev);
        }
        // Redis creates nothing when setting an empty string, and leaves an existing value alone.
        if (s.length === 0) return unchanged(prev);
        const next = setRange(state ?? "", offset, s);
        return next === null ? unchanged(prev) : changed(prev, next, false, true);
      }
      case "setbit": {
        const offset = op[1], bit = op[2];
        if (
          typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0 ||
          (bit !== 0 && bit !== 1)
        ) {
          return unchanged(prev);
        }
        return changed(prev, setBit(state ?? "", offset, bit), false, true);
      }
      case "bfset":
      case "bfincr":
      case "bfgrow": {
        const next = applyBitOp(state, op);
        return next === null ? unchanged(prev) : changed(prev, next, false, true);
      }
      case "pfadd":
      case "pfmerge":
      case "pfcache":
      case "pfdense": {
        const next = applyHllOp(state, op);
        return next === null ? unchanged(prev) : changed(prev, next, false, true);
      }
    }
    return unchanged(prev);
  },

  undo(_state: StrState | undefined, undo: unknown): StrState | undefined {
    return undo as StrState | undefined;
  },
  size: (state) => sv(state).length,
  encode: (state) => (typeof state === "string" ? state : [state.s]),
  decode: (data) => (Array.isArray(data) ? new RawString(data[0] as string) : data as string),
  canonical: (state) => sv(state),
  encoding(state: StrState): string {
    if (typeof state !== "string") return "raw";
    if (state.length <= 20 && parseI64(state) !== null) return "int";
    return state.length <= EMBSTR_MAX ? "embstr" : "raw";
  },
  event: (op) => EVENTS[op[0] as string] ?? String(op[0]),
};

// ------------------------------------------------------------------------------------------------
// Command helpers

const DEFAULT_MAX_BULK = 512 * 1024 * 1024;
const E_MAX_SIZE = err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
const E_NAN = err("ERR increment would produce NaN or Infinity");
const E_DIGEST = err("ERR must be exactly 16 hexadecimal characters");
const E_NUMKEYS = err("ERR invalid numkeys value");

/** proto-max-bulk-len: the longest string a command may make. */
export function maxBulk(ctx: Ctx): number {
  return ctx.face?.config?.protoMaxBulkLen ?? DEFAULT_MAX_BULK;
}

/** Redis's checkStringLength: size + append must fit proto-max-bulk-len. */
function checkLength(ctx: Ctx, size: number, append: number): void {
  if (size + append > maxBulk(ctx)) fail(E_MAX_SIZE);
}

function i64Arg(s: string, e = E.notInt): number | bigint {
  const n = parseI64(s);
  if (n === null) fail(e);
  return n;
}

/** The key's live state (no hit/miss accounting, like Redis's lookups for writing). */
function live(ctx: Ctx, key: string): KeyState | undefined {
  return ctx.batch.get(ctx.db, key);
}

/** The string value of a key looked up for writing; WRONGTYPE for another type. */
export function strForWrite(ctx: Ctx, key: string): string | undefined {
  const ks = live(ctx, key);
  if (ks === undefined) return undefined;
  if (ks.type !== stringType) fail(E.wrongType);
  return sv(ks.value as StrState);
}

type ExpireKind = "ex" | "px" | "exat" | "pxat";

/** An expire option as the reducer ops express it. */
type Expire = { op: "pexpire"; ms: number } | { op: "pexpireat"; ms: number };

/**
 * Validates an expire argument as Redis does (positive, no overflow once in ms and, for relative
 * times, once the current time is added).
 */
function expireArg(ctx: Ctx, kind: ExpireKind, arg: string, cmd: string): Expire {
  let v = BigInt(i64Arg(arg));
  const seconds = kind === "ex" || kind === "exat";
  if (v <= 0n || (seconds && v > I64_MAX / 1000n)) fail(E.invalidExpire(cmd));
  if (seconds) v *= 1000n;
  if (kind === "ex" || kind === "px") {
    if (v + BigInt(ctx.batch.nowMs) > I64_MAX) fail(E.invalidExpire(cmd));
    return { op: "pexpire", ms: Number(v) };
  }
  return { op: "pexpireat", ms: Number(v) };
}

function writeExpire(ctx: Ctx, key: string, x: Expire): void {
  write(ctx, key, [x.op, x.ms]);
}

interface ExtArgs {
  nx: boolean;
  xx: boolean;
  get: boolean;
  keepttl: boolean;
  persist: boolean;
  expire: { kind: ExpireKind; arg: string } | null;
  cond: { kind: "ifeq" | "ifne" | "ifdeq" | "ifdne"; value: string } | null;
}

/**
 * Parses the options of SET, GETEX and MSETEX from `start`, with Redis's rules on which options
 * exclude which (an option may repeat; a conflicting one is a syntax error).
 */
function parseExt(args: string[], start: number, cmd: "set" | "get" | "msetex"): ExtArgs {
  const a: ExtArgs = {
    nx: false,
    xx: false,
    get: false,
    keepttl: false,
    persist: false,
    expire: null,
    cond: null,
  };
  const setLike = cmd !== "get";
  for (let j = start; j < args.length; j++) {
    const opt = args[j].toLowerCase();
    const hasNext = j + 1 < args.length;
    const exp = a.expire?.kind;
    if (opt === "nx" && !a.xx && setLike) {
      a.nx = true;
    } else if (opt === "xx" && !a.nx && setLike) {
      a.xx = true;
    } else if (opt === "get" && cmd === "set") {
      a.get = true;
    } else if (opt === "keepttl" && !a.persist && exp === undefined && setLike) {
      a.keepttl = true;
    } else if (opt === "persist" && cmd === "get" && exp === undefined && !a.keepttl) {
      a.persist = true;
    } else if (
      (opt === "ex" || opt === "px" || opt === "exat" || opt === "pxat") && !a.keepttl && !a.persist &&
      (exp === undefined || exp === opt) && hasNext
    ) {
      a.expire = { kind: opt, arg: args[++j] };
    } else if (
      (opt === "ifeq" || opt === "ifne" || opt === "ifdeq" || opt === "ifdne") && hasNext && cmd === "set" &&
      !a.nx && !a.xx && (a.cond === null || a.cond.kind === opt)
    ) {
      a.cond = { kind: opt, value: args[++j] };
    } else {
      fail(E.syntax);
    }
  }
  return a;
}

/** Compares a digest argument with the value's digest (case-insensitive); checks its length. */
function digestMatches(ctx: Ctx, value: string, digest: string): boolean {
  if (digest.length !== 16) fail(E_DIGEST);
  return ctx.face.digest(value) === asciiLower(digest);
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** Distinct keys with their last value, in first-seen order (MSET with a key twice: last wins). */
function lastWins(args: string[], from: number, to: number): Map<string, string> {
  const m = new Map<string, string>();
  for (let j = from; j < to; j += 2) m.set(args[j], args[j + 1]);
  return m;
}

function incrBy(ctx: Ctx, key: string, delta: number | bigint): Reply {
  const cur = strForWrite(ctx, key);
  const v = cur === undefined ? 0 : parseI64(cur);
  if (v === null) fail(E.notInt);
  const r = addI64(v, delta);
  if (r === null) fail(E.overflow);
  write(ctx, key, ["incr", delta]);
  return r;
}

/** GETRANGE's index arithmetic on a string of length `len` ([start, end] inclusive, or null). */
function range(len: number, start: number | bigint, end: number | bigint): [number, number] | null {
  let s = BigInt(start), e = BigInt(end);
  const n = BigInt(len);
  if (s < 0n && e < 0n && s > e) return null;
  if (s < 0n) s += n;
  if (e < 0n) e += n;
  if (s < 0n) s = 0n;
  // Redis 8: an end still negative after adding the length selects nothing (7.x clamped it to 0).
  if (e < 0n) return null;
  if (e >= n) e = n - 1n;
  if (s > e || len === 0) return null;
  return [Number(s), Number(e)];
}

function getrange(ctx: Ctx, args: string[]): Reply {
  const start = i64Arg(args[2]);
  const end = i64Arg(args[3]);
  const v = sv(getTyped(ctx, args[1], stringType));
  if (v === undefined) return "";
  const r = range(v.length, start, end);
  return r === null ? "" : v.slice(r[0], r[1] + 1);
}

/** SET, SETNX, SETEX, PSETEX: writes the value and its expiry. */
function setValue(ctx: Ctx, key: string, value: string, keepttl: boolean, x: Expire | null): void {
  // An absolute time already past: Redis sets and at once expires the key; the net effect is a delete.
  if (x !== null && x.op === "pexpireat" && x.ms <= ctx.batch.nowMs) return write(ctx, key, ["del"]);
  write(ctx, key, keepttl ? ["set", value, 1] : ["set", value]);
  if (x !== null) writeExpire(ctx, key, x);
}

function lcs(ctx: Ctx, args: string[]): Reply {
  const ka = live(ctx, args[1]);
  const kb = live(ctx, args[2]);
  if ((ka !== undefined && ka.type !== stringType) || (kb !== undefined && kb.type !== stringType)) {
    fail(err("ERR The specified keys must contain string values"));
  }
  const a = sv(ka?.value as StrState | undefined) ?? "";
  const b = sv(kb?.value as StrState | undefined) ?? "";
  let getLen = false, getIdx = false, withLen = false;
  let minLen = 0;
  for (let j = 3; j < args.length; j++) {
    const opt = args[j].toLowerCase();
    if (opt === "idx") getIdx = true;
    else if (opt === "len") getLen = true;
    else if (opt === "withmatchlen") withLen = true;
    else if (opt === "minmatchlen" && j + 1 < args.length) {
      const n = i64Arg(args[++j]);
      minLen = n < 0 ? 0 : Number(n);
    } else fail(E.syntax);
  }
  if (getLen && getIdx) fail(err("ERR If you want both the length and indexes, please just use IDX."));
  const alen = a.length, blen = b.length;
  const w = blen + 1;
  if ((alen + 1) * w * 4 > maxBulk(ctx)) {
    fail(err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"));
  }
  let t: Uint32Array;
  try {
    t = new Uint32Array((alen + 1) * w);
  } catch {
    fail(err("ERR Insufficient memory, failed allocating transient memory for LCS"));
  }
  // t[i * w + j] = length of the LCS of a[0..i) and b[0..j).
  for (let i = 1; i <= alen; i++) {
    const ai = a.charCodeAt(i - 1);
    const row = i * w, prev = row - w;
    for (let j = 1; j <= blen; j++) {
      t[row + j] = ai === b.charCodeAt(j - 1) ? t[prev + j - 1] + 1 : Math.max(t[prev + j], t[row + j - 1]);
    }
  }
  const total = t[alen * w + blen];
  if (getLen) return total;
  // Walk back from the end: a match steps diagonally; otherwise step along a (i) only when that
  // keeps a strictly longer LCS, else along b. Contiguous matches form the ranges IDX reports,
  // from the end of the strings towards their start.
  const out: string[] = new Array(total);
  const matches: Reply[] = [];
  let k = total;
  let i = alen, j = blen;
  let run = false;
  let aStart = 0, aEnd = 0, bStart = 0, bEnd = 0;
  const emit = () => {
    const len = aEnd - aStart + 1;
    if (minLen === 0 || len >= minLen) {
      const m: Reply[] = [[aStart, aEnd], [bStart, bEnd]];
      if (withLen) m.push(len);
      matches.push(m);
    }
    run = false;
  };
  while (i > 0 && j > 0) {
    if (a.charCodeAt(i - 1) === b.charCodeAt(j - 1)) {
      out[--k] = a[i - 1];
      if (!run) {
        run = true;
        aStart = aEnd = i - 1;
        bStart = bEnd = j - 1;
      } else {
        aStart = i - 1;
        bStart = j - 1;
      }
      i--;
      j--;
      if (aStart === 0 || bStart === 0) emit();
    } else {
      if (t[(i - 1) * w + j] > t[i * w + j - 1]) i--;
      else j--;
      if (run) emit();
    }
  }
  if (!getIdx) return out.join("");
  return new MapReply(["matches", matches, "len", total]);
}

// ------------------------------------------------------------------------------------------------
// Commands

export const stringCommands: Record<string, Handler> = {
  get: (ctx, args) => sv(getTyped(ctx, args[1], stringType)) ?? null,

  set(ctx, args) {
    const key = args[1], value = args[2];
    const o = parseExt(args, 3, "set");
    const x = o.expire === null ? null : expireArg(ctx, o.expire.kind, o.expire.arg, "set");
    let old: string | null = null;
    if (o.get) old = sv(getTyped(ctx, key, stringType)) ?? null;
    const abort = o.get ? old : null;
    const ks = live(ctx, key);
    const c = o.cond;
    if (
      (o.nx && ks !== undefined) || ((o.xx || c?.kind === "ifeq" || c?.kind === "ifdeq") && ks === undefined)
    ) {
      return abort;
    }
    if (ks !== undefined && c !== null) {
      if (ks.type !== stringType) fail(E.wrongType);
      const cur = sv(ks.value as StrState);
      let ok: boolean;
      if (c.kind === "ifeq") ok = cur === c.value;
      else if (c.kind === "ifne") ok = cur !== c.value;
      else if (c.kind === "ifdeq") ok = digestMatches(ctx, cur, c.value);
      else ok = !digestMatches(ctx, cur, c.value);
      if (!ok) return abort;
    }
    setValue(ctx, key, value, o.keepttl, x);
    return o.get ? old : OK;
  },

  setnx(ctx, args) {
    if (live(ctx, args[1]) !== undefined) return 0;
    setValue(ctx, args[1], args[2], false, null);
    return 1;
  },

  setex(ctx, args) {
    const x = expireArg(ctx, "ex", args[2], "setex");
    setValue(ctx, args[1], args[3], false, x);
    return OK;
  },

  psetex(ctx, args) {
    const x = expireArg(ctx, "px", args[2], "psetex");
    setValue(ctx, args[1], args[3], false, x);
    return OK;
  },

  getex(ctx, args) {
    const key = args[1];
    const o = parseExt(args, 2, "get");
    const v = sv(getTyped(ctx, key, stringType));
    if (v === undefined) return null;
    if (o.expire !== null) {
      const x = expireArg(ctx, o.expire.kind, o.expire.arg, "getex");
      // An absolute time already past deletes the key, as Redis does.
      if (x.op === "pexpireat" && x.ms <= ctx.batch.nowMs) write(ctx, key, ["del"]);
      else writeExpire(ctx, key, x);
    } else if (o.persist && live(ctx, key)!.deadline !== 0) {
      write(ctx, key, ["persist"]);
    }
    return v;
  },

  getdel(ctx, args) {
    const v = sv(getTyped(ctx, args[1], stringType));
    if (v === undefined) return null;
    write(ctx, args[1], ["del"]);
    return v;
  },

  getset(ctx, args) {
    const old = sv(getTyped(ctx, args[1], stringType)) ?? null;
    write(ctx, args[1], ["set", args[2]]);
    return old;
  },

  mget(ctx, args) {
    const out: Reply[] = [];
    const stats = ctx.engine.stats;
    for (let j = 1; j < args.length; j++) {
      const ks = live(ctx, args[j]);
      if (ks === undefined) {
        stats.keyspaceMisses++;
        out.push(null);
      } else {
        stats.keyspaceHits++;
        out.push(ks.type === stringType ? sv(ks.value as StrState) : null);
      }
    }
    return out;
  },

  mset(ctx, args) {
    if (args.length % 2 === 0) fail(E.arity("mset"));
    for (const [k, v] of lastWins(args, 1, args.length)) write(ctx, k, ["set", v]);
    return OK;
  },

  msetnx(ctx, args) {
    if (args.length % 2 === 0) fail(E.arity("msetnx"));
    const kv = lastWins(args, 1, args.length);
    for (const k of kv.keys()) if (live(ctx, k) !== undefined) return 0;
    for (const [k, v] of kv) write(ctx, k, ["set", v]);
    return 1;
  },

  msetex(ctx, args) {
    const n = parseI64(args[1]);
    if (n === null || n < 1 || n > 2147483647) fail(E_NUMKEYS);
    const count = Number(n);
    if (count * 2 + 2 > args.length) fail(err("ERR wrong number of key-value pairs"));
    const o = parseExt(args, count * 2 + 2, "msetex");
    const x = o.expire === null ? null : expireArg(ctx, o.expire.kind, o.expire.arg, "msetex");
    const kv = lastWins(args, 2, count * 2 + 2);
    if (o.nx || o.xx) {
      for (const k of kv.keys()) {
        const found = live(ctx, k) !== undefined;
        if ((o.nx && found) || (o.xx && !found)) return 0;
      }
    }
    for (const [k, v] of kv) setValue(ctx, k, v, o.keepttl, x);
    return 1;
  },

  incr: (ctx, args) => incrBy(ctx, args[1], 1),
  decr: (ctx, args) => incrBy(ctx, args[1], -1),
  incrby: (ctx, args) => incrBy(ctx, args[1], i64Arg(args[2])),
  decrby(ctx, args) {
    const d = i64Arg(args[2]);
    if (d === I64_MIN) fail(err("ERR decrement would overflow"));
    return incrBy(ctx, args[1], typeof d === "bigint" ? normInt(-d) : 0 - d);
  },

  incrbyfloat(ctx, args) {
    const key = args[1];
    const cur = strForWrite(ctx, key);
    const r = incrFloat(cur, args[2]);
    if (r === "value" || r === "delta") fail(E.notFloat);
    if (r === "range") fail(E_NAN);
    write(ctx, key, ["incrbyfloat", args[2]]);
    return r;
  },

  append(ctx, args) {
    const key = args[1], s = args[2];
    const cur = strForWrite(ctx, key);
    if (cur !== undefined) checkLength(ctx, cur.length, s.length);
    write(ctx, key, ["append", s]);
    return (cur?.length ?? 0) + s.length;
  },

  strlen: (ctx, args) => sv(getTyped(ctx, args[1], stringType))?.length ?? 0,

  getrange,
  substr: getrange,

  setrange(ctx, args) {
    const key = args[1], s = args[3];
    const off = i64Arg(args[2]);
    if (off < 0) fail(err("ERR offset is out of range"));
    const offset = Number(off);
    const cur = strForWrite(ctx, key);
    if (s.length === 0) return cur?.length ?? 0;
    checkLength(ctx, offset, s.length);
    write(ctx, key, ["setrange", offset, s]);
    return Math.max(cur?.length ?? 0, offset + s.length);
  },

  lcs,

  digest(ctx, args) {
    const v = sv(getTyped(ctx, args[1], stringType));
    return v === undefined ? null : ctx.face.digest(v);
  },

  delex(ctx, args) {
    const key = args[1];
    if (args.length === 2) {
      if (live(ctx, key) === undefined) return 0;
      write(ctx, key, ["del"]);
      return 1;
    }
    if (args.length !== 4) fail(E.arity("delex"));
    const ks = live(ctx, key);
    if (ks === undefined) return 0;
    if (ks.type !== stringType) fail(err("ERR Key should be of string type if conditions are specified"));
    const cur = sv(ks.value as StrState);
    const cond = args[2].toLowerCase();
    let del: boolean;
    if (cond === "ifeq") del = cur === args[3];
    else if (cond === "ifne") del = cur !== args[3];
    else if (cond === "ifdeq") del = digestMatches(ctx, cur, args[3]);
    else if (cond === "ifdne") del = !digestMatches(ctx, cur, args[3]);
    else fail(err("ERR Invalid condition. Use IFEQ, IFNE, IFDEQ, or IFDNE"));
    if (!del) return 0;
    write(ctx, key, ["del"]);
    return 1;
  },
};
