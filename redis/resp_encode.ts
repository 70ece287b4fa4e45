/**
 * Sans-IO RESP2/RESP3 reply encoder: turns {@link Reply} values into wire bytes, accumulating them
 * in one reusable buffer so a pipelined batch of replies becomes a single write.
 */

import {
  BoolReply,
  DoubleReply,
  ErrorReply,
  MapReply,
  NullArrayReply,
  PushReply,
  type Reply,
  SetReply,
  SimpleReply,
  VerbatimReply,
} from "./reply.ts";

const CR = 13;
const LF = 10;

const INITIAL_CAPACITY = 16 * 1024;
/** Outputs at least this big are handed over instead of copied (a fresh buffer replaces them). */
const HANDOFF_AT = 64 * 1024;
/** Room for a type byte, a 64-bit integer with sign and CRLF. */
const HEADER_MAX = 1 + 20 + 2;
/** Below this length a JS loop writes a string faster than a native call. */
const SHORT_STRING = 16;

/** Buffer methods Bun (and Node) provide but the type definitions do not declare. */
type FastBuffer = Buffer & { latin1Write?: (s: string, offset: number, length?: number) => number };

const HAS_LATIN1_WRITE = typeof (Buffer.prototype as FastBuffer).latin1Write === "function";

/**
 * Accumulates encoded replies. Call {@link write} for each reply, then {@link take} to get the bytes
 * to send. Strings are written as latin1 (one byte per char), matching the parser's decoding.
 */
export class ReplyEncoder {
  private buf: FastBuffer = Buffer.allocUnsafe(INITIAL_CAPACITY) as FastBuffer;
  private len = 0;

  /** Appends the encoding of `r` for protocol version `proto`. */
  write(r: Reply, proto: 2 | 3): void {
    switch (typeof r) {
      case "string":
        this.bulk(r);
        return;
      case "number":
        // Replies carry integers only; a fraction here is a bug upstream, not something to round.
        if (!Number.isInteger(r)) throw new Error(`ReplyEncoder: non-integer number reply ${r}`);
        if (r <= Number.MAX_SAFE_INTEGER && r >= -Number.MAX_SAFE_INTEGER) this.header(58, /* : */ r);
        else this.write(BigInt(r), proto); // header() digit math is exact only for safe integers
        return;
      case "bigint":
        this.ensure(HEADER_MAX + 1);
        this.buf[this.len++] = 58;
        this.ascii(r.toString());
        this.crlf();
        return;
    }
    if (r === null) {
      if (proto === 3) this.ascii("_\r\n");
      else this.ascii("$-1\r\n");
      return;
    }
    if (Array.isArray(r)) {
      this.header(42, /* * */ r.length);
      for (let i = 0; i < r.length; i++) this.write(r[i], proto);
      return;
    }
    if (r instanceof SimpleReply) {
      this.line(43, /* + */ r.s);
    } else if (r instanceof ErrorReply) {
      this.line(45, /* - */ r.s);
    } else if (r instanceof MapReply) {
      const e = r.entries;
      if (proto === 3) this.header(37, /* % */ e.length >> 1);
      else this.header(42, e.length);
      for (let i = 0; i < e.length; i++) this.write(e[i], proto);
    } else if (r instanceof DoubleReply) {
      const s = r.text ?? formatDouble(r.n);
      if (proto === 3) this.line(44, /* , */ s);
      else this.bulk(s);
    } else if (r instanceof NullArrayReply) {
      if (proto === 3) this.ascii("_\r\n");
      else this.ascii("*-1\r\n");
    } else if (r instanceof SetReply) {
      this.aggregate(proto === 3 ? 126 /* ~ */ : 42, r.items, proto);
    } else if (r instanceof BoolReply) {
      if (proto === 3) this.ascii(r.b ? "#t\r\n" : "#f\r\n");
      else this.ascii(r.b ? ":1\r\n" : ":0\r\n");
    } else if (r instanceof VerbatimReply) {
      if (proto === 3) {
        this.header(61, /* = */ r.format.length + 1 + r.s.length);
        this.raw(r.format);
        this.ensure(1);
        this.buf[this.len++] = 58; // ':'
        this.raw(r.s);
        this.crlf();
      } else {
        this.bulk(r.s);
      }
    } else if (r instanceof PushReply) {
      this.aggregate(proto === 3 ? 62 /* > */ : 42, r.items, proto);
    } else {
      throw new Error("ReplyEncoder: unknown reply value");
    }
  }

  /** Number of bytes accumulated since the last {@link take}. */
  size(): number {
    return this.len;
  }

  /** Returns the accumulated bytes (the caller may keep them) and starts over. */
  take(): Uint8Array {
    const n = this.len;
    this.len = 0;
    if (n >= HANDOFF_AT) {
      // A big output would cost a big copy; giving the buffer away costs one fresh small allocation.
      const out = this.buf.subarray(0, n);
      this.buf = Buffer.allocUnsafe(INITIAL_CAPACITY) as FastBuffer;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    this.buf.copy(out, 0, 0, n);
    return out;
  }

  private aggregate(type: number, items: Reply[], proto: 2 | 3): void {
    this.header(type, items.length);
    for (let i = 0; i < items.length; i++) this.write(items[i], proto);
  }

  /** `$len\r\n<bytes>\r\n`. */
  private bulk(s: string): void {
    this.ensure(HEADER_MAX + s.length + 2);
    this.header(36, /* $ */ s.length);
    this.raw(s);
    this.crlf();
  }

  /** A one-line reply (`+`, `-`, `,`): CR and LF inside would end it early, so they become spaces. */
  private line(type: number, s: string): void {
    if (s.indexOf("\r") >= 0 || s.indexOf("\n") >= 0) s = s.replace(/[\r\n]/g, " ");
    this.ensure(1 + s.length + 2);
    this.buf[this.len++] = type;
    this.raw(s);
    this.crlf();
  }

  /** `<type><n>\r\n` with n a safe integer. */
  private header(type: number, n: number): void {
    this.ensure(HEADER_MAX);
    const buf = this.buf;
    let p = this.len;
    buf[p++] = type;
    if (n < 0) {
      buf[p++] = 45;
      n = -n;
    }
    if (n < 10) {
      buf[p++] = 48 + n;
    } else {
      // Count digits, then fill them right to left.
      let digits = 1;
      for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
      let q = p + digits - 1;
      for (let t = n; q >= p; q--) {
        const d = t % 10;
        buf[q] = 48 + d;
        t = (t - d) / 10;
      }
      p += digits;
    }
    buf[p++] = CR;
    buf[p++] = LF;
    this.len = p;
  }

  /** Writes a string's chars as bytes, growing as needed. */
  private raw(s: string): void {
    const n = s.length;
    this.ensure(n);
    const buf = this.buf;
    if (n < SHORT_STRING) {
      let p = this.len;
      for (let i = 0; i < n; i++) buf[p++] = s.charCodeAt(i);
    } else if (HAS_LATIN1_WRITE) {
      buf.latin1Write!(s, this.len, n);
    } else {
      buf.write(s, this.len, n, "latin1");
    }
    this.len += n;
  }

  /** Writes a short ASCII constant. */
  private ascii(s: string): void {
    this.ensure(s.length);
    const buf = this.buf;
    let p = this.len;
    for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i);
    this.len = p;
  }

  private crlf(): void {
    this.ensure(2);
    this.buf[this.len++] = CR;
    this.buf[this.len++] = LF;
  }

  /** Makes room for `n` more bytes, doubling so a long pipeline costs amortized O(1) per byte. */
  private ensure(n: number): void {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    if (cap < need) cap = need;
    const nb = Buffer.allocUnsafe(cap) as FastBuffer;
    this.buf.copy(nb, 0, 0, this.len);
    this.buf = nb;
  }
}

/** Encodes a single reply; convenient outside the hot path. */
export function encodeReply(r: Reply, proto: 2 | 3): Uint8Array {
  const e = new ReplyEncoder();
  e.write(r, proto);
  return e.take();
}

/** 2^62: within this magnitude Redis prints integral doubles as plain integers. */
const INTEGRAL_LIMIT = 4611686018427387904;

/**
 * Formats a double as Redis does (d2string): "nan", "inf", "-inf", "0"/"-0", integral values up to
 * 2^62 as integers, otherwise the shortest round-tripping digits laid out like Redis's fpconv_dtoa:
 * plain decimal for moderate exponents, else `d.ddde+X` with an unpadded exponent.
 */
export function formatDouble(d: number): string {
  if (d !== d) return "nan";
  if (d === Infinity) return "inf";
  if (d === -Infinity) return "-inf";
  if (d === 0) return 1 / d < 0 ? "-0" : "0";
  if (Number.isInteger(d) && d >= -INTEGRAL_LIMIT && d <= INTEGRAL_LIMIT) {
    // Past 2^53 String() rounds to shortest digits ("...388000"); Redis prints the exact integer.
    return d <= Number.MAX_SAFE_INTEGER && d >= -Number.MAX_SAFE_INTEGER ? String(d) : BigInt(d).toString();
  }

  const neg = d < 0;
  // toExponential() without an argument yields the shortest digits that round-trip.
  const ex = (neg ? -d : d).toExponential();
  const e = ex.indexOf("e");
  const digits = ex[0] + ex.slice(2, e); // drop the '.' (absent when there is a single digit)
  const x = Number(ex.slice(e + 1)); // decimal exponent of the first digit
  const nd = digits.length;
  const k = x - (nd - 1); // value = digits * 10^k
  const absX = x < 0 ? -x : x;
  let out: string;
  if (k >= 0 && absX < nd + 7) {
    out = digits + "0".repeat(k);
  } else if (k < 0 && (k > -7 || absX < 4)) {
    const intLen = nd + k;
    out = intLen <= 0
      ? "0." + "0".repeat(-intLen) + digits
      : digits.slice(0, intLen) + "." + digits.slice(intLen);
  } else {
    out = digits[0] + (nd > 1 ? "." + digits.slice(1) : "") + "e" + (x < 0 ? "-" : "+") + absX;
  }
  return neg ? "-" + out : out;
}
