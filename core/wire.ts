/**
 * Peer wire framing: `[u32 LE length][payload]`, read from a byte stream without trusting the
 * length. A frame longer than the limit is an error before any of its body is buffered, so a
 * broken or hostile peer costs one link, never the process's memory. (TLS already protects the
 * bytes; the log's frames add a CRC because a disk does not.)
 */

/** Largest frame a peer may send by default. */
export const MAX_WIRE_FRAME_BYTES = 64 * 1024 * 1024;
const HEADER = 4;

/** Frames `payload` for the wire. */
export function wireFrame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length, true);
  out.set(payload, HEADER);
  return out;
}

/** A violation that ends the link; `message` says why. */
export class WireError {
  constructor(readonly message: string) {}
}

/** Streaming reader of wire frames. */
export class WireReader {
  readonly #max: number;
  #buf = new Uint8Array(0);
  #start = 0;
  #end = 0;
  #error: WireError | null = null;

  constructor(maxFrameBytes = MAX_WIRE_FRAME_BYTES) {
    this.#max = maxFrameBytes;
  }

  /** Appends received bytes (copied). */
  feed(chunk: Uint8Array): void {
    if (this.#error !== null || chunk.length === 0) return;
    if (this.#end + chunk.length > this.#buf.length) {
      // Compact the unread bytes to the front, growing only when they and the chunk do not fit.
      const live = this.#end - this.#start;
      const need = live + chunk.length;
      if (need <= this.#buf.length) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const bigger = new Uint8Array(Math.max(need, this.#buf.length * 2, 4096));
        bigger.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = bigger;
      }
      this.#start = 0;
      this.#end = live;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** The next complete frame's payload, null when more bytes are needed, or the error. */
  next(): Uint8Array | null | WireError {
    if (this.#error !== null) return this.#error;
    const avail = this.#end - this.#start;
    if (avail < HEADER) return null;
    const len = new DataView(this.#buf.buffer, this.#buf.byteOffset + this.#start, HEADER).getUint32(0, true);
    if (len > this.#max) {
      return this.#error = new WireError(`frame of ${len} bytes exceeds the limit of ${this.#max}`);
    }
    if (avail < HEADER + len) return null;
    const payload = this.#buf.slice(this.#start + HEADER, this.#start + HEADER + len);
    this.#start += HEADER + len;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return payload;
  }

  /** Bytes held, waiting for the rest of a frame. */
  buffered(): number {
    return this.#end - this.#start;
  }
}
