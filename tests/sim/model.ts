/**
 * The reference model of one node's keyspace for the simulator's workload: what Redis would do,
 * written from its documented behaviour and independent of `redis/`.
 *
 * Expiry is modelled only as "has a TTL" (the workload's TTLs are far longer than any run).
 */
import { R } from "./resp.ts";

export type Val =
  | { type: "string"; s: string; ttl: boolean }
  | { type: "list"; items: string[]; ttl: boolean };

export type State = Map<string, Val>;

export const WRONGTYPE = R.error("WRONGTYPE Operation against a key holding the wrong kind of value");
export const NOT_INT = R.error("ERR value is not an integer or out of range");
export const OVERFLOW = R.error("ERR increment or decrement would overflow");

const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

export function cloneState(s: State): State {
  const out: State = new Map();
  for (const [k, v] of s) out.set(k, v.type === "string" ? { ...v } : { ...v, items: [...v.items] });
  return out;
}

/**
 * One key as the read-back renders it: "none", or its type, its value as GET or LRANGE replies
 * with it, and " ttl" when it has one.
 */
export function renderKey(v: Val | undefined): string {
  if (v === undefined) return "none";
  const value = v.type === "string" ? R.bulk(v.s) : R.array(v.items.map((x) => R.bulk(x)));
  return `${v.type} ${value}${v.ttl ? " ttl" : ""}`;
}

/** The whole state, keys sorted. */
export function renderState(s: State): string {
  return [...s.keys()].sort().map((k) => `${k}=${renderKey(s.get(k))}`).join(" ");
}

/** Redis's string2ll: no sign but "-", no leading zeros, no spaces, within int64. */
function parseInt64(s: string): bigint | null {
  if (!/^(0|-?[1-9][0-9]{0,19})$/.test(s)) return null;
  const n = BigInt(s);
  return n < I64_MIN || n > I64_MAX ? null : n;
}

/** Applies one command to `state` and returns its expected canonical reply. */
export function applyCommand(state: State, args: readonly string[]): string {
  const name = args[0].toUpperCase();
  switch (name) {
    case "GET": {
      const v = state.get(args[1]);
      if (v === undefined) return R.bulk(null);
      return v.type === "string" ? R.bulk(v.s) : WRONGTYPE;
    }
    case "LRANGE": {
      // The workload only asks for the whole list.
      const v = state.get(args[1]);
      if (v === undefined) return R.array([]);
      return v.type === "list" ? R.array(v.items.map((x) => R.bulk(x))) : WRONGTYPE;
    }
    case "SET":
      state.set(args[1], { type: "string", s: args[2], ttl: false });
      return R.ok;
    case "MSET":
      for (let i = 1; i + 1 < args.length; i += 2) {
        state.set(args[i], { type: "string", s: args[i + 1], ttl: false });
      }
      return R.ok;
    case "INCR": {
      const v = state.get(args[1]);
      if (v === undefined) {
        state.set(args[1], { type: "string", s: "1", ttl: false });
        return R.int(1);
      }
      if (v.type !== "string") return WRONGTYPE;
      const n = parseInt64(v.s);
      if (n === null) return NOT_INT;
      if (n + 1n > I64_MAX) return OVERFLOW;
      v.s = String(n + 1n);
      return R.int(n + 1n);
    }
    case "APPEND": {
      const v = state.get(args[1]);
      if (v === undefined) {
        state.set(args[1], { type: "string", s: args[2], ttl: false });
        return R.int(args[2].length);
      }
      if (v.type !== "string") return WRONGTYPE;
      v.s += args[2];
      return R.int(v.s.length);
    }
    case "DEL": {
      let n = 0;
      for (const k of args.slice(1)) if (state.delete(k)) n++;
      return R.int(n);
    }
    case "RPUSH": {
      const v = state.get(args[1]);
      if (v === undefined) {
        state.set(args[1], { type: "list", items: args.slice(2), ttl: false });
        return R.int(args.length - 2);
      }
      if (v.type !== "list") return WRONGTYPE;
      v.items.push(...args.slice(2));
      return R.int(v.items.length);
    }
    case "LPOP": {
      const v = state.get(args[1]);
      if (v === undefined) return R.bulk(null);
      if (v.type !== "list") return WRONGTYPE;
      const x = v.items.shift()!;
      if (v.items.length === 0) state.delete(args[1]);
      return R.bulk(x);
    }
    case "EXPIRE": {
      // Only positive TTLs far beyond the run's length are generated.
      const v = state.get(args[1]);
      if (v === undefined) return R.int(0);
      v.ttl = true;
      return R.int(1);
    }
    default:
      throw new Error(`model: command ${name} not modelled`);
  }
}
