/**
 * The simulated clients' side of RESP2: encoding commands and reading replies incrementally.
 *
 * Written apart from `redis/resp_*.ts` on purpose, so a bug there cannot hide itself here.
 * Replies are rendered to canonical strings ("+OK", ":3", "$\"v\"", "$nil", "[...]", "-ERR ...")
 * which the model produces too, so comparing a reply is comparing two strings.
 */

/** Encodes one command as a RESP array of bulk strings (arguments are ASCII here). */
export function encodeCommand(args: readonly string[]): Uint8Array {
  let s = `*${args.length}\r\n`;
  for (const a of args) s += `$${a.length}\r\n${a}\r\n`;
  return latin1(s);
}

export function latin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** Canonical forms of replies, shared with the model. */
export const R = {
  ok: "+OK",
  int: (n: number | bigint): string => `:${n}`,
  bulk: (s: string | null): string => (s === null ? "$nil" : `$${JSON.stringify(s)}`),
  array: (items: readonly string[]): string => `[${items.join(",")}]`,
  simple: (s: string): string => `+${s}`,
  error: (s: string): string => `-${s}`,
};

/** Largest reply accepted (a guard against a runaway length from a corrupt stream). */
const MAX_REPLY_BYTES = 64 * 1024 * 1024;

/** Reads replies from a byte stream; `next` returns one canonical reply or undefined for "need more". */
export class ReplyReader {
  #buf = new Uint8Array(0);
  #at = 0;

  feed(bytes: Uint8Array): void {
    const rest = this.#buf.length - this.#at;
    if (rest + bytes.length > MAX_REPLY_BYTES) throw new Error("reply reader: reply too large");
    const out = new Uint8Array(rest + bytes.length);
    out.set(this.#buf.subarray(this.#at));
    out.set(bytes, rest);
    this.#buf = out;
    this.#at = 0;
  }

  next(): string | undefined {
    const r = this.#parse(this.#at);
    if (r === undefined) return undefined;
    this.#at = r.end;
    return r.value;
  }

  /** Bytes received and not yet parsed into a whole reply. */
  pending(): number {
    return this.#buf.length - this.#at;
  }

  #line(at: number): { text: string; end: number } | undefined {
    for (let i = at; i + 1 < this.#buf.length; i++) {
      if (this.#buf[i] === 13 && this.#buf[i + 1] === 10) {
        return { text: text(this.#buf.subarray(at, i)), end: i + 2 };
      }
    }
    return undefined;
  }

  #parse(at: number): { value: string; end: number } | undefined {
    if (at >= this.#buf.length) return undefined;
    const kind = String.fromCharCode(this.#buf[at]);
    const line = this.#line(at + 1);
    if (line === undefined) return undefined;
    switch (kind) {
      case "+":
        return { value: R.simple(line.text), end: line.end };
      case "-":
        return { value: R.error(line.text), end: line.end };
      case ":":
        return { value: R.int(BigInt(line.text)), end: line.end };
      case "$": {
        const n = Number(line.text);
        if (n === -1) return { value: R.bulk(null), end: line.end };
        if (!Number.isInteger(n) || n < 0) throw new Error(`reply reader: bad bulk length ${line.text}`);
        if (line.end + n + 2 > this.#buf.length) return undefined;
        const body = text(this.#buf.subarray(line.end, line.end + n));
        if (this.#buf[line.end + n] !== 13 || this.#buf[line.end + n + 1] !== 10) {
          throw new Error("reply reader: bulk string not followed by CRLF");
        }
        return { value: R.bulk(body), end: line.end + n + 2 };
      }
      case "*": {
        const n = Number(line.text);
        if (n === -1) return { value: "*nil", end: line.end };
        if (!Number.isInteger(n) || n < 0) throw new Error(`reply reader: bad array length ${line.text}`);
        const items: string[] = [];
        let end = line.end;
        for (let i = 0; i < n; i++) {
          const item = this.#parse(end);
          if (item === undefined) return undefined;
          items.push(item.value);
          end = item.end;
        }
        return { value: R.array(items), end };
      }
      default:
        throw new Error(`reply reader: unexpected type byte ${JSON.stringify(kind)}`);
    }
  }
}

function text(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}
