/**
 * Effects: the unit of replication, logging and folding.
 *
 * An effect is one command's mutation of one key. Its id is (writer, seq) where a writer is one
 * incarnation of one node, so a crash can never reuse an id.
 */

/** One incarnation of one node. Interned: compare writers with `===`. */
export class Writer {
  readonly key: string;
  /** Its (node, incarnation) as CBOR, cached by the record encoder. */
  cbor: Uint8Array | null = null;
  private constructor(readonly node: string, readonly inc: number) {
    this.key = `${node}/${inc}`;
  }

  static #all = new Map<string, Writer>();

  /** The interned writer for (node, incarnation). */
  static of(node: string, inc: number): Writer {
    const key = `${node}/${inc}`;
    let w = Writer.#all.get(key);
    if (w === undefined) {
      w = new Writer(node, inc);
      Writer.#all.set(key, w);
    }
    return w;
  }
}

/** An effect's identity. */
export interface EffectId {
  readonly w: Writer;
  readonly seq: number;
}

/** A normalized, deterministic single-key operation: `[opcode, ...args]`, CBOR-encodable. */
export type Op = readonly unknown[];

/**
 * A multi-key command's effects share a group: the writer's consecutive seqs `first ..
 * first + size - 1`. A receiver applies a group only once all of its members can be applied.
 */
export interface GroupRef {
  readonly first: number;
  readonly size: number;
}

/** One command's mutation of one key. */
export interface Effect {
  readonly w: Writer;
  readonly seq: number;
  readonly db: number;
  readonly key: string;
  /** Tips of the key the writer had observed. */
  readonly deps: readonly EffectId[];
  readonly hlc: number;
  /** 0 = effect of a committed envelope, 1 = everything else (DESIGN.md section 3). */
  readonly cls: 0 | 1;
  readonly group: GroupRef | null;
  readonly ops: Op[];
}

/**
 * Test-only planted bugs the simulator must catch (off in production; only the simulator and
 * its tests set them).
 */
export const PLANTED = {
  /** Effects with equal HLCs from different nodes tie, so arrival order decides. */
  arrivalOrderTieBreak: false,
};

/** The fold order: `(class, hlc, node, incarnation, seq)`. Negative when `a` folds first. */
export function compareEffects(a: Effect, b: Effect): number {
  if (a.cls !== b.cls) return a.cls - b.cls;
  if (a.hlc !== b.hlc) return a.hlc < b.hlc ? -1 : 1;
  if (PLANTED.arrivalOrderTieBreak && a.w.node !== b.w.node) return 0;
  if (a.w !== b.w) {
    if (a.w.node !== b.w.node) return a.w.node < b.w.node ? -1 : 1;
    return a.w.inc - b.w.inc;
  }
  return a.seq - b.seq;
}

/** A keyspace-wide effect (FLUSHDB, FLUSHALL, SWAPDB): one effect, ordered like any other. */
export interface EpochEffect {
  readonly w: Writer;
  readonly seq: number;
  readonly hlc: number;
  readonly op: EpochOp;
}

export type EpochOp =
  | readonly ["flushall"]
  | readonly ["flushdb", number]
  | readonly ["swapdb", number, number];
