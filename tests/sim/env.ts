/**
 * The simulator's deterministic `Env`: a seeded PRNG, simulated clocks, a timer queue ordered by
 * (time, insertion id), an in-memory log and `buggify`.
 *
 * A `SimWorld` is shared by everything in one run (clock, randomness, timers). A `SimEnv` is one
 * node incarnation's view of it: it remembers its own timers so a crash can drop them all at once,
 * the way a killed process loses its pending callbacks.
 */
import type { Env, LogLevel, Storage } from "../../core/env.ts";

/** xoshiro128**, seeded through splitmix32: small, fast, and the same on every machine. */
export class Prng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  constructor(seed: number) {
    let x = seed >>> 0;
    const split = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#s0 = split();
    this.#s1 = split();
    this.#s2 = split();
    this.#s3 = split();
    // An all-zero state would stay zero forever.
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /** A uniform unsigned 32-bit integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.#s1 << 9) >>> 0;
    this.#s2 = (this.#s2 ^ this.#s0) >>> 0;
    this.#s3 = (this.#s3 ^ this.#s1) >>> 0;
    this.#s1 = (this.#s1 ^ this.#s2) >>> 0;
    this.#s0 = (this.#s0 ^ this.#s3) >>> 0;
    this.#s2 = (this.#s2 ^ t) >>> 0;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error("pick from an empty list");
    return xs[this.int(xs.length)];
  }
}

/** JSON.stringify replacer that survives bigints. */
function jsonSafe(_key: string, v: unknown): unknown {
  return typeof v === "bigint" ? v.toString() : v;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

interface Timer {
  at: number;
  id: number;
  fn: () => void;
  cancelled: boolean;
}

/** A binary min-heap of timers ordered by (at, id): equal times fire in insertion order. */
class TimerHeap {
  readonly #items: Timer[] = [];

  get size(): number {
    return this.#items.length;
  }

  push(t: Timer): void {
    const a = this.#items;
    a.push(t);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }

  peek(): Timer | undefined {
    return this.#items[0];
  }

  pop(): Timer | undefined {
    const a = this.#items;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && before(a[l], a[m])) m = l;
        if (r < a.length && before(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.id < b.id);
}

/** Timers fired in one `advance` at most: a runaway 0 ms timer loop is a bug, not a hang. */
export const MAX_TIMERS_PER_ADVANCE = 200_000;
/** Log lines kept (the newest); older ones are dropped. */
export const MAX_LOG_LINES = 2000;

export interface SimWorldOptions {
  /** Enables `buggify`. */
  buggify?: boolean;
  /** Wall clock at simulated time 0. */
  wallStartMs?: number;
}

/** Clock, randomness, timers and log shared by one simulation run. */
export class SimWorld {
  readonly prng: Prng;
  readonly logLines: string[] = [];
  #now = 0;
  #wallOffset: number;
  #nextTimerId = 1;
  readonly #timers = new TimerHeap();
  readonly #buggifyEnabled: boolean;
  /** Per site: whether this run activates it (decided on first use, FoundationDB style). */
  readonly #sites = new Map<string, boolean>();

  constructor(seed: number, opts: SimWorldOptions = {}) {
    this.prng = new Prng(seed);
    this.#buggifyEnabled = opts.buggify ?? false;
    this.#wallOffset = opts.wallStartMs ?? 1_700_000_000_000;
  }

  /** Simulated monotonic milliseconds. */
  get now(): number {
    return this.#now;
  }

  wallMs(): number {
    return this.#now + this.#wallOffset;
  }

  /** Steps the wall clock (an NTP correction or a restart on another clock); may go back. */
  jumpWall(deltaMs: number): void {
    this.#wallOffset += deltaMs;
  }

  /** Schedules `fn` at now + ms; returns the timer for `cancel`. */
  schedule(ms: number, fn: () => void): Timer {
    const t: Timer = { at: this.#now + Math.max(0, ms), id: this.#nextTimerId++, fn, cancelled: false };
    this.#timers.push(t);
    return t;
  }

  cancel(t: Timer): void {
    t.cancelled = true;
  }

  /** Runs every timer due within `ms`, in (time, id) order, then leaves the clock at now + ms. */
  advance(ms: number): void {
    const until = this.#now + Math.max(0, ms);
    let fired = 0;
    for (;;) {
      const t = this.#timers.peek();
      if (t === undefined || t.at > until) break;
      this.#timers.pop();
      if (t.cancelled) continue;
      if (++fired > MAX_TIMERS_PER_ADVANCE) {
        throw new Error(`more than ${MAX_TIMERS_PER_ADVANCE} timers in one advance`);
      }
      this.#now = t.at;
      t.fn();
    }
    this.#now = until;
  }

  /** True at `site` with a small probability, when buggify is on and the site is active this run. */
  buggify(site: string): boolean {
    if (!this.#buggifyEnabled) return false;
    let on = this.#sites.get(site);
    if (on === undefined) {
      on = this.prng.chance(0.5);
      this.#sites.set(site, on);
    }
    return on && this.prng.chance(0.05);
  }

  /** A running hash of every trace line (the determinism self-check compares two runs'). */
  traceHash = 0x811c9dc5;

  log(line: string): void {
    const l = `${this.#now}ms ${line}`;
    let h = this.traceHash;
    for (let i = 0; i < l.length; i++) h = Math.imul(h ^ l.charCodeAt(i), 0x01000193) >>> 0;
    this.traceHash = h;
    this.logLines.push(l);
    if (this.logLines.length > MAX_LOG_LINES) this.logLines.splice(0, this.logLines.length - MAX_LOG_LINES);
  }
}

/** One node incarnation's Env over a shared world; `halt` drops its timers (a crash). */
export class SimEnv implements Env {
  readonly storage: Storage;
  readonly #world: SimWorld;
  readonly #timers = new Set<Timer>();
  readonly #name: string;
  #halted = false;

  constructor(world: SimWorld, storage: Storage, name = "node") {
    this.#world = world;
    this.storage = storage;
    this.#name = name;
  }

  monotonicMs(): number {
    return this.#world.now;
  }

  /** This node's clock error: added to the world's wall clock (offsets, jumps; may be negative). */
  skewMs = 0;
  /** This node's clock rate error in parts per million (a drifting crystal). */
  driftPpm = 0;

  wallMs(): number {
    return this.#world.wallMs() + this.skewMs + Math.round(this.#world.now * this.driftPpm / 1e6);
  }

  random(): number {
    return this.#world.prng.float();
  }

  setTimer(ms: number, fn: () => void): unknown {
    if (this.#halted) return null;
    const t: Timer = this.#world.schedule(ms, () => {
      this.#timers.delete(t);
      fn();
    });
    this.#timers.add(t);
    return t;
  }

  clearTimer(handle: unknown): void {
    if (handle === null || handle === undefined) return;
    const t = handle as Timer;
    this.#world.cancel(t);
    this.#timers.delete(t);
  }

  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    this.#world.log(
      `${this.#name} ${level} ${msg}${fields === undefined ? "" : " " + JSON.stringify(fields, jsonSafe)}`,
    );
  }

  buggify(site: string): boolean {
    return this.#world.buggify(site);
  }

  /** Pending timers of this incarnation. */
  timerCount(): number {
    return this.#timers.size;
  }

  /** The process died: none of its timers fire, and it schedules no more. */
  halt(): void {
    this.#halted = true;
    for (const t of this.#timers) this.#world.cancel(t);
    this.#timers.clear();
  }
}
