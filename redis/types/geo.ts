/** Geo commands on sorted sets: placeholder while they are being built (issue 5). */
import type { Handler } from "../command.ts";

/** Command handlers, keyed by lower-case command name. */
export const geoCommands: Record<string, Handler> = {};

/** Why a geo command is exclusive given its arguments, or null (see redis/exclusive.ts). */
export const geoExclusive: Record<string, (args: readonly string[]) => string | null> = {};
