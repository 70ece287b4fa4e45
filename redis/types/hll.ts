/**
 * HyperLogLog commands (PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST) on string values.
 *
 * A HyperLogLog is a string whose bytes are Redis's format, so GET/SET carry it to and from a real
 * Redis and PFCOUNT answers the same estimate: a 16-byte header ("HYLL", an encoding byte, 3 unused
 * bytes, an 8-byte little-endian cached cardinality whose top bit marks it stale) followed by 16384
 * 6-bit registers, either dense (packed low bits first, 12288 bytes) or sparse (run lengths: ZERO
 * `00xxxxxx`, XZERO `01xxxxxx yyyyyyyy`, VAL `1vvvvvxx`). An element goes to register `h & 16383` of
 * its MurmurHash64A (seed 0xadc83b19), with rank = 1 + the trailing zeros of `h >> 14` (at most 51).
 * The estimate is Ertl's improved estimator over the register histogram.
 *
 * Ops (applied by the string reducer, redis/types/string.ts; all max-merge, so they commute):
 *   ["pfadd", regs, sparseMax]          create the HLL if absent, raise registers to at least `regs`;
 *   ["pfmerge", regs, dense, sparseMax] the same, always marks the cache stale, and turns the value
 *                                       dense first when `dense` is 1 (a dense source, as Redis does);
 *   ["pfcache"]   store the current estimate in the header when the cache is stale (PFCOUNT);
 *   ["pfdense"]   convert a sparse value to dense (PFDEBUG TODENSE / GETREG).
 * `regs` is either a list of `index * 64 + rank` or a 16384-char string of register values.
 * `sparseMax` is the writer's hll-sparse-max-bytes: a sparse value longer than it (or a register
 * above 32) becomes dense, on every node alike. An op that finds a string that is not a valid HLL
 * (a concurrent SET won the key) leaves it alone: in either serial order Redis would keep that string.
 */
import type { Op } from "../../core/effect.ts";
import { type Ctx, fail, getKey, type Handler, normInt, write } from "../command.ts";
import { E, err, OK, type Reply, SimpleReply } from "../reply.ts";
import { stringType, type StrState, sv } from "./string.ts";

// ------------------------------------------------------------------------------------------------
// Format constants

const REGISTERS = 16384;
const HDR = 16;
const DENSE_SIZE = HDR + (REGISTERS * 6) / 8;
const SPARSE = 1;
const DENSE = 0;
const SPARSE_VAL_MAX = 32;
const MAGIC = "HYLL";

const E_INVALID = err("INVALIDOBJ Corrupted HLL object detected");
const E_NOT_HLL = err("WRONGTYPE Key is not a valid HyperLogLog string value.");

// ------------------------------------------------------------------------------------------------
// MurmurHash64A on 32-bit halves

let mulHi = 0, mulLo = 0;

/** (ah:al) * (bh:bl) mod 2^64 into mulHi:mulLo. */
function mul64(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff, a1 = al >>> 16, b0 = bl & 0xffff, b1 = bl >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  mulLo = ((mid & 0xffff) * 65536 + (p00 & 0xffff)) >>> 0;
  const carry = p11 + Math.floor(p01 / 65536) + Math.floor(p10 / 65536) + Math.floor(mid / 65536);
  mulHi = (carry + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}

const M_HI = 0xc6a4a793, M_LO = 0x5bd1e995;
const SEED = 0xadc83b19;

/** MurmurHash64A of the bytes of `s` (one char per byte) with Redis's seed: [high 32, low 32]. */
export function murmur64a(s: string): [number, number] {
  const len = s.length;
  mul64(0, len >>> 0, M_HI, M_LO);
  let hh = mulHi, hl = (mulLo ^ SEED) >>> 0;
  const blocks = len - (len & 7);
  for (let i = 0; i < blocks; i += 8) {
    let kl = (s.charCodeAt(i) | (s.charCodeAt(i + 1) << 8) | (s.charCodeAt(i + 2) << 16) |
      (s.charCodeAt(i + 3) << 24)) >>> 0;
    let kh = (s.charCodeAt(i + 4) | (s.charCodeAt(i + 5) << 8) | (s.charCodeAt(i + 6) << 16) |
      (s.charCodeAt(i + 7) << 24)) >>> 0;
    mul64(kh, kl, M_HI, M_LO);
    kh = mulHi;
    kl = (mulLo ^ (kh >>> 15)) >>> 0;
    mul64(kh, kl, M_HI, M_LO);
    hh = (hh ^ mulHi) >>> 0;
    hl = (hl ^ mulLo) >>> 0;
    mul64(hh, hl, M_HI, M_LO);
    hh = mulHi;
    hl = mulLo;
  }
  const rest = len & 7;
  if (rest > 0) {
    for (let j = rest - 1; j >= 0; j--) {
      const b = s.charCodeAt(blocks + j);
      if (j >= 4) hh = (hh ^ (b << ((j - 4) * 8))) >>> 0;
      else hl = (hl ^ (b << (j * 8))) >>> 0;
    }
    mul64(hh, hl, M_HI, M_LO);
    hh = mulHi;
    hl = mulLo;
  }
  hl = (hl ^ (hh >>> 15)) >>> 0;
  mul64(hh, hl, M_HI, M_LO);
  hh = mulHi;
  hl = (mulLo ^ (hh >>> 15)) >>> 0;
  return [hh, hl];
}

/** Trailing zeros of a non-zero 32-bit value. */
function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** The register an element goes to and the rank it offers there. */
export function hllPosition(element: string): { index: number; rank: number } {
  const [hi, lo] = murmur64a(element);
  const index = lo & (REGISTERS - 1);
  // The 50 bits above the index: 18 from the low word, 32 from the high word, then a stop bit.
  const low18 = lo >>> 14;
  let rank: number;
  if (low18 !== 0) rank = ctz(low18) + 1;
  else if (hi !== 0) rank = 18 + ctz(hi) + 1;
  else rank = 51;
  return { index, rank };
}

// ------------------------------------------------------------------------------------------------
// Bytes <-> registers

/** The header of `s` when it is a HyperLogLog Redis accepts ("HYLL", known encoding, dense size). */
function isHll(s: string): boolean {
  if (s.length < HDR || !s.startsWith(MAGIC)) return false;
  const enc = s.charCodeAt(4);
  if (enc > SPARSE) return false;
  return enc === SPARSE || s.length === DENSE_SIZE;
}

function isSparse(s: string): boolean {
  return s.charCodeAt(4) === SPARSE;
}

/** Registers of a valid HLL string, or null when its sparse runs do not cover exactly 16384. */
export function hllRegisters(s: string): Uint8Array | null {
  const regs = new Uint8Array(REGISTERS);
  if (!isSparse(s)) {
    for (let i = 0; i < REGISTERS; i++) {
      const bit = i * 6, byte = HDR + (bit >> 3), fb = bit & 7;
      const b1 = byte + 1 < s.length ? s.charCodeAt(byte + 1) : 0;
      regs[i] = ((s.charCodeAt(byte) >> fb) | (b1 << (8 - fb))) & 63;
    }
    return regs;
  }
  let idx = 0;
  for (let p = HDR; p < s.length;) {
    const b = s.charCodeAt(p);
    if ((b & 0xc0) === 0) {
      idx += (b & 0x3f) + 1;
      p++;
    } else if ((b & 0xc0) === 0x40) {
      const b1 = p + 1 < s.length ? s.charCodeAt(p + 1) : 0;
      idx += (((b & 0x3f) << 8) | b1) + 1;
      p += 2;
    } else {
      const run = (b & 3) + 1, val = ((b >> 2) & 0x1f) + 1;
      if (idx + run > REGISTERS) return null;
      regs.fill(val, idx, idx + run);
      idx += run;
      p++;
    }
    if (idx > REGISTERS) return null;
  }
  return idx === REGISTERS ? regs : null;
}

/** The sparse run-length bytes of `regs` (all at most 32): one opcode per zero run, VALs of up to 4. */
function sparseBody(regs: Uint8Array): string {
  const out: number[] = [];
  for (let i = 0; i < REGISTERS;) {
    const v = regs[i];
    let j = i + 1;
    if (v === 0) {
      while (j < REGISTERS && regs[j] === 0) j++;
      const run = j - i;
      if (run <= 64) out.push(run - 1);
      else out.push(0x40 | ((run - 1) >> 8), (run - 1) & 0xff);
    } else {
      while (j < REGISTERS && j - i < 4 && regs[j] === v) j++;
      out.push(0x80 | ((v - 1) << 2) | (j - i - 1));
    }
    i = j;
  }
  return bytesToString(out);
}

/** The dense register bytes of `regs`. */
function denseBody(regs: Uint8Array): string {
  const out = new Uint8Array(DENSE_SIZE - HDR);
  for (let i = 0; i < REGISTERS; i++) {
    const bit = i * 6, byte = bit >> 3, fb = bit & 7, v = regs[i];
    out[byte] |= (v << fb) & 0xff;
    if (fb > 2) out[byte + 1] |= v >> (8 - fb);
  }
  return bytesToString(out);
}

function bytesToString(b: ArrayLike<number>): string {
  let s = "";
  for (let i = 0; i < b.length; i += 8192) {
    s += String.fromCharCode.apply(null, Array.prototype.slice.call(b, i, i + 8192) as number[]);
  }
  return s;
}

/** A header with `encoding`, keeping `old`'s other bytes; `stale` sets the cache-invalid bit. */
function header(old: string, encoding: number, stale: boolean): string {
  const last = old.charCodeAt(15) | (stale ? 0x80 : 0);
  return old.slice(0, 4) + String.fromCharCode(encoding) + old.slice(5, 15) + String.fromCharCode(last);
}

/** A new empty HLL: sparse, one XZERO, cache marked stale (as Redis creates one). */
function emptyHll(): string {
  return MAGIC + "\x01" + "\0".repeat(10) + "\x80" + "\x7f\xff";
}

// ------------------------------------------------------------------------------------------------
// Estimate

const ALPHA_INF = 0.721347520444481703680;

/** Ertl's sigma function (improved raw estimator). */
function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1, z = x, prev: number;
  do {
    x *= x;
    prev = z;
    z += x * y;
    y += y;
  } while (prev !== z);
  return z;
}

/** Ertl's tau function (improved raw estimator). */
function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1, z = 1 - x, prev: number;
  do {
    x = Math.sqrt(x);
    prev = z;
    y *= 0.5;
    const d = 1 - x;
    z -= d * d * y;
  } while (prev !== z);
  return z / 3;
}

/** The cardinality estimate of `regs`, rounded half away from zero as Redis does. */
export function hllEstimate(regs: Uint8Array): number {
  const hist = new Float64Array(64);
  for (let i = 0; i < REGISTERS; i++) hist[regs[i]]++;
  const m = REGISTERS;
  let z = m * tau((m - hist[51]) / m);
  for (let j = 50; j >= 1; j--) {
    z += hist[j];
    z *= 0.5;
  }
  z += m * sigma(hist[0] / m);
  const e = ALPHA_INF * m * m / z;
  const f = Math.floor(e);
  return e - f >= 0.5 ? f + 1 : f;
}

// ------------------------------------------------------------------------------------------------
// Ops

/** Calls `f` for each register update of an op: packed `index * 64 + rank`, or a 16384-char vector. */
function forEachReg(regs: unknown, f: (index: number, rank: number) => void): void {
  if (typeof regs === "string") {
    if (regs.length !== REGISTERS) return;
    for (let i = 0; i < REGISTERS; i++) {
      const r = regs.charCodeAt(i);
      if (r > 0 && r < 64) f(i, r);
    }
  } else if (Array.isArray(regs)) {
    for (const x of regs) {
      if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x >= REGISTERS * 64) continue;
      if ((x & 63) > 0) f(x >> 6, x & 63);
    }
  }
}

/**
 * The value after raising `cur`'s registers (creating the HLL when absent), or null when nothing
 * changes (or `cur` is not a valid HLL). `merge` marks the cache stale even without a change.
 */
function raise(
  cur: string | undefined,
  regs: unknown,
  sparseMax: number,
  toDense: boolean,
  merge: boolean,
): string | null {
  const created = cur === undefined;
  const s = cur ?? emptyHll();
  if (!isHll(s)) return null;
  const r = hllRegisters(s);
  if (r === null) return null;
  let changed = false;
  forEachReg(regs, (i, rank) => {
    if (rank > r[i]) {
      r[i] = rank;
      changed = true;
    }
  });
  const sparse = isSparse(s);
  if (!changed && !created && !merge && !(toDense && sparse)) return null;
  const stale = changed || merge;
  if (sparse && !toDense) {
    if (!changed) return created ? s : header(s, SPARSE, stale) + s.slice(HDR);
    let max = 0;
    for (let i = 0; i < REGISTERS; i++) if (r[i] > max) max = r[i];
    if (max <= SPARSE_VAL_MAX) {
      const body = sparseBody(r);
      if (HDR + body.length <= sparseMax) return header(s, SPARSE, stale) + body;
    }
  }
  return header(s, DENSE, stale) + denseBody(r);
}

/** The value with its cache filled in, or null when the cache is valid or the value not an HLL. */
function fillCache(s: string): string | null {
  if (!isHll(s) || (s.charCodeAt(15) & 0x80) === 0) return null;
  const r = hllRegisters(s);
  if (r === null) return null;
  let card = hllEstimate(r);
  let bytes = "";
  for (let i = 0; i < 8; i++) {
    bytes += String.fromCharCode(card % 256);
    card = Math.floor(card / 256);
  }
  return s.slice(0, 8) + bytes + s.slice(HDR);
}

/** An op's hll-sparse-max-bytes (Redis's default when malformed). */
function limit(x: unknown): number {
  return typeof x === "number" && x >= 0 ? x : 3000;
}

/**
 * Applies an HLL op to a string value: the new bytes, or null when the op changes nothing (an op on
 * a string that is not a valid HLL changes nothing).
 */
export function applyHllOp(cur: string | undefined, op: Op): string | null {
  switch (op[0]) {
    case "pfadd":
      return raise(cur, op[1], limit(op[2]), false, false);
    case "pfmerge":
      return raise(cur, op[1], limit(op[3]), op[2] === 1, true);
    case "pfcache":
      return cur === undefined ? null : fillCache(cur);
    case "pfdense":
      return cur === undefined || !isHll(cur) || !isSparse(cur) ? null : raise(cur, [], 0, true, false);
  }
  return null;
}

// ------------------------------------------------------------------------------------------------
// Commands

/** The bytes of `key` checked as an HLL (undefined when absent); Redis's errors otherwise. */
function hllValue(ctx: Ctx, key: string, count = true): string | undefined {
  const ks = getKey(ctx, key);
  if (ks === undefined) {
    if (count) ctx.engine.stats.keyspaceMisses++;
    return undefined;
  }
  if (ks.type !== stringType) fail(E.wrongType);
  if (count) ctx.engine.stats.keyspaceHits++;
  const s = sv(ks.value as StrState);
  if (!isHll(s)) fail(E_NOT_HLL);
  return s;
}

function registersOrFail(s: string): Uint8Array {
  const r = hllRegisters(s);
  if (r === null) fail(E_INVALID);
  return r;
}

function sparseMax(ctx: Ctx): number {
  return ctx.face?.config?.encodings?.["hll-sparse-max-bytes"] ?? 3000;
}

/** The cached cardinality of a header whose cache is valid. */
function cachedCard(s: string): number | bigint {
  let n = 0n;
  for (let i = 15; i >= 8; i--) n = (n << 8n) | BigInt(s.charCodeAt(i));
  return normInt(n);
}

function pfadd(ctx: Ctx, args: string[]): Reply {
  const key = args[1];
  const cur = hllValue(ctx, key, false);
  const regs = cur === undefined ? new Uint8Array(REGISTERS) : registersOrFail(cur);
  const best = new Map<number, number>();
  let changed = cur === undefined;
  for (let j = 2; j < args.length; j++) {
    const { index, rank } = hllPosition(args[j]);
    if (rank > (best.get(index) ?? 0)) best.set(index, rank);
    if (rank > regs[index]) changed = true;
  }
  if (!changed) return 0;
  const packed = [...best].sort((a, b) => a[0] - b[0]).map(([i, r]) => i * 64 + r);
  write(ctx, key, ["pfadd", packed, sparseMax(ctx)]);
  return 1;
}

function pfcount(ctx: Ctx, args: string[]): Reply {
  if (args.length === 2) {
    const s = hllValue(ctx, args[1]);
    if (s === undefined) return 0;
    if ((s.charCodeAt(15) & 0x80) === 0) return cachedCard(s);
    const card = hllEstimate(registersOrFail(s));
    // Redis stores the estimate in the header (a write); a node that may not write skips it.
    const cluster = ctx.face?.cluster ?? null;
    if (cluster === null || cluster.writeBlocked() === null) write(ctx, args[1], ["pfcache"]);
    return card;
  }
  const all = new Uint8Array(REGISTERS);
  for (let j = 1; j < args.length; j++) {
    const s = hllValue(ctx, args[j]);
    if (s === undefined) continue;
    maxInto(all, registersOrFail(s));
  }
  return hllEstimate(all);
}

function maxInto(into: Uint8Array, r: Uint8Array): void {
  for (let i = 0; i < REGISTERS; i++) if (r[i] > into[i]) into[i] = r[i];
}

/**
 * PFMERGE: the op carries the sources' registers (the destination's own are max-merged where the op
 * lands), so concurrent additions to the destination survive.
 */
function pfmerge(ctx: Ctx, args: string[]): Reply {
  const all = new Uint8Array(REGISTERS);
  let dense = false;
  for (let j = 1; j < args.length; j++) {
    const s = hllValue(ctx, args[j]);
    if (s === undefined) continue;
    const r = registersOrFail(s);
    if (j === 1) continue;
    if (!isSparse(s)) dense = true;
    maxInto(all, r);
  }
  write(ctx, args[1], ["pfmerge", bytesToString(all), dense ? 1 : 0, sparseMax(ctx)]);
  return OK;
}

/** PFDEBUG DECODE's text of sparse opcodes. */
function decodeSparse(s: string): string {
  const parts: string[] = [];
  for (let p = HDR; p < s.length;) {
    const b = s.charCodeAt(p);
    if ((b & 0xc0) === 0) {
      parts.push(`z:${(b & 0x3f) + 1}`);
      p++;
    } else if ((b & 0xc0) === 0x40) {
      const b1 = p + 1 < s.length ? s.charCodeAt(p + 1) : 0;
      parts.push(`Z:${(((b & 0x3f) << 8) | b1) + 1}`);
      p += 2;
    } else {
      parts.push(`v:${((b >> 2) & 0x1f) + 1},${(b & 3) + 1}`);
      p++;
    }
  }
  return parts.join(" ");
}

function pfdebug(ctx: Ctx, args: string[]): Reply {
  const key = args[2];
  if (getKey(ctx, key) === undefined) fail(err("ERR The specified key does not exist"));
  const s = hllValue(ctx, key, false)!;
  switch (args[1].toLowerCase()) {
    case "getreg": {
      const r = registersOrFail(s);
      if (isSparse(s)) write(ctx, key, ["pfdense"]);
      return Array.from(r);
    }
    case "decode":
      if (!isSparse(s)) fail(err("ERR HLL encoding is not sparse"));
      return decodeSparse(s);
    case "encoding":
      return new SimpleReply(isSparse(s) ? "sparse" : "dense");
    case "todense":
      if (!isSparse(s)) return 0;
      registersOrFail(s);
      write(ctx, key, ["pfdense"]);
      return 1;
  }
  fail(err(`ERR Unknown PFDEBUG subcommand '${args[1]}'`));
}

/** A small deterministic generator for the self test (xorshift32). */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
}

/**
 * PFSELFTEST: checks the register packing (dense and sparse round trips of random registers) and
 * that the estimate stays within 5 standard errors while counting up to 100000 distinct elements.
 */
function selfTest(): Reply {
  const rnd = xorshift(0x5eed);
  for (let round = 0; round < 32; round++) {
    const r = new Uint8Array(REGISTERS);
    for (let i = 0; i < REGISTERS; i++) {
      r[i] = round % 2 === 0 ? rnd() & 63 : (rnd() & 7) === 0 ? rnd() % 33 : 0;
    }
    const dense = hllRegisters(header(emptyHll(), DENSE, true) + denseBody(r));
    if (dense === null || dense.some((v, i) => v !== r[i])) {
      return err("ERR TESTFAILED Register error (dense)");
    }
    if (round % 2 === 1) {
      const sparse = hllRegisters(emptyHll().slice(0, HDR) + sparseBody(r));
      if (sparse === null || sparse.some((v, i) => v !== r[i])) {
        return err("ERR TESTFAILED Register error (sparse)");
      }
    }
  }
  const regs = new Uint8Array(REGISTERS);
  const relErr = 1.04 / Math.sqrt(REGISTERS);
  for (let n = 1; n <= 100000; n++) {
    const { index, rank } = hllPosition(`selftest:${n}`);
    if (rank > regs[index]) regs[index] = rank;
    if (n === 10 || n === 100 || n === 1000 || n === 10000 || n === 100000) {
      const est = hllEstimate(regs);
      if (Math.abs(est - n) > n * relErr * 5 + 1) {
        return err(`ERR TESTFAILED Too big error. card:${n} abserr:${Math.abs(est - n)}`);
      }
    }
  }
  return OK;
}

/** Command handlers, keyed by lower-case command name. */
export const hllCommands: Record<string, Handler> = {
  pfadd,
  pfcount,
  pfmerge,
  pfdebug,
  pfselftest: () => selfTest(),
};

/** Why a command of this family is exclusive given its arguments, or null (see redis/exclusive.ts). */
export const hllExclusive: Record<string, (args: readonly string[]) => string | null> = {};
