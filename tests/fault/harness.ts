/**
 * The fault harness: a real swytch cluster in network namespaces (netns.ts), clients recording a
 * history (workload.ts, and the exclusive workloads of exclusive.ts), a seeded schedule of nemeses
 * (nemesis.ts), then heal, wait for the nodes to agree, final reads, and the checkers
 * (tests/checkers): every counter and set on its own, the queue, the bank, the list-append
 * transactions, and the whole keyspace for convergence.
 *
 * The verdict fails on any checker violation, on no convergence within the limit, on a node that
 * exited without being told to, on a membership change (no outage here is long enough to remove a
 * node), on an exclusive command answering an error outside the envelope contract, and on a nemesis
 * step that could not be applied. Nemeses the machine cannot run are reported as skipped.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { checkConvergence, convergenceFromHistory } from "../checkers/convergence.ts";
import { checkBank } from "../checkers/bank.ts";
import { checkCounter } from "../checkers/counter.ts";
import { type CheckResult, type Event, HistoryRecorder, toJsonl } from "../checkers/history.ts";
import { checkListAppend } from "../checkers/list_append.ts";
import { checkQueue } from "../checkers/queue.ts";
import { checkSet } from "../checkers/set.ts";
import { MIXED, MIXED_TTL_MAX_MS } from "../sim/mixed.ts";
import { ROOT, tmpDir } from "../helpers.ts";
import { Cluster, type Crash, type FaultNode, tail, timeline } from "./cluster.ts";
import { type ExclusiveStats, ExclusiveWorkload, percentile } from "./exclusive.ts";
import { Nemesis, type NemesisTally, planSchedule, type Step } from "./nemesis.ts";
import { NetLab } from "./netns.ts";
import { type Capabilities, NEMESES, type NemesisKind, probeCapabilities } from "./probe.ts";
import { Workload, type WorkloadStats } from "./workload.ts";

export interface HarnessOptions {
  seed: number;
  /** Seconds of faults (the workload runs during them). */
  seconds: number;
  nodes?: number;
  clientsPerNode?: number;
  /** Target operations per second over all clients (default 200; 0 = as fast as possible). */
  rate?: number;
  /** Only these nemeses (default: every one the machine supports). */
  only?: readonly NemesisKind[];
  counters?: number;
  sets?: number;
  /** How long the nodes get to agree after healing. */
  convergeTimeoutMs?: number;
  /**
   * The exclusive workloads (queue, bank, list-append) beside the counters and sets (default on);
   * false runs the coordination-free workload alone.
   */
  exclusive?: boolean;
  /** Queue elements pushed per second over all pushers (default QUEUE_RATE). */
  queueRate?: number;
  /** Most elements one LPOP takes while the queue is backlogged (default POP_BATCH_MAX; 1: single). */
  popBatchMax?: number;
  /** Keep the run directory (data dirs, node logs, history) even when the run passes. */
  keepDir?: boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface CheckerReport {
  name: string;
  result: CheckResult;
}

export interface HarnessReport {
  ok: boolean;
  /** Set when the harness could not run at all (then ok is false and nothing was checked). */
  skipped: string | null;
  seed: number;
  seconds: number;
  nodes: number;
  /** The code under test: commit, and files changed since (outside tests/fault). */
  version: string;
  /** Target operations per second (0: unthrottled). */
  rate: number;
  capabilities: Capabilities;
  schedule: Step[];
  nemeses: Record<NemesisKind, NemesisTally>;
  workload: WorkloadStats | null;
  /** The exclusive workloads' stats (null when they did not run). */
  exclusive: ExclusiveReport | null;
  checkers: CheckerReport[];
  converged: boolean;
  convergeMs: number;
  crashes: Crash[];
  /** Everything that makes the run fail, in words. */
  failures: string[];
  timings: { setupMs: number; faultMs: number; healMs: number; totalMs: number };
  dir: string;
  /** Per node, ms from spawn to accepting clients for each start. */
  startMs: Record<string, number[]>;
  /** Node log excerpts (on failure). */
  logTails: Record<string, string>;
}

const PASSPHRASE = "fault-harness-passphrase";
/** Operations per second over all clients, when not given. */
export const DEFAULT_RATE = 200;
/** Queue elements pushed per second (in RPUSHes of QUEUE_BATCH): some 12,000 in a 90 s run. */
export const QUEUE_RATE = 140;
const QUEUE_BATCH = 5;
/**
 * Exclusive commands stop everywhere while any member is unreachable, which is much of a run: in
 * the windows between faults single LPOPs of one hot list (some 150-200 per second) cannot catch
 * up with what was pushed meanwhile, so backlogged poppers take up to this many per LPOP.
 */
export const POP_BATCH_MAX = 16;
/** Exclusive commands get three times the nodes' --commit-timeout (their default, 2 s). */
const EXCLUSIVE_TIMEOUT_MS = 6000;
const QUEUE = "queue";
/** The mixed-type workloads' blocking queue, consumer-group stream and group (tests/fault/exclusive.ts). */
const BQUEUE = "bqueue";
const STREAM = "stream";
const GROUP = "group";
const ACCOUNTS = ["account:0", "account:1", "account:2", "account:3"];
const BANK_TOTAL = 400;
const APPEND_KEYS = ["append:0", "append:1", "append:2"];

/** The exclusive workloads' counts (see ExclusiveStats), over the seconds they ran. */
export type ExclusiveReport = ExclusiveStats & { seconds: number };

/** Runs the harness once; never leaves a process, namespace or bridge of its own behind. */
export async function runHarness(o: HarnessOptions): Promise<HarnessReport> {
  const caps = probeCapabilities();
  const n = o.nodes ?? 3;
  const nemeses = Object.fromEntries(
    NEMESES.map((k) => [k, { planned: 0, ran: 0, skipped: caps.skipped[k], errors: [], observed: [] }]),
  ) as unknown as Record<NemesisKind, NemesisTally>;
  const report: HarnessReport = {
    ok: false,
    skipped: caps.harnessSkip,
    seed: o.seed,
    seconds: o.seconds,
    nodes: n,
    version: codeVersion(),
    rate: o.rate ?? DEFAULT_RATE,
    capabilities: caps,
    schedule: [],
    nemeses,
    workload: null,
    exclusive: null,
    checkers: [],
    converged: false,
    convergeMs: 0,
    crashes: [],
    failures: [],
    timings: { setupMs: 0, faultMs: 0, healMs: 0, totalMs: 0 },
    dir: "",
    logTails: {},
    startMs: {},
  };
  if (caps.harnessSkip !== null) return report;

  const { log, lines, elapsed } = timeline(o.log);
  const dir = tmpDir("swytch-fault-");
  report.dir = dir;
  const available = NEMESES.filter((k) => caps.skipped[k] === undefined && (o.only?.includes(k) ?? true));
  for (const k of NEMESES) {
    if (o.only !== undefined && !o.only.includes(k) && nemeses[k].skipped === undefined) {
      nemeses[k].skipped = "not selected for this run";
    }
  }
  const schedule = planSchedule(o.seed, n, o.seconds, available);
  report.schedule = schedule;
  for (const s of schedule) nemeses[s.kind].planned++;

  let lab: NetLab | null = null;
  let cluster: Cluster | null = null;
  let aborted = false;
  const emergency = () => {
    cluster?.killAllSync();
    lab?.teardown();
  };
  const onSignal = (sig: NodeJS.Signals) => {
    aborted = true;
    log(`${sig}: cleaning up`);
    emergency();
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", emergency);
  const sleep = async (ms: number) => {
    const until = performance.now() + ms;
    while (!aborted && performance.now() < until) await Bun.sleep(Math.min(200, until - performance.now()));
  };

  const recorder = new HistoryRecorder(elapsed);
  const counters = Array.from({ length: o.counters ?? 4 }, (_, i) => `counter:${i}`);
  const sets = Array.from({ length: o.sets ?? 4 }, (_, i) => `set:${i}`);
  const withExclusive = o.exclusive ?? true;
  // The bank's final reads are its own: keyless, they would read as keyspace dumps to the
  // convergence checker, and its checker takes only its own events (as in the simulator).
  const bankFinals = new HistoryRecorder(elapsed);
  let exclusive: ExclusiveWorkload | null = null;
  let workload: Workload | null = null;
  let monitor: { stop(): Promise<void> } | null = null;
  try {
    lab = NetLab.create(n, { nft: caps.nft });
    log(`network: bridge ${lab.bridge} 10.77.${lab.subnet}.0/24, namespaces ${lab.ns(0)}..${lab.ns(n - 1)}`);
    cluster = new Cluster({ lab, dir, passphrase: PASSPHRASE, memberTimeout: "60s", clock: elapsed, log });
    await cluster.start();
    const c = cluster;
    log(`cluster formed: ${c.nodes.map((x) => `${x.name}=${x.ip} pid ${x.pid}`).join(", ")}`);
    report.timings.setupMs = elapsed();

    workload = new Workload({
      cluster: c,
      recorder,
      counters,
      sets,
      clientsPerNode: o.clientsPerNode ?? 2,
      seed: o.seed,
      opTimeoutMs: 1500,
      rate: o.rate ?? DEFAULT_RATE,
    });
    if (withExclusive) {
      exclusive = new ExclusiveWorkload({
        cluster: c,
        recorder,
        seed: o.seed,
        firstProcess: 1000,
        exclusiveTimeoutMs: EXCLUSIVE_TIMEOUT_MS,
        plainTimeoutMs: 1500,
        queue: QUEUE,
        pushRate: o.queueRate ?? QUEUE_RATE,
        pushBatch: QUEUE_BATCH,
        pushersPerNode: 1,
        poppersPerNode: 2,
        popBatchMax: o.popBatchMax ?? POP_BATCH_MAX,
        accounts: ACCOUNTS,
        bankTotal: BANK_TOTAL,
        bankRate: 15,
        bankClientsPerNode: 1,
        appendKeys: APPEND_KEYS,
        appendRate: 15,
        appendClientsPerNode: 1,
        bqueue: BQUEUE,
        stream: STREAM,
        group: GROUP,
        streamRate: 30,
        mixedRate: 30,
        mixed: MIXED,
      });
      await exclusive.setup();
      log(`bank opened: ${ACCOUNTS.length} accounts of ${BANK_TOTAL / ACCOUNTS.length} on every node`);
    }
    workload.start();
    exclusive?.start();
    monitor = startMonitor(c, log);

    // Fault phase.
    const nemesis = new Nemesis(c, log);
    const faultStart = performance.now();
    for (const step of schedule) {
      await sleep(faultStart + step.at - performance.now());
      if (aborted) break;
      // A node that crashed (reported as a failure already) is started again, as an operator
      // would, so the run goes on and its recovery is exercised too.
      for (const node of c.nodes) {
        if (node.state !== "down") continue;
        log(`${node.name} is down after a crash: starting it again`);
        await node.start().catch((e) =>
          report.failures.push(`restart after a crash: ${(e as Error).message}`)
        );
      }
      log(`nemesis ${step.kind}: ${step.what} for ${(step.durationMs / 1000).toFixed(1)}s`);
      const tally = nemeses[step.kind];
      try {
        await nemesis.run(step, tally, sleep);
        tally.ran++;
        log(`nemesis ${step.kind}: undone`);
      } catch (e) {
        const msg = `${step.what}: ${(e as Error).message}`;
        tally.errors.push(msg);
        log(`nemesis ${step.kind} FAILED: ${msg}`);
        await nemesis.healAll().catch((e2) => log(`heal after a failed step failed: ${e2}`));
      }
    }
    await sleep(faultStart + o.seconds * 1000 - performance.now());
    report.timings.faultMs = performance.now() - faultStart;

    // Heal and settle.
    const healStart = performance.now();
    log("healing: partitions and delays off, paused nodes resumed, down nodes started");
    await nemesis.healAll();
    await Promise.all([workload.stop(), exclusive?.stop()]);
    report.workload = workload.stats;
    log(
      `workload stopped: ${workload.stats.invoked} ops, ${workload.stats.ok} ok, ${workload.stats.fail} fail, ${workload.stats.info} info`,
    );
    if (exclusive !== null) {
      report.exclusive = { seconds: exclusive.seconds, ...exclusive.stats };
      const x = exclusive.stats;
      log(
        `exclusive workloads stopped: ${x.pushedElements} elements pushed, ${x.poppedElements} popped, ${
          Object.entries(x.ops).map(([k, s]) => `${k} ${s.ok}/${s.fail}/${s.info}`).join(", ")
        } (ok/fail/info)`,
      );
    }
    // Field TTLs of the mixed writes run out first, so the nodes' dumps (read one after another)
    // cannot differ by a field that expired between two of them.
    if (withExclusive) await Bun.sleep(MIXED_TTL_MAX_MS + 500);
    const keys = {
      counters,
      sets,
      lists: withExclusive ? [QUEUE, BQUEUE, ...APPEND_KEYS] : [],
      strings: withExclusive ? ACCOUNTS : [],
    };
    const conv = await waitConverged(c.nodes, keys, o.convergeTimeoutMs ?? 60_000, log);
    report.converged = conv.converged;
    report.convergeMs = conv.ms;
    log(conv.converged ? `converged in ${conv.ms} ms` : `NOT converged after ${conv.ms} ms: ${conv.last}`);

    // Final reads, recorded in the history.
    const unread = await finalReads(
      c.nodes,
      counters,
      sets,
      withExclusive
        ? { queues: [QUEUE, BQUEUE], stream: STREAM, group: GROUP, accounts: ACCOUNTS, bank: bankFinals }
        : null,
      recorder,
    );
    for (const u of unread) report.failures.push(`final reads failed: ${u}`);
    report.timings.healMs = performance.now() - healStart;

    // Membership after the storm.
    for (const node of c.nodes) {
      const info = await node.info().catch((e) => ({ error: String(e) }) as Record<string, string>);
      if (info.swytch_members !== String(n)) {
        report.failures.push(
          `${node.name} reports ${info.swytch_members ?? "?"} members at the end (${info.error ?? ""})`,
        );
      }
    }
  } catch (e) {
    report.failures.push(`harness error: ${(e as Error).stack ?? e}`);
    log(`harness error: ${(e as Error).message}`);
    if (workload !== null) await workload.stop().catch(() => {});
    if (exclusive !== null) await exclusive.stop().catch(() => {});
  } finally {
    await monitor?.stop();
    if (cluster !== null) {
      report.crashes = [...cluster.crashes];
      // Crashes seen while shutting down are not the nodes' fault.
      await cluster.shutdown();
      for (const node of cluster.nodes) {
        report.startMs[node.name] = [...node.startMs];
        report.logTails[node.name] = tail(node.logPath, 60);
      }
    }
    const problems = lab?.teardown() ?? [];
    for (const p of problems) report.failures.push(`teardown: ${p}`);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("exit", emergency);
  }

  // Checkers.
  const events: Event[] = recorder.events();
  fs.writeFileSync(path.join(dir, "history.jsonl"), toJsonl(events));
  if (report.workload !== null) {
    try {
      report.checkers.push({ name: "convergence", result: checkConvergence(convergenceFromHistory(events)) });
      for (const k of counters) {
        report.checkers.push({ name: `counter ${k}`, result: checkCounter(events, { key: k }) });
      }
      for (const k of sets) report.checkers.push({ name: `set ${k}`, result: checkSet(events, { key: k }) });
    } catch (e) {
      report.failures.push(`checker error: ${(e as Error).message}`);
    }
  }
  if (report.exclusive !== null && exclusive !== null) {
    const bank = exclusive.bankProcesses;
    const bankEvents = [...events.filter((e) => bank.has(e.process)), ...bankFinals.events()];
    // Re-check: bun tests/checkers/main.ts bank bank.jsonl --total 400 --accounts account:0,...
    fs.writeFileSync(path.join(dir, "bank.jsonl"), toJsonl(bankEvents));
    const run = (name: string, check: () => CheckResult) => {
      try {
        report.checkers.push({ name, result: check() });
      } catch (e) {
        report.failures.push(`checker error (${name}): ${(e as Error).message}`);
      }
    };
    run(`queue ${QUEUE}`, () => checkQueue(events, { key: QUEUE }));
    run(`blocking queue ${BQUEUE}`, () => checkQueue(events, { key: BQUEUE }));
    run(`consumer group ${STREAM}`, () => checkQueue(events, { key: STREAM }));
    run("bank", () => checkBank(bankEvents, { total: BANK_TOTAL, accounts: ACCOUNTS }));
    run("list-append", () => checkListAppend(events));
    for (const u of report.exclusive.unexpected) report.failures.push(`unexpected error reply: ${u}`);
  }
  for (const ch of report.checkers) {
    if (!ch.result.valid) report.failures.push(`${ch.name}: ${ch.result.errors.join("; ")}`);
  }
  if (report.workload !== null && !report.converged) report.failures.push("no convergence after healing");
  for (const cr of report.crashes) {
    report.failures.push(
      `${cr.node} exited unexpectedly at +${
        (cr.at / 1000).toFixed(3)
      }s (code ${cr.code}, signal ${cr.signal})`,
    );
  }
  for (const k of NEMESES) {
    for (const err of nemeses[k].errors) report.failures.push(`nemesis ${k} could not be applied: ${err}`);
  }
  report.timings.totalMs = elapsed();
  report.ok = report.failures.length === 0 && !aborted;
  fs.writeFileSync(path.join(dir, "events.log"), lines.join("\n") + "\n");
  fs.writeFileSync(path.join(dir, "report.txt"), formatReport(report));
  if (report.ok && o.keepDir !== true) {
    fs.rmSync(dir, { recursive: true, force: true });
    report.dir = "";
  }
  return report;
}

/**
 * Every 5 s, one line about every node: state, CPU use since the last line, and the replication
 * backlog from INFO (effects held for missing deps, unstable effects). For diagnosis only.
 */
function startMonitor(c: Cluster, log: (line: string) => void): { stop(): Promise<void> } {
  let running = true;
  const last = new Map<string, { pid: number | undefined; cpu: number | null; at: number }>();
  const loop = (async () => {
    while (running) {
      for (let i = 0; i < 25 && running; i++) await Bun.sleep(200);
      if (!running) break;
      const parts = await Promise.all(c.nodes.map(async (n) => {
        const now = performance.now(), cpu = n.cpuSeconds();
        const prev = last.get(n.name);
        last.set(n.name, { pid: n.pid, cpu, at: now });
        const pct = prev !== undefined && prev.pid === n.pid && prev.cpu !== null && cpu !== null
          ? `${Math.round((cpu - prev.cpu) / ((now - prev.at) / 1000) * 100)}%`
          : "?";
        if (n.state !== "up") return `${n.name} ${n.state}`;
        const info = await n.info().catch(() => null);
        const f = (k: string) => info?.[`swytch_${k}`] ?? "?";
        return `${n.name} cpu=${pct} members=${f("members")} alive=${f("alive_peers")} held=${
          f("held_effects")
        } unstable=${f("unstable_effects")}`;
      }));
      log(`monitor: ${parts.join(" | ")}`);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** The keys the nodes must agree on before the final reads, by how they are read. */
interface WatchedKeys {
  counters: string[];
  sets: string[];
  lists: string[];
  strings: string[];
}

/**
 * GET every counter and string, SMEMBERS every set, LRANGE every list, DBSIZE: one comparable
 * string per node.
 */
async function snapshot(node: FaultNode, k: WatchedKeys): Promise<string> {
  return await node.admin(async (r) => {
    const cs = await Promise.all(k.counters.map((x) => r.get(x)));
    const ss = await Promise.all(k.sets.map((x) => r.smembers(x).then((m) => m.sort().join(","))));
    const ls = await Promise.all(k.lists.map((x) => r.lrange(x, 0, -1)));
    const strs = k.strings.length > 0 ? await r.mget(...k.strings) : [];
    const size = await r.dbsize();
    return JSON.stringify({ cs, ss, ls, strs, size });
  });
}

async function waitConverged(
  nodes: FaultNode[],
  keys: WatchedKeys,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<{ converged: boolean; ms: number; last: string }> {
  const start = performance.now();
  let last = "";
  let reported = 0;
  while (performance.now() - start < timeoutMs) {
    const snaps = await Promise.all(nodes.map((x) => snapshot(x, keys).catch((e) => `error ${e}`)));
    if (snaps.every((s) => s === snaps[0]) && !snaps[0].startsWith("error")) {
      return { converged: true, ms: Math.round(performance.now() - start), last: "" };
    }
    last = nodes.map((x, i) => `${x.name}: ${summarize(snaps[i])}`).join(" | ");
    if (performance.now() - start - reported > 10_000) {
      reported = performance.now() - start;
      log(`not converged yet: ${last}`);
    }
    await Bun.sleep(250);
  }
  return { converged: false, ms: Math.round(performance.now() - start), last };
}

function summarize(snap: string): string {
  try {
    const s = JSON.parse(snap) as {
      cs: (string | null)[];
      ss: string[];
      ls: string[][];
      strs: (string | null)[];
      size: number;
    };
    return `counters=${s.cs.join(",")} sets=${
      s.ss.map((x) => (x === "" ? 0 : x.split(",").length)).join(",")
    } lists=${s.ls.map((l) => l.length).join(",")} strings=${s.strs.join(",")} dbsize=${s.size}`;
  } catch {
    return snap.slice(0, 200);
  }
}

/** The canonical value of one key for the convergence checker. */
async function canonical(r: ReturnType<FaultNode["client"]>, key: string): Promise<string | null> {
  const type = await r.type(key);
  switch (type) {
    case "none":
      return null;
    case "string":
      return `string:${await r.get(key)}`;
    case "set":
      return `set:${JSON.stringify((await r.smembers(key)).sort())}`;
    case "hash": {
      const h = await r.hgetall(key);
      return `hash:${JSON.stringify(Object.entries(h).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))}`;
    }
    case "list":
      return `list:${JSON.stringify(await r.lrange(key, 0, -1))}`;
    case "zset":
      return `zset:${JSON.stringify(await r.zrange(key, 0, -1, "WITHSCORES"))}`;
    case "stream":
      return `stream:${JSON.stringify(await r.xrange(key, "-", "+"))}:${
        JSON.stringify(await r.xinfo("GROUPS", key))
      }`;
    default:
      return `${type}:?`;
  }
}

/**
 * Final reads through each node's own connection: every counter (GET), every set (SMEMBERS), the
 * queue (LRANGE 0 -1), and a whole-keyspace dump (KEYS *, then each key by type) for the
 * convergence checker; the bank's balances (MGET, value {account: n}) go to the bank's own
 * recorder. A read that fails is recorded as such, so the checkers see a missing final read rather
 * than a made-up one.
 */
async function finalReads(
  nodes: FaultNode[],
  counters: string[],
  sets: string[],
  ex: { queues: string[]; stream: string; group: string; accounts: string[]; bank: HistoryRecorder } | null,
  h: HistoryRecorder,
): Promise<string[]> {
  const failed: string[] = [];
  for (const node of nodes) {
    const p = 1_000_000 + node.index;
    await node.admin(async (r) => {
      const read = async (
        f: string,
        key: string | undefined,
        fn: () => Promise<unknown>,
        rec: HistoryRecorder = h,
      ) => {
        const op = rec.invoke(p, node.name, f, key);
        try {
          op.ok(await fn());
        } catch (e) {
          op.info(e);
          failed.push(`${node.name} ${key ?? "keyspace dump"}: ${(e as Error).message}`);
        }
      };
      for (const k of counters) await read("final-read", k, () => r.get(k));
      for (const k of sets) await read("final-read", k, () => r.smembers(k));
      if (ex !== null) {
        for (const q of ex.queues) await read("final-read", q, () => r.lrange(q, 0, -1));
        // The consumer group's queue: the entries after the group's last delivered id.
        await read("final-read", ex.stream, async () => {
          const groups = await r.xinfo("GROUPS", ex.stream) as unknown[][];
          const g = groups.find((x) => x[1] === ex.group);
          const at = g?.indexOf("last-delivered-id") ?? -1;
          const from = g === undefined || at < 0 ? "-" : `(${g[at + 1] as string}`;
          const rest = await r.xrange(ex.stream, from, "+");
          return rest.map(([, fields]) => fields[1]);
        });
        await read("final-read", undefined, async () => {
          const vals = await r.mget(...ex.accounts);
          return Object.fromEntries(ex.accounts.map((a, i) => [a, Number(vals[i] ?? 0)]));
        }, ex.bank);
      }
      await read("final-read", undefined, async () => {
        const keys = (await r.keys("*")).sort();
        const dump: Record<string, string | null> = {};
        for (const k of keys) dump[k] = await canonical(r, k);
        return dump;
      });
    }, 10_000).catch((e) => failed.push(`${node.name}: ${(e as Error).message}`));
  }
  return failed;
}

/**
 * `git` commit of the tree under test plus its uncommitted changes (outside tests/fault), with a
 * hash of their contents, so a result can be placed even while the tree is being edited.
 */
export function codeVersion(): string {
  const git = (args: string[]) =>
    spawnSync("git", ["-C", ROOT, ...args], { encoding: "utf8", timeout: 10_000 }).stdout?.trimEnd() ?? "";
  const head = git(["rev-parse", "--short", "HEAD"]) || "unknown commit";
  const dirty = git(["status", "--porcelain"]).split("\n").map((l) => l.slice(3)).filter((f) =>
    f !== "" && !f.startsWith("tests/fault/")
  );
  if (dirty.length === 0) return head;
  const h = new Bun.CryptoHasher("sha256");
  for (const f of dirty.sort()) {
    h.update(f);
    try {
      h.update(fs.readFileSync(path.join(ROOT, f)));
    } catch {
      h.update("(gone)");
    }
  }
  return `${head} + uncommitted changes (content ${h.digest("hex").slice(0, 12)}) in ${dirty.join(", ")}`;
}

/** The report as text. */
export function formatReport(r: HarnessReport): string {
  const out: string[] = [];
  out.push(`fault harness: seed ${r.seed}, ${r.nodes} nodes, ${r.seconds}s of faults, swytch ${r.version}`);
  if (r.skipped !== null) {
    out.push(`SKIPPED: ${r.skipped}`);
    return out.join("\n") + "\n";
  }
  const t = r.timings;
  out.push(
    `time: setup ${(t.setupMs / 1000).toFixed(1)}s, faults ${
      (t.faultMs / 1000).toFixed(1)
    }s, heal+converge+final reads ${(t.healMs / 1000).toFixed(1)}s (converged in ${r.convergeMs} ms), total ${
      (t.totalMs / 1000).toFixed(1)
    }s`,
  );
  out.push("nemeses:");
  for (const k of NEMESES) {
    const x = r.nemeses[k];
    const status = x.skipped !== undefined
      ? `SKIPPED: ${x.skipped}`
      : x.ran === 0 && x.errors.length === 0
      ? "not scheduled (too short a run)"
      : `ran ${x.ran}/${x.planned}${x.errors.length > 0 ? `, ${x.errors.length} FAILED to apply` : ""}`;
    out.push(`  ${k.padEnd(18)} ${status}`);
  }
  out.push("schedule:");
  for (const s of r.schedule) {
    out.push(`  +${(s.at / 1000).toFixed(1)}s ${s.kind}: ${s.what} (${(s.durationMs / 1000).toFixed(1)}s)`);
  }
  const starts = Object.entries(r.startMs).filter(([, ms]) => ms.length > 1);
  if (starts.length > 0) {
    out.push(
      `restarts (ms until a node accepts clients): ${
        starts.map(([n, ms]) => `${n} ${ms.slice(1).join(", ")}`).join("; ")
      }`,
    );
  }
  const obs = NEMESES.flatMap((k) => r.nemeses[k].observed.map((o) => `  ${k}: ${o}`));
  if (obs.length > 0) out.push("observed:", ...obs);
  if (r.workload !== null) {
    const w = r.workload;
    const secs = (r.timings.faultMs || 1) / 1000;
    out.push(
      `ops: ${w.invoked} invoked, ${w.ok} ok, ${w.fail} fail, ${w.info} info (${
        Math.round(w.invoked / secs)
      }/s; target ${r.rate === 0 ? "unthrottled" : `${r.rate}/s`})`,
    );
    for (const [f, s] of Object.entries(w.byF)) {
      out.push(`  ${f.padEnd(9)} ok ${s.ok}, fail ${s.fail}, info ${s.info}`);
    }
    const errs = Object.entries(w.errors).sort((a, b) => b[1] - a[1]).slice(0, 8);
    if (errs.length > 0) out.push("  errors:", ...errs.map(([e, k]) => `    ${k} x ${e}`));
  }
  if (r.exclusive !== null) out.push(...formatExclusive(r.exclusive));
  if (r.checkers.length > 0) out.push("checkers:");
  for (const c of r.checkers) {
    const stats = Object.entries(c.result.stats).map(([k, v]) => `${k}=${v}`).join(" ");
    out.push(`  ${c.name.padEnd(20)} ${c.result.valid ? "valid" : "INVALID"}  ${stats}`);
    for (const e of c.result.errors) out.push(`    ${e}`);
  }
  if (r.failures.length > 0) {
    out.push("FAILURES:");
    for (const f of r.failures) out.push(`  - ${f}`);
    for (const cr of r.crashes) out.push(`  ${cr.node} log before it exited:\n${indent(cr.logTail)}`);
    for (const [name, text] of Object.entries(r.logTails)) out.push(`  ${name} log tail:\n${indent(text)}`);
  }
  if (r.dir !== "") out.push(`run directory (data dirs, node logs, history.jsonl): ${r.dir}`);
  out.push(r.ok ? "RESULT: PASS" : "RESULT: FAIL");
  return out.join("\n") + "\n";
}

/** The exclusive workloads' lines of the report. */
function formatExclusive(x: ExclusiveReport): string[] {
  const out: string[] = [];
  const secs = x.seconds || 1;
  const total = Object.values(x.ops).reduce((a, s) => a + s.invoked, 0);
  const rate = (n: number) => (n / secs).toFixed(1);
  out.push(`exclusive workloads: ${total} ops in ${secs.toFixed(1)}s`);
  out.push(
    `  queue: ${x.pushedElements} elements pushed (${x.acknowledgedElements} acknowledged; ${
      rate(x.pushedElements)
    }/s), ${x.poppedElements} popped (${
      rate(x.poppedElements)
    }/s); ${x.batchPops} LPOPs asked for several, ${x.emptyPops} found the queue empty`,
  );
  for (const [name, s] of Object.entries(x.ops)) {
    if (s.invoked === 0) continue;
    const lat = s.ok > 0
      ? `; ok latency p50 ${percentile(s.okMs, 50)} ms, p99 ${percentile(s.okMs, 99)} ms, max ${
        percentile(s.okMs, 100)
      } ms`
      : "";
    out.push(
      `  ${name.padEnd(16)} ok ${s.ok}, fail ${s.fail}, info ${s.info} (${
        (s.ok / secs).toFixed(1)
      } ok/s${lat})`,
    );
  }
  if (x.insufficient + x.watchAborts > 0) {
    out.push(
      `  transfers failed: ${x.insufficient} short balance (no EXEC), ${x.watchAborts} EXEC nil (a watched key changed)`,
    );
  }
  const errs = Object.entries(x.errors).sort((a, b) => b[1] - a[1]).slice(0, 10);
  if (errs.length > 0) out.push("  errors:", ...errs.map(([e, k]) => `    ${k} x ${e}`));
  for (const u of x.unexpected) out.push(`  UNEXPECTED: ${u}`);
  return out;
}

function indent(s: string): string {
  return s.split("\n").map((l) => `    ${l}`).join("\n");
}
