/**
 * The list type: a reducer over a ring-buffer deque, and the first list commands.
 *
 * Every element carries a stable id derived from the effect that pushed it, the same on every
 * node: `${writer}:${seq}:${opIndex}:${i}` where `i` is the element's index in the push op's
 * values. A pop is normalized to "remove the elements with these ids" (DESIGN.md section 2), so a
 * pop replayed after a concurrent push that sorted before it still removes the elements the
 * popping node saw, wherever they now are.
 *
 * Ops:
 * - `["push", "L" | "R", values]`: pushes the values one by one at the head ("L": the last value
 *   ends first, like LPUSH a b c) or the tail ("R").
 * - `["rem", ids, event?]`: removes the elements with these ids; ids not present (already removed)
 *   are ignored. Removing the last element deletes the key. The optional `event` names the
 *   originating command for keyspace notifications ("rpop", "lrem"...); without it the event is
 *   "lpop".
 * Any other op of this reducer is a no-op (apply is total).
 *
 * Memory accounting: each element costs its value's length plus `LIST_ELEMENT_OVERHEAD`.
 */
import type { Op } from "../../core/effect.ts";
import type { Applied, ApplyCtx, Reducer } from "../../core/reducer.ts";
import { type Ctx, fail, getKey, getTyped, type Handler, parseInt64, safeIntArg, write } from "../command.ts";
import { E, err, NULL_ARRAY, type Reply } from "../reply.ts";

/**
 * Accounted bytes per element besides its value: three 8-byte ring slots (value, id base, id
 * number) plus about as much again for ring slack and the value string's header.
 */
export const LIST_ELEMENT_OVERHEAD = 32;

/** Smallest ring capacity (a power of two). */
const MIN_CAPACITY = 8;

/**
 * A deque of values with a parallel deque of element ids, in one ring buffer: O(1) push and pop
 * at both ends, O(1) index access, O(n) removal or insertion in the middle (only a reordered
 * fold or a middle LREM needs it). An id is split into a base shared by one push op's elements
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

  constructor(capacity = MIN_CAPACITY) {
    let cap = MIN_CAPACITY;
    while (cap < capacity) cap *= 2;
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

  /** Index of the element whose id is (`base`, `num`), searching from both ends; -1 if absent. */
  indexOfId(base: string, num: number): number {
    const len = this.#len;
    for (let lo = 0, hi = len - 1; lo <= hi; lo++, hi--) {
      let p = (this.#head + lo) & this.#mask;
      if (this.#nums[p] === num && this.#bases[p] === base) return lo;
      p = (this.#head + hi) & this.#mask;
      if (this.#nums[p] === num && this.#bases[p] === base) return hi;
    }
    return -1;
  }

  /** Pushes one element at the head. */
  pushFront(value: string, base: string, num: number): void {
    if (this.#len === this.#mask + 1) this.#resize((this.#mask + 1) * 2);
    this.#head = (this.#head - 1) & this.#mask;
    this.#set(this.#head, value, base, num);
    this.#len++;
    this.#bytes += value.length + LIST_ELEMENT_OVERHEAD;
  }

  /** Pushes one element at the tail. */
  pushBack(value: string, base: string, num: number): void {
    if (this.#len === this.#mask + 1) this.#resize((this.#mask + 1) * 2);
    this.#set((this.#head + this.#len) & this.#mask, value, base, num);
    this.#len++;
    this.#bytes += value.length + LIST_ELEMENT_OVERHEAD;
  }

  /** Removes the head element (the list must not be empty). */
  popFront(): void {
    if (this.#len === 0) throw new Error("list: pop from an empty deque");
    const p = this.#head;
    this.#bytes -= this.#vals[p].length + LIST_ELEMENT_OVERHEAD;
    this.#clear(p);
    this.#head = (p + 1) & this.#mask;
    this.#len--;
    this.#maybeShrink();
  }

  /** Removes the tail element (the list must not be empty). */
  popBack(): void {
    if (this.#len === 0) throw new Error("list: pop from an empty deque");
    const p = (this.#head + this.#len - 1) & this.#mask;
    this.#bytes -= this.#vals[p].length + LIST_ELEMENT_OVERHEAD;
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
    this.#bytes -= this.#vals[(h + index) & m].length + LIST_ELEMENT_OVERHEAD;
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
    this.#bytes += value.length + LIST_ELEMENT_OVERHEAD;
  }

  /** The id of the element at `index` as its (base, number) parts (for the undo records). */
  idPartsAt(index: number): [string, number] {
    const p = (this.#head + index) & this.#mask;
    return [this.#bases[p], this.#nums[p]];
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
 * number n (n > 0: n elements pushed at the head, n < 0: -n at the tail), or a `RemUndo`.
 */
type ListUndo = null | "new" | number | RemUndo;

/** The list the removal ran on (kept: the key may be gone) and `[index, value, base, num]*`. */
interface RemUndo {
  readonly list: ListState;
  readonly removed: (string | number)[];
}

const NO_CHANGE = (state: ListState | undefined): Applied<ListState> => ({ state, undo: null, delta: 0 });

function applyPush(state: ListState | undefined, op: Op, ctx: ApplyCtx): Applied<ListState> {
  const values = op[2] as readonly string[];
  const n = values.length;
  if (n === 0) return NO_CHANGE(state);
  const s = state ?? new ListState(n);
  const before = s.bytes;
  const base = `${ctx.w.key}:${ctx.seq}:${ctx.opIndex}`;
  if (op[1] === "L") {
    for (let i = 0; i < n; i++) s.pushFront(values[i], base, i);
  } else {
    for (let i = 0; i < n; i++) s.pushBack(values[i], base, i);
  }
  const undo: ListUndo = state === undefined ? "new" : op[1] === "L" ? n : -n;
  return { state: s, undo, delta: s.bytes - before };
}

function applyRem(state: ListState | undefined, op: Op): Applied<ListState> {
  if (state === undefined) return NO_CHANGE(state);
  const ids = op[1] as readonly unknown[];
  const before = state.bytes;
  const removed: (string | number)[] = [];
  for (const id of ids) {
    const parts = parseId(id);
    if (parts === null) continue;
    const index = state.indexOfId(parts[0], parts[1]);
    if (index < 0) continue;
    const [base, num] = state.idPartsAt(index);
    removed.push(index, state.at(index)!, base, num);
    state.removeAt(index);
  }
  if (removed.length === 0) return NO_CHANGE(state);
  const undo: RemUndo = { list: state, removed };
  return { state: state.length === 0 ? undefined : state, undo, delta: state.bytes - before };
}

/** The list reducer (TYPE "list"); see the module comment for its ops. */
export const listType: Reducer<ListState> = {
  type: "list",
  opcodes: ["push", "rem"],

  apply(state, op, ctx) {
    if (op[0] === "push") return applyPush(state, op, ctx);
    if (op[0] === "rem") return applyRem(state, op);
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
    const { list, removed } = u;
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

  event(op) {
    if (op[0] === "push") return op[1] === "L" ? "lpush" : "rpush";
    return typeof op[2] === "string" ? op[2] : "lpop";
  },
};

// ---------------------------------------------------------------- commands
// Handlers get the whole command line (args[0] is the command name); the dispatcher checked arity.

const OUT_OF_RANGE_POSITIVE = err("ERR value is out of range, must be positive");

/** The list at `key` for a write command (no hit/miss stats, as Redis's write lookups). */
function listForWrite(ctx: Ctx, key: string): ListState | undefined {
  const ks = getKey(ctx, key);
  if (ks === undefined) return undefined;
  if (ks.type !== listType) fail(E.wrongType);
  return ks.value as ListState;
}

function push(side: "L" | "R", onlyIfExists: boolean): Handler {
  return (ctx, args) => {
    const key = args[1];
    const before = listForWrite(ctx, key);
    if (onlyIfExists && before === undefined) return 0;
    write(ctx, key, ["push", side, args.slice(2)]);
    return (getKey(ctx, key)?.value as ListState | undefined)?.length ?? 0;
  };
}

function pop(side: "L" | "R"): Handler {
  const name = side === "L" ? "lpop" : "rpop";
  return (ctx, args): Reply => {
    if (args.length > 3) fail(E.arity(name));
    const hasCount = args.length === 3;
    let count = 1;
    if (hasCount) {
      const n = parseInt64(args[2]);
      if (n === null || n < 0) fail(OUT_OF_RANGE_POSITIVE);
      count = typeof n === "bigint" ? Number.MAX_SAFE_INTEGER : n;
    }
    const key = args[1];
    const s = listForWrite(ctx, key);
    if (s === undefined) return hasCount ? NULL_ARRAY : null;
    if (count === 0) return [];
    const n = Math.min(count, s.length);
    const values: string[] = new Array(n);
    const ids: string[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const index = side === "L" ? i : s.length - 1 - i;
      values[i] = s.at(index)!;
      ids[i] = s.idAt(index)!;
    }
    write(ctx, key, side === "L" ? ["rem", ids] : ["rem", ids, "rpop"]);
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
};

/** Why a command of this family is exclusive given its arguments, or null (see redis/exclusive.ts). */
export const listExclusive: Record<string, (args: readonly string[]) => string | null> = {};
