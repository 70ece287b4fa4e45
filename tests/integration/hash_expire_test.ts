/**
 * Hash field expiry and the Redis 8 hash commands against a real `swytch redis` process, with real
 * clients: ioredis (RESP2) and node-redis (RESP3). Field deadlines pass in real time, and survive a
 * restart from the data directory.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import Redis from "ioredis";
import { createClient } from "redis";
import { type Proc, startSwytch } from "../helpers.ts";

/** This suite's port (the hash family's range is 21200-21299). */
const PORT = 21210;

let server: Proc;
let io: Redis;

beforeAll(async () => {
  server = await startSwytch([], { port: PORT });
  io = new Redis({ host: "127.0.0.1", port: PORT, maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  io?.disconnect();
  expect(await server?.stop()).toBe(0);
  fs.rmSync(server.dataDir, { recursive: true, force: true });
});

describe("hash field expiry over the wire", () => {
  test("fields expire in real time; the replies of the TTL family", async () => {
    await io.call("HSET", "h", "a", "1", "b", "2", "c", "3");
    expect(await io.call("HPEXPIRE", "h", "60", "FIELDS", "2", "a", "zz")).toEqual([1, -2]);
    expect(await io.call("HEXPIRE", "h", "100", "NX", "FIELDS", "2", "a", "b")).toEqual([0, 1]);
    const [pa, pb, pc] = await io.call("HPTTL", "h", "FIELDS", "3", "a", "b", "c") as number[];
    expect(pa).toBeGreaterThan(0);
    expect(pa).toBeLessThanOrEqual(60);
    expect(pb).toBeGreaterThan(99_000);
    expect(pc).toBe(-1);
    expect(await io.call("HTTL", "h", "FIELDS", "1", "b")).toEqual([100]);
    expect(await io.object("ENCODING", "h")).toBe("listpackex");
    await Bun.sleep(80);
    expect(await io.hgetall("h")).toEqual({ b: "2", c: "3" });
    expect(await io.hlen("h")).toBe(2);
    expect(await io.call("HTTL", "h", "FIELDS", "1", "a")).toEqual([-2]);
    expect(await io.call("HPERSIST", "h", "FIELDS", "2", "b", "c")).toEqual([1, -1]);
    await expect(io.call("HEXPIRE", "h", "-1", "FIELDS", "1", "b")).rejects.toThrow(
      "ERR invalid expire time, must be >= 0",
    );
  });

  test("HSETEX, HGETEX and HGETDEL", async () => {
    expect(await io.call("HSETEX", "g", "FNX", "PX", "50", "FIELDS", "2", "a", "1", "b", "2")).toBe(1);
    expect(await io.call("HSETEX", "g", "FNX", "FIELDS", "1", "a", "x")).toBe(0);
    expect(await io.call("HGETEX", "g", "PERSIST", "FIELDS", "2", "b", "zz")).toEqual(["2", null]);
    await Bun.sleep(70);
    expect(await io.call("HGETEX", "g", "FIELDS", "2", "a", "b")).toEqual([null, "2"]);
    expect(await io.call("HGETDEL", "g", "FIELDS", "2", "b", "a")).toEqual(["2", null]);
    expect(await io.exists("g")).toBe(0);
  });

  test("RESP3: HRANDFIELD WITHVALUES gives pairs; HSCAN NOVALUES", async () => {
    const c = createClient({ socket: { host: "127.0.0.1", port: PORT }, RESP: 3 });
    await c.connect();
    const send = async (...args: string[]): Promise<unknown> => await c.sendCommand(args);
    try {
      await send("HSET", "r", "x", "1", "y", "2");
      expect(await send("HRANDFIELD", "r", "5", "WITHVALUES")).toEqual([["x", "1"], ["y", "2"]]);
      expect(await send("HRANDFIELD", "r", "5")).toEqual(["x", "y"]);
      expect(await send("HSCAN", "r", "0", "NOVALUES")).toEqual(["0", ["x", "y"]]);
    } finally {
      c.destroy();
    }
  });

  test("field deadlines survive a restart", async () => {
    await io.call("HSETEX", "p", "EX", "1000", "FIELDS", "1", "long", "v");
    await io.call("HSETEX", "p", "PX", "150", "FIELDS", "1", "short", "v");
    await io.call("HSET", "p", "plain", "v");
    const before = await io.call("HPEXPIRETIME", "p", "FIELDS", "3", "long", "short", "plain") as number[];
    io.disconnect();
    expect(await server.stop()).toBe(0);
    await Bun.sleep(200);
    server = await startSwytch([], { port: PORT, dataDir: server.dataDir });
    io = new Redis({ host: "127.0.0.1", port: PORT, maxRetriesPerRequest: 1 });
    expect(await io.call("HPEXPIRETIME", "p", "FIELDS", "3", "long", "short", "plain")).toEqual([
      before[0],
      -2,
      -1,
    ]);
    expect(await io.hkeys("p")).toEqual(["long", "plain"]);
  });
});
