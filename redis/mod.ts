/** The Redis face: its data types (reducers) and its command handlers, in one place. */
import type { Reducer } from "../core/reducer.ts";
import type { Handler } from "./command.ts";
import { connectionCommands } from "./connection.ts";
import { keyCommands } from "./keys.ts";
import { serverCommands } from "./server.ts";
import { hashCommands, hashType } from "./types/hash.ts";
import { listCommands, listType } from "./types/list.ts";
import { setCommands, setType } from "./types/set.ts";
import { stringCommands, stringType } from "./types/string.ts";

export { Face, type FaceConfig, type FaceOptions, type HostInfo } from "./face.ts";
export type { Transport } from "./client.ts";

/** Every data type the Redis face registers with the core. */
export const reducers: readonly Reducer<any>[] = [stringType, listType, hashType, setType];

/** Every command handler, keyed by lowercase name ("client" handles its subcommands). */
export const handlers: Record<string, Handler> = {
  ...connectionCommands,
  ...serverCommands,
  ...keyCommands,
  ...stringCommands,
  ...listCommands,
  ...hashCommands,
  ...setCommands,
};
