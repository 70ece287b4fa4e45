/**
 * Reply values, independent of the protocol version.
 *
 * The common replies are plain JS values so the hot path allocates nothing extra:
 * a `string` is a bulk string (binary-safe, one char per byte, "latin1"), a `number`
 * or `bigint` is an integer, `null` is the null bulk string (RESP3 null) and an array
 * is an array. Everything else is one of the small classes below.
 */
export type Reply =
  | string
  | number
  | bigint
  | null
  | Reply[]
  | SimpleReply
  | ErrorReply
  | NullArrayReply
  | MapReply
  | SetReply
  | DoubleReply
  | BoolReply
  | VerbatimReply
  | PushReply;

/** `+OK`-style status reply. */
export class SimpleReply {
  constructor(readonly s: string) {}
}

/** `-ERR ...` reply; `s` holds the whole line without the dash, e.g. "ERR syntax error". */
export class ErrorReply {
  constructor(readonly s: string) {}
}

/**
 * An error a script passes on from a command it called: INFO errorstats counted it when the
 * command failed, so sending it does not count it again (Redis's rule).
 */
export class CountedError extends ErrorReply {}

/** RESP2 `*-1` (nil multi-bulk); RESP3 `_`. */
export class NullArrayReply {}

/** RESP3 map (`%`); a flat array of key, value, key, value in RESP2. */
export class MapReply {
  constructor(readonly entries: Reply[]) {}
}

/** RESP3 set (`~`); an array in RESP2. */
export class SetReply {
  constructor(readonly items: Reply[]) {}
}

/** RESP3 double (`,`); a bulk string in RESP2. */
export class DoubleReply {
  /** `text`: the digits to send when Redis prints this double its own way (GEOPOS's 17 decimals). */
  constructor(readonly n: number, readonly text?: string) {}
}

/** RESP3 boolean (`#`); the integer 1 or 0 in RESP2. */
export class BoolReply {
  constructor(readonly b: boolean) {}
}

/** RESP3 verbatim string (`=`, format such as "txt"); a bulk string in RESP2. */
export class VerbatimReply {
  constructor(readonly format: string, readonly s: string) {}
}

/** RESP3 push (`>`); an array in RESP2. */
export class PushReply {
  constructor(readonly items: Reply[]) {}
}

export const OK: Reply = new SimpleReply("OK");
export const QUEUED: Reply = new SimpleReply("QUEUED");
export const PONG: Reply = new SimpleReply("PONG");
export const NULL_ARRAY: Reply = new NullArrayReply();

/** Builds an error reply; `msg` must already carry its code ("ERR ...", "WRONGTYPE ..."). */
export function err(msg: string): ErrorReply {
  return new ErrorReply(msg);
}

/** Redis's standard error texts, in its words. */
export const E = {
  syntax: err("ERR syntax error"),
  notInt: err("ERR value is not an integer or out of range"),
  notFloat: err("ERR value is not a valid float"),
  overflow: err("ERR increment or decrement would overflow"),
  wrongType: err("WRONGTYPE Operation against a key holding the wrong kind of value"),
  noSuchKey: err("ERR no such key"),
  dbIndex: err("ERR DB index is out of range"),
  noAuth: err("NOAUTH Authentication required."),
  execAbort: err("EXECABORT Transaction discarded because of previous errors."),
  positive: err("ERR value is out of range, must be positive"),
  longRange: err(
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
  ),
  numkeys: err("ERR numkeys should be greater than 0"),
  countPositive: err("ERR count should be greater than 0"),
  limitNegative: err("ERR LIMIT can't be negative"),
  cursor: err("ERR invalid cursor"),
  invalidExpire: (cmd: string) => err(`ERR invalid expire time in '${cmd}' command`),
  arity: (cmd: string) => err(`ERR wrong number of arguments for '${cmd}' command`),
} as const;
