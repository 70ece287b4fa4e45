/**
 * A small CBOR writer for the hot path (one log record per command), into a reused buffer.
 *
 * A generic encoder costs about a microsecond per small effect, too much at a million ops/s. This
 * one writes only what records hold: unsigned and negative integers (number or bigint), float64,
 * null, booleans, arrays, and strings. Keys and values are binary-safe JS strings (one char per
 * byte), so every string is written as a CBOR byte string of those bytes; `fromWire` turns byte
 * strings back into such strings after a generic decode.
 */

export class CborWriter {
  // Plain fields and byte stores: private fields and DataView calls cost measurably here.
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  private at = 0;

  /** Starts a new document, reusing the buffer. */
  reset(): this {
    this.at = 0;
    return this;
  }

  /** The bytes written since `reset` (a view: valid until the next `reset`). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.at);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.at + n));
    bigger.set(this.buf.subarray(0, this.at));
    this.buf = bigger;
    this.view = new DataView(bigger.buffer);
  }

  private head(major: number, n: number): void {
    if (this.at + 9 > this.buf.length) this.room(9);
    const b = this.buf;
    let at = this.at;
    const m = major << 5;
    if (n < 24) b[at++] = m | n;
    else if (n < 0x100) {
      b[at++] = m | 24;
      b[at++] = n;
    } else if (n < 0x10000) {
      b[at++] = m | 25;
      b[at++] = n >>> 8;
      b[at++] = n & 0xff;
    } else if (n < 0x100000000) {
      b[at++] = m | 26;
      b[at++] = n >>> 24;
      b[at++] = (n >>> 16) & 0xff;
      b[at++] = (n >>> 8) & 0xff;
      b[at++] = n & 0xff;
    } else {
      const hi = Math.floor(n / 0x100000000), lo = n >>> 0;
      b[at++] = m | 27;
      b[at++] = hi >>> 24;
      b[at++] = (hi >>> 16) & 0xff;
      b[at++] = (hi >>> 8) & 0xff;
      b[at++] = hi & 0xff;
      b[at++] = lo >>> 24;
      b[at++] = (lo >>> 16) & 0xff;
      b[at++] = (lo >>> 8) & 0xff;
      b[at++] = lo & 0xff;
    }
    this.at = at;
  }

  /** Bytes already encoded (a cached item). */
  raw(bytes: Uint8Array): this {
    this.room(bytes.length);
    this.buf.set(bytes, this.at);
    this.at += bytes.length;
    return this;
  }

  /** An array header of `n` items. */
  array(n: number): this {
    this.head(4, n);
    return this;
  }

  /** A binary-safe string as a byte string. */
  str(s: string): this {
    const n = s.length;
    this.head(2, n);
    this.room(n);
    const b = this.buf;
    let at = this.at;
    for (let i = 0; i < n; i++) b[at++] = s.charCodeAt(i);
    this.at = at;
    return this;
  }

  /** An integer (safe number or bigint within 64 bits) or a float64. */
  num(x: number | bigint): this {
    if (typeof x === "bigint") {
      if (x >= 0n) {
        this.room(9);
        this.buf[this.at++] = 27;
        this.view.setBigUint64(this.at, x);
      } else {
        this.room(9);
        this.buf[this.at++] = 0x20 | 27;
        this.view.setBigUint64(this.at, -1n - x);
      }
      this.at += 8;
      return this;
    }
    if (Number.isSafeInteger(x)) {
      if (x >= 0) this.head(0, x);
      else this.head(1, -1 - x);
      return this;
    }
    this.room(9);
    this.buf[this.at++] = 0xfb;
    this.view.setFloat64(this.at, x);
    this.at += 8;
    return this;
  }

  /** Any value records hold. */
  value(x: unknown): this {
    if (typeof x === "string") return this.str(x);
    if (typeof x === "number" || typeof x === "bigint") return this.num(x);
    if (Array.isArray(x)) {
      this.array(x.length);
      for (const y of x) this.value(y);
      return this;
    }
    if (x === null || x === undefined) {
      this.room(1);
      this.buf[this.at++] = 0xf6;
      return this;
    }
    if (typeof x === "boolean") {
      this.room(1);
      this.buf[this.at++] = x ? 0xf5 : 0xf4;
      return this;
    }
    throw new Error(`cannot encode ${typeof x} in a record`);
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Turns byte strings of a decoded record back into binary-safe strings and 64-bit integers that
 * fit a double back into numbers, recursively.
 */
export function fromWire(x: unknown): unknown {
  if (typeof x === "bigint") return x <= MAX_SAFE && x >= -MAX_SAFE ? Number(x) : x;
  if (x instanceof Uint8Array) {
    let s = "";
    for (let i = 0; i < x.length; i += 8192) {
      s += String.fromCharCode.apply(null, x.subarray(i, i + 8192) as unknown as number[]);
    }
    return s;
  }
  if (Array.isArray(x)) {
    for (let i = 0; i < x.length; i++) x[i] = fromWire(x[i]);
    return x;
  }
  return x;
}
