/** The Redis face: its data types (reducers) and its command handlers, in one place. */
import type { Reducer } from "../core/reducer.ts";
import type { Handler } from "./command.ts";
import { connectionCommands } from "./connection.ts";
import { genericCommands } from "./generic.ts";
import { keyCommands } from "./keys.ts";
import { scriptingCommands } from "./scripting.ts";
import { serverCommands } from "./server.ts";
import { waitCommands } from "./wait.ts";
import { bitmapCommands } from "./types/bitmap.ts";
import { geoCommands } from "./types/geo.ts";
import { hashCommands, hashType } from "./types/hash.ts";
import { hllCommands } from "./types/hll.ts";
import { listCommands, listType } from "./types/list.ts";
import { setCommands, setType } from "./types/set.ts";
import { streamCommands, streamType } from "./types/stream.ts";
import { stringCommands, stringType } from "./types/string.ts";
import { zsetCommands, zsetType } from "./types/zset.ts";

export { Face, type FaceConfig, type FaceOptions, type HostInfo } from "./face.ts";
export type { Transport } from "./client.ts";

/** Every data type the Redis face registers with the core. */
export const reducers: readonly Reducer<any>[] = [
  stringType,
  listType,
  hashType,
  setType,
  zsetType,
  streamType,
];

/** Every command handler, keyed by lowercase name ("client" handles its subcommands). */
export const handlers: Record<string, Handler> = {
  ...connectionCommands,
  ...serverCommands,
  ...waitCommands,
  ...keyCommands,
  ...genericCommands,
  ...stringCommands,
  ...bitmapCommands,
  ...hllCommands,
  ...listCommands,
  ...hashCommands,
  ...setCommands,
  ...zsetCommands,
  ...geoCommands,
  ...streamCommands,
  ...scriptingCommands,
};
