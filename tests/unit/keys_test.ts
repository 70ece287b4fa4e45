import { beforeEach, describe, expect, test } from "bun:test";
import { defaultEncodingLimits } from "../../redis/encodings.ts";
import fc from "fast-check";
import { Engine } from "../../core/engine.ts";
import { type Env, noStorage } from "../../core/env.ts";
import type { Reducer } from "../../core/reducer.ts";
import { CommandError, type Ctx } from "../../redis/command.ts";
import { keyCommands } from "../../redis/keys.ts";
import { ErrorReply, type Reply, SimpleReply } from "../../redis/reply.ts";

// ------------------------------------------------------------------ fixtures

/** A tiny string type: `["set", v]`. */
const strType: Reducer<string> = {
  type: "string",
  opcodes: ["set"],
  apply: (s, op) => ({ state: op[1] as string, undo: s, delta: (op[1] as string).length - (s?.length ?? 0) }),
  undo: (_s, u) => u as string | undefined,
  size: (s) => s.length,
  encode: (s) => s,
  decode: (d) => d as string,
  canonical: (s) => s,
  event: () => "set",
};

/** A tiny list type: `["rpush", values]`; the state is an immutable array. */
const listType: Reducer<string[]> = {
  type: "list",
  opcodes: ["rpush"],
  apply: (s, op) => {
    const vals = op[1] as string[];
    return { state: [...(s ?? []), ...vals], undo: s, delta: vals.reduce((n, v) => n + v.length, 0) };
  },
  undo: (_s, u) => u as string[] | undefined,
  size: (s) => s.reduce((n, v) => n + v.length, 0),
  encode: (s) => [...s],
  decode: (d) => [...(d as string[])],
  canonical: (s) => JSON.stringify(s),
  event: () => "rpush",
};

const START_MS = 1_700_000_000_000;
let clock = START_MS;
let engine: Engine;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeEngine(seed = 1): Engine {
  clock = START_MS;
  const env: Env = {
    monotonicMs: () => clock - START_MS,
    wallMs: () => clock,
    random: mulberry32(seed),
    setTimer: () => null,
    clearTimer: () => {},
    storage: noStorage,
    log: () => {},
    buggify: () => false,
  };
  const e = new Engine(env, { reducers: [strType, listType] });
  e.open();
  return e;
}

/** Runs one command on a fresh batch (time is read at batch creation) and commits it. */
function run(args: string[], db = 0): Reply {
  let name = args[0].toLowerCase();
  if (name === "object") name += "|" + args[1].toLowerCase();
  const handler = keyCommands[name];
  if (handler === undefined) throw new Error(`no handler ${name}`);
  const batch = engine.begin();
  const ctx: Ctx = {
    face: {
      touched() {},
      digest: () => "0",
      config: { encodings: defaultEncodingLimits(), maxmemoryPolicy: "noeviction" },
    } as any,
    engine,
    client: {} as any,
    batch,
    db,
  };
  let reply: Reply;
  try {
    reply = handler(ctx, args) as Reply;
  } catch (e) {
    if (!(e instanceof CommandError)) throw e;
    reply = e.reply;
  }
  batch.commit(() => {});
  return reply;
}

/** Runs a command that must succeed. */
function r(...args: string[]): Reply {
  const reply = run(args);
  if (reply instanceof ErrorReply) throw new Error(`${args.join(" ")}: ${reply.s}`);
  return reply;
}

/** Runs a command in `db`. */
function rdb(db: number, ...args: string[]): Reply {
  return run(args, db);
}

/** The error text of a command that must fail. */
function errorOf(...args: string[]): string {
  const reply = run(args);
  if (!(reply instanceof ErrorReply)) {
    throw new Error(`expected an error from ${args.join(" ")}, got ${String(reply)}`);
  }
  return reply.s;
}

/** Writes a string value directly (the string commands are another module). */
function set(key: string, value: string, db = 0): void {
  const b = engine.begin();
  b.write(db, key, ["set", value]);
  b.commit(() => {});
}

function rpush(key: string, values: string[], db = 0): void {
  const b = engine.begin();
  b.write(db, key, ["rpush", values]);
  b.commit(() => {});
}

function get(key: string, db = 0): unknown {
  return engine.begin().get(db, key)?.value;
}

function status(reply: Reply): string {
  if (!(reply instanceof SimpleReply)) throw new Error(`not a status reply: ${String(reply)}`);
  return reply.s;
}

/** Full SCAN iteration; returns the keys (with duplicates) and the number of calls. */
function scanAll(extra: string[] = [], db = 0): string[] {
  const out: string[] = [];
  let cursor = "0";
  for (let calls = 0; calls < 100_000; calls++) {
    const [next, keys] = rdb(db, "SCAN", cursor, ...extra) as [string, string[]];
    expect(typeof next).toBe("string");
    out.push(...keys);
    cursor = next;
    if (cursor === "0") return out;
  }
  throw new Error("SCAN did not terminate");
}

beforeEach(() => {
  engine = makeEngine();
});

// ------------------------------------------------------------------ tests

describe("DEL, UNLINK, EXISTS, TYPE, TOUCH, DBSIZE", () => {
  test("DEL counts removed keys, once per key", () => {
    set("a", "1");
    set("b", "2");
    expect(r("DEL", "a", "a", "b", "nokey")).toBe(2);
    expect(r("EXISTS", "a", "b")).toBe(0);
    expect(r("DEL", "a")).toBe(0);
    expect(r("DBSIZE")).toBe(0);
  });

  test("UNLINK behaves as DEL", () => {
    set("a", "1");
    set("b", "2");
    expect(r("UNLINK", "a", "x", "b")).toBe(2);
    expect(r("DBSIZE")).toBe(0);
  });

  test("EXISTS counts duplicates", () => {
    set("a", "1");
    expect(r("EXISTS", "a", "a", "a", "nokey")).toBe(3);
  });

  test("TYPE", () => {
    set("s", "x");
    rpush("l", ["a"]);
    expect(status(r("TYPE", "s"))).toBe("string");
    expect(status(r("TYPE", "l"))).toBe("list");
    expect(status(r("TYPE", "nokey"))).toBe("none");
  });

  test("TOUCH counts existing keys", () => {
    set("a", "1");
    set("b", "2");
    expect(r("TOUCH", "a", "b", "c", "a")).toBe(3);
  });

  test("DBSIZE per database", () => {
    set("a", "1");
    set("b", "1");
    set("c", "1", 3);
    expect(r("DBSIZE")).toBe(2);
    expect(rdb(3, "DBSIZE")).toBe(1);
    expect(rdb(4, "DBSIZE")).toBe(0);
  });

  test("keyspace hits and misses are counted by read lookups", () => {
    set("a", "1");
    const { keyspaceHits: h, keyspaceMisses: m } = engine.stats;
    r("EXISTS", "a", "b");
    expect(engine.stats.keyspaceHits - h).toBe(1);
    expect(engine.stats.keyspaceMisses - m).toBe(1);
  });
});

describe("EXPIRE family and TTL", () => {
  test("EXPIRE sets a TTL and the key expires when the clock passes it", () => {
    set("x", "foobar");
    expect(r("EXPIRE", "x", "5")).toBe(1);
    expect(r("TTL", "x")).toBe(5);
    expect(r("EXPIRE", "x", "10")).toBe(1);
    expect(r("TTL", "x")).toBe(10);
    expect(r("PTTL", "x")).toBe(10_000);
    clock += 9_999;
    expect(r("EXISTS", "x")).toBe(1);
    expect(r("PTTL", "x")).toBe(1);
    clock += 1;
    expect(r("EXISTS", "x")).toBe(0);
    expect(r("TTL", "x")).toBe(-2);
    expect(r("DBSIZE")).toBe(0);
  });

  test("TTL rounds to the nearest second like Redis", () => {
    set("x", "v");
    r("PEXPIRE", "x", "1499");
    expect(r("TTL", "x")).toBe(1);
    r("PEXPIRE", "x", "1500");
    expect(r("TTL", "x")).toBe(2);
    r("PEXPIRE", "x", "499");
    expect(r("TTL", "x")).toBe(0);
  });

  test("PEXPIRE, EXPIREAT, PEXPIREAT, EXPIRETIME, PEXPIRETIME", () => {
    set("x", "v");
    const now = engine.begin().nowMs;
    expect(r("PEXPIRE", "x", "100")).toBe(1);
    expect(r("PEXPIRETIME", "x")).toBe(now + 100);
    const absS = Math.floor(clock / 1000) + 100;
    expect(r("EXPIREAT", "x", String(absS))).toBe(1);
    expect(r("EXPIRETIME", "x")).toBe(absS);
    expect(r("PEXPIRETIME", "x")).toBe(absS * 1000);
    expect(r("PEXPIREAT", "x", String(clock + 1234))).toBe(1);
    expect(r("PEXPIRETIME", "x")).toBe(clock + 1234);
    expect(r("EXPIRETIME", "x")).toBe(Math.trunc((clock + 1234) / 1000));
    clock += 1234;
    expect(r("EXISTS", "x")).toBe(0);
  });

  test("-1 without TTL, -2 when absent", () => {
    set("x", "hello");
    for (const c of ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"]) {
      expect(r(c, "x")).toBe(-1);
      expect(r(c, "nokey")).toBe(-2);
    }
  });

  test("a time in the past deletes the key", () => {
    set("a", "1");
    expect(r("EXPIRE", "a", "0")).toBe(1);
    expect(r("EXISTS", "a")).toBe(0);
    set("b", "1");
    expect(r("EXPIREAT", "b", String(Math.floor(clock / 1000) - 100))).toBe(1);
    expect(r("EXISTS", "b")).toBe(0);
    set("c", "1");
    expect(r("PEXPIRE", "c", "-5")).toBe(1);
    expect(r("TTL", "c")).toBe(-2);
    set("d", "1");
    expect(r("PEXPIREAT", "d", "-9223372036854770000")).toBe(1);
    expect(r("TTL", "d")).toBe(-2);
  });

  test("EXPIRE on a missing key answers 0 and creates nothing", () => {
    for (const o of [[], ["NX"], ["XX"], ["GT"], ["LT"]]) expect(r("EXPIRE", "none", "100", ...o)).toBe(0);
    expect(r("EXPIRE", "none", "-1")).toBe(0);
    expect(r("DBSIZE")).toBe(0);
    expect(engine.dbs[0].map.size).toBe(0);
  });

  test("NX, XX, GT, LT", () => {
    const ttl = () => r("TTL", "foo");
    const withTtl = (s: number) => {
      set("foo", "bar");
      r("PERSIST", "foo");
      if (s > 0) r("EXPIRE", "foo", String(s));
    };
    withTtl(100);
    expect(r("EXPIRE", "foo", "200", "NX")).toBe(0);
    expect(ttl()).toBe(100);
    withTtl(0);
    expect(r("EXPIRE", "foo", "200", "NX")).toBe(1);
    expect(ttl()).toBe(200);
    withTtl(100);
    expect(r("EXPIRE", "foo", "200", "XX")).toBe(1);
    expect(ttl()).toBe(200);
    withTtl(0);
    expect(r("EXPIRE", "foo", "200", "XX")).toBe(0);
    expect(ttl()).toBe(-1);
    withTtl(100);
    expect(r("EXPIRE", "foo", "200", "GT")).toBe(1);
    expect(ttl()).toBe(200);
    withTtl(200);
    expect(r("EXPIRE", "foo", "100", "GT")).toBe(0);
    expect(r("EXPIRE", "foo", "200", "GT")).toBe(0); // equal is not greater
    expect(ttl()).toBe(200);
    withTtl(0);
    expect(r("EXPIRE", "foo", "200", "GT")).toBe(0);
    expect(ttl()).toBe(-1);
    withTtl(100);
    expect(r("EXPIRE", "foo", "200", "LT")).toBe(0);
    expect(ttl()).toBe(100);
    withTtl(200);
    expect(r("EXPIRE", "foo", "100", "lt")).toBe(1);
    expect(ttl()).toBe(100);
    withTtl(0);
    expect(r("EXPIRE", "foo", "100", "LT")).toBe(1);
    expect(ttl()).toBe(100);
    withTtl(200);
    expect(r("EXPIRE", "foo", "100", "LT", "XX")).toBe(1);
    expect(ttl()).toBe(100);
    withTtl(0);
    expect(r("EXPIRE", "foo", "200", "LT", "XX")).toBe(0);
    expect(ttl()).toBe(-1);
    withTtl(0);
    expect(r("EXPIRE", "foo", "200", "NX", "NX")).toBe(1);
    withTtl(100);
    expect(r("EXPIRE", "foo", "-10", "LT")).toBe(1);
    expect(ttl()).toBe(-2);
    withTtl(0);
    expect(r("EXPIRE", "foo", "-10", "LT")).toBe(1);
    expect(ttl()).toBe(-2);
  });

  test("option errors come before the time and the key", () => {
    set("foo", "bar");
    const gtlt = "ERR GT and LT options at the same time are not compatible";
    const nx = "ERR NX and XX, GT or LT options at the same time are not compatible";
    expect(errorOf("EXPIRE", "foo", "200", "LT", "GT")).toBe(gtlt);
    expect(errorOf("EXPIRE", "foo", "200", "NX", "GT")).toBe(nx);
    expect(errorOf("EXPIRE", "foo", "200", "NX", "LT")).toBe(nx);
    expect(errorOf("EXPIRE", "foo", "200", "NX", "XX")).toBe(nx);
    expect(errorOf("EXPIRE", "foo", "200", "GT", "LT", "NX")).toBe(nx);
    expect(errorOf("EXPIRE", "foo", "200", "AB")).toBe("ERR Unsupported option AB");
    expect(errorOf("EXPIRE", "foo", "200", "XX", "ab")).toBe("ERR Unsupported option ab");
    expect(errorOf("EXPIRE", "foo", "abc", "FOO")).toBe("ERR Unsupported option FOO");
    expect(errorOf("EXPIRE", "foo", "abc", "NX", "XX")).toBe(nx);
    expect(errorOf("EXPIRE", "nokey", "abc")).toBe("ERR value is not an integer or out of range");
    expect(errorOf("EXPIRE", "foo", "")).toBe("ERR value is not an integer or out of range");
    expect(r("TTL", "foo")).toBe(-1);
  });

  test("overflowing times are refused", () => {
    set("foo", "bar");
    for (const t of ["9223370399119966", "9223372036854776", "10000000000000000", "18446744073709561"]) {
      expect(errorOf("EXPIRE", "foo", t)).toBe("ERR invalid expire time in 'expire' command");
    }
    for (const t of ["-9223372036854776", "-9999999999999999"]) {
      expect(errorOf("EXPIRE", "foo", t)).toBe("ERR invalid expire time in 'expire' command");
    }
    expect(errorOf("EXPIREAT", "foo", "99999999999999999")).toBe(
      "ERR invalid expire time in 'expireat' command",
    );
    expect(errorOf("PEXPIRE", "foo", "9223372036854770000")).toBe(
      "ERR invalid expire time in 'pexpire' command",
    );
    expect(errorOf("PEXPIRE", "foo", "9223372036854775808")).toBe(
      "ERR value is not an integer or out of range",
    );
    expect(r("TTL", "foo")).toBe(-1);
  });

  test("huge absolute deadlines work", () => {
    set("foo", "bar");
    expect(r("PEXPIREAT", "foo", "9223372036854775807")).toBe(1);
    expect(r("PEXPIRETIME", "foo")).toBe(9223372036854775807n);
    expect(r("EXPIRE", "foo", "100", "LT")).toBe(1);
    expect(r("TTL", "foo")).toBe(100);
    // Past 2^53 ms a deadline is a float: accepted, replied approximately (documented).
    expect(r("EXPIREAT", "foo", "9223372036854775")).toBe(1);
    expect(r("TTL", "foo")).toBeGreaterThan(9e15);
  });

  test("relative expiry is written as pexpire, absolute as pexpireat, the past as del", () => {
    set("k", "v");
    const ops = (args: string[]) => {
      const batch = engine.begin();
      const ctx = { face: { touched() {} } as any, engine, client: {} as any, batch, db: 0 };
      keyCommands[args[0]](ctx, args);
      const out = [...batch.effects.values()].map((x) => x.e.ops);
      batch.commit(() => {});
      return out;
    };
    expect(ops(["expire", "k", "10"])).toEqual([[["pexpire", 10_000]]]);
    expect(ops(["pexpireat", "k", String(clock + 5000)])).toEqual([[["pexpireat", clock + 5000]]]);
    expect(ops(["persist", "k"])).toEqual([[["persist"]]]);
    expect(ops(["persist", "k"])).toEqual([]);
    expect(ops(["pexpire", "k", "0"])).toEqual([[["del"]]]);
  });

  test("PERSIST", () => {
    set("x", "foo");
    r("EXPIRE", "x", "50");
    expect(r("TTL", "x")).toBe(50);
    expect(r("PERSIST", "x")).toBe(1);
    expect(r("TTL", "x")).toBe(-1);
    expect(r("PERSIST", "x")).toBe(0);
    expect(r("PERSIST", "nokey")).toBe(0);
    clock += 100_000;
    expect(get("x")).toBe("foo");
  });
});

describe("KEYS", () => {
  test("pattern and all keys", () => {
    for (const k of ["key_x", "key_y", "key_z", "foo_a", "foo_b", "foo_c"]) set(k, "hello");
    expect((r("KEYS", "foo*") as string[]).sort()).toEqual(["foo_a", "foo_b", "foo_c"]);
    expect((r("KEYS", "*") as string[]).sort()).toEqual([
      "foo_a",
      "foo_b",
      "foo_c",
      "key_x",
      "key_y",
      "key_z",
    ]);
    expect((r("KEYS", "key_[xy]") as string[]).sort()).toEqual(["key_x", "key_y"]);
    expect(r("KEYS", "nomatch*")).toEqual([]);
  });

  test("skips expired keys and deleted keys", () => {
    set("a", "1");
    set("b", "1");
    set("c", "1");
    r("PEXPIRE", "a", "10");
    r("DEL", "c");
    clock += 10;
    expect(r("KEYS", "*")).toEqual(["b"]);
  });

  test("KEYS on other databases", () => {
    set("a", "1", 2);
    expect(r("KEYS", "*")).toEqual([]);
    expect(rdb(2, "KEYS", "*")).toEqual(["a"]);
  });
});

describe("SCAN", () => {
  test("basic, COUNT, MATCH", () => {
    for (let i = 0; i < 1000; i++) set(`key:${i}`, String(i));
    const all = scanAll();
    expect(new Set(all).size).toBe(1000);
    expect(all.length).toBe(1000);
    expect(new Set(scanAll(["COUNT", "5"])).size).toBe(1000);
    expect(new Set(scanAll(["count", "1000000"])).size).toBe(1000);
    expect(new Set(scanAll(["MATCH", "key:1??"])).size).toBe(100);
  });

  test("COUNT bounds the slots visited per call; cursor is a bulk string", () => {
    for (let i = 0; i < 25; i++) set(`k${i}`, "v");
    const [c1, k1] = r("SCAN", "0") as [string, string[]];
    expect(c1).toBe("10");
    expect(k1.length).toBe(10);
    const [c2, k2] = r("SCAN", c1, "COUNT", "20") as [string, string[]];
    expect(c2).toBe("0");
    expect(k2.length).toBe(15);
    expect(r("SCAN", "1000")).toEqual(["0", []]);
  });

  test("TYPE filter", () => {
    for (let i = 0; i < 50; i++) set(`s${i}`, "v");
    rpush("list1", ["a"]);
    rpush("list2", ["a"]);
    expect(new Set(scanAll(["TYPE", "list"]))).toEqual(new Set(["list1", "list2"]));
    expect(scanAll(["TYPE", "string"]).length).toBe(50);
    expect(scanAll(["TYPE", "STRING", "MATCH", "s1*", "COUNT", "3"]).sort()).toEqual(
      ["s1", ...Array.from({ length: 10 }, (_, i) => `s1${i}`)].sort(),
    );
    expect(scanAll(["TYPE", "hash"])).toEqual([]);
    // Redis 8: an unknown type name matches no key (7.x answered an error).
    expect(scanAll(["TYPE", "string1"])).toEqual([]);
  });

  test("errors", () => {
    expect(errorOf("SCAN", "abc")).toBe("ERR invalid cursor");
    expect(errorOf("SCAN", "-1")).toBe("ERR invalid cursor");
    expect(errorOf("SCAN", "1.5")).toBe("ERR invalid cursor");
    expect(errorOf("SCAN", "18446744073709551616")).toBe("ERR invalid cursor");
    expect(r("SCAN", "18446744073709551615")).toEqual(["0", []]);
    expect(r("SCAN", "+0")).toEqual(["0", []]);
    expect(errorOf("SCAN", "0", "COUNT", "0")).toBe("ERR syntax error");
    expect(errorOf("SCAN", "0", "COUNT", "-1")).toBe("ERR syntax error");
    expect(errorOf("SCAN", "0", "COUNT", "abc")).toBe("ERR value is not an integer or out of range");
    expect(errorOf("SCAN", "0", "COUNT")).toBe("ERR syntax error");
    expect(errorOf("SCAN", "0", "MATCH")).toBe("ERR syntax error");
    expect(errorOf("SCAN", "0", "FOO", "bar")).toBe("ERR syntax error");
    expect(errorOf("SCAN", "0", "NOVALUES")).toBe("ERR NOVALUES option can only be used in HSCAN");
    expect(errorOf("SCAN", "0", "COUNT", "5", "MATCH")).toBe("ERR syntax error");
    expect(errorOf("SCAN", "0", "TYPE")).toBe("ERR syntax error");
  });

  test("skips expired keys and frees them", () => {
    for (let i = 0; i < 100; i++) set(`k${i}`, "v");
    set("foo", "bar");
    r("PEXPIRE", "foo", "1");
    clock += 2;
    const keys = scanAll(["COUNT", "10"]);
    expect(keys.length).toBe(100);
    expect(keys).not.toContain("foo");
    expect(r("DBSIZE")).toBe(100);
  });

  test("empty database", () => {
    expect(r("SCAN", "0")).toEqual(["0", []]);
  });

  test("property: every key present for the whole scan is returned, whatever changes between calls", () => {
    const action = fc.oneof(
      fc.record({ kind: fc.constant("add" as const), n: fc.nat(400) }),
      fc.record({ kind: fc.constant("del" as const), n: fc.nat(400) }),
      fc.record({ kind: fc.constant("expire" as const), n: fc.nat(400) }),
    );
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat(400), { maxLength: 60 }),
        fc.uniqueArray(fc.nat(400), { maxLength: 60 }),
        fc.array(fc.array(action, { maxLength: 8 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 1000 }),
        (stableIds, volatileIds, rounds, count, seed) => {
          engine = makeEngine(seed);
          const stable = new Set(stableIds.map((n) => `s${n}`));
          const ever = new Set<string>();
          const volatile = volatileIds.map((n) => `v${n}`);
          // Interleave creation so stable keys sit between volatile ones in the slots.
          const initial = [...stable, ...volatile].sort(() => engine.env.random() - 0.5);
          for (const k of initial) {
            set(k, "x");
            ever.add(k);
          }
          const seen = new Set<string>();
          let cursor = "0";
          let round = 0;
          for (let calls = 0; calls < 10_000; calls++) {
            const [next, keys] = r("SCAN", cursor, "COUNT", String(count)) as [string, string[]];
            for (const k of keys) {
              expect(ever.has(k)).toBe(true);
              seen.add(k);
            }
            cursor = next;
            if (cursor === "0") break;
            for (const a of rounds[round++ % Math.max(1, rounds.length)] ?? []) {
              const k = `v${a.n}`;
              if (a.kind === "add") {
                set(k, "y");
                ever.add(k);
              } else if (a.kind === "del") {
                r("DEL", k);
              } else {
                r("PEXPIRE", k, "1");
              }
            }
            clock += 1;
          }
          expect(cursor).toBe("0");
          for (const k of stable) expect(seen.has(k)).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("RANDOMKEY", () => {
  test("nil on an empty database", () => {
    expect(r("RANDOMKEY")).toBe(null);
  });

  test("returns every key eventually", () => {
    set("foo", "x");
    set("bar", "y");
    const seen = new Set<Reply>();
    for (let i = 0; i < 100; i++) seen.add(r("RANDOMKEY"));
    expect(seen).toEqual(new Set(["foo", "bar"]));
  });

  test("skips expired keys; nil when every key has expired", () => {
    set("a", "1");
    set("b", "1");
    r("PEXPIRE", "a", "5");
    clock += 5;
    for (let i = 0; i < 20; i++) expect(r("RANDOMKEY")).toBe("b");
    r("PEXPIRE", "b", "5");
    clock += 5;
    expect(r("RANDOMKEY")).toBe(null);
  });

  test("finds the one key left among many freed slots", () => {
    for (let i = 0; i < 2000; i++) set(`k${i}`, "v");
    for (let i = 0; i < 2000; i++) if (i !== 7) r("DEL", `k${i}`);
    // Slot 1999 was freed last, so trailing slots were trimmed; fill the front sparsely.
    expect(r("RANDOMKEY")).toBe("k7");
  });

  test("finds a live key among mostly expired ones", () => {
    for (let i = 0; i < 500; i++) set(`k${i}`, "v");
    for (let i = 0; i < 500; i++) if (i !== 250) r("PEXPIRE", `k${i}`, "1");
    clock += 1;
    expect(r("RANDOMKEY")).toBe("k250");
  });
});

describe("RENAME, RENAMENX", () => {
  test("basic usage", () => {
    set("mykey", "hello");
    expect(status(r("RENAME", "mykey", "mykey1"))).toBe("OK");
    expect(get("mykey1")).toBe("hello");
    expect(r("EXISTS", "mykey")).toBe(0);
  });

  test("against an existing target", () => {
    set("mykey", "a");
    set("mykey2", "b");
    r("RENAME", "mykey2", "mykey");
    expect(get("mykey")).toBe("b");
    expect(r("EXISTS", "mykey2")).toBe(0);
  });

  test("RENAMENX", () => {
    set("mykey", "foobar");
    expect(r("RENAMENX", "mykey", "mykey2")).toBe(1);
    expect(get("mykey2")).toBe("foobar");
    expect(r("EXISTS", "mykey")).toBe(0);
    set("mykey", "foo");
    expect(r("RENAMENX", "mykey", "mykey2")).toBe(0);
    expect(get("mykey2")).toBe("foobar");
    expect(get("mykey")).toBe("foo");
  });

  test("missing source and same key", () => {
    expect(errorOf("RENAME", "nokey", "foobar")).toBe("ERR no such key");
    expect(errorOf("RENAMENX", "nokey", "foobar")).toBe("ERR no such key");
    expect(errorOf("RENAME", "nokey", "nokey")).toBe("ERR no such key");
    set("mykey", "a");
    expect(status(r("RENAME", "mykey", "mykey"))).toBe("OK");
    expect(r("RENAMENX", "mykey", "mykey")).toBe(0);
    expect(get("mykey")).toBe("a");
  });

  test("keeps the TTL of the source, not the target's", () => {
    set("mytx", "foo");
    r("EXPIRE", "mytx", "100");
    r("RENAME", "mytx", "mynewtx");
    expect(r("TTL", "mynewtx")).toBe(100);
    set("a", "1");
    set("b", "2");
    r("EXPIRE", "b", "100");
    r("RENAME", "a", "b");
    expect(r("TTL", "b")).toBe(-1);
    r("PEXPIRE", "b", "10");
    r("RENAME", "b", "c");
    clock += 10;
    expect(r("EXISTS", "c")).toBe(0);
  });

  test("renames a list with its value", () => {
    rpush("l", ["a", "b"]);
    r("RENAME", "l", "l2");
    expect(status(r("TYPE", "l2"))).toBe("list");
    expect(get("l2")).toEqual(["a", "b"]);
  });

  test("one command writes both keys in one batch (one group)", () => {
    set("a", "1");
    const batch = engine.begin();
    const ctx = { face: { touched() {} } as any, engine, client: {} as any, batch, db: 0 };
    keyCommands.rename(ctx, ["RENAME", "a", "b"]);
    const effects = [...batch.effects.values()].map((x) => x.e);
    expect(effects.map((e) => e.key).sort()).toEqual(["a", "b"]);
    expect(effects.find((e) => e.key === "b")!.ops).toEqual([["restore", "string", "1", 0]]);
    expect(effects.find((e) => e.key === "a")!.ops).toEqual([["del"]]);
    batch.commit(() => {});
    expect(effects.every((e) => e.group !== null && e.group.size === 2)).toBe(true);
  });
});

describe("COPY", () => {
  test("same database, then REPLACE", () => {
    set("mykey", "foobar");
    expect(r("COPY", "mykey", "mynewkey")).toBe(1);
    expect(get("mynewkey")).toBe("foobar");
    expect(get("mykey")).toBe("foobar");
    set("other", "x");
    expect(r("COPY", "other", "mynewkey")).toBe(0);
    expect(get("mynewkey")).toBe("foobar");
    expect(r("COPY", "other", "mynewkey", "REPLACE")).toBe(1);
    expect(get("mynewkey")).toBe("x");
  });

  test("to another database", () => {
    set("mykey", "foobar");
    expect(r("COPY", "mykey", "mykey", "DB", "10")).toBe(1);
    expect(get("mykey", 10)).toBe("foobar");
    set("mykey2", "hello");
    expect(r("COPY", "mykey2", "mykey", "DB", "10")).toBe(0);
    expect(r("COPY", "mykey2", "mykey", "db", "10", "replace")).toBe(1);
    expect(get("mykey", 10)).toBe("hello");
    expect(r("COPY", "mykey", "x", "DB", "0", "DB", "3")).toBe(1);
    expect(get("x", 3)).toBe("foobar");
    expect(get("x", 0)).toBe(undefined);
  });

  test("the copy is independent of the source", () => {
    rpush("l", ["a"]);
    r("COPY", "l", "l2");
    rpush("l", ["b"]);
    expect(get("l2")).toEqual(["a"]);
    set("s", "1");
    r("COPY", "s", "s2");
    set("s", "2");
    expect(get("s2")).toBe("1");
  });

  test("copies the TTL, and none when there is none", () => {
    set("a", "v");
    r("EXPIRE", "a", "100");
    r("COPY", "a", "b");
    expect(r("TTL", "b")).toBe(100);
    set("c", "v");
    set("d", "v");
    r("EXPIRE", "d", "100");
    r("COPY", "c", "d", "REPLACE");
    expect(r("TTL", "d")).toBe(-1);
  });

  test("missing source and errors", () => {
    expect(r("COPY", "nokey", "x")).toBe(0);
    set("foo", "v");
    const same = "ERR source and destination objects are the same";
    expect(errorOf("COPY", "foo", "foo")).toBe(same);
    expect(errorOf("COPY", "foo", "foo", "DB", "0")).toBe(same);
    expect(errorOf("COPY", "nokey", "nokey")).toBe(same);
    expect(r("COPY", "foo", "foo", "DB", "1")).toBe(1);
    expect(errorOf("COPY", "foo", "bar", "DB", "99")).toBe("ERR DB index is out of range");
    expect(errorOf("COPY", "foo", "bar", "DB", "-1")).toBe("ERR DB index is out of range");
    expect(errorOf("COPY", "foo", "bar", "DB", "notanumber")).toBe(
      "ERR value is not an integer or out of range",
    );
    expect(errorOf("COPY", "foo", "bar", "DB")).toBe("ERR syntax error");
    expect(errorOf("COPY", "foo", "bar", "bogus")).toBe("ERR syntax error");
    expect(r("COPY", "foo", "bar", "REPLACE", "REPLACE")).toBe(1);
  });
});

describe("MOVE", () => {
  test("basic usage", () => {
    set("mykey", "foobar");
    expect(r("MOVE", "mykey", "9")).toBe(1);
    expect(r("EXISTS", "mykey")).toBe(0);
    expect(get("mykey", 9)).toBe("foobar");
    expect(rdb(9, "DBSIZE")).toBe(1);
    expect(r("DBSIZE")).toBe(0);
  });

  test("against a key existing in the target db", () => {
    set("mykey", "hello");
    set("mykey", "world", 9);
    expect(r("MOVE", "mykey", "9")).toBe(0);
    expect(get("mykey")).toBe("hello");
    expect(get("mykey", 9)).toBe("world");
  });

  test("keeps the TTL, and none when there is none", () => {
    set("a", "v");
    r("EXPIRE", "a", "100");
    r("MOVE", "a", "1");
    expect(rdb(1, "TTL", "a")).toBe(100);
    set("b", "v");
    r("MOVE", "b", "1");
    expect(rdb(1, "TTL", "b")).toBe(-1);
    clock += 100_000;
    expect(rdb(1, "EXISTS", "a")).toBe(0);
  });

  test("missing key and errors", () => {
    expect(r("MOVE", "nokey", "1")).toBe(0);
    set("foo", "v");
    expect(errorOf("MOVE", "foo", "0")).toBe("ERR source and destination objects are the same");
    expect(errorOf("MOVE", "nokey", "0")).toBe("ERR source and destination objects are the same");
    expect(errorOf("MOVE", "foo", "99")).toBe("ERR DB index is out of range");
    expect(errorOf("MOVE", "foo", "-1")).toBe("ERR DB index is out of range");
    expect(errorOf("MOVE", "nokey", "99")).toBe("ERR DB index is out of range");
    expect(errorOf("MOVE", "foo", "notanumber")).toBe("ERR value is not an integer or out of range");
    expect(errorOf("MOVE", "foo", "4294967296")).toBe(
      "ERR value is out of range, value must between -2147483648 and 2147483647",
    );
    expect(get("foo")).toBe("v");
  });

  test("from a non-zero database", () => {
    set("k", "v", 5);
    expect(rdb(5, "MOVE", "k", "0")).toBe(1);
    expect(get("k")).toBe("v");
    expect(get("k", 5)).toBe(undefined);
  });
});

describe("OBJECT", () => {
  test("ENCODING of strings", () => {
    const enc = (v: string) => {
      set("k", v);
      return r("OBJECT", "ENCODING", "k");
    };
    expect(enc("123")).toBe("int");
    expect(enc("-9223372036854775808")).toBe("int");
    expect(enc("9223372036854775807")).toBe("int");
    expect(enc("9223372036854775808")).toBe("embstr");
    expect(enc("01")).toBe("embstr");
    expect(enc("-0")).toBe("embstr");
    expect(enc(" 1")).toBe("embstr");
    expect(enc("")).toBe("embstr");
    expect(enc("a".repeat(44))).toBe("embstr");
    expect(enc("a".repeat(45))).toBe("raw");
  });

  test("ENCODING of lists", () => {
    rpush("l", ["a", "b"]);
    expect(r("OBJECT", "ENCODING", "l")).toBe("listpack");
    rpush("big", Array.from({ length: 129 }, (_, i) => String(i)));
    expect(r("OBJECT", "ENCODING", "big")).toBe("quicklist");
    rpush("long", ["x", "y".repeat(65)]);
    expect(r("OBJECT", "ENCODING", "long")).toBe("quicklist");
    rpush("edge", Array.from({ length: 128 }, () => "z".repeat(64)));
    expect(r("OBJECT", "ENCODING", "edge")).toBe("listpack");
  });

  test("nil for a missing key", () => {
    for (const sub of ["ENCODING", "REFCOUNT", "IDLETIME", "FREQ"]) {
      expect(r("OBJECT", sub, "nokey")).toBe(null);
    }
  });

  test("REFCOUNT, IDLETIME, FREQ", () => {
    set("s", "foo");
    expect(r("OBJECT", "REFCOUNT", "s")).toBe(1);
    set("n", "100");
    expect(r("OBJECT", "REFCOUNT", "n")).toBe(2147483647);
    set("n", "10000");
    expect(r("OBJECT", "REFCOUNT", "n")).toBe(1);
    expect(r("OBJECT", "IDLETIME", "s")).toBe(0);
    clock += 5000;
    // OBJECT itself does not touch the key; a read does.
    expect(r("OBJECT", "IDLETIME", "s")).toBe(5);
    expect(r("OBJECT", "IDLETIME", "s")).toBe(5);
    r("EXISTS", "s");
    expect(r("OBJECT", "IDLETIME", "s")).toBe(5);
    expect(errorOf("OBJECT", "FREQ", "s")).toStartWith(
      "ERR An LFU maxmemory policy is not selected, access frequency not tracked.",
    );
  });

  test("HELP", () => {
    const lines = (r("OBJECT", "HELP") as SimpleReply[]).map((x) => x.s);
    expect(lines[0]).toBe("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    expect(lines).toContain("ENCODING <key>");
    expect(lines.at(-1)).toBe("    Print this help.");
  });
});

describe("the table", () => {
  test("exports every generic key command", () => {
    const names = [
      "del",
      "unlink",
      "exists",
      "type",
      "expire",
      "pexpire",
      "expireat",
      "pexpireat",
      "ttl",
      "pttl",
      "expiretime",
      "pexpiretime",
      "persist",
      "keys",
      "scan",
      "randomkey",
      "rename",
      "renamenx",
      "touch",
      "copy",
      "move",
      "dbsize",
      "object|encoding",
      "object|refcount",
      "object|idletime",
      "object|freq",
      "object|help",
    ];
    for (const n of names) expect(typeof keyCommands[n]).toBe("function");
  });
});
