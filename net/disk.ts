/**
 * The effect log on a real disk (DESIGN.md section 6).
 *
 * Layout of `--data-dir`:
 *   meta.json            node id and incarnation (written to a temp file, fsynced, renamed)
 *   checkpoint-N.ckpt    one framed record: the folded state covering segments <= N
 *   log-N.seg            framed records, appended; a new segment starts at every checkpoint
 * Appends are buffered and written with one write(2) before replies leave (so an acknowledged
 * write is in the OS even under `everysec`); `sync` adds an fdatasync for `always` and `everysec`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { FRAME_HEADER, frameRecord, parseFrames } from "../core/codec.ts";
import { crc32 } from "../core/crc32.ts";
import type { NodeMeta, Storage, StoredState } from "../core/env.ts";

const SEG_RE = /^log-(\d{8})\.seg$/;
const CKPT_RE = /^checkpoint-(\d{8})\.ckpt$/;
const name = (prefix: string, n: number, ext: string) => `${prefix}-${String(n).padStart(8, "0")}.${ext}`;

export class DiskStorage implements Storage {
  readonly durable = true;
  readonly #dir: string;
  #fd = -1;
  #segment = 0;
  /** Framed records appended but not yet written; reused between flushes. */
  #buf = Buffer.allocUnsafe(1 << 16);
  #pendingBytes = 0;
  #logBytes = 0;
  #flushScheduled = false;
  /** fdatasync calls in flight. */
  #syncing = 0;
  #retired: number[] = [];

  constructor(dir: string) {
    this.#dir = dir;
    fs.mkdirSync(dir, { recursive: true });
  }

  load(): StoredState {
    const files = fs.readdirSync(this.#dir);
    let meta: NodeMeta | null = null;
    if (files.includes("meta.json")) {
      meta = JSON.parse(fs.readFileSync(path.join(this.#dir, "meta.json"), "utf8"));
    }
    // Leftovers of a checkpoint or meta write that a crash interrupted.
    for (const f of files) if (f.endsWith(".tmp")) fs.rmSync(path.join(this.#dir, f), { force: true });
    const numbered = (re: RegExp) =>
      files.map((f) => re.exec(f)).filter((m) => m !== null).map((m) => Number(m![1])).sort((a, b) => a - b);
    // A checkpoint is renamed into place only once fsynced, so the newest one must be intact;
    // an older one cannot stand in for it (the segments it needs were deleted).
    const ckpts = numbered(CKPT_RE);
    let checkpoint: Uint8Array | null = null;
    let covered = 0;
    if (ckpts.length > 0) {
      covered = ckpts[ckpts.length - 1];
      const file = name("checkpoint", covered, "ckpt");
      const parsed = parseFrames(fs.readFileSync(path.join(this.#dir, file)));
      if (parsed.error !== null || parsed.records.length !== 1) {
        throw new Error(`${file} is corrupt (${parsed.error ?? "wrong record count"}); refusing to start`);
      }
      checkpoint = parsed.records[0];
    }
    const records: Uint8Array[] = [];
    let truncated: StoredState["truncated"] = null;
    let last = covered;
    const segs = numbered(SEG_RE);
    for (const n of segs) {
      const file = path.join(this.#dir, name("log", n, "seg"));
      if (n <= covered) {
        fs.rmSync(file, { force: true });
        continue;
      }
      if (truncated !== null) {
        // Only the newest segment can have a torn tail (older ones were fsynced when the node
        // that followed them started): a bad record before other data is corruption.
        throw new Error(
          `${truncated.segment} is corrupt at ${truncated.offset} (${truncated.reason}) and later segments exist; refusing to start`,
        );
      }
      const parsed = parseFrames(fs.readFileSync(file));
      records.push(...parsed.records);
      this.#logBytes += parsed.end;
      last = n;
      if (parsed.error !== null) {
        truncated = { segment: path.basename(file), offset: parsed.end, reason: parsed.error };
        fs.truncateSync(file, parsed.end);
      }
      // What a kill -9 left in the page cache is about to be built on: make it durable first.
      const fd = fs.openSync(file, "r+");
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    this.#openSegment(last + 1);
    return { meta, checkpoint, records, truncated };
  }

  writeMeta(meta: NodeMeta): void {
    const tmp = path.join(this.#dir, "meta.json.tmp");
    const fd = fs.openSync(tmp, "w");
    fs.writeSync(fd, JSON.stringify(meta));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, path.join(this.#dir, "meta.json"));
    this.#syncDir();
  }

  append(payload: Uint8Array): void {
    const need = this.#pendingBytes + FRAME_HEADER + payload.length;
    if (need > this.#buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.#buf.length * 2));
      this.#buf.copy(bigger, 0, 0, this.#pendingBytes);
      this.#buf = bigger;
    }
    const at = this.#pendingBytes;
    this.#buf.writeUInt32LE(payload.length, at);
    this.#buf.writeUInt32LE(crc32(payload), at + 4);
    this.#buf.set(payload, at + FRAME_HEADER);
    this.#pendingBytes = need;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.#flushScheduled = false;
    const n = this.#pendingBytes;
    if (n === 0) return;
    let off = 0;
    while (off < n) off += fs.writeSync(this.#fd, this.#buf, off, n - off);
    this.#pendingBytes = 0;
    this.#logBytes += n;
    // A burst must not pin a huge buffer forever.
    if (this.#buf.length > 1 << 24) this.#buf = Buffer.allocUnsafe(1 << 16);
  }

  sync(done: () => void): void {
    this.flush();
    this.#syncing++;
    fs.fdatasync(this.#fd, (e) => {
      if (e) throw e; // A failed fsync leaves the log's durability unknown: crash loudly.
      if (--this.#syncing === 0) this.#closeRetired();
      done();
    });
  }

  /** Closes segment fds a checkpoint retired once no fdatasync may still be using them. */
  #closeRetired(): void {
    for (const fd of this.#retired) fs.closeSync(fd);
    this.#retired = [];
  }

  checkpoint(bytes: Uint8Array, done: (error?: string) => void): void {
    // Everything appended so far is covered by `bytes`; later appends go to a new segment.
    this.flush();
    const covered = this.#segment;
    fs.fsyncSync(this.#fd);
    // An fdatasync in flight may still hold the old fd: close it only once they are done.
    this.#retired.push(this.#fd);
    if (this.#syncing === 0) this.#closeRetired();
    this.#openSegment(covered + 1);
    this.#logBytes = 0;
    const final = path.join(this.#dir, name("checkpoint", covered, "ckpt"));
    const tmp = final + ".tmp";
    fs.writeFile(tmp, frameRecord(bytes), (e) => {
      if (e) return done(e.message);
      fs.open(tmp, "r+", (e2, fd) => {
        if (e2) return done(e2.message);
        fs.fsync(fd, (e3) => {
          fs.closeSync(fd);
          if (e3) return done(e3.message);
          fs.renameSync(tmp, final);
          this.#syncDir();
          for (const f of fs.readdirSync(this.#dir)) {
            const s = SEG_RE.exec(f), c = CKPT_RE.exec(f);
            if ((s !== null && Number(s[1]) <= covered) || (c !== null && Number(c[1]) < covered)) {
              fs.rmSync(path.join(this.#dir, f), { force: true });
            }
          }
          done();
        });
      });
    });
  }

  logBytes(): number {
    return this.#logBytes + this.#pendingBytes;
  }

  /** Flushes, fsyncs and closes (shutdown). */
  closeSync(): void {
    this.flush();
    if (this.#fd >= 0) fs.fsyncSync(this.#fd);
    // An fdatasync still in flight keeps its fd; the process is about to exit anyway.
    if (this.#syncing > 0) return;
    this.#closeRetired();
    if (this.#fd >= 0) {
      fs.closeSync(this.#fd);
      this.#fd = -1;
    }
  }

  #openSegment(n: number): void {
    this.#segment = n;
    this.#fd = fs.openSync(path.join(this.#dir, name("log", n, "seg")), "a");
    this.#syncDir();
  }

  #syncDir(): void {
    const fd = fs.openSync(this.#dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}
