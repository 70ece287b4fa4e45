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
    this.#ext().log = l;
    if (l === null) this.#shrink();
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

  /** True when the key has a value. */
  present(): boolean {
    return this.type !== null;
  }

  /** True when nothing but the value is left to remember (no unstable effects). */
  settled(): boolean {
    return this.log === null;
  }
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
      ks.slot = this.#free.length > 0 ? this.#free.pop()! : this.slots.length;
      this.slots[ks.slot] = key;
      this.map.set(key, ks);
    }
    return ks;
  }

  /** Forgets a key entirely (its value must already be gone and its history settled). */
  drop(key: string, ks: KeyState): void {
    this.map.delete(key);
    this.slots[ks.slot] = undefined;
    if (ks.slot === this.slots.length - 1) {
      this.slots.pop();
      while (this.slots.length > 0 && this.slots[this.slots.length - 1] === undefined) this.slots.pop();
      // Free-list entries past the end are stale now; filter lazily in ensure via this check.
      if (this.#free.length > 0) {
        let j = 0;
        for (const s of this.#free) if (s < this.slots.length) this.#free[j++] = s;
        this.#free.length = j;
      }
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

/** Min-heap of (deadline, db, key) for active expiry; stale entries are skipped when popped. */
export class DeadlineIndex {
  #deadlines: number[] = [];
  #refs: [number, string][] = [];

  get size(): number {
    return this.#deadlines.length;
  }

  push(deadline: number, db: number, key: string): void {
    const d = this.#deadlines, r = this.#refs;
    let i = d.length;
    d.push(deadline);
    r.push([db, key]);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (d[p] <= deadline) break;
      d[i] = d[p];
      r[i] = r[p];
      i = p;
    }
    d[i] = deadline;
    r[i] = [db, key];
  }

  /** The smallest deadline, or Infinity. */
  peek(): number {
    return this.#deadlines.length > 0 ? this.#deadlines[0] : Infinity;
  }

  pop(): { deadline: number; db: number; key: string } | undefined {
    const d = this.#deadlines, r = this.#refs;
    if (d.length === 0) return undefined;
    const top = { deadline: d[0], db: r[0][0], key: r[0][1] };
    const lastD = d.pop()!, lastR = r.pop()!;
    if (d.length > 0) {
      let i = 0;
      const n = d.length;
      for (;;) {
        const a = 2 * i + 1, b = a + 1;
        let m = i, md = lastD;
        if (a < n && d[a] < md) {
          m = a;
          md = d[a];
        }
        if (b < n && d[b] < md) {
          m = b;
          md = d[b];
        }
        if (m === i) break;
        d[i] = d[m];
        r[i] = r[m];
        i = m;
      }
      d[i] = lastD;
      r[i] = lastR;
    }
    return top;
  }

  clear(): void {
    this.#deadlines = [];
    this.#refs = [];
  }
}
