/**
 * The stream type: placeholder while the type is being built (issue 5).
 */
import type { Reducer } from "../../core/reducer.ts";
import type { Handler } from "../command.ts";

/** The TYPE reducer. */
export const streamType: Reducer<unknown> = {
  type: "TYPEThe stream type",
  opcodes: [],
  apply: (state) => ({ state, undo: null, delta: 0 }),
  undo: (state) => state,
  size: () => 0,
  encode: (s) => s,
  decode: (d) => d,
  canonical: () => "",
  event: () => "TYPEThe stream type",
};

/** Command handlers, keyed by lower-case command name. */
export const streamCommands: Record<string, Handler> = {};

/** Why a command of this family is exclusive given its arguments, or null (see redis/exclusive.ts). */
export const streamExclusive: Record<string, (args: readonly string[]) => string | null> = {};
