/**
 * A cluster as a user runs one: real `swytch` processes joined with --join on loopback, talked
 * to with ioredis. Replication, catch-up after a stop, a late joiner, a wrong passphrase, and the
 * removal of a dead member.
 */
import { afterAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { clusterInfo, freePort, type Proc, startSwytch, tmpDir, until } from "../helpers.ts";

const PASS = "integration-test-passphrase";
const procs: Proc[] = [];
const clients: Redis[] = [];

afterAll(async () => {
  for (const c of clients) c.disconnect();
  for (const p of procs) await p.kill9().catch(() => {});
});

async function node(
  opts: { join?: number[]; pass?: string; dataDir?: string; port?: number; extra?: string[] } = {},
) {
  const port = opts.port ?? await freePort();
  const clusterPort = await freePort();
  const args = [
    "--cluster-passphrase",
    opts.pass ?? PASS,
    "--cluster-port",
    String(clusterPort),
    "--member-timeout",
    "3s",
    "--debug-heartbeat-ms",
    "100",
    "--debug-anti-entropy-ms",
    "500",
    ...(opts.extra ?? []),
  ];
  if (opts.join !== undefined && opts.join.length > 0) {
    args.push("--join", opts.join.map((p) => `127.0.0.1:${p}`).join(","));
  }
  const p = await startSwytch(args, { port, dataDir: opts.dataDir });
  procs.push(p);
  const c = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  await c.connect();
  clients.push(c);
  return { proc: p, client: c, port, clusterPort };
}

describe("a three-node cluster", () => {
  test(
    "joins, replicates, catches up, takes a late joiner, refuses a stranger, removes the dead",
    async () => {
      const a = await node();
      const b = await node({ join: [a.clusterPort] });
      const c = await node({ join: [a.clusterPort] });
      for (const n of [a, b, c]) {
        await until("three members", () => clusterInfo(n.client), (i) => i.swytch_members === "3", 20_000);
        await until("writable", () => clusterInfo(n.client), (i) => i.swytch_writable === "1", 20_000);
      }
      const members = await a.client.hgetall("__swytch:members");
      expect(Object.keys(members).length).toBe(3);
      expect(await a.client.set("__swytch:members", "x").catch((e) => String(e))).toContain("reserved");

      // A SET on one node is readable on the others within a second.
      await a.client.set("greeting", "hello");
      const t0 = Date.now();
      await until("replicated to b", () => b.client.get("greeting"), (v) => v === "hello", 1000);
      await until("replicated to c", () => c.client.get("greeting"), (v) => v === "hello", 1000);
      expect(Date.now() - t0).toBeLessThan(1000);

      // Concurrent increments on every node all count.
      await Promise.all([a, b, c].map(async (n) => {
        for (let i = 0; i < 50; i++) await n.client.incr("counter");
      }));
      for (const n of [a, b, c]) {
        await until("counter converged", () => n.client.get("counter"), (v) => v === "150");
      }

      // Exclusive commands commit across the members (envelope-commit): one winner each.
      expect(await a.client.set("x", "1", "NX")).toBe("OK");
      await until("x replicated", () => b.client.get("x"), (v) => v === "1");
      expect(await b.client.set("x", "2", "NX")).toBe(null);
      expect(await a.client.lpop("nolist")).toBe(null);
      await b.client.rpush("jobs", "j1", "j2");
      await until("jobs replicated", () => c.client.llen("jobs"), (n) => n === 2);
      const popped = await Promise.all([a, b, c].map((n) => n.client.lpop("jobs")));
      expect(popped.filter((v) => v !== null).sort()).toEqual(["j1", "j2"]);
      expect(await c.client.multi().incr("tx").incr("tx").get("x").exec()).toEqual([
        [null, 1],
        [null, 2],
        [null, "1"],
      ]);
      await until("tx replicated", () => a.client.get("tx"), (v) => v === "2");
      // WATCH on one node, a write on another: EXEC answers nil, whether or not the write has
      // reached the watching node yet.
      const w1 = a.client.duplicate();
      await w1.watch("watched");
      await b.client.set("watched", "changed elsewhere");
      expect(await w1.multi().set("watched", "mine").exec()).toBe(null);
      await until("watched replicated", () => a.client.get("watched"), (v) => v === "changed elsewhere");
      // Without a change, the watched transaction commits.
      await w1.watch("watched");
      expect(await w1.multi().set("watched", "mine").exec()).toEqual([[null, "OK"]]);
      await until("mine replicated", () => c.client.get("watched"), (v) => v === "mine");
      w1.disconnect();

      // A node stopped (kill -9) while the others take writes catches up when started again.
      // Meanwhile exclusive commands refuse (a member is unreachable) and write nothing, while
      // coordination-free writes go on.
      await c.proc.kill9();
      await until(
        "c seen down",
        () => a.client.set("y", "1", "NX").catch((e) => String(e)),
        (v) => String(v).startsWith("ReplyError: PARTITIONED") || String(v).startsWith("PARTITIONED"),
      );
      expect(await a.client.exists("y")).toBe(0);
      for (let i = 0; i < 200; i++) await a.client.set(`while-down:${i}`, String(i));
      await b.client.rpush("list", "x", "y", "z");
      const c2 = await node({ port: c.port, dataDir: c.proc.dataDir, join: [a.clusterPort] });
      await until("c writable", () => clusterInfo(c2.client), (i) => i.swytch_writable === "1", 20_000);
      await until("c caught up", () => c2.client.get("while-down:199"), (v) => v === "199", 15_000);
      await until(
        "c has b's list",
        () => c2.client.lrange("list", 0, -1),
        (v) => v.join() === "x,y,z",
        15_000,
      );
      expect(await c2.client.get("counter")).toBe("150");

      // A fourth node joining later serves every key.
      const d = await node({ join: [b.clusterPort] });
      const total = await a.client.dbsize();
      await until("d has every key", () => d.client.dbsize(), (n) => n === total, 15_000);
      expect(await d.client.get("greeting")).toBe("hello");
      expect(await d.client.get("while-down:7")).toBe("7");

      // A node with a wrong passphrase is refused and receives nothing.
      const evil = await node({ join: [a.clusterPort], pass: "not-the-passphrase" });
      await Bun.sleep(1500);
      expect(await evil.client.dbsize()).toBe(0);
      expect((await clusterInfo(a.client)).swytch_members).toBe("4");
      expect(a.proc.stderr()).toContain("TLS authentication failed");

      // A node dead past --member-timeout is removed by the majority.
      await d.proc.kill9();
      for (const n of [a, b, c2]) {
        await until("d removed", () => clusterInfo(n.client), (i) => i.swytch_members === "3", 20_000);
      }
      const after = await b.client.hgetall("__swytch:members");
      expect(Object.values(after).filter((v) => v === "removed").length).toBe(1);
      // The three that remain keep converging.
      await c2.client.set("after-removal", "ok");
      await until("still replicating", () => a.client.get("after-removal"), (v) => v === "ok", 2000);
      void tmpDir;
    },
    120_000,
  );
});

describe("a member that cannot be reached", () => {
  test(
    "bounds each key's unstable writes with --max-unstable-bytes, and the bound lifts when it returns",
    async () => {
      const a = await node({ extra: ["--max-unstable-bytes", "20kb"] });
      const b = await node({ join: [a.clusterPort], extra: ["--max-unstable-bytes", "20kb"] });
      for (const n of [a, b]) {
        await until(
          "two writable members",
          () => clusterInfo(n.client),
          (i) => i.swytch_members === "2" && i.swytch_writable === "1",
          20_000,
        );
      }
      await b.proc.kill9();
      let refused = "";
      let n = 0;
      for (; n < 2000 && refused === ""; n++) {
        refused = await a.client.rpush("grows", "x".repeat(100)).then(() => "", (e) => String(e));
      }
      expect(refused).toContain("OOM");
      expect(refused).toContain("--max-unstable-bytes");
      expect(n).toBeGreaterThan(20);
      // Other keys still take writes, and reads still work.
      expect(await a.client.set("other", "1")).toBe("OK");
      expect(await a.client.llen("grows")).toBe(n - 1);
      // The member returns: its acknowledgement folds the effects, and the key takes writes again.
      const b2 = await node({
        port: b.port,
        dataDir: b.proc.dataDir,
        join: [a.clusterPort],
        extra: ["--max-unstable-bytes", "20kb"],
      });
      await until(
        "writes resume",
        () => a.client.rpush("grows", "y").then(() => true, () => false),
        (ok) => ok,
        20_000,
      );
      await until("b has the list", () => b2.client.llen("grows"), (len) => len === n, 20_000);
    },
    60_000,
  );
});

describe("the peer port", () => {
  test(
    "a malformed or oversized frame from an authenticated peer drops that link, never the process",
    async () => {
      const { makePeerIdentity, peerClientTls } = await import("../../net/peer_tls.ts");
      const { wireFrame } = await import("../../core/wire.ts");
      const a = await node();
      const id = await makePeerIdentity(PASS, "intruder");
      const send = (bytes: Uint8Array) =>
        new Promise<string>((resolve) => {
          let got = "";
          const timer = setTimeout(() => resolve(`open:${got.length}`), 3000);
          Bun.connect({
            hostname: "127.0.0.1",
            port: a.clusterPort,
            tls: peerClientTls(id),
            socket: {
              open(s) {
                s.write(bytes);
              },
              data(_s, d) {
                got += d.length;
              },
              close() {
                clearTimeout(timer);
                resolve("closed");
              },
              error() {
                clearTimeout(timer);
                resolve("closed");
              },
            },
          }).catch(() => resolve("connect failed"));
        });
      // A frame header announcing 1 GiB: refused before a byte of it is buffered.
      const huge = new Uint8Array(8);
      new DataView(huge.buffer).setUint32(0, 1 << 30, true);
      expect(await send(huge)).toBe("closed");
      // A well-framed payload that is not CBOR.
      expect(await send(wireFrame(new Uint8Array([0xff, 0xff, 0xff])))).toBe("closed");
      // The node still serves and still has its cluster port.
      expect(await a.client.ping()).toBe("PONG");
      expect(a.proc.stderr()).toContain("peer link dropped");
      expect(await send(wireFrame(new Uint8Array([0x80])))).toBe("closed"); // an empty array: not a hello
      expect(await a.client.set("still", "here")).toBe("OK");
    },
    30_000,
  );
});
