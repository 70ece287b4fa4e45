/**
 * Peer sessions (DESIGN.md sections 3 and 5): one direction of a peer link, numbered frames that
 * survive reconnects. The sender keeps every frame until the receiver acknowledges it and, on a
 * new connection, resends from what the receiver says it has, in order; the receiver delivers
 * each frame exactly once, in order. Stability depends on this order ("anti-entropy never
 * delivers a peer's effects ahead of its session"). Sans-IO: the shell moves the bytes.
 */

/** Limits on what a sender keeps for a peer that has not acknowledged. */
export interface SessionLimits {
  /** Frames kept unacknowledged at most. */
  maxFrames: number;
  /** Payload bytes kept unacknowledged at most. */
  maxBytes: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { maxFrames: 1_000_000, maxBytes: 256 * 1024 * 1024 };

/** A numbered frame. */
export interface Frame {
  readonly seq: number;
  readonly payload: Uint8Array;
}

/** The sending side of a session. */
export class OutboundSession {
  readonly #limits: SessionLimits;
  /** Unacknowledged frames, in seq order. */
  #frames: Frame[] = [];
  #head = 0;
  #bytes = 0;
  #nextSeq = 1;
  /** Seq of the next frame to write on the current connection. */
  #cursor = 1;

  constructor(limits: SessionLimits = DEFAULT_SESSION_LIMITS) {
    this.#limits = limits;
  }

  /** Queues a payload; false (nothing queued) when the limits are reached: the caller backs off. */
  send(payload: Uint8Array): boolean {
    const kept = this.#frames.length - this.#head;
    if (kept >= this.#limits.maxFrames || this.#bytes + payload.length > this.#limits.maxBytes) return false;
    this.#frames.push({ seq: this.#nextSeq++, payload });
    this.#bytes += payload.length;
    return true;
  }

  /** Frames to write now on the current connection (each returned once per connection). */
  take(max = Infinity): Frame[] {
    const out: Frame[] = [];
    const first = this.#frames.length - this.#head > 0 ? this.#frames[this.#head].seq : this.#nextSeq;
    // A reconnect may report less than was acknowledged already (a receiver that cannot tell
    // which session it had): what was acknowledged is gone and is not sent again.
    if (this.#cursor < first) this.#cursor = first;
    for (let i = this.#head + (this.#cursor - first); i < this.#frames.length && out.length < max; i++) {
      out.push(this.#frames[i]);
    }
    this.#cursor += out.length;
    return out;
  }

  /** The receiver has every frame up to `seq`: they are dropped. */
  ack(seq: number): void {
    if (seq >= this.#nextSeq) {
      throw new Error(`ack of ${seq} beyond the last frame sent (${this.#nextSeq - 1})`);
    }
    while (this.#head < this.#frames.length && this.#frames[this.#head].seq <= seq) {
      this.#bytes -= this.#frames[this.#head].payload.length;
      this.#head++;
    }
    if (this.#cursor <= seq) this.#cursor = seq + 1;
    // Compact the array once the acknowledged prefix dominates it.
    if (this.#head > 1024 && this.#head * 2 > this.#frames.length) {
      this.#frames = this.#frames.slice(this.#head);
      this.#head = 0;
    }
  }

  /**
   * A new connection: the receiver reports the last seq it has. Everything after it is sent
   * again, in order.
   */
  reconnected(receivedUpTo: number): void {
    this.ack(receivedUpTo);
    this.#cursor = receivedUpTo + 1;
  }

  /** Payloads not yet acknowledged, in order (to carry them into a session with a new incarnation). */
  pending(): Uint8Array[] {
    return this.#frames.slice(this.#head).map((f) => f.payload);
  }

  /** Seq of the last frame queued (0 before any). */
  lastSeq(): number {
    return this.#nextSeq - 1;
  }

  /** Frames kept until acknowledged. */
  unacked(): number {
    return this.#frames.length - this.#head;
  }

  /** Payload bytes kept until acknowledged. */
  unackedBytes(): number {
    return this.#bytes;
  }
}

/** The receiving side of a session. */
export class InboundSession {
  #receivedUpTo = 0;

  /**
   * A frame arrived. Returns its payload when it is the next one, null for a duplicate (already
   * delivered: a resend after a reconnect). A gap means the link broke its order: the caller
   * drops the connection, and the reconnect handshake resends from `receivedUpTo()`.
   */
  receive(frame: Frame): Uint8Array | null | "gap" {
    if (frame.seq <= this.#receivedUpTo) return null;
    if (frame.seq !== this.#receivedUpTo + 1) return "gap";
    this.#receivedUpTo = frame.seq;
    return frame.payload;
  }

  /**
   * Takes back the delivery of frame `seq` (the last one delivered): the receiver could not take
   * it now, and the sender resends it, and everything after it, on the next connection.
   */
  rewind(seq: number): void {
    if (seq === this.#receivedUpTo) this.#receivedUpTo = seq - 1;
  }

  /** The last seq delivered: what the reconnect handshake and acknowledgements report. */
  receivedUpTo(): number {
    return this.#receivedUpTo;
  }
}
