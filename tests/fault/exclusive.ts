/**
 * The fault harness's exclusive workloads (envelope-commit, docs/protocol.md): clients of their own
 * beside the counter and set ones of workload.ts, recorded in the same history in the formats the
 * simulator uses (tests/sim/cluster.ts), each judged by its checker.
 *
 * - queue: on every node, pushers RPUSH never-repeated elements to one list (several per command,
 *   f "push", invoke value the array of elements) at a paced rate, and poppers LPOP it as fast as
 *   the cluster commits (f "pop", ok value the element or null). Exclusive commands stop
 *   everywhere while any member is unreachable, so a backlog builds up during faults: a popper
 *   whose last pop came back full asks for twice as many next time (LPOP key count, invoke value
 *   the count, ok value the array or null), up to `popBatchMax`, and goes back to single LPOPs as
 *   soon as one comes back short.
 * - bank: accounts set to equal shares before the run; transfers are WATCH from to, MGET from to,
 *   then UNWATCH and a fail when the balance is short, else MULTI DECRBY INCRBY EXEC (nil: a
 *   watched key changed, fail); reads are MULTI MGET EXEC (f "read", no key, value {account: n}).
 * - list-append: MULTI with 1-3 micro-ops RPUSH k v / LRANGE k 0 -1 over a few keys, EXEC (f "txn").
 * - blocking queue (issue 5): pushers RPUSH to a second list; on every node a popper BLPOPs it with a
 *   one-second timeout (f "pop" on that key, ok value the element or null on timeout).
 * - consumer group (issue 5): on every node a producer XADDs never-repeated values (f "push" on the
 *   stream) and a consumer of its own reads the group with XREADGROUP ... BLOCK 1000 COUNT 1
 *   STREAMS key > (f "pop", ok value the entry's value or null), then XACKs what it got. The queue
 *   checker judges both: every element to exactly one consumer, none lost.
 * - mixed types: on every node a client issues the simulator's mixed-type writes (hashes with field
 *   expiry, sorted sets, list edits, bitmaps, HyperLogLogs, streams, geo, set moves); only
 *   convergence judges them.
 *
 * Completions follow the envelope contract: -PARTITIONED, -EXECABORT and a -TRYAGAIN that does not
 * say "not learned" definitely wrote nothing (fail); a -TRYAGAIN "not learned" (decided later by
 * recovery), a timeout and a lost connection are indeterminate (info). Coordination-free pushes
 * follow workload.ts (any error reply is a fail). Any other error reply to an exclusive command is
 * unexpected: it is recorded as info (nothing is assumed about it) and listed for the verdict.
 */
import Redis from "ioredis";
import type { HistoryRecorder, PendingOp } from "../checkers/history.ts";
import { type Cluster, type FaultNode } from "./cluster.ts";
import { historyClient } from "./workload.ts";
import { Rng } from "./rng.ts";
import type { MixedRng } from "../sim/mixed.ts";

export interface ExclusiveOptions {
  cluster: Cluster;
  recorder: HistoryRecorder;
  seed: number;
  /** History process ids start here (one per client). */
  firstProcess: number;
  /** Exclusive commands without a reply after this long are indeterminate (above the commit timeout). */
  exclusiveTimeoutMs: number;
  /** The same for coordination-free pushes. */
  plainTimeoutMs: number;
  queue: string;
  /** Elements pushed per second over all pushers (0: no queue workload). */
  pushRate: number;
  /** Elements per RPUSH. */
  pushBatch: number;
  pushersPerNode: number;
  poppersPerNode: number;
  /** Most elements one LPOP asks for while the queue is backlogged (1: single LPOPs only). */
  popBatchMax: number;
  accounts: readonly string[];
  bankTotal: number;
  /** Bank operations per second over all bank clients (0: none). */
  bankRate: number;
  bankClientsPerNode: number;
  appendKeys: readonly string[];
  /** List-append transactions per second over all their clients (0: none). */
  appendRate: number;
  appendClientsPerNode: number;
  /** The blocking queue's list (pushed at `pushRate / 2`, popped by BLPOP), "" for none. */
  bqueue: string;
  /** The consumer group's stream and group, "" for none. */
  stream: string;
  group: string;
  /** XADDs per second over all producers. */
  streamRate: number;
  /** Mixed-type writes per second over all their clients (0: none). */
  mixedRate: number;
  /** The mixed-type commands (tests/sim/cluster.ts MIXED). */
  mixed: readonly ((r: MixedRng) => string[])[];
}

/** Completions of one operation kind, and the latency of its ok ones. */
export interface OpStats {
  invoked: number;
  ok: number;
  fail: number;
  info: number;
  /** Latencies (ms) of ok completions, for percentiles. */
  okMs: number[];
}

export interface ExclusiveStats {
  /** Per workload, per f: "queue push", "queue pop", "bank transfer", "bank read", "list-append txn". */
  ops: Record<string, OpStats>;
  /** Elements in push commands invoked, and in acknowledged ones. */
  pushedElements: number;
  acknowledgedElements: number;
  /** Elements taken by ok pops, ok pops that asked for several, and ok pops that found none. */
  poppedElements: number;
  batchPops: number;
  emptyPops: number;
  /** Transfers refused by the client for a short balance (no EXEC sent). */
  insufficient: number;
  /** Transfers whose EXEC answered nil (a watched key changed). */
  watchAborts: number;
  /** Distinct error texts of fail/info completions, with counts. */
  errors: Record<string, number>;
  /** Error replies outside the contract (each one a failure of the run). */
  unexpected: string[];
}

/** Definitely not applied: nothing was written (docs/protocol.md, "Replies"). */
export function definitelyNot(text: string): boolean {
  return text.startsWith("PARTITIONED") || text.startsWith("EXECABORT") ||
    (text.startsWith("TRYAGAIN") && !text.includes("not learned"));
}

type Verdict = "fail" | "info" | "unexpected";

/** How an exclusive command's error completes its op. */
export function classifyExclusive(e: unknown): Verdict {
  const err = e as Error;
  if (err?.name !== "ReplyError") return "info";
  const text = err.message ?? "";
  if (definitelyNot(text)) return "fail";
  if (text.startsWith("TRYAGAIN")) return "info";
  // Refused before anything was planned (docs/protocol.md, "What a node has"): nothing written.
  if (text.startsWith("OOM")) return "fail";
  return "unexpected";
}

export class ExclusiveWorkload {
  readonly stats: ExclusiveStats = {
    ops: {},
    pushedElements: 0,
    acknowledgedElements: 0,
    poppedElements: 0,
    batchPops: 0,
    emptyPops: 0,
    insufficient: 0,
    watchAborts: 0,
    errors: {},
    unexpected: [],
  };
  /** Process ids of the bank's clients (its checker gets only their events and its final reads). */
  readonly bankProcesses = new Set<number>();
  #running = false;
  #loops: Promise<void>[] = [];
  #clients = new Set<Redis>();
  #startedAt = 0;
  #stoppedAt = 0;

  constructor(readonly opts: ExclusiveOptions) {
    // The report lists the workloads in this order.
    for (
      const name of [
        "queue push",
        "queue pop",
        "bank transfer",
        "bank read",
        "list-append txn",
        "bqueue push",
        "bqueue pop",
        "stream add",
        "stream read",
        "mixed",
      ]
    ) {
      this.#op(name);
    }
  }

  /**
   * Opens the bank: MSET of equal shares through the first node, then waits until every node
   * reads them (bounded); throws when they do not.
   */
  async setup(timeoutMs = 20_000): Promise<void> {
    const o = this.opts;
    if (o.stream !== "") {
      await o.cluster.nodes[0].admin((r) => r.xgroup("CREATE", o.stream, o.group, "0", "MKSTREAM"));
    }
    if (o.bankRate <= 0) return;
    const share = o.bankTotal / o.accounts.length;
    if (!Number.isInteger(share)) throw new Error(`bank total ${o.bankTotal} does not split evenly`);
    const nodes = o.cluster.nodes;
    await nodes[0].admin((r) => r.mset(...o.accounts.flatMap((a) => [a, String(share)])));
    const want = JSON.stringify(o.accounts.map(() => String(share)));
    const until = performance.now() + timeoutMs;
    let last = "";
    for (;;) {
      const got = await Promise.all(
        nodes.map((n) => n.admin((r) => r.mget(...o.accounts)).then(JSON.stringify).catch((e) => String(e))),
      );
      if (got.every((g) => g === want)) return;
      last = got.map((g, i) => `${nodes[i].name} ${g}`).join(" | ");
      if (performance.now() > until) throw new Error(`bank accounts not on every node: ${last}`);
      await Bun.sleep(100);
    }
  }

  start(): void {
    const o = this.opts;
    this.#running = true;
    this.#startedAt = performance.now();
    let p = o.firstProcess;
    const nodes = o.cluster.nodes;
    const pushers = o.pushRate > 0 ? nodes.length * o.pushersPerNode : 0;
    const bankClients = o.bankRate > 0 ? nodes.length * o.bankClientsPerNode : 0;
    const appendClients = o.appendRate > 0 ? nodes.length * o.appendClientsPerNode : 0;
    for (const node of nodes) {
      for (let k = 0; k < (pushers > 0 ? o.pushersPerNode : 0); k++) {
        const interval = pushers * o.pushBatch * 1000 / o.pushRate;
        this.#loops.push(this.#loop(node, p, interval, o.plainTimeoutMs, (c) => this.#push(c)));
        p++;
      }
      for (let k = 0; k < (o.pushRate > 0 ? o.poppersPerNode : 0); k++) {
        this.#loops.push(this.#loop(node, p, 0, o.exclusiveTimeoutMs, (c) => this.#pop(c)));
        p++;
      }
      for (let k = 0; k < (bankClients > 0 ? o.bankClientsPerNode : 0); k++) {
        this.bankProcesses.add(p);
        this.#loops.push(
          this.#loop(node, p, bankClients * 1000 / o.bankRate, o.exclusiveTimeoutMs, (c) => this.#bank(c)),
        );
        p++;
      }
      if (o.bqueue !== "") {
        const interval = nodes.length * o.pushBatch * 2000 / o.pushRate;
        this.#loops.push(this.#loop(node, p++, interval, o.plainTimeoutMs, (c) => this.#push(c, o.bqueue)));
        this.#loops.push(this.#loop(node, p++, 0, o.exclusiveTimeoutMs, (c) => this.#blpop(c)));
      }
      if (o.stream !== "") {
        const interval = nodes.length * 1000 / o.streamRate;
        this.#loops.push(this.#loop(node, p++, interval, o.exclusiveTimeoutMs, (c) => this.#xadd(c)));
        this.#loops.push(this.#loop(node, p++, 0, o.exclusiveTimeoutMs, (c) => this.#xreadgroup(c)));
      }
      if (o.mixedRate > 0) {
        const interval = nodes.length * 1000 / o.mixedRate;
        this.#loops.push(this.#loop(node, p++, interval, o.exclusiveTimeoutMs, (c) => this.#mixed(c)));
      }
      for (let k = 0; k < (appendClients > 0 ? o.appendClientsPerNode : 0); k++) {
        this.#loops.push(this.#loop(
          node,
          p,
          appendClients * 1000 / o.appendRate,
          o.exclusiveTimeoutMs,
          (c) => this.#append(c),
        ));
        p++;
      }
    }
  }

  /** Stops issuing operations and waits for every one in flight to complete. */
  async stop(): Promise<void> {
    if (!this.#running && this.#loops.length === 0) return;
    this.#running = false;
    await Promise.all(this.#loops);
    this.#loops = [];
    this.#stoppedAt = performance.now();
    for (const c of this.#clients) c.disconnect();
    this.#clients.clear();
  }

  /** Seconds the workload ran (start to stop). */
  get seconds(): number {
    return ((this.#stoppedAt || performance.now()) - this.#startedAt) / 1000;
  }

  #connect(node: FaultNode, timeoutMs: number): Redis {
    const r = historyClient(node, timeoutMs, true);
    r.connect().catch(() => {});
    this.#clients.add(r);
    return r;
  }

  /**
   * One client: runs `step` every `interval` ms (0: back to back) on its own connection. `step`
   * says whether the connection must be replaced (after a timeout or a lost connection: a node that
   * stopped answering, or a connection left inside WATCH) and how long to pause before the next.
   */
  async #loop(
    node: FaultNode,
    process: number,
    interval: number,
    timeoutMs: number,
    step: (c: Ctx) => Promise<Next>,
  ): Promise<void> {
    const rng = new Rng(this.opts.seed * 104_729 + process);
    let r = this.#connect(node, timeoutMs);
    const ctx: Ctx = { node, process, rng, r, seq: 0, popCount: 1 };
    let next = performance.now() + rng.float() * interval;
    while (this.#running) {
      if (interval > 0) {
        const now = performance.now();
        if (next > now) await Bun.sleep(next - now);
        next = Math.max(next, performance.now() - interval) + interval;
        if (!this.#running) break;
      }
      if (r.status !== "ready") {
        await Bun.sleep(50);
        continue;
      }
      ctx.r = r;
      const res = await step(ctx);
      if (res.reconnect) {
        r.disconnect();
        this.#clients.delete(r);
        r = this.#connect(node, timeoutMs);
      }
      if (res.pauseMs > 0 && this.#running) await Bun.sleep(res.pauseMs);
    }
  }

  #op(name: string): OpStats {
    return this.stats.ops[name] ??= { invoked: 0, ok: 0, fail: 0, info: 0, okMs: [] };
  }

  /** Runs one recorded op: `run` completes it through the handle and returns what to do next. */
  async #record(
    name: string,
    c: Ctx,
    f: string,
    key: string | undefined,
    value: unknown,
    run: (op: Done) => Promise<Next>,
  ): Promise<Next> {
    const s = this.#op(name);
    s.invoked++;
    const pending = this.opts.recorder.invoke(c.process, c.node.name, f, key, value);
    const t0 = performance.now();
    let completed = false;
    const done: Done = {
      ok: (v) => {
        completed = true;
        pending.ok(v);
        s.ok++;
        s.okMs.push(performance.now() - t0);
      },
      fail: (e) => {
        completed = true;
        this.#countError(e);
        pending.fail(e);
        s.fail++;
      },
      info: (e) => {
        completed = true;
        this.#countError(e);
        pending.info(e);
        s.info++;
      },
    };
    try {
      return await run(done);
    } catch (e) {
      // An error from the client library itself (not a reply): the op may have been sent.
      if (!completed) done.info(e);
      return RECONNECT;
    }
  }

  #countError(e: unknown): void {
    const text = e instanceof Error ? e.message : String(e);
    const k = text.replace(/\d+/g, "N").slice(0, 90);
    this.stats.errors[k] = (this.stats.errors[k] ?? 0) + 1;
  }

  /** Completes an exclusive command's op from its error; returns what the loop does next. */
  #exclusiveError(op: Done, e: unknown, what: string, node: FaultNode): Next {
    const v = classifyExclusive(e);
    if (v === "fail") {
      op.fail(e);
      // Refused at once (a member is unreachable): do not spin, the fault lasts seconds.
      return { reconnect: false, pauseMs: 100 };
    }
    if (v === "unexpected") {
      const text = (e as Error).message;
      if (this.stats.unexpected.length < 20) this.stats.unexpected.push(`${what} on ${node.name}: ${text}`);
      op.info(e);
      return RECONNECT;
    }
    op.info(e);
    // A reply error (TRYAGAIN not learned) leaves the connection usable; a timeout does not.
    return (e as Error)?.name === "ReplyError" ? { reconnect: false, pauseMs: 100 } : RECONNECT;
  }

  async #push(c: Ctx, key = this.opts.queue): Promise<Next> {
    const o = this.opts;
    const elements = Array.from({ length: o.pushBatch }, () => `q${c.process}-${c.seq++}`);
    this.stats.pushedElements += elements.length;
    const name = key === o.queue ? "queue push" : "bqueue push";
    return await this.#record(name, c, "push", key, elements, async (op) => {
      try {
        op.ok(await c.r.rpush(key, ...elements));
        this.stats.acknowledgedElements += elements.length;
        return CONTINUE;
      } catch (e) {
        if ((e as Error)?.name === "ReplyError") {
          op.fail(e);
          return CONTINUE;
        }
        op.info(e);
        return RECONNECT;
      }
    });
  }

  async #pop(c: Ctx): Promise<Next> {
    const o = this.opts;
    const count = Math.min(c.popCount, o.popBatchMax);
    const value = count > 1 ? count : undefined;
    return await this.#record("queue pop", c, "pop", o.queue, value, async (op) => {
      try {
        const v = count > 1 ? await c.r.lpop(o.queue, count) : await c.r.lpop(o.queue);
        op.ok(v);
        const got = v === null ? 0 : Array.isArray(v) ? v.length : 1;
        this.stats.poppedElements += got;
        if (count > 1) this.stats.batchPops++;
        c.popCount = got === count ? Math.min(2 * count, o.popBatchMax) : 1;
        if (got === 0) {
          this.stats.emptyPops++;
          // Nothing to take here now: let the pushers get ahead a little.
          return { reconnect: false, pauseMs: 20 + c.rng.int(30) };
        }
        return CONTINUE;
      } catch (e) {
        c.popCount = 1;
        return this.#exclusiveError(op, e, "LPOP", c.node);
      }
    });
  }

  /** BLPOP of the blocking queue, one second at most. */
  async #blpop(c: Ctx): Promise<Next> {
    const key = this.opts.bqueue;
    return await this.#record("bqueue pop", c, "pop", key, undefined, async (op) => {
      try {
        const v = await c.r.blpop(key, 1);
        op.ok(v === null ? null : v[1]);
        return CONTINUE;
      } catch (e) {
        return this.#exclusiveError(op, e, "BLPOP", c.node);
      }
    });
  }

  /** XADD of a never-repeated value to the consumer group's stream. */
  async #xadd(c: Ctx): Promise<Next> {
    const key = this.opts.stream;
    const v = `x${c.process}-${c.seq++}`;
    return await this.#record("stream add", c, "push", key, v, async (op) => {
      try {
        await c.r.xadd(key, "*", "v", v);
        op.ok(v);
        return CONTINUE;
      } catch (e) {
        return this.#exclusiveError(op, e, "XADD", c.node);
      }
    });
  }

  /** One new entry for this client's consumer (blocking up to a second), then its XACK. */
  async #xreadgroup(c: Ctx): Promise<Next> {
    const o = this.opts;
    return await this.#record("stream read", c, "pop", o.stream, undefined, async (op) => {
      let id: string;
      try {
        const res = await c.r.xreadgroup(
          "GROUP",
          o.group,
          `c${c.process}`,
          "COUNT",
          1,
          "BLOCK",
          1000,
          "STREAMS",
          o.stream,
          ">",
        ) as [string, [string, string[]][]][] | null;
        if (res === null || res[0][1].length === 0) {
          op.ok(null);
          return CONTINUE;
        }
        const [entryId, fields] = res[0][1][0];
        op.ok(fields[1]);
        id = entryId;
      } catch (e) {
        return this.#exclusiveError(op, e, "XREADGROUP", c.node);
      }
      // Not part of the history: an entry is delivered once whether or not it is acknowledged.
      await c.r.xack(o.stream, o.group, id).catch(() => {});
      return CONTINUE;
    });
  }

  /** One mixed-type write; any reply is fine but an error outside the contract. */
  async #mixed(c: Ctx): Promise<Next> {
    const o = this.opts;
    const args = o.mixed[c.rng.int(o.mixed.length)](c.rng);
    return await this.#record("mixed", c, "mixed", undefined, args, async (op) => {
      try {
        op.ok(await c.r.call(args[0], ...args.slice(1)));
        return CONTINUE;
      } catch (e) {
        const text = (e as Error).message ?? "";
        if ((e as Error)?.name === "ReplyError" && !/^ERR (internal|unknown|syntax|command)/.test(text)) {
          op.fail(e);
          return CONTINUE;
        }
        return this.#exclusiveError(op, e, args.join(" "), c.node);
      }
    });
  }

  async #bank(c: Ctx): Promise<Next> {
    const o = this.opts;
    if (c.rng.float() < 0.25) {
      return await this.#record("bank read", c, "read", undefined, undefined, async (op) => {
        try {
          const res = await c.r.multi().mget(...o.accounts).exec();
          if (res === null) throw new Error("EXEC answered nil with nothing watched");
          const [err, vals] = res[0];
          if (err !== null) throw err;
          op.ok(
            Object.fromEntries(o.accounts.map((a, i) => [a, Number((vals as (string | null)[])[i] ?? 0)])),
          );
          return CONTINUE;
        } catch (e) {
          return this.#exclusiveError(op, e, "bank read EXEC", c.node);
        }
      });
    }
    const from = c.rng.pick(o.accounts);
    let to = c.rng.pick(o.accounts);
    if (to === from) to = o.accounts[(o.accounts.indexOf(from) + 1) % o.accounts.length];
    const amount = c.rng.range(1, 10);
    return await this.#record("bank transfer", c, "transfer", undefined, { from, to, amount }, async (op) => {
      let have: number;
      try {
        await c.r.watch(from, to);
        const vals = await c.r.mget(from, to);
        have = Number(vals[0] ?? 0);
      } catch (e) {
        // Nothing was sent that writes: the transfer did not happen.
        if ((e as Error)?.name === "ReplyError") {
          op.fail(e);
          await c.r.unwatch().catch(() => {});
          return CONTINUE;
        }
        op.fail(e);
        return RECONNECT;
      }
      if (have < amount) {
        this.stats.insufficient++;
        op.fail("insufficient balance");
        try {
          await c.r.unwatch();
          return CONTINUE;
        } catch {
          return RECONNECT;
        }
      }
      try {
        const res = await c.r.multi().decrby(from, amount).incrby(to, amount).exec();
        if (res === null) {
          this.stats.watchAborts++;
          op.fail("a watched key changed");
          return CONTINUE;
        }
        const errs = res.filter(([e]) => e !== null);
        if (errs.length > 0) throw errs[0][0];
        op.ok(res.map(([, v]) => v));
        return CONTINUE;
      } catch (e) {
        return this.#exclusiveError(op, e, "transfer EXEC", c.node);
      }
    });
  }

  async #append(c: Ctx): Promise<Next> {
    const o = this.opts;
    const micro: [string, string, string | null][] = [];
    const tx = c.r.multi();
    for (let i = c.rng.range(1, 3); i > 0; i--) {
      const k = c.rng.pick(o.appendKeys);
      if (c.rng.float() < 0.5) {
        const v = `${c.process}-${c.seq++}`;
        micro.push(["append", k, v]);
        tx.rpush(k, v);
      } else {
        micro.push(["r", k, null]);
        tx.lrange(k, 0, -1);
      }
    }
    return await this.#record("list-append txn", c, "txn", undefined, micro, async (op) => {
      try {
        const res = await tx.exec();
        if (res === null) throw new Error("EXEC answered nil with nothing watched");
        const errs = res.filter(([e]) => e !== null);
        if (errs.length > 0) throw errs[0][0];
        op.ok(micro.map(([f, k, x], i) => f === "r" ? [f, k, res[i][1]] : [f, k, x]));
        return CONTINUE;
      } catch (e) {
        return this.#exclusiveError(op, e, "txn EXEC", c.node);
      }
    });
  }
}

interface Ctx {
  node: FaultNode;
  process: number;
  rng: Rng;
  r: Redis;
  /** Per-client sequence for unique elements and appended values. */
  seq: number;
  /** How many elements this popper asks for next. */
  popCount: number;
}

interface Next {
  reconnect: boolean;
  pauseMs: number;
}

type Done = Omit<PendingOp, "ok"> & { ok(v: unknown): void };

const CONTINUE: Next = { reconnect: false, pauseMs: 0 };
const RECONNECT: Next = { reconnect: true, pauseMs: 0 };

/** The p-th percentile (0-100) of `xs` (ms, rounded), or null when empty. */
export function percentile(xs: readonly number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]);
}
