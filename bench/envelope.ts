/**
 * Envelope-commit benchmark: commit latency of exclusive commands against the round trip, with
 * every peer link delayed by a TCP proxy (20 and 50 ms each way, and none), and pops per second on
 * one hot queue from three nodes and from one. Writes its section of BENCHMARKS.md.
 *
 *   bun run build && bun bench/envelope.ts [--delays 0,20,50] [--ops 200] [--seconds 10] [--out FILE]
 *
 * Three `swytch redis` processes on 127.0.0.1; node i's cluster port sits behind proxy i, which
 * every node advertises, so each peer link crosses exactly one proxy (the dialed node's) and each
 * direction is held `delay` ms. The round trip is measured through the same kind of proxy in front
 * of a small echo server.
 */
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import Redis from "ioredis";
import { LinkProxy } from "../tests/fault/proxy.ts";
import { clusterInfo, freePort, logger, sleep, until, writeSection } from "./lib.ts";

const ROOT = resolve(import.meta.dir, "..");
const BIN = join(ROOT, "dist", "swytch");
const { values: argv } = parseArgs({
  args: process.argv.slice(2),
  options: {
    delays: { type: "string" },
    ops: { type: "string" },
    seconds: { type: "string" },
    out: { type: "string" },
  },
});
const DELAYS = (argv.delays ?? "0,20,50").split(",").map(Number);
const OPS = Number(argv.ops ?? 200);
const SECONDS = Number(argv.seconds ?? 10);
const OUT = resolve(argv.out ?? join(ROOT, "BENCHMARKS.md"));
const WORK = mkdtempSync(join(tmpdir(), "swytch-ebench-"));
const HEADER = "## Envelope-commit (three nodes on one machine)";
const log = logger();

const procs = new Set<Subprocess>();
const proxies: LinkProxy[] = [];

interface Node {
  name: string;
  port: number;
  cport: number;
  pport: number;
  proc: Subprocess | null;
}

function spawn(n: Node, join_: Node | null): void {
  const fd = openSync(join(WORK, `${n.name}.log`), "a");
  const args = [
    "redis",
    "--port",
    String(n.port),
    "--data-dir",
    join(WORK, n.name),
    "--cluster-passphrase",
    "bench-passphrase",
    "--cluster-port",
    String(n.cport),
    "--cluster-advertise",
    `127.0.0.1:${n.pport}`,
  ];
  if (join_ !== null) args.push("--join", `127.0.0.1:${join_.pport}`);
  n.proc = Bun.spawn([BIN, ...args], { stdin: "ignore", stdout: fd, stderr: fd });
  closeSync(fd);
  procs.add(n.proc);
}

function client(n: Node): Redis {
  return new Redis({ port: n.port, maxRetriesPerRequest: 0, retryStrategy: () => null });
}

/** Starts three nodes whose peer links cross proxies holding each direction `delay` ms. */
async function cluster(delay: number): Promise<Node[]> {
  const nodes: Node[] = ["a", "b", "c"].map((name) => ({
    name: `${name}${delay}`,
    port: freePort(),
    cport: freePort(),
    pport: freePort(),
    proc: null,
  }));
  for (const n of nodes) {
    const p = new LinkProxy("127.0.0.1", n.pport, "127.0.0.1", n.cport, 0, () => 0, () => delay);
    p.start();
    proxies.push(p);
  }
  for (const [i, n] of nodes.entries()) {
    spawn(n, i === 0 ? null : nodes[0]);
    await until(`${n.name} up`, async () => {
      const c = client(n);
      try {
        return (await c.ping()) === "PONG";
      } finally {
        c.disconnect();
      }
    });
    if (i === 0) await sleep(300);
  }
  for (const n of nodes) {
    const c = client(n);
    await until(
      `${n.name} joined`,
      async () => {
        const i = await clusterInfo(c);
        return i.swytch_members === "3" && i.swytch_writable === "1" && i.swytch_alive_peers === "2";
      },
      90_000,
    );
    c.disconnect();
  }
  return nodes;
}

async function stop(nodes: Node[]): Promise<void> {
  for (const n of nodes) {
    if (n.proc === null) continue;
    n.proc.kill("SIGKILL");
    await n.proc.exited;
    procs.delete(n.proc);
    n.proc = null;
  }
}

/** Round trip through a proxy holding each direction `delay` ms, to an echo server: median of 50. */
async function roundTrip(delay: number): Promise<number> {
  const echo = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(s, d) {
        s.write(d);
      },
    },
  });
  const pport = freePort();
  const proxy = new LinkProxy("127.0.0.1", pport, "127.0.0.1", echo.port, 0, () => 0, () => delay);
  proxy.start();
  let resolveData: (() => void) | null = null;
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port: pport,
    socket: {
      data() {
        resolveData?.();
      },
    },
  });
  const xs: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    await new Promise<void>((r) => {
      resolveData = r;
      sock.write("x");
    });
    xs.push(performance.now() - t);
  }
  sock.end();
  proxy.stop();
  echo.stop(true);
  return pct(xs, 50);
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** Sequential exclusive commands from one client on node a: their latencies. */
async function latencies(nodes: Node[], kind: "lpop" | "setnx" | "exec"): Promise<number[]> {
  const c = client(nodes[0]);
  const key = `lat-${kind}`;
  if (kind === "lpop") {
    for (let i = 0; i < OPS; i += 500) {
      await c.rpush(key, ...Array.from({ length: Math.min(500, OPS - i) }, (_, j) => `e${i + j}`));
    }
    // Every node has the list before timing (a pop on a node that lacks it pops nothing).
    for (const n of nodes) {
      const k = client(n);
      await until("list replicated", async () => (await k.llen(key)) === OPS);
      k.disconnect();
    }
  }
  const xs: number[] = [];
  for (let i = 0; i < OPS; i++) {
    const t = performance.now();
    if (kind === "lpop") {
      if ((await c.lpop(key)) === null) throw new Error("the list ran dry");
    } else if (kind === "setnx") {
      if ((await c.set(`${key}:${i}`, "v", "NX")) !== "OK") throw new Error("SET NX refused");
    } else {
      const r = await c.multi().incr(key).incr(`${key}:b`).exec();
      if (r === null) throw new Error("EXEC returned nil");
    }
    xs.push(performance.now() - t);
  }
  c.disconnect();
  return xs;
}

/** Clients on `from` nodes popping one hot queue for SECONDS: pops per second, and errors. */
async function hotQueue(
  nodes: Node[],
  from: Node[],
  perNode: number,
): Promise<{ rate: number; errors: number }> {
  const key = `hot-${from.length}`;
  const c = client(nodes[0]);
  const total = 200_000;
  for (let i = 0; i < total; i += 1000) {
    await c.rpush(key, ...Array.from({ length: 1000 }, (_, j) => `h${i + j}`));
  }
  for (const n of nodes) {
    const k = client(n);
    await until("queue replicated", async () => (await k.llen(key)) === total, 120_000);
    k.disconnect();
  }
  c.disconnect();
  let pops = 0, errors = 0;
  const end = performance.now() + SECONDS * 1000;
  const seen = new Set<string>();
  await Promise.all(from.flatMap((n) =>
    Array.from({ length: perNode }, async () => {
      const k = client(n);
      while (performance.now() < end) {
        try {
          const v = await k.lpop(key);
          if (v === null) break;
          if (seen.has(v)) throw new Error(`element ${v} popped twice`);
          seen.add(v);
          pops++;
        } catch (e) {
          if (String(e).includes("popped twice")) throw e;
          errors++;
        }
      }
      k.disconnect();
    })
  ));
  return { rate: pops / SECONDS, errors };
}

interface Row {
  delay: number;
  rtt: number;
  lpop: number[];
  setnx: number[];
  exec: number[];
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const queues: {
    delay: number;
    three: { rate: number; errors: number };
    one: { rate: number; errors: number };
  }[] = [];
  for (const delay of DELAYS) {
    const rtt = await roundTrip(delay);
    log(`delay ${delay} ms each way: round trip ${rtt.toFixed(1)} ms; starting three nodes`);
    const nodes = await cluster(delay);
    const row: Row = { delay, rtt, lpop: [], setnx: [], exec: [] };
    row.lpop = await latencies(nodes, "lpop");
    row.setnx = await latencies(nodes, "setnx");
    row.exec = await latencies(nodes, "exec");
    log(
      `  LPOP p50 ${pct(row.lpop, 50).toFixed(1)} p99 ${pct(row.lpop, 99).toFixed(1)}; SET NX p50 ${
        pct(row.setnx, 50).toFixed(1)
      }; EXEC p50 ${pct(row.exec, 50).toFixed(1)} ms`,
    );
    rows.push(row);
    if (delay === DELAYS[0] || delay === 20) {
      const three = await hotQueue(nodes, nodes, 8);
      const one = await hotQueue(nodes, [nodes[0]], 24);
      log(`  hot queue: ${three.rate.toFixed(0)} pops/s from 3 nodes, ${one.rate.toFixed(0)} from 1`);
      queues.push({ delay, three, one });
    }
    await stop(nodes);
  }
  const f = (x: number) => x.toFixed(1);
  const section = `${HEADER}

\`bun run build && bun bench/envelope.ts\` (${new Date().toISOString().slice(0, 10)}). Three \`swytch redis\`
processes on 127.0.0.1, \`--appendfsync everysec\` (votes and acceptances are fsynced whatever the policy).
Every peer link crosses a TCP proxy that holds each direction \`delay\` ms; the round trip (RTT) is measured
through the same proxy to an echo server. One client on one node runs ${OPS} commands one after another;
latency is from the client (ioredis) and includes its own loopback round trip. "Message delays" is p50 divided
by half the RTT: the protocol needs three one-way delays (envelope, votes, acceptances), plus two fsyncs.

| delay each way | RTT (ms) | LPOP p50 / p99 (ms) | SET NX p50 / p99 | MULTI INCR INCR EXEC p50 / p99 | LPOP message delays | target p50 <= 2 RTT + 10 |
| -------------- | -------- | ------------------- | ---------------- | ------------------------------ | ------------------- | ------------------------ |
${
    rows.map((r) =>
      `| ${r.delay} ms | ${r.rtt.toFixed(2)} | ${f(pct(r.lpop, 50))} / ${f(pct(r.lpop, 99))} | ${
        f(pct(r.setnx, 50))
      } / ${f(pct(r.setnx, 99))} | ${f(pct(r.exec, 50))} / ${f(pct(r.exec, 99))} | ${
        r.rtt > 1 ? f(pct(r.lpop, 50) / (r.rtt / 2)) : "-"
      } | ${f(2 * r.rtt + 10)} ms: ${pct(r.lpop, 50) <= 2 * r.rtt + 10 ? "met" : "**missed**"} |`
    ).join("\n")
  }

Hot queue: one list of 200,000 elements, clients popping it for ${SECONDS} s (every element checked popped once).

| delay each way | pops/s, 8 clients on each of 3 nodes | pops/s, 24 clients on 1 node | errors (-TRYAGAIN after 8 contended attempts) 3 nodes / 1 node |
| -------------- | ------------------------------------ | ---------------------------- | ------------------------------------------------------------- |
${
    queues.map((q) =>
      `| ${q.delay} ms | ${q.three.rate.toFixed(0)} | ${
        q.one.rate.toFixed(0)
      } | ${q.three.errors} / ${q.one.errors} |`
    ).join("\n")
  }

One hot key serializes its envelopes: each pop holds the key's lock from its vote until the decision reaches the
participants (about three one-way delays plus fsyncs), so pops on one key top out near 1 / (commit latency)
whatever the number of clients. Clients on one node queue behind that node's undecided envelope instead of
racing it; the errors are pops that lost eight races in a row with another node's pops (or queued past 10 s).
Independent keys commit in parallel. Batching several queued pops of one key into one envelope would lift the
ceiling; it is not built yet.
`;
  writeSection(OUT, HEADER, section);
  log(`wrote ${OUT}`);
}

try {
  await main();
} finally {
  for (const p of procs) p.kill("SIGKILL");
  for (const p of proxies) p.stop();
  rmSync(WORK, { recursive: true, force: true });
}
process.exit(0);
