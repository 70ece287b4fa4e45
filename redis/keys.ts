/**
 * The generic key commands: DEL, UNLINK, EXISTS, TYPE, the EXPIRE/TTL family, PERSIST, KEYS, SCAN,
 * RANDOMKEY, RENAME(NX), TOUCH, COPY, MOVE, DBSIZE and OBJECT.
 *
 * Every write is a core op (core/fold.ts CORE_OPS): deletes are `["del"]`, expiries
 * `["pexpire", ms]` (relative to the effect's HLC) or `["pexpireat", ms]`, and copies `["restore",
 * type, encoded, deadline]`. RENAME and MOVE write two keys in one batch, so their effects form one
 * group and no reader ever sees half of them.
 *
 * SCAN's cursor is a slot index of the database's scan slots (core/keyspace.ts Db): a key keeps its
 * slot while it exists, so every key present for the whole scan is returned, whatever else is
 * added or deleted between calls.
 */
import type { EncodingLimits } from "./encodings.ts";
import type { KeyState } from "../core/keyspace.ts";
import { type Ctx, fail, getKey, type Handler, intArg, parseInt64, scanCursor, write } from "./command.ts";
import { globMatch } from "./command_table.ts";
import { E, err, OK, type Reply, SimpleReply } from "./reply.ts";

const I64_MAX = 2n ** 63n - 1n;
const I64_MIN = -(2n ** 63n);
const MAX_SECONDS = I64_MAX / 1000n;
const MIN_SECONDS = I64_MIN / 1000n; // truncated toward zero, as C division
/** |seconds| below this: seconds * 1000 + now stays far inside the safe-integer range. */
const FAST_EXPIRE_LIMIT = 1e12;
const TWO_POW_63 = 2 ** 63;

const SAME_OBJECT = err("ERR source and destination objects are the same");
const INT_RANGE = err("ERR value is out of range, value must between -2147483648 and 2147483647");
const NX_CONFLICT = err("ERR NX and XX, GT or LT options at the same time are not compatible");
const GT_LT_CONFLICT = err("ERR GT and LT options at the same time are not compatible");
const NOVALUES_SCAN = err("ERR NOVALUES option can only be used in HSCAN");
const NO_LFU = err(
  "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when " +
    "switching between policies at runtime LRU and LFU data will take some time to adjust.",
);

/** Random slots RANDOMKEY tries before it walks the slots from a random start. */
const RANDOMKEY_TRIES = 32;
/** SCAN's default COUNT. */
const SCAN_DEFAULT_COUNT = 10;
/** Type names SCAN TYPE knows besides the registered reducers'. */

/** Redis's shared integers: string values 0..9999 report REFCOUNT INT_MAX. */
const SHARED_INTEGERS = 10000;
const SHARED_REFCOUNT = 2147483647;

// ------------------------------------------------------------------ helpers

/** A read lookup that counts keyspace hits and misses (TYPE, EXISTS, TTL, OBJECT, TOUCH...). */
function readKey(ctx: Ctx, key: string, db = ctx.db): KeyState | undefined {
  const ks = ctx.batch.get(db, key);
  if (ks === undefined) ctx.engine.stats.keyspaceMisses++;
  else ctx.engine.stats.keyspaceHits++;
  return ks;
}

/** An integer reply for a number that may lie outside the safe range (huge deadlines). */
function intReply(n: number): number | bigint {
  if (Number.isSafeInteger(n)) return n;
  if (n >= TWO_POW_63) return I64_MAX;
  if (n <= -TWO_POW_63) return I64_MIN;
  return BigInt(Math.trunc(n));
}

/** Parses a DB index as Redis's int parser does (int64, then the int range), then checks bounds. */
function dbArg(ctx: Ctx, s: string): number {
  const n = parseInt64(s);
  if (n === null) fail(E.notInt);
  if (typeof n === "bigint" || n < -2147483648 || n > 2147483647) fail(INT_RANGE);
  if (n < 0 || n >= ctx.engine.dbs.length) fail(E.dbIndex);
  return n;
}

/** The `["restore", ...]` op that recreates `ks` elsewhere, value and deadline included. */
function restoreOp(ks: KeyState): unknown[] {
  const t = ks.type!;
  return ["restore", t.type, t.encode(ks.value), ks.deadline];
}

// ------------------------------------------------------------------ DEL, EXISTS, TYPE, TOUCH, DBSIZE

const del: Handler = (ctx, args) => {
  let n = 0;
  for (let i = 1; i < args.length; i++) {
    if (getKey(ctx, args[i]) === undefined) continue;
    write(ctx, args[i], ["del"]);
    n++;
  }
  return n;
};

const exists: Handler = (ctx, args) => {
  let n = 0;
  for (let i = 1; i < args.length; i++) if (readKey(ctx, args[i]) !== undefined) n++;
  return n;
};

const type: Handler = (ctx, args) => {
  const ks = readKey(ctx, args[1]);
  return new SimpleReply(ks === undefined ? "none" : ks.type!.type);
};

/** TOUCH: counts the keys that exist and resets their idle time (NO-TOUCH or not, as in Redis). */
const touch: Handler = (ctx, args) => {
  let n = 0;
  for (let i = 1; i < args.length; i++) {
    const ks = readKey(ctx, args[i]);
    if (ks === undefined) continue;
    ks.accessMs = ctx.batch.nowMs;
    n++;
  }
  return n;
};

const dbsize: Handler = (ctx) => ctx.engine.dbsize(ctx.db);

// ------------------------------------------------------------------ EXPIRE family

/**
 * EXPIRE (seconds, relative), PEXPIRE (ms, relative), EXPIREAT (seconds, absolute), PEXPIREAT (ms,
 * absolute), with NX | XX | GT | LT. Options are checked first, then the time, then the key.
 */
function expireCommand(name: string, seconds: boolean, absolute: boolean): Handler {
  const invalid = E.invalidExpire(name);
  return (ctx, args) => {
    let nx = false, xx = false, gt = false, lt = false;
    for (let i = 3; i < args.length; i++) {
      switch (args[i].toUpperCase()) {
        case "NX":
          nx = true;
          break;
        case "XX":
          xx = true;
          break;
        case "GT":
          gt = true;
          break;
        case "LT":
          lt = true;
          break;
        default:
          fail(err(`ERR Unsupported option ${args[i]}`));
      }
    }
    if (nx && (xx || gt || lt)) fail(NX_CONFLICT);
    if (gt && lt) fail(GT_LT_CONFLICT);
    const raw = intArg(args[2]);
    const now = ctx.batch.nowMs;
    // The absolute deadline in ms, checked against int64 overflow like Redis.
    let when: number;
    if (typeof raw === "number" && raw < FAST_EXPIRE_LIMIT && raw > -FAST_EXPIRE_LIMIT) {
      when = (seconds ? raw * 1000 : raw) + (absolute ? 0 : now);
    } else {
      let w = BigInt(raw);
      if (seconds) {
        if (w > MAX_SECONDS || w < MIN_SECONDS) fail(invalid);
        w *= 1000n;
      }
      if (!absolute) {
        if (w > I64_MAX - BigInt(now)) fail(invalid);
        w += BigInt(now);
      }
      when = Number(w);
    }
    const ks = getKey(ctx, args[1]);
    if (ks === undefined) return 0;
    const cur = ks.deadline; // 0: no TTL, which GT and LT treat as infinite
    if (nx && cur !== 0) return 0;
    if (xx && cur === 0) return 0;
    if (gt && (cur === 0 || when <= cur)) return 0;
    if (lt && cur !== 0 && when >= cur) return 0;
    if (when <= now) write(ctx, args[1], ["del"]);
    else if (absolute) write(ctx, args[1], ["pexpireat", when]);
    else write(ctx, args[1], ["pexpire", when - now]);
    return 1;
  };
}

/** TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 when absent, -1 without a TTL. */
function ttlCommand(ms: boolean, absolute: boolean): Handler {
  return (ctx, args) => {
    const ks = readKey(ctx, args[1]);
    if (ks === undefined) return -2;
    const d = ks.deadline;
    if (d === 0) return -1;
    if (absolute) return intReply(ms ? d : Math.trunc(d / 1000));
    let left = d - ctx.batch.nowMs;
    if (left < 0) left = 0;
    return intReply(ms ? left : Math.floor((left + 500) / 1000));
  };
}

const persist: Handler = (ctx, args) => {
  const ks = getKey(ctx, args[1]);
  if (ks === undefined || ks.deadline === 0) return 0;
  write(ctx, args[1], ["persist"]);
  return 1;
};

// ------------------------------------------------------------------ KEYS, SCAN, RANDOMKEY

const keys: Handler = (ctx, args) => {
  const pattern = args[1];
  const all = pattern === "*";
  const out: Reply[] = [];
  // Deleting the current entry (lazy expiry inside getKey) is safe during Map iteration.
  for (const [key, ks] of ctx.engine.dbs[ctx.db].map) {
    if (ks.type === null) continue;
    if (!all && !globMatch(pattern, key, false)) continue;
    if (getKey(ctx, key) !== undefined) out.push(key);
  }
  return out;
};

const scan: Handler = (ctx, args) => {
  const cursor = scanCursor(args[1]);
  let count = SCAN_DEFAULT_COUNT;
  let pattern: string | null = null;
  let typeName: string | null = null;
  for (let i = 2; i < args.length; i++) {
    const opt = args[i].toUpperCase();
    const hasValue = i + 1 < args.length;
    if (opt === "COUNT" && hasValue) {
      const n = intArg(args[++i]);
      if (n < 1) fail(E.syntax);
      count = typeof n === "bigint" ? Number.MAX_SAFE_INTEGER : n;
    } else if (opt === "MATCH" && hasValue) {
      const p = args[++i];
      pattern = p === "*" ? null : p;
    } else if (opt === "TYPE" && hasValue) {
      const name = args[++i];
      const t = name.toLowerCase();
      // Redis 8 matches no key for an unknown type name (7.x answered an error).
      typeName = t;
    } else if (opt === "NOVALUES") {
      fail(NOVALUES_SCAN);
    } else {
      fail(E.syntax);
    }
  }
  const slots = ctx.engine.dbs[ctx.db].slots;
  const out: Reply[] = [];
  let i = cursor;
  // Visit up to `count` slots; `slots` may shrink as expired keys are freed along the way.
  for (let visited = 0; visited < count && i < slots.length; visited++, i++) {
    const key = slots[i];
    if (key === undefined) continue;
    if (typeName !== null) {
      // Only keys of the requested type are looked up (and so lazily expired), as Redis does.
      const raw = ctx.engine.dbs[ctx.db].map.get(key);
      if (raw === undefined || raw.type === null || raw.type.type !== typeName) continue;
    }
    if (pattern !== null && !globMatch(pattern, key, false)) continue;
    if (getKey(ctx, key) !== undefined) out.push(key);
  }
  return [i >= slots.length ? "0" : String(i), out];
};

const randomkey: Handler = (ctx) => {
  const d = ctx.engine.dbs[ctx.db];
  if (d.live === 0) return null;
  const env = ctx.engine.env;
  for (let t = 0; t < RANDOMKEY_TRIES && d.slots.length > 0; t++) {
    const key = d.slots[Math.floor(env.random() * d.slots.length)];
    if (key !== undefined && getKey(ctx, key) !== undefined) return key;
  }
  // Sparse slots or many expired keys: walk every slot once from a random start.
  const len = d.slots.length;
  if (len === 0) return null;
  const start = Math.floor(env.random() * len);
  for (let j = 0; j < len; j++) {
    const i = (start + j) % len;
    if (i >= d.slots.length) continue;
    const key = d.slots[i];
    if (key !== undefined && getKey(ctx, key) !== undefined) return key;
  }
  return null;
};

// ------------------------------------------------------------------ RENAME, COPY, MOVE

function renameCommand(nx: boolean): Handler {
  return (ctx, args) => {
    const src = args[1], dst = args[2];
    const ks = getKey(ctx, src);
    if (ks === undefined) fail(E.noSuchKey);
    if (src === dst) return nx ? 0 : OK;
    if (nx && getKey(ctx, dst) !== undefined) return 0;
    const op = restoreOp(ks);
    write(ctx, dst, op);
    write(ctx, src, ["del"]);
    return nx ? 1 : OK;
  };
}

const copy: Handler = (ctx, args) => {
  const src = args[1], dst = args[2];
  let dstDb = ctx.db;
  let replace = false;
  for (let i = 3; i < args.length; i++) {
    const opt = args[i].toUpperCase();
    if (opt === "REPLACE") {
      replace = true;
    } else if (opt === "DB" && i + 1 < args.length) {
      dstDb = dbArg(ctx, args[++i]);
    } else {
      fail(E.syntax);
    }
  }
  if (dstDb === ctx.db && src === dst) fail(SAME_OBJECT);
  const ks = readKey(ctx, src);
  if (ks === undefined) return 0;
  if (!replace && getKey(ctx, dst, dstDb) !== undefined) return 0;
  write(ctx, dst, restoreOp(ks), dstDb);
  return 1;
};

const move: Handler = (ctx, args) => {
  const key = args[1];
  const dstDb = dbArg(ctx, args[2]);
  if (dstDb === ctx.db) fail(SAME_OBJECT);
  const ks = getKey(ctx, key);
  if (ks === undefined) return 0;
  if (getKey(ctx, key, dstDb) !== undefined) return 0;
  write(ctx, key, restoreOp(ks), dstDb);
  write(ctx, key, ["del"]);
  return 1;
};

// ------------------------------------------------------------------ OBJECT

/** A string value as its bytes (one char per byte), when the representation is recognizable. */
function stringText(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (v instanceof Uint8Array) {
    let s = "";
    for (let i = 0; i < v.length; i++) s += String.fromCharCode(v[i]);
    return s;
  }
  return null;
}

/** True when `s` is an int64 in canonical form (Redis's string2ll: no "-0", no leading zeros). */
function isInt64Text(s: string): boolean {
  return s.length <= 20 && s !== "-0" && parseInt64(s) !== null;
}

/** Byte length of a list element in a representation we recognize, else 0. */
function elementBytes(e: unknown): number {
  if (typeof e === "string") return e.length;
  if (e instanceof Uint8Array) return e.length;
  return 0;
}

/** Element count of a collection value (`length` or `size`), or -1 when unknown. */
function collectionSize(v: unknown): number {
  if (v === null || typeof v !== "object") return -1;
  const o = v as { length?: unknown; size?: unknown };
  if (typeof o.length === "number") return o.length;
  if (typeof o.size === "number") return o.size;
  return -1;
}

/**
 * The internal encoding Redis would report. A reducer may answer itself with an optional
 * `encoding(value)` method; otherwise it is inferred from the type and the value's size.
 */
export function objectEncoding(ks: KeyState, limits: EncodingLimits): string {
  const t = ks.type!;
  const own = (t as { encoding?: (value: unknown, limits: EncodingLimits) => string }).encoding;
  if (typeof own === "function") return own.call(t, ks.value, limits);
  const n = collectionSize(ks.value);
  switch (t.type) {
    case "string": {
      const s = stringText(ks.value);
      if (s === null) return "raw";
      if (isInt64Text(s)) return "int";
      return s.length <= 44 ? "embstr" : "raw";
    }
    case "list": {
      if (n > 128) return "quicklist";
      // Element sizes, when the list offers `at(i)` (redis/types/list.ts ListState does).
      const at = (ks.value as { at?: (i: number) => unknown }).at;
      if (typeof at === "function") {
        for (let i = 0; i < n; i++) if (elementBytes(at.call(ks.value, i)) > 64) return "quicklist";
      }
      return "listpack";
    }
    case "hash":
      return n > limits["hash-max-listpack-entries"] ? "hashtable" : "listpack";
    case "set":
      return n > limits["set-max-listpack-entries"] ? "hashtable" : "listpack";
    case "zset":
      return n > limits["zset-max-listpack-entries"] ? "skiplist" : "listpack";
    case "stream":
      return "stream";
    default:
      return "raw";
  }
}

const objectEncodingCmd: Handler = (ctx, args) => {
  const ks = readKey(ctx, args[2]);
  return ks === undefined ? null : objectEncoding(ks, ctx.face.config.encodings);
};

const objectRefcount: Handler = (ctx, args) => {
  const ks = readKey(ctx, args[2]);
  if (ks === undefined) return null;
  if (ks.type!.type === "string") {
    const s = stringText(ks.value);
    if (s !== null && isInt64Text(s)) {
      const n = Number(s);
      if (n >= 0 && n < SHARED_INTEGERS) return SHARED_REFCOUNT;
    }
  }
  return 1;
};

const LFU_SELECTED = err(
  "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching " +
    "between policies at runtime LRU and LFU data will take some time to adjust.",
);

/** OBJECT IDLETIME: seconds since a command last read or wrote the key on this node. */
const objectIdletime: Handler = (ctx, args) => {
  const ks = readKey(ctx, args[2]);
  if (ks === undefined) return null;
  if (ctx.face.config.maxmemoryPolicy.includes("lfu")) fail(LFU_SELECTED);
  return Math.max(0, Math.floor((ctx.batch.nowMs - ks.accessMs) / 1000));
};

const objectFreq: Handler = (ctx, args) => {
  if (readKey(ctx, args[2]) === undefined) return null;
  return fail(NO_LFU);
};

const OBJECT_HELP: readonly string[] = [
  "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "ENCODING <key>",
  "    Return the kind of internal representation used in order to store the value",
  "    associated with a <key>.",
  "FREQ <key>",
  "    Return the access frequency index of the <key>. The returned integer is",
  "    proportional to the logarithm of the recent access frequency of the key.",
  "IDLETIME <key>",
  "    Return the idle time of the <key>, that is the approximated number of",
  "    seconds elapsed since the last access to the key.",
  "REFCOUNT <key>",
  "    Return the number of references of the value associated with the specified",
  "    <key>.",
  "HELP",
  "    Print this help.",
];

const objectHelp: Handler = () => OBJECT_HELP.map((l) => new SimpleReply(l));

// ------------------------------------------------------------------ table

export const keyCommands: Record<string, Handler> = {
  del,
  unlink: del,
  exists,
  type,
  expire: expireCommand("expire", true, false),
  pexpire: expireCommand("pexpire", false, false),
  expireat: expireCommand("expireat", true, true),
  pexpireat: expireCommand("pexpireat", false, true),
  ttl: ttlCommand(false, false),
  pttl: ttlCommand(true, false),
  expiretime: ttlCommand(false, true),
  pexpiretime: ttlCommand(true, true),
  persist,
  keys,
  scan,
  randomkey,
  rename: renameCommand(false),
  renamenx: renameCommand(true),
  touch,
  copy,
  move,
  dbsize,
  "object|encoding": objectEncodingCmd,
  "object|refcount": objectRefcount,
  "object|idletime": objectIdletime,
  "object|freq": objectFreq,
  "object|help": objectHelp,
};
