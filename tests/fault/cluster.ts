/**
 * Real swytch nodes for the fault harness: one `bun cli/main.ts redis` process per network
 * namespace (netns.ts), each with its cluster port behind a delaying link proxy (proxy.ts), and
 * the operations the nemeses need: kill -9 and restart with the same data dir and flags, SIGSTOP
 * and SIGCONT, and a restart with another clock offset.
 *
 * Only processes started here are ever signalled, by PID. A node that exits without being told
 * to is recorded as a crash (a Swytch bug the harness reports).
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import Redis from "ioredis";
import { ROOT } from "../helpers.ts";
import type { NetLab } from "./netns.ts";
import { LinkProxy } from "./proxy.ts";

export const REDIS_PORT = 6379;
export const CLUSTER_PORT = 7379;
/** Proxy port of node i on the lab's proxy address. */
export const PROXY_BASE_PORT = 7400;

export interface ClusterOptions {
  lab: NetLab;
  /** Directory for data dirs and logs. */
  dir: string;
  passphrase: string;
  memberTimeout: string;
  /** Elapsed-time clock of the run (ms), for the event log. */
  clock: () => number;
  /** Called with a line for the run's event log. */
  log: (line: string) => void;
}

export type NodeState = "down" | "up" | "paused";

export interface Crash {
  node: string;
  at: number;
  code: number | null;
  signal: string | null;
  logTail: string;
}

export class FaultNode {
  readonly index: number;
  readonly name: string;
  readonly ip: string;
  readonly dataDir: string;
  readonly logPath: string;
  clockOffsetMs = 0;
  state: NodeState = "down";
  child: ChildProcess | null = null;
  starts = 0;
  /** Milliseconds from spawn to accepting clients, per start (recovery time after a restart). */
  readonly startMs: number[] = [];
  #expectExit = false;
  #exited: Promise<void> = Promise.resolve();

  constructor(readonly cluster: Cluster, index: number) {
    this.index = index;
    this.name = `n${index + 1}`;
    this.ip = cluster.lab.ip(index);
    this.dataDir = path.join(cluster.dir, this.name, "data");
    this.logPath = path.join(cluster.dir, this.name, "node.log");
    fs.mkdirSync(this.dataDir, { recursive: true });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The flags of every start of this node (restarts use the same, as an operator would). */
  args(): string[] {
    const c = this.cluster;
    const args = [
      path.join(ROOT, "cli/main.ts"),
      "redis",
      "--port",
      String(REDIS_PORT),
      "--bind",
      this.ip,
      "--data-dir",
      this.dataDir,
      "--appendfsync",
      "everysec",
      "--cluster-passphrase",
      c.opts.passphrase,
      "--cluster-port",
      String(CLUSTER_PORT),
      "--cluster-advertise",
      `${c.lab.proxyIp}:${PROXY_BASE_PORT + this.index}`,
      "--member-timeout",
      c.opts.memberTimeout,
      "--debug-heartbeat-ms",
      "100",
      "--debug-anti-entropy-ms",
      "500",
    ];
    // Node 0 founds the cluster; the others join through its proxy (on every start).
    if (this.index > 0) args.push("--join", `${c.lab.proxyIp}:${PROXY_BASE_PORT}`);
    // Diagnosis: FAULT_NODE_VERBOSE=1 gives the nodes' debug log lines too.
    if (process.env.FAULT_NODE_VERBOSE === "1") args.push("--verbose");
    // One argument: a separate "-150" would parse as a flag.
    if (this.clockOffsetMs !== 0) args.push(`--debug-clock-offset-ms=${this.clockOffsetMs}`);
    return args;
  }

  /** Starts the process and waits until its Redis port accepts connections. */
  async start(): Promise<void> {
    if (this.state !== "down") throw new Error(`${this.name} is ${this.state}, not down`);
    const c = this.cluster;
    // The proxy listens only while its node runs, so a dial to a down node is refused, as it
    // would be without a proxy (rather than accepted and then cut).
    c.proxies[this.index]?.start();
    const fd = fs.openSync(this.logPath, "a");
    fs.writeSync(
      fd,
      `----- harness: start #${this.starts + 1} at +${(c.opts.clock() / 1000).toFixed(3)}s${
        this.clockOffsetMs !== 0 ? ` clock offset ${this.clockOffsetMs} ms` : ""
      }\n`,
    );
    const [cmd, ...pre] = c.lab.execArgs(this.index);
    // Diagnosis: FAULT_PROFILE_DIR=dir writes a CPU profile per node start (on a clean exit).
    const prof = process.env.FAULT_PROFILE_DIR;
    const profArgs = prof === undefined || prof === "" ? [] : [
      "--cpu-prof",
      "--cpu-prof-md",
      `--cpu-prof-dir=${path.join(prof, `${this.name}-start${this.starts + 1}`)}`,
    ];
    const child = spawn(cmd, [...pre, process.execPath, ...profArgs, ...this.args()], {
      stdio: ["ignore", fd, fd],
    });
    fs.closeSync(fd);
    this.child = child;
    this.starts++;
    this.#expectExit = false;
    this.state = "up";
    c.pids.add(child.pid!);
    this.#exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        c.pids.delete(child.pid!);
        if (this.child === child) {
          this.child = null;
          this.state = "down";
          c.proxies[this.index]?.stop();
        }
        if (!this.#expectExit) {
          const crash: Crash = {
            node: this.name,
            at: c.opts.clock(),
            code,
            signal,
            logTail: tail(this.logPath, 40),
          };
          c.crashes.push(crash);
          c.opts.log(`${this.name} EXITED UNEXPECTEDLY code=${code} signal=${signal}`);
        }
        resolve();
      });
    });
    const t0 = performance.now();
    try {
      await waitForTcp(this.ip, REDIS_PORT, 60_000, () => this.child !== child);
    } catch (e) {
      throw new Error(`${this.name} did not start: ${(e as Error).message}\n${tail(this.logPath, 30)}`);
    }
    const ms = Math.round(performance.now() - t0);
    this.startMs.push(ms);
    if (this.starts > 1) {
      c.opts.log(`${this.name} (pid ${child.pid}) accepts clients ${ms} ms after its start #${this.starts}`);
    }
  }

  /** kill -9 and wait for the exit. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (child === null) return;
    this.#expectExit = true;
    child.kill("SIGCONT");
    child.kill("SIGKILL");
    await this.#exited;
  }

  /** SIGINT (a clean stop that does not leave the cluster), SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    const child = this.child;
    if (child === null) return;
    this.#expectExit = true;
    if (this.state === "paused") child.kill("SIGCONT");
    child.kill("SIGINT");
    const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await this.#exited;
    clearTimeout(t);
  }

  pause(): void {
    if (this.state !== "up" || this.child === null) throw new Error(`${this.name} is ${this.state}, not up`);
    this.child.kill("SIGSTOP");
    this.state = "paused";
  }

  resume(): void {
    if (this.state !== "paused" || this.child === null) return;
    this.child.kill("SIGCONT");
    this.state = "up";
  }

  /** CPU seconds (user + system) of the current process, or null when it is not running. */
  cpuSeconds(): number | null {
    const pid = this.child?.pid;
    if (pid === undefined) return null;
    try {
      // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      return null;
    }
  }

  /** Admin connection (not part of the history). */
  client(timeoutMs = 2000): Redis {
    return new Redis({
      host: this.ip,
      port: REDIS_PORT,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: () => null,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
    });
  }

  /**
   * Runs `fn` on a fresh admin connection; gives up after a few times `timeoutMs` in all, so a
   * wedged node (accepting connections, answering nothing) cannot stall the harness.
   */
  async admin<T>(fn: (r: Redis) => Promise<T>, timeoutMs = 2000): Promise<T> {
    const r = this.client(timeoutMs);
    r.on("error", () => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.name}: no answer in ${3 * timeoutMs} ms`)),
        3 * timeoutMs,
      );
    });
    try {
      return await Promise.race([r.connect().then(() => fn(r)), deadline]);
    } finally {
      clearTimeout(timer);
      r.disconnect();
    }
  }

  /** The INFO cluster fields. */
  async info(): Promise<Record<string, string>> {
    const text = await this.admin((r) => r.info("cluster"));
    return Object.fromEntries(
      text.split("\r\n").filter((l) => l.includes(":")).map((l) => {
        const i = l.indexOf(":");
        return [l.slice(0, i), l.slice(i + 1)];
      }),
    );
  }
}

export class Cluster {
  readonly nodes: FaultNode[];
  readonly proxies: LinkProxy[] = [];
  readonly crashes: Crash[] = [];
  /** PIDs of node processes started here and not yet exited. */
  readonly pids = new Set<number>();
  /** Delay in ms per ordered pair "from>to". */
  readonly delays = new Map<string, number>();
  readonly lab: NetLab;
  readonly dir: string;

  constructor(readonly opts: ClusterOptions) {
    this.lab = opts.lab;
    this.dir = opts.dir;
    this.nodes = Array.from({ length: opts.lab.nodes }, (_, i) => new FaultNode(this, i));
  }

  get proxyPorts(): number[] {
    return this.nodes.map((n) => PROXY_BASE_PORT + n.index);
  }

  /**
   * Makes the proxies (each listens while its node runs), starts the founder, then the others,
   * and waits until all are members and writable.
   */
  async start(timeoutMs = 60_000): Promise<void> {
    const lab = this.lab;
    const byIp = new Map(this.nodes.map((n) => [n.ip, n.index]));
    for (const n of this.nodes) {
      const p = new LinkProxy(
        lab.proxyIp,
        PROXY_BASE_PORT + n.index,
        n.ip,
        CLUSTER_PORT,
        n.index,
        (addr) => byIp.get(addr.replace(/^::ffff:/, "")) ?? -1,
        (from, to) => this.delays.get(`${from}>${to}`) ?? 0,
      );
      this.proxies.push(p);
    }
    await this.nodes[0].start();
    await Promise.all(this.nodes.slice(1).map((n) => n.start()));
    await this.waitFormed(timeoutMs);
  }

  /** Waits until every node reports every node as a member and is writable. */
  async waitFormed(timeoutMs: number): Promise<void> {
    const want = String(this.nodes.length);
    const until = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      const infos = await Promise.all(this.nodes.map((n) => n.info().catch((e) => ({ error: String(e) }))));
      const ok = infos.every((i) =>
        (i as Record<string, string>).swytch_members === want &&
        (i as Record<string, string>).swytch_writable === "1"
      );
      if (ok) return;
      last = JSON.stringify(infos.map((i) => {
        const r = i as Record<string, string>;
        return r.error ?? `members=${r.swytch_members} writable=${r.swytch_writable}`;
      }));
      if (Date.now() > until) {
        throw new Error(`cluster not formed in ${timeoutMs} ms: ${last}`);
      }
      await Bun.sleep(250);
    }
  }

  /**
   * Stops every proxy and kills every node started here (by PID). Safe to call twice. With
   * FAULT_PROFILE_DIR set the nodes get SIGINT first, so their CPU profiles are written.
   */
  async shutdown(): Promise<void> {
    if ((process.env.FAULT_PROFILE_DIR ?? "") !== "") {
      await Promise.all(this.nodes.map((n) => n.stop(180_000)));
    }
    await Promise.all(this.nodes.map((n) => n.kill9()));
    for (const p of this.proxies) p.stop();
  }

  /** Synchronous last resort for exit and signal handlers: SIGCONT + SIGKILL every live PID. */
  killAllSync(): void {
    for (const p of this.pids) {
      try {
        process.kill(p, "SIGCONT");
        process.kill(p, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}

/** Last `lines` lines of a file ("" if unreadable). */
export function tail(file: string, lines: number): string {
  try {
    const text = fs.readFileSync(file, "utf8");
    return text.split("\n").slice(-lines - 1).join("\n");
  } catch {
    return "";
  }
}

/** Waits until host:port accepts a TCP connection; stops early when `gaveUp` says so. */
async function waitForTcp(
  host: string,
  port: number,
  timeoutMs: number,
  gaveUp: () => boolean,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (gaveUp()) throw new Error("the process exited");
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await Bun.sleep(100);
  }
  throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
}

/** A run's log: lines stamped with the seconds since it began, kept and passed on to `sink`. */
export function timeline(sink?: (line: string) => void): {
  log: (line: string) => void;
  lines: string[];
  elapsed: () => number;
} {
  const t0 = performance.now();
  const elapsed = () => performance.now() - t0;
  const lines: string[] = [];
  const log = (line: string) => {
    const s = `+${(elapsed() / 1000).toFixed(3)}s ${line}`;
    lines.push(s);
    sink?.(s);
  };
  return { log, lines, elapsed };
}
