/**
 * Hybrid logical clock packed in one number: `ms * 2^11 + logical`.
 *
 * One float64 holds it exactly until the year 2109, so comparing two HLCs is one `<`. When the
 * logical part would overflow (2048 events in one millisecond) the clock runs ahead by a
 * millisecond, which an HLC allows. Ties between nodes are broken by the node id elsewhere.
 */
export const LOGICAL_SPAN = 2048;

/** The wall-clock milliseconds part of an HLC value. */
export function hlcMs(hlc: number): number {
  return Math.floor(hlc / LOGICAL_SPAN);
}

/** The smallest HLC value at wall time `ms`. */
export function hlcFromMs(ms: number): number {
  return ms * LOGICAL_SPAN;
}

/** A node's clock: strictly increasing, never behind wall time nor any HLC it has seen. */
export class Hlc {
  #last: number;
  readonly #wallMs: () => number;

  constructor(wallMs: () => number, restored = 0) {
    this.#wallMs = wallMs;
    this.#last = restored;
  }

  /** A new timestamp for a local event, greater than every one returned or observed before. */
  tick(): number {
    const physical = hlcFromMs(this.#wallMs());
    const next = physical > this.#last ? physical : this.#last + 1;
    this.#last = next;
    return next;
  }

  /** Merges a timestamp seen on a received effect (max-merge). */
  observe(remote: number): void {
    if (remote > this.#last) this.#last = remote;
  }

  /** The last timestamp issued or observed (persisted to restore the clock after a restart). */
  peek(): number {
    return this.#last;
  }

  /** max(wall clock, HLC) in ms: what reads compare expiry deadlines with. */
  nowMs(): number {
    const wall = this.#wallMs();
    const h = hlcMs(this.#last);
    return wall > h ? wall : h;
  }
}
