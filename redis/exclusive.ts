/**
 * Which commands are exclusive (DESIGN.md section 4): their reply promises something about
 * concurrent commands on other nodes, so in a cluster of several nodes they need envelope-commit.
 * Until it exists they answer -PARTITIONED there rather than risk a duplicate pop or a
 * conditional write that holds on one node only. docs/compatibility.md lists the classes.
 */
import { upper } from "./command.ts";
import { genericExclusive } from "./generic.ts";
import { bitmapExclusive } from "./types/bitmap.ts";
import { geoExclusive } from "./types/geo.ts";
import { hashExclusive } from "./types/hash.ts";
import { hllExclusive } from "./types/hll.ts";
import { listExclusive } from "./types/list.ts";
import { setExclusive } from "./types/set.ts";
import { streamExclusive } from "./types/stream.ts";
import { zsetExclusive } from "./types/zset.ts";

/** Per-family rules (each type module owns its own): why the command is exclusive, or null. */
const FAMILY: Record<string, (args: readonly string[]) => string | null> = {
  ...genericExclusive,
  ...bitmapExclusive,
  ...hllExclusive,
  ...listExclusive,
  ...hashExclusive,
  ...setExclusive,
  ...zsetExclusive,
  ...geoExclusive,
  ...streamExclusive,
};

/** Always exclusive: pops, moves, read-modify-writes whose reply depends on the old value. */
const ALWAYS = new Set([
  "lpop",
  "rpop",
  "lmpop",
  "lmove",
  "rpoplpush",
  "blpop",
  "brpop",
  "blmpop",
  "blmove",
  "brpoplpush",
  "spop",
  "smove",
  "zpopmin",
  "zpopmax",
  "zmpop",
  "bzpopmin",
  "bzpopmax",
  "bzmpop",
  "getset",
  "getdel",
  "setnx",
  "msetnx",
  "hsetnx",
  "rename",
  "renamenx",
  "copy",
  "move",
  "multi",
  "xreadgroup",
  "xack",
  "xackdel",
  "xclaim",
  "xautoclaim",
  "xgroup",
  "xadd",
  "eval",
  "evalsha",
  "fcall",
]);

/** Options that make SET conditional or make it read the old value. */
const SET_CONDITIONS = new Set(["NX", "XX", "GET", "IFEQ", "IFNE", "IFDEQ", "IFDNE"]);

/** Why a command is exclusive, or null when it is coordination-free. */
export function exclusiveReason(name: string, args: readonly string[]): string | null {
  // A subcommand ("xgroup|create") is exclusive when its container is; HELP only answers text.
  const bar = name.indexOf("|");
  if (ALWAYS.has(name) || (bar > 0 && ALWAYS.has(name.slice(0, bar)) && !name.endsWith("|help"))) {
    return `${name.toUpperCase().replace("|", " ")} is an exclusive command`;
  }
  const rule = FAMILY[name];
  if (rule !== undefined) return rule(args);
  switch (name) {
    case "set":
      for (let i = 3; i < args.length; i++) {
        if (SET_CONDITIONS.has(upper(args[i]))) return `SET ${upper(args[i])} is a conditional write`;
      }
      return null;
    case "getex":
      return args.length > 2 ? "GETEX with options writes what it read" : null;
    case "delex":
      return args.length > 2 ? "DELEX with a condition is a conditional write" : null;
    case "expire":
    case "pexpire":
    case "expireat":
    case "pexpireat":
      return args.length > 3 ? `${name.toUpperCase()} ${upper(args[3])} is a conditional write` : null;
    case "msetex": {
      // MSETEX numkeys key value [key value ...] [NX | XX] [...]: options follow the pairs.
      const n = Number(args[1]);
      for (let i = Number.isInteger(n) && n > 0 ? 2 + 2 * n : args.length; i < args.length; i++) {
        const u = upper(args[i]);
        if (u === "NX" || u === "XX") return `MSETEX ${u} is a conditional write`;
      }
      return null;
    }
  }
  return null;
}
