/**
 * The set type: a reducer over an unordered set of binary strings, and the set commands SADD,
 * SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SRANDMEMBER, SPOP, SMOVE, SINTER, SINTERCARD,
 * SINTERSTORE, SUNION, SUNIONSTORE, SDIFF, SDIFFSTORE and SSCAN.
 *
 * Members are binary strings, one JS char per byte. The state keeps them in an array indexed by a
 * map (member -> position), so membership, insertion, removal (swap with the last) and picking a
 * random member are all O(1).
 *
 * Ops:
 * - `["sadd", m1, m2, ...]`: adds the members; those already present are ignored.
 * - `["srem", m1, m2, ...]`: removes the members; those absent are ignored. Removing the last
 *   member deletes the key (Redis removes empty sets).
 * Any other op, or a member that is not a string, is a no-op (apply is total).
 *
 * Concurrent writes: ops are applied in the fold order (core/fold.ts), so an SADD and an SREM of
 * the same member from different nodes merge as "whichever sorts last wins" on every node alike;
 * this is not an add-wins or remove-wins set. The commands write only what they observed to
 * change: SADD only the members new to this node's view, SREM only those present in it, so an
 * op's effect is exactly what its reply reported. (An SREM never removes a member its node did
 * not see, and an SADD that answered "not new" never resurrects a member a concurrent SREM took.)
 * The STORE commands overwrite their destination: `["del"]` then `["sadd", ...]`, so concurrent
 * writes to the destination that sort before them are replaced, as a later SET would.
 *
 * Undo restores the exact previous state, array positions included: an add undoes by popping the
 * members it appended (they are the last ones, in reverse), a removal by putting each member back
 * at its recorded position (moving the member that took its place back to the end).
 *
 * OBJECT ENCODING: Redis converts a set from intset to listpack to hashtable as it grows and never
 * back. The state keeps the high-water marks of its history (most members, longest member, whether
 * it ever held a non-integer), raised by adds and restored by undo, so the reported encoding is a
 * deterministic function of the fold and never shrinks. A decoded copy (checkpoint, DUMP/RESTORE,
 * COPY) starts its history from its contents, as Redis's RDB load does. The marks are not part of
 * `canonical`: they only name an encoding.
 *
 * SSCAN walks positions downwards (see `sscan`), so a member present for the whole scan is
 * returned: a removal only moves the last member down into the hole.
 *
 * Memory accounting: each member costs its length plus `SET_MEMBER_OVERHEAD`.
 */
import type { EncodingLimits } from "../encodings.ts";
import type { Op } from "../../core/effect.ts";
import type { Applied, Reducer } from "../../core/reducer.ts";
import {
  cardLimit,
  type Ctx,
  fail,
  getKey,
  getTyped,
  type Handler,
  parseInt64,
  randomIndex,
  sampleIndexes,
  scanCursor,
  upper,
  write,
} from "../command.ts";
import { globMatch } from "../command_table.ts";
import { E, err, type Reply, SetReply } from "../reply.ts";

/**
 * Accounted bytes per member besides its bytes: the map entry (key, value and chain slots plus
 * its share of the index table), the array slot and the string's header.
 */
export const SET_MEMBER_OVERHEAD = 48;

/** High-water marks of a set's history: most members, longest member, ever held a non-integer. */
export interface SetPeaks {
  readonly size: number;
  readonly len: number;
  readonly nonInt: boolean;
}

/** A set of binary strings with O(1) membership, update, random access and accounted bytes. */
export class SetState {
  /** Member -> its position in `#arr`. */
  readonly #pos = new Map<string, number>();
  readonly #arr: string[] = [];
  #bytes = 0;
  #peakSize = 0;
  #peakLen = 0;
  #nonInt = false;

  /** The high-water marks (see the module comment), as a new object. */
  get peaks(): SetPeaks {
    return { size: this.#peakSize, len: this.#peakLen, nonInt: this.#nonInt };
  }

  /** Puts back marks saved before an add (undo). */
  resetPeaks(p: SetPeaks): void {
    this.#peakSize = p.size;
    this.#peakLen = p.len;
    this.#nonInt = p.nonInt;
  }

  /** Number of members. */
  get size(): number {
    return this.#arr.length;
  }

  /** Accounted bytes: member lengths plus `SET_MEMBER_OVERHEAD` per member. */
  get bytes(): number {
    return this.#bytes;
  }

  has(member: string): boolean {
    return this.#pos.has(member);
  }

  /** The member at position `i` (0 <= i < size); positions are arbitrary but stable until a write. */
  at(i: number): string | undefined {
    return this.#arr[i];
  }

  /** Every member, in position order (a copy). */
  members(): string[] {
    return this.#arr.slice();
  }

  /** Adds `member` at the end; false when it was present. */
  add(member: string): boolean {
    if (this.#pos.has(member)) return false;
    this.#pos.set(member, this.#arr.length);
    this.#arr.push(member);
    this.#bytes += member.length + SET_MEMBER_OVERHEAD;
    if (this.#arr.length > this.#peakSize) this.#peakSize = this.#arr.length;
    if (member.length > this.#peakLen) this.#peakLen = member.length;
    if (!this.#nonInt && parseInt64(member) === null) this.#nonInt = true;
    return true;
  }

  /** Takes back the last `add`, which must have added `member`. */
  unadd(member: string): void {
    const last = this.#arr.length - 1;
    if (last < 0 || this.#arr[last] !== member) throw new Error("set: undo of an add that is not the last");
    this.#arr.pop();
    this.#pos.delete(member);
    this.#bytes -= member.length + SET_MEMBER_OVERHEAD;
  }

  /** Removes `member` (the last member takes its place); its former position, or -1 when absent. */
  delete(member: string): number {
    const i = this.#pos.get(member);
    if (i === undefined) return -1;
    this.#pos.delete(member);
    const last = this.#arr.pop()!;
    if (i < this.#arr.length) {
      this.#arr[i] = last;
      this.#pos.set(last, i);
    }
    this.#bytes -= member.length + SET_MEMBER_OVERHEAD;
    return i;
  }

  /** Takes back the last `delete` of `member`, which returned `i`. */
  restore(member: string, i: number): void {
    if (i > this.#arr.length || this.#pos.has(member)) throw new Error("set: bad undo of a removal");
    if (i < this.#arr.length) {
      const moved = this.#arr[i];
      this.#pos.set(moved, this.#arr.length);
      this.#arr.push(moved);
      this.#arr[i] = member;
    } else {
      this.#arr.push(member);
    }
    this.#pos.set(member, i);
    this.#bytes += member.length + SET_MEMBER_OVERHEAD;
  }
}

// ---------------------------------------------------------------- the reducer

/** The encoding Redis would have reached with a history of these marks, under `limits`. */
export function setEncoding(p: SetPeaks, limits: EncodingLimits): string {
  if (!p.nonInt && p.size <= limits["set-max-intset-entries"]) return "intset";
  if (p.size <= limits["set-max-listpack-entries"] && p.len <= limits["set-max-listpack-value"]) {
    return "listpack";
  }
  return "hashtable";
}

/** Undo of an `sadd`: the members it appended, in order, and the marks before; `created` when it made the key. */
class AddUndo {
  constructor(
    readonly s: SetState,
    readonly created: boolean,
    readonly added: string[],
    readonly peaks: SetPeaks,
  ) {}
}

/** Undo of an `srem`: the set (kept: the key may be gone) and `member, position` pairs, in order. */
class RemUndo {
  constructor(readonly s: SetState, readonly removed: (string | number)[]) {}
}

const NO_PEAKS: SetPeaks = { size: 0, len: 0, nonInt: false };

const NO_CHANGE = (state: SetState | undefined): Applied<SetState> => ({ state, undo: null, delta: 0 });

function applyAdd(state: SetState | undefined, op: Op): Applied<SetState> {
  const before = state?.bytes ?? 0;
  const peaks = state?.peaks;
  let s = state;
  let added: string[] | null = null;
  for (let i = 1; i < op.length; i++) {
    const m = op[i];
    if (typeof m !== "string") continue;
    s ??= new SetState();
    if (s.add(m)) (added ??= []).push(m);
  }
  if (added === null) return NO_CHANGE(state);
  return {
    state: s,
    undo: new AddUndo(s!, state === undefined, added, peaks ?? NO_PEAKS),
    delta: s!.bytes - before,
  };
}

function applyRem(state: SetState | undefined, op: Op): Applied<SetState> {
  if (state === undefined) return NO_CHANGE(state);
  const before = state.bytes;
  let removed: (string | number)[] | null = null;
  for (let i = 1; i < op.length; i++) {
    const m = op[i];
    if (typeof m !== "string") continue;
    const at = state.delete(m);
    if (at >= 0) (removed ??= []).push(m, at);
  }
  if (removed === null) return NO_CHANGE(state);
  return {
    state: state.size === 0 ? undefined : state,
    undo: new RemUndo(state, removed),
    delta: state.bytes - before,
  };
}

/** The set reducer (TYPE "set"); see the module comment for its ops. */
export const setType: Reducer<SetState> & { encoding(state: SetState, limits: EncodingLimits): string } = {
  type: "set",
  opcodes: ["sadd", "srem"],

  apply(state, op) {
    if (op[0] === "sadd") return applyAdd(state, op);
    if (op[0] === "srem") return applyRem(state, op);
    return NO_CHANGE(state);
  },

  undo(state, record) {
    if (record instanceof AddUndo) {
      // A set the op created goes away whole; its object is not reused.
      if (record.created) return undefined;
      const a = record.added;
      for (let i = a.length - 1; i >= 0; i--) record.s.unadd(a[i]);
      record.s.resetPeaks(record.peaks);
      return record.s;
    }
    if (record instanceof RemUndo) {
      const r = record.removed;
      for (let k = r.length - 2; k >= 0; k -= 2) record.s.restore(r[k] as string, r[k + 1] as number);
      return record.s;
    }
    return state;
  },

  size(state) {
    return state.bytes;
  },

  /** The members, in position order. */
  encode(state) {
    return state.members();
  },

  decode(data) {
    const s = new SetState();
    for (const m of data as string[]) s.add(m);
    return s;
  },

  canonical(state) {
    // Length-prefixed members in sorted order: the same whatever order they were added in.
    const sorted = state.members().sort();
    let out = "";
    for (const m of sorted) out += `${m.length}:${m},`;
    return out;
  },

  /**
   * OBJECT ENCODING from the history's high-water marks (module comment): "intset" while every
   * member ever held was an integer and there were never more than set-max-intset-entries,
   * "listpack" while never more than set-max-listpack-entries members nor one longer than
   * set-max-listpack-value bytes, else "hashtable".
   */
  encoding(state, limits) {
    return setEncoding(state.peaks, limits);
  },

  event(op) {
    return typeof op[0] === "string" ? op[0] : String(op[0]);
  },
};

// ---------------------------------------------------------------- commands
// Handlers get the whole command line (args[0] is the command name); the dispatcher checked arity.

const E_NUMKEYS_ARGS = err("ERR Number of keys can't be greater than number of args");

/**
 * Most members SRANDMEMBER with a negative count answers. Redis streams such a reply without
 * bound; here the reply is built in memory first, so a count beyond this is refused.
 */
export const SRANDMEMBER_MAX_REPEATS = 1 << 24;
const E_REPEATS = err(
  `ERR value is out of range, must be between -${SRANDMEMBER_MAX_REPEATS} and 9223372036854775807`,
);

/** The set at `key` for a write command (no hit/miss stats, as Redis's write lookups). */
function setForWrite(ctx: Ctx, key: string): SetState | undefined {
  const ks = getKey(ctx, key);
  if (ks === undefined) return undefined;
  if (ks.type !== setType) fail(E.wrongType);
  return ks.value as SetState;
}

/** `count` distinct random members of `s` (0 < count < s.size), in random order. */
function sample(ctx: Ctx, s: SetState, count: number): string[] {
  return sampleIndexes(ctx, s.size, count).map((i) => s.at(i)!);
}

function sadd(ctx: Ctx, args: string[]): Reply {
  const key = args[1];
  const s = setForWrite(ctx, key);
  // Only the members new to this view (see the module comment); a member given twice counts once.
  const fresh = new Set<string>();
  for (let j = 2; j < args.length; j++) if (s === undefined || !s.has(args[j])) fresh.add(args[j]);
  if (fresh.size === 0) return 0;
  write(ctx, key, ["sadd", ...fresh]);
  return fresh.size;
}

function srem(ctx: Ctx, args: string[]): Reply {
  const key = args[1];
  const s = setForWrite(ctx, key);
  if (s === undefined) return 0;
  const present = new Set<string>();
  for (let j = 2; j < args.length; j++) if (s.has(args[j])) present.add(args[j]);
  if (present.size === 0) return 0;
  write(ctx, key, ["srem", ...present]);
  return present.size;
}

function smembers(ctx: Ctx, args: string[]): Reply {
  // A set in RESP3, an array in RESP2.
  return new SetReply(getTyped(ctx, args[1], setType)?.members() ?? []);
}

function sismember(ctx: Ctx, args: string[]): Reply {
  return getTyped(ctx, args[1], setType)?.has(args[2]) ? 1 : 0;
}

function smismember(ctx: Ctx, args: string[]): Reply {
  const s = getTyped(ctx, args[1], setType);
  const out: Reply[] = new Array(args.length - 2);
  for (let j = 2; j < args.length; j++) out[j - 2] = s?.has(args[j]) ? 1 : 0;
  return out;
}

function scard(ctx: Ctx, args: string[]): Reply {
  return getTyped(ctx, args[1], setType)?.size ?? 0;
}

function srandmember(ctx: Ctx, args: string[]): Reply {
  if (args.length > 3) fail(E.syntax);
  if (args.length === 2) {
    const s = getTyped(ctx, args[1], setType);
    return s === undefined ? null : s.at(randomIndex(ctx, s.size))!;
  }
  const n = parseInt64(args[2]);
  if (n === null) fail(E.notInt);
  if (n === -(2n ** 63n)) fail(E.longRange);
  // A negative count: that many members, each drawn from the whole set (repeats allowed).
  const repeats = n < 0;
  if (repeats && n < -SRANDMEMBER_MAX_REPEATS) fail(E_REPEATS);
  const count = typeof n === "bigint" ? Number.MAX_SAFE_INTEGER : Math.abs(n);
  const s = getTyped(ctx, args[1], setType);
  // An array in both protocols, as Redis answers SRANDMEMBER with a count.
  if (s === undefined || count === 0) return [];
  if (repeats || count === 1) {
    const out: string[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = s.at(randomIndex(ctx, s.size))!;
    return out;
  }
  if (count >= s.size) return s.members();
  return sample(ctx, s, count);
}

function spop(ctx: Ctx, args: string[]): Reply {
  if (args.length > 3) fail(E.syntax);
  const key = args[1];
  if (args.length === 2) {
    const s = setForWrite(ctx, key);
    if (s === undefined) return null;
    const m = s.at(randomIndex(ctx, s.size))!;
    write(ctx, key, ["srem", m]);
    return m;
  }
  const n = parseInt64(args[2]);
  if (n === null || n < 0) fail(E.positive);
  const count = typeof n === "bigint" ? Number.MAX_SAFE_INTEGER : n;
  const s = setForWrite(ctx, key);
  // A set in RESP3, an array in RESP2.
  if (s === undefined || count === 0) return new SetReply([]);
  const popped = count >= s.size ? s.members() : sample(ctx, s, count);
  write(ctx, key, ["srem", ...popped]);
  return new SetReply(popped);
}

function smove(ctx: Ctx, args: string[]): Reply {
  const src = args[1], dst = args[2], member = args[3];
  const from = getKey(ctx, src);
  // A missing source answers 0 before the destination's type is checked, as in Redis.
  if (from === undefined) return 0;
  if (from.type !== setType) fail(E.wrongType);
  const to = setForWrite(ctx, dst);
  const s = from.value as SetState;
  if (src === dst) return s.has(member) ? 1 : 0;
  if (!s.has(member)) return 0;
  const already = to?.has(member) ?? false;
  write(ctx, src, ["srem", member]);
  if (!already) write(ctx, dst, ["sadd", member]);
  return 1;
}

/** The sets at `keys` (undefined for a missing key), every key's type checked. */
function readSets(ctx: Ctx, keys: readonly string[]): (SetState | undefined)[] {
  const out: (SetState | undefined)[] = new Array(keys.length);
  for (let i = 0; i < keys.length; i++) out[i] = getTyped(ctx, keys[i], setType);
  return out;
}

/** Members of every set (empty when one is missing); stops after `limit` members when > 0. */
function inter(sets: readonly (SetState | undefined)[], limit = 0): string[] {
  if (sets.some((s) => s === undefined)) return [];
  const sorted = (sets as SetState[]).slice().sort((a, b) => a.size - b.size);
  const first = sorted[0];
  const out: string[] = [];
  for (let i = 0; i < first.size; i++) {
    const m = first.at(i)!;
    let all = true;
    for (let j = 1; j < sorted.length && all; j++) if (sorted[j] !== first) all = sorted[j].has(m);
    if (!all) continue;
    out.push(m);
    if (limit > 0 && out.length >= limit) break;
  }
  return out;
}

/** Members of any set, each once. */
function union(sets: readonly (SetState | undefined)[]): string[] {
  const seen = new Set<string>();
  for (const s of sets) {
    if (s === undefined) continue;
    for (let i = 0; i < s.size; i++) seen.add(s.at(i)!);
  }
  return [...seen];
}

/** Members of the first set in none of the others. */
function diff(sets: readonly (SetState | undefined)[]): string[] {
  const first = sets[0];
  if (first === undefined) return [];
  const out: string[] = [];
  for (let i = 0; i < first.size; i++) {
    const m = first.at(i)!;
    let keep = true;
    for (let j = 1; j < sets.length && keep; j++) keep = !sets[j]?.has(m);
    if (keep) out.push(m);
  }
  return out;
}

type SetOp = (sets: readonly (SetState | undefined)[]) => string[];

/** SINTER, SUNION, SDIFF: a set in RESP3, an array in RESP2. */
function algebra(f: SetOp): Handler {
  return (ctx, args) => new SetReply(f(readSets(ctx, args.slice(1))));
}

/**
 * SINTERSTORE, SUNIONSTORE, SDIFFSTORE: the destination (whatever its type) becomes the result,
 * without a TTL; an empty result deletes it. Answers the result's size.
 */
function store(f: SetOp): Handler {
  return (ctx, args) => {
    const dst = args[1];
    const members = f(readSets(ctx, args.slice(2)));
    if (members.length === 0) {
      if (getKey(ctx, dst) !== undefined) write(ctx, dst, ["del"]);
      return 0;
    }
    write(ctx, dst, ["del"]);
    write(ctx, dst, ["sadd", ...members]);
    return members.length;
  };
}

function sintercard(ctx: Ctx, args: string[]): Reply {
  const nk = parseInt64(args[1]);
  if (nk === null || nk < 1) fail(E.numkeys);
  if (nk > args.length - 2) fail(E_NUMKEYS_ARGS);
  const numkeys = Number(nk);
  const limit = cardLimit(args, 2 + numkeys);
  return inter(readSets(ctx, args.slice(2, 2 + numkeys)), limit).length;
}

const E_NOVALUES = err("ERR NOVALUES option can only be used in HSCAN");
/** SSCAN's default COUNT: positions visited per call. */
const SSCAN_DEFAULT_COUNT = 10;

/**
 * SSCAN key cursor [MATCH pattern] [COUNT count]. A set Redis would keep as an intset or listpack
 * is returned whole with cursor 0, as Redis does. A larger one is walked from its last position
 * down: cursor c means "positions below c are left", and 0 starts at the top. A removal moves only
 * the last member, down into the hole, and adds go to the top, so a member present for the whole
 * scan is never skipped (it may come twice). As in Redis, the key is looked up before the options
 * are parsed: a missing key answers an empty scan whatever they are.
 */
function sscan(ctx: Ctx, args: string[]): Reply {
  const cursor = scanCursor(args[2]);
  const s = getTyped(ctx, args[1], setType);
  if (s === undefined) return ["0", []];
  let count = SSCAN_DEFAULT_COUNT;
  let pattern: string | null = null;
  for (let i = 3; i < args.length; i++) {
    const opt = upper(args[i]);
    if (opt === "COUNT" && i + 1 < args.length) {
      const n = parseInt64(args[++i]);
      if (n === null) fail(E.notInt);
      if (n < 1) fail(E.syntax);
      count = typeof n === "bigint" ? Number.MAX_SAFE_INTEGER : n;
    } else if (opt === "MATCH" && i + 1 < args.length) {
      pattern = args[++i] === "*" ? null : args[i];
    } else if (opt === "NOVALUES") {
      fail(E_NOVALUES);
    } else {
      fail(E.syntax);
    }
  }
  const out: string[] = [];
  const keep = (m: string) => {
    if (pattern === null || globMatch(pattern, m, false)) out.push(m);
  };
  if (setEncoding(s.peaks, ctx.face.config.encodings) !== "hashtable") {
    for (let i = 0; i < s.size; i++) keep(s.at(i)!);
    return ["0", out];
  }
  const top = cursor === 0 ? s.size : Math.min(cursor, s.size);
  const bottom = Math.max(0, top - count);
  for (let i = top - 1; i >= bottom; i--) keep(s.at(i)!);
  return [String(bottom), out];
}

/** Set command handlers, keyed by lower-case command name. */
export const setCommands: Record<string, Handler> = {
  sadd,
  srem,
  smembers,
  sismember,
  smismember,
  scard,
  srandmember,
  spop,
  smove,
  sinter: algebra(inter),
  sunion: algebra(union),
  sdiff: algebra(diff),
  sinterstore: store(inter),
  sunionstore: store(union),
  sdiffstore: store(diff),
  sintercard,
  sscan,
};

/** Why a command of this family is exclusive given its arguments, or null (see redis/exclusive.ts). */
export const setExclusive: Record<string, (args: readonly string[]) => string | null> = {};
