/**
 * Streaming, sans-IO parser for client requests: RESP multibulk (`*N\r\n$len\r\n...`) and the
 * inline protocol (`SET k "v"\n`), following redis-server's observable behaviour, error texts and
 * limits.
 *
 * Arguments come back as "latin1" strings (one char per byte) so arbitrary binary data round-trips
 * without a UTF-8 decode on the hot path.
 */

const CR = 13;
const LF = 10;
const STAR = 42; // '*'
const DOLLAR = 36; // '$'
const MINUS = 45; // '-'
const ZERO = 48; // '0'
const NINE = 57; // '9'

const INITIAL_CAPACITY = 16 * 1024;
/** An idle buffer bigger than this is dropped so one huge request does not pin memory forever. */
const SHRINK_ABOVE = 1024 * 1024;
/** How far the hot path looks for a header's CR in JS before falling back to a native indexOf. */
const SHORT_SCAN = 24;

/** Buffer methods Bun (and Node) provide but the type definitions do not declare. */
type FastBuffer = Buffer & { latin1Slice?: (start: number, end: number) => string };

/** A protocol violation; `message` is Redis's reply text without the leading "ERR ". */
export class ProtocolError {
  constructor(readonly message: string) {}
}

/** Limits mirroring redis.conf; every field is optional. */
export interface RespLimits {
  /** proto-max-bulk-len: longest accepted bulk argument, default 512 MiB. */
  maxBulkLen?: number;
  /** Largest accepted multibulk element count, default 1024*1024. */
  maxMultibulkLen?: number;
  /** How many bytes may be buffered while waiting for an inline line or a count line, default 64 KiB. */
  maxInlineLen?: number;
}

/** Result of the shared header-line scan: index of the CR, or one of these. */
const NEED_MORE = -1;
const TOO_BIG = -2;

/**
 * Incremental parser of client requests. Feed it bytes as they arrive with {@link feed}, then call
 * {@link next} until it returns `null`. A partially received command keeps its parsing state, so a
 * large pipelined request is never rescanned from the start and a big bulk argument is never
 * preallocated from its declared length: memory grows only with bytes actually received.
 */
/** Most arguments an unauthenticated client may announce. */
const UNAUTH_MAX_ARGS = 10;
/** Largest argument an unauthenticated client may announce. */
const UNAUTH_MAX_BULK = 16384;

export class RespParser {
  /**
   * Set while the client has not authenticated (with a password required): like Redis, such a
   * client may announce at most 10 arguments and 16 KiB per argument, so it cannot make the
   * server wait for (and buffer) a huge request before logging in.
   */
  unauthenticated = false;
  private readonly maxBulkLen: number;
  private readonly maxMultibulkLen: number;
  private readonly maxInlineLen: number;

  private buf: FastBuffer = Buffer.allocUnsafe(INITIAL_CAPACITY) as FastBuffer;
  /** First unconsumed byte. */
  private start = 0;
  /** One past the last received byte. */
  private end = 0;
  /**
   * Where to resume looking for the terminator of the line beginning at `start`: bytes before it are
   * known not to contain one, which keeps a line trickling in byte by byte linear rather than
   * quadratic. Only meaningful while it is >= `start`.
   */
  private scanFrom = 0;
  /** Arguments still to read in the current multibulk request; 0 between requests. */
  private remaining = 0;
  /** Length of the bulk argument being read, or -1 while its `$len` header is still awaited. */
  private bulkLen = -1;
  /** Arguments of the multibulk request in progress. */
  private args: string[] = [];
  /** Set once the stream is broken; the parser then only repeats it. */
  private error: ProtocolError | null = null;
  /** Scratch space for unescaping inline arguments, grown on demand. */
  private scratch: Uint8Array = new Uint8Array(0);

  /** Creates a parser; unspecified limits take Redis's defaults. */
  constructor(limits?: RespLimits) {
    this.maxBulkLen = limits?.maxBulkLen ?? 512 * 1024 * 1024;
    this.maxMultibulkLen = limits?.maxMultibulkLen ?? 1024 * 1024;
    this.maxInlineLen = limits?.maxInlineLen ?? 64 * 1024;
  }

  /**
   * Appends received bytes. The bytes are copied, so the caller may reuse `chunk` afterwards.
   * Ignored once the parser has failed (the connection is about to be closed anyway).
   */
  feed(chunk: Uint8Array): void {
    const n = chunk.length;
    if (n === 0 || this.error !== null) return;
    if (this.end + n > this.buf.length) this.makeRoom(n);
    this.buf.set(chunk, this.end);
    this.end += n;
  }

  /** Bytes received but not yet consumed by {@link next}; what `client-query-buffer-limit` is checked against. */
  bytesBuffered(): number {
    return this.end - this.start;
  }

  /**
   * Returns the next complete command (its arguments as latin1 strings), `null` when more bytes are
   * needed, or a {@link ProtocolError}. After an error the parser is dead and keeps returning it.
   * Empty requests (`*0`, `*-1`, blank inline lines) are skipped, as Redis does.
   */
  next(): string[] | ProtocolError | null {
    if (this.error !== null) return this.error;
    for (;;) {
      if (this.remaining === 0) {
        if (this.start >= this.end) {
          this.reset();
          return null;
        }
        if (this.buf[this.start] !== STAR) {
          const r = this.nextInline();
          if (r === undefined) continue; // blank line: nothing to run, look at what follows
          return r;
        }
        const cr = this.findHeaderEnd();
        if (cr < 0) {
          return cr === TOO_BIG ? this.fail("Protocol error: too big mbulk count string") : null;
        }
        const count = parseLongLong(this.buf, this.start + 1, cr);
        if (count !== count || count > this.maxMultibulkLen) {
          return this.fail("Protocol error: invalid multibulk length");
        }
        if (this.unauthenticated && count > UNAUTH_MAX_ARGS) {
          return this.fail("Protocol error: unauthenticated multibulk length");
        }
        // Like Redis, the byte after CR is assumed to be LF and not checked.
        this.start = cr + 2;
        if (count <= 0) continue;
        this.remaining = count;
        this.bulkLen = -1;
        // No preallocation from `count`: a lying client must not make us reserve memory.
        this.args = [];
      }

      const buf = this.buf;
      while (this.remaining > 0) {
        if (this.bulkLen < 0) {
          if (this.start >= this.end) return null;
          const cr = this.findHeaderEnd();
          if (cr < 0) {
            return cr === TOO_BIG ? this.fail("Protocol error: too big bulk count string") : null;
          }
          const first = buf[this.start];
          if (first !== DOLLAR) {
            return this.fail(`Protocol error: expected '$', got '${printable(first)}'`);
          }
          const len = parseLongLong(buf, this.start + 1, cr);
          if (len !== len || len < 0 || len > this.maxBulkLen) {
            return this.fail("Protocol error: invalid bulk length");
          }
          if (this.unauthenticated && len > UNAUTH_MAX_BULK) {
            return this.fail("Protocol error: unauthenticated bulk length");
          }
          this.start = cr + 2;
          this.bulkLen = len;
        }
        const argEnd = this.start + this.bulkLen;
        // +2: the trailing CRLF, which Redis skips without checking.
        if (argEnd + 2 > this.end) return null;
        this.args.push(slice(buf, this.start, argEnd));
        this.start = argEnd + 2;
        this.bulkLen = -1;
        this.remaining--;
      }
      const out = this.args;
      this.args = [];
      return out;
    }
  }

  /**
   * Parses one inline request at `start`: a command, a ProtocolError, `null` (need more bytes) or
   * `undefined` for a line with no arguments.
   */
  private nextInline(): string[] | ProtocolError | null | undefined {
    const buf = this.buf;
    const from = this.scanFrom > this.start ? this.scanFrom : this.start;
    const j = buf.subarray(from, this.end).indexOf(LF);
    const nl = j < 0 ? -1 : from + j;
    if (nl < 0) {
      this.scanFrom = this.end;
      if (this.end - this.start > this.maxInlineLen) {
        return this.fail("Protocol error: too big inline request");
      }
      return null;
    }
    let lineEnd = nl;
    if (lineEnd > this.start && buf[lineEnd - 1] === CR) lineEnd--;
    const args = this.splitArgs(this.start, lineEnd);
    if (args === null) return this.fail("Protocol error: unbalanced quotes in request");
    this.start = nl + 1;
    return args.length === 0 ? undefined : args;
  }

  /**
   * Finds the CR ending the header line at `start` (`*N` or `$N`), requiring one more byte after it
   * as Redis does. Returns its index, NEED_MORE, or TOO_BIG when too many bytes arrived without one.
   */
  private findHeaderEnd(): number {
    const buf = this.buf;
    const end = this.end;
    let i = this.scanFrom > this.start ? this.scanFrom : this.start;
    // Headers are a few bytes long: a short JS scan beats the cost of a native call.
    const stop = i + SHORT_SCAN < end ? i + SHORT_SCAN : end;
    while (i < stop && buf[i] !== CR) i++;
    if (i === stop && i < end) {
      // Bounded view: the bytes past `end` are stale and need not be searched.
      const j = buf.subarray(i, end).indexOf(CR);
      i = j < 0 ? end : i + j;
    }
    if (i >= end) {
      this.scanFrom = end;
      return end - this.start > this.maxInlineLen ? TOO_BIG : NEED_MORE;
    }
    if (i + 1 >= end) {
      this.scanFrom = i;
      return NEED_MORE;
    }
    return i;
  }

  /** Records the fatal error; bytes still buffered are dropped since nothing will read them. */
  private fail(message: string): ProtocolError {
    this.error = new ProtocolError(message);
    this.buf = Buffer.allocUnsafe(0) as FastBuffer;
    this.start = this.end = this.scanFrom = 0;
    this.args = [];
    return this.error;
  }

  /** Called when everything received was consumed: rewind for free and drop an oversized buffer. */
  private reset(): void {
    this.start = this.end = this.scanFrom = 0;
    if (this.buf.length > SHRINK_ABOVE) this.buf = Buffer.allocUnsafe(INITIAL_CAPACITY) as FastBuffer;
  }

  /** Ensures `n` more bytes fit after `end`, by compacting and/or growing. */
  private makeRoom(n: number): void {
    const live = this.end - this.start;
    const needed = live + n;
    const cap = this.buf.length;
    // Compact in place only when that frees at least as much as it copies; otherwise grow, so that a
    // big bulk trickling in is copied O(log n) times rather than once per feed.
    if (needed <= cap && this.start >= live) {
      this.buf.copyWithin(0, this.start, this.end);
    } else {
      let newCap = Math.max(cap * 2, INITIAL_CAPACITY);
      // While inside a bulk of known length, doubling need not overshoot what that bulk still needs;
      // this caps growth without ever reserving more than the bytes already received justify.
      if (this.remaining > 0 && this.bulkLen >= 0) {
        const want = this.bulkLen + 2;
        if (want < newCap) newCap = want;
      }
      if (newCap < needed) newCap = needed;
      const nb = Buffer.allocUnsafe(newCap) as FastBuffer;
      this.buf.copy(nb, 0, this.start, this.end);
      this.buf = nb;
    }
    this.scanFrom = this.scanFrom > this.start ? this.scanFrom - this.start : 0;
    this.start = 0;
    this.end = live;
  }

  /**
   * Splits an inline line into arguments the way Redis's sdssplitargs does: whitespace separates,
   * "double quotes" understand \n \r \t \b \a \xHH and \<any>, 'single quotes' understand \', and a
   * closing quote must be followed by whitespace or the end of the line. Returns null on unbalanced
   * quotes. A NUL byte ends the line, as it ends the C string Redis works on.
   */
  private splitArgs(s: number, e: number): string[] | null {
    const buf = this.buf;
    const out: string[] = [];
    if (this.scratch.length < e - s) this.scratch = new Uint8Array(Math.max(e - s, 256));
    const tmp = this.scratch;
    // Reads like the C code sees the NUL-terminated line: 0 past the end.
    const at = (i: number): number => (i < e ? buf[i] : 0);
    let p = s;
    for (;;) {
      while (p < e && isSpace(buf[p])) p++;
      if (at(p) === 0) return out;
      let n = 0;
      let inDouble = false;
      let inSingle = false;
      for (;;) {
        const c = at(p);
        if (inDouble) {
          if (c === 0) return null;
          if (c === 92 /* \ */ && at(p + 1) === 120 /* x */ && isHex(at(p + 2)) && isHex(at(p + 3))) {
            tmp[n++] = hexVal(at(p + 2)) * 16 + hexVal(at(p + 3));
            p += 4;
          } else if (c === 92 && at(p + 1) !== 0) {
            tmp[n++] = unescape(at(p + 1));
            p += 2;
          } else if (c === 34 /* " */) {
            const after = at(p + 1);
            if (after !== 0 && !isSpace(after)) return null;
            p++;
            break;
          } else {
            tmp[n++] = c;
            p++;
          }
        } else if (inSingle) {
          if (c === 0) return null;
          if (c === 92 && at(p + 1) === 39 /* ' */) {
            tmp[n++] = 39;
            p += 2;
          } else if (c === 39) {
            const after = at(p + 1);
            if (after !== 0 && !isSpace(after)) return null;
            p++;
            break;
          } else {
            tmp[n++] = c;
            p++;
          }
        } else {
          // Unquoted: only these end a word (not \v or \f, which merely separate words).
          if (c === 32 || c === LF || c === CR || c === 9 || c === 0) break;
          if (c === 34) inDouble = true;
          else if (c === 39) inSingle = true;
          else tmp[n++] = c;
          p++;
        }
      }
      out.push(Buffer.from(tmp.buffer, tmp.byteOffset, n).toString("latin1"));
    }
  }
}

/** Decodes bytes as latin1; Bun's undocumented latin1Slice is the fastest way. */
const slice: (buf: FastBuffer, start: number, end: number) => string =
  typeof (Buffer.prototype as FastBuffer).latin1Slice === "function"
    ? (buf, start, end) => buf.latin1Slice!(start, end)
    : (buf, start, end) => buf.toString("latin1", start, end);

/**
 * Parses bytes [s, e) as a signed 64-bit decimal with Redis's string2ll rules (no sign '+', no
 * leading zeros, no spaces, no "-0", must fit in a long long). Returns NaN when invalid. Values past
 * 2^53 lose precision, which is harmless: callers only compare them against far smaller limits.
 */
export function parseLongLong(buf: Uint8Array, s: number, e: number): number {
  if (s >= e) return NaN;
  if (e - s === 1 && buf[s] === ZERO) return 0;
  let p = s;
  const neg = buf[p] === MINUS;
  if (neg) p++;
  const digits = e - p;
  if (digits === 0 || digits > 19) return NaN;
  const d0 = buf[p];
  if (d0 <= ZERO || d0 > NINE) return NaN;
  let v = 0;
  for (let i = p; i < e; i++) {
    const d = buf[i] - ZERO;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  if (digits === 19 && exceedsLongLong(buf, p, neg)) return NaN;
  return neg ? -v : v;
}

const LLONG_MAX_DIGITS = "9223372036854775807";

/** For a 19-digit magnitude at `p`: is it outside the long long range? */
function exceedsLongLong(buf: Uint8Array, p: number, neg: boolean): boolean {
  for (let i = 0; i < 19; i++) {
    let limit = LLONG_MAX_DIGITS.charCodeAt(i);
    if (i === 18 && neg) limit++; // |LLONG_MIN| = LLONG_MAX + 1
    const d = buf[p + i];
    if (d !== limit) return d > limit;
  }
  return false;
}

/** C isspace in the "C" locale. */
function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

function hexVal(c: number): number {
  return c <= 57 ? c - 48 : (c | 32) - 87;
}

/** The byte a backslash escape inside double quotes stands for. */
function unescape(c: number): number {
  switch (c) {
    case 110: // n
      return LF;
    case 114: // r
      return CR;
    case 116: // t
      return 9;
    case 98: // b
      return 8;
    case 97: // a
      return 7;
    default:
      return c;
  }
}

/** Redis formats error replies with CR/LF turned into spaces, since they would break the protocol. */
function printable(c: number): string {
  return c === CR || c === LF ? " " : String.fromCharCode(c);
}
