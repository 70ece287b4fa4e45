/**
 * The partition contract of envelope-commit (docs/protocol.md, "Envelope-commit" and
 * "Membership"), on three fresh nodes with a short --member-timeout:
 *
 * 1. one node is isolated (nftables, both directions, as the isolate nemesis does);
 * 2. for the first seconds, on the isolated node every exclusive command (LPOP, SET NX,
 *    MULTI/INCR/EXEC) answers -PARTITIONED or -TRYAGAIN within the commit timeout plus a small
 *    slack, and on the majority side none commits either (the isolated node is still a
 *    participant), while coordination-free writes (SET, INCR, RPUSH) succeed on both sides;
 * 3. the majority removes the isolated node after the member timeout (HGETALL __swytch:members),
 *    and exclusive commands commit there again;
 * 4. heal: the isolated node hears it was removed, starts over as a new node (new node id) and joins
 *    again, writing again what it took while cut off; all
 *    three nodes end up members and agree on every key written, and an exclusive command commits
 *    on the node that was isolated.
 *
 * Every wait is bounded. The report has the measured numbers (latencies of the refused commands,
 * time to removal, time to rejoin and to agreement) and the failures in words.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import Redis from "ioredis";
import { tmpDir } from "../helpers.ts";
import { Cluster, type Crash, type FaultNode, tail, timeline } from "./cluster.ts";
import { historyClient } from "./workload.ts";
import { classifyExclusive, percentile } from "./exclusive.ts";
import { codeVersion } from "./harness.ts";
import { NetLab, run } from "./netns.ts";
import { probeCapabilities } from "./probe.ts";
import { Rng } from "./rng.ts";

export interface PartitionOptions {
  seed: number;
  /** The nodes' --member-timeout in seconds. */
  memberTimeoutS?: number;
  /** How long exclusive commands are tried on both sides after the cut (before any removal). */
  refuseMs?: number;
  /** Bound on waiting for the removal, and on waiting for the rejoin and agreement. */
  removalTimeoutMs?: number;
  rejoinTimeoutMs?: number;
  keepDir?: boolean;
  log?: (line: string) => void;
}

/** When an exclusive command ran: during the cut, after the removal, after the rejoin. */
export type Phase = "cut" | "removed" | "rejoined";

/** One exclusive command and what it answered. */
export interface Attempt {
  node: string;
  side: "isolated" | "majority";
  phase: Phase;
  cmd: Cmd;
  key: string;
  /** ms after the cut it was sent. */
  at: number;
  ms: number;
  /** ok: it committed; refused: definitely not applied; unknown: not learned, or no answer. */
  outcome: "ok" | "refused" | "unknown" | "unexpected";
  /** The reply (JSON) or the error text. */
  reply: string;
}

export type Cmd = "LPOP" | "SET NX" | "MULTI INCR EXEC";
const CMDS: readonly Cmd[] = ["LPOP", "SET NX", "MULTI INCR EXEC"];

export interface PartitionReport {
  ok: boolean;
  skipped: string | null;
  seed: number;
  /** The code under test (harness.ts codeVersion). */
  version: string;
  /** The node cut off, and its node id. */
  isolated: string;
  isolatedId: string;
  commitTimeoutMs: number;
  memberTimeoutMs: number;
  /** Longest a refused exclusive command may take on the isolated node: the commit timeout plus the slack. */
  boundMs: number;
  /** The same on the majority side: recovery of another node's envelope on the key, plus the slack. */
  majorityBoundMs: number;
  attempts: Attempt[];
  /** Coordination-free writes during the cut, per side: acknowledged and not. */
  plain: Record<"isolated" | "majority", { ok: number; failed: number; errors: string[] }>;
  /** ms from the cut until each majority node's membership lists the isolated node as removed. */
  removalMs: Record<string, number>;
  /** ms from the removal until each exclusive command first committed on the majority side. */
  commitAfterRemovalMs: Record<string, number>;
  /** ms from the heal until all three are members again and writable, and until they agree. */
  rejoinMs: number | null;
  agreeMs: number | null;
  /** ms from the agreement until each exclusive command committed on the node that was isolated. */
  rejoinCommitMs: Record<string, number>;
  /** The isolated node's node id and incarnation before and after (it starts over under a new id). */
  incarnations: [string, string];
  crashes: Crash[];
  failures: string[];
  timings: { setupMs: number; totalMs: number };
  dir: string;
  logTails: Record<string, string>;
}

const PASSPHRASE = "fault-partition-passphrase";
/** The nodes run with the default --commit-timeout. */
const COMMIT_TIMEOUT_MS = 2000;
const SLACK_MS = 500;
const QUEUE = "pq";
/** Elements in the queue before the cut: more than the test ever pops. */
const PREFILL = 40;

/** Runs the partition scenario once; never leaves a process, namespace or bridge of its own behind. */
export async function runPartition(o: PartitionOptions): Promise<PartitionReport> {
  const caps = probeCapabilities();
  const memberTimeoutS = o.memberTimeoutS ?? 6;
  const refuseMs = o.refuseMs ?? 4000;
  const rng = new Rng(o.seed ^ 0x9a27);
  const iso = rng.int(3);
  const report: PartitionReport = {
    ok: false,
    skipped: caps.harnessSkip ?? (caps.nft ? null : caps.skipped.isolate ?? "nft unusable"),
    seed: o.seed,
    version: codeVersion(),
    isolated: `n${iso + 1}`,
    isolatedId: "",
    commitTimeoutMs: COMMIT_TIMEOUT_MS,
    memberTimeoutMs: memberTimeoutS * 1000,
    boundMs: COMMIT_TIMEOUT_MS + SLACK_MS,
    majorityBoundMs: 1.5 * COMMIT_TIMEOUT_MS + SLACK_MS,
    attempts: [],
    plain: { isolated: { ok: 0, failed: 0, errors: [] }, majority: { ok: 0, failed: 0, errors: [] } },
    removalMs: {},
    commitAfterRemovalMs: {},
    rejoinMs: null,
    agreeMs: null,
    rejoinCommitMs: {},
    incarnations: ["", ""],
    crashes: [],
    failures: [],
    timings: { setupMs: 0, totalMs: 0 },
    dir: "",
    logTails: {},
  };
  if (report.skipped !== null) return report;

  const { log, lines, elapsed } = timeline(o.log);
  const fail = (why: string) => {
    report.failures.push(why);
    log(`FAILURE: ${why}`);
  };
  const dir = tmpDir("swytch-partition-");
  report.dir = dir;
  let lab: NetLab | null = null;
  let cluster: Cluster | null = null;
  const clients: Redis[] = [];
  const emergency = () => {
    cluster?.killAllSync();
    lab?.teardown();
  };
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: cleaning up`);
    emergency();
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", emergency);
  const connect = async (node: FaultNode, timeoutMs: number): Promise<Redis> => {
    const r = historyClient(node, timeoutMs, false);
    clients.push(r);
    await r.connect();
    return r;
  };

  try {
    // The prefix differs from the main harness's, so the two never share interface names.
    lab = NetLab.create(3, { nft: true, prefix: `swp${process.pid}` });
    const peers = { proxyIp: lab.proxyIp, proxyPorts: [] as number[] };
    cluster = new Cluster({
      lab,
      dir,
      passphrase: PASSPHRASE,
      memberTimeout: `${memberTimeoutS}s`,
      clock: elapsed,
      log,
    });
    await cluster.start();
    const c = cluster;
    peers.proxyPorts = c.proxyPorts;
    const nodes = c.nodes;
    const isolated = nodes[iso];
    const majority = nodes.filter((n) => n !== isolated);
    const sideOf = (n: FaultNode) => n === isolated ? "isolated" as const : "majority" as const;
    log(`cluster formed: ${nodes.map((x) => `${x.name}=${x.ip} pid ${x.pid}`).join(", ")}`);
    const info0 = await isolated.info();
    report.isolatedId = info0.swytch_node_id ?? "?";
    report.incarnations[0] = `${info0.swytch_node_id ?? "?"}/${info0.swytch_incarnation ?? "?"}`;

    // The queue the pops take from, on every node before the cut.
    const prefill = Array.from({ length: PREFILL }, (_, i) => `e${i}`);
    await nodes[0].admin((r) => r.rpush(QUEUE, ...prefill));
    await until(10_000, async () => {
      const lens = await Promise.all(nodes.map((n) => n.admin((r) => r.llen(QUEUE)).catch(() => -1)));
      return lens.every((l) => l === PREFILL);
    }, "the queue on every node");
    report.timings.setupMs = elapsed();

    // Exclusive commands, each on keys of its node's own but the queue (so that a command never
    // waits behind an undecided one of its node on another key).
    let cutAt = performance.now();
    const sinceCut = () => Math.round(performance.now() - cutAt);
    const nx = new Map<string, number>();
    const attempt = async (r: Redis, node: FaultNode, cmd: Cmd, phase: Phase): Promise<Attempt> => {
      const n = (nx.get(node.name) ?? 0) + 1;
      nx.set(node.name, n);
      const key = cmd === "LPOP" ? QUEUE : cmd === "SET NX" ? `p:nx:${node.name}:${n}` : `p:tx:${node.name}`;
      const at = sinceCut();
      const t = performance.now();
      let outcome: Attempt["outcome"], reply: string;
      try {
        const v = await exclusive(r, cmd, key);
        outcome = "ok";
        reply = JSON.stringify(v);
      } catch (e) {
        reply = (e as Error).message;
        const v = classifyExclusive(e);
        outcome = v === "fail" ? "refused" : v === "info" ? "unknown" : "unexpected";
      }
      const a: Attempt = {
        node: node.name,
        side: sideOf(node),
        phase,
        cmd,
        key,
        at,
        ms: Math.round(performance.now() - t),
        outcome,
        reply,
      };
      report.attempts.push(a);
      return a;
    };
    /** Tries `cmd` on `node` until it commits (true) or `ms` pass (false). */
    const untilCommitted = async (node: FaultNode, cmd: Cmd, phase: Phase, ms: number) => {
      const r = await connect(node, 8000);
      const start = performance.now();
      let last: Attempt | null = null;
      while (performance.now() - start < ms) {
        last = await attempt(r, node, cmd, phase);
        if (last.outcome === "ok" && !(cmd === "SET NX" && last.reply !== '"OK"')) return true;
        await Bun.sleep(100);
      }
      fail(`${cmd} on ${node.name} did not commit within ${ms} ms (${phase}): last ${last?.reply}`);
      return false;
    };

    // --- The cut.
    const blocks = majority.flatMap((m) => [{ from: iso, to: m.index }, { from: m.index, to: iso }]);
    await lab.setBlocks(blocks, peers);
    cutAt = performance.now();
    log(`isolated ${isolated.name} (${report.isolatedId}) from ${majority.map((m) => m.name).join(", ")}`);

    // Coordination-free writes on both sides, for the whole cut: a shared counter, and a string
    // and a list of each node's own.
    const acked = { incr: 0, pushed: new Map<string, string[]>(), set: new Map<string, string>() };
    let writing = true;
    const writer = async (node: FaultNode) => {
      const side = sideOf(node);
      const r = await connect(node, 1500);
      const list: string[] = [];
      acked.pushed.set(node.name, list);
      for (let i = 0; writing; i++) {
        const cmds: [string, () => Promise<unknown>, () => void][] = [
          ["INCR", () => r.incr("p:counter"), () => acked.incr++],
          ["SET", () => r.set(`p:str:${node.name}`, `v${i}`), () => acked.set.set(node.name, `v${i}`)],
          ["RPUSH", () => r.rpush(`p:list:${node.name}`, `x${i}`), () => list.push(`x${i}`)],
        ];
        for (const [name, run, ok] of cmds) {
          try {
            await run();
            ok();
            report.plain[side].ok++;
          } catch (e) {
            report.plain[side].failed++;
            if (report.plain[side].errors.length < 5) {
              report.plain[side].errors.push(
                `${name} on ${node.name} at +${sinceCut()} ms: ${(e as Error).message}`,
              );
            }
          }
        }
        await Bun.sleep(50);
      }
    };
    const writers = nodes.map((n) => writer(n));

    // Every exclusive command, on both sides, from the cut on: one sequential client per command
    // and node, and a second LPOP client starting a moment later (while the first one's envelope
    // may still be undecided). A client whose command got no answer stops (its connection is
    // spent); the failure is reported below.
    await Promise.all(
      nodes.flatMap((n) =>
        [...CMDS.map((cmd) => [cmd, 0] as const), ["LPOP", 300] as const].map(async ([cmd, delay]) => {
          const r = await connect(n, 8000);
          await Bun.sleep(delay);
          while (sinceCut() < refuseMs) {
            const a = await attempt(r, n, cmd, "cut");
            if (a.outcome === "unknown" && !a.reply.startsWith("TRYAGAIN")) break;
            await Bun.sleep(20);
          }
        })
      ),
    );
    const cut = report.attempts.filter((a) => a.phase === "cut");
    for (const a of cut) {
      const refused = a.reply.startsWith("PARTITIONED") || a.reply.startsWith("TRYAGAIN");
      const what = `${a.cmd} on ${a.node} (${a.side} side) sent ${a.at} ms after the cut`;
      // On the majority side a command may first wait for another node's envelope on its key,
      // undecided until recovery (the commit timeout plus up to half of it, docs/protocol.md).
      const bound = a.side === "isolated" ? report.boundMs : report.majorityBoundMs;
      if (a.outcome === "unknown" && !refused) fail(`${what}: no answer in ${a.ms} ms (${a.reply})`);
      else if (!refused) fail(`${what} answered ${a.reply}`);
      else if (a.ms > bound) fail(`${what} took ${a.ms} ms > ${bound} ms: ${a.reply}`);
    }
    log(`exclusive commands in the first ${refuseMs} ms: ${cut.length}; ${summarize(cut)}`);

    // --- The majority removes the isolated node (bounded).
    await Promise.all(majority.map(async (m) => {
      await until(
        o.removalTimeoutMs ?? 30_000,
        async () => (await m.admin((r) => r.hgetall("__swytch:members")))[report.isolatedId] === "removed",
        `${m.name} to see ${isolated.name} removed`,
      ).then(() => (report.removalMs[m.name] = sinceCut())).catch((e) => fail((e as Error).message));
    }));
    const removedAt = performance.now();
    log(`removal seen: ${Object.entries(report.removalMs).map(([n, ms]) => `${n} +${ms} ms`).join(", ")}`);

    // Exclusive commands commit on the majority side again (retried: the other majority node may
    // learn the new membership a moment later, and refuse until it does).
    if (Object.keys(report.removalMs).length === majority.length) {
      await Promise.all(majority.flatMap((m) =>
        CMDS.map(async (cmd) => {
          if (await untilCommitted(m, cmd, "removed", 10_000)) {
            report.commitAfterRemovalMs[`${cmd} on ${m.name}`] = Math.round(performance.now() - removedAt);
          }
        })
      ));
      log(
        `committed after the removal: ${
          Object.entries(report.commitAfterRemovalMs).map(([k, ms]) => `${k} +${ms} ms`).join(", ")
        }`,
      );
    }

    // --- Heal. The write loops stop first: a rejoining node refuses writes until every member
    // knows it, which is not what they test.
    writing = false;
    await Promise.all(writers);
    for (const side of ["isolated", "majority"] as const) {
      const x = report.plain[side];
      log(`coordination-free writes on the ${side} side during the cut: ${x.ok} ok, ${x.failed} failed`);
      if (x.failed > 0) fail(`coordination-free writes failed on the ${side} side: ${x.errors.join("; ")}`);
      if (x.ok === 0) fail(`no coordination-free write succeeded on the ${side} side`);
    }
    await lab.setBlocks([], peers);
    const healAt = performance.now();
    log("healed");

    const rejoinTimeout = o.rejoinTimeoutMs ?? 30_000;
    const rejoined = await until(rejoinTimeout, async () => {
      const infos = await Promise.all(nodes.map((n) => n.info().catch(() => null)));
      return infos.every((i) => i?.swytch_members === "3" && i?.swytch_writable === "1");
    }, "all three members and writable").then(
      () => (report.rejoinMs = Math.round(performance.now() - healAt)),
    ).then(() => true, async (e) => {
      fail((e as Error).message);
      await diagnose(c, log);
      return false;
    });
    const after = await isolated.info().catch(() => null);
    report.incarnations[1] = `${after?.swytch_node_id ?? "?"}/${after?.swytch_incarnation ?? "?"}`;
    log(
      `rejoined after ${report.rejoinMs ?? "never"} ms; node id/incarnation ${
        report.incarnations.join(" -> ")
      }`,
    );

    // Agreement on every key written, then exclusive commands on the node that was isolated, then
    // agreement again for the checks.
    const strKeys = () => [
      "p:counter",
      ...nodes.map((n) => `p:str:${n.name}`),
      ...nodes.map((n) => `p:tx:${n.name}`),
      ...nxKeys(),
    ];
    const nxKeys = () => [
      ...new Set(
        report.attempts.filter((a) => a.cmd === "SET NX").map((a) => a.key),
      ),
    ];
    const lists = [QUEUE, ...nodes.map((n) => `p:list:${n.name}`)];
    let states: string[] = [];
    // Without the rejoin the rest would only wait out its bounds: one look at the keys instead.
    const agree = async (what: string, also: (state: string) => boolean = () => true) =>
      await until(rejoined ? rejoinTimeout : 0, async () => {
        const keys = strKeys();
        states = await Promise.all(nodes.map((n) =>
          n.admin(async (r) =>
            JSON.stringify({
              strs: await r.mget(...keys),
              ls: await Promise.all(lists.map((k) => r.lrange(k, 0, -1))),
            })
          )
            .catch((e) => `error ${e}`)
        ));
        return states.every((x) => x === states[0]) && !states[0].startsWith("error") && also(states[0]);
      }, what).catch((e) => {
        fail(
          `${(e as Error).message}: ${
            nodes.map((n, i) => `${n.name} ${states[i]?.slice(0, 300)}`).join(" | ")
          }`,
        );
        return null;
      });
    if ((await agree("all three to agree")) !== null) report.agreeMs = Math.round(performance.now() - healAt);
    log(`agreement ${report.agreeMs ?? "never"} ms after the heal`);
    if (rejoined) {
      const back = performance.now();
      await Promise.all(CMDS.map(async (cmd) => {
        if (await untilCommitted(isolated, cmd, "rejoined", 15_000)) {
          report.rejoinCommitMs[cmd] = Math.round(performance.now() - back);
        }
      }));
      if (Object.keys(report.rejoinCommitMs).length < CMDS.length) await diagnose(c, log);
      log(
        `committed on ${isolated.name} after the rejoin: ${
          Object.entries(report.rejoinCommitMs).map(([k, ms]) => `${k} +${ms} ms`).join(", ")
        }`,
      );
      // The node that was cut off writes again what it took meanwhile once it has caught up, so
      // the final state may take a moment more than the first agreement: wait for it (bounded).
      const complete = (state: string) => {
        let ok = true;
        checkFinal(JSON.parse(state), strKeys(), lists, prefill, acked, report, () => ok = false);
        return ok;
      };
      await agree("all three to agree after the rejoin, with every acknowledged write", complete);
      checkFinal(JSON.parse(states[0]), strKeys(), lists, prefill, acked, report, fail);
    }
  } catch (e) {
    fail(`harness error: ${(e as Error).stack ?? e}`);
  } finally {
    for (const r of clients) r.disconnect();
    if (cluster !== null) {
      report.crashes = [...cluster.crashes];
      await cluster.shutdown();
      for (const node of cluster.nodes) report.logTails[node.name] = tail(node.logPath, 40);
    }
    for (const p of lab?.teardown() ?? []) report.failures.push(`teardown: ${p}`);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("exit", emergency);
  }
  for (const cr of report.crashes) {
    report.failures.push(`${cr.node} exited unexpectedly (code ${cr.code}, signal ${cr.signal})`);
  }
  report.timings.totalMs = Math.round(elapsed());
  report.ok = report.failures.length === 0;
  fs.writeFileSync(path.join(dir, "events.log"), lines.join("\n") + "\n");
  fs.writeFileSync(
    path.join(dir, "attempts.jsonl"),
    report.attempts.map((a) => JSON.stringify(a) + "\n").join(""),
  );
  fs.writeFileSync(path.join(dir, "report.txt"), formatPartitionReport(report));
  if (report.ok && o.keepDir !== true) {
    fs.rmSync(dir, { recursive: true, force: true });
    report.dir = "";
  }
  return report;
}

/**
 * For a node that does not come back: every node's INFO cluster fields of interest, its view of
 * the membership, and its TCP connections (inside its namespace).
 */
async function diagnose(c: Cluster, log: (line: string) => void): Promise<void> {
  for (const n of c.nodes) {
    const info = await n.info().catch((e) => ({ error: String(e) }) as Record<string, string>);
    const fields = [
      "node_id",
      "incarnation",
      "members",
      "member_ids",
      "alive_peers",
      "writable",
      "unstable_effects",
      "envelopes_started",
      "envelopes_committed",
      "envelopes_aborted",
      "envelopes_undecided",
      "envelope_recoveries",
    ]
      .map((k) => `${k}=${info[`swytch_${k}`] ?? "?"}`).join(" ");
    const members = await n.admin((r) => r.hgetall("__swytch:members")).catch((e) => String(e));
    const [cmd, ...args] = c.lab.execArgs(n.index);
    const ss = await run(cmd, [...args, "ss", "-tnoi", "state", "established"]).catch((e) => String(e));
    log(`diagnosis ${n.name}: ${fields} members=${JSON.stringify(members)}\n${peerSockets(ss)}`);
  }
}

/**
 * The peer-link sockets of `ss -tnoi` output (cluster port 7379 or a proxy port 74xx), each with
 * its retransmission state: a link that outlived a partition shows its backoff here.
 */
function peerSockets(ss: string): string {
  const out: string[] = [];
  const lines = ss.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (/^\s/.test(l) || !/:(7379|74\d\d)\b/.test(l)) continue;
    const detail = /^\s/.test(lines[i + 1] ?? "") ? lines[i + 1] : "";
    const keep = detail.match(/\b(rto|backoff|lastsnd|lastrcv|unacked|retrans):\S+/g) ?? [];
    out.push(`  ${l.trim().split(/\s+/).slice(2, 4).join(" -> ")} ${keep.join(" ")}`);
  }
  return out.join("\n");
}

/**
 * The agreed final state against what was acknowledged: coordination-free writes all there; a
 * refused SET NX or MULTI/INCR/EXEC not applied, a committed one applied, an unknown one either;
 * the queue the prefill minus a prefix, every element of it popped by at most one ok LPOP.
 */
function checkFinal(
  state: { strs: (string | null)[]; ls: string[][] },
  strKeys: string[],
  lists: string[],
  prefill: string[],
  acked: { incr: number; pushed: Map<string, string[]>; set: Map<string, string> },
  report: PartitionReport,
  fail: (why: string) => void,
): void {
  const str = new Map(strKeys.map((k, i) => [k, state.strs[i]]));
  const list = new Map(lists.map((k, i) => [k, state.ls[i]]));
  if (str.get("p:counter") !== String(acked.incr)) {
    fail(`p:counter is ${str.get("p:counter")}, ${acked.incr} INCRs were acknowledged`);
  }
  for (const [node, v] of acked.set) {
    if (str.get(`p:str:${node}`) !== v) {
      fail(`p:str:${node} is ${str.get(`p:str:${node}`)}, last SET acknowledged ${v}`);
    }
  }
  for (const [node, xs] of acked.pushed) {
    const got = JSON.stringify(list.get(`p:list:${node}`)), want = JSON.stringify(xs);
    if (got !== want) {
      fail(`p:list:${node} is ${got.slice(0, 200)}, acknowledged pushes ${want.slice(0, 200)}`);
    }
  }
  const by = (cmd: Cmd, key: string) => report.attempts.filter((a) => a.cmd === cmd && a.key === key);
  for (const key of new Set(report.attempts.filter((a) => a.cmd === "SET NX").map((a) => a.key))) {
    const [a] = by("SET NX", key);
    const v = str.get(key) ?? null;
    const committed = a.outcome === "ok" && a.reply === '"OK"';
    if (committed && v !== "x") fail(`SET ${key} NX answered OK on ${a.node}, the key is ${v}`);
    if (a.outcome === "refused" && v !== null) {
      fail(`SET ${key} NX was refused on ${a.node} (${a.reply}), yet the key is ${v}`);
    }
  }
  for (const key of new Set(report.attempts.filter((a) => a.cmd === "MULTI INCR EXEC").map((a) => a.key))) {
    const xs = by("MULTI INCR EXEC", key);
    const ok = xs.filter((a) => a.outcome === "ok").length,
      unknown = xs.filter((a) => a.outcome === "unknown").length;
    const v = Number(str.get(key) ?? 0);
    if (v < ok || v > ok + unknown) {
      fail(
        `${key} is ${v}: ${ok} MULTI/INCR/EXEC committed and ${unknown} unknown, so it must be in [${ok}, ${
          ok + unknown
        }]`,
      );
    }
  }
  const left = list.get(QUEUE) ?? [];
  const pops = report.attempts.filter((a) => a.cmd === "LPOP");
  const popped = pops.filter((a) => a.outcome === "ok").map((a) => JSON.parse(a.reply) as string | null);
  const unknownPops = pops.filter((a) => a.outcome === "unknown").length;
  const taken = prefill.length - left.length;
  if (JSON.stringify(left) !== JSON.stringify(prefill.slice(taken))) {
    fail(`the queue is ${JSON.stringify(left)}, not what is left of the prefill after popping ${taken}`);
  }
  const seen = new Set<string>();
  for (const e of popped) {
    if (e === null) {
      if (left.length > 0) fail(`an LPOP answered nil while the queue still holds ${left.length}`);
      continue;
    }
    if (seen.has(e)) fail(`${e} popped twice`);
    seen.add(e);
    if (left.includes(e)) fail(`${e} popped and still in the queue`);
    if (!prefill.slice(0, taken).includes(e)) fail(`${e} popped but never pushed`);
  }
  if (taken - seen.size > unknownPops) {
    fail(
      `${
        taken - seen.size
      } element(s) left the queue without an ok LPOP, but only ${unknownPops} LPOP(s) are unknown`,
    );
  }
}

/**
 * One exclusive command: LPOP of the queue, SET key x NX, MULTI INCR key EXEC. Resolves with the
 * reply; rejects with the error.
 */
async function exclusive(r: Redis, cmd: Cmd, key: string): Promise<unknown> {
  switch (cmd) {
    case "LPOP":
      return await r.lpop(key);
    case "SET NX":
      return await r.set(key, "x", "NX");
    case "MULTI INCR EXEC": {
      const res = await r.multi().incr(key).exec();
      if (res === null) return null;
      if (res[0][0] !== null) throw res[0][0];
      return res.map(([, v]) => v);
    }
  }
}

/** Polls `cond` every 100 ms until it holds (resolves with the ms it took) or `ms` pass (rejects). */
async function until(ms: number, cond: () => Promise<boolean>, what: string): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await cond().catch(() => false)) return Math.round(performance.now() - start);
    if (performance.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await Bun.sleep(100);
  }
}

/** "12 x PARTITIONED member <id> is unreachable ..., 3 x TRYAGAIN ..." */
function summarize(xs: readonly Attempt[]): string {
  const by = new Map<string, number>();
  for (const x of xs) {
    const k = x.reply.replace(/[0-9a-f]{16}/g, "<id>").replace(/\d+/g, "N").slice(0, 64);
    by.set(k, (by.get(k) ?? 0) + 1);
  }
  return [...by].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} x ${k}`).join("; ");
}

/** The report as text. */
export function formatPartitionReport(r: PartitionReport): string {
  const out: string[] = [];
  out.push(
    `partition test: seed ${r.seed}, isolated ${r.isolated} (${r.isolatedId}), member timeout ${
      r.memberTimeoutMs / 1000
    }s, commit timeout ${r.commitTimeoutMs / 1000}s, swytch ${r.version}`,
  );
  if (r.skipped !== null) {
    out.push(`SKIPPED: ${r.skipped}`);
    return out.join("\n") + "\n";
  }
  for (const side of ["isolated", "majority"] as const) {
    const xs = r.attempts.filter((x) => x.side === side && x.phase === "cut");
    if (xs.length > 0) {
      const ms = xs.map((x) => x.ms);
      const late = xs.filter((x) => x.reply.includes("not learned")).map((x) => x.ms);
      out.push(
        `exclusive commands on the ${side} side during the cut: ${xs.length}, latency p50 ${
          percentile(ms, 50)
        } ms, max ${percentile(ms, 100)} ms (bound ${
          side === "isolated" ? r.boundMs : r.majorityBoundMs
        } ms); ${late.length} "not learned" (max ${percentile(late, 100) ?? "-"} ms)`,
      );
      for (const cmd of CMDS) {
        const ys = xs.filter((x) => x.cmd === cmd);
        if (ys.length === 0) continue;
        out.push(
          `  ${cmd.padEnd(16)} ${ys.length}, max ${percentile(ys.map((x) => x.ms), 100)} ms: ${
            summarize(ys)
          }`,
        );
      }
    }
    out.push(
      `coordination-free writes on the ${side} side during the cut: ${r.plain[side].ok} ok, ${
        r.plain[side].failed
      } failed`,
    );
  }
  const list = (m: Record<string, number>, what: string) =>
    Object.entries(m).map(([k, ms]) => `${k} ${ms} ms${what}`).join(", ") || "never";
  out.push(`removal seen on the majority side: ${list(r.removalMs, " after the cut")}`);
  out.push(`first commit after the removal: ${list(r.commitAfterRemovalMs, "")}`);
  out.push(
    `after the heal: all members and writable in ${r.rejoinMs ?? "never"} ms, agreement in ${
      r.agreeMs ?? "never"
    } ms; node id/incarnation of ${r.isolated} ${r.incarnations.join(" -> ")}`,
  );
  out.push(`committed on ${r.isolated} after the agreement: ${list(r.rejoinCommitMs, "")}`);
  out.push(
    `time: setup ${(r.timings.setupMs / 1000).toFixed(1)}s, total ${(r.timings.totalMs / 1000).toFixed(1)}s`,
  );
  if (r.failures.length > 0) {
    out.push("FAILURES:");
    for (const f of r.failures) out.push(`  - ${f}`);
    for (const [name, text] of Object.entries(r.logTails)) {
      out.push(`  ${name} log tail:\n${text.split("\n").map((l) => `    ${l}`).join("\n")}`);
    }
  }
  if (r.dir !== "") out.push(`run directory (data dirs, node logs, events.log, attempts.jsonl): ${r.dir}`);
  out.push(r.ok ? "RESULT: PASS" : "RESULT: FAIL");
  return out.join("\n") + "\n";
}
