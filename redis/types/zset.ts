/**
 * The sorted set type: placeholder while the type is being built (issue 5).
 */
import type { Reducer } from "../../core/reducer.ts";
import type { Handler } from "../command.ts";

/** The TYPE reducer. */
export const zsetType: Reducer<unknown> = {
  type: "TYPEThe sorted set type",
  opcodes: [],
  apply: (state) => ({ state, undo: null, delta: 0 }),
  undo: (state) => state,
  size: () => 0,
  encode: (s) => s,
  decode: (d) => d,
  canonical: () => "",
  event: () => "TYPEThe sorted set type",
};

/** Command handlers, keyed by lower-case command name. */
export const zsetCommands: Record<string, Handler> = {};

/** Why a command of this family is exclusive given its arguments, or null (see redis/exclusive.ts). */
export const zsetExclusive: Record<string, (args: readonly string[]) => string | null> = {};
