/**
 * The blocking list commands (BLPOP, BRPOP, BLMPOP, BLMOVE, BRPOPLPUSH) against a real `swytch redis`
 * process with ioredis clients: parked clients are served by pushes from other clients, oldest first,
 * answer nil at their timeout, chain through BLMOVE, and do not block inside MULTI.
 */
import { describe, expect, test } from "bun:test";
import type Redis from "ioredis";
import { swytchForFile } from "../helpers.ts";

const { client } = swytchForFile();

/** Waits until INFO reports `n` blocked clients (at most 3 s). */
async function blocked(r: Redis, n: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const info = await r.info("clients");
    if (new RegExp(`blocked_clients:${n}\\r?\\n`).test(info)) return;
    await Bun.sleep(10);
  }
  throw new Error(`never saw ${n} blocked clients`);
}

describe("blocking list commands", () => {
  test("BLPOP and BRPOP wait for a push on any of their keys", async () => {
    const r = client(), a = client(), b = client();
    const left = a.blpop("bl1", "bl2", 0);
    await blocked(r, 1);
    expect(await r.rpush("bl2", "x", "y")).toBe(2);
    expect(await left).toEqual(["bl2", "x"]);
    const right = b.brpop("bl1", "bl2", 0);
    expect(await right).toEqual(["bl2", "y"]);
    expect(await r.exists("bl2")).toBe(0);
  });

  test("clients blocked on one key are served oldest first", async () => {
    const r = client(), a = client(), b = client();
    const first = a.blpop("fifo", 0);
    await blocked(r, 1);
    const second = b.blpop("fifo", 0);
    await blocked(r, 2);
    await r.rpush("fifo", "1");
    expect(await first).toEqual(["fifo", "1"]);
    await r.rpush("fifo", "2");
    expect(await second).toEqual(["fifo", "2"]);
  });

  test("a timeout answers nil", async () => {
    const a = client();
    const t0 = performance.now();
    expect(await a.blpop("never", 0.2)).toBeNull();
    expect(await a.brpoplpush("never", "dst", 0.1)).toBeNull();
    expect(await a.call("BLMPOP", "0.1", "1", "never", "LEFT")).toBeNull();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(390);
  });

  test("BLMOVE chains: a moved element wakes the client blocked on its destination", async () => {
    const r = client(), a = client(), b = client();
    const first = a.blmove("c1", "c2", "RIGHT", "LEFT", 0);
    await blocked(r, 1);
    const second = b.blmove("c2", "c3", "LEFT", "RIGHT", 0);
    await blocked(r, 2);
    await r.rpush("c1", "foo");
    expect(await first).toBe("foo");
    expect(await second).toBe("foo");
    expect(await r.lrange("c3", 0, -1)).toEqual(["foo"]);
    expect(await r.exists("c1", "c2")).toBe(0);
  });

  test("BLMPOP pops up to COUNT elements once woken", async () => {
    const r = client(), a = client();
    const p = a.call("BLMPOP", "0", "2", "m1", "m2", "RIGHT", "COUNT", "3");
    await blocked(r, 1);
    await r.rpush("m2", "a", "b", "c", "d");
    expect(await p).toEqual(["m2", ["d", "c", "b"]]);
    expect(await r.lrange("m2", 0, -1)).toEqual(["a"]);
  });

  test("inside MULTI a blocking pop of an empty list answers nil at once", async () => {
    const r = client();
    await r.rpush("tx", "v");
    const res = await r.multi().blpop("tx", 0).blpop("tx", 0).call("BLMPOP", "0", "1", "tx", "LEFT").exec();
    expect(res).toEqual([[null, ["tx", "v"]], [null, null], [null, null]]);
  });
});
