#!/usr/bin/env bun
/**
 * Cluster benchmark: three `dist/swytch` nodes on loopback, and a redis-server started in the same
 * run for reference. Appends (or replaces) the "Cluster" section of BENCHMARKS.md.
 *
 *   bun bench/cluster.ts [--seconds S] [--rate N] [--out FILE]
 *
 * 1. SET throughput (redis-benchmark, 50 clients, -P 1 and -P 16) on one node of three, against the
 *    same on a single redis-server with the same durability.
 * 2. Replication lag: a writer SETs keys on node A at a steady rate; a poller per other node reads
 *    them back; lag = first time a poller sees a key minus the time A acknowledged it (p50/p99).
 * 3. Heal: with node C stopped (kill -9), 10k keys written on A and 10k other keys written on C
 *    alone (A and B stopped meanwhile), then everything restarted: the time until all three nodes
 *    report the same DBSIZE and the same values for every key.
 *
 * Every child process is started here and stopped by PID. A report, not a test.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import Redis from "ioredis";
import { clusterInfo, freePort, logger, redisServerCmd, sleep, until, writeSection } from "./lib.ts";

const ROOT = resolve(import.meta.dir, "..");
const BIN = join(ROOT, "dist", "swytch");
const { values: argv } = parseArgs({
  args: process.argv.slice(2),
  strict: true,
  options: { seconds: { type: "string" }, rate: { type: "string" }, out: { type: "string" } },
});
const SECONDS = Number(argv.seconds ?? 10);
const RATE = Number(argv.rate ?? 1000);
const OUT = resolve(argv.out ?? join(ROOT, "BENCHMARKS.md"));
const WORK = mkdtempSync(join(tmpdir(), "swytch-cbench-"));
const PASS = "bench-passphrase";
const log = logger();

interface Node {
  name: string;
  port: number;
  cport: number;
  dir: string;
  args: string[];
  proc: Subprocess | null;
}
const procs = new Set<Subprocess>();

function spawn(cmd: string[], logName: string): Subprocess {
  const fd = openSync(join(WORK, logName), "a");
  const p = Bun.spawn(cmd, { stdin: "ignore", stdout: fd, stderr: fd });
  closeSync(fd);
  procs.add(p);
  p.exited.then(() => procs.delete(p));
  return p;
}

function node(name: string, join_: Node | null): Node {
  const port = freePort(), cport = freePort();
  const dir = join(WORK, name);
  const args = [
    "redis",
    "--port",
    String(port),
    "--data-dir",
    dir,
    "--cluster-passphrase",
    PASS,
    "--cluster-port",
    String(cport),
  ];
  if (join_ !== null) args.push("--join", `127.0.0.1:${join_.cport}`);
  return { name, port, cport, dir, args, proc: null };
}

async function start(n: Node): Promise<void> {
  n.proc = spawn([BIN, ...n.args], `${n.name}.log`);
  for (let i = 0; i < 200; i++) {
    try {
      const c = new Redis({
        port: n.port,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      await c.connect();
      c.disconnect();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(
    `${n.name} did not start; log:\n${readFileSync(join(WORK, `${n.name}.log`), "utf8").slice(-2000)}`,
  );
}

async function kill9(n: Node): Promise<void> {
  if (n.proc === null) return;
  process.kill(n.proc.pid, "SIGKILL");
  await n.proc.exited;
  n.proc = null;
}

function client(n: Node): Redis {
  return new Redis({ port: n.port, maxRetriesPerRequest: 0, retryStrategy: () => null });
}

async function ready(nodes: Node[]): Promise<void> {
  for (const n of nodes) {
    const c = client(n);
    await until(`${n.name} joined`, async () => {
      const i = await clusterInfo(c);
      return i.swytch_members === String(nodes.length) && i.swytch_writable === "1";
    });
    c.disconnect();
  }
}

async function benchSet(port: number, pipeline: number): Promise<number> {
  const n = pipeline === 1 ? 50_000 : 300_000;
  const p = Bun.spawn(
    [
      "redis-benchmark",
      "-h",
      "127.0.0.1",
      "-p",
      String(port),
      "-c",
      "50",
      "-n",
      String(n),
      "-P",
      String(pipeline),
      "-t",
      "set",
      "--csv",
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const out = await new Response(p.stdout).text();
  await p.exited;
  const line = out.split("\n").find((l) => l.startsWith('"SET"'));
  return line === undefined ? NaN : Number(line.split(",")[1].replaceAll('"', ""));
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

/** A writer on `a` and pollers on the others: per key, visible-on-other-node minus acknowledged-on-a. */
async function lag(a: Node, others: Node[]): Promise<{ lags: Map<string, number[]>; writes: number }> {
  const w = client(a);
  const acked = new Map<number, number>();
  const lags = new Map<string, number[]>(others.map((o) => [o.name, []]));
  let stop = false, written = 0;
  const pollers = others.map(async (o) => {
    const c = client(o);
    let next = 0;
    const seen = lags.get(o.name)!;
    while (!stop || next < written) {
      const upTo = Math.min(written, next + 200);
      if (upTo === next) {
        await sleep(1);
        continue;
      }
      const keys = Array.from({ length: upTo - next }, (_, i) => `lag:${next + i}`);
      const vals = await c.mget(...keys);
      const now = performance.now();
      let i = 0;
      while (i < vals.length && vals[i] !== null) {
        const t = acked.get(next + i);
        if (t !== undefined) seen.push(now - t);
        i++;
      }
      next += i;
      if (i === 0) await sleep(1);
      if (stop && performance.now() - stopAt > 10_000) break;
    }
    c.disconnect();
  });
  let stopAt = 0;
  const interval = 1000 / RATE;
  const start = performance.now();
  while (performance.now() - start < SECONDS * 1000) {
    const i = written;
    await w.set(`lag:${i}`, String(i));
    acked.set(i, performance.now());
    written++;
    const due = start + written * interval;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
  }
  stop = true;
  stopAt = performance.now();
  await Promise.all(pollers);
  w.disconnect();
  return { lags, writes: written };
}

async function main(): Promise<void> {
  log(`work dir ${WORK}`);
  const a = node("a", null);
  await start(a);
  const b = node("b", a), c = node("c", a);
  await start(b);
  await start(c);
  await ready([a, b, c]);
  log("three nodes joined");

  // Reference: one redis-server, same durability.
  const rport = freePort();
  const rdir = join(WORK, "redis");
  Bun.spawnSync(["mkdir", "-p", rdir]);
  spawn(redisServerCmd(rport, rdir), "redis.log");
  await sleep(500);

  const tput: [string, number, number][] = [];
  for (const p of [1, 16]) {
    const sw: number[] = [], rd: number[] = [];
    for (let r = 0; r < 3; r++) {
      sw.push(await benchSet(a.port, p));
      rd.push(await benchSet(rport, p));
    }
    tput.push([`SET -P ${p}`, pct(sw, 0.5), pct(rd, 0.5)]);
    log(`SET -P ${p}: swytch (1 of 3) ${pct(sw, 0.5)} rps, redis ${pct(rd, 0.5)} rps`);
  }

  log(`lag: ${RATE} SET/s on a for ${SECONDS} s, pollers on b and c`);
  const { lags, writes } = await lag(a, [b, c]);
  const lagRows = [...lags].map(([name, xs]) => {
    log(
      `  ${name}: ${xs.length}/${writes} seen, p50 ${pct(xs, 0.5).toFixed(1)} ms, p99 ${
        pct(xs, 0.99).toFixed(1)
      } ms`,
    );
    return [name, xs.length, pct(xs, 0.5), pct(xs, 0.99), Math.max(...xs)] as const;
  });

  // Heal: two sides that took 10k writes each while apart.
  log("heal: c stopped; 10k keys on a; then a and b stopped, 10k keys on c alone");
  await kill9(c);
  const ca = client(a);
  for (let i = 0; i < 10_000; i += 500) {
    const args: string[] = [];
    for (let j = i; j < i + 500; j++) args.push(`side-a:${j}`, String(j));
    await ca.mset(...args);
  }
  ca.disconnect();
  await sleep(300);
  await kill9(a);
  await kill9(b);
  await start(c);
  const cc = client(c);
  for (let i = 0; i < 10_000; i += 500) {
    const args: string[] = [];
    for (let j = i; j < i + 500; j++) args.push(`side-c:${j}`, String(j));
    // c alone cannot reach its members: its writes stay local (coordination-free).
    await until("c writable", async () => (await clusterInfo(cc)).swytch_writable === "1", 30_000);
    await cc.mset(...args);
  }
  log("both sides diverged by 10k keys; restarting a and b");
  const healStart = performance.now();
  await start(a);
  await start(b);
  const clients = [a, b, c].map(client);
  const target = await until("all agree", async () => {
    const sizes = await Promise.all(clients.map((x) => x.dbsize()));
    if (!sizes.every((s) => s === sizes[0]) || sizes[0] < 20_001) return false;
    const probes = ["side-a:0", "side-a:9999", "side-c:0", "side-c:9999"];
    const vals = await Promise.all(clients.map((x) => x.mget(...probes)));
    return vals.every((v) => JSON.stringify(v) === JSON.stringify(vals[0]) && !v.includes(null));
  }, 120_000);
  const healMs = performance.now() - healStart;
  log(
    `all three agree ${healMs.toFixed(0)} ms after the restart (${target.toFixed(0)} ms after both were up)`,
  );
  for (const x of clients) x.disconnect();

  const rows = tput.map(([t, s, r]) =>
    `| ${t} | ${Math.round(s)} | ${Math.round(r)} | ${(s / r).toFixed(2)} |`
  );
  const section = `## Cluster (three nodes on one machine)

Generated by \`bun bench/cluster.ts\` on ${new Date().toISOString()} (${availableParallelism()} CPUs shared by
the three nodes, redis-server and the clients). Default cluster settings (status every 200 ms, anti-entropy every
5 s), \`--appendfsync everysec\`.

SET throughput on one node of three (it replicates every write to two peers), against one redis-server with
the same durability, median of 3 runs (\`redis-benchmark -c 50 -t set\`):

| test | swytch rps (1 of 3) | redis rps | ratio |
| ---- | ------------------- | --------- | ----- |
${rows.join("\n")}

Replication lag: ${RATE} SET/s on node a for ${SECONDS} s (${writes} writes); a poller per other node reads the keys
back (MGET, 1 ms apart when idle); lag = first sight on that node minus the OK on a:

| node | seen | p50 ms | p99 ms | max ms |
| ---- | ---- | ------ | ------ | ------ |
${
    lagRows.map(([n, seen, p50, p99, max]) =>
      `| ${n} | ${seen} | ${p50.toFixed(1)} | ${p99.toFixed(1)} | ${max.toFixed(1)} |`
    ).join("\n")
  }

Heal: node c stopped (kill -9) while a took 10k new keys; then a and b stopped while c, alone, took 10k other
keys; then a and b restarted. All three nodes agreed (same DBSIZE, same values) **${
    (healMs / 1000).toFixed(1)
  } s**
after the restart began (restart and catch-up through anti-entropy included). A partition healed in place would
skip the restart; the fault harness exercises that path.
`;
  writeSection(OUT, "## Cluster (three nodes on one machine)", section);
  log(`wrote ${OUT}`);
}

try {
  await main();
} finally {
  for (const p of procs) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch { /* gone */ }
  }
  rmSync(WORK, { recursive: true, force: true });
}
