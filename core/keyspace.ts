/**
 * Per-key state and the databases that hold it.
 *
 * A key's state is its folded value (base plus applied unstable effects), the tips of its causal
 * DAG, the version vector of what was folded into the base, and, while the cluster has not yet
 * acknowledged them, the unstable effects with their undo records. The common case (every effect
 * stable) costs only the value and one tip, so fields are flat and lazily allocated.
 */
import type { Effect, EffectId, Writer } from "./effect.ts";
import type { Reducer } from "./reducer.ts";

/** An applied, still-unstable effect and how to take it back. */
export interface LogEntry {
  readonly e: Effect;
  /** Undo steps in apply order (see fold.ts). */
  steps: unknown[];
}

/** What few keys need: a deadline, concurrent tips, a version vector, unstable effects. */
class KeyExt {
  deadline = 0;
  moreTips: EffectId[] | null = null;
  vv: (Writer | number)[] | null = null;
  log: LogEntry[] | null = null;
  /** Per writer, the highest seq in `log` (kept with it, so membership costs O(1), not O(log)). */
  logTop: Map<Writer, number> | null = null;
  /** Estimated bytes of the effects in `log` (bounded by `--max-unstable-bytes`). */
  logBytes = 0;

  empty(): boolean {
    return this.deadline === 0 && this.moreTips === null && this.vv === null && this.log === null;
  }
}

/**
 * Six fields (64 bytes in JSC) for the common key: its value and type, its scan slot and its one
 * tip. Everything rarer lives in a `KeyExt` allocated on demand, behind accessors, so the rest of
 * the core reads `ks.deadline` or `ks.log` without knowing where they are kept.
 */
export class KeyState {
  /** Reducer of the current value; null when the key is absent. */
  type: Reducer | null = null;
  value: unknown = undefined;
  /** Position in the database's scan slots. */
  slot = -1;
  /** The single tip, or null; more tips (concurrent writes) in `moreTips`. */
  tipW: Writer | null = null;
  tipSeq = 0;
  ext: KeyExt | null = null;
  /** When a command of this node last wrote the key or a face looked it up for a client (ms; 0: never). */
  accessMs = 0;

  #ext(): KeyExt {
    return this.ext ??= new KeyExt();
  }

  #shrink(): void {
    if (this.ext !== null && this.ext.empty()) this.ext = null;
  }

  /** Absolute expiry deadline in ms; 0 = none. */
  get deadline(): number {
    return this.ext === null ? 0 : this.ext.deadline;
  }
  set deadline(ms: number) {
    if (ms === 0 && this.ext === null) return;
    this.#ext().deadline = ms;
    if (ms === 0) this.#shrink();
  }

  /** When the key stops existing: the sooner of its deadline and its value's own end (0 = never). */
  get end(): number {
    const d = this.deadline;
    const e = this.type === null || this.type.endsAt === undefined ? 0 : this.type.endsAt(this.value);
    return e === 0 || (d !== 0 && d <= e) ? d : e;
  }

  /** Tips besides the first (concurrent writes), or null. */
  get moreTips(): EffectId[] | null {
    return this.ext === null ? null : this.ext.moreTips;
  }
  set moreTips(t: EffectId[] | null) {
    if (t === null && this.ext === null) return;
    this.#ext().moreTips = t;
    if (t === null) this.#shrink();
  }

  /**
   * Version vector of effects folded into the base, flat `[writer, seq, ...]`; null while it is
   * exactly `{tipW: tipSeq}` with no unstable effects (the common single-writer case).
   */
  get vv(): (Writer | number)[] | null {
    return this.ext === null ? null : this.ext.vv;
  }
  set vv(v: (Writer | number)[] | null) {
    if (v === null && this.ext === null) return;
    this.#ext().vv = v;
    if (v === null) this.#shrink();
  }

  /** Applied unstable effects in fold order. */
  get log(): LogEntry[] | null {
    return this.ext === null ? null : this.ext.log;
  }
  set log(l: LogEntry[] | null) {
    if (l === null && this.ext === null) return;
    const ext = this.#ext();
    ext.log = l;
    ext.logTop = null;
    ext.logBytes = 0;
    if (l !== null) { for (const x of l) this.noteLogged(x.e); }
    if (l === null) this.#shrink();
  }

  /** Records that the log now holds effect `e`; call after adding an entry to `log`. */
  noteLogged(e: Effect): void {
    const ext = this.#ext();
    const top = ext.logTop ??= new Map();
    if ((top.get(e.w) ?? 0) < e.seq) top.set(e.w, e.seq);
    ext.logBytes += effectBytes(e);
  }

  /** Records that `e` left the log (folded into the base). */
  noteFolded(e: Effect): void {
    if (this.ext !== null) this.ext.logBytes -= effectBytes(e);
  }

  /** Estimated bytes of the unstable effects this key keeps. */
  get unstableBytes(): number {
    return this.ext === null ? 0 : this.ext.logBytes;
  }

  /**
   * The highest seq of `w` held by the key, base or log. A writer's effects on one key form a
   * causal chain and only effects whose deps are here get applied, so every lower seq of `w`
   * on this key is here too: this answers "is (w, seq) applied" in O(1).
   */
  topSeq(w: Writer): number {
    const base = this.baseSeq(w);
    const t = this.ext?.logTop?.get(w) ?? 0;
    return t > base ? t : base;
  }

  /** Accounted bytes of the value (the reducer keeps its size; O(1)). */
  get bytes(): number {
    return this.type === null ? 0 : this.type.size(this.value);
  }

  /** The tips as ids. */
  tips(): EffectId[] {
    const out: EffectId[] = [];
    if (this.tipW !== null) out.push({ w: this.tipW, seq: this.tipSeq });
    if (this.moreTips !== null) out.push(...this.moreTips);
    return out;
  }

  /** Replaces the tips. */
  setTips(tips: readonly EffectId[]): void {
    if (tips.length === 0) {
      this.tipW = null;
      this.tipSeq = 0;
      this.moreTips = null;
      return;
    }
    this.tipW = tips[0].w;
    this.tipSeq = tips[0].seq;
    this.moreTips = tips.length > 1 ? tips.slice(1) : null;
  }

  /** The highest seq of `w` folded into the base (0 if none). */
  baseSeq(w: Writer): number {
    const vv = this.vv;
    if (vv === null) return w === this.tipW && this.log === null ? this.tipSeq : 0;
    for (let i = 0; i < vv.length; i += 2) if (vv[i] === w) return vv[i + 1] as number;
    return 0;
  }

  /** Materializes the implicit version vector before it can diverge from the tip. */
  pinVv(): void {
    if (this.vv === null) this.vv = this.tipW !== null && this.log === null ? [this.tipW, this.tipSeq] : [];
  }

  /** Records that `w`'s effects up to `seq` are folded into the base. */
  raiseBase(w: Writer, seq: number): void {
    this.pinVv();
    const vv = this.vv!;
    for (let i = 0; i < vv.length; i += 2) {
      if (vv[i] === w) {
        if ((vv[i + 1] as number) < seq) vv[i + 1] = seq;
        return;
      }
    }
    vv.push(w, seq);
  }

  /** True when nothing but the value is left to remember (no unstable effects). */
  settled(): boolean {
    return this.log === null;
  }
}

/** An estimate of what an unstable effect costs in memory: its record plus the undo it keeps. */
export function effectBytes(e: Effect): number {
  let n = 96 + e.key.length + 16 * e.deps.length;
  for (const op of e.ops) for (const a of op) n += typeof a === "string" ? a.length + 8 : 8;
  return n;
}

/**
 * One database: a map for lookups plus scan slots. A key keeps its slot for as long as it exists,
 * so a SCAN cursor (a slot index) returns every key present for the whole scan; freed slots are
 * reused lowest-first-in, and trailing free slots are trimmed.
 */
export class Db {
  readonly map = new Map<string, KeyState>();
  readonly slots: (string | undefined)[] = [];
  readonly #free: number[] = [];
  /** Keys with a value (DBSIZE). */
  live = 0;
  /** Keys with a deadline. */
  expiring = 0;
  /** Accounted bytes of the keys and values. */
  bytes = 0;

  /** The state of `key`, created (absent, slotted) when missing. */
  ensure(key: string): KeyState {
    let ks = this.map.get(key);
    if (ks === undefined) {
      ks = new KeyState();
      ks.slot = this.#freeSlot();
      this.slots[ks.slot] = key;
      this.map.set(key, ks);
    }
    return ks;
  }

  /** A free slot, lowest-effort: freed ones first (skipping those trimmed away since), else a new one. */
  #freeSlot(): number {
    while (this.#free.length > 0) {
      const s = this.#free.pop()!;
      if (s < this.slots.length && this.slots[s] === undefined) return s;
    }
    return this.slots.length;
  }

  /** Forgets a key entirely (its value must already be gone and its history settled). */
  drop(key: string, ks: KeyState): void {
    if (this.map.get(key) !== ks) throw new Error(`drop of a stale state for key ${JSON.stringify(key)}`);
    this.map.delete(key);
    this.slots[ks.slot] = undefined;
    if (ks.slot === this.slots.length - 1) {
      // Trailing holes are trimmed; free-list entries past the end are skipped when popped.
      while (this.slots.length > 0 && this.slots[this.slots.length - 1] === undefined) this.slots.pop();
    } else {
      this.#free.push(ks.slot);
    }
  }

  /** Removes every key at once (FLUSHDB). */
  clear(): void {
    this.map.clear();
    this.slots.length = 0;
    this.#free.length = 0;
    this.live = 0;
    this.expiring = 0;
    this.bytes = 0;
  }
}

/** One deadline to watch: the key, its state object and the deadline it had when indexed. */
export interface DeadlineEntry {
  deadline: number;
  db: number;
  key: string;
  ks: KeyState;
  /** When active expiry looks at it: the deadline, or later when the key could not be freed yet. */
  at: number;
}

/**
 * Min-heap of deadlines for active expiry. Entries go stale when a key's deadline changes or
 * the key goes away; they are skipped when popped and dropped by `compact`, which costs the size
 * of the heap, never of the keyspace.
 */
export class DeadlineIndex {
  #heap: DeadlineEntry[] = [];

  get size(): number {
    return this.#heap.length;
  }

  push(deadline: number, db: number, key: string, ks: KeyState, at = deadline): void {
    this.#heap.push({ deadline, db, key, ks, at });
    this.#up(this.#heap.length - 1);
  }

  /** The earliest time an entry is due, or Infinity. */
  peek(): number {
    return this.#heap.length > 0 ? this.#heap[0].at : Infinity;
  }

  pop(): DeadlineEntry | undefined {
    const h = this.#heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      this.#down(0);
    }
    return top;
  }

  /** Keeps only the entries `live` accepts and restores the heap order. */
  compact(live: (x: DeadlineEntry) => boolean): void {
    this.#heap = this.#heap.filter(live);
    for (let i = (this.#heap.length >> 1) - 1; i >= 0; i--) this.#down(i);
  }

  /** SWAPDB: entries of db `a` now belong to `b` and the other way round. */
  swapDbs(a: number, b: number): void {
    for (const x of this.#heap) {
      if (x.db === a) x.db = b;
      else if (x.db === b) x.db = a;
    }
  }

  #up(i: number): void {
    const h = this.#heap, x = h[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].at <= x.at) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = x;
  }

  #down(i: number): void {
    const h = this.#heap, n = h.length, x = h[i];
    for (;;) {
      const a = 2 * i + 1, b = a + 1;
      let m = -1, md = x.at;
      if (a < n && h[a].at < md) {
        m = a;
        md = h[a].at;
      }
      if (b < n && h[b].at < md) m = b;
      if (m < 0) break;
      h[i] = h[m];
      i = m;
    }
    h[i] = x;
  }
}
