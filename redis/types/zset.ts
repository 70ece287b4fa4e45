/**
 * The sorted set type: a reducer over members (binary strings) with double scores, ordered by
 * (score, member), and the sorted set commands of Redis 8.4 (ZADD ... ZSCAN, the blocking pops).
 *
 * The state is a skip list with spans (rank queries and range starts in O(log n)) plus a map
 * member -> node (score lookups in O(1)). A node's level is derived from a hash of its member, so
 * the shape of the list depends only on its contents: the same contents give the same structure on
 * every node, and undo by re-insertion restores it exactly. Members compare by bytes (one JS char
 * per byte, so plain string comparison). Reads never sort the stored data.
 *
 * Ops:
 * - `["zadd", m1, s1, m2, s2, ...]`: sets each member's score (adding the member when absent).
 *   ZADD's NX/XX/GT/LT are resolved by the handler against this node's state into this plain op;
 *   such ZADDs are exclusive (zsetExclusive), so in a cluster they run serializably.
 * - `["zincr", m, delta]`: adds `delta` to the member's score (0 when absent). Concurrent
 *   increments add up; an increment whose result would be NaN is a no-op.
 * - `["zrem", m1, m2, ...]`: removes the members; removing the last deletes the key. The opcodes
 *   `zpopmin`, `zpopmax`, `zremrangebyrank`, `zremrangebyscore` and `zremrangebylex` do the same under
 *   the keyspace event name of the command that wrote them.
 * - `["zstore", event, m1, s1, ...]`: the key becomes exactly these members, without a TTL (the STORE
 *   commands; `event` is the keyspace event name, e.g. "zunionstore").
 * Any other op, or an element of the wrong type, is a no-op (apply is total). A score of -0 is
 * stored as 0 (as Redis does; CBOR would not keep the sign either).
 *
 * Concurrent writes: ops apply in the fold order (core/fold.ts), so a member set on two nodes gets
 * the score of the effect that sorts last, and a ZREM concurrent with a ZADD of the same member
 * wins or loses by that order too. Handlers write only what they observed to change (ZADD only
 * new or re-scored members, ZREM and the ZREMRANGEBY* only members present in this node's view).
 * The STORE commands overwrite their destination with `zstore` (or `["del"]` for an empty result).
 *
 * Undo: each op records the previous score of every member it touched (absent or a number) and
 * the encoding high-water marks; undo re-applies them in reverse order. A `zstore` builds a new
 * state and keeps the old one, which undo puts back.
 *
 * Memory accounting: each member costs its length plus `ZSET_MEMBER_OVERHEAD`.
 */
import type { Op } from "../../core/effect.ts";
import type { Applied, Reducer } from "../../core/reducer.ts";
import type { EncodingLimits } from "../encodings.ts";
import { globMatch } from "../command_table.ts";
import {
  Block,
  cardLimit,
  type Ctx,
  fail,
  getKey,
  getTyped,
  type Handler,
  intArg,
  parseFloatArg,
  parseInt64,
  randomIndex,
  timeoutArg,
  upper,
  write,
} from "../command.ts";
import { DoubleReply, E, err, NULL_ARRAY, type Reply } from "../reply.ts";
import { formatDouble } from "../resp_encode.ts";
import { type SetState, setType } from "./set.ts";

/** Accounted bytes per member besides its bytes: the node, its level arrays and the map entry. */
export const ZSET_MEMBER_OVERHEAD = 80;

/** Highest level of a node (levels come from 2 bits of a 32-bit hash each). */
const MAX_LEVEL = 16;

/** One member of the skip list: forward pointers and spans per level, and a back pointer. */
export class ZNode {
  readonly next: (ZNode | null)[];
  readonly span: number[];
  prev: ZNode | null = null;

  constructor(readonly member: string, readonly score: number, level: number) {
    this.next = new Array(level).fill(null);
    this.span = new Array(level).fill(0);
  }
}

/** The level of `member`'s node: 1 + the number of leading zero bit pairs of its hash (p = 1/4). */
function levelOf(member: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < member.length; i++) h = Math.imul(h ^ member.charCodeAt(i), 0x01000193);
  // Final avalanche so the low bits depend on every byte.
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h = (h ^ (h >>> 16)) >>> 0;
  let level = 1;
  while ((h & 3) === 0 && level < MAX_LEVEL) {
    level++;
    h >>>= 2;
  }
  return level;
}

/** True when `n` sorts before (score, member). */
function before(n: ZNode, score: number, member: string): boolean {
  return n.score < score || (n.score === score && n.member < member);
}

/** Scratch arrays of the insert and unlink walks (single-threaded, never held across calls). */
const UPDATE: ZNode[] = new Array(MAX_LEVEL);
const RANK: number[] = new Array(MAX_LEVEL).fill(0);

/** A range of the order: `above` holds for nodes at or past its start, `below` up to its end. */
export interface ZRange {
  above(n: ZNode): boolean;
  below(n: ZNode): boolean;
}

/** A sorted set: skip list with spans ordered by (score, member), plus member -> node. */
export class ZSetState {
  readonly #dict = new Map<string, ZNode>();
  readonly #head = new ZNode("", -Infinity, MAX_LEVEL);
  #tail: ZNode | null = null;
  #level = 1;
  #bytes = 0;
  /** Most members it ever held and longest member it ever held (OBJECT ENCODING's conversions). */
  peakSize = 0;
  peakLen = 0;

  /** Number of members. */
  get size(): number {
    return this.#dict.size;
  }

  /** Accounted bytes: member lengths plus `ZSET_MEMBER_OVERHEAD` per member. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The score of `member`, or undefined. */
  score(member: string): number | undefined {
    return this.#dict.get(member)?.score;
  }

  /** The lowest node. */
  first(): ZNode | null {
    return this.#head.next[0];
  }

  /** The highest node. */
  last(): ZNode | null {
    return this.#tail;
  }

  /** Sets `member`'s score (adding it when absent); returns the previous score. */
  set(member: string, score: number): number | undefined {
    const old = this.#dict.get(member);
    if (old !== undefined) {
      if (old.score === score) return score;
      this.#unlink(old);
    } else {
      this.#bytes += member.length + ZSET_MEMBER_OVERHEAD;
    }
    this.#insert(member, score);
    if (this.#dict.size > this.peakSize) this.peakSize = this.#dict.size;
    if (member.length > this.peakLen) this.peakLen = member.length;
    return old?.score;
  }

  /** Removes `member`; returns its score, or undefined when absent. */
  delete(member: string): number | undefined {
    const node = this.#dict.get(member);
    if (node === undefined) return undefined;
    this.#unlink(node);
    this.#dict.delete(member);
    this.#bytes -= member.length + ZSET_MEMBER_OVERHEAD;
    return node.score;
  }

  /** 0-based rank of `member` in ascending order, or -1. */
  rank(member: string): number {
    const node = this.#dict.get(member);
    if (node === undefined) return -1;
    const { score, member: m } = node;
    let x = this.#head;
    let rank = 0;
    for (let i = this.#level - 1; i >= 0; i--) {
      let y = x.next[i];
      while (y !== null && (y === node || y.score < score || (y.score === score && y.member < m))) {
        rank += x.span[i];
        x = y;
        y = x.next[i];
      }
      if (x === node) return rank - 1;
    }
    return rank - 1;
  }

  /** The node of 0-based rank `r`, or null. */
  at(r: number): ZNode | null {
    if (r < 0 || r >= this.#dict.size) return null;
    const target = r + 1;
    let x = this.#head;
    let traversed = 0;
    for (let i = this.#level - 1; i >= 0; i--) {
      while (x.next[i] !== null && traversed + x.span[i] <= target) {
        traversed += x.span[i];
        x = x.next[i]!;
      }
      if (traversed === target) return x;
    }
    return null;
  }

  /** The first node inside `range` and its 0-based rank, or null. */
  firstIn(range: ZRange): [ZNode, number] | null {
    const [x, rank] = this.#descend((n) => !range.above(n));
    const n = x.next[0];
    return n !== null && range.below(n) ? [n, rank] : null;
  }

  /** The last node inside `range` and its 0-based rank, or null. */
  lastIn(range: ZRange): [ZNode, number] | null {
    const [x, rank] = this.#descend((n) => range.below(n));
    return x !== this.#head && range.above(x) ? [x, rank - 1] : null;
  }

  /** Number of members inside `range`. */
  count(range: ZRange): number {
    const a = this.firstIn(range);
    const b = a === null ? null : this.lastIn(range);
    return a === null || b === null || b[1] < a[1] ? 0 : b[1] - a[1] + 1;
  }

  /** The last node for which `pred` holds (monotone: true then false along the order) and its 1-based rank. */
  #descend(pred: (n: ZNode) => boolean): [ZNode, number] {
    let x = this.#head;
    let rank = 0;
    for (let i = this.#level - 1; i >= 0; i--) {
      while (x.next[i] !== null && pred(x.next[i]!)) {
        rank += x.span[i];
        x = x.next[i]!;
      }
    }
    return [x, rank];
  }

  #insert(member: string, score: number): void {
    const update = UPDATE, rank = RANK;
    let x = this.#head;
    for (let i = this.#level - 1; i >= 0; i--) {
      rank[i] = i === this.#level - 1 ? 0 : rank[i + 1];
      while (x.next[i] !== null && before(x.next[i]!, score, member)) {
        rank[i] += x.span[i];
        x = x.next[i]!;
      }
      update[i] = x;
    }
    const level = levelOf(member);
    if (level > this.#level) {
      for (let i = this.#level; i < level; i++) {
        rank[i] = 0;
        update[i] = this.#head;
        this.#head.span[i] = this.#dict.size - (this.#dict.has(member) ? 1 : 0);
      }
      this.#level = level;
    }
    const node = new ZNode(member, score, level);
    for (let i = 0; i < level; i++) {
      node.next[i] = update[i].next[i];
      update[i].next[i] = node;
      node.span[i] = update[i].span[i] - (rank[0] - rank[i]);
      update[i].span[i] = rank[0] - rank[i] + 1;
    }
    for (let i = level; i < this.#level; i++) update[i].span[i]++;
    node.prev = update[0] === this.#head ? null : update[0];
    if (node.next[0] !== null) node.next[0].prev = node;
    else this.#tail = node;
    this.#dict.set(member, node);
  }

  /** Takes `node` out of the list (not out of the map). */
  #unlink(node: ZNode): void {
    const update = UPDATE;
    let x = this.#head;
    for (let i = this.#level - 1; i >= 0; i--) {
      while (x.next[i] !== null && x.next[i] !== node && before(x.next[i]!, node.score, node.member)) {
        x = x.next[i]!;
      }
      update[i] = x;
    }
    for (let i = 0; i < this.#level; i++) {
      if (update[i].next[i] === node) {
        update[i].span[i] += node.span[i] - 1;
        update[i].next[i] = node.next[i];
      } else {
        update[i].span[i]--;
      }
    }
    if (node.next[0] !== null) node.next[0].prev = node.prev;
    else this.#tail = node.prev;
    while (this.#level > 1 && this.#head.next[this.#level - 1] === null) this.#level--;
  }
}

// ---------------------------------------------------------------- the reducer

/** Undo of any op: the state, whether the op created it, `member, previous score` pairs, old peaks. */
class ZUndo {
  constructor(
    readonly z: ZSetState,
    readonly created: boolean,
    readonly prev: (string | number | undefined)[],
    readonly peakSize: number,
    readonly peakLen: number,
  ) {}
}

/** Undo of a `zstore`: the state it replaced, untouched. */
class ReplaceUndo {
  constructor(readonly old: ZSetState | undefined) {}
}

/** Opcodes that remove members (named after the command, for keyspace events). */
const REMOVALS = new Set([
  "zrem",
  "zpopmin",
  "zpopmax",
  "zremrangebyrank",
  "zremrangebyscore",
  "zremrangebylex",
]);

const NO_CHANGE = (state: ZSetState | undefined): Applied<ZSetState> => ({ state, undo: null, delta: 0 });

/** A valid score from an op element: a non-NaN number, -0 as 0. */
function opScore(x: unknown): number | null {
  if (typeof x !== "number" || Number.isNaN(x)) return null;
  return x === 0 ? 0 : x;
}

/** Applies each `[member, new score or null to remove]` in order, recording the previous scores. */
function applyChanges(
  state: ZSetState | undefined,
  pairs: [string, number | null][],
): Applied<ZSetState> {
  const z = state ?? new ZSetState();
  const before = z.bytes;
  const [peakSize, peakLen] = [z.peakSize, z.peakLen];
  const prev: (string | number | undefined)[] = [];
  for (const [m, s] of pairs) {
    if (s === null) {
      const old = z.delete(m);
      if (old !== undefined) prev.push(m, old);
    } else {
      const old = z.set(m, s);
      if (old !== s) prev.push(m, old);
    }
  }
  if (prev.length === 0) return NO_CHANGE(state);
  return {
    state: z.size === 0 ? undefined : z,
    undo: new ZUndo(z, state === undefined, prev, peakSize, peakLen),
    delta: z.bytes - before,
  };
}

/** Members and scores of `op` from index `from` on (malformed pairs skipped). */
function opPairs(op: Op, from: number): [string, number][] {
  const pairs: [string, number][] = [];
  for (let i = from; i + 1 < op.length; i += 2) {
    const s = opScore(op[i + 1]);
    if (typeof op[i] === "string" && s !== null) pairs.push([op[i] as string, s]);
  }
  return pairs;
}

/** A `zstore`: a new state of exactly these members, no TTL; the old one is kept for undo. */
function applyStore(state: ZSetState | undefined, op: Op): Applied<ZSetState> {
  const z = new ZSetState();
  for (const [m, s] of opPairs(op, 2)) z.set(m, s);
  return {
    state: z.size === 0 ? undefined : z,
    undo: new ReplaceUndo(state),
    delta: z.bytes - (state?.bytes ?? 0),
    deadline: 0,
  };
}

function applyOp(state: ZSetState | undefined, op: Op): Applied<ZSetState> {
  const code = op[0] as string;
  if (code === "zstore") return applyStore(state, op);
  const pairs: [string, number | null][] = [];
  switch (REMOVALS.has(code) ? "zrem" : code) {
    case "zadd":
      pairs.push(...opPairs(op, 1));
      break;
    case "zincr": {
      const d = opScore(op[2]);
      if (typeof op[1] !== "string" || d === null) break;
      const s = opScore((state?.score(op[1]) ?? 0) + d);
      if (s !== null) pairs.push([op[1], s]);
      break;
    }
    case "zrem":
      if (state === undefined) break;
      for (let i = 1; i < op.length; i++) if (typeof op[i] === "string") pairs.push([op[i] as string, null]);
      break;
  }
  return pairs.length === 0 ? NO_CHANGE(state) : applyChanges(state, pairs);
}

/** The sorted set reducer (TYPE "zset"); see the module comment for its ops. */
export const zsetType: Reducer<ZSetState> & { encoding(state: ZSetState, limits: EncodingLimits): string } = {
  type: "zset",
  opcodes: ["zadd", "zincr", "zstore", ...REMOVALS],

  apply(state, op) {
    return applyOp(state, op);
  },

  undo(state, record) {
    if (record instanceof ReplaceUndo) return record.old;
    if (!(record instanceof ZUndo)) return state;
    const z = record.z;
    const p = record.prev;
    for (let k = p.length - 2; k >= 0; k -= 2) {
      const m = p[k] as string, s = p[k + 1];
      if (s === undefined) z.delete(m);
      else z.set(m, s as number);
    }
    z.peakSize = record.peakSize;
    z.peakLen = record.peakLen;
    return record.created ? undefined : z;
  },

  size(state) {
    return state.bytes;
  },

  /** Members and scores in order: `[m1, s1, m2, s2, ...]`. */
  encode(state) {
    const out: (string | number)[] = [];
    for (let n = state.first(); n !== null; n = n.next[0]) out.push(n.member, n.score);
    return out;
  },

  decode(data) {
    const z = new ZSetState();
    const a = data as unknown[];
    for (let i = 0; i + 1 < a.length; i += 2) {
      const s = opScore(a[i + 1]);
      if (typeof a[i] === "string" && s !== null) z.set(a[i] as string, s);
    }
    return z;
  },

  canonical(state) {
    let out = "";
    for (let n = state.first(); n !== null; n = n.next[0]) {
      out += `${n.member.length}:${n.member}=${n.score},`;
    }
    return out;
  },

  /**
   * OBJECT ENCODING: "listpack" while the set never held more than zset-max-listpack-entries
   * members nor a member longer than zset-max-listpack-value bytes, else "skiplist" (Redis converts
   * a listpack once and never back; a STORE command's fresh destination starts over).
   */
  encoding(state, limits) {
    return state.peakSize > limits["zset-max-listpack-entries"] ||
        state.peakLen > limits["zset-max-listpack-value"]
      ? "skiplist"
      : "listpack";
  },

  event(op) {
    if (op[0] === "zstore") return String(op[1]);
    return typeof op[0] === "string" ? op[0] : String(op[0]);
  },
};

// ---------------------------------------------------------------- parsing

const E_XX_NX = err("ERR XX and NX options at the same time are not compatible");
const E_GT_LT_NX = err("ERR GT, LT, and/or NX options at the same time are not compatible");
const E_INCR_PAIR = err("ERR INCR option supports a single increment-element pair");
const E_NAN = err("ERR resulting score is not a number (NaN)");
const E_MINMAX = err("ERR min or max is not a float");
const E_LEX = err("ERR min or max not valid string range item");
const E_WEIGHT = err("ERR weight value is not a float");
const E_RANGE = err("ERR value is out of range");
const E_LIMIT_RANK = err(
  "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
);
const E_WITHSCORES_LEX = err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");

/** Most members ZRANDMEMBER with a negative count answers (the reply is built in memory). */
export const ZRANDMEMBER_MAX_REPEATS = 1 << 24;

/**
 * Parses a float argument as Redis's getDoubleFromObject does: like `parseFloatArg`, but a finite
 * number too large for a double (overflow to inf) or too small (underflow to 0) is invalid.
 */
export function strictFloat(s: string): number | null {
  const v = parseFloatArg(s);
  if (v === null) return null;
  if (!Number.isFinite(v) && /\d/.test(s)) return null;
  if (v === 0 && /[1-9]/.test(s.split(/e/i)[0])) return null;
  return v;
}

/** One end of a score range: "(x" is exclusive, "x" inclusive; answers Redis's error otherwise. */
function scoreBound(s: string): [number, boolean] {
  const ex = s.startsWith("(");
  // Like strtod: leading blanks are skipped and an empty number reads as 0.
  const t = (ex ? s.slice(1) : s).replace(/^[ \t\n\v\f\r]+/, "");
  const v = t === "" ? 0 : parseFloatArg(t);
  if (v === null) fail(E_MINMAX);
  return [v, ex];
}

/** A score range `min`..`max` (ZRANGEBYSCORE syntax). */
export function scoreRange(minArg: string, maxArg: string): ZRange {
  const [min, minEx] = scoreBound(minArg);
  const [max, maxEx] = scoreBound(maxArg);
  return {
    above: (n) => minEx ? n.score > min : n.score >= min,
    below: (n) => maxEx ? n.score < max : n.score <= max,
  };
}

/** One end of a lex range: -1 for "-", 1 for "+", else 0 with the value and exclusivity. */
function lexBound(s: string): [number, string, boolean] {
  if (s === "-") return [-1, "", false];
  if (s === "+") return [1, "", false];
  if (s.startsWith("(")) return [0, s.slice(1), true];
  if (s.startsWith("[")) return [0, s.slice(1), false];
  fail(E_LEX);
}

/** A lex range `min`..`max` (ZRANGEBYLEX syntax): compares members only. */
export function lexRange(minArg: string, maxArg: string): ZRange {
  const [minInf, min, minEx] = lexBound(minArg);
  const [maxInf, max, maxEx] = lexBound(maxArg);
  return {
    above: (n) => minInf !== 0 ? minInf < 0 : minEx ? n.member > min : n.member >= min,
    below: (n) => maxInf !== 0 ? maxInf > 0 : maxEx ? n.member < max : n.member <= max,
  };
}

/** A count or index argument as a JS number (huge int64 values clamp). */
function longArg(s: string, e = E.notInt): number {
  const n = intArg(s, e);
  return typeof n === "bigint" ? (n < 0n ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER) : n;
}

/** Normalizes Redis rank indexes `start`..`end` against `len`: [from, to] inclusive, or null if empty. */
function rankSpan(start: number, end: number, len: number): [number, number] | null {
  if (start < 0) start += len;
  if (end < 0) end += len;
  if (start < 0) start = 0;
  if (start > end || start >= len) return null;
  if (end >= len) end = len - 1;
  return [start, end];
}

// ---------------------------------------------------------------- helpers

/** The sorted set at `key` for a write command (no hit/miss stats, as Redis's write lookups). */
function zsetForWrite(ctx: Ctx, key: string): ZSetState | undefined {
  const ks = getKey(ctx, key);
  if (ks === undefined) return undefined;
  if (ks.type !== zsetType) fail(E.wrongType);
  return ks.value as ZSetState;
}

function resp3(ctx: Ctx): boolean {
  return (ctx.client as { resp?: number } | undefined)?.resp === 3;
}

/** Members with scores: flat in RESP2, `[member, score]` pairs in RESP3 (Redis 7+). */
function withScores(ctx: Ctx, items: readonly (readonly [string, number])[]): Reply {
  if (resp3(ctx)) return items.map(([m, s]) => [m, new DoubleReply(s)]);
  const out: Reply[] = [];
  for (const [m, s] of items) out.push(m, new DoubleReply(s));
  return out;
}

/**
 * Makes `dst` hold exactly `items` (deleting it when empty) with keyspace event `event`; answers
 * the count.
 */
export function storeResult(
  ctx: Ctx,
  dst: string,
  items: readonly (readonly [string, number])[],
  event: string,
): Reply {
  if (items.length === 0) {
    if (getKey(ctx, dst) !== undefined) write(ctx, dst, ["del"]);
    return 0;
  }
  const op: (string | number)[] = ["zstore", event];
  for (const [m, s] of items) op.push(m, s);
  write(ctx, dst, op);
  return items.length;
}

// ---------------------------------------------------------------- ZADD, ZINCRBY, ZREM, reads

interface ZaddFlags {
  nx: boolean;
  xx: boolean;
  gt: boolean;
  lt: boolean;
  ch: boolean;
  incr: boolean;
}

const ZADD_FLAGS = new Set(["NX", "XX", "GT", "LT", "CH", "INCR"]);

/** Parses ZADD's flags; returns them and the index of the first score. */
function zaddFlags(args: readonly string[]): [ZaddFlags, number] {
  const f: ZaddFlags = { nx: false, xx: false, gt: false, lt: false, ch: false, incr: false };
  let j = 2;
  for (; j < args.length; j++) {
    const o = upper(args[j]);
    if (!ZADD_FLAGS.has(o)) break;
    f[o.toLowerCase() as keyof ZaddFlags] = true;
  }
  const n = args.length - j;
  if (n === 0 || n % 2 !== 0) fail(E.syntax);
  if (f.nx && f.xx) fail(E_XX_NX);
  if ((f.gt && f.nx) || (f.lt && f.nx) || (f.gt && f.lt)) fail(E_GT_LT_NX);
  if (f.incr && n > 2) fail(E_INCR_PAIR);
  return [f, j];
}

function zadd(ctx: Ctx, args: string[]): Reply {
  const key = args[1];
  const [f, j] = zaddFlags(args);
  const pairs: [string, number][] = [];
  for (let k = j; k < args.length; k += 2) {
    const s = strictFloat(args[k]);
    if (s === null) fail(E.notFloat);
    pairs.push([args[k + 1], s === 0 ? 0 : s]);
  }
  const z = zsetForWrite(ctx, key);
  if (f.incr) return zaddIncr(ctx, key, z, f, pairs[0]);
  const next = new Map<string, number>();
  let added = 0, updated = 0;
  for (const [m, s] of pairs) {
    const cur = next.has(m) ? next.get(m) : z?.score(m);
    if (cur === undefined) {
      if (f.xx) continue;
      next.set(m, s);
      added++;
    } else {
      if (f.nx || (f.gt && s <= cur) || (f.lt && s >= cur) || s === cur) continue;
      next.set(m, s);
      updated++;
    }
  }
  const op: (string | number)[] = ["zadd"];
  for (const [m, s] of next) if (z?.score(m) !== s) op.push(m, s);
  if (op.length > 1) write(ctx, key, op);
  return f.ch ? added + updated : added;
}

function zaddIncr(
  ctx: Ctx,
  key: string,
  z: ZSetState | undefined,
  f: ZaddFlags,
  pair: [string, number],
): Reply {
  const [m, d] = pair;
  const cur = z?.score(m);
  if (cur === undefined ? f.xx : f.nx) return null;
  const s = (cur ?? 0) + d;
  if (Number.isNaN(s)) fail(E_NAN);
  if (cur !== undefined && ((f.gt && s <= cur) || (f.lt && s >= cur))) return null;
  if (cur === undefined || s !== cur) write(ctx, key, ["zincr", m, d]);
  return new DoubleReply(s === 0 ? 0 : s);
}

function zincrby(ctx: Ctx, args: string[]): Reply {
  const key = args[1], member = args[3];
  const d = strictFloat(args[2]);
  if (d === null) fail(E.notFloat);
  const z = zsetForWrite(ctx, key);
  const s = (z?.score(member) ?? 0) + d;
  if (Number.isNaN(s)) fail(E_NAN);
  write(ctx, key, ["zincr", member, d]);
  return new DoubleReply(s === 0 ? 0 : s);
}

function zrem(ctx: Ctx, args: string[]): Reply {
  const key = args[1];
  const z = zsetForWrite(ctx, key);
  if (z === undefined) return 0;
  const present = new Set<string>();
  for (let j = 2; j < args.length; j++) if (z.score(args[j]) !== undefined) present.add(args[j]);
  if (present.size === 0) return 0;
  write(ctx, key, ["zrem", ...present]);
  return present.size;
}

function zcard(ctx: Ctx, args: string[]): Reply {
  return getTyped(ctx, args[1], zsetType)?.size ?? 0;
}

function zscore(ctx: Ctx, args: string[]): Reply {
  const s = getTyped(ctx, args[1], zsetType)?.score(args[2]);
  return s === undefined ? null : new DoubleReply(s);
}

function zmscore(ctx: Ctx, args: string[]): Reply {
  const z = getTyped(ctx, args[1], zsetType);
  const out: Reply[] = [];
  for (let j = 2; j < args.length; j++) {
    const s = z?.score(args[j]);
    out.push(s === undefined ? null : new DoubleReply(s));
  }
  return out;
}

function zrankCommand(rev: boolean): Handler {
  return (ctx, args) => {
    if (args.length > 4 || (args.length === 4 && upper(args[3]) !== "WITHSCORE")) fail(E.syntax);
    const withScore = args.length === 4;
    const z = getTyped(ctx, args[1], zsetType);
    const r = z?.rank(args[2]) ?? -1;
    if (r < 0) return withScore ? NULL_ARRAY : null;
    const rank = rev ? z!.size - 1 - r : r;
    return withScore ? [rank, new DoubleReply(z!.score(args[2])!)] : rank;
  };
}

function zcount(ctx: Ctx, args: string[]): Reply {
  const range = scoreRange(args[2], args[3]);
  return getTyped(ctx, args[1], zsetType)?.count(range) ?? 0;
}

function zlexcount(ctx: Ctx, args: string[]): Reply {
  const range = lexRange(args[2], args[3]);
  return getTyped(ctx, args[1], zsetType)?.count(range) ?? 0;
}

// ---------------------------------------------------------------- ZRANGE and friends

type Kind = "rank" | "score" | "lex";

/** The members of a ZRANGE-style query, in reply order. */
interface RangeQuery {
  kind: Kind;
  rev: boolean;
  /** First and second range argument, already in (min, max) order for score and lex. */
  a: string;
  b: string;
  offset: number;
  /** -1: no limit. */
  count: number;
}

/** Runs `q` against `z`. */
export function selectRange(z: ZSetState, q: RangeQuery): [string, number][] {
  const out: [string, number][] = [];
  if (q.kind === "rank") {
    const span = rankSpan(longArg(q.a), longArg(q.b), z.size);
    if (span === null) return out;
    const [from, to] = span;
    let n = z.at(q.rev ? z.size - 1 - from : from);
    for (let i = from; i <= to && n !== null; i++) {
      out.push([n.member, n.score]);
      n = q.rev ? n.prev : n.next[0];
    }
    return out;
  }
  const range = q.kind === "score" ? scoreRange(q.a, q.b) : lexRange(q.a, q.b);
  if (q.offset < 0 || q.count === 0) return out;
  const start = q.rev ? z.lastIn(range) : z.firstIn(range);
  if (start === null) return out;
  const rank = q.rev ? start[1] - q.offset : start[1] + q.offset;
  let n = q.offset === 0 ? start[0] : z.at(rank);
  for (; n !== null && (q.count < 0 || out.length < q.count); n = q.rev ? n.prev : n.next[0]) {
    if (q.rev ? !range.above(n) : !range.below(n)) break;
    out.push([n.member, n.score]);
  }
  return out;
}

interface RangeSyntax {
  /** Index of the source key; the range arguments follow it. */
  src: number;
  kind?: Kind;
  rev?: boolean;
  store: boolean;
}

/** Parses a ZRANGE-family command line into its query (errors in Redis's order), and WITHSCORES. */
function parseRange(args: readonly string[], syn: RangeSyntax): [RangeQuery, boolean] {
  let kind: Kind | undefined = syn.kind, rev = syn.rev;
  let withScores = false, limit = false, offset = 0, count = -1;
  for (let j = syn.src + 3; j < args.length; j++) {
    const o = upper(args[j]);
    const left = args.length - j - 1;
    if (!syn.store && o === "WITHSCORES") withScores = true;
    else if (o === "LIMIT" && left >= 2) {
      offset = longArg(args[j + 1]);
      count = longArg(args[j + 2]);
      limit = true;
      j += 2;
    } else if (syn.rev === undefined && rev === undefined && o === "REV") rev = true;
    else if (syn.kind === undefined && kind === undefined && o === "BYLEX") kind = "lex";
    else if (syn.kind === undefined && kind === undefined && o === "BYSCORE") kind = "score";
    else fail(E.syntax);
  }
  kind ??= "rank";
  rev ??= false;
  if (limit && kind === "rank") fail(E_LIMIT_RANK);
  if (withScores && kind === "lex") fail(E_WITHSCORES_LEX);
  let a = args[syn.src + 1], b = args[syn.src + 2];
  if (rev && kind !== "rank") [a, b] = [b, a];
  // Validate the range before the key lookup, as Redis does.
  if (kind === "rank") {
    longArg(a);
    longArg(b);
  } else if (kind === "score") scoreRange(a, b);
  else lexRange(a, b);
  return [{ kind, rev, a, b, offset, count }, withScores];
}

function zrangeCommand(syn: Omit<RangeSyntax, "store" | "src">): Handler {
  return (ctx, args) => {
    const [q, ws] = parseRange(args, { ...syn, src: 1, store: false });
    const z = getTyped(ctx, args[1], zsetType);
    const items = z === undefined ? [] : selectRange(z, q);
    return ws ? withScores(ctx, items) : items.map(([m]) => m);
  };
}

function zrangestore(ctx: Ctx, args: string[]): Reply {
  const [q] = parseRange(args, { src: 2, store: true });
  const z = getTyped(ctx, args[2], zsetType);
  return storeResult(ctx, args[1], z === undefined ? [] : selectRange(z, q), "zrangestore");
}

function zremrange(kind: Kind): Handler {
  return (ctx, args) => {
    const q: RangeQuery = { kind, rev: false, a: args[2], b: args[3], offset: 0, count: -1 };
    if (kind === "rank") {
      longArg(q.a);
      longArg(q.b);
    } else if (kind === "score") scoreRange(q.a, q.b);
    else lexRange(q.a, q.b);
    const key = args[1];
    const z = zsetForWrite(ctx, key);
    if (z === undefined) return 0;
    const items = selectRange(z, q);
    if (items.length > 0) write(ctx, key, [`zremrangeby${kind}`, ...items.map(([m]) => m)]);
    return items.length;
  };
}

// ---------------------------------------------------------------- pops

/** Removes up to `count` members from the low (min) or high end of `key`'s set; the popped pairs. */
function popFrom(ctx: Ctx, key: string, z: ZSetState, max: boolean, count: number): [string, number][] {
  const out: [string, number][] = [];
  for (let n = max ? z.last() : z.first(); n !== null && out.length < count; n = max ? n.prev : n.next[0]) {
    out.push([n.member, n.score]);
  }
  if (out.length > 0) write(ctx, key, [max ? "zpopmax" : "zpopmin", ...out.map(([m]) => m)]);
  return out;
}

function zpop(max: boolean): Handler {
  return (ctx, args) => {
    if (args.length > 3) fail(E.syntax);
    let count = 1;
    if (args.length === 3) {
      const n = parseInt64(args[2]);
      if (n === null || n < 0) fail(E.positive);
      count = typeof n === "bigint" ? Number.MAX_SAFE_INTEGER : n;
    }
    const z = zsetForWrite(ctx, args[1]);
    if (z === undefined || count === 0) return [];
    const items = popFrom(ctx, args[1], z, max, count);
    if (args.length === 2) return [items[0][0], new DoubleReply(items[0][1])];
    return withScores(ctx, items);
  };
}

/** ZMPOP/BZMPOP's arguments from index `i` (numkeys): keys, MIN/MAX, COUNT. */
function parseMpop(args: readonly string[], i: number): [string[], boolean, number] {
  const nk = parseInt64(args[i]);
  if (nk === null || nk < 1) fail(E.numkeys);
  if (nk > args.length - i - 2) fail(E.syntax);
  const keys = args.slice(i + 1, i + 1 + Number(nk));
  let j = i + 1 + keys.length;
  const where = upper(args[j++]);
  if (where !== "MIN" && where !== "MAX") fail(E.syntax);
  let count = -1;
  for (; j < args.length; j++) {
    if (upper(args[j]) === "COUNT" && j + 1 < args.length && count < 0) {
      const c = parseInt64(args[++j]);
      if (c === null || c < 1) fail(E.countPositive);
      count = typeof c === "bigint" ? Number.MAX_SAFE_INTEGER : c;
    } else {
      fail(E.syntax);
    }
  }
  return [keys, where === "MAX", count < 0 ? 1 : count];
}

/** The first of `keys` holding a sorted set (WRONGTYPE for another type met before it). */
function firstNonEmpty(ctx: Ctx, keys: readonly string[]): [string, ZSetState] | null {
  for (const k of keys) {
    const z = zsetForWrite(ctx, k);
    if (z !== undefined) return [k, z];
  }
  return null;
}

/** ZMPOP's reply: `[key, [[member, score], ...]]` (pairs in both protocols). */
function mpopReply(key: string, items: [string, number][]): Reply {
  return [key, items.map(([m, s]) => [m, new DoubleReply(s)])];
}

function zmpop(ctx: Ctx, args: string[]): Reply {
  const [keys, max, count] = parseMpop(args, 1);
  const hit = firstNonEmpty(ctx, keys);
  if (hit === null) return NULL_ARRAY;
  return mpopReply(hit[0], popFrom(ctx, hit[0], hit[1], max, count));
}

function bzpop(max: boolean): Handler {
  return (ctx, args) => {
    const timeout = timeoutArg(args[args.length - 1]);
    const keys = args.slice(1, -1);
    const hit = firstNonEmpty(ctx, keys);
    if (hit === null) return new Block(keys, timeout, NULL_ARRAY);
    const [[m, s]] = popFrom(ctx, hit[0], hit[1], max, 1);
    return [hit[0], m, new DoubleReply(s)];
  };
}

function bzmpop(ctx: Ctx, args: string[]): Reply | Block {
  const timeout = timeoutArg(args[1]);
  const [keys, max, count] = parseMpop(args, 2);
  const hit = firstNonEmpty(ctx, keys);
  if (hit === null) return new Block(keys, timeout, NULL_ARRAY);
  return mpopReply(hit[0], popFrom(ctx, hit[0], hit[1], max, count));
}

// ---------------------------------------------------------------- ZUNION, ZINTER, ZDIFF

type Agg = "SUM" | "MIN" | "MAX";
type AlgebraOp = "union" | "inter" | "diff";

/** A source of a set operation: member -> score lookups and iteration, from a zset or a set. */
interface Source {
  size: number;
  score(m: string): number | undefined;
  each(f: (m: string, s: number) => void): void;
}

function sourceOf(v: ZSetState | SetState | undefined): Source {
  if (v === undefined) return { size: 0, score: () => undefined, each: () => {} };
  if (v instanceof ZSetState) {
    return {
      size: v.size,
      score: (m) => v.score(m),
      each: (f) => {
        for (let n = v.first(); n !== null; n = n.next[0]) f(n.member, n.score);
      },
    };
  }
  return {
    size: v.size,
    score: (m) => v.has(m) ? 1 : undefined,
    each: (f) => {
      for (let i = 0; i < v.size; i++) f(v.at(i)!, 1);
    },
  };
}

/** Reads the sources (a zset or a set each; WRONGTYPE otherwise). */
function readSources(ctx: Ctx, keys: readonly string[]): Source[] {
  return keys.map((k) => {
    const ks = getKey(ctx, k);
    if (ks === undefined) return sourceOf(undefined);
    if (ks.type !== zsetType && ks.type !== setType) fail(E.wrongType);
    return sourceOf(ks.value as ZSetState | SetState);
  });
}

/** weight * score, with NaN (0 * inf) as 0, as Redis. */
function weighted(w: number, s: number): number {
  const v = w * s;
  return Number.isNaN(v) ? 0 : v;
}

function aggregate(agg: Agg, a: number, b: number): number {
  if (agg === "MIN") return a < b ? a : b;
  if (agg === "MAX") return a > b ? a : b;
  const v = a + b;
  return Number.isNaN(v) ? 0 : v;
}

/** Computes the set operation; the result sorted by (score, member). */
function algebraResult(op: AlgebraOp, srcs: Source[], weights: number[], agg: Agg): [string, number][] {
  const acc = new Map<string, number>();
  if (op === "union") {
    srcs.forEach((src, i) =>
      src.each((m, s) => {
        const v = weighted(weights[i], s);
        const cur = acc.get(m);
        acc.set(m, cur === undefined ? v : aggregate(agg, cur, v));
      })
    );
  } else if (op === "inter") {
    const order = srcs.map((_, i) => i).sort((a, b) => srcs[a].size - srcs[b].size);
    if (srcs[order[0]].size > 0) {
      srcs[order[0]].each((m, s) => {
        let v = weighted(weights[order[0]], s);
        for (let k = 1; k < order.length; k++) {
          const o = srcs[order[k]].score(m);
          if (o === undefined) return;
          v = aggregate(agg, v, weighted(weights[order[k]], o));
        }
        acc.set(m, v);
      });
    }
  } else {
    srcs[0].each((m, s) => {
      for (let k = 1; k < srcs.length; k++) if (srcs[k].score(m) !== undefined) return;
      acc.set(m, s);
    });
  }
  const out = [...acc];
  out.sort((x, y) => x[1] - y[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return out;
}

function algebra(op: AlgebraOp, store: boolean): Handler {
  return (ctx, args) => {
    const ni = store ? 2 : 1;
    const numkeys = longArg(args[ni]);
    if (numkeys < 1) fail(err(`ERR at least 1 input key is needed for '${args[0].toLowerCase()}' command`));
    if (numkeys > args.length - ni - 1) fail(E.syntax);
    const srcs = readSources(ctx, args.slice(ni + 1, ni + 1 + numkeys));
    const weights: number[] = new Array(numkeys).fill(1);
    let agg: Agg = "SUM", ws = false;
    for (let j = ni + 1 + numkeys; j < args.length; j++) {
      const o = upper(args[j]);
      const left = args.length - j - 1;
      if (op !== "diff" && o === "WEIGHTS" && left >= numkeys) {
        for (let k = 0; k < numkeys; k++) {
          const w = strictFloat(args[++j]);
          if (w === null) fail(E_WEIGHT);
          weights[k] = w;
        }
      } else if (op !== "diff" && o === "AGGREGATE" && left >= 1) {
        const a = upper(args[++j]);
        if (a !== "SUM" && a !== "MIN" && a !== "MAX") fail(E.syntax);
        agg = a;
      } else if (!store && o === "WITHSCORES") ws = true;
      else fail(E.syntax);
    }
    const items = algebraResult(op, srcs, weights, agg);
    if (store) return storeResult(ctx, args[1], items, args[0].toLowerCase());
    return ws ? withScores(ctx, items) : items.map(([m]) => m);
  };
}

function zintercard(ctx: Ctx, args: string[]): Reply {
  const numkeys = longArg(args[1]);
  if (numkeys < 1) fail(err("ERR at least 1 input key is needed for 'zintercard' command"));
  if (numkeys > args.length - 2) fail(E.syntax);
  const limit = cardLimit(args, 2 + numkeys);
  const srcs = readSources(ctx, args.slice(2, 2 + numkeys));
  const order = srcs.slice().sort((a, b) => a.size - b.size);
  let n = 0;
  const done = {};
  try {
    order[0].each((m) => {
      for (let k = 1; k < order.length; k++) if (order[k].score(m) === undefined) return;
      if (++n === limit) throw done;
    });
  } catch (e) {
    if (e !== done) throw e;
  }
  return n;
}

// ---------------------------------------------------------------- ZRANDMEMBER, ZSCAN

function zrandmember(ctx: Ctx, args: string[]): Reply {
  if (args.length > 4 || (args.length === 4 && upper(args[3]) !== "WITHSCORES")) fail(E.syntax);
  if (args.length === 2) {
    const z = getTyped(ctx, args[1], zsetType);
    return z === undefined ? null : z.at(randomIndex(ctx, z.size))!.member;
  }
  const ws = args.length === 4;
  const n = parseInt64(args[2]);
  if (n === null) fail(E.notInt);
  if (n === -(2n ** 63n)) fail(E.longRange);
  const half = 4611686018427387903n;
  if (ws && (BigInt(n) < -half || BigInt(n) > half)) fail(E_RANGE);
  const repeats = n < 0;
  if (repeats && n < -ZRANDMEMBER_MAX_REPEATS) fail(E_RANGE);
  const count = typeof n === "bigint" ? Number.MAX_SAFE_INTEGER : Math.abs(n);
  const z = getTyped(ctx, args[1], zsetType);
  if (z === undefined || count === 0) return [];
  let nodes: ZNode[];
  if (repeats) {
    nodes = new Array(count);
    for (let i = 0; i < count; i++) nodes[i] = z.at(randomIndex(ctx, z.size))!;
  } else if (count * 3 > z.size) {
    // Many of the members: a partial Fisher-Yates shuffle of all of them.
    nodes = [];
    for (let x = z.first(); x !== null; x = x.next[0]) nodes.push(x);
    const take = Math.min(count, nodes.length);
    for (let i = 0; i < take && take < nodes.length; i++) {
      const j = i + randomIndex(ctx, nodes.length - i);
      [nodes[i], nodes[j]] = [nodes[j], nodes[i]];
    }
    nodes.length = take;
  } else {
    // Few of them: draw ranks until enough distinct ones came up.
    const ranks = new Set<number>();
    while (ranks.size < count) ranks.add(randomIndex(ctx, z.size));
    nodes = [...ranks].map((r) => z.at(r)!);
  }
  const items = nodes.map((x) => [x.member, x.score] as const);
  return ws ? withScores(ctx, items) : items.map(([m]) => m);
}

/** ZSCAN answers every member at once when the set has at most this many (as Redis's listpacks). */
const ZSCAN_WHOLE = 128;

/**
 * ZSCAN's cursor is the next score to visit, mapped to an unsigned 64-bit integer that keeps the
 * order of doubles (0 = start/end). A call ends at a score boundary, so members present for the
 * whole scan are returned whatever is written meanwhile.
 */
function cursorOf(score: number): bigint {
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat64(0, score === 0 ? 0 : score);
  const bits = v.getBigUint64(0);
  return bits >> 63n ? ~bits & 0xffffffffffffffffn : bits | (1n << 63n);
}

function scoreOfCursor(c: bigint): number {
  const bits = c >> 63n ? c & ~(1n << 63n) : ~c & 0xffffffffffffffffn;
  const v = new DataView(new ArrayBuffer(8));
  v.setBigUint64(0, bits);
  return v.getFloat64(0);
}

function zscan(ctx: Ctx, args: string[]): Reply {
  if (!/^(0|[1-9][0-9]{0,19})$/.test(args[2]) || BigInt(args[2]) > 0xffffffffffffffffn) fail(E.cursor);
  const cursor = BigInt(args[2]);
  let count = 10, pattern: string | null = null, noScores = false;
  for (let j = 3; j < args.length; j++) {
    const o = upper(args[j]);
    if (o === "COUNT" && j + 1 < args.length) {
      count = longArg(args[++j]);
      if (count < 1) fail(E.syntax);
    } else if (o === "MATCH" && j + 1 < args.length) {
      const p = args[++j];
      pattern = p === "*" ? null : p;
    } else if (o === "NOSCORES") noScores = true;
    else fail(E.syntax);
  }
  const z = getTyped(ctx, args[1], zsetType);
  if (z === undefined) return ["0", []];
  let n: ZNode | null;
  if (cursor === 0n) n = z.first();
  else {
    const from = scoreOfCursor(cursor);
    n = Number.isNaN(from)
      ? null
      : z.firstIn({ above: (x) => x.score >= from, below: () => true })?.[0] ?? null;
  }
  const whole = z.size <= ZSCAN_WHOLE;
  const out: Reply[] = [];
  let visited = 0;
  for (; n !== null; n = n.next[0], visited++) {
    if (!whole && visited >= count && n.prev !== null && n.prev.score !== n.score) break;
    if (pattern !== null && !globMatch(pattern, n.member, false)) continue;
    out.push(n.member);
    if (!noScores) out.push(formatDouble(n.score));
  }
  return [n === null ? "0" : cursorOf(n.score).toString(), out];
}

/** Sorted set command handlers, keyed by lower-case command name. */
export const zsetCommands: Record<string, Handler> = {
  zadd,
  zincrby,
  zrem,
  zcard,
  zscore,
  zmscore,
  zrank: zrankCommand(false),
  zrevrank: zrankCommand(true),
  zcount,
  zlexcount,
  zrange: zrangeCommand({}),
  zrangebyscore: zrangeCommand({ kind: "score", rev: false }),
  zrevrangebyscore: zrangeCommand({ kind: "score", rev: true }),
  zrevrange: zrangeCommand({ kind: "rank", rev: true }),
  zrangebylex: zrangeCommand({ kind: "lex", rev: false }),
  zrevrangebylex: zrangeCommand({ kind: "lex", rev: true }),
  zrangestore,
  zremrangebyrank: zremrange("rank"),
  zremrangebyscore: zremrange("score"),
  zremrangebylex: zremrange("lex"),
  zpopmin: zpop(false),
  zpopmax: zpop(true),
  zmpop,
  bzpopmin: bzpop(false),
  bzpopmax: bzpop(true),
  bzmpop,
  zunion: algebra("union", false),
  zinter: algebra("inter", false),
  zdiff: algebra("diff", false),
  zunionstore: algebra("union", true),
  zinterstore: algebra("inter", true),
  zdiffstore: algebra("diff", true),
  zintercard,
  zrandmember,
  zscan,
};

/** Why a command of this family is exclusive given its arguments, or null (see redis/exclusive.ts). */
export const zsetExclusive: Record<string, (args: readonly string[]) => string | null> = {
  zadd(args) {
    for (let j = 2; j < args.length; j++) {
      const o = upper(args[j]);
      if (!ZADD_FLAGS.has(o)) break;
      if (o === "NX" || o === "XX" || o === "GT" || o === "LT") return `ZADD ${o} is a conditional write`;
    }
    return null;
  },
};
