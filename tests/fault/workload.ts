/**
 * The fault harness's clients: ioredis connections from the root namespace, a few per node, each
 * a history process running one operation at a time: INCRBY of a small positive delta on counter
 * keys, SADD of a never-repeated element on set keys, and now and then a GET or SMEMBERS read.
 *
 * Completions: a reply is `ok`; an error reply (-TRYAGAIN, ...) is `fail` (the node refused it); a
 * timeout or a lost connection is `info` (it may have taken effect, now or later). A client that
 * timed out drops its connection and dials again, so it does not pile commands onto a node that
 * stopped answering. Commands are never resent by the client library (that would apply an
 * increment twice).
 */
import Redis from "ioredis";
import type { HistoryRecorder } from "../checkers/history.ts";
import { type Cluster, type FaultNode, REDIS_PORT } from "./cluster.ts";
import { Rng } from "./rng.ts";

/**
 * An ioredis connection fit for recording a history: a command is sent once, never queued while
 * offline nor resent after a reconnect (that would apply an increment twice), and times out after
 * `commandTimeoutMs`. `reconnect`: dial again after a lost connection. Connect it yourself.
 */
export function historyClient(node: FaultNode, commandTimeoutMs: number, reconnect: boolean): Redis {
  const r = new Redis({
    host: node.ip,
    port: REDIS_PORT,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableAutoPipelining: false,
    connectTimeout: 2000,
    commandTimeout: commandTimeoutMs,
    retryStrategy: () => (reconnect ? 200 : null),
  });
  r.on("error", () => {});
  return r;
}

export interface WorkloadOptions {
  cluster: Cluster;
  recorder: HistoryRecorder;
  counters: readonly string[];
  sets: readonly string[];
  clientsPerNode: number;
  seed: number;
  /** A command without a reply after this long is indeterminate (info). */
  opTimeoutMs: number;
  /**
   * Target operations per second over all clients (each client paces itself to its share; a
   * client that falls behind does not burst to catch up). 0: as fast as the nodes answer.
   */
  rate: number;
}

export interface WorkloadStats {
  invoked: number;
  ok: number;
  fail: number;
  info: number;
  byF: Record<string, { ok: number; fail: number; info: number }>;
  /** Distinct error texts of fail/info completions, with counts. */
  errors: Record<string, number>;
}

export class Workload {
  readonly stats: WorkloadStats = { invoked: 0, ok: 0, fail: 0, info: 0, byF: {}, errors: {} };
  #running = false;
  #loops: Promise<void>[] = [];
  #clients: Redis[] = [];

  constructor(readonly opts: WorkloadOptions) {}

  start(): void {
    this.#running = true;
    let process = 0;
    for (const node of this.opts.cluster.nodes) {
      for (let k = 0; k < this.opts.clientsPerNode; k++) {
        const p = process++;
        this.#loops.push(this.#client(node, p, new Rng(this.opts.seed * 7919 + p)));
      }
    }
  }

  /** Stops issuing operations and waits for every one in flight to complete. */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
    for (const c of this.#clients) c.disconnect();
  }

  #connect(node: FaultNode): Redis {
    const r = historyClient(node, this.opts.opTimeoutMs, true);
    r.connect().catch(() => {});
    this.#clients.push(r);
    return r;
  }

  async #client(node: FaultNode, process: number, rng: Rng): Promise<void> {
    const o = this.opts;
    let r = this.#connect(node);
    let seq = 0;
    const clients = o.cluster.nodes.length * o.clientsPerNode;
    const interval = o.rate > 0 ? clients * 1000 / o.rate : 0;
    // Clients start spread over one interval, not all at once.
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
      const x = rng.float();
      let f: string, key: string, value: unknown, run: () => Promise<unknown>;
      if (x < 0.45) {
        f = "incrby";
        key = rng.pick(o.counters);
        const d = 1 + rng.int(5);
        value = d;
        run = () => r.incrby(key, d);
      } else if (x < 0.9) {
        f = "sadd";
        key = rng.pick(o.sets);
        const e = `p${process}-${seq++}`;
        value = e;
        run = () => r.sadd(key, e);
      } else if (x < 0.95) {
        f = "read";
        key = rng.pick(o.counters);
        run = () => r.get(key);
      } else {
        f = "smembers";
        key = rng.pick(o.sets);
        run = () => r.smembers(key);
      }
      const op = o.recorder.invoke(process, node.name, f, key, value);
      this.stats.invoked++;
      const by = this.stats.byF[f] ??= { ok: 0, fail: 0, info: 0 };
      try {
        const reply = await run();
        op.ok(reply);
        this.stats.ok++;
        by.ok++;
      } catch (e) {
        const err = e as Error;
        const text = err?.message ?? String(e);
        const errKey = text.replace(/\d+/g, "N").slice(0, 80);
        this.stats.errors[errKey] = (this.stats.errors[errKey] ?? 0) + 1;
        if (err?.name === "ReplyError") {
          op.fail(err);
          this.stats.fail++;
          by.fail++;
        } else {
          op.info(err);
          this.stats.info++;
          by.info++;
          // A node that stopped answering: start over on a fresh connection.
          r.disconnect();
          r = this.#connect(node);
        }
      }
    }
  }
}
