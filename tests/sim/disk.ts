/**
 * A simulated disk implementing `Storage` (durable), with the failure modes of a real one.
 *
 * Each log segment's bytes live in three stages:
 *   buffered   appended, still in the process (lost by any crash);
 *   written    handed to the OS by `flush` (page cache: lost by a crash, except that the OS may have
 *              written some of it back, and the last of those writes may be torn or corrupt);
 *   durable    covered by a completed `sync` (survives every crash).
 * `sync` flushes, remembers how far the segment was written at the call, and makes exactly that
 * durable when it completes a few simulated ms later: like fsync, it promises nothing about bytes
 * written after it started. Records are framed with `frameRecord` and read back with
 * `parseFrames`, so a torn tail is found by its length or CRC the way a real disk's would be.
 */
import { frameRecord, parseFrames } from "../../core/codec.ts";
import type { NodeMeta, Storage, StoredState } from "../../core/env.ts";
import type { SimWorld } from "./env.ts";

interface Segment {
  n: number;
  /** Written bytes (OS and disk), `len` of them used. */
  data: Uint8Array;
  len: number;
  /** Offsets just past each written frame (frame boundaries inside `data`). */
  frameEnds: number[];
  /** Bytes of `data` that are durable (always a frame boundary). */
  durable: number;
  /** Framed records not yet handed to the OS. */
  buffer: Uint8Array[];
}

/** What a crash did to the disk (for the simulator's own checks and its trace). */
export interface CrashReport {
  /** Framed records lost (buffered or written but not durable). */
  lostRecords: number;
  /** Written-not-durable records the OS happened to write back whole before the crash. */
  writtenBack: number;
  /** A partial or corrupt record left at the end of the log, which recovery must truncate. */
  torn: "prefix" | "corrupt" | null;
}

export interface SimDiskOptions {
  /** Probability that a crash leaves a torn or corrupt last write (when one was in flight). */
  tornProbability?: number;
  /** Probability that a crash finds some written records written back whole. */
  writebackProbability?: number;
}

export class SimDisk implements Storage {
  readonly durable = true;
  readonly stats = { syncs: 0, crashes: 0, torn: 0, checkpoints: 0, checkpointFailures: 0, truncations: 0 };
  readonly #world: SimWorld;
  readonly #tornP: number;
  readonly #writebackP: number;
  #meta: NodeMeta | null = null;
  #checkpoint: { covered: number; bytes: Uint8Array } | null = null;
  readonly #segments: Segment[] = [];
  #current: Segment | null = null;
  #nextSegment = 1;
  #logBytes = 0;
  #flushScheduled = false;
  /** Bumped by every crash: completions scheduled before it are dropped. */
  #epoch = 0;
  readonly #timers = new Set<ReturnType<SimWorld["schedule"]>>();

  constructor(world: SimWorld, opts: SimDiskOptions = {}) {
    this.#world = world;
    this.#tornP = opts.tornProbability ?? 0.5;
    this.#writebackP = opts.writebackProbability ?? 0.3;
  }

  load(): StoredState {
    this.#cancelTimers();
    const covered = this.#checkpoint?.covered ?? 0;
    const records: Uint8Array[] = [];
    let truncated: StoredState["truncated"] = null;
    const keep: Segment[] = [];
    for (const seg of this.#segments) {
      if (seg.n <= covered || truncated !== null) continue; // covered, or after a corrupt record
      // Only what reached the OS is readable; a process's unflushed buffer died with it.
      seg.buffer = [];
      const parsed = parseFrames(seg.data.subarray(0, seg.len));
      for (const r of parsed.records) records.push(r.slice());
      if (parsed.error !== null) {
        truncated = { segment: segName(seg.n), offset: parsed.end, reason: parsed.error };
        this.stats.truncations++;
        // The truncation is made durable before the node goes on (it writes a new segment after).
        seg.len = parsed.end;
        seg.durable = Math.min(seg.durable, parsed.end);
        seg.frameEnds = seg.frameEnds.filter((e) => e <= parsed.end);
      }
      keep.push(seg);
    }
    this.#segments.length = 0;
    this.#segments.push(...keep);
    this.#logBytes = keep.reduce((n, s) => n + s.len, 0);
    this.#openSegment();
    return {
      meta: this.#meta === null ? null : { ...this.#meta },
      checkpoint: this.#checkpoint === null ? null : this.#checkpoint.bytes.slice(),
      records,
      truncated,
    };
  }

  writeMeta(meta: NodeMeta): void {
    this.#meta = { ...meta };
  }

  append(payload: Uint8Array): void {
    const seg = this.#seg();
    const framed = frameRecord(payload);
    seg.buffer.push(framed);
    // Like the real disk: the buffer reaches the OS on the next turn even without a sync.
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      this.#later(0, () => this.flush());
    }
  }

  flush(): void {
    this.#flushScheduled = false;
    const seg = this.#current;
    if (seg === null || seg.buffer.length === 0) return;
    for (const f of seg.buffer) {
      writeBytes(seg, f);
      seg.frameEnds.push(seg.len);
      this.#logBytes += f.length;
    }
    seg.buffer = [];
  }

  sync(done: () => void): void {
    this.flush();
    this.stats.syncs++;
    const seg = this.#seg();
    const target = seg.len;
    const latency = this.#world.buggify("disk.slow_sync")
      ? this.#world.prng.range(20, 200)
      : this.#world.prng.range(1, 4);
    this.#later(latency, () => {
      if (target > seg.durable) seg.durable = target;
      done();
    });
  }

  checkpoint(bytes: Uint8Array, done: (error?: string) => void): void {
    // As the real disk: the covered segment is flushed and fsynced now, later appends go to a new one.
    this.flush();
    const seg = this.#seg();
    seg.durable = seg.len;
    const covered = seg.n;
    this.#openSegment();
    this.#logBytes = 0;
    const copy = bytes.slice();
    const latency = this.#world.prng.range(1, 20);
    this.#later(latency, () => {
      if (this.#world.buggify("disk.checkpoint_fail")) {
        this.stats.checkpointFailures++;
        return done("simulated checkpoint write failure");
      }
      this.#checkpoint = { covered, bytes: copy };
      this.stats.checkpoints++;
      for (let i = this.#segments.length - 1; i >= 0; i--) {
        if (this.#segments[i].n <= covered) this.#segments.splice(i, 1);
      }
      done();
    });
  }

  logBytes(): number {
    return this.#logBytes;
  }

  /** Bytes appended or written that a crash now would lose (0 when everything is durable). */
  notDurableBytes(): number {
    let n = 0;
    for (const s of this.#segments) {
      n += s.len - s.durable;
      for (const b of s.buffer) n += b.length;
    }
    return n;
  }

  /**
   * The machine lost power: pending completions never come, buffers and the page cache are gone,
   * except that the OS may have written back a prefix of the written records, the last write
   * possibly torn (a prefix of a record) or corrupt (a flipped byte).
   */
  crash(): CrashReport {
    this.#epoch++;
    this.#cancelTimers();
    this.#flushScheduled = false;
    this.stats.crashes++;
    const prng = this.#world.prng;
    const report: CrashReport = { lostRecords: 0, writtenBack: 0, torn: null };
    for (const seg of this.#segments) {
      report.lostRecords += seg.buffer.length;
      seg.buffer = [];
      // Whole frames past the durable point, in order.
      const frames = seg.frameEnds.filter((e) => e > seg.durable);
      let keepEnd = seg.durable;
      if (frames.length > 0 && prng.chance(this.#writebackP)) {
        const k = prng.range(1, frames.length);
        keepEnd = frames[k - 1];
        report.writtenBack += k;
      }
      const next = seg.frameEnds.find((e) => e > keepEnd);
      report.lostRecords += frames.filter((e) => e > keepEnd).length;
      let tail: Uint8Array | null = null;
      if (next !== undefined && prng.chance(this.#tornP)) {
        const frame = seg.data.slice(keepEnd, next);
        if (prng.chance(0.5)) {
          tail = frame.subarray(0, prng.range(1, frame.length - 1));
          report.torn = "prefix";
        } else {
          const at = prng.int(frame.length);
          frame[at] ^= 1 << prng.int(8);
          tail = frame;
          report.torn = "corrupt";
        }
        this.stats.torn++;
      }
      seg.len = keepEnd;
      seg.durable = keepEnd;
      seg.frameEnds = seg.frameEnds.filter((e) => e <= keepEnd);
      if (tail !== null) {
        // The torn bytes are on the platter now: durable, and garbage.
        writeBytes(seg, tail);
        seg.durable = seg.len;
      }
    }
    this.#current = null;
    return report;
  }

  #seg(): Segment {
    if (this.#current === null) throw new Error("sim disk: log used before load()");
    return this.#current;
  }

  #openSegment(): void {
    const seg: Segment = {
      n: this.#nextSegment++,
      data: new Uint8Array(256),
      len: 0,
      frameEnds: [],
      durable: 0,
      buffer: [],
    };
    this.#segments.push(seg);
    this.#current = seg;
  }

  /** A completion on a later turn, dropped if the machine crashes first. */
  #later(ms: number, fn: () => void): void {
    const epoch = this.#epoch;
    const t = this.#world.schedule(ms, () => {
      this.#timers.delete(t);
      if (epoch === this.#epoch) fn();
    });
    this.#timers.add(t);
  }

  #cancelTimers(): void {
    for (const t of this.#timers) this.#world.cancel(t);
    this.#timers.clear();
  }
}

function segName(n: number): string {
  return `log-${String(n).padStart(8, "0")}.seg`;
}

function writeBytes(seg: Segment, bytes: Uint8Array): void {
  if (seg.len + bytes.length > seg.data.length) {
    const grown = new Uint8Array(Math.max(seg.data.length * 2, seg.len + bytes.length));
    grown.set(seg.data.subarray(0, seg.len));
    seg.data = grown;
  }
  seg.data.set(bytes, seg.len);
  seg.len += bytes.length;
}
