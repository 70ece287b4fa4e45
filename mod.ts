/**
 * Embedding Swytch in a Bun program: start and stop a Redis-speaking node.
 *
 * ```ts
 * import { startRedisNode } from "swytch/mod.ts";
 * const node = startRedisNode({ port: 0, dataDir: "" });
 * // ... node.port ...
 * await node.stop();
 * ```
 */
export { DEFAULTS, type RedisNode, type RedisNodeOptions, startRedisNode, VERSION } from "./net/node.ts";
export type { AppendFsync } from "./core/engine.ts";
