#!/usr/bin/env bun
/**
 * Data-type benchmark: `dist/swytch` and a redis-server started in the same run, same durability
 * (an append-only log fsynced every second), alternating runs, median of N. Replaces the
 * "Data types" section of BENCHMARKS.md.
 *
 *   bun bench/types.ts [--runs N] [--requests N] [--out FILE]
 *
 * Tests (redis-benchmark, 50 clients, TCP, -P 1 and -P 16): LRANGE_100 and LRANGE_600 (redis-
 * benchmark's own, on the list its LPUSH test fills), SADD, HSET, SPOP, ZADD, and as custom commands
 * ZRANGE (`ZRANGE zbench 0 99 WITHSCORES` on a sorted set preloaded with 1000 members) and XADD
 * (`XADD xbench * myfield myvalue`: Debian's redis-benchmark 7.0 has no XADD test), and a one-call
 * Lua script (`EVAL "return redis.call('incr', KEYS[1])" 1 evalbench`).
 * Every child process is started here and stopped by PID. A report, not a test.
 */
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { freePort, logger, redisServerCmd, sleep, writeSection } from "./lib.ts";

const ROOT = resolve(import.meta.dir, "..");
const BIN = join(ROOT, "dist", "swytch");
const { values: argv } = parseArgs({
  args: process.argv.slice(2),
  strict: true,
  options: { runs: { type: "string" }, requests: { type: "string" }, out: { type: "string" } },
});
const RUNS = Number(argv.runs ?? 5);
const N = Number(argv.requests ?? 100_000);
const OUT = resolve(argv.out ?? join(ROOT, "BENCHMARKS.md"));
const WORK = mkdtempSync(join(tmpdir(), "swytch-tbench-"));
const CLIENTS = 50;
const PIPELINES = [1, 16];
/** redis-benchmark's own tests, by their -t name and the name its CSV reports. */
const BUILTIN: [string, string][] = [
  ["lpush", "LPUSH"],
  ["lrange_100", "LRANGE_100 (first 100 elements)"],
  ["lrange_600", "LRANGE_600 (first 600 elements)"],
  ["sadd", "SADD"],
  ["hset", "HSET"],
  ["spop", "SPOP"],
  ["zadd", "ZADD"],
];
const ZRANGE = ["ZRANGE", "zbench", "0", "99", "WITHSCORES"];
/** Debian's redis-benchmark (7.0) has no XADD test: the same command as newer ones run, as a custom command. */
const XADD = ["XADD", "xbench", "*", "myfield", "myvalue"];
/** A script with one redis.call: what running Lua costs around a command. */
const EVAL = ["EVAL", "return redis.call('incr', KEYS[1])", "1", "evalbench"];
const log = logger();
const procs = new Set<Subprocess>();

type Kind = "swytch" | "redis";

async function run(cmd: string[], timeoutMs = 300_000): Promise<string> {
  const p = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  const out = await new Response(p.stdout).text();
  await p.exited;
  clearTimeout(timer);
  return out;
}

async function start(kind: Kind): Promise<{ port: number; proc: Subprocess }> {
  const dir = mkdtempSync(join(WORK, `${kind}-`));
  const port = freePort();
  const cmd = kind === "swytch"
    ? [BIN, "redis", "--port", String(port), "--data-dir", join(dir, "data"), "--appendfsync", "everysec"]
    : redisServerCmd(port, dir);
  const fd = openSync(join(dir, "server.log"), "a");
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: fd, stderr: fd });
  closeSync(fd);
  procs.add(proc);
  for (let i = 0; i < 100; i++) {
    if ((await run(["redis-cli", "-p", String(port), "ping"], 2000)).trim() === "PONG") return { port, proc };
    await sleep(100);
  }
  throw new Error(`${kind} did not start`);
}

async function stop(proc: Subprocess): Promise<void> {
  proc.kill("SIGTERM");
  const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
  await proc.exited;
  clearTimeout(t);
  procs.delete(proc);
}

function csv(out: string): Map<string, number> {
  const res = new Map<string, number>();
  for (const line of out.split(/\r?\n/)) {
    const m = /^"([^"]+)","([0-9.]+)"/.exec(line.trim());
    if (m !== null && m[1] !== "test") res.set(m[1], Number(m[2]));
  }
  return res;
}

/** One run of every test on a fresh server: test name -> requests per second. */
async function once(kind: Kind, pipeline: number): Promise<Map<string, number>> {
  const s = await start(kind);
  const base = ["redis-benchmark", "-h", "127.0.0.1", "-p", String(s.port), "-c", String(CLIENTS)];
  const args = [...base, "-n", String(N), "-P", String(pipeline), "--csv"];
  const res = csv(await run([...args, "-t", BUILTIN.map(([t]) => t).join(",")]));
  // 1000 members, loaded in one pipeline of ZADDs.
  const load = [];
  for (let i = 0; i < 1000; i++) load.push(`ZADD zbench ${i} member:${i}`);
  const loader = Bun.spawn(["redis-cli", "-p", String(s.port)], { stdin: "pipe", stdout: "ignore" });
  loader.stdin.write(load.join("\n") + "\n");
  loader.stdin.end();
  await loader.exited;
  const z = csv(await run([...args, ...ZRANGE]));
  res.set("ZRANGE", [...z.values()][0] ?? NaN);
  const x = csv(await run([...args, ...XADD]));
  res.set("XADD", [...x.values()][0] ?? NaN);
  const e = csv(await run([...args, ...EVAL]));
  res.set("EVAL", [...e.values()][0] ?? NaN);
  await stop(s.proc);
  return res;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)];
};

async function main(): Promise<void> {
  const names = [...BUILTIN.map(([, n]) => n), "ZRANGE", "XADD", "EVAL"];
  const samples = new Map<string, number[]>();
  for (const p of PIPELINES) {
    for (let r = 0; r < RUNS; r++) {
      for (const kind of (r % 2 === 0 ? ["redis", "swytch"] : ["swytch", "redis"]) as Kind[]) {
        const res = await once(kind, p);
        for (const n of names) {
          const k = `${p}|${kind}|${n}`;
          if (!samples.has(k)) samples.set(k, []);
          samples.get(k)!.push(res.get(n) ?? NaN);
        }
        log(
          `-P ${p} run ${r + 1}/${RUNS} ${kind}: ${
            names.map((n) => `${n.split(" ")[0]} ${res.get(n)}`).join(", ")
          }`,
        );
      }
    }
  }
  const rows: string[] = [];
  for (const p of PIPELINES) {
    rows.push(
      `### -P ${p}`,
      "",
      "| test | redis-server rps | swytch rps | ratio |",
      "| --- | ---: | ---: | ---: |",
    );
    for (const n of names) {
      const r = median(samples.get(`${p}|redis|${n}`)!), s = median(samples.get(`${p}|swytch|${n}`)!);
      rows.push(`| ${n.split(" ")[0]} | ${Math.round(r)} | ${Math.round(s)} | ${(s / r).toFixed(2)} |`);
    }
    rows.push("");
  }
  const section = [
    "## Data types (issue 5)",
    "",
    `\`bun bench/types.ts --runs ${RUNS} --requests ${N}\` on ${
      cpus()[0]?.model ?? "?"
    } (${availableParallelism()} ` +
    `cores), ${
      new Date().toISOString().slice(0, 10)
    }. redis-benchmark, ${CLIENTS} clients over TCP, -n ${N}, ` +
    `median of ${RUNS} alternating runs, each on a fresh server; both servers keep an append-only log fsynced ` +
    "every second. LRANGE_100/600 read the list redis-benchmark's LPUSH test fills; ZRANGE is " +
    `\`${ZRANGE.join(" ")}\` on a sorted set preloaded with 1000 members; XADD is \`${XADD.join(" ")}\` ` +
    "(a custom command: Debian's redis-benchmark 7.0 has no XADD test); EVAL runs " +
    "`EVAL \"return redis.call('incr', KEYS[1])\" 1 evalbench` (not one of issue 5's tests: it shows what " +
    "running Lua costs).",
    "",
    ...rows,
  ].join("\n");
  writeSection(OUT, "## Data types (issue 5)", section + "\n");
  log(`wrote ${OUT}`);
}

try {
  await main();
} finally {
  for (const p of procs) p.kill("SIGKILL");
  rmSync(WORK, { recursive: true, force: true });
}
