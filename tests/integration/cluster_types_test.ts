/**
 * Issue 5's data types across a real three-node cluster (real `swytch` processes, ioredis):
 * blocking pops served by a push on another node, each element to exactly one blocked client,
 * consumer groups delivering each entry once wherever the consumers connect, XREAD BLOCK woken by
 * a remote XADD, and concurrent coordination-free writes of every type converging.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { clusterInfo, freePort, type Proc, startSwytch, until } from "../helpers.ts";

const PASS = "types-test-passphrase";
const procs: Proc[] = [];
const clients: Redis[] = [];
let nodes: { port: number; client: Redis }[] = [];

afterAll(async () => {
  for (const c of clients) c.disconnect();
  for (const p of procs) await p.kill9().catch(() => {});
});

async function node(join: number | null): Promise<{ port: number; cport: number; client: Redis }> {
  const port = await freePort();
  const cport = await freePort();
  const args = [
    "--cluster-passphrase",
    PASS,
    "--cluster-port",
    String(cport),
    "--debug-heartbeat-ms",
    "100",
    "--debug-anti-entropy-ms",
    "500",
  ];
  if (join !== null) args.push("--join", `127.0.0.1:${join}`);
  procs.push(await startSwytch(args, { port }));
  return { port, cport, client: conn(port) };
}

function conn(port: number): Redis {
  const c = new Redis({ port, maxRetriesPerRequest: 0, retryStrategy: () => null });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  const a = await node(null);
  const b = await node(a.cport);
  const c = await node(a.cport);
  nodes = [a, b, c];
  for (const n of nodes) {
    await until(
      "three writable members",
      () => clusterInfo(n.client),
      (i) => i.swytch_members === "3" && i.swytch_writable === "1",
      20_000,
    );
  }
}, 60_000);

describe("blocking pops across nodes", () => {
  test("a push on one node serves a client blocked on another, each element once", async () => {
    const [a, b, c] = nodes;
    const ba = conn(a.port), bb = conn(b.port);
    const pa = ba.blpop("bq", 5), pb = bb.blpop("bq", 5);
    await until(
      "both blocked",
      async () => [await a.client.info("clients"), await b.client.info("clients")],
      (
        [x, y],
      ) => x.includes("blocked_clients:1") && y.includes("blocked_clients:1"),
    );
    const t0 = Date.now();
    await c.client.rpush("bq", "one");
    const first = await Promise.race([pa, pb]);
    expect(first).toEqual(["bq", "one"]);
    expect(Date.now() - t0).toBeLessThan(2000);
    await c.client.rpush("bq", "two");
    const both = await Promise.all([pa, pb]);
    expect(both.map((x) => x![1]).sort()).toEqual(["one", "two"]);
    await until(
      "bq gone everywhere",
      () => Promise.all(nodes.map((n) => n.client.exists("bq"))),
      (v) => v.every((x) => x === 0),
    );
  }, 30_000);

  test("timeouts answer nil; BLMOVE and BZPOPMIN are served from another node", async () => {
    const [a, b, c] = nodes;
    const t0 = Date.now();
    expect(await a.client.blpop("nothing-here", 0.3)).toBe(null);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    const m = conn(b.port);
    const moved = m.blmove("src", "dst", "LEFT", "RIGHT", 5);
    await until("blocked", () => b.client.info("clients"), (x) => x.includes("blocked_clients:1"));
    await c.client.rpush("src", "e1");
    expect(await moved).toBe("e1");
    await until("dst on a", () => a.client.lrange("dst", 0, -1), (v) => v.join() === "e1");
    const z = conn(a.port);
    const popped = z.bzpopmin("zq", 5);
    await until("blocked", () => a.client.info("clients"), (x) => x.includes("blocked_clients:1"));
    await b.client.zadd("zq", 2, "two", 1, "one");
    expect(await popped).toEqual(["zq", "one", "1"]);
  }, 30_000);
});

describe("streams across nodes", () => {
  test("a consumer group delivers each entry to one consumer wherever they connect", async () => {
    const [a, b, c] = nodes;
    expect(await a.client.xgroup("CREATE", "jobs", "workers", "$", "MKSTREAM")).toBe("OK");
    expect(await b.client.xgroup("CREATE", "jobs", "workers", "$").catch((e) => String(e))).toContain(
      "BUSYGROUP",
    );
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await nodes[i % 3].client.xadd("jobs", "*", "n", String(i)))!);
    // Ids increase whichever node added them.
    expect([...ids].sort((x, y) => cmpId(x, y))).toEqual(ids);
    await until(
      "entries everywhere",
      () => Promise.all(nodes.map((n) => n.client.xlen("jobs"))),
      (v) => v.every((x) => x === 20),
    );
    const got: string[] = [];
    const consume = async (n: { client: Redis }, name: string) => {
      for (;;) {
        const r = await n.client.xreadgroup("GROUP", "workers", name, "COUNT", 3, "STREAMS", "jobs", ">") as
          | [string, [string, string[]][]][]
          | null;
        if (r === null || r[0][1].length === 0) return;
        for (const [id, f] of r[0][1]) {
          got.push(f[1]);
          await n.client.xack("jobs", "workers", id);
        }
      }
    };
    await Promise.all([consume(a, "ca"), consume(b, "cb"), consume(c, "cc")]);
    expect(got.map(Number).sort((x, y) => x - y)).toEqual([...Array(20).keys()]);
    await until(
      "nothing pending anywhere",
      () => Promise.all(nodes.map((n) => n.client.xpending("jobs", "workers"))),
      (
        v,
      ) => v.every((p) => (p as unknown[])[0] === 0),
    );
  }, 30_000);

  test("XREAD BLOCK on one node wakes on an XADD on another", async () => {
    const [a, b] = nodes;
    const r = conn(a.port);
    const read = r.xread("BLOCK", 5000, "STREAMS", "feed", "$");
    await until("blocked", () => a.client.info("clients"), (x) => x.includes("blocked_clients:1"));
    const id = (await b.client.xadd("feed", "*", "k", "v"))!;
    expect(await read).toEqual([["feed", [[id, ["k", "v"]]]]]);
  }, 30_000);
});

describe("concurrent writes of every type converge", () => {
  test("hashes, sorted sets, HyperLogLogs, bitmaps, list edits", async () => {
    await Promise.all(nodes.map(async (n, i) => {
      for (let k = 0; k < 30; k++) {
        await n.client.hset("h", `f${k % 5}`, `${i}-${k}`);
        await n.client.hincrby("h", "n", 1);
        await n.client.zadd("z", k, `m${(k + i) % 7}`);
        await n.client.zincrby("z", 1, "shared");
        await n.client.pfadd("hll", `e${i}-${k}`);
        await n.client.setbit("bits", i * 30 + k, 1);
        await n.client.rpush("l", `v${i}-${k}`);
        if (k % 5 === 4) await n.client.lrem("l", 1, `v${i}-${k - 2}`);
      }
    }));
    const snapshot = (c: Redis) =>
      Promise.all([
        c.hgetall("h"),
        c.zrange("z", 0, -1, "WITHSCORES"),
        c.pfcount("hll"),
        c.bitcount("bits"),
        c.lrange("l", 0, -1),
      ]).then((x) => JSON.stringify(x));
    const all = await until(
      "converged",
      () => Promise.all(nodes.map((n) => snapshot(n.client))),
      (v) => v.every((x) => x === v[0]),
      15_000,
    );
    const [h, z, hll, bits, l] = JSON.parse(all[0]);
    expect(h.n).toBe("90");
    expect(z[z.indexOf("shared") + 1]).toBe("90");
    expect(hll).toBeGreaterThanOrEqual(85);
    expect(hll).toBeLessThanOrEqual(95);
    expect(bits).toBe(90);
    expect(l.length).toBe(90 - 18);
  }, 60_000);
});

describe("scripts across nodes", () => {
  test("read-modify-write scripts on every node run as envelopes: no update is lost", async () => {
    // GET then SET of GET + 1 is not commutative: only a serializable run keeps every increment.
    const script =
      "local v = tonumber(redis.call('get', KEYS[1]) or '0'); redis.call('set', KEYS[1], v + 1); return v + 1";
    let done = 0, refused = 0;
    await Promise.all(nodes.map(async (n) => {
      for (let k = 0; k < 15; k++) {
        try {
          await n.client.eval(script, 1, "rmw");
          done++;
        } catch (e) {
          // Contention may answer TRYAGAIN, with nothing written.
          expect((e as Error).message).toMatch(/^TRYAGAIN/);
          refused++;
        }
      }
    }));
    expect(done + refused).toBe(45);
    expect(done).toBeGreaterThan(0);
    await until(
      "every node sees every committed increment",
      () => Promise.all(nodes.map((n) => n.client.get("rmw"))),
      (v) => v.every((x) => x === String(done)),
    );
    // A read-only script runs locally on each node.
    for (const n of nodes) {
      expect(await n.client.call("EVAL_RO", "return redis.call('get', KEYS[1])", 1, "rmw")).toBe(
        String(done),
      );
    }
  }, 60_000);
});

function cmpId(x: string, y: string): number {
  const [xm, xs] = x.split("-").map(BigInt), [ym, ys] = y.split("-").map(BigInt);
  return xm !== ym ? (xm < ym ? -1 : 1) : xs < ys ? -1 : xs > ys ? 1 : 0;
}
