/**
 * The list type: a reducer over a ring-buffer deque, and the 22 list commands of Redis 8.4.
 *
 * Every element carries a stable id derived from the effect that wrote it, the same on every
 * node: `${writer}:${seq}:${opIndex}:${i}` where `i` is the element's index in the op's values
 * (0 for LINSERT). Ops name elements by id, never by position (DESIGN.md section 2), so an op
 * replayed after a concurrent write that sorted before it still acts on the elements its node
 * saw, wherever they now are.
 *
 * Ops:
 * - `["push", "L" | "R", values]`: pushes the values one by one at the head ("L": the last value
 *   ends first, like LPUSH a b c) or the tail ("R").
 * - `["rem", ids, event?]`: removes the elements with these ids; ids not present (already removed)
 *   are ignored. Removing the last element deletes the key. LPOP, RPOP, LMPOP, LREM, LTRIM and the
 *   source side of LMOVE write it; the optional `event` names the command for keyspace
 *   notifications ("rpop", "lrem", "ltrim"); without it the event is "lpop".
 * - `["lset", id, value]` (LSET): replaces the value of the element with this id, which keeps its
 *   id; nothing happens when that element is gone.
 * - `["linsert", "B" | "A", id, value]` (LINSERT): inserts the value just before ("B") or after
 *   ("A") the element with this id; nothing happens when that element is gone, as LINSERT finds
 *   no pivot in a list where the removal ran first.
 * Any other op of this reducer, or a malformed one, is a no-op (apply is total).
 *
 * Merge: ops apply in the fold order. Concurrent pushes are all kept; a removal removes only the
 * elements its node saw (a concurrent push survives an LTRIM elsewhere); of two LSETs of one
 * element the one that sorts last wins; an LSET or LINSERT sorted after the removal of its
 * element does nothing.
 *
 * Undo restores the exact previous state, ids included: pushes pop what they pushed, LSET puts
 * the old value back, LINSERT removes the inserted element, a removal reinserts each element at
 * its recorded index (one O(n) merge for a large removal).
 *
 * OBJECT ENCODING: Redis holds a list as a listpack until it outgrows `list-max-listpack-size`
 * (entries, or a byte size class when negative), then as a quicklist, back to a listpack only
 * once a shrinking command leaves it under half the limit. The state counts the bytes a listpack
 * of its values would take, and the command handlers move a hint (`ListState.quicklist`) with
 * Redis's rules at each write on this node. The hint only names an encoding: it is not part of
 * `encode` or `canonical`, and a list built elsewhere or decoded is judged from its size.
 *
 * Memory accounting: each element costs its value's length plus `LIST_ELEMENT_OVERHEAD`.
 */
import type { Op } from "../../core/effect.ts";
import type { Applied, ApplyCtx, Reducer } from "../../core/reducer.ts";
import {
  Block,
  type Ctx,
  fail,
  getKey,
  getTyped,
  type Handler,
  parseInt64,
  safeIntArg,
  timeoutArg,
  upper,
  write,
} from "../command.ts";
import type { EncodingLimits } from "../encodings.ts";
import { E, err, NULL_ARRAY, OK, type Reply } from "../reply.ts";

/**
 * Accounted bytes per element besides its value: three 8-byte ring slots (value, id base, id
 * number) plus about as much again for ring slack and the value string's header.
 */
export const LIST_ELEMENT_OVERHEAD = 32;

/** Smallest ring capacity (a power of two). */
const MIN_CAPACITY = 8;

/** A listpack's header and terminator bytes. */
const LISTPACK_FIXED_BYTES = 7;

/**
 * Bytes one value takes in a Redis listpack: an integer in its smallest encoding, a string with a
 * 1, 2 or 5 byte header; then the entry's length again (1 to 5 bytes) for backwards walks.
 */
export function listpackEntryBytes(v: string): number {
  const n = v.length;
  let body: number;
  const c = v.charCodeAt(0);
  // Only digits and a minus can start an integer: skip the parse for every other value.
  const i = n > 0 && n <= 20 && ((c >= 48 && c <= 57) || c === 45) ? parseInt64(v) : null;
  if (i === null) body = n < 64 ? 1 + n : n < 4096 ? 2 + n : 5 + n;
  else if (typeof i === "bigint") body = 9;
  else if (i >= 0 && i <= 127) body = 1;
  else if (i >= -4096 && i <= 4095) body = 2;
  else if (i >= -32768 && i <= 32767) body = 3;
  else if (i >= -8388608 && i <= 8388607) body = 4;
  else if (i >= -2147483648 && i <= 2147483647) body = 5;
  else body = 9;
  const back = body <= 127 ? 1 : body < 16383 ? 2 : body < 2097151 ? 3 : body < 268435455 ? 4 : 5;
  return body + back;
}

/**
 * A deque of values with a parallel deque of element ids, in one ring buffer: O(1) push and pop
 * at both ends, O(1) index access, O(n) removal or insertion in the middle, O(n) removal or
 * reinsertion of many elements at once. An id is split into a base shared by one op's elements
 * and a number, so a 100k-element list holds no 100k id strings.
 */
export class ListState {
  #vals: string[];
  #bases: string[];
  #nums: number[];
  #head = 0;
  #len = 0;
  #mask: number;
  #bytes = 0;
  #lp = 0;
  /** OBJECT ENCODING hint: true once this node's writes made Redis's list a quicklist. */
  quicklist = false;

  constructor(capacity = MIN_CAPACITY) {
    const cap = capacityFor(capacity);
    this.#vals = new Array<string>(cap).fill("");
    this.#bases = new Array<string>(cap).fill("");
    this.#nums = new Array<number>(cap).fill(0);
    this.#mask = cap - 1;
  }

  /** Number of elements. */
  get length(): number {
    return this.#len;
  }

  /** Accounted bytes: the sum of value lengths plus `LIST_ELEMENT_OVERHEAD` per element. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Bytes a Redis listpack holding these values would take (for OBJECT ENCODING). */
  get listpackBytes(): number {
    return LISTPACK_FIXED_BYTES + this.#lp;
  }

  /** The value at `index` (0 = head), or undefined outside `[0, length)`. */
  at(index: number): string | undefined {
    if (index < 0 || index >= this.#len) return undefined;
    return this.#vals[(this.#head + index) & this.#mask];
  }

  /** The element id at `index` (0 = head), or undefined outside `[0, length)`. */
  idAt(index: number): string | undefined {
    if (index < 0 || index >= this.#len) return undefined;
    const p = (this.#head + index) & this.#mask;
    return `${this.#bases[p]}:${this.#nums[p]}`;
  }

  /**
   * The values from `start` to `stop` inclusive, with Redis's LRANGE rules: negative indexes
   * count from the tail, out-of-range bounds are clamped, an empty range gives [].
   */
  range(start: number, stop: number): string[] {
    const len = this.#len;
    if (start < 0) start += len;
    if (stop < 0) stop += len;
    if (start < 0) start = 0;
    if (start > stop || start >= len) return [];
    if (stop >= len) stop = len - 1;
    const out = new Array<string>(stop - start + 1);
    for (let i = start; i <= stop; i++) out[i - start] = this.#vals[(this.#head + i) & this.#mask];
    return out;
  }

  /** Every value, head first. */
  values(): string[] {
    return this.range(0, -1);
  }

  /** Every element id, head first. */
  ids(): string[] {
    const out = new Array<string>(this.#len);
    for (let i = 0; i < this.#len; i++) out[i] = this.idAt(i)!;
    return out;
  }

  /** True when the element at `index` has the id (`base`, `num`). */
  hasIdAt(index: number, base: string, num: number): boolean {
    if (index < 0 || index >= this.#len) return false;
    const p = (this.#head + index) & this.#mask;
    return this.#nums[p] === num && this.#bases[p] === base;
  }

  /** Index of the element whose id is (`base`, `num`), searching from both ends; -1 if absent. */
  indexOfId(base: string, num: number): number {
    const len = this.#len;
    for (let lo = 0, hi = len - 1; lo <= hi; lo++, hi--) {
      if (this.hasIdAt(lo, base, num)) return lo;
      if (this.hasIdAt(hi, base, num)) return hi;
    }
    return -1;
  }

  /**
   * Ascending indexes of the elements whose ids `wanted` holds (base -> numbers), in one pass;
   * each id counts once.
   */
  indexesOfIds(wanted: Map<string, Set<number>>): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.#len; i++) {
      const p = (this.#head + i) & this.#mask;
      if (wanted.get(this.#bases[p])?.has(this.#nums[p])) out.push(i);
    }
    return out;
  }

  /** Pushes one element at the head. */
  pushFront(value: string, base: string, num: number): void {
    if (this.#len === this.#mask + 1) this.#resize((this.#mask + 1) * 2);
    this.#head = (this.#head - 1) & this.#mask;
    this.#set(this.#head, value, base, num);
    this.#len++;
    this.#count(value, 1);
  }

  /** Pushes one element at the tail. */
  pushBack(value: string, base: string, num: number): void {
    if (this.#len === this.#mask + 1) this.#resize((this.#mask + 1) * 2);
    this.#set((this.#head + this.#len) & this.#mask, value, base, num);
    this.#len++;
    this.#count(value, 1);
  }

  /** Removes the head element (the list must not be empty). */
  popFront(): void {
    if (this.#len === 0) throw new Error("list: pop from an empty deque");
    const p = this.#head;
    this.#count(this.#vals[p], -1);
    this.#clear(p);
    this.#head = (p + 1) & this.#mask;
    this.#len--;
    this.#maybeShrink();
  }

  /** Removes the tail element (the list must not be empty). */
  popBack(): void {
    if (this.#len === 0) throw new Error("list: pop from an empty deque");
    const p = (this.#head + this.#len - 1) & this.#mask;
    this.#count(this.#vals[p], -1);
    this.#clear(p);
    this.#len--;
    this.#maybeShrink();
  }

  /** Removes the element at `index`, moving the shorter side. */
  removeAt(index: number): void {
    const len = this.#len;
    if (index < 0 || index >= len) throw new Error(`list: remove at ${index} of ${len}`);
    if (index === 0) return this.popFront();
    if (index === len - 1) return this.popBack();
    const h = this.#head, m = this.#mask;
    this.#count(this.#vals[(h + index) & m], -1);
    if (index < len / 2) {
      for (let j = index; j > 0; j--) this.#move((h + j) & m, (h + j - 1) & m);
      this.#clear(h);
      this.#head = (h + 1) & m;
    } else {
      for (let j = index; j < len - 1; j++) this.#move((h + j) & m, (h + j + 1) & m);
      this.#clear((h + len - 1) & m);
    }
    this.#len--;
    this.#maybeShrink();
  }

  /**
   * Removes the elements at `indexes` (ascending, distinct, in range) in one pass and returns
   * them as `[index, value, base, num]*`, the input of `insertSorted`.
   */
  removeSorted(indexes: readonly number[]): (string | number)[] {
    const removed: (string | number)[] = [];
    const h = this.#head, m = this.#mask, len = this.#len;
    let w = 0, k = 0;
    for (let r = 0; r < len; r++) {
      const p = (h + r) & m;
      if (k < indexes.length && indexes[k] === r) {
        removed.push(r, this.#vals[p], this.#bases[p], this.#nums[p]);
        this.#count(this.#vals[p], -1);
        k++;
        continue;
      }
      if (w !== r) this.#move((h + w) & m, p);
      w++;
    }
    if (k !== indexes.length) throw new Error("list: removeSorted indexes out of order or range");
    for (let r = w; r < len; r++) this.#clear((h + r) & m);
    this.#len = w;
    if (this.#mask + 1 > MIN_CAPACITY && w * 4 <= this.#mask + 1) this.#resize(capacityFor(w * 2));
    return removed;
  }

  /** Inserts `[index, value, base, num]*` (ascending final indexes) in one pass: undoes `removeSorted`. */
  insertSorted(items: readonly (string | number)[]): void {
    const total = this.#len + items.length / 4;
    const cap = capacityFor(total);
    const vals = new Array<string>(cap).fill("");
    const bases = new Array<string>(cap).fill("");
    const nums = new Array<number>(cap).fill(0);
    let r = 0, k = 0;
    for (let i = 0; i < total; i++) {
      if (k < items.length && items[k] === i) {
        vals[i] = items[k + 1] as string;
        bases[i] = items[k + 2] as string;
        nums[i] = items[k + 3] as number;
        this.#count(vals[i], 1);
        k += 4;
      } else {
        const p = (this.#head + r++) & this.#mask;
        vals[i] = this.#vals[p];
        bases[i] = this.#bases[p];
        nums[i] = this.#nums[p];
      }
    }
    if (k !== items.length || r !== this.#len) {
      throw new Error("list: insertSorted indexes out of order or range");
    }
    this.#vals = vals;
    this.#bases = bases;
    this.#nums = nums;
    this.#head = 0;
    this.#len = total;
    this.#mask = cap - 1;
  }

  /** Inserts an element so that it ends at `index` (0..length), moving the shorter side. */
  insertAt(index: number, value: string, base: string, num: number): void {
    const len = this.#len;
    if (index < 0 || index > len) throw new Error(`list: insert at ${index} of ${len}`);
    if (index === 0) return this.pushFront(value, base, num);
    if (index === len) return this.pushBack(value, base, num);
    if (len === this.#mask + 1) this.#resize((this.#mask + 1) * 2);
    const m = this.#mask;
    if (index < len / 2) {
      const h = (this.#head - 1) & m;
      this.#head = h;
      for (let j = 0; j < index; j++) this.#move((h + j) & m, (h + j + 1) & m);
    } else {
      const h = this.#head;
      for (let j = len; j > index; j--) this.#move((h + j) & m, (h + j - 1) & m);
    }
    this.#set((this.#head + index) & m, value, base, num);
    this.#len++;
    this.#count(value, 1);
  }

  /** Replaces the value at `index` (in range), keeping its id; returns the old value. */
  setAt(index: number, value: string): string {
    if (index < 0 || index >= this.#len) throw new Error(`list: set at ${index} of ${this.#len}`);
    const p = (this.#head + index) & this.#mask;
    const old = this.#vals[p];
    this.#count(old, -1);
    this.#vals[p] = value;
    this.#count(value, 1);
    return old;
  }

  /** The id of the element at `index` as its (base, number) parts (for the undo records). */
  idPartsAt(index: number): [string, number] {
    const p = (this.#head + index) & this.#mask;
    return [this.#bases[p], this.#nums[p]];
  }

  /** Adds (`sign` 1) or removes (-1) one value's accounted and listpack bytes. */
  #count(value: string, sign: 1 | -1): void {
    this.#bytes += sign * (value.length + LIST_ELEMENT_OVERHEAD);
    this.#lp += sign * listpackEntryBytes(value);
  }

  #set(p: number, value: string, base: string, num: number): void {
    this.#vals[p] = value;
    this.#bases[p] = base;
    this.#nums[p] = num;
  }

  #move(to: number, from: number): void {
    this.#vals[to] = this.#vals[from];
    this.#bases[to] = this.#bases[from];
    this.#nums[to] = this.#nums[from];
  }

  #clear(p: number): void {
    // Drop the references so popped values can be collected.
    this.#vals[p] = "";
    this.#bases[p] = "";
    this.#nums[p] = 0;
  }

  #maybeShrink(): void {
    const cap = this.#mask + 1;
    if (cap > MIN_CAPACITY && this.#len * 4 <= cap) this.#resize(cap / 2);
  }

  #resize(cap: number): void {
    const vals = new Array<string>(cap).fill("");
    const bases = new Array<string>(cap).fill("");
    const nums = new Array<number>(cap).fill(0);
    for (let i = 0; i < this.#len; i++) {
      const p = (this.#head + i) & this.#mask;
      vals[i] = this.#vals[p];
      bases[i] = this.#bases[p];
      nums[i] = this.#nums[p];
    }
    this.#vals = vals;
    this.#bases = bases;
    this.#nums = nums;
    this.#head = 0;
    this.#mask = cap - 1;
  }
}

/** The smallest power-of-two ring capacity holding `n` elements. */
function capacityFor(n: number): number {
  let cap = MIN_CAPACITY;
  while (cap < n) cap *= 2;
  return cap;
}

/** Splits an element id into its base and number; null when it is not a list element id. */
function parseId(id: unknown): [string, number] | null {
  if (typeof id !== "string") return null;
  const colon = id.lastIndexOf(":");
  if (colon < 0) return null;
  const num = Number(id.slice(colon + 1));
  if (!Number.isInteger(num)) return null;
  return [id.slice(0, colon), num];
}

/**
 * Undo records: null (nothing changed), "new" (the push created the key: undo deletes it), a
 * number n (n > 0: n elements pushed at the head, n < 0: -n at the tail), or one of the classes.
 */
type ListUndo = null | "new" | number | RemUndo | SetUndo | InsertUndo;

/** A removal: the list it ran on (kept: the key may be gone), what it removed one by one, then at once. */
class RemUndo {
  constructor(
    readonly list: ListState,
    /** `[index, value, base, num]*` in removal order, each index as it was at its removal. */
    readonly removed: (string | number)[],
    /** `[index, value, base, num]*` removed by one `removeSorted` after those, or null. */
    readonly sorted: (string | number)[] | null,
  ) {}
}

/** An LSET: the value it replaced at `index`. */
class SetUndo {
  constructor(readonly index: number, readonly old: string) {}
}

/** An LINSERT: the index the new element took. */
class InsertUndo {
  constructor(readonly index: number) {}
}

/** Removals of at most this many ids not found at the ends look each id up; more take one pass. */
const ONE_BY_ONE_MAX = 8;

const NO_CHANGE = (state: ListState | undefined): Applied<ListState> => ({ state, undo: null, delta: 0 });

function applyPush(state: ListState | undefined, op: Op, ctx: ApplyCtx): Applied<ListState> {
  const values = op[2];
  if (!Array.isArray(values) || values.length === 0) return NO_CHANGE(state);
  const n = values.length;
  const s = state ?? new ListState(n);
  const before = s.bytes;
  const base = `${ctx.w.key}:${ctx.seq}:${ctx.opIndex}`;
  if (op[1] === "L") {
    for (let i = 0; i < n; i++) s.pushFront(String(values[i]), base, i);
  } else {
    for (let i = 0; i < n; i++) s.pushBack(String(values[i]), base, i);
  }
  const undo: ListUndo = state === undefined ? "new" : op[1] === "L" ? n : -n;
  return { state: s, undo, delta: s.bytes - before };
}

function applyRem(state: ListState | undefined, op: Op): Applied<ListState> {
  const ids = op[1];
  if (state === undefined || !Array.isArray(ids)) return NO_CHANGE(state);
  const before = state.bytes;
  const removed: (string | number)[] = [];
  // Pops and trims name elements at the ends, in order: O(1) each.
  let i = 0;
  for (; i < ids.length; i++) {
    const parts = parseId(ids[i]);
    if (parts === null) continue;
    const last = state.length - 1;
    const at = state.hasIdAt(0, parts[0], parts[1]) ? 0 : state.hasIdAt(last, parts[0], parts[1]) ? last : -1;
    if (at < 0) break;
    removed.push(at, state.at(at)!, parts[0], parts[1]);
    state.removeAt(at);
  }
  let sorted: (string | number)[] | null = null;
  if (ids.length - i <= ONE_BY_ONE_MAX) {
    for (; i < ids.length; i++) {
      const parts = parseId(ids[i]);
      if (parts === null) continue;
      const at = state.indexOfId(parts[0], parts[1]);
      if (at < 0) continue;
      removed.push(at, state.at(at)!, parts[0], parts[1]);
      state.removeAt(at);
    }
  } else {
    const wanted = new Map<string, Set<number>>();
    for (; i < ids.length; i++) {
      const parts = parseId(ids[i]);
      if (parts === null) continue;
      const nums = wanted.get(parts[0]);
      if (nums === undefined) wanted.set(parts[0], new Set([parts[1]]));
      else nums.add(parts[1]);
    }
    const indexes = state.indexesOfIds(wanted);
    if (indexes.length > 0) sorted = state.removeSorted(indexes);
  }
  if (removed.length === 0 && sorted === null) return NO_CHANGE(state);
  return {
    state: state.length === 0 ? undefined : state,
    undo: new RemUndo(state, removed, sorted),
    delta: state.bytes - before,
  };
}

function applySet(state: ListState | undefined, op: Op): Applied<ListState> {
  const parts = parseId(op[1]);
  if (state === undefined || parts === null || typeof op[2] !== "string") return NO_CHANGE(state);
  const index = state.indexOfId(parts[0], parts[1]);
  if (index < 0) return NO_CHANGE(state);
  const before = state.bytes;
  const old = state.setAt(index, op[2]);
  return { state, undo: new SetUndo(index, old), delta: state.bytes - before };
}

function applyInsert(state: ListState | undefined, op: Op, ctx: ApplyCtx): Applied<ListState> {
  const parts = parseId(op[2]);
  const where = op[1];
  if (
    state === undefined || parts === null || typeof op[3] !== "string" || (where !== "B" && where !== "A")
  ) {
    return NO_CHANGE(state);
  }
  const pivot = state.indexOfId(parts[0], parts[1]);
  if (pivot < 0) return NO_CHANGE(state);
  const index = where === "B" ? pivot : pivot + 1;
  const before = state.bytes;
  state.insertAt(index, op[3], `${ctx.w.key}:${ctx.seq}:${ctx.opIndex}`, 0);
  return { state, undo: new InsertUndo(index), delta: state.bytes - before };
}

/** Redis's limits of one quicklist node for a `list-max-listpack-size` value (Infinity: none). */
function nodeLimits(fill: number): { bytes: number; entries: number } {
  if (fill >= 0) return { bytes: Infinity, entries: fill === 0 ? 1 : fill };
  return { bytes: 4096 * 2 ** (Math.min(-fill, 5) - 1), entries: Infinity };
}

/** A node limited by entries still never holds more than this many bytes (Redis's safety limit). */
const NODE_SAFETY_BYTES = 8192;

/** True when a listpack of `bytes` and `entries` is too big for one node: Redis makes it a quicklist. */
function exceedsNode(fill: number, bytes: number, entries: number): boolean {
  const l = nodeLimits(fill);
  if (l.bytes !== Infinity) return bytes > l.bytes;
  return bytes > NODE_SAFETY_BYTES || entries > l.entries;
}

/** True when a quicklist is one node under half the limits: a shrinking write makes it a listpack. */
function fitsHalfNode(fill: number, bytes: number, entries: number): boolean {
  const l = nodeLimits(fill);
  if (l.bytes !== Infinity) return bytes <= l.bytes / 2;
  return bytes <= NODE_SAFETY_BYTES && entries <= Math.floor(l.entries / 2);
}

/** The list reducer (TYPE "list"); see the module comment for its ops. */
export const listType: Reducer<ListState> & { encoding(state: ListState, limits: EncodingLimits): string } = {
  type: "list",
  opcodes: ["push", "rem", "lset", "linsert"],

  apply(state, op, ctx) {
    switch (op[0]) {
      case "push":
        return applyPush(state, op, ctx);
      case "rem":
        return applyRem(state, op);
      case "lset":
        return applySet(state, op);
      case "linsert":
        return applyInsert(state, op, ctx);
    }
    return NO_CHANGE(state);
  },

  undo(state, record) {
    const u = record as ListUndo;
    if (u === null) return state;
    if (u === "new") return undefined;
    if (typeof u === "number") {
      if (state === undefined) throw new Error("list: undo of a push without a state");
      if (u > 0) { for (let i = 0; i < u; i++) state.popFront(); }
      else for (let i = 0; i < -u; i++) state.popBack();
      return state;
    }
    if (u instanceof SetUndo) {
      if (state === undefined) throw new Error("list: undo of an LSET without a state");
      state.setAt(u.index, u.old);
      return state;
    }
    if (u instanceof InsertUndo) {
      if (state === undefined) throw new Error("list: undo of an LINSERT without a state");
      state.removeAt(u.index);
      return state;
    }
    const { list, removed, sorted } = u;
    if (sorted !== null) list.insertSorted(sorted);
    for (let k = removed.length - 4; k >= 0; k -= 4) {
      list.insertAt(
        removed[k] as number,
        removed[k + 1] as string,
        removed[k + 2] as string,
        removed[k + 3] as number,
      );
    }
    return list;
  },

  size(state) {
    return state.bytes;
  },

  /** `[values, runs]`: ids as runs `[base, first number, count, step]` (a push op's elements). */
  encode(state) {
    const runs: (string | number)[] = [];
    let rb = "", rf = 0, rc = 0, rs = 0;
    for (let i = 0; i < state.length; i++) {
      const [b, n] = state.idPartsAt(i);
      if (rc > 0 && b === rb) {
        if (rc === 1 && (n === rf + 1 || n === rf - 1)) {
          rs = n - rf;
          rc = 2;
          continue;
        }
        if (rc > 1 && n === rf + rs * rc) {
          rc++;
          continue;
        }
      }
      if (rc > 0) runs.push(rb, rf, rc, rs);
      rb = b;
      rf = n;
      rc = 1;
      rs = 0;
    }
    if (rc > 0) runs.push(rb, rf, rc, rs);
    return [state.values(), runs];
  },

  decode(data) {
    const [values, runs] = data as [string[], (string | number)[]];
    const s = new ListState(values.length);
    let i = 0;
    for (let r = 0; r < runs.length; r += 4) {
      const base = runs[r] as string, first = runs[r + 1] as number;
      const count = runs[r + 2] as number, step = runs[r + 3] as number;
      for (let k = 0; k < count; k++) {
        if (i >= values.length) throw new Error("list: encoded ids outnumber values");
        s.pushBack(values[i++], base, first + step * k);
      }
    }
    if (i !== values.length) throw new Error("list: encoded values outnumber ids");
    return s;
  },

  canonical(state) {
    // Length-prefixed values, head first: unambiguous whatever bytes the values hold.
    let out = "";
    for (let i = 0; i < state.length; i++) {
      const v = state.at(i)!;
      out += `${v.length}:${v},`;
    }
    return out;
  },

  /** OBJECT ENCODING: this node's hint, or "quicklist" whenever the list is too big for one node. */
  encoding(state, limits) {
    const big = exceedsNode(limits["list-max-listpack-size"], state.listpackBytes, state.length);
    return state.quicklist || big ? "quicklist" : "listpack";
  },

  event(op) {
    switch (op[0]) {
      case "push":
        return op[1] === "L" ? "lpush" : "rpush";
      case "lset":
        return "lset";
      case "linsert":
        return "linsert";
    }
    return typeof op[2] === "string" ? op[2] : "lpop";
  },
};

// ---------------------------------------------------------------- commands
// Handlers get the whole command line (args[0] is the command name); the dispatcher checked arity.

const E_INDEX_RANGE = err("ERR index out of range");
const E_RANK_ZERO = err(
  "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
);
const E_COUNT_NEGATIVE = err("ERR COUNT can't be negative");
const E_MAXLEN_NEGATIVE = err("ERR MAXLEN can't be negative");

type Side = "L" | "R";

/** The list at `key` for a write command (no hit/miss stats, as Redis's write lookups). */
function listForWrite(ctx: Ctx, key: string): ListState | undefined {
  const ks = getKey(ctx, key);
  if (ks === undefined) return undefined;
  if (ks.type !== listType) fail(E.wrongType);
  return ks.value as ListState;
}

/** The list at `key` after this command's writes (undefined once emptied). */
function listAfter(ctx: Ctx, key: string): ListState | undefined {
  const ks = getKey(ctx, key);
  return ks?.type === listType ? ks.value as ListState : undefined;
}

/** What a write may do to Redis's encoding of a list: grow it, shrink it, or both (LSET). */
interface Change {
  /** Listpack bytes and entries Redis checks against the limit before it grows the list. */
  readonly grow?: { readonly bytes: number; readonly entries: number };
  readonly shrink?: boolean;
}

/**
 * Moves the OBJECT ENCODING hint of the list at `key` after a write, by Redis's rules: a growing
 * write turns a listpack too big for one node into a quicklist; a shrinking write turns a
 * quicklist that fits in half a node back into a listpack.
 */
function noteEncoding(ctx: Ctx, key: string, change: Change): void {
  const s = listAfter(ctx, key);
  const limits = ctx.face.config?.encodings;
  if (s === undefined || limits === undefined) return;
  const fill = limits["list-max-listpack-size"];
  const g = change.grow;
  if (g !== undefined && !s.quicklist && exceedsNode(fill, g.bytes, g.entries)) s.quicklist = true;
  if (change.shrink === true && s.quicklist && fitsHalfNode(fill, s.listpackBytes, s.length)) {
    s.quicklist = false;
  }
}

/** The growth Redis checks after values were added to `s` (its state after the write). */
function grown(s: ListState | undefined): Change {
  return s === undefined ? {} : { grow: { bytes: s.listpackBytes, entries: s.length } };
}

/** Parses LEFT/RIGHT (any case), or answers a syntax error. */
function sideArg(s: string): Side {
  const u = upper(s);
  if (u === "LEFT") return "L";
  if (u === "RIGHT") return "R";
  return fail(E.syntax);
}

/**
 * Pops up to `count` elements of the list `s` at `key` from one side, writing one `rem`: the
 * values in pop order.
 */
function popFrom(ctx: Ctx, key: string, s: ListState, side: Side, count: number): string[] {
  const n = Math.min(count, s.length);
  const values: string[] = new Array(n);
  const ids: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const index = side === "L" ? i : s.length - 1 - i;
    values[i] = s.at(index)!;
    ids[i] = s.idAt(index)!;
  }
  write(ctx, key, side === "L" ? ["rem", ids] : ["rem", ids, "rpop"]);
  noteEncoding(ctx, key, { shrink: true });
  return values;
}

function push(side: Side, onlyIfExists: boolean): Handler {
  return (ctx, args) => {
    const key = args[1];
    const before = listForWrite(ctx, key);
    if (onlyIfExists && before === undefined) return 0;
    write(ctx, key, ["push", side, args.slice(2)]);
    const s = listAfter(ctx, key);
    noteEncoding(ctx, key, grown(s));
    return s?.length ?? 0;
  };
}

function pop(side: Side): Handler {
  const name = side === "L" ? "lpop" : "rpop";
  return (ctx, args): Reply => {
    if (args.length > 3) fail(E.arity(name));
    const hasCount = args.length === 3;
    let count = 1;
    if (hasCount) {
      const n = parseInt64(args[2]);
      if (n === null || n < 0) fail(E.positive);
      count = typeof n === "bigint" ? Number.MAX_SAFE_INTEGER : n;
    }
    const key = args[1];
    const s = listForWrite(ctx, key);
    if (s === undefined) return hasCount ? NULL_ARRAY : null;
    if (count === 0) return [];
    const values = popFrom(ctx, key, s, side, count);
    return hasCount ? values : values[0];
  };
}

function llen(ctx: Ctx, args: string[]): Reply {
  return getTyped(ctx, args[1], listType)?.length ?? 0;
}

function lrange(ctx: Ctx, args: string[]): Reply {
  const start = safeIntArg(args[2]);
  const stop = safeIntArg(args[3]);
  const s = getTyped(ctx, args[1], listType);
  return s === undefined ? [] : s.range(start, stop);
}

function lindex(ctx: Ctx, args: string[]): Reply {
  const s = getTyped(ctx, args[1], listType);
  if (s === undefined) return null;
  let index = safeIntArg(args[2]);
  if (index < 0) index += s.length;
  return s.at(index) ?? null;
}

/** LINSERT key BEFORE|AFTER pivot element: the new length, -1 without the pivot, 0 without the key. */
function linsert(ctx: Ctx, args: string[]): Reply {
  const where = upper(args[2]);
  if (where !== "BEFORE" && where !== "AFTER") fail(E.syntax);
  const key = args[1], pivot = args[3], value = args[4];
  const s = listForWrite(ctx, key);
  if (s === undefined) return 0;
  let at = -1;
  for (let i = 0; i < s.length && at < 0; i++) if (s.at(i) === pivot) at = i;
  // Redis converts for the value before it looks for the pivot.
  const growth = { bytes: s.listpackBytes + listpackEntryBytes(value), entries: s.length + 1 };
  if (at < 0) {
    noteEncoding(ctx, key, { grow: growth });
    return -1;
  }
  write(ctx, key, ["linsert", where === "BEFORE" ? "B" : "A", s.idAt(at)!, value]);
  noteEncoding(ctx, key, { grow: growth });
  return s.length;
}

/** LSET key index element. */
function lset(ctx: Ctx, args: string[]): Reply {
  const key = args[1], value = args[3];
  // Redis looks the key up before it parses the index.
  const s = listForWrite(ctx, key);
  if (s === undefined) fail(E.noSuchKey);
  let index = safeIntArg(args[2]);
  if (index < 0) index += s.length;
  if (index < 0 || index >= s.length) fail(E_INDEX_RANGE);
  // Redis checks the growth with the new value added, then the shrink once it replaced the old.
  const growth = { bytes: s.listpackBytes + listpackEntryBytes(value), entries: s.length + 1 };
  write(ctx, key, ["lset", s.idAt(index)!, value]);
  noteEncoding(ctx, key, { grow: growth, shrink: true });
  return OK;
}

/** LREM key count element: removes the first |count| matches from the head (count > 0), the tail, or all. */
function lrem(ctx: Ctx, args: string[]): Reply {
  const count = safeIntArg(args[2]);
  const key = args[1], value = args[3];
  const s = listForWrite(ctx, key);
  if (s === undefined) return 0;
  const limit = count === 0 ? Infinity : Math.abs(count);
  const ids: string[] = [];
  const len = s.length;
  for (let k = 0; k < len && ids.length < limit; k++) {
    const i = count < 0 ? len - 1 - k : k;
    if (s.at(i) === value) ids.push(s.idAt(i)!);
  }
  if (ids.length === 0) return 0;
  write(ctx, key, ["rem", ids, "lrem"]);
  noteEncoding(ctx, key, { shrink: true });
  return ids.length;
}

/** LTRIM key start stop: keeps the range (LRANGE's rules), removes the rest. */
function ltrim(ctx: Ctx, args: string[]): Reply {
  let start = safeIntArg(args[2]);
  let stop = safeIntArg(args[3]);
  const key = args[1];
  const s = listForWrite(ctx, key);
  if (s === undefined) return OK;
  const len = s.length;
  if (start < 0) start += len;
  if (stop < 0) stop += len;
  if (start < 0) start = 0;
  let fromHead: number, fromTail: number;
  if (start > stop || start >= len) {
    fromHead = len;
    fromTail = 0;
  } else {
    if (stop >= len) stop = len - 1;
    fromHead = start;
    fromTail = len - 1 - stop;
  }
  if (fromHead + fromTail === 0) return OK;
  const ids: string[] = [];
  for (let i = 0; i < fromHead; i++) ids.push(s.idAt(i)!);
  for (let i = 0; i < fromTail; i++) ids.push(s.idAt(len - 1 - i)!);
  write(ctx, key, ["rem", ids, "ltrim"]);
  noteEncoding(ctx, key, { shrink: true });
  return OK;
}

/** Parses an LPOS COUNT or MAXLEN value: a non-negative integer (huge ones mean "no limit"). */
function nonNegativeArg(s: string, e: ReturnType<typeof err>): number {
  const n = parseInt64(s);
  if (n === null || n < 0) fail(e);
  return typeof n === "bigint" ? Infinity : n;
}

/** LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]. */
function lpos(ctx: Ctx, args: string[]): Reply {
  let rank = 1, count = -1, maxlen = 0;
  for (let j = 3; j < args.length; j += 2) {
    const opt = upper(args[j]);
    if (j + 1 >= args.length) fail(E.syntax);
    if (opt === "RANK") {
      const n = parseInt64(args[j + 1]);
      if (n === null) fail(E.notInt);
      if (n === -(2n ** 63n)) fail(E.longRange);
      if (n === 0) fail(E_RANK_ZERO);
      rank = typeof n === "bigint" ? (n < 0n ? -Infinity : Infinity) : n;
    } else if (opt === "COUNT") {
      count = nonNegativeArg(args[j + 1], E_COUNT_NEGATIVE);
    } else if (opt === "MAXLEN") {
      maxlen = nonNegativeArg(args[j + 1], E_MAXLEN_NEGATIVE);
    } else {
      fail(E.syntax);
    }
  }
  const s = getTyped(ctx, args[1], listType);
  if (s === undefined) return count >= 0 ? [] : null;
  const value = args[2], len = s.length;
  const want = count === 0 ? Infinity : Math.max(count, 1);
  const scan = maxlen === 0 ? len : Math.min(maxlen, len);
  let skip = Math.abs(rank) - 1;
  const found: number[] = [];
  for (let k = 0; k < scan && found.length < want; k++) {
    const i = rank > 0 ? k : len - 1 - k;
    if (s.at(i) !== value) continue;
    if (skip > 0) skip--;
    else found.push(i);
  }
  if (count >= 0) return found;
  return found.length > 0 ? found[0] : null;
}

/**
 * LMOVE/RPOPLPUSH: moves one element from `src` (`from` side) to `dst` (`to` side), a `rem` on
 * the source and a `push` on the destination in one command (the same key rotates). Null when
 * the source is absent; WRONGTYPE for a destination of another type.
 */
function move(ctx: Ctx, src: string, dst: string, from: Side, to: Side): Reply {
  const s = listForWrite(ctx, src);
  if (s === undefined) return null;
  listForWrite(ctx, dst);
  const [value] = popFrom(ctx, src, s, from, 1);
  write(ctx, dst, ["push", to, [value]]);
  noteEncoding(ctx, dst, grown(listAfter(ctx, dst)));
  return value;
}

function lmove(ctx: Ctx, args: string[]): Reply {
  const from = sideArg(args[3]), to = sideArg(args[4]);
  return move(ctx, args[1], args[2], from, to);
}

function rpoplpush(ctx: Ctx, args: string[]): Reply {
  return move(ctx, args[1], args[2], "R", "L");
}

/** BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout. */
function blmove(ctx: Ctx, args: string[]): Reply | Block {
  const from = sideArg(args[3]), to = sideArg(args[4]);
  return blockingMove(ctx, args[1], args[2], from, to, args[5]);
}

/** BRPOPLPUSH source destination timeout. */
function brpoplpush(ctx: Ctx, args: string[]): Reply | Block {
  return blockingMove(ctx, args[1], args[2], "R", "L", args[3]);
}

function blockingMove(
  ctx: Ctx,
  src: string,
  dst: string,
  from: Side,
  to: Side,
  timeout: string,
): Reply | Block {
  const ms = timeoutArg(timeout);
  const s = listForWrite(ctx, src);
  // Inside MULTI an empty source answers as LMOVE does (a null bulk); a timeout is a null array.
  if (s === undefined) return new Block([src], ms, NULL_ARRAY, undefined, null);
  return move(ctx, src, dst, from, to);
}

/** The first of `keys` holding a non-empty list (WRONGTYPE at a key of another type before it). */
function firstList(ctx: Ctx, keys: readonly string[]): [string, ListState] | null {
  for (const key of keys) {
    const s = listForWrite(ctx, key);
    if (s !== undefined && s.length > 0) return [key, s];
  }
  return null;
}

/** BLPOP/BRPOP key [key ...] timeout: `[key, value]` from the first non-empty list. */
function bpop(side: Side): Handler {
  return (ctx, args) => {
    const ms = timeoutArg(args[args.length - 1]);
    const keys = args.slice(1, -1);
    const hit = firstList(ctx, keys);
    if (hit === null) return new Block(keys, ms, NULL_ARRAY);
    return [hit[0], popFrom(ctx, hit[0], hit[1], side, 1)[0]];
  };
}

/** The parsed tail of LMPOP/BLMPOP: keys, side, count. */
interface MpopArgs {
  readonly keys: string[];
  readonly side: Side;
  readonly count: number;
}

/** Parses `numkeys key [key ...] LEFT|RIGHT [COUNT count]` starting at `args[at]`. */
function mpopArgs(args: readonly string[], at: number): MpopArgs {
  const n = parseInt64(args[at]);
  if (n === null || n <= 0) fail(E.numkeys);
  const whereAt = at + 1 + Number(n);
  if (whereAt >= args.length) fail(E.syntax);
  const side = sideArg(args[whereAt]);
  let count = -1;
  for (let j = whereAt + 1; j < args.length; j++) {
    if (count === -1 && upper(args[j]) === "COUNT" && j + 1 < args.length) {
      const c = parseInt64(args[++j]);
      if (c === null || c <= 0) fail(E.countPositive);
      count = typeof c === "bigint" ? Number.MAX_SAFE_INTEGER : c;
    } else {
      fail(E.syntax);
    }
  }
  return { keys: args.slice(at + 1, whereAt), side, count: count === -1 ? 1 : count };
}

/** Pops for LMPOP/BLMPOP: `[key, values]`, or null when every list is empty. */
function mpop(ctx: Ctx, p: MpopArgs): Reply {
  const hit = firstList(ctx, p.keys);
  if (hit === null) return null;
  return [hit[0], popFrom(ctx, hit[0], hit[1], p.side, p.count)];
}

/** LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]. */
function lmpop(ctx: Ctx, args: string[]): Reply {
  return mpop(ctx, mpopArgs(args, 1)) ?? NULL_ARRAY;
}

/** BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]. */
function blmpop(ctx: Ctx, args: string[]): Reply | Block {
  const p = mpopArgs(args, 2);
  const ms = timeoutArg(args[1]);
  return mpop(ctx, p) ?? new Block(p.keys, ms, NULL_ARRAY);
}

/** List command handlers, keyed by lower-case command name. */
export const listCommands: Record<string, Handler> = {
  lpush: push("L", false),
  rpush: push("R", false),
  lpushx: push("L", true),
  rpushx: push("R", true),
  lpop: pop("L"),
  rpop: pop("R"),
  llen,
  lrange,
  lindex,
  linsert,
  lset,
  lrem,
  ltrim,
  lpos,
  lmove,
  rpoplpush,
  lmpop,
  blpop: bpop("L"),
  brpop: bpop("R"),
  blmove,
  brpoplpush,
  blmpop,
};

/**
 * Why a command of this family is exclusive given its arguments, or null (see redis/exclusive.ts).
 * The pops and moves are always exclusive there; LSET, LINSERT, LREM and LTRIM name elements by
 * id and merge coordination-free (docs/compat/list.md), so no list command is conditional.
 */
export const listExclusive: Record<string, (args: readonly string[]) => string | null> = {};
