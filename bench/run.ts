#!/usr/bin/env bun
/**
 * Swytch vs redis-server benchmark. Writes BENCHMARKS.md at the repo root.
 *
 *   bun bench/run.ts [--quick] [--runs N] [--requests N] [--requests-pipelined N] [--mem-keys N] [--out FILE]
 *
 * Requires dist/swytch (`npm run build`), redis-server, redis-benchmark and redis-cli on PATH.
 * Everything listens on loopback / unix sockets in a fresh temp dir; every child process is
 * started by this script, tracked by PID and stopped by PID. Every wait is bounded.
 *
 * This is a report, not a test: nothing here fails on a number.
 */
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { freePort, redisServerCmd, sleep } from "./lib.ts";

const ROOT = resolve(import.meta.dir, "..");
const SWYTCH_BIN = join(ROOT, "dist", "swytch");
const TESTS = "ping_inline,set,get,incr,lpush,lpop,mset";
const TEST_ORDER = ["PING_INLINE", "SET", "GET", "INCR", "LPUSH", "LPOP", "MSET (10 keys)"];
const CLIENTS = 50;
/** Hard ceiling for one redis-benchmark invocation; beyond it the server is reported as pathologically slow. */
const BENCH_TIMEOUT_MS = 240_000;

// ---------------------------------------------------------------- options

const { values: argv } = parseArgs({
  args: process.argv.slice(2),
  strict: true,
  options: {
    quick: { type: "boolean" },
    runs: { type: "string" },
    requests: { type: "string" },
    "requests-pipelined": { type: "string" },
    "mem-keys": { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (argv.help) {
  console.log(
    `Usage: bun bench/run.ts [--quick] [--runs N] [--requests N] [--requests-pipelined N] [--mem-keys N] [--out FILE]
  --quick                  1 run, 20000 requests at -P 1, 100000 at -P 16, 200000 keys for memory
  --runs N                 alternating runs per server (default 5)
  --requests N             -n for -P 1 (default 100000)
  --requests-pipelined N   -n for -P 16 (default 500000; 1000000 would push the run past ~12 min on 2 cores)
  --mem-keys N             keys loaded for the memory test (default 1000000)
  --out FILE               report path (default BENCHMARKS.md at the repo root)`,
  );
  process.exit(0);
}
function posInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^[0-9]+$/.test(v) || Number(v) < 1) {
    console.error(`bench: --${name} must be a positive integer, got '${v}'`);
    process.exit(2);
  }
  return Number(v);
}
const QUICK = argv.quick ?? false;
const RUNS = posInt("runs", argv.runs, QUICK ? 1 : 5);
const N_P1 = posInt("requests", argv.requests, QUICK ? 20_000 : 100_000);
const N_P16 = posInt("requests-pipelined", argv["requests-pipelined"], QUICK ? 100_000 : 500_000);
const MEM_KEYS = posInt("mem-keys", argv["mem-keys"], QUICK ? 200_000 : 1_000_000);
const OUT = resolve(argv.out ?? join(ROOT, "BENCHMARKS.md"));

// ---------------------------------------------------------------- preflight

if (!existsSync(SWYTCH_BIN)) {
  console.error(`bench: ${SWYTCH_BIN} not found. Build it first with \`npm run build\`.`);
  process.exit(1);
}
for (const tool of ["redis-server", "redis-benchmark", "redis-cli"]) {
  if (!Bun.which(tool)) {
    console.error(`bench: '${tool}' not found on PATH`);
    process.exit(1);
  }
}

const WORK = mkdtempSync(join(tmpdir(), "swytch-bench-"));
const t0 = Date.now();
const log = (msg: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${msg}`);

// ---------------------------------------------------------------- process helpers

type Kind = "swytch" | "redis";
interface Server {
  kind: Kind;
  proc: Subprocess;
  pid: number;
  port: number;
  sock: string;
  dir: string;
  logFile: string;
  cmd: string[];
  exited: boolean;
  exitCode: number | null;
  signal: string | null;
}
const live = new Set<Server>();

function shellQuote(a: string): string {
  return /^[A-Za-z0-9_\-./:=,@]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}
const showCmd = (cmd: string[]) => cmd.map(shellQuote).join(" ");

/** Runs a command to completion with a hard timeout; kills only the child it started. */
async function run(
  cmd: string[],
  timeoutMs: number,
  stdinFile?: string,
): Promise<{ code: number | null; out: string; err: string; timedOut: boolean; ms: number }> {
  const start = performance.now();
  const proc = Bun.spawn(cmd, {
    stdin: stdinFile ? Bun.file(stdinFile) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(proc.pid, "SIGKILL");
    } catch { /* already gone */ }
  }, timeoutMs);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, out, err, timedOut, ms: performance.now() - start };
}

async function cli(s: Server, ...args: string[]): Promise<string> {
  const r = await run(["redis-cli", "-h", "127.0.0.1", "-p", String(s.port), ...args], 10_000);
  return r.out.trim();
}

async function startServer(kind: Kind, label: string): Promise<Server> {
  const dir = mkdtempSync(join(WORK, `${kind}-${label}-`));
  const port = freePort();
  const sock = join(dir, `${kind}.sock`);
  const cmd = kind === "swytch"
    ? [SWYTCH_BIN, "redis", "--port", String(port), "--data-dir", join(dir, "data"), "--unixsocket", sock]
    : redisServerCmd(port, dir, "--unixsocket", sock);
  const logFile = join(dir, "server.log");
  const logFd = openSync(logFile, "a");
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: logFd, stderr: logFd });
  closeSync(logFd);
  const s: Server = {
    kind,
    proc,
    pid: proc.pid,
    port,
    sock,
    dir,
    logFile,
    cmd,
    exited: false,
    exitCode: null,
    signal: null,
  };
  live.add(s);
  proc.exited.then((code) => {
    s.exited = true;
    s.exitCode = code;
    s.signal = proc.signalCode == null ? null : String(proc.signalCode);
    live.delete(s);
  });
  // Wait (bounded) until both TCP and the unix socket answer PING.
  for (let i = 0; i < 100; i++) {
    if (s.exited) break;
    if (existsSync(sock)) {
      const a = await run(["redis-cli", "-h", "127.0.0.1", "-p", String(port), "ping"], 2_000);
      const b = await run(["redis-cli", "-s", sock, "ping"], 2_000);
      if (a.out.trim() === "PONG" && b.out.trim() === "PONG") return s;
    }
    await sleep(100);
  }
  const tail = safeRead(logFile).slice(-2000);
  await stopServer(s);
  throw new Error(`${kind} did not come up (exited=${s.exited} code=${s.exitCode}); log:\n${tail}`);
}

function safeRead(f: string): string {
  try {
    return readFileSync(f, "utf8");
  } catch {
    return "";
  }
}

async function stopServer(s: Server): Promise<void> {
  if (s.exited) return;
  try {
    process.kill(s.pid, "SIGTERM");
  } catch { /* gone */ }
  for (let i = 0; i < 100 && !s.exited; i++) await sleep(100);
  if (!s.exited) {
    try {
      process.kill(s.pid, "SIGKILL");
    } catch { /* gone */ }
    for (let i = 0; i < 50 && !s.exited; i++) await sleep(100);
  }
}

function cleanupSync(): void {
  for (const s of live) {
    try {
      process.kill(s.pid, "SIGKILL");
    } catch { /* gone */ }
  }
  live.clear();
  try {
    rmSync(WORK, { recursive: true, force: true });
  } catch { /* best effort */ }
}
process.on("SIGINT", () => {
  cleanupSync();
  process.exit(130);
});
process.on("SIGTERM", () => {
  cleanupSync();
  process.exit(143);
});

function rssKB(pid: number): number | null {
  const st = safeRead(`/proc/${pid}/status`);
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(st);
  return m ? Number(m[1]) : null;
}

// ---------------------------------------------------------------- throughput

type Transport = "tcp" | "unix";
interface Config {
  transport: Transport;
  pipeline: number;
  n: number;
}
const CONFIGS: Config[] = [
  { transport: "tcp", pipeline: 1, n: N_P1 },
  { transport: "tcp", pipeline: 16, n: N_P16 },
  { transport: "unix", pipeline: 1, n: N_P1 },
  { transport: "unix", pipeline: 16, n: N_P16 },
];
const cfgKey = (c: Config) => `${c.transport}/P${c.pipeline}`;

function benchCmd(s: Server | { port: string; sock: string }, c: Config): string[] {
  const target = c.transport === "tcp" ? ["-h", "127.0.0.1", "-p", String(s.port)] : ["-s", String(s.sock)];
  return [
    "redis-benchmark",
    ...target,
    "-c",
    String(CLIENTS),
    "-n",
    String(c.n),
    "-P",
    String(c.pipeline),
    "-t",
    TESTS,
    "--csv",
  ];
}

function parseCsv(out: string): Map<string, number> {
  const res = new Map<string, number>();
  for (const line of out.split(/\r?\n/)) {
    const m = /^"([^"]+)","([0-9.]+)"/.exec(line.trim());
    if (m && m[1] !== "test") res.set(m[1], Number(m[2]));
  }
  return res;
}

/** samples[cfgKey][kind][test] = rps per run */
const samples: Record<string, Record<Kind, Record<string, number[]>>> = {};
const incidents: string[] = [];
const servers: Record<Kind, Server | null> = { swytch: null, redis: null };

async function ensureServer(kind: Kind): Promise<Server> {
  const s = servers[kind];
  if (s && !s.exited) return s;
  if (s && s.exited) {
    const msg =
      `${kind} (pid ${s.pid}) had exited (code=${s.exitCode}, signal=${s.signal}); restarted with a fresh data dir. Log tail:\n${
        safeRead(s.logFile).slice(-1500)
      }`;
    incidents.push(msg);
    log(`!! ${msg}`);
  }
  servers[kind] = await startServer(kind, "tput");
  return servers[kind]!;
}

async function benchOnce(kind: Kind, c: Config, runIdx: number): Promise<void> {
  const s = await ensureServer(kind);
  const cmd = benchCmd(s, c);
  const r = await run(cmd, BENCH_TIMEOUT_MS);
  const got = parseCsv(r.out);
  const slot = (samples[cfgKey(c)] ??= { swytch: {}, redis: {} })[kind];
  for (const [t, rps] of got) (slot[t] ??= []).push(rps);
  const missing = TEST_ORDER.filter((t) => !got.has(t));
  const summary = TEST_ORDER.map((t) => `${t.split(" ")[0]}=${got.has(t) ? Math.round(got.get(t)!) : "-"}`)
    .join(" ");
  log(
    `run ${runIdx + 1}/${RUNS} ${kind.padEnd(6)} ${cfgKey(c).padEnd(9)} ${
      (r.ms / 1000).toFixed(1).padStart(5)
    }s  ${summary}`,
  );
  if (r.timedOut || missing.length || s.exited || r.code !== 0) {
    const msg = `run ${runIdx + 1} ${kind} ${cfgKey(c)}: ` +
      (r.timedOut ? `redis-benchmark killed after ${BENCH_TIMEOUT_MS / 1000}s; ` : "") +
      (s.exited ? `server exited (code=${s.exitCode}, signal=${s.signal}); ` : "") +
      `exit=${r.code}; missing tests: ${missing.join(", ") || "none"}; stderr: ${r.err.trim().slice(0, 500)}`;
    incidents.push(msg);
    log(`!! ${msg}`);
  }
}

// ---------------------------------------------------------------- memory

function writeMassInsert(file: string, n: number): void {
  const fd = openSync(file, "w");
  try {
    const chunk: string[] = [];
    for (let i = 0; i < n; i++) {
      const d = String(i).padStart(9, "0");
      chunk.push(`*3\r\n$3\r\nSET\r\n$10\r\nk${d}\r\n$10\r\nv${d}\r\n`);
      if (chunk.length === 10_000) {
        writeSync(fd, chunk.join(""));
        chunk.length = 0;
      }
    }
    if (chunk.length) writeSync(fd, chunk.join(""));
  } finally {
    closeSync(fd);
  }
}

interface MemResult {
  kind: Kind;
  beforeKB: number;
  afterKB: number;
  afterSamplesKB: number[];
  bytesPerKey: number;
  loadMs: number;
  dbsize: number;
  note: string;
}

async function memoryTest(kind: Kind, file: string): Promise<MemResult | { kind: Kind; error: string }> {
  const s = await startServer(kind, "mem");
  try {
    await sleep(1000);
    const beforeSamples: number[] = [];
    for (let i = 0; i < 3; i++) {
      beforeSamples.push(rssKB(s.pid) ?? NaN);
      await sleep(300);
    }
    const beforeKB = Math.min(...beforeSamples);
    const t = performance.now();
    const r = await run(["redis-cli", "-h", "127.0.0.1", "-p", String(s.port), "--pipe"], 300_000, file);
    let dbsize = 0;
    for (let i = 0; i < 600; i++) { // <= ~60 s more for the last writes to land
      dbsize = Number(await cli(s, "dbsize"));
      if (dbsize >= MEM_KEYS || s.exited) break;
      await sleep(100);
    }
    const loadMs = performance.now() - t;
    if (s.exited) {
      return {
        kind,
        error:
          `server exited during load (code=${s.exitCode}, signal=${s.signal}); redis-cli: ${r.out.trim()} ${r.err.trim()}`,
      };
    }
    // MEMORY PURGE on both: Redis asks jemalloc to return dirty pages, Swytch runs a full GC.
    // Then let each settle, sample a few times, keep the minimum.
    await cli(s, "memory", "purge");
    await sleep(2000);
    const afterSamples: number[] = [];
    for (let i = 0; i < 4; i++) {
      afterSamples.push(rssKB(s.pid) ?? NaN);
      await sleep(1000);
    }
    const afterKB = Math.min(...afterSamples);
    const note = [
      r.timedOut ? "redis-cli --pipe timed out" : "",
      dbsize !== MEM_KEYS ? `DBSIZE=${dbsize} != ${MEM_KEYS}` : "",
      r.out.trim().split("\n").pop() ?? "",
    ].filter(Boolean).join("; ");
    return {
      kind,
      beforeKB,
      afterKB,
      afterSamplesKB: afterSamples,
      loadMs,
      dbsize,
      bytesPerKey: ((afterKB - beforeKB) * 1024) / MEM_KEYS,
      note,
    };
  } finally {
    await stopServer(s);
  }
}

// ---------------------------------------------------------------- report helpers

function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const a = [...xs].sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}
const fmtInt = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "n/a");
const fmtRatio = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "n/a");

function machine(): Record<string, string> {
  const cpu = /^model name\s*:\s*(.+)$/m.exec(safeRead("/proc/cpuinfo"))?.[1]?.trim() ?? "unknown";
  const memKB = Number(/^MemTotal:\s+(\d+)/m.exec(safeRead("/proc/meminfo"))?.[1] ?? NaN);
  return {
    cpu,
    nproc: String(availableParallelism()),
    mem: `${(memKB / 1024 / 1024).toFixed(1)} GiB (${memKB} kB)`,
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const mach = machine();
  const kernel = (await run(["uname", "-r"], 5_000)).out.trim();
  const swytchVersion = (await run([SWYTCH_BIN, "version"], 10_000)).out.trim();
  const redisVersion = (await run(["redis-server", "--version"], 10_000)).out.trim();
  const benchVersion = (await run(["redis-benchmark", "--version"], 10_000)).out.trim();
  const started = new Date();
  log(`work dir ${WORK}; runs=${RUNS} n(P1)=${N_P1} n(P16)=${N_P16} memKeys=${MEM_KEYS}`);
  log(`${swytchVersion} | ${redisVersion}`);

  // -------- throughput: both servers up for the whole phase, alternating runs
  const tputStart = Date.now();
  await ensureServer("swytch");
  await ensureServer("redis");
  const launch: Record<Kind, string> = {
    swytch: showCmd(servers.swytch!.cmd).replaceAll(WORK, "$TMP"),
    redis: showCmd(servers.redis!.cmd).replaceAll(WORK, "$TMP"),
  };
  for (let i = 0; i < RUNS; i++) {
    for (const c of CONFIGS) {
      await benchOnce("swytch", c, i);
      await benchOnce("redis", c, i);
    }
  }
  const swRssEnd = servers.swytch && !servers.swytch.exited ? rssKB(servers.swytch.pid) : null;
  const rdRssEnd = servers.redis && !servers.redis.exited ? rssKB(servers.redis.pid) : null;
  const swLogDirSize = servers.swytch ? dirSize(join(servers.swytch.dir, "data")) : 0;
  await stopServer(servers.swytch!);
  await stopServer(servers.redis!);
  const tputSecs = (Date.now() - tputStart) / 1000;
  log(`throughput phase done in ${tputSecs.toFixed(0)}s`);

  // -------- memory
  const memFile = join(WORK, "mass-insert.resp");
  writeMassInsert(memFile, MEM_KEYS);
  log(`mass-insert file: ${(statSync(memFile).size / 1e6).toFixed(1)} MB, ${MEM_KEYS} SETs`);
  const mem: Record<Kind, MemResult | { kind: Kind; error: string }> = {
    swytch: await memoryTest("swytch", memFile),
    redis: await memoryTest("redis", memFile),
  };
  for (const k of ["swytch", "redis"] as Kind[]) {
    const m = mem[k];
    if ("error" in m) log(`!! memory ${k}: ${m.error}`);
    else {log(
        `memory ${k}: before=${m.beforeKB} kB after=${m.afterKB} kB (${m.afterSamplesKB.join("/")}) => ${
          m.bytesPerKey.toFixed(1)
        } B/key, load ${(m.loadMs / 1000).toFixed(1)}s, dbsize=${m.dbsize}`,
      );}
  }

  // -------- report
  const L: string[] = [];
  L.push("# Benchmarks: Swytch vs redis-server");
  L.push("");
  L.push(
    `Generated by \`bun bench/run.ts${
      process.argv.slice(2).length ? " " + process.argv.slice(2).join(" ") : ""
    }\` on ${started.toISOString()} ` +
      `(total wall time ${
        ((Date.now() - t0) / 1000 / 60).toFixed(1)
      } min). This file is a report of one real run, not a test: ` +
      "numbers on a shared 2-core VM move by ±10-20 % between runs.",
  );
  L.push("");
  L.push("## Machine");
  L.push("");
  L.push(`- CPU: ${mach.cpu}`);
  L.push(`- nproc: ${mach.nproc}`);
  L.push(`- MemTotal: ${mach.mem}`);
  L.push(`- kernel: ${kernel}`);
  L.push(`- swytch: \`${swytchVersion}\` (dist/swytch, \`bun build --compile\`, Bun ${Bun.version})`);
  L.push(`- redis-server: \`${redisVersion}\``);
  L.push(`- ${benchVersion}`);
  L.push("");
  L.push(
    "Client and servers share the same 2 cores, so redis-benchmark competes with the server for CPU: absolute numbers are low for both; the ratio is the point.",
  );
  L.push("");
  L.push("## Method");
  L.push("");
  L.push("Both servers run with the same durability: an append-only log fsynced every second, no snapshots.");
  L.push("Each runs from a fresh temp data dir and listens on 127.0.0.1 plus a unix socket:");
  L.push("");
  L.push("```sh");
  L.push(launch.swytch);
  L.push(launch.redis);
  L.push("```");
  L.push("");
  L.push(
    `Throughput: both servers stay up for the whole phase; ${RUNS} run(s), each going through the four configurations below, ` +
      "and for each configuration swytch then redis (so the two alternate: swytch, redis, swytch, redis, ...). The tables give the **median** rps over the runs " +
      "(redis-benchmark's `--csv` `rps` column) and ratio = swytch / redis.",
  );
  L.push("");
  L.push("```sh");
  for (const c of CONFIGS) {
    L.push(
      showCmd(benchCmd({ port: "$PORT", sock: "$SOCK" }, c)).replaceAll("'$PORT'", "$PORT").replaceAll(
        "'$SOCK'",
        "$SOCK",
      ),
    );
  }
  L.push("```");
  L.push("");
  if (N_P16 < 1_000_000 || N_P1 < 100_000) {
    L.push(
      `\`-n\` is ${N_P1.toLocaleString("en-US")} at -P 1 and ${N_P16.toLocaleString("en-US")} at -P 16 ` +
        "(rather than 1,000,000 at -P 16) to keep the whole benchmark around 12 minutes on this 2-core machine.",
    );
    L.push("");
  }
  L.push(
    "Default redis-benchmark keyspace (no `-r`): SET/GET/INCR hit one key, LPUSH/LPOP one list, MSET 10 keys.",
  );
  L.push("");

  const ratios: Record<string, number> = {};
  for (const transport of ["tcp", "unix"] as Transport[]) {
    for (const p of [1, 16]) {
      const c = CONFIGS.find((x) => x.transport === transport && x.pipeline === p)!;
      const sm = samples[cfgKey(c)] ?? { swytch: {}, redis: {} };
      L.push(
        `## Throughput: ${
          transport === "tcp" ? "TCP (127.0.0.1)" : "unix socket"
        }, -P ${p}, -c ${CLIENTS}, -n ${c.n.toLocaleString("en-US")}`,
      );
      L.push("");
      L.push("| test | swytch rps | redis rps | ratio |");
      L.push("|---|---:|---:|---:|");
      for (const t of TEST_ORDER) {
        const a = median(sm.swytch[t] ?? []);
        const b = median(sm.redis[t] ?? []);
        const r = a / b;
        ratios[`${cfgKey(c)}/${t}`] = r;
        L.push(`| ${t} | ${fmtInt(a)} | ${fmtInt(b)} | ${fmtRatio(r)} |`);
      }
      L.push("");
    }
  }

  L.push("<details><summary>All runs (rps per run, in order)</summary>");
  L.push("");
  L.push("| config | test | swytch | redis |");
  L.push("|---|---|---|---|");
  for (const c of CONFIGS) {
    const sm = samples[cfgKey(c)] ?? { swytch: {}, redis: {} };
    for (const t of TEST_ORDER) {
      L.push(
        `| ${cfgKey(c)} | ${t} | ${(sm.swytch[t] ?? []).map(fmtInt).join(", ")} | ${
          (sm.redis[t] ?? []).map(fmtInt).join(", ")
        } |`,
      );
    }
  }
  L.push("");
  L.push("</details>");
  L.push("");
  L.push(
    `At the end of the throughput phase (${tputSecs.toFixed(0)} s): swytch RSS ${
      swRssEnd ?? "n/a"
    } kB, redis RSS ${rdRssEnd ?? "n/a"} kB; ` +
      `swytch data dir ${(swLogDirSize / 1e6).toFixed(0)} MB (effect log of every write of the phase).`,
  );
  L.push("");

  // memory table
  L.push(`## Memory: ${MEM_KEYS.toLocaleString("en-US")} keys, 10-byte names, 10-byte values`);
  L.push("");
  L.push(
    "Each server is started fresh (empty data dir), RSS is read from `/proc/PID/status` (VmRSS), then the keys are loaded with",
  );
  L.push("");
  L.push("```sh");
  L.push(
    "redis-cli -h 127.0.0.1 -p $PORT --pipe < mass-insert.resp   # *3\\r\\n$3\\r\\nSET\\r\\n$10\\r\\nk000000000\\r\\n$10\\r\\nv000000000\\r\\n ...",
  );
  L.push("```");
  L.push("");
  L.push(
    "then DBSIZE is polled until it reaches the key count, `MEMORY PURGE` is sent (a full GC in swytch, a jemalloc purge in redis), and the script waits 2 s, samples VmRSS 4 times 1 s apart and keeps the minimum (same for both). bytes/key = (RSS after - RSS before) / keys.",
  );
  L.push("");
  L.push("| server | RSS before (kB) | RSS after (kB) | bytes/key | load time (s) | DBSIZE |");
  L.push("|---|---:|---:|---:|---:|---:|");
  for (const k of ["swytch", "redis"] as Kind[]) {
    const m = mem[k];
    if ("error" in m) L.push(`| ${k} | error: ${m.error.replace(/\|/g, "/").replace(/\n/g, " ")} | | | | |`);
    else {L.push(
        `| ${k} | ${fmtInt(m.beforeKB)} | ${fmtInt(m.afterKB)} | ${m.bytesPerKey.toFixed(1)} | ${
          (m.loadMs / 1000).toFixed(1)
        } | ${m.dbsize.toLocaleString("en-US")} |`,
      );}
  }
  const memRatio = !("error" in mem.swytch) && !("error" in mem.redis)
    ? mem.swytch.bytesPerKey / mem.redis.bytesPerKey
    : NaN;
  L.push("");
  L.push(`Ratio swytch / redis bytes per key: **${fmtRatio(memRatio)}**.`);
  for (const k of ["swytch", "redis"] as Kind[]) {
    const m = mem[k];
    if (!("error" in m) && m.note) L.push(`(${k}: redis-cli --pipe said: ${m.note})`);
  }
  L.push("");

  // targets
  L.push("## Targets");
  L.push("");
  L.push("| target | measured | met? |");
  L.push("|---|---|---|");
  const verdict = (ok: boolean | null) => (ok === null ? "n/a" : ok ? "yes" : "**no**");
  for (const transport of ["tcp", "unix"] as Transport[]) {
    for (const [p, min] of [[1, 0.75], [16, 0.5]] as const) {
      for (const t of ["SET", "GET"]) {
        const r = ratios[`${transport}/P${p}/${t}`];
        L.push(
          `| ${t} ${transport} -P ${p} >= ${min} x redis | ${fmtRatio(r)} | ${
            verdict(Number.isFinite(r) ? r >= min : null)
          } |`,
        );
      }
    }
  }
  L.push(
    `| RSS per key <= 4 x redis | ${fmtRatio(memRatio)} x | ${
      verdict(Number.isFinite(memRatio) ? memRatio <= 4 : null)
    } |`,
  );
  L.push("");

  if (incidents.length) {
    L.push("## Incidents during the run");
    L.push("");
    for (const i of incidents) {
      L.push("```");
      L.push(i);
      L.push("```");
    }
    L.push("");
  }

  writeFileSync(OUT, L.join("\n"));
  log(`wrote ${OUT}`);
  const dStart = L.indexOf("<details><summary>All runs (rps per run, in order)</summary>");
  const dEnd = L.indexOf("</details>");
  const keep = (l: string, i: number) =>
    !(i >= dStart && i <= dEnd) &&
    (l.startsWith("|") || l.startsWith("## Th") || l.startsWith("## Memory") || l.startsWith("## Ta") ||
      l.startsWith("Ratio"));
  console.log("\n" + L.filter(keep).join("\n"));
}

function dirSize(dir: string): number {
  let total = 0;
  try {
    for (const f of new Bun.Glob("**/*").scanSync({ cwd: dir, onlyFiles: true })) {
      total += statSync(join(dir, f)).size;
    }
  } catch { /* best effort */ }
  return total;
}

try {
  await main();
} catch (e) {
  console.error(`bench: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
} finally {
  for (const s of [...live]) await stopServer(s);
  try {
    rmSync(WORK, { recursive: true, force: true });
  } catch { /* best effort */ }
}
