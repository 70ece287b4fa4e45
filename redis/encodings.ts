/**
 * The thresholds by which OBJECT ENCODING names Redis's encodings (CONFIG SET hash-max-listpack-
 * entries and friends). They change only what OBJECT ENCODING reports: Swytch's in-memory layout
 * is its own. One object per node (Face.encodings); CONFIG GET/SET read and write it.
 */
export interface EncodingLimits {
  "hash-max-listpack-entries": number;
  "hash-max-listpack-value": number;
  "set-max-intset-entries": number;
  "set-max-listpack-entries": number;
  "set-max-listpack-value": number;
  "zset-max-listpack-entries": number;
  "zset-max-listpack-value": number;
  /** Negative: a size class per node (-2 = 8 KB); positive: entries per node. */
  "list-max-listpack-size": number;
  "list-compress-depth": number;
  "stream-node-max-entries": number;
  "stream-node-max-bytes": number;
  "hll-sparse-max-bytes": number;
}

/** Redis 8.4's defaults. */
export function defaultEncodingLimits(): EncodingLimits {
  return {
    "hash-max-listpack-entries": 128,
    "hash-max-listpack-value": 64,
    "set-max-intset-entries": 512,
    "set-max-listpack-entries": 128,
    "set-max-listpack-value": 64,
    "zset-max-listpack-entries": 128,
    "zset-max-listpack-value": 64,
    "list-max-listpack-size": -2,
    "list-compress-depth": 0,
    "stream-node-max-entries": 100,
    "stream-node-max-bytes": 4096,
    "hll-sparse-max-bytes": 3000,
  };
}

/** Old names Redis still accepts for the same parameters. */
export const ENCODING_ALIASES: Record<string, keyof EncodingLimits> = {
  "hash-max-ziplist-entries": "hash-max-listpack-entries",
  "hash-max-ziplist-value": "hash-max-listpack-value",
  "zset-max-ziplist-entries": "zset-max-listpack-entries",
  "zset-max-ziplist-value": "zset-max-listpack-value",
  "list-max-ziplist-size": "list-max-listpack-size",
};

/** Valid range of each parameter (as CONFIG SET checks it). */
export const ENCODING_RANGES: Record<keyof EncodingLimits, [number, number]> = {
  "hash-max-listpack-entries": [0, Number.MAX_SAFE_INTEGER],
  "hash-max-listpack-value": [0, Number.MAX_SAFE_INTEGER],
  "set-max-intset-entries": [0, Number.MAX_SAFE_INTEGER],
  "set-max-listpack-entries": [0, Number.MAX_SAFE_INTEGER],
  "set-max-listpack-value": [0, Number.MAX_SAFE_INTEGER],
  "zset-max-listpack-entries": [0, Number.MAX_SAFE_INTEGER],
  "zset-max-listpack-value": [0, Number.MAX_SAFE_INTEGER],
  "list-max-listpack-size": [-2147483648, 2147483647],
  "list-compress-depth": [0, 2147483647],
  "stream-node-max-entries": [0, 999999999999999],
  "stream-node-max-bytes": [0, Number.MAX_SAFE_INTEGER],
  "hll-sparse-max-bytes": [0, Number.MAX_SAFE_INTEGER],
};
