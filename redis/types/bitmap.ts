/**
 * Bitmap commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO.
 *
 * Bit 0 is the most significant bit of the first byte; a BITFIELD field is big-endian from its
 * offset. Ops (applied by the string reducer, redis/types/string.ts):
 *   ["setbit", offset, bit]          set one bit, zero-padding the string (two nodes' SETBITs on
 *                                    different bits both survive; on one bit the later in fold order wins);
 *   ["bfset", offset, bits, value]   write the low `bits` bits of the integer `value` at `offset`;
 *   ["bfincr", offset, bits, delta]  add `delta` to the field modulo 2^bits: BITFIELD INCRBY under
 *                                    OVERFLOW WRAP, an addition, so concurrent increments all count;
 *   ["bfgrow", bytes]                zero-pad the string to `bytes` (BITFIELD grows the string up to
 *                                    its highest written bit even when OVERFLOW FAIL writes nothing).
 * BITFIELD INCRBY under SAT or FAIL depends on the old value: it is exclusive and writes "bfset".
 * BITOP reads this node's view of its sources and overwrites the destination with ["set", v, 2]
 * (a raw string, TTL cleared), or deletes it when the result is empty.
 */
import type { Op } from "../../core/effect.ts";
import { type Ctx, fail, getKey, getTyped, type Handler, intArg, parseInt64, write } from "../command.ts";
import { E, err, type Reply } from "../reply.ts";
import { getBit, maxBulk, strForWrite, stringType, sv } from "./string.ts";

const E_BIT_OFFSET = err("ERR bit offset is not an integer or out of range");
const E_BIT = err("ERR bit is not an integer or out of range");
const E_BIT_ARG = err("ERR The bit argument must be 1 or 0.");
const E_FIELD_TYPE = err(
  "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
);
const E_OVERFLOW = err("ERR Invalid OVERFLOW type specified");
const E_RO = err("ERR BITFIELD_RO only supports the GET subcommand");

// ------------------------------------------------------------------------------------------------
// Fields

/** Zero-pads `s` to `len` bytes. */
function pad(s: string, len: number): string {
  return s.length >= len ? s : s + "\0".repeat(len - s.length);
}

/** The unsigned value of `bits` bits at bit `offset` of `s` (bits past the end read 0). */
function readField(s: string, offset: number, bits: number): bigint {
  const first = Math.floor(offset / 8), last = Math.floor((offset + bits - 1) / 8);
  let n = 0n;
  for (let i = first; i <= last; i++) n = (n << 8n) | BigInt(i < s.length ? s.charCodeAt(i) : 0);
  const shift = BigInt((last - first + 1) * 8 - (offset % 8) - bits);
  return (n >> shift) & ((1n << BigInt(bits)) - 1n);
}

/** `s` (zero-padded as needed) with the low `bits` bits of `value` written at bit `offset`. */
function writeField(s: string, offset: number, bits: number, value: bigint): string {
  const first = Math.floor(offset / 8), last = Math.floor((offset + bits - 1) / 8);
  const p = pad(s, last + 1);
  let n = 0n;
  for (let i = first; i <= last; i++) n = (n << 8n) | BigInt(p.charCodeAt(i));
  const shift = BigInt((last - first + 1) * 8 - (offset % 8) - bits);
  const mask = ((1n << BigInt(bits)) - 1n) << shift;
  n = (n & ~mask) | (BigInt.asUintN(bits, value) << shift);
  let mid = "";
  for (let i = last; i >= first; i--) {
    mid = String.fromCharCode(Number(n & 0xffn)) + mid;
    n >>= 8n;
  }
  return p.slice(0, first) + mid + p.slice(last + 1);
}

function isOffset(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

function isBits(x: unknown): x is number {
  return typeof x === "number" && Number.isInteger(x) && x >= 1 && x <= 64;
}

/**
 * Applies a BITFIELD op to a string value: the new bytes, or null when the op is malformed or the
 * string cannot grow that far.
 */
export function applyBitOp(cur: string | undefined, op: Op): string | null {
  const s = cur ?? "";
  try {
    switch (op[0]) {
      case "bfgrow": {
        const n = op[1];
        if (!isOffset(n) || (cur !== undefined && s.length >= n)) return null;
        return pad(s, n);
      }
      case "bfset": {
        const [, offset, bits, value] = op;
        if (!isOffset(offset) || !isBits(bits) || (typeof value !== "number" && typeof value !== "bigint")) {
          return null;
        }
        return writeField(s, offset, bits, BigInt(value));
      }
      case "bfincr": {
        const [, offset, bits, delta] = op;
        if (!isOffset(offset) || !isBits(bits) || (typeof delta !== "number" && typeof delta !== "bigint")) {
          return null;
        }
        return writeField(s, offset, bits, readField(s, offset, bits) + BigInt(delta));
      }
    }
  } catch {
    // A string longer than the runtime can hold: the op changes nothing.
  }
  return null;
}

// ------------------------------------------------------------------------------------------------
// Argument parsing

/** A bit offset argument: 0 .. 8 * proto-max-bulk-len - 1. */
function bitOffset(ctx: Ctx, s: string): number {
  const n = parseInt64(s);
  if (n === null || typeof n === "bigint" || n < 0 || Math.floor(n / 8) >= maxBulk(ctx)) fail(E_BIT_OFFSET);
  return n;
}

/** BITFIELD's offset: a bit offset, or `#N` meaning N times the field width (64-bit arithmetic). */
function fieldOffset(ctx: Ctx, s: string, bits: number): number {
  const hash = s.startsWith("#");
  const n = parseInt64(hash ? s.slice(1) : s);
  if (n === null) fail(E_BIT_OFFSET);
  const off = hash ? BigInt.asIntN(64, BigInt(n) * BigInt(bits)) : BigInt(n);
  if (off < 0n || off / 8n >= BigInt(maxBulk(ctx))) fail(E_BIT_OFFSET);
  return Number(off);
}

/** A BITFIELD type: i1..i64 or u1..u63 (lower-case letter only, as Redis). */
function fieldType(s: string): { signed: boolean; bits: number } {
  const signed = s[0] === "i";
  if (!signed && s[0] !== "u") fail(E_FIELD_TYPE);
  const n = parseInt64(s.slice(1));
  if (n === null || n < 1 || n > (signed ? 64 : 63)) fail(E_FIELD_TYPE);
  return { signed, bits: Number(n) };
}

/** A BITCOUNT/BITPOS range over a string of `len` bytes: inclusive bit bounds, or null (empty). */
function bitRange(len: number, start: bigint, end: bigint, isBit: boolean): [number, number] | null {
  const total = BigInt(isBit ? len * 8 : len);
  if (start < 0n) start += total;
  if (end < 0n) end += total;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= total) end = total - 1n;
  if (start > end) return null;
  const lo = Number(start), hi = Number(end);
  return isBit ? [lo, hi] : [lo * 8, hi * 8 + 7];
}

function unitArg(s: string): boolean {
  const u = s.toLowerCase();
  if (u === "bit") return true;
  if (u === "byte") return false;
  fail(E.syntax);
}

// ------------------------------------------------------------------------------------------------
// Counting and searching

const POPCOUNT = new Uint8Array(256);
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >> 1];

/** Set bits of `s` in bits [lo, hi] (within the string). */
function countBits(s: string, lo: number, hi: number): number {
  const a = Math.floor(lo / 8), b = Math.floor(hi / 8);
  let n = 0;
  for (let i = a; i <= b; i++) {
    let v = s.charCodeAt(i);
    if (i === a) v &= 0xff >> (lo % 8);
    if (i === b) v &= (0xff << (7 - (hi % 8))) & 0xff;
    n += POPCOUNT[v];
  }
  return n;
}

/** Position of the first bit equal to `bit` in bits [lo, hi] of `s`, or -1. */
function findBit(s: string, bit: number, lo: number, hi: number): number {
  const skip = bit === 1 ? 0 : 0xff;
  const a = Math.floor(lo / 8), b = Math.floor(hi / 8);
  for (let i = a; i <= b; i++) {
    const v = s.charCodeAt(i);
    if (v === skip) continue;
    const from = i === a ? lo % 8 : 0, to = i === b ? hi % 8 : 7;
    for (let k = from; k <= to; k++) if (((v >> (7 - k)) & 1) === bit) return i * 8 + k;
  }
  return -1;
}

// ------------------------------------------------------------------------------------------------
// BITOP

const BITOPS = new Set(["and", "or", "xor", "not", "diff", "diff1", "andor", "one"]);

/** The result of BITOP `op` over `srcs` (shorter sources read as zeros). */
function combine(op: string, srcs: string[]): string {
  const len = Math.max(...srcs.map((x) => x.length));
  const out = new Uint8Array(len);
  const at = (s: string, i: number) => (i < s.length ? s.charCodeAt(i) : 0);
  for (let i = 0; i < len; i++) {
    const x = at(srcs[0], i);
    let v = x;
    if (op === "not") v = ~x & 0xff;
    else if (op === "and") { for (let k = 1; k < srcs.length; k++) v &= at(srcs[k], i); }
    else if (op === "or") { for (let k = 1; k < srcs.length; k++) v |= at(srcs[k], i); }
    else if (op === "xor") { for (let k = 1; k < srcs.length; k++) v ^= at(srcs[k], i); }
    else if (op === "one") {
      let twice = 0;
      for (let k = 1; k < srcs.length; k++) {
        const y = at(srcs[k], i);
        twice |= v & y;
        v |= y;
      }
      v &= ~twice;
    } else {
      let others = 0;
      for (let k = 1; k < srcs.length; k++) others |= at(srcs[k], i);
      if (op === "diff") v = x & ~others;
      else if (op === "diff1") v = ~x & others & 0xff;
      else v = x & others;
    }
    out[i] = v;
  }
  let s = "";
  for (let i = 0; i < len; i += 8192) {
    s += String.fromCharCode.apply(null, out.subarray(i, i + 8192) as unknown as number[]);
  }
  return s;
}

function bitop(ctx: Ctx, args: string[]): Reply {
  const op = args[1].toLowerCase();
  if (!BITOPS.has(op)) fail(E.syntax);
  const n = args.length - 3;
  if (op === "not" && n !== 1) fail(err("ERR BITOP NOT must be called with a single source key."));
  if ((op === "diff" || op === "diff1" || op === "andor") && n < 2) {
    fail(err(`ERR BITOP ${op.toUpperCase()} must be called with at least two source keys.`));
  }
  const srcs: string[] = [];
  for (let j = 3; j < args.length; j++) srcs.push(sv(getTyped(ctx, args[j], stringType)) ?? "");
  const result = combine(op, srcs);
  const dest = args[2];
  if (result.length > 0) write(ctx, dest, ["set", result, 2]);
  else if (getKey(ctx, dest) !== undefined) write(ctx, dest, ["del"]);
  return result.length;
}

// ------------------------------------------------------------------------------------------------
// BITFIELD

type Overflow = "wrap" | "sat" | "fail";

interface FieldOp {
  kind: "get" | "set" | "incrby";
  signed: boolean;
  bits: number;
  offset: number;
  value: bigint;
  overflow: Overflow;
}

/** Parses BITFIELD's subcommands (every error before any write, in Redis's order). */
function parseFieldOps(ctx: Ctx, args: string[]): FieldOp[] {
  const ops: FieldOp[] = [];
  let overflow: Overflow = "wrap";
  for (let j = 2; j < args.length; j++) {
    const rest = args.length - j - 1;
    const sub = args[j].toLowerCase();
    if (sub === "overflow" && rest >= 1) {
      const o = args[++j].toLowerCase();
      if (o !== "wrap" && o !== "sat" && o !== "fail") fail(E_OVERFLOW);
      overflow = o;
      continue;
    }
    if (!((sub === "get" && rest >= 2) || ((sub === "set" || sub === "incrby") && rest >= 3))) fail(E.syntax);
    const { signed, bits } = fieldType(args[j + 1]);
    const offset = fieldOffset(ctx, args[j + 2], bits);
    const value = sub === "get" ? 0n : BigInt(intArg(args[j + 3]));
    ops.push({ kind: sub as FieldOp["kind"], signed, bits, offset, value, overflow });
    j += sub === "get" ? 2 : 3;
  }
  return ops;
}

/**
 * Where `value + incr` lands in a field: the value to store, "fail" under OVERFLOW FAIL, with
 * Redis's overflow tests (for signed fields it measures the headroom `max - value` in 64-bit
 * wrapping arithmetic, so a SET far below the minimum counts as overflowing upwards).
 */
function fieldResult(f: FieldOp, value: bigint, incr: bigint): bigint | "fail" {
  const b = BigInt(f.bits);
  let high: boolean, low: boolean, max: bigint, min: bigint;
  if (f.signed) {
    max = (1n << (b - 1n)) - 1n;
    min = -max - 1n;
    const sum = value + incr;
    if (f.bits === 64) {
      high = sum > max;
      low = sum < min;
    } else {
      high = value > max || incr > BigInt.asIntN(64, max - value);
      low = !high && (value < min || incr < BigInt.asIntN(64, min - value));
    }
  } else {
    max = (1n << b) - 1n;
    min = 0n;
    value = BigInt.asUintN(64, value);
    high = value > max || value + incr > max;
    low = !high && value + incr < 0n;
  }
  if (!high && !low) return value + incr;
  if (f.overflow === "fail") return "fail";
  if (f.overflow === "sat") return high ? max : min;
  return f.signed ? BigInt.asIntN(f.bits, value + incr) : BigInt.asUintN(f.bits, value + incr);
}

/** A field's value as a reply integer. */
function fieldValue(f: FieldOp, raw: bigint): number | bigint {
  const v = f.signed ? BigInt.asIntN(f.bits, raw) : raw;
  return Number.isSafeInteger(Number(v)) ? Number(v) : v;
}

function opValue(v: bigint): number | bigint {
  return Number.isSafeInteger(Number(v)) ? Number(v) : v;
}

function bitfield(ctx: Ctx, args: string[], readOnly: boolean): Reply {
  const key = args[1];
  const fops = parseFieldOps(ctx, args);
  const writes = fops.filter((f) => f.kind !== "get");
  if (writes.length === 0) {
    const s = sv(getTyped(ctx, key, stringType)) ?? "";
    return fops.map((f) => fieldValue(f, readField(s, f.offset, f.bits)));
  }
  if (readOnly) fail(E_RO);
  const cur = strForWrite(ctx, key);
  const need = Math.max(...writes.map((f) => Math.floor((f.offset + f.bits - 1) / 8) + 1));
  const ops: Op[] = [];
  let s = cur ?? "";
  if (cur === undefined || cur.length < need) {
    ops.push(["bfgrow", need]);
    s = pad(s, need);
  }
  const out: Reply[] = [];
  for (const f of fops) {
    const old = readField(s, f.offset, f.bits);
    if (f.kind === "get") {
      out.push(fieldValue(f, old));
      continue;
    }
    const oldValue = f.signed ? BigInt.asIntN(f.bits, old) : old;
    const r = f.kind === "set" ? fieldResult(f, f.value, 0n) : fieldResult(f, oldValue, f.value);
    if (r === "fail") {
      out.push(null);
      continue;
    }
    out.push(f.kind === "set" ? opValue(oldValue) : opValue(r));
    if (f.kind === "incrby" && f.overflow === "wrap") {
      ops.push(["bfincr", f.offset, f.bits, opValue(f.value)]);
    } else if (f.kind === "incrby" || BigInt.asUintN(f.bits, r) !== old) {
      ops.push(["bfset", f.offset, f.bits, opValue(r)]);
    }
    s = writeField(s, f.offset, f.bits, r);
  }
  for (const op of ops) write(ctx, key, op);
  return out;
}

// ------------------------------------------------------------------------------------------------
// Commands

function bitcount(ctx: Ctx, args: string[]): Reply {
  let start = 0n, end = -1n, isBit = false;
  if (args.length === 4 || args.length === 5) {
    start = BigInt(intArg(args[2]));
    end = BigInt(intArg(args[3]));
    if (args.length === 5) isBit = unitArg(args[4]);
  } else if (args.length !== 2) {
    fail(E.syntax);
  }
  const s = sv(getTyped(ctx, args[1], stringType));
  if (s === undefined || (start < 0n && end < 0n && start > end)) return 0;
  const r = bitRange(s.length, start, end, isBit);
  return r === null ? 0 : countBits(s, r[0], r[1]);
}

function bitpos(ctx: Ctx, args: string[]): Reply {
  const b = intArg(args[2]);
  if (b !== 0 && b !== 1) fail(E_BIT_ARG);
  if (args.length > 6) fail(E.syntax);
  let start = 0n, end = -1n, isBit = false;
  const endGiven = args.length >= 5;
  // Redis reads start, then the unit, then end.
  if (args.length >= 4) start = BigInt(intArg(args[3]));
  if (args.length === 6) isBit = unitArg(args[5]);
  if (endGiven) end = BigInt(intArg(args[4]));
  const s = sv(getTyped(ctx, args[1], stringType));
  if (s === undefined) return b === 1 ? -1 : 0;
  const r = bitRange(s.length, start, end, isBit);
  if (r === null) return -1;
  const pos = findBit(s, b, r[0], r[1]);
  if (pos >= 0 || b === 1) return pos;
  // Looking for a 0 with no end given: the string counts as padded with zeros past its end.
  return endGiven ? -1 : r[1] + 1;
}

/** Command handlers, keyed by lower-case command name. */
export const bitmapCommands: Record<string, Handler> = {
  setbit(ctx, args) {
    const key = args[1];
    const offset = bitOffset(ctx, args[2]);
    if (args[3] !== "0" && args[3] !== "1") fail(E_BIT);
    const bit = args[3] === "1" ? 1 : 0;
    const cur = strForWrite(ctx, key);
    const old = cur === undefined ? 0 : getBit(cur, offset);
    // Redis writes (and counts a change) only when the bit or the length changes.
    if (cur === undefined || Math.floor(offset / 8) >= cur.length || old !== bit) {
      write(ctx, key, ["setbit", offset, bit]);
    }
    return old;
  },
  getbit(ctx, args) {
    const offset = bitOffset(ctx, args[2]);
    const v = sv(getTyped(ctx, args[1], stringType));
    return v === undefined ? 0 : getBit(v, offset);
  },
  bitcount,
  bitpos,
  bitop,
  bitfield: (ctx, args) => bitfield(ctx, args, false),
  bitfield_ro: (ctx, args) => bitfield(ctx, args, true),
};

/**
 * BITFIELD INCRBY under OVERFLOW SAT or FAIL reads the old value to decide what to store (or
 * whether to store): exclusive. Everything else of this family is coordination-free or a read.
 */
export const bitmapExclusive: Record<string, (args: readonly string[]) => string | null> = {
  bitfield(args) {
    let overflow = "WRAP";
    for (let j = 2; j < args.length; j++) {
      const sub = args[j].toUpperCase();
      if (sub === "OVERFLOW") {
        overflow = (args[++j] ?? "").toUpperCase();
      } else if (sub === "GET") {
        j += 2;
      } else {
        if (sub === "INCRBY" && overflow !== "WRAP") {
          return `BITFIELD INCRBY with OVERFLOW ${overflow} reads the old value`;
        }
        j += 3;
      }
    }
    return null;
  },
};
