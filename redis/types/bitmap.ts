/** Bitmap and BITFIELD commands on strings: placeholder while they are being built (issue 5). */
import type { Handler } from "../command.ts";

/** Command handlers, keyed by lower-case command name. */
export const bitmapCommands: Record<string, Handler> = {};

/** Why a command of this family is exclusive given its arguments, or null (see redis/exclusive.ts). */
export const bitmapExclusive: Record<string, (args: readonly string[]) => string | null> = {};
