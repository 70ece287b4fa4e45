/**
 * Data types are reducers the faces register; the core orders and folds, it does not know what a
 * list is. `apply` is total: it never throws on an op of its own type.
 */
import type { Op, Writer } from "./effect.ts";

/** What an op may depend on besides the state: the effect it belongs to. */
export interface ApplyCtx {
  readonly hlc: number;
  readonly w: Writer;
  readonly seq: number;
  /** Index of the op inside its effect, so element ids derived from it are unique. */
  readonly opIndex: number;
}

/** Result of applying one op. */
export interface Applied<S> {
  /** The new state; `undefined` deletes the key (an empty collection). */
  readonly state: S | undefined;
  /** What `undo` needs to restore the previous state exactly. */
  readonly undo: unknown;
  /** Change in accounted bytes. */
  readonly delta: number;
  /** A new absolute expiry deadline in ms (0 = none); omitted keeps the key's deadline. */
  readonly deadline?: number;
}

export interface Reducer<S = unknown> {
  /** The TYPE reply ("string", "list", ...). */
  readonly type: string;
  /** Opcodes this reducer applies; an opcode is owned by exactly one reducer. */
  readonly opcodes: readonly string[];
  /**
   * Applies `op` to `state` (`undefined` when the key is absent; the core resets a key of another
   * type to absent first: type-level last-writer-wins).
   */
  apply(state: S | undefined, op: Op, ctx: ApplyCtx): Applied<S>;
  /** Restores the state `apply` saw, given its undo record; the state is the one `apply` returned. */
  undo(state: S | undefined, undo: unknown): S | undefined;
  /** Accounted bytes of a whole state (used when a state is created from a checkpoint or copy). */
  size(state: S): number;
  /** CBOR-encodable form for checkpoints and copies. */
  encode(state: S): unknown;
  decode(data: unknown): S;
  /** Deterministic text of the state for state hashes. */
  canonical(state: S): string;
  /** Keyspace event name of an op, e.g. "lpush". */
  event(op: Op): string;
  /**
   * When the value empties by itself (every part of it expired, as a hash whose fields all have
   * deadlines), in ms; 0 = never. The key then ends like at a deadline, without one being set.
   */
  endsAt?(state: S): number;
}

/** Opcode -> reducer, and type name -> reducer. */
export class ReducerRegistry {
  readonly #byOpcode = new Map<string, Reducer>();
  readonly #byType = new Map<string, Reducer>();

  constructor(reducers: readonly Reducer<any>[]) {
    for (const r of reducers) {
      if (this.#byType.has(r.type)) throw new Error(`duplicate reducer type ${r.type}`);
      this.#byType.set(r.type, r);
      for (const code of r.opcodes) {
        if (this.#byOpcode.has(code)) throw new Error(`opcode ${code} registered twice`);
        this.#byOpcode.set(code, r);
      }
    }
  }

  forOpcode(code: string): Reducer | undefined {
    return this.#byOpcode.get(code);
  }

  forType(type: string): Reducer | undefined {
    return this.#byType.get(type);
  }
}
