/**
 * The one ordering rule, written once (DESIGN.md section 3).
 *
 * A key's value is the fold of its effects in the order: repeatedly apply, among the effects whose
 * deps are all applied, the smallest `(class, hlc, node, incarnation, seq)`. An effect that sorts
 * last is applied incrementally; one that sorts earlier rolls the unstable suffix back with the
 * undo records, is applied, and the suffix is reapplied. The base (stable prefix) is never
 * refolded.
 */
import { compareEffects, type Effect, type EffectId, type Op } from "./effect.ts";
import { hlcMs } from "./hlc.ts";
import type { KeyState, LogEntry } from "./keyspace.ts";
import type { Reducer, ReducerRegistry } from "./reducer.ts";

/** Opcodes the core applies itself; every other opcode belongs to a registered reducer. */
export const CORE_OPS = {
  /** `["del"]`: the key becomes absent. */
  del: "del",
  /** `["pexpire", ttlMs]`: deadline = the effect's hlc (ms) + ttl; no-op on an absent key. */
  pexpire: "pexpire",
  /** `["pexpireat", ms]`: absolute deadline; no-op on an absent key. */
  pexpireat: "pexpireat",
  /** `["persist"]`: no deadline. */
  persist: "persist",
  /** `["restore", type, encoded, deadline]`: the key becomes a decoded copy (COPY, RENAME, MOVE). */
  restore: "restore",
} as const;

/**
 * One undo step: the key's fields before an op, plus the reducer's own undo record when the op
 * mutated the value in place.
 */
interface Step {
  type: KeyState["type"];
  value: unknown;
  deadline: number;
  /** The reducer whose op this step takes back, when it ran on a value of its own type. */
  red: Reducer | null;
  redUndo: unknown;
}

const NO_UNDO: unknown[] = [];

/**
 * Applies `e`'s ops to `ks` (expiring the key first when `e` comes at or past its deadline).
 * Returns the undo steps when `withUndo`, else a shared empty array.
 */
export function applyEffect(ks: KeyState, e: Effect, reg: ReducerRegistry, withUndo: boolean): unknown[] {
  const steps: unknown[] = withUndo ? [] : NO_UNDO;
  const end = ks.end;
  if (end !== 0 && hlcMs(e.hlc) >= end) {
    if (withUndo) steps.push(snapshot(ks));
    clear(ks);
  }
  for (let i = 0; i < e.ops.length; i++) applyOp(ks, e, i, reg, steps, withUndo);
  return steps;
}

/** Applies op `i` of `e` (used directly by the local path, which applies ops as a command plans). */
export function applyOp(
  ks: KeyState,
  e: Effect,
  i: number,
  reg: ReducerRegistry,
  steps: unknown[],
  withUndo: boolean,
): void {
  const op: Op = e.ops[i];
  const code = op[0] as string;
  switch (code) {
    case CORE_OPS.del:
      if (withUndo) steps.push(snapshot(ks));
      clear(ks);
      return;
    case CORE_OPS.pexpire:
    case CORE_OPS.pexpireat:
      if (ks.type === null) return;
      if (withUndo) steps.push(snapshot(ks));
      ks.deadline = code === CORE_OPS.pexpire ? hlcMs(e.hlc) + (op[1] as number) : op[1] as number;
      return;
    case CORE_OPS.persist:
      if (withUndo) steps.push(snapshot(ks));
      ks.deadline = 0;
      return;
    case CORE_OPS.restore: {
      const r = reg.forOpcode(`${op[1] as string}:restore`) ?? reg.forType(op[1] as string);
      if (r === undefined) throw new Error(`restore of unknown type ${String(op[1])}`);
      if (withUndo) steps.push(snapshot(ks));
      const value = r.decode(op[2]);
      ks.type = r;
      ks.value = value;
      ks.deadline = op[3] as number;
      return;
    }
  }
  const r = reg.forOpcode(code);
  if (r === undefined) throw new Error(`no reducer for opcode ${code}`);
  if (ks.type !== r && ks.type !== null) {
    // Type-level last-writer-wins: an op of another type resets the key first.
    if (withUndo) steps.push(snapshot(ks));
    clear(ks);
  }
  const before = withUndo ? snapshot(ks) : null;
  const sizeBefore = withUndo ? ks.bytes : 0;
  const res = r.apply(ks.type === r ? ks.value : undefined, op, {
    hlc: e.hlc,
    w: e.w,
    seq: e.seq,
    opIndex: i,
  });
  if (before !== null) {
    if (before.type === r) {
      before.red = r;
      before.redUndo = res.undo;
    }
    steps.push(before);
  }
  if (res.deadline !== undefined) ks.deadline = res.deadline;
  if (res.state === undefined) {
    clear(ks);
  } else {
    ks.type = r;
    ks.value = res.state;
  }
  // Invariant (checked off the hot local path): a reducer's size delta matches its sizes.
  if (withUndo && ks.bytes - sizeBefore !== res.delta) {
    throw new Error(
      `reducer ${r.type}: op ${code} reported delta ${res.delta}, size changed ${ks.bytes - sizeBefore}`,
    );
  }
}

/** Takes back undo steps in reverse order. */
export function undoSteps(ks: KeyState, steps: unknown[]): void {
  for (let i = steps.length - 1; i >= 0; i--) {
    const s = steps[i] as Step;
    // A reducer op on its own type may have mutated the value in place: the reducer takes it
    // back. Every other step replaced the value, so the saved reference is the old value intact.
    ks.value = s.red !== null ? s.red.undo(ks.type === s.red ? ks.value : undefined, s.redUndo) : s.value;
    ks.type = s.type;
    ks.deadline = s.deadline;
  }
}

function snapshot(ks: KeyState): Step {
  return {
    type: ks.type,
    value: ks.value,
    deadline: ks.deadline,
    red: null,
    redUndo: undefined,
  };
}

function clear(ks: KeyState): void {
  ks.type = null;
  ks.value = undefined;
  ks.deadline = 0;
}

/** True when effect `id` is applied on `ks` (folded into the base, or in the unstable log). */
export function isApplied(ks: KeyState, id: EffectId): boolean {
  return ks.topSeq(id.w) >= id.seq;
}

/** True when every dep of `e` is applied on `ks`. */
export function depsApplied(ks: KeyState, e: Effect): boolean {
  for (const d of e.deps) if (!isApplied(ks, d)) return false;
  return true;
}

/**
 * Inserts an effect whose deps are all applied at its place in the fold order, rolling back and
 * reapplying the unstable suffix behind it. Returns how many effects were rolled back.
 */
export function insertEffect(ks: KeyState, e: Effect, reg: ReducerRegistry): number {
  if (ks.log === null) {
    ks.pinVv();
    ks.log = [];
  }
  const log = ks.log;
  // The first position after every dep where the existing effect sorts after e.
  let from = 0;
  for (const d of e.deps) {
    for (let i = log.length - 1; i >= 0; i--) {
      if (log[i].e.w === d.w && log[i].e.seq === d.seq) {
        // Invariant: an effect comes after everything it observed (DESIGN.md section 2).
        if (!(log[i].e.hlc < e.hlc)) throw new Error(`effect ${e.w.key}:${e.seq} hlc not above its dep's`);
        if (i + 1 > from) from = i + 1;
        break;
      }
    }
  }
  let at = log.length;
  for (let i = from; i < log.length; i++) {
    if (compareEffects(log[i].e, e) > 0) {
      at = i;
      break;
    }
  }
  for (let i = log.length - 1; i >= at; i--) undoSteps(ks, log[i].steps);
  const entry: LogEntry = { e, steps: applyEffect(ks, e, reg, true) };
  const suffix = log.splice(at, log.length - at, entry);
  ks.noteLogged(e);
  for (const x of suffix) {
    x.steps = applyEffect(ks, x.e, reg, true);
    log.push(x);
  }
  // Tips: e replaces the deps it names.
  const tips = ks.tips().filter((t) => !e.deps.some((d) => d.w === t.w && d.seq === t.seq));
  tips.push({ w: e.w, seq: e.seq });
  ks.setTips(tips);
  return suffix.length;
}

/** Folds the first `n` unstable effects into the base; their undo records are dropped. */
export function pruneLog(ks: KeyState, n: number): void {
  const log = ks.log;
  if (log === null || n === 0) return;
  if (n > log.length) throw new Error(`prune ${n} of ${log.length}`);
  for (let i = 0; i < n; i++) {
    ks.raiseBase(log[i].e.w, log[i].e.seq);
    ks.noteFolded(log[i].e);
  }
  log.splice(0, n);
  if (log.length === 0) ks.log = null;
}
