/**
 * Real clients against a real `swytch redis` process: ioredis (RESP2) and node-redis (RESP2 and
 * RESP3, which sends HELLO 3), over TCP and over the unix socket; and redis-cli when installed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import Redis from "ioredis";
import { createClient, WatchError } from "redis";
import { have, type Proc, startSwytch, testIf, tmpDir } from "../helpers.ts";

type Arg = string | number;

/** One connected client, reduced to "send these words, get the reply". */
interface Kit {
  call(...args: Arg[]): Promise<unknown>;
  close(): Promise<void>;
}

type NodeRedis = ReturnType<typeof createClient>;

let server: Proc;
let sock: string;

beforeAll(async () => {
  sock = path.join(tmpDir("swytch-sock-"), "swytch.sock");
  server = await startSwytch(["--unixsocket", sock]);
});

afterAll(async () => {
  const code = await server?.stop();
  expect(code).toBe(0);
  fs.rmSync(server.dataDir, { recursive: true, force: true });
  fs.rmSync(path.dirname(sock), { recursive: true, force: true });
});

function ioredisOpts(transport: "tcp" | "unix", db: number) {
  return transport === "tcp"
    ? { host: "127.0.0.1", port: server.port, db, maxRetriesPerRequest: 1, lazyConnect: false }
    : { path: sock, db, maxRetriesPerRequest: 1, lazyConnect: false };
}

async function ioredis(transport: "tcp" | "unix", db: number): Promise<Redis> {
  const r = new Redis(ioredisOpts(transport, db));
  r.on("error", () => {});
  await r.ping();
  return r;
}

async function nodeRedis(transport: "tcp" | "unix", db: number, resp: 2 | 3): Promise<NodeRedis> {
  const socket = transport === "tcp"
    ? { host: "127.0.0.1", port: server.port, reconnectStrategy: false as const }
    : { path: sock, reconnectStrategy: false as const };
  const c = createClient({ RESP: resp, socket, database: db });
  c.on("error", () => {});
  await c.connect();
  return c as unknown as NodeRedis;
}

interface Flavor {
  name: string;
  resp: 2 | 3;
  kit(): Promise<Kit>;
}

const FLAVORS: Flavor[] = [
  ["tcp", 1],
  ["unix", 2],
].flatMap(([transport, base]) => {
  const t = transport as "tcp" | "unix";
  const b = base as number;
  return [
    {
      name: `ioredis/${t}`,
      resp: 2 as const,
      async kit(): Promise<Kit> {
        const r = await ioredis(t, b);
        return {
          call: (...args) => r.call(String(args[0]), ...args.slice(1).map(String)),
          close: async () => void (await r.quit()),
        };
      },
    },
    {
      name: `node-redis RESP3/${t}`,
      resp: 3 as const,
      async kit(): Promise<Kit> {
        const c = await nodeRedis(t, b + 2, 3);
        return {
          call: (...args) => c.sendCommand(args.map(String)) as Promise<unknown>,
          close: async () => void (await c.quit()),
        };
      },
    },
    {
      name: `node-redis RESP2/${t}`,
      resp: 2 as const,
      async kit(): Promise<Kit> {
        const c = await nodeRedis(t, b + 4, 2);
        return {
          call: (...args) => c.sendCommand(args.map(String)) as Promise<unknown>,
          close: async () => void (await c.quit()),
        };
      },
    },
  ];
});

/** The error message a rejected call carries. */
async function errorOf(p: Promise<unknown>): Promise<string> {
  try {
    const v = await p;
    return `no error, got ${JSON.stringify(v)}`;
  } catch (e) {
    return (e as Error).message;
  }
}

for (const flavor of FLAVORS) {
  describe(flavor.name, () => {
    let k: Kit;
    beforeAll(async () => {
      k = await flavor.kit();
    });
    afterAll(async () => {
      await k?.close();
    });

    test("strings: SET options, GET, SETNX, GETEX, GETDEL", async () => {
      await k.call("FLUSHDB");
      expect(await k.call("SET", "s", "v1")).toBe("OK");
      expect(await k.call("GET", "s")).toBe("v1");
      expect(await k.call("GET", "missing")).toBeNull();
      expect(await k.call("SET", "s", "v2", "NX")).toBeNull();
      expect(await k.call("SET", "s", "v2", "XX")).toBe("OK");
      expect(await k.call("SET", "nx", "v", "XX")).toBeNull();
      expect(await k.call("SET", "s", "v3", "GET")).toBe("v2");
      expect(await k.call("SET", "new", "n", "GET")).toBeNull();
      expect(await k.call("SET", "s", "v4", "EX", 100)).toBe("OK");
      const ttl = (await k.call("TTL", "s")) as number;
      expect(ttl).toBeGreaterThanOrEqual(99);
      expect(ttl).toBeLessThanOrEqual(100);
      expect(await k.call("SET", "s", "v5", "KEEPTTL")).toBe("OK");
      expect(await k.call("TTL", "s")).toBeGreaterThan(90);
      expect(await k.call("SET", "s", "v6")).toBe("OK");
      expect(await k.call("TTL", "s")).toBe(-1);
      expect(await k.call("SET", "p", "x", "PX", 100000)).toBe("OK");
      const pttl = (await k.call("PTTL", "p")) as number;
      expect(pttl).toBeGreaterThan(90000);
      expect(pttl).toBeLessThanOrEqual(100000);
      expect(await errorOf(k.call("SET", "s", "v", "EX", 0))).toContain("invalid expire time");
      expect(await errorOf(k.call("SET", "s", "v", "NX", "XX"))).toContain("syntax error");
      expect(await k.call("SETNX", "snx", "a")).toBe(1);
      expect(await k.call("SETNX", "snx", "b")).toBe(0);
      expect(await k.call("GET", "snx")).toBe("a");
      expect(await k.call("GETEX", "snx", "EX", 50)).toBe("a");
      expect(await k.call("TTL", "snx")).toBeGreaterThan(40);
      expect(await k.call("GETEX", "snx", "PERSIST")).toBe("a");
      expect(await k.call("TTL", "snx")).toBe(-1);
      expect(await k.call("GETEX", "missing")).toBeNull();
      expect(await k.call("GETDEL", "snx")).toBe("a");
      expect(await k.call("GETDEL", "snx")).toBeNull();
      expect(await k.call("EXISTS", "snx")).toBe(0);
      expect(await k.call("STRLEN", "s")).toBe(2);
      // Binary-ish and unicode values round-trip.
      expect(await k.call("SET", "u", "héllo wörld ✓")).toBe("OK");
      expect(await k.call("GET", "u")).toBe("héllo wörld ✓");
      expect(await k.call("SET", "empty", "")).toBe("OK");
      expect(await k.call("GET", "empty")).toBe("");
    });

    test("strings: INCR family", async () => {
      await k.call("FLUSHDB");
      expect(await k.call("INCR", "n")).toBe(1);
      expect(await k.call("INCRBY", "n", 41)).toBe(42);
      expect(await k.call("DECR", "n")).toBe(41);
      expect(await k.call("DECRBY", "n", 50)).toBe(-9);
      expect(await k.call("GET", "n")).toBe("-9");
      expect(await k.call("INCRBYFLOAT", "f", "1.5")).toBe("1.5");
      expect(await k.call("INCRBYFLOAT", "f", "0.25")).toBe("1.75");
      expect(await k.call("SET", "big", "9223372036854775807")).toBe("OK");
      expect(await errorOf(k.call("INCR", "big"))).toContain("increment or decrement would overflow");
      expect(await k.call("SET", "word", "abc")).toBe("OK");
      expect(await errorOf(k.call("INCR", "word"))).toContain("value is not an integer or out of range");
      expect(await errorOf(k.call("INCRBYFLOAT", "word", "1"))).toContain("value is not a valid float");
    });

    test("strings: MSET/MGET, APPEND, GETRANGE/SETRANGE", async () => {
      await k.call("FLUSHDB");
      expect(await k.call("MSET", "a", "1", "b", "2", "c", "3")).toBe("OK");
      expect(await k.call("MGET", "a", "nope", "b", "c")).toEqual(["1", null, "2", "3"]);
      expect(await k.call("MSETNX", "a", "x", "d", "4")).toBe(0);
      expect(await k.call("EXISTS", "d")).toBe(0);
      expect(await k.call("APPEND", "ap", "Hello")).toBe(5);
      expect(await k.call("APPEND", "ap", " World")).toBe(11);
      expect(await k.call("GET", "ap")).toBe("Hello World");
      expect(await k.call("GETRANGE", "ap", 0, 4)).toBe("Hello");
      expect(await k.call("GETRANGE", "ap", -5, -1)).toBe("World");
      expect(await k.call("GETRANGE", "ap", 100, 200)).toBe("");
      expect(await k.call("GETRANGE", "missing", 0, -1)).toBe("");
      expect(await k.call("SETRANGE", "ap", 6, "Redis")).toBe(11);
      expect(await k.call("GET", "ap")).toBe("Hello Redis");
      expect(await k.call("SETRANGE", "pad", 3, "abc")).toBe(6);
      expect(await k.call("GET", "pad")).toBe("\u0000\u0000\u0000abc");
    });

    test("keys: DEL, EXISTS, EXPIRE/TTL/PERSIST, RENAME, TYPE, KEYS", async () => {
      await k.call("FLUSHDB");
      await k.call("MSET", "k1", "a", "k2", "b", "k3", "c");
      await k.call("RPUSH", "list", "x");
      expect(await k.call("EXISTS", "k1", "k2", "k1", "zz")).toBe(3);
      expect(await k.call("DEL", "k1", "k2", "zz")).toBe(2);
      expect(await k.call("EXISTS", "k1")).toBe(0);
      expect(await k.call("TTL", "k3")).toBe(-1);
      expect(await k.call("TTL", "zz")).toBe(-2);
      expect(await k.call("EXPIRE", "k3", 100)).toBe(1);
      expect(await k.call("EXPIRE", "zz", 100)).toBe(0);
      expect(await k.call("TTL", "k3")).toBeGreaterThanOrEqual(99);
      expect(await k.call("PERSIST", "k3")).toBe(1);
      expect(await k.call("PERSIST", "k3")).toBe(0);
      expect(await k.call("TTL", "k3")).toBe(-1);
      expect(await k.call("PEXPIRE", "k3", 50)).toBe(1);
      await Bun.sleep(120);
      expect(await k.call("GET", "k3")).toBeNull();
      expect(await k.call("EXISTS", "k3")).toBe(0);
      await k.call("SET", "r1", "v");
      expect(await k.call("RENAME", "r1", "r2")).toBe("OK");
      expect(await k.call("GET", "r2")).toBe("v");
      expect(await k.call("EXISTS", "r1")).toBe(0);
      expect(await errorOf(k.call("RENAME", "nosuch", "x"))).toContain("no such key");
      expect(await k.call("TYPE", "r2")).toBe("string");
      expect(await k.call("TYPE", "list")).toBe("list");
      expect(await k.call("TYPE", "nosuch")).toBe("none");
      await k.call("MSET", "user:1", "a", "user:2", "b", "other", "c");
      expect(((await k.call("KEYS", "user:*")) as string[]).sort()).toEqual(["user:1", "user:2"]);
      expect(((await k.call("KEYS", "*")) as string[]).sort()).toEqual([
        "list",
        "other",
        "r2",
        "user:1",
        "user:2",
      ]);
      expect(await k.call("DBSIZE")).toBe(5);
    });

    test("keys: SCAN iterates every key exactly once", async () => {
      await k.call("FLUSHDB");
      const n = 1000;
      const args: string[] = [];
      for (let i = 0; i < n; i++) args.push(`scan:${i}`, String(i));
      expect(await k.call("MSET", ...args)).toBe("OK");
      await k.call("SET", "other", "x");
      const seen = new Map<string, number>();
      let cursor = "0";
      let rounds = 0;
      do {
        const r = await k.call("SCAN", cursor, "MATCH", "scan:*", "COUNT", 37);
        let keys: string[];
        if (Array.isArray(r)) {
          cursor = String(r[0]);
          keys = r[1] as string[];
        } else {
          throw new Error(`SCAN reply: ${JSON.stringify(r)}`);
        }
        for (const key of keys) seen.set(key, (seen.get(key) ?? 0) + 1);
        rounds++;
      } while (cursor !== "0" && rounds < 10_000);
      expect(cursor).toBe("0");
      expect(seen.size).toBe(n);
      expect([...seen.values()].every((c) => c === 1)).toBe(true);
      expect(seen.has("other")).toBe(false);
      // TYPE filter.
      await k.call("RPUSH", "scanlist", "a");
      const all: string[] = [];
      cursor = "0";
      rounds = 0;
      do {
        const r = (await k.call("SCAN", cursor, "TYPE", "list", "COUNT", 100)) as [string, string[]];
        cursor = String(r[0]);
        all.push(...r[1]);
        rounds++;
      } while (cursor !== "0" && rounds < 10_000);
      expect(all).toEqual(["scanlist"]);
    });

    test("lists: LPUSH/RPUSH/LRANGE/LPOP count/LINDEX/LLEN", async () => {
      await k.call("FLUSHDB");
      expect(await k.call("RPUSH", "l", "a", "b", "c")).toBe(3);
      expect(await k.call("LPUSH", "l", "z", "y")).toBe(5);
      expect(await k.call("LRANGE", "l", 0, -1)).toEqual(["y", "z", "a", "b", "c"]);
      expect(await k.call("LRANGE", "l", 1, 2)).toEqual(["z", "a"]);
      expect(await k.call("LRANGE", "l", -2, -1)).toEqual(["b", "c"]);
      expect(await k.call("LRANGE", "l", 10, 20)).toEqual([]);
      expect(await k.call("LLEN", "l")).toBe(5);
      expect(await k.call("LLEN", "nolist")).toBe(0);
      expect(await k.call("LINDEX", "l", 0)).toBe("y");
      expect(await k.call("LINDEX", "l", -1)).toBe("c");
      expect(await k.call("LINDEX", "l", 99)).toBeNull();
      expect(await k.call("LPOP", "l")).toBe("y");
      expect(await k.call("LPOP", "l", 2)).toEqual(["z", "a"]);
      expect(await k.call("RPOP", "l")).toBe("c");
      expect(await k.call("LPOP", "l", 10)).toEqual(["b"]);
      expect(await k.call("EXISTS", "l")).toBe(0);
      expect(await k.call("LPOP", "l")).toBeNull();
      expect(await k.call("LPOP", "l", 2)).toBeNull();
      const many = Array.from({ length: 500 }, (_, i) => `e${i}`);
      expect(await k.call("RPUSH", "big", ...many)).toBe(500);
      expect(await k.call("LRANGE", "big", 0, -1)).toEqual(many);
    });

    test("errors: WRONGTYPE and unknown commands surface as client errors", async () => {
      await k.call("FLUSHDB");
      await k.call("SET", "str", "v");
      await k.call("RPUSH", "lst", "v");
      expect(await errorOf(k.call("LPUSH", "str", "x"))).toMatch(/^WRONGTYPE /);
      expect(await errorOf(k.call("LRANGE", "str", 0, -1))).toMatch(/^WRONGTYPE /);
      expect(await errorOf(k.call("GET", "lst"))).toMatch(/^WRONGTYPE /);
      expect(await errorOf(k.call("APPEND", "lst", "x"))).toMatch(/^WRONGTYPE /);
      expect(await errorOf(k.call("INCR", "lst"))).toMatch(/^WRONGTYPE /);
      expect(await errorOf(k.call("NOSUCHCOMMAND", "x"))).toMatch(/^ERR unknown command/);
      expect(await errorOf(k.call("GET"))).toMatch(/^ERR wrong number of arguments/);
      // The connection is still usable after errors.
      expect(await k.call("PING")).toBe("PONG");
      expect(await k.call("GET", "str")).toBe("v");
    });

    test("server: SELECT isolates databases, DBSIZE, FLUSHDB, INFO, CLIENT", async () => {
      await k.call("FLUSHDB");
      await k.call("SET", "here", "1");
      expect(await k.call("SELECT", 15)).toBe("OK");
      await k.call("FLUSHDB");
      expect(await k.call("GET", "here")).toBeNull();
      await k.call("SET", "there", "2");
      expect(await k.call("DBSIZE")).toBe(1);
      expect(await k.call("FLUSHDB")).toBe("OK");
      expect(await k.call("DBSIZE")).toBe(0);
      expect(await errorOf(k.call("SELECT", 16))).toContain("DB index is out of range");
      expect(await errorOf(k.call("SELECT", "x"))).toMatch(/^ERR /);
      const info = String(await k.call("INFO"));
      expect(info).toContain("# Server");
      expect(info).toContain("# Clients");
      expect(info).toMatch(/redis_version:\d+\.\d+\.\d+/);
      const server = String(await k.call("INFO", "server"));
      expect(server).toContain("redis_version:");
      expect(server).not.toContain("# Clients");
      const id = (await k.call("CLIENT", "ID")) as number;
      expect(typeof id).toBe("number");
      expect(await k.call("CLIENT", "GETNAME")).toBeNull();
      expect(await k.call("CLIENT", "SETNAME", `kit-${id}`)).toBe("OK");
      expect(await k.call("CLIENT", "GETNAME")).toBe(`kit-${id}`);
      expect(await errorOf(k.call("CLIENT", "SETNAME", "has space"))).toMatch(/^ERR /);
      const list = String(await k.call("CLIENT", "LIST"));
      const mine = list.split("\n").find((l) => l.startsWith(`id=${id} `));
      expect(mine).toBeDefined();
      expect(mine).toContain(` name=kit-${id} `);
      expect(mine).toContain(" db=15 ");
      expect(mine).toContain(` resp=${flavor.resp}`);
      expect(mine).toContain(" cmd=client|list ");
      expect(await k.call("SELECT", 0)).toBe("OK");
    });
  });
}

describe("ioredis API", () => {
  let r: Redis;
  let other: Redis;
  beforeAll(async () => {
    r = await ioredis("tcp", 9);
    other = await ioredis("unix", 9);
  });
  afterAll(async () => {
    await r?.quit();
    await other?.quit();
  });

  test("typed commands", async () => {
    await r.flushdb();
    expect(await r.set("a", "1", "EX", 100, "NX")).toBe("OK");
    expect(await r.get("a")).toBe("1");
    expect(await r.incrby("a", 9)).toBe(10);
    expect(await r.mset({ x: "1", y: "2" })).toBe("OK");
    expect(await r.mget("x", "y", "z")).toEqual(["1", "2", null]);
    expect(await r.rpush("l", "a", "b", "c")).toBe(3);
    expect(await r.lpop("l", 2)).toEqual(["a", "b"]);
    expect(await r.type("l")).toBe("list");
    expect(await r.exists("a", "x", "nope")).toBe(2);
    expect(await r.dbsize()).toBe(4);
    const keys: string[] = [];
    const stream = r.scanStream({ count: 2 });
    for await (const batch of stream) keys.push(...(batch as string[]));
    expect(keys.sort()).toEqual(["a", "l", "x", "y"]);
    // Another connection (the unix socket) sees the writes of this one (TCP).
    expect(await other.get("a")).toBe("10");
  });

  test("MULTI/EXEC via multi()", async () => {
    await r.flushdb();
    const res = await r.multi().set("m", "1").incr("m").get("m").rpush("ml", "a", "b").lrange("ml", 0, -1)
      .exec();
    expect(res).toEqual([[null, "OK"], [null, 2], [null, "2"], [null, 2], [null, ["a", "b"]]]);
    // A command failing at run time fails alone; the others are applied.
    const res2 = await r.multi().set("s", "x").lpush("s", "y").get("s").exec();
    expect(res2![0]).toEqual([null, "OK"]);
    expect(res2![1][0]).toBeInstanceOf(Error);
    expect(String(res2![1][0])).toContain("WRONGTYPE");
    expect(res2![2]).toEqual([null, "x"]);
    // A command failing to queue aborts the transaction.
    const aborted = await r.multi().set("t", "1").call("NOSUCHCMD").exec().then(
      (v) => `resolved ${JSON.stringify(v)}`,
      (e) => String(e),
    );
    expect(aborted).toContain("EXECABORT");
    expect(await r.exists("t")).toBe(0);
    // DISCARD.
    await r.call("MULTI");
    await r.set("d", "1");
    expect(await r.call("DISCARD")).toBe("OK");
    expect(await r.exists("d")).toBe(0);
  });

  test("WATCH: a write by another client makes EXEC return null", async () => {
    await r.flushdb();
    await r.set("w", "0");
    expect(await r.watch("w")).toBe("OK");
    await other.set("w", "changed");
    const res = await r.multi().set("w", "mine").exec();
    expect(res).toBeNull();
    expect(await r.get("w")).toBe("changed");
    // Untouched watch: EXEC runs.
    expect(await r.watch("w")).toBe("OK");
    const ok = await r.multi().set("w", "mine").exec();
    expect(ok).toEqual([[null, "OK"]]);
    expect(await r.get("w")).toBe("mine");
    // Expiry of the watched key by another client's DEL also counts.
    await r.watch("w");
    await other.del("w");
    expect(await r.multi().set("w", "again").exec()).toBeNull();
    expect(await r.exists("w")).toBe(0);
  });

  test("pipeline of 10k commands: every reply, in order", async () => {
    await r.flushdb();
    const n = 10_000;
    const p = r.pipeline();
    for (let i = 0; i < n; i++) {
      switch (i % 4) {
        case 0:
          p.incr("counter");
          break;
        case 1:
          p.set(`p:${i}`, `v${i}`);
          break;
        case 2:
          p.get(`p:${i - 1}`);
          break;
        case 3:
          p.rpush("plist", String(i));
          break;
      }
    }
    const res = await p.exec();
    expect(res).not.toBeNull();
    expect(res!.length).toBe(n);
    for (let i = 0; i < n; i++) {
      const [e, v] = res![i];
      expect(e).toBeNull();
      const want = i % 4 === 0 ? i / 4 + 1 : i % 4 === 1 ? "OK" : i % 4 === 2 ? `v${i - 1}` : (i - 3) / 4 + 1;
      if (v !== want) throw new Error(`reply ${i}: got ${JSON.stringify(v)}, want ${JSON.stringify(want)}`);
    }
    expect(await r.get("counter")).toBe(String(n / 4));
    expect(await r.llen("plist")).toBe(n / 4);
    expect(await r.lindex("plist", 0)).toBe("3");
  });
});

describe("node-redis RESP3 API", () => {
  let c: NodeRedis;
  let other: NodeRedis;
  beforeAll(async () => {
    c = await nodeRedis("tcp", 10, 3);
    other = await nodeRedis("unix", 10, 3);
  });
  afterAll(async () => {
    await c?.quit();
    await other?.quit();
  });

  test("HELLO 3 replies with a map of the server's facts", async () => {
    const h = (await c.sendCommand(["HELLO", "3"])) as Record<string, unknown>;
    expect(h.server).toBe("redis");
    expect(typeof h.version).toBe("string");
    expect(String(h.version)).toMatch(/^\d+\.\d+\.\d+$/);
    expect(h.proto).toBe(3);
    expect(typeof h.id).toBe("number");
    expect(h.mode).toBe("standalone");
    expect(h.role).toBe("master");
    expect(h.modules).toEqual([]);
    expect(h.id).toBe((await c.sendCommand(["CLIENT", "ID"])) as number);
    const typed = await c.hello();
    expect(typed.proto).toBe(3);
  });

  test("typed commands", async () => {
    await c.flushDb();
    expect(await c.set("a", "1", { EX: 100 })).toBe("OK");
    expect(await c.ttl("a")).toBeGreaterThan(90);
    expect(await c.incr("a")).toBe(2);
    expect(await c.append("a", "x")).toBe(2);
    expect(await c.getRange("a", 0, 0)).toBe("2");
    expect(await c.rPush("l", ["a", "b", "c"])).toBe(3);
    expect(await c.lPopCount("l", 2)).toEqual(["a", "b"]);
    expect(await c.lLen("l")).toBe(1);
    expect(await c.lIndex("l", 0)).toBe("c");
    expect(await c.getDel("a")).toBe("2x");
    expect(await c.setNX("nx", "1")).toBe(1);
    expect(await c.setNX("nx", "2")).toBe(0);
    const keys: string[] = [];
    for await (const batch of c.scanIterator({ COUNT: 1 })) keys.push(...batch);
    expect(keys.sort()).toEqual(["l", "nx"]);
    expect(await c.clientSetName("nr")).toBe("OK");
    expect(await c.clientGetName()).toBe("nr");
    const info = await c.info("server");
    expect(info).toContain("redis_version:");
  });

  test("MULTI/EXEC via multi() and WATCH failing with WatchError", async () => {
    await c.flushDb();
    const res: unknown = await c.multi().set("m", "1").incr("m").lRange("nolist", 0, -1).exec();
    expect(res).toEqual(["OK", 2, []]);
    await c.set("w", "0");
    await c.watch("w");
    await other.set("w", "theirs");
    const caught = await c.multi().set("w", "mine").exec().then(() => null, (e) => e);
    expect(caught).toBeInstanceOf(WatchError);
    expect(await c.get("w")).toBe("theirs");
    await c.watch("w");
    const ok: unknown = await c.multi().set("w", "mine").exec();
    expect(ok).toEqual(["OK"]);
    expect(await c.get("w")).toBe("mine");
  });

  test("WRONGTYPE rejects the promise with the server's message", async () => {
    await c.flushDb();
    await c.set("s", "v");
    const msg = await c.lPush("s", "x").then(() => "resolved", (e) => (e as Error).message);
    expect(msg).toMatch(/^WRONGTYPE Operation against a key holding the wrong kind of value/);
  });

  test("pipeline (multi().execAsPipeline) of 10k commands", async () => {
    await c.flushDb();
    const m = c.multi();
    for (let i = 0; i < 10_000; i++) m.incr("pc");
    const res = (await m.execAsPipeline()) as unknown as number[];
    expect(res.length).toBe(10_000);
    expect(res.every((v, i) => v === i + 1)).toBe(true);
  });
});

describe("AUTH with --requirepass", () => {
  let secured: Proc;
  beforeAll(async () => {
    secured = await startSwytch(["--requirepass", "s3cret"]);
  });
  afterAll(async () => {
    expect(await secured?.stop()).toBe(0);
    fs.rmSync(secured.dataDir, { recursive: true, force: true });
  });

  test("NOAUTH before AUTH, WRONGPASS for a wrong password, then OK", async () => {
    // No ready check: ioredis would take the NOAUTH reply to its INFO as fatal and reconnect.
    const r = new Redis({
      host: "127.0.0.1",
      port: secured.port,
      maxRetriesPerRequest: 1,
      enableReadyCheck: false,
    });
    r.on("error", () => {});
    try {
      expect(await errorOf(r.get("x"))).toMatch(/^NOAUTH Authentication required/);
      expect(await errorOf(r.set("x", "1"))).toMatch(/^NOAUTH /);
      expect(await errorOf(r.call("AUTH", "wrong"))).toMatch(/^WRONGPASS invalid username-password pair/);
      expect(await errorOf(r.call("AUTH", "default", "wrong"))).toMatch(/^WRONGPASS /);
      expect(await errorOf(r.get("x"))).toMatch(/^NOAUTH /);
      expect(await r.call("AUTH", "s3cret")).toBe("OK");
      expect(await r.set("x", "1")).toBe("OK");
      expect(await r.get("x")).toBe("1");
    } finally {
      r.disconnect();
    }
  });

  test("clients given the password connect (ioredis AUTH, node-redis HELLO 3 AUTH)", async () => {
    const r = new Redis({
      host: "127.0.0.1",
      port: secured.port,
      password: "s3cret",
      maxRetriesPerRequest: 1,
    });
    r.on("error", () => {});
    try {
      expect(await r.ping()).toBe("PONG");
    } finally {
      r.disconnect();
    }
    const c = createClient({
      RESP: 3,
      password: "s3cret",
      socket: { host: "127.0.0.1", port: secured.port, reconnectStrategy: false },
    });
    c.on("error", () => {});
    await c.connect();
    try {
      expect(await c.ping()).toBe("PONG");
      expect(await c.get("x")).toBe("1");
    } finally {
      await c.quit();
    }
    // HELLO with a wrong password is refused.
    const bad = createClient({
      RESP: 3,
      password: "nope",
      socket: { host: "127.0.0.1", port: secured.port, reconnectStrategy: false },
    });
    bad.on("error", () => {});
    const why = await bad.connect().then(() => "connected", (e) => (e as Error).message);
    expect(why).toMatch(/WRONGPASS/);
    if (bad.isOpen) bad.destroy();
  });
});

testIf(have("redis-cli"), "redis-cli is not installed")("redis-cli over the unix socket", () => {
  const cli = (...args: string[]) => {
    const r = spawnSync("redis-cli", ["-s", sock, "-n", "11", ...args], {
      encoding: "utf8",
      timeout: 10_000,
    });
    if (r.status !== 0) throw new Error(`redis-cli ${args.join(" ")}: status ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  expect(cli("PING")).toBe("PONG\n");
  expect(cli("FLUSHDB")).toBe("OK\n");
  expect(cli("SET", "cli:k", "hello world")).toBe("OK\n");
  expect(cli("GET", "cli:k")).toBe("hello world\n");
  expect(cli("RPUSH", "cli:l", "a", "b")).toBe("2\n");
  expect(cli("LRANGE", "cli:l", "0", "-1")).toBe("a\nb\n");
  expect(cli("KEYS", "cli:*").split("\n").filter((x) => x !== "").sort()).toEqual(["cli:k", "cli:l"]);
  expect(cli("--no-raw", "GET", "cli:k")).toBe('"hello world"\n');
  expect(cli("--no-raw", "INCR", "cli:k")).toContain("ERR value is not an integer or out of range");
  expect(cli("-3", "--no-raw", "HELLO", "3")).toContain("proto");
  expect(cli("INFO", "server")).toContain("redis_version:");
  // Commands from stdin, several in one connection.
  const piped = spawnSync("redis-cli", ["-s", sock, "-n", "11"], {
    input: "SET cli:p 1\nINCR cli:p\nGET cli:p\n",
    encoding: "utf8",
    timeout: 10_000,
  });
  expect(piped.status).toBe(0);
  expect(piped.stdout).toBe("OK\n2\n2\n");
});
