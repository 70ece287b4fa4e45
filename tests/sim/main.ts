/**
 * The deterministic simulator: one node of the real engine and Redis face on a simulated clock and
 * disk, driven by a seed. `bun tests/sim/main.ts --seed N [--seeds K] [--planted-bug]` replays.
 *
 * Soundness of the check for writes that were sent but not acknowledged before a crash: commands
 * run synchronously when their last byte reaches the face, and every write appends its one log
 * record at that moment, so the log is in execution order and whatever survives a crash is a
 * prefix of it (a sync covers everything appended before it; the disk only loses a suffix and
 * recovery truncates a torn tail at a record boundary). The simulator records every executed
 * command in order and, after a recovery, requires the node's state (read back through RESP) to
 * equal the model's state after some prefix of the executed commands that contains every
 * acknowledged state-changing command. That accepts each unacknowledged command's effect being
 * there or not (but only in order), and rejects a lost acknowledged write. Reads and no-op
 * commands do not constrain the prefix: a read may see another client's write before it is
 * durable, which no appendfsync policy promises otherwise. After a clean shutdown the prefix must
 * be everything executed. Every reply during the run is also compared with the model's.
 */
import { defaultEncodingLimits } from "../../redis/encodings.ts";
import { Engine, fnv64 } from "../../core/engine.ts";
import type { Client, Transport } from "../../redis/client.ts";
import { Face, type FaceConfig, handlers, type HostInfo, reducers } from "../../redis/mod.ts";
import { type CrashReport, SimDisk } from "./disk.ts";
import { type Prng, SimEnv, SimWorld } from "./env.ts";
import { applyCommand, cloneState, renderKey, renderState, type State } from "./model.ts";
import { encodeCommand, R, ReplyReader } from "./resp.ts";

export interface RunOptions {
  /** Runs the engine with `plantedBugReplyBeforeFsync` (replies before the fsync under always). */
  plantedBug?: boolean;
  /** Commands the workload sends (default `DEFAULT_OPS`). */
  ops?: number;
}

export interface RunStats {
  commands: number;
  executed: number;
  acknowledged: number;
  crashes: number;
  cleanRestarts: number;
  tornTails: number;
  checkpoints: number;
  simulatedMs: number;
}

export interface RunResult {
  ok: boolean;
  detail: string;
  stats: RunStats;
}

/** The workload's keys: few, so commands collide on them. */
const KEYS = ["k0", "k1", "k2", "k3", "k4", "k5"];
const STRING_KEYS = KEYS.slice(0, 4);
const LIST_KEYS = KEYS.slice(2);
/** Values: some integers (INCR works), some not (INCR fails), short so APPEND stays small. */
const VALUES = ["0", "1", "7", "42", "-3", "x", "ab", "9z"];
const CLIENTS = 4;
/** Commands per run unless told otherwise. */
export const DEFAULT_OPS = 400;
/** A TTL no run reaches (simulated runs last minutes at most). */
const LONG_TTL = "1000000";
/** Simulated ms the end of a run waits for every reply. */
const SETTLE_MS = 2000;
const TRACE_TAIL = 25;

class SimFailure extends Error {}

/** A command that ran on the node, in execution order since the last recovery. */
interface Executed {
  index: number;
  client: number;
  args: string[];
  expected: string;
  /** It changed the model's state (only those constrain what must survive). */
  changed: boolean;
}

interface SimNode {
  env: SimEnv;
  engine: Engine;
  face: Face;
  incarnation: number;
  /** What `engine.open` said about a torn tail (null: none found). */
  truncated: string | null;
}

class SimClient {
  /** Bumped per connection: bytes from an older connection's transport are dropped. */
  gen = 0;
  conn: Client | null = null;
  reader = new ReplyReader();
  /** Bytes not yet delivered to the node, and the end offset of each command in them. */
  outgoing = new Uint8Array(0);
  outCmds: { end: number; args: string[] }[] = [];
  /** Executed commands whose reply has not arrived yet, oldest first. */
  inflight: Executed[] = [];
  constructor(readonly id: number) {}
}

/** The host a simulated node reports (shared with the cluster simulator). */
export const HOST: HostInfo = {
  pid: 4242,
  os: "Simulated 1.0 sim",
  arch: "sim",
  executable: "/sim/swytch",
  runId: "0".repeat(40),
  tcpPort: 6379,
  processStats: () => ({ rssBytes: 1 << 20, heapBytes: 1 << 19, userCpuSec: 0, sysCpuSec: 0 }),
  purge: () => {},
};

/** A simulated node's configuration (shared with the cluster simulator). */
export function faceConfig(appendfsync: "always" | "everysec" = "always"): FaceConfig {
  return {
    requirepass: "",
    maxclients: 10000,
    timeout: 0,
    databases: 16,
    protoMaxBulkLen: 512 * 1024 * 1024,
    clientQueryBufferLimit: 1024 * 1024 * 1024,
    clientOutputBufferLimit: 1 << 30,
    encodings: defaultEncodingLimits(),
    maxmemoryPolicy: "noeviction",
    busyReplyThresholdMs: 5000,
    save: "",
    port: 6379,
    bind: "127.0.0.1",
    unixsocket: "",
    unixsocketperm: 0o700,
    dir: "/sim",
    appendfsync,
    appendonly: true,
    hz: 10,
    maxmemory: 0,
  };
}

/** A deterministic stand-in for XXH3 (DIGEST is not exercised for its exact value here). */
const digest = fnv64;

class Simulation {
  readonly world: SimWorld;
  readonly prng: Prng;
  readonly disk: SimDisk;
  readonly clients: SimClient[] = [];
  readonly plantedBug: boolean;
  readonly stats: RunStats = {
    commands: 0,
    executed: 0,
    acknowledged: 0,
    crashes: 0,
    cleanRestarts: 0,
    tornTails: 0,
    checkpoints: 0,
    simulatedMs: 0,
  };
  node: SimNode;
  #incarnations = 0;
  /** The model's state at the last recovery, the commands executed since, and the state now. */
  #base: State = new Map();
  #execs: Executed[] = [];
  #model: State = new Map();
  /** Every prefix that may survive must hold the first `#ackedMin` executed commands. */
  #ackedMin = 0;
  #ackedBy: Executed | null = null;

  constructor(seed: number, opts: RunOptions) {
    this.world = new SimWorld(seed, {
      buggify: true,
      wallStartMs: 1_700_000_000_000 + (seed % 1000) * 86_400_000,
    });
    this.prng = this.world.prng;
    this.disk = new SimDisk(this.world);
    this.plantedBug = opts.plantedBug ?? false;
    this.node = this.#boot();
    for (let i = 0; i < CLIENTS; i++) this.clients.push(new SimClient(i + 1));
    for (const c of this.clients) this.#connect(c);
  }

  trace(line: string): void {
    this.world.log(`sim ${line}`);
  }

  fail(msg: string): never {
    throw new SimFailure(msg);
  }

  // ---------------------------------------------------------------- node lifecycle

  #boot(): SimNode {
    const incarnation = ++this.#incarnations;
    const env = new SimEnv(this.world, this.disk, `node#${incarnation}`);
    const engine = new Engine(env, {
      reducers,
      databases: 16,
      appendfsync: "always",
      plantedBugReplyBeforeFsync: this.plantedBug,
    });
    const recovery = engine.open();
    this.trace(
      `boot #${incarnation}: keys=${recovery.keysLoaded} records=${recovery.recordsReplayed} truncated=${recovery.truncated}`,
    );
    const face = new Face(engine, {
      config: faceConfig(),
      host: HOST,
      version: "8.4.0",
      digest,
      shutdown: (_save, done) => done("ERR SHUTDOWN is not available in the simulator"),
      handlers,
    });
    this.node = { env, engine, face, incarnation, truncated: recovery.truncated };
    return this.node;
  }

  #connect(c: SimClient): void {
    c.gen++;
    const gen = c.gen;
    c.reader = new ReplyReader();
    c.outgoing = new Uint8Array(0);
    c.outCmds = [];
    c.inflight = [];
    const transport: Transport = {
      write: (bytes) => {
        if (gen === c.gen) this.#received(c, bytes);
      },
      close: () => {},
      backlog: () => 0,
    };
    c.conn = this.node.face.connect(transport, {
      addr: `10.0.0.${c.id}:5000${c.id}`,
      laddr: "10.0.0.100:6379",
      kind: "tcp",
    });
    if (c.conn === null) this.fail(`client ${c.id} refused on connect`);
  }

  /** Drops every connection (their unanswered commands stay unacknowledged). */
  #disconnectAll(): void {
    for (const c of this.clients) {
      c.gen++;
      c.conn = null;
      c.inflight = [];
      c.outgoing = new Uint8Array(0);
      c.outCmds = [];
    }
  }

  /** Power loss: the process and the page cache are gone; a new node recovers from the disk. */
  crash(): void {
    this.stats.crashes++;
    this.#disconnectAll();
    this.node.env.halt();
    const report: CrashReport = this.disk.crash();
    if (report.torn !== null) this.stats.tornTails++;
    this.trace(`crash: lost=${report.lostRecords} writtenBack=${report.writtenBack} torn=${report.torn}`);
    if (this.world.buggify("sim.wall_jump")) this.world.jumpWall(this.prng.range(-3000, 3000));
    this.#recoverAndCheck(this.#ackedMin, report);
  }

  /** SHUTDOWN-like stop: clients closed, the log synced, then a restart; nothing may be missing. */
  cleanRestart(): void {
    this.stats.cleanRestarts++;
    const old = this.node;
    // Deliver what clients still hold (a polite shutdown lets in-flight bytes arrive first).
    for (const c of this.clients) this.#send(c, c.outgoing.length);
    old.face.close();
    let closed = false;
    old.engine.close(() => (closed = true));
    this.#advanceUntil(() => closed, 5000, "engine.close never completed");
    this.#disconnectAll();
    old.env.halt();
    this.trace("clean restart");
    this.#recoverAndCheck(this.#execs.length, null);
  }

  #recoverAndCheck(minPrefix: number, report: CrashReport | null): void {
    const node = this.#boot();
    if (report !== null && report.torn !== null && node.truncated === null) {
      this.fail(`crash left a ${report.torn} tail but recovery did not report it truncated`);
    }
    this.#checkRecovered(minPrefix);
    this.#checkStableHash();
    for (const c of this.clients) this.#connect(c);
  }

  /** Recovered state = model after a prefix of executed commands holding every acknowledged one. */
  #checkRecovered(minPrefix: number): void {
    const observed = this.#readBack();
    const matches = (st: State): boolean => {
      if (observed.dbsize !== st.size) return false;
      for (const k of KEYS) if (observed.keys.get(k) !== renderKey(st.get(k))) return false;
      return true;
    };
    const st = cloneState(this.#base);
    let found = -1, foundBelow = -1;
    let foundState: State | null = null;
    for (let l = 0;; l++) {
      if (matches(st)) {
        if (l >= minPrefix) {
          found = l;
          foundState = cloneState(st);
          break;
        }
        foundBelow = l;
      }
      if (l === this.#execs.length) break;
      applyCommand(st, this.#execs[l].args);
    }
    if (foundState === null) {
      const seen = KEYS.map((k) => `${k}=${observed.keys.get(k)}`).join(" ") + ` dbsize=${observed.dbsize}`;
      if (foundBelow >= 0) {
        const lost = this.#execs.slice(foundBelow, minPrefix).filter((e) => e.changed);
        const by = this.#ackedBy;
        this.fail(
          `lost acknowledged write: recovered state equals the state after ${foundBelow} of ${this.#execs.length} ` +
            `executed commands, but ${minPrefix} had to survive` +
            (by !== null && minPrefix === this.#ackedMin
              ? ` (last acknowledged: #${by.index} client ${by.client} ${by.args.join(" ")})`
              : "") +
            `; not recovered: ${lost.map((e) => `#${e.index} c${e.client} ${e.args.join(" ")}`).join("; ")}` +
            `\n  recovered: ${seen}`,
        );
      }
      const full = cloneState(this.#base);
      for (const e of this.#execs) applyCommand(full, e.args);
      this.fail(
        `recovered state is no prefix of the ${this.#execs.length} executed commands (at least ${minPrefix})` +
          `\n  recovered: ${seen}\n  base:      ${renderState(this.#base)}\n  all:       ${
            renderState(full)
          }`,
      );
    }
    this.trace(`recovered prefix ${found}/${this.#execs.length} (min ${minPrefix})`);
    this.#base = foundState;
    this.#model = cloneState(foundState);
    this.#execs = [];
    this.#ackedMin = 0;
    this.#ackedBy = null;
  }

  /** The recovered state hash survives another recovery (after a checkpoint, sometimes) unchanged. */
  #checkStableHash(): void {
    const h1 = this.node.engine.stateHash();
    if (this.prng.chance(0.5)) this.#checkpoint(true);
    if (this.disk.notDurableBytes() !== 0) {
      this.fail(`${this.disk.notDurableBytes()} bytes not durable after a recovery without writes`);
    }
    this.node.env.halt();
    const report = this.disk.crash();
    if (report.lostRecords !== 0 || report.torn !== null) this.fail("a crash without writes lost records");
    this.#boot();
    const h2 = this.node.engine.stateHash();
    if (h1 !== h2) this.fail(`state hash changed across a recovery without writes: ${h1} -> ${h2}`);
  }

  /** Reads every key through a fresh RESP connection: TYPE, TTL, GET, LRANGE, then DBSIZE. */
  #readBack(): { keys: Map<string, string>; dbsize: number } {
    const reader = new ReplyReader();
    const replies: string[] = [];
    let closed = false;
    const conn = this.node.face.connect({
      write: (b) => {
        reader.feed(b);
        for (let r = reader.next(); r !== undefined; r = reader.next()) replies.push(r);
      },
      close: () => (closed = true),
      backlog: () => 0,
    }, { addr: "10.0.0.99:59999", laddr: "10.0.0.100:6379", kind: "tcp" });
    if (conn === null) this.fail("read-back connection refused");
    const cmds: string[][] = [];
    for (const k of KEYS) cmds.push(["TYPE", k], ["TTL", k], ["GET", k], ["LRANGE", k, "0", "-1"]);
    cmds.push(["DBSIZE"]);
    const parts = cmds.map(encodeCommand);
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.length;
    }
    conn.feed(bytes);
    this.#advanceUntil(() => replies.length >= cmds.length || closed, 1000, "read-back replies never came");
    if (replies.length < cmds.length) {
      this.fail(`read-back connection closed after ${replies.length} replies`);
    }
    conn.kill();
    const keys = new Map<string, string>();
    KEYS.forEach((k, i) => {
      const [type, ttl, get, lrange] = replies.slice(4 * i, 4 * i + 4);
      let r: string;
      if (type === R.simple("none")) r = "none";
      else if (type === R.simple("string")) r = `string ${get}`;
      else if (type === R.simple("list")) r = `list ${lrange}`;
      else r = `unexpected TYPE ${type}`;
      if (r !== "none") {
        if (ttl === R.int(-2)) r += " (TTL says missing)";
        else if (ttl !== R.int(-1)) r += " ttl";
      } else if (ttl !== R.int(-2)) r += ` (TTL ${ttl})`;
      keys.set(k, r);
    });
    const db = replies[4 * KEYS.length];
    if (!db.startsWith(":")) this.fail(`DBSIZE replied ${db}`);
    return { keys, dbsize: Number(db.slice(1)) };
  }

  #checkpoint(wait: boolean): void {
    let done = false;
    const started = this.node.engine.checkpoint((error) => {
      done = true;
      if (error === undefined) this.stats.checkpoints++;
      this.trace(`checkpoint done ${error ?? "ok"}`);
    });
    this.trace(`checkpoint ${started ? "started" : "already running"}`);
    if (wait && started) this.#advanceUntil(() => done, 5000, "checkpoint never completed");
  }

  // ---------------------------------------------------------------- time

  advance(ms: number): void {
    this.world.advance(ms);
  }

  #advanceUntil(cond: () => boolean, limitMs: number, what: string): void {
    const until = this.world.now + limitMs;
    this.world.advance(0);
    while (!cond()) {
      if (this.world.now >= until) this.fail(`${what} (waited ${limitMs} simulated ms)`);
      this.world.advance(1);
    }
  }

  // ---------------------------------------------------------------- workload

  #randomCommand(): string[] {
    const p = this.prng;
    // String commands favour k0..k3 and list commands k2..k5: the overlap keeps WRONGTYPE around
    // without drowning the workload in it.
    const key = () => p.pick(KEYS);
    const skey = () => (p.chance(0.9) ? p.pick(STRING_KEYS) : key());
    const lkey = () => (p.chance(0.9) ? p.pick(LIST_KEYS) : key());
    const value = () => (p.chance(0.3) ? String(p.range(-20, 300)) : p.pick(VALUES));
    const r = p.int(100);
    if (r < 18) return ["SET", skey(), value()];
    if (r < 32) return ["INCR", skey()];
    if (r < 39) return p.chance(0.5) ? ["DEL", key()] : ["DEL", key(), key()];
    if (r < 48) return ["APPEND", skey(), value()];
    if (r < 62) return p.chance(0.6) ? ["RPUSH", lkey(), value()] : ["RPUSH", lkey(), value(), value()];
    if (r < 72) return ["LPOP", lkey()];
    if (r < 77) return ["EXPIRE", key(), LONG_TTL];
    if (r < 84) return ["MSET", skey(), value(), skey(), value()];
    if (r < 92) return ["GET", skey()];
    return ["LRANGE", lkey(), "0", "-1"];
  }

  /** A client queues a pipeline and sends some or all of its bytes. */
  clientStep(c: SimClient): void {
    if (c.outCmds.length === 0 || this.prng.chance(0.3)) {
      const n = this.prng.range(1, 4);
      const parts: Uint8Array[] = [c.outgoing];
      let len = c.outgoing.length;
      for (let i = 0; i < n; i++) {
        const args = this.#randomCommand();
        const b = encodeCommand(args);
        parts.push(b);
        len += b.length;
        c.outCmds.push({ end: len, args });
        this.stats.commands++;
      }
      const out = new Uint8Array(len);
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      c.outgoing = out;
    }
    // TCP may deliver any prefix: often all of it, sometimes a command cut in two.
    const n = this.prng.chance(0.7) ? c.outgoing.length : this.prng.range(1, c.outgoing.length);
    this.#send(c, n);
  }

  /** Delivers the first `n` outgoing bytes; commands they complete run now, in order. */
  #send(c: SimClient, n: number): void {
    if (n === 0 || c.conn === null) return;
    const chunk = c.outgoing.slice(0, n);
    c.outgoing = c.outgoing.slice(n);
    let done = 0;
    while (done < c.outCmds.length && c.outCmds[done].end <= n) done++;
    // The model runs them first (their replies may come back inside `feed`).
    for (const { args } of c.outCmds.slice(0, done)) {
      const before = renderState(this.#model);
      const expected = applyCommand(this.#model, args);
      const e: Executed = {
        index: this.#execs.length,
        client: c.id,
        args,
        expected,
        changed: renderState(this.#model) !== before,
      };
      this.#execs.push(e);
      c.inflight.push(e);
      this.stats.executed++;
      this.trace(`c${c.id} run #${e.index} ${args.join(" ")} -> ${expected}`);
    }
    c.outCmds = c.outCmds.slice(done).map((x) => ({ end: x.end - n, args: x.args }));
    c.conn.feed(chunk);
  }

  #received(c: SimClient, bytes: Uint8Array): void {
    c.reader.feed(bytes);
    for (let r = c.reader.next(); r !== undefined; r = c.reader.next()) {
      const e = c.inflight.shift();
      if (e === undefined) this.fail(`client ${c.id} got a reply to no command: ${r}`);
      if (r !== e.expected) {
        this.fail(
          `reply mismatch: #${e.index} client ${c.id} ${e.args.join(" ")}: expected ${e.expected}, got ${r}`,
        );
      }
      this.stats.acknowledged++;
      if (e.changed && e.index + 1 > this.#ackedMin) {
        this.#ackedMin = e.index + 1;
        this.#ackedBy = e;
      }
    }
  }

  /** The whole run. */
  run(ops: number): void {
    const p = this.prng;
    while (this.stats.commands < ops) {
      const r = p.float();
      if (r < 0.675) this.clientStep(p.pick(this.clients));
      else if (r < 0.935) this.advance(p.pick([0, 0, 1, 1, 2, 3, 5, 10, 20]));
      else if (r < 0.975) this.advance(p.range(50, 1500));
      else if (r < 0.99) this.crash();
      else if (r < 0.994) this.cleanRestart();
      else this.#checkpoint(false);
    }
    // Let every byte arrive and every reply come back; nothing may stay unanswered.
    for (const c of this.clients) this.#send(c, c.outgoing.length);
    this.advance(SETTLE_MS);
    for (const c of this.clients) {
      if (c.inflight.length > 0) {
        const e = c.inflight[0];
        this.fail(`no reply after ${SETTLE_MS} ms to #${e.index} client ${c.id} ${e.args.join(" ")}`);
      }
      if (c.reader.pending() !== 0) {
        this.fail(`client ${c.id} holds ${c.reader.pending()} bytes of a partial reply`);
      }
    }
    // Everything was acknowledged, so a crash now must keep all of it.
    if (
      this.#ackedMin !== this.#execs.length && this.#execs.some((e, i) => i >= this.#ackedMin && e.changed)
    ) {
      this.fail(`settled with unacknowledged writes (acked ${this.#ackedMin} of ${this.#execs.length})`);
    }
    this.crash();
  }
}

/** Runs one seed; never throws (a crash of the node under test is a failure with its stack). */
export function runSeed(seed: number, opts: RunOptions = {}): RunResult {
  let sim: Simulation | null = null;
  try {
    sim = new Simulation(seed, opts);
    sim.run(opts.ops ?? DEFAULT_OPS);
    sim.stats.simulatedMs = sim.world.now;
    const s = sim.stats;
    return {
      ok: true,
      detail:
        `${s.commands} commands (${s.acknowledged} acknowledged), ${s.crashes} crashes (${s.tornTails} torn), ` +
        `${s.cleanRestarts} clean restarts, ${s.checkpoints} checkpoints, ${s.simulatedMs} simulated ms`,
      stats: s,
    };
  } catch (e) {
    const where = sim === null ? "" : ` at ${sim.world.now} simulated ms`;
    const msg = e instanceof SimFailure ? e.message : `exception: ${(e as Error)?.stack ?? String(e)}`;
    const tail = sim === null ? [] : sim.world.logLines.slice(-TRACE_TAIL);
    const stats = sim?.stats ?? {
      commands: 0,
      executed: 0,
      acknowledged: 0,
      crashes: 0,
      cleanRestarts: 0,
      tornTails: 0,
      checkpoints: 0,
      simulatedMs: 0,
    };
    return {
      ok: false,
      detail: `seed ${seed}${opts.plantedBug ? " (planted bug)" : ""}${where}: ${msg}` +
        `\n  replay: ${replayCommand(seed, opts)}\n  trace (last ${tail.length}):\n    ${
          tail.join("\n    ")
        }`,
      stats,
    };
  }
}

/** The one command that replays a seed. */
export function replayCommand(seed: number, opts: RunOptions = {}): string {
  const ops = opts.ops !== undefined && opts.ops !== DEFAULT_OPS ? ` --ops ${opts.ops}` : "";
  return `bun tests/sim/main.ts --seed ${seed}${opts.plantedBug ? " --planted-bug" : ""}${ops}`;
}

function parseArgs(
  argv: string[],
): { seed: number; seeds: number; plantedBug: boolean; ops: number | undefined } {
  const out = { seed: 1, seeds: 1, plantedBug: false, ops: undefined as number | undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v)) throw new Error(`${a} needs an integer`);
      return v;
    };
    if (a === "--seed") out.seed = num();
    else if (a === "--seeds") out.seeds = num();
    else if (a === "--ops") out.ops = num();
    else if (a === "--planted-bug") out.plantedBug = true;
    else throw new Error(`unknown argument ${a} (usage: --seed N [--seeds K] [--planted-bug] [--ops N])`);
  }
  return out;
}

if (import.meta.main) {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  let failed = 0;
  const t0 = performance.now();
  for (let s = args.seed; s < args.seed + args.seeds; s++) {
    const r = runSeed(s, { plantedBug: args.plantedBug, ops: args.ops });
    if (!r.ok) failed++;
    console.log(`seed ${s}: ${r.ok ? "ok" : "FAILED"} ${r.ok ? r.detail : "\n" + r.detail}`);
  }
  const ms = Math.round(performance.now() - t0);
  console.log(
    `${args.seeds - failed}/${args.seeds} seeds passed in ${ms} ms${args.plantedBug ? " (planted bug)" : ""}`,
  );
  process.exit(failed > 0 ? 1 : 0);
}
