/**
 * The cluster simulator: N nodes of the real engine, replicator and Redis face on a simulated
 * network, clocks and disks, driven by one seed (DESIGN.md section 7).
 *
 * The network delivers each connection's messages in order after a latency; partitions (one
 * node, majority/minority, one direction only) drop what crosses them and break the connections
 * after a TCP-like timeout; dials across a cut fail. Clocks have per-node offsets and jumps.
 * Disks lose what was not synced when their node crashes. Nodes crash, restart, restart cleanly
 * and get wiped (a new node id that joins again). Clients on every node run counters, a set and
 * registers (coordination-free) and the exclusive workloads: a queue (pushes everywhere, LPOP
 * everywhere), a bank (WATCH/MULTI/EXEC transfers and transactional reads), list-append
 * transactions and SET NX elections; each records a history. Commits are hit by crashes of their
 * originator and participants in their middle, and by a trap (a one-way cut so one participant
 * does not accept, then the originator and the other crash as the commit is reported). At the end
 * a liveness phase heals everything and requires every node to reach the same state hash with no
 * envelope undecided; then the checkers judge the history.
 *
 * Invariants checked while it runs: a node never loses, in a crash, what it advertised as durably
 * had (the ack-before-log bug); no node considers an effect stable that a live member lacks (the
 * stability-without-order bug). Planted envelope bugs: an accept not fsynced, a commit reported
 * before it is chosen.
 */
import { Engine, ENVELOPE_INC, fnv64 } from "../../core/engine.ts";
import { PLANTED } from "../../core/effect.ts";
import { hlcMs } from "../../core/hlc.ts";
import { type Link, Replicator } from "../../core/replicator.ts";
import type { Client, Transport } from "../../redis/client.ts";
import { Face, handlers, reducers } from "../../redis/mod.ts";
import { membershipStore } from "../../redis/members.ts";
import { checkConvergence, type NodeReads } from "../checkers/convergence.ts";
import { checkCounter } from "../checkers/counter.ts";
import { type Event, HistoryRecorder, type PendingOp } from "../checkers/history.ts";
import { checkSet } from "../checkers/set.ts";
import { SimDisk } from "./disk.ts";
import { type Prng, SimEnv, SimWorld } from "./env.ts";
import { faceConfig, HOST } from "./main.ts";
import { encodeCommand, ReplyReader } from "./resp.ts";
import { isErr, parseReply, type Value } from "./reply_value.ts";
import { checkBank } from "../checkers/bank.ts";
import { checkElection } from "../checkers/election.ts";
import { checkListAppend } from "../checkers/list_append.ts";
import { checkQueue } from "../checkers/queue.ts";
import { MIXED } from "./mixed.ts";

export type PlantedBug = "tie-break" | "stability" | "ack" | "accept" | "chosen";

export interface ClusterRunOptions {
  nodes?: number;
  /** Simulated seconds of workload and faults before the liveness phase. */
  seconds?: number;
  planted?: PlantedBug | null;
  /** Keep the whole trace (for `--trace`). */
  trace?: boolean;
}

export interface ClusterRunResult {
  ok: boolean;
  detail: string;
  /** Hash of every trace line: two runs of one seed must agree. */
  traceHash: string;
  stats: ClusterStats;
  trace: string[];
}

export interface ClusterStats {
  ops: number;
  acknowledged: number;
  /** Exclusive commands (pops, transfers, transactions, elections) acknowledged. */
  exclusiveAcknowledged: number;
  /** Commits whose originator and a participant crashed as the commit was reported. */
  commitTraps: number;
  /** Members down past the member timeout (removed by the others). */
  outages: number;
  crashes: number;
  wipes: number;
  partitions: number;
  clockJumps: number;
  simulatedMs: number;
}

class SimFailure extends Error {}

function emptyStats(): ClusterStats {
  return {
    ops: 0,
    acknowledged: 0,
    exclusiveAcknowledged: 0,
    commitTraps: 0,
    outages: 0,
    crashes: 0,
    wipes: 0,
    partitions: 0,
    clockJumps: 0,
    simulatedMs: 0,
  };
}

/** A running process on one slot. */
interface Proc {
  gen: number;
  env: SimEnv;
  engine: Engine;
  face: Face;
  replicator: Replicator;
}

/** One machine: a disk and, while up, a process. */
interface Slot {
  index: number;
  name: string;
  disk: SimDisk;
  proc: Proc | null;
  /** Clock error of this machine (kept across restarts). */
  skewMs: number;
  /** Clock rate error of this machine, in ppm (some runs exaggerate it to thousands). */
  driftPpm: number;
  /** What this node id advertised as durably had, per writer key (the ack oracle). */
  advertised: Map<string, number>;
  nodeId: string;
  /** Every node id this machine has had (it starts over under a new one when removed). */
  ids: Set<string>;
}

interface Conn {
  id: number;
  from: number;
  to: number;
  fromGen: number;
  toGen: number;
  open: boolean;
  /** Delivery handlers on each side. */
  ends: [
    { receive(m: Uint8Array): void; closed(): void } | null,
    { receive(m: Uint8Array): void; closed(): void } | null,
  ];
  /** Time the last message in each direction arrives (FIFO per direction). */
  lastAt: [number, number];
  /** A message was dropped at a cut: the connection must not live on. */
  lost?: boolean;
}

interface SimClient {
  id: number;
  slot: number;
  gen: number;
  conn: Client | null;
  reader: ReplyReader;
  /** The commands in flight (a pipeline): their replies go to `on` once all arrived. */
  pending:
    | { args: string[]; op: PendingOp | null; expect: number; got: Value[]; on: (r: Value[]) => void }
    | null;
}

/** The simulated nodes' --member-timeout. */
const MEMBER_TIMEOUT_MS = 15_000;
/** How long an acknowledged write may sit only on its node (everysec fsync plus the send). */
const LOSS_WINDOW_MS = 1500;
const COUNTERS = ["c0", "c1"];
const SETS = ["s0"];
const REGISTERS = ["r0", "r1", "r2"];
const LISTS = ["l0"];
/** Exclusive workloads: a queue, bank accounts, list-append transactions, SET NX elections. */
const QUEUE = "q0";
const ACCOUNTS = ["a0", "a1", "a2", "a3"];
const BANK_TOTAL = 100;
const APPEND_KEYS = ["la0", "la1", "la2"];
/**
 * Mixed-type workloads (issue 5): a queue served by BLPOP (pushes everywhere, blocking pops
 * everywhere), a stream consumed by one consumer group (XADD everywhere, XREADGROUP `>` from a
 * consumer per client), both checked exactly-once by the queue checker, and coordination-free
 * writes on every other type, judged by convergence.
 */
const BQUEUE = "bq0";
const STREAM = "sq0";
const GROUP = "g0";
/** Operations whose acknowledgement is durable by majority, whatever the fsync policy. */
const ENVELOPE_FS = new Set(["pop", "transfer", "txn", "elect", "read"]);
/** Replies that say an exclusive command definitely did not take effect. */
function definitelyNot(e: string): boolean {
  return e.startsWith("PARTITIONED") || e.startsWith("EXECABORT") ||
    (e.startsWith("TRYAGAIN") && !e.includes("not learned"));
}

class ClusterSim {
  readonly world: SimWorld;
  readonly prng: Prng;
  readonly slots: Slot[] = [];
  readonly conns = new Map<number, Conn>();
  readonly history: HistoryRecorder;
  readonly stats: ClusterStats = emptyStats();
  readonly appendfsync: "always" | "everysec";
  readonly latency: [number, number];
  /** Directed cuts: `${from}>${to}`. */
  readonly cuts = new Set<string>();
  readonly clients: SimClient[] = [];
  readonly trace: string[] | null;
  #nextConn = 1;
  #dialing = new Set<string>();
  #addSeq = 0;
  #workload = true;

  constructor(readonly seed: number, readonly n: number, opts: ClusterRunOptions) {
    this.world = new SimWorld(seed, { buggify: true });
    this.prng = this.world.prng;
    this.history = new HistoryRecorder(() => this.world.now);
    this.trace = opts.trace === true ? [] : null;
    this.appendfsync = this.prng.chance(0.5) ? "always" : "everysec";
    const base = this.prng.range(1, 5);
    this.latency = [base, base + this.prng.range(0, 30)];
    for (let i = 0; i < n; i++) {
      this.slots.push({
        index: i,
        name: `n${i}`,
        disk: new SimDisk(this.world),
        proc: null,
        skewMs: this.prng.chance(0.5) ? 0 : this.prng.range(-200, 200),
        driftPpm: this.prng.chance(0.7) ? this.prng.range(-100, 100) : this.prng.range(-5000, 5000),
        advertised: new Map(),
        nodeId: "",
        ids: new Set(),
      });
    }
    this.log(
      `config nodes=${n} appendfsync=${this.appendfsync} latency=${this.latency} skews=${
        this.slots.map((s) => s.skewMs)
      } drift=${this.slots.map((s) => s.driftPpm)}ppm`,
    );
  }

  log(line: string): void {
    this.world.log(`sim ${line}`);
    this.trace?.push(`${this.world.now}ms ${line}`);
  }

  fail(msg: string): never {
    throw new SimFailure(msg);
  }

  addr(i: number): string {
    return `n${i}:7000`;
  }

  // ---------------------------------------------------------------- processes

  boot(i: number, join: boolean): void {
    const s = this.slots[i];
    const env = new SimEnv(this.world, s.disk, s.name);
    env.skewMs = s.skewMs;
    env.driftPpm = s.driftPpm;
    const engine = new Engine(env, {
      reducers,
      databases: 16,
      appendfsync: this.appendfsync,
      clustered: join,
      plantedBugAckBeforeLog: PLANTED_ACK.on,
    });
    const rec = engine.open();
    if (s.nodeId !== "" && s.nodeId !== rec.nodeId) {
      // Only a node that started over (it had been removed) changes its id, and a crash before
      // its new identity was durable brings back the old one.
      if (!s.ids.has(rec.nodeId)) this.fail(`${s.name} came back with another node id`);
      s.advertised = new Map();
    }
    s.ids.add(rec.nodeId);
    s.nodeId = rec.nodeId;
    // The ack oracle: what this node id ever advertised must survive its crashes.
    for (const [wk, seq] of s.advertised) {
      const [node, inc] = wk.split("/");
      let had = 0;
      for (const [w, x] of engine.have()) if (w.node === node && w.inc === Number(inc)) had = x;
      if (had < seq) {
        this.fail(
          `${s.name} advertised having ${wk} up to ${seq} durably, but recovered only ${had} ` +
            `(held: ${
              engine.heldSummary().join("; ")
            }; dumps installed=${engine.stats.dumpsInstalled} skipped=${engine.stats.dumpsSkipped})`,
        );
      }
    }
    const orig = engine.durableHave.bind(engine);
    engine.durableHave = () => {
      const m = orig();
      for (const [w, seq] of m) if ((s.advertised.get(w.key) ?? 0) < seq) s.advertised.set(w.key, seq);
      return m;
    };
    const face = new Face(engine, {
      config: faceConfig(this.appendfsync),
      host: HOST,
      version: "8.4.0",
      digest: fnv64,
      shutdown: (_save, done) => done("ERR SHUTDOWN is not available in the simulator"),
      handlers,
    });
    const replicator = new Replicator(engine, {
      self: { redis: `n${i}:6379`, cluster: this.addr(i) },
      store: membershipStore(engine),
      memberTimeoutMs: MEMBER_TIMEOUT_MS,
      heartbeatMs: 200,
      antiEntropyMs: 3000,
      plantedBugUnorderedStability: PLANTED_STABILITY.on,
      envelopes: {
        commitTimeoutMs: 2000,
        plantedBugAcceptNotFsynced: PLANTED_ENVELOPE.accept,
        plantedBugCommitBeforeChosen: PLANTED_ENVELOPE.chosen,
      },
    });
    face.cluster = {
      multiNode: () => replicator.multiNode(),
      info: () => replicator.info(),
      writeBlocked: () => replicator.writeBlocked(),
      acknowledgedBy: (w, seq) => replicator.acknowledgedBy(w, seq),
      commit: (plan, done) => {
        this.crashMidCommit(i);
        const trap = this.commitTrap(i);
        replicator.envelopes.commit(plan, (o) => {
          done(o);
          trap?.(o.kind === "committed");
        });
      },
    };
    if (join) replicator.startJoin();
    const gen = (s.proc?.gen ?? 0) + 1;
    this.bootedAt.set(s.name, this.world.now);
    s.proc = { gen, env, engine, face, replicator };
    this.log(
      `boot ${s.name} id=${rec.nodeId} inc=${rec.incarnation} records=${rec.recordsReplayed} join=${join}`,
    );
    for (const c of this.clients) if (c.slot === i) this.connectClient(c);
  }

  /** Per node name: times its machine lost what was not yet durable (crashes under everysec, wipes). */
  readonly losses = new Map<string, [number, number][]>();
  readonly bootedAt = new Map<string, number>();

  crash(i: number, wipe = false): void {
    const s = this.slots[i];
    if (s.proc === null) return;
    this.stats.crashes++;
    if (wipe || this.appendfsync !== "always") {
      // Under everysec the last second may be gone; a wipe loses everything this machine had
      // not yet handed to a peer (possibly since its boot, if it was cut off all along).
      const l = this.losses.get(s.name) ?? [];
      l.push([this.world.now - LOSS_WINDOW_MS, this.world.now]);
      this.losses.set(s.name, l);
    }
    this.halt(i);
    const r = s.disk.crash();
    this.log(`crash ${s.name} lost=${r.lostRecords} torn=${r.torn}`);
  }

  halt(i: number): void {
    const s = this.slots[i];
    if (s.proc === null) return;
    const p = s.proc;
    if (p.engine.writer.node !== s.nodeId) {
      // It started over as a new node (it had been removed): the oracle follows the new id.
      s.nodeId = p.engine.writer.node;
      s.ids.add(s.nodeId);
      s.advertised = new Map();
    }
    p.replicator.stop();
    p.face.close();
    p.env.halt();
    s.proc = null;
    for (const c of this.conns.values()) if (c.from === i || c.to === i) this.breakConn(c);
    for (const c of this.clients) {
      if (c.slot !== i) continue;
      c.gen++;
      c.conn = null;
      if (c.pending !== null) {
        c.pending.op?.info("connection lost: node crashed");
        c.pending = null;
      }
    }
  }

  /** A wipe: the machine comes back with an empty disk, a new node id, and joins again. */
  wipe(i: number): void {
    const s = this.slots[i];
    this.crash(i, true);
    this.stats.wipes++;
    s.disk = new SimDisk(this.world);
    s.nodeId = "";
    s.ids = new Set();
    s.advertised = new Map();
    this.log(`wipe ${s.name}`);
  }

  alive(): number[] {
    return this.slots.filter((s) => s.proc !== null).map((s) => s.index);
  }

  // ---------------------------------------------------------------- network

  cut(from: number, to: number): boolean {
    return this.cuts.has(`${from}>${to}`);
  }

  dialAll(): void {
    for (const s of this.slots) {
      const p = s.proc;
      if (p === null) continue;
      const r = p.replicator;
      const targets = r.dialTargets().map((m) => m.cluster);
      const joining = r.wantsSeed();
      const seeds = joining ? this.alive().filter((j) => j !== s.index).map((j) => this.addr(j)) : [];
      for (const addr of targets) this.dial(s.index, addr, false);
      if (seeds.length > 0) this.dial(s.index, seeds[this.prng.int(seeds.length)], true);
    }
  }

  dial(from: number, addr: string, join: boolean): void {
    const to = Number(addr.slice(1, addr.indexOf(":")));
    const key = `${from}>${to}`;
    if (this.#dialing.has(key) || !(to >= 0 && to < this.slots.length) || to === from) return;
    this.#dialing.add(key);
    const rtt = 2 * this.prng.range(this.latency[0], this.latency[1]);
    const fromGen = this.slots[from].proc?.gen ?? -1;
    this.world.schedule(rtt, () => {
      this.#dialing.delete(key);
      const a = this.slots[from].proc, b = this.slots[to].proc;
      if (a === null || b === null || a.gen !== fromGen || this.cut(from, to) || this.cut(to, from)) return;
      const c: Conn = {
        id: this.#nextConn++,
        from,
        to,
        fromGen: a.gen,
        toGen: b.gen,
        open: true,
        ends: [null, null],
        lastAt: [0, 0],
      };
      this.conns.set(c.id, c);
      c.ends[1] = b.replicator.connected(this.linkOf(c, 1), { dialed: false });
      c.ends[0] = a.replicator.connected(this.linkOf(c, 0), { join, dialed: true });
    });
  }

  /** The link object side `side` (0 = dialer) writes to. */
  linkOf(c: Conn, side: 0 | 1): Link {
    return {
      send: (m) => {
        if (!c.open) return;
        const from = side === 0 ? c.from : c.to, to = side === 0 ? c.to : c.from;
        if (this.cut(from, to)) {
          // Lost: the connection breaks when its timeout fires, or at the latest when the cut
          // heals (TCP never delivers what comes after a loss on a connection that lives on).
          c.lost = true;
          return;
        }
        const at = Math.max(
          this.world.now + this.prng.range(this.latency[0], this.latency[1]),
          c.lastAt[side],
        );
        c.lastAt[side] = at;
        const bytes = m.slice();
        this.world.schedule(at - this.world.now, () => {
          if (!c.open) return;
          c.ends[side === 0 ? 1 : 0]?.receive(bytes);
        });
      },
      close: () => this.breakConn(c),
    };
  }

  breakConn(c: Conn): void {
    if (!c.open) return;
    c.open = false;
    this.conns.delete(c.id);
    // Each side learns of it (a process that died learns nothing).
    if (this.slots[c.from].proc?.gen === c.fromGen) c.ends[0]?.closed();
    if (this.slots[c.to].proc?.gen === c.toGen) c.ends[1]?.closed();
  }

  /** Breaks every connection that lost a message at a cut. */
  breakLossy(): void {
    for (const c of [...this.conns.values()]) if (c.lost === true) this.breakConn(c);
  }

  /** When the last cut was healed (wipes wait for a quiet network). */
  lastCutMs = 0;
  /** A node about to be wiped: its clients pause so what they wrote reaches the peers. */
  draining: number | null = null;

  partition(cuts: [number, number][], why: string): void {
    this.stats.partitions++;
    for (const [a, b] of cuts) this.cuts.add(`${a}>${b}`);
    this.log(`partition ${why}: ${cuts.map(([a, b]) => `${a}>${b}`).join(" ")}`);
    // Connections across a cut break after a TCP-like timeout.
    const timeout = this.prng.range(200, 2000);
    this.world.schedule(timeout, () => {
      for (const c of [...this.conns.values()]) {
        if (this.cut(c.from, c.to) || this.cut(c.to, c.from)) this.breakConn(c);
      }
    });
  }

  heal(): void {
    if (this.cuts.size > 0) this.log("heal");
    this.cuts.clear();
    this.breakLossy();
    this.lastCutMs = this.world.now;
  }

  // ---------------------------------------------------------------- clients

  connectClient(c: SimClient): void {
    const p = this.slots[c.slot].proc;
    if (p === null) return;
    c.gen++;
    const gen = c.gen;
    c.reader = new ReplyReader();
    const transport: Transport = {
      write: (bytes) => {
        if (gen !== c.gen) return;
        c.reader.feed(bytes);
        for (let r = c.reader.next(); r !== undefined; r = c.reader.next()) this.reply(c, r);
      },
      close: () => {},
      backlog: () => 0,
    };
    c.conn = p.face.connect(transport, {
      addr: `10.0.0.${c.id}:5000`,
      laddr: "10.0.0.100:6379",
      kind: "tcp",
    });
  }

  reply(c: SimClient, r: string): void {
    const pend = c.pending;
    if (pend === null) this.fail(`client ${c.id} got an unexpected reply ${r}`);
    pend.got.push(parseReply(r));
    if (pend.got.length < pend.expect) return;
    c.pending = null;
    pend.on(pend.got);
  }

  /** Sends a pipeline for client `c`; `on` gets every reply. */
  send(c: SimClient, cmds: string[][], op: PendingOp | null, on: (r: Value[]) => void): void {
    if (c.conn === null) {
      op?.info("connection lost");
      return;
    }
    c.pending = { args: cmds.map((x) => x.join(" ")), op, expect: cmds.length, got: [], on };
    let n = 0;
    for (const x of cmds) n += x.length;
    const parts = cmds.map(encodeCommand);
    const bytes = new Uint8Array(parts.reduce((a, b) => a + b.length, 0));
    let at = 0;
    for (const b of parts) {
      bytes.set(b, at);
      at += b.length;
    }
    c.conn.feed(bytes);
  }

  /** Completes a plain command's op from its reply (errors other than expected ones fail the run). */
  plain(args: string[], op: PendingOp | null): (r: Value[]) => void {
    return ([v]) => {
      if (isErr(v)) {
        if (!v.err.startsWith("WRONGTYPE") && !v.err.startsWith("TRYAGAIN") && !v.err.startsWith("OOM")) {
          this.fail(`${args.join(" ")} failed: ${v.err}`);
        }
        op?.fail(v.err);
        return;
      }
      this.stats.acknowledged++;
      op?.ok(v);
    };
  }

  /**
   * Completes an exclusive command's op: PARTITIONED and contention TRYAGAIN definitely did not
   * happen, a TRYAGAIN whose outcome was not learned may have; any other error fails the run.
   */
  exclusive(args: string, op: PendingOp, v: Value, ok: (v: Value) => void): void {
    if (isErr(v)) {
      if (definitelyNot(v.err)) return op.fail(v.err);
      if (v.err.startsWith("TRYAGAIN")) return op.info(v.err);
      this.fail(`${args} failed: ${v.err}`);
    }
    this.stats.acknowledged++;
    this.stats.exclusiveAcknowledged++;
    ok(v);
  }

  #seq = 0;

  /** Issues the next operation of client `c` (one in flight per client). */
  step(c: SimClient): void {
    if (!this.#workload || c.pending !== null || c.conn === null || c.slot === this.draining) return;
    const p = this.slots[c.slot].proc;
    if (p === null) return;
    const x = this.prng.float();
    const node = this.slots[c.slot].name;
    this.stats.ops++;
    if (this.prng.chance(0.2)) return this.mixedStep(c, node);
    if (x < 0.25) {
      const key = COUNTERS[this.prng.int(COUNTERS.length)];
      const d = this.prng.range(1, 5);
      const args = ["INCRBY", key, String(d)];
      const op = this.history.invoke(c.id, node, "incrby", key, d);
      return this.send(c, [args], op, this.plain(args, op));
    }
    if (x < 0.35) {
      const key = SETS[this.prng.int(SETS.length)];
      const v = `e${++this.#addSeq}`;
      const args = ["SADD", key, v];
      const op = this.history.invoke(c.id, node, "sadd", key, v);
      return this.send(c, [args], op, this.plain(args, op));
    }
    if (x < 0.5) {
      const key = REGISTERS[this.prng.int(REGISTERS.length)];
      const y = this.prng.float();
      const args = y < 0.6
        ? ["SET", key, `v${this.prng.int(100)}`]
        : y < 0.75
        ? ["DEL", key]
        : y < 0.9
        ? ["SET", key, `t${this.prng.int(100)}`, "PX", String(this.prng.range(50, 3000))]
        : ["APPEND", key, "+"];
      return this.send(c, [args], null, this.plain(args, null));
    }
    if (x < 0.55) {
      const args = ["RPUSH", LISTS[0], `x${this.prng.int(1000)}`];
      return this.send(c, [args], null, this.plain(args, null));
    }
    if (x < 0.65) {
      const v = `p${++this.#seq}`;
      const args = ["RPUSH", QUEUE, v];
      const op = this.history.invoke(c.id, node, "push", QUEUE, v);
      return this.send(c, [args], op, this.plain(args, op));
    }
    if (x < 0.75) {
      const op = this.history.invoke(c.id, node, "pop", QUEUE);
      return this.send(c, [["LPOP", QUEUE]], op, ([v]) => this.exclusive("LPOP", op, v, (v) => op.ok(v)));
    }
    if (x < 0.8) return this.transfer(c, node);
    if (x < 0.83) {
      const op = this.history.invoke(c.id, node, "read", undefined);
      return this.send(
        c,
        [["MULTI"], ["MGET", ...ACCOUNTS], ["EXEC"]],
        op,
        (r) =>
          this.exclusive("bank read", op, r[2], (v) => {
            const vals = (v as Value[])[0] as (string | null)[];
            op.ok(Object.fromEntries(ACCOUNTS.map((a, i) => [a, Number(vals[i] ?? 0)])));
          }),
      );
    }
    if (x < 0.93) return this.appendTxn(c, node);
    const round = `el${Math.floor(this.world.now / 3000)}`;
    const cand = `c${c.id}-${++this.#seq}`;
    this.elections.add(round);
    const op = this.history.invoke(c.id, node, "elect", round, cand);
    this.send(
      c,
      [["SET", round, cand, "NX"]],
      op,
      ([v]) => this.exclusive("SET NX", op, v, (v) => op.ok(v === "OK")),
    );
  }

  readonly elections = new Set<string>();
  /** The stream's consumer group exists (created once by whichever client gets there first). */
  #groupReady = false;

  /** One operation of the mixed-type workloads (see MIXED and BQUEUE). */
  mixedStep(c: SimClient, node: string): void {
    const y = this.prng.float();
    if (y < 0.12) {
      const v = `b${++this.#seq}`;
      const args = ["RPUSH", BQUEUE, v];
      const op = this.history.invoke(c.id, node, "push", BQUEUE, v);
      return this.send(c, [args], op, this.plain(args, op));
    }
    if (y < 0.24) {
      const op = this.history.invoke(c.id, node, "pop", BQUEUE);
      const timeout = (this.prng.range(1, 8) / 10).toFixed(1);
      return this.send(
        c,
        [["BLPOP", BQUEUE, timeout]],
        op,
        ([v]) => this.exclusive("BLPOP", op, v, (v) => op.ok(v === null ? null : (v as Value[])[1])),
      );
    }
    if (y < 0.34) {
      const v = `x${++this.#seq}`;
      const op = this.history.invoke(c.id, node, "push", STREAM, v);
      return this.send(
        c,
        [["XADD", STREAM, "*", "v", v]],
        op,
        ([r]) => this.exclusive("XADD", op, r, () => op.ok(v)),
      );
    }
    if (y < 0.48) {
      if (!this.#groupReady) {
        return this.send(c, [["XGROUP", "CREATE", STREAM, GROUP, "0", "MKSTREAM"]], null, ([r]) => {
          if (r === "OK" || (isErr(r) && r.err.startsWith("BUSYGROUP"))) this.#groupReady = true;
          else if (isErr(r) && !definitelyNot(r.err) && !r.err.startsWith("TRYAGAIN")) {
            this.fail(`XGROUP CREATE failed: ${r.err}`);
          }
        });
      }
      const op = this.history.invoke(c.id, node, "pop", STREAM);
      const block = this.prng.chance(0.5) ? ["BLOCK", String(this.prng.range(50, 500))] : [];
      const args = ["XREADGROUP", "GROUP", GROUP, `c${c.id}`, "COUNT", "1", ...block, "STREAMS", STREAM, ">"];
      return this.send(c, [args], op, ([r]) => {
        // The group's creation may not have reached this node yet (or a wipe lost it here).
        if (isErr(r) && r.err.startsWith("NOGROUP")) return op.fail(r.err);
        this.exclusive("XREADGROUP", op, r, (r) => {
          if (r === null) return op.ok(null);
          // [[stream, [[id, [field, value]]]]]
          const entry = ((r as Value[])[0] as Value[])[1] as Value[];
          const [id, fields] = entry[0] as [string, string[]];
          op.ok(fields[1]);
          if (c.conn !== null) this.send(c, [["XACK", STREAM, GROUP, id]], null, () => {});
        });
      });
    }
    const args = MIXED[this.prng.int(MIXED.length)](this.prng);
    this.send(c, [args], null, ([v]) => {
      if (!isErr(v)) return;
      const e = v.err;
      if (/^(ERR (internal|unknown|syntax)|ERR command .* not supported)/.test(e)) {
        this.fail(`${args.join(" ")} failed: ${e}`);
      }
    });
  }

  /** A bank transfer: WATCH and read both balances, then MULTI/EXEC moves what the source has. */
  transfer(c: SimClient, node: string): void {
    const from = ACCOUNTS[this.prng.int(ACCOUNTS.length)];
    let to = ACCOUNTS[this.prng.int(ACCOUNTS.length)];
    if (to === from) to = ACCOUNTS[(ACCOUNTS.indexOf(from) + 1) % ACCOUNTS.length];
    const amount = this.prng.range(1, 10);
    const op = this.history.invoke(c.id, node, "transfer", undefined, { from, to, amount });
    this.send(c, [["WATCH", from, to], ["MGET", from, to]], null, ([w, v]) => {
      if (isErr(w) || isErr(v)) return this.exclusive("WATCH", op, isErr(w) ? w : v, () => {});
      const have = Number((v as (string | null)[])[0] ?? 0);
      if (have < amount || c.conn === null) {
        op.fail("insufficient balance");
        if (c.conn !== null) this.send(c, [["UNWATCH"]], null, () => {});
        return;
      }
      this.send(
        c,
        [["MULTI"], ["DECRBY", from, String(amount)], ["INCRBY", to, String(amount)], ["EXEC"]],
        op,
        (r) =>
          this.exclusive("transfer EXEC", op, r[3], (v) => {
            if (v === null) op.fail("a watched key changed");
            else op.ok(v);
          }),
      );
    });
  }

  /** A list-append transaction: 1 to 3 appends and reads of a few lists, in one MULTI/EXEC. */
  appendTxn(c: SimClient, node: string): void {
    const micro: [string, string, unknown][] = [];
    const cmds: string[][] = [["MULTI"]];
    for (let i = this.prng.range(1, 3); i > 0; i--) {
      const k = APPEND_KEYS[this.prng.int(APPEND_KEYS.length)];
      if (this.prng.chance(0.5)) {
        const v = `${++this.#seq}`;
        micro.push(["append", k, v]);
        cmds.push(["RPUSH", k, v]);
      } else {
        micro.push(["r", k, null]);
        cmds.push(["LRANGE", k, "0", "-1"]);
      }
    }
    cmds.push(["EXEC"]);
    const op = this.history.invoke(c.id, node, "txn", undefined, micro);
    this.send(c, cmds, op, (r) =>
      this.exclusive("txn EXEC", op, r[r.length - 1], (v) => {
        const items = v as Value[];
        op.ok(micro.map(([f, k, x], i) => f === "r" ? [f, k, items[i]] : [f, k, x]));
      }));
  }

  /**
   * The hardest moment for a commit (some of the time): one participant misses a vote (a
   * one-way cut for a moment), so it does not accept; the originator and the other participant
   * accept, commit is chosen and reported, and both crash at once. Only what they synced
   * survives: the commit must still be the outcome.
   */
  commitTrap(origin: number): ((committed: boolean) => void) | null {
    if (!this.#workload || !this.prng.chance(0.01) || this.alive().length < this.n || this.cuts.size > 0) {
      return null;
    }
    const p = (origin + 1 + this.prng.int(this.n - 1)) % this.n;
    const r = [...Array(this.n).keys()].find((x) => x !== origin && x !== p)!;
    const cut = `${p}>${r}`;
    this.cuts.add(cut);
    this.log(`trap: cut n${p}>n${r} during a commit from n${origin}`);
    this.world.schedule(this.prng.range(50, 300), () => {
      this.cuts.delete(cut);
      this.breakLossy();
    });
    return (committed) => {
      if (!committed || !this.#workload || this.alive().length < this.n) return;
      this.stats.commitTraps++;
      // At once, but after the engine's current step (it is still running when the reply leaves).
      this.world.schedule(0, () => {
        for (const v of [origin, p]) {
          if (this.slots[v].proc === null || this.slots[v].proc!.replicator.reemitPending() > 0) continue;
          this.log(`trap: crash n${v} as the commit is reported`);
          this.crash(v);
          this.world.schedule(this.prng.range(300, 3000), () => {
            if (this.slots[v].proc === null) this.boot(v, true);
          });
        }
      });
    };
  }

  /**
   * Crashes in the middle of a commit (some of the time): the originator, a participant, or both
   * at once (then what they had not synced is gone from two of three acceptors).
   */
  crashMidCommit(origin: number): void {
    if (!this.#workload || !this.prng.chance(0.02) || this.alive().length < this.n) return;
    const other = (origin + 1 + this.prng.int(this.n - 1)) % this.n;
    const x = this.prng.int(3);
    const victims = x === 0 ? [origin] : x === 1 ? [other] : [origin, other];
    const after = this.prng.range(0, 4 * this.latency[1]);
    this.world.schedule(after, () => {
      if (!this.#workload || this.alive().length < this.n) return;
      for (const v of victims) {
        if ((this.slots[v].proc?.replicator.reemitPending() ?? 0) > 0) continue;
        this.log(`crash n${v} in the middle of a commit from n${origin}`);
        this.crash(v);
        this.world.schedule(this.prng.range(300, 5000), () => {
          if (this.slots[v].proc === null) this.boot(v, true);
        });
      }
    });
  }

  // ---------------------------------------------------------------- invariants

  /** No node treats an effect as stable that a live member lacks. */
  checkStability(): void {
    const live = new Map<string, Engine>();
    for (const s of this.slots) if (s.proc !== null) live.set(s.proc.engine.writer.node, s.proc.engine);
    // Per key, any two nodes can merge: one's base is within what the other holds (else
    // anti-entropy could never reconcile them: the conflict a premature fold creates).
    const procs = this.slots.filter((s) => s.proc !== null);
    const all = ALL_BUCKETS;
    const full = new Map<string, Map<string, Map<string, number>>>();
    for (const s of procs) {
      const m = new Map<string, Map<string, number>>();
      for (const [, key, flat] of s.proc!.engine.versionsIn(all, 1)) m.set(key, vvOf(flat));
      full.set(s.name, m);
    }
    for (const key of [...COUNTERS, ...SETS, ...REGISTERS, ...LISTS]) {
      for (const a of procs) {
        for (const b of procs) {
          if (a.index >= b.index) continue;
          const baseA = vvOf(a.proc!.engine.baseVersion(0, key)),
            baseB = vvOf(b.proc!.engine.baseVersion(0, key));
          const fullA = full.get(a.name)!.get(key) ?? new Map(),
            fullB = full.get(b.name)!.get(key) ?? new Map();
          if (!within(baseA, fullB) && !within(baseB, fullA)) {
            this.fail(
              `${key}: ${a.name} and ${b.name} cannot merge: base ${[...baseA]} vs full ${[...fullB]}; ` +
                `base ${[...baseB]} vs full ${[...fullA]}`,
            );
          }
        }
      }
    }
    for (const s of this.slots) {
      const p = s.proc;
      if (p === null) continue;
      const members = p.replicator.members().map((m) => m.node);
      for (const [w, seq] of p.engine.stableFrontier()) {
        for (const m of members) {
          const e = live.get(m);
          if (e === undefined) continue;
          const had = e.have().get(w) ?? 0;
          if (had < seq) {
            this.fail(`${s.name} considers ${w.key} stable up to ${seq}, but member ${m} has only ${had}`);
          }
        }
      }
    }
  }

  // ---------------------------------------------------------------- the run

  nemesis(): void {
    const alive = this.alive();
    const x = this.prng.float();
    if (x < 0.3) {
      // A partition, healed after a while (shorter than the member timeout; longOutage cuts a
      // node off for longer).
      if (this.cuts.size > 0 || this.outage !== null) return;
      const healAt = this.prng.range(300, 5000);
      this.world.schedule(healAt, () => this.heal());
      const kind = this.prng.int(3);
      const i = this.prng.int(this.n);
      if (kind === 0) {
        const cuts: [number, number][] = [];
        for (let j = 0; j < this.n; j++) if (j !== i) cuts.push([i, j], [j, i]);
        this.partition(cuts, `isolate n${i}`);
      } else if (kind === 1) {
        const side = new Set<number>();
        for (let j = 0; j < this.n; j++) if (this.prng.chance(0.5)) side.add(j);
        const cuts: [number, number][] = [];
        for (const a of side) for (let b = 0; b < this.n; b++) if (!side.has(b)) cuts.push([a, b], [b, a]);
        if (cuts.length > 0) this.partition(cuts, `split ${[...side]}`);
      } else {
        const j = (i + 1 + this.prng.int(this.n - 1)) % this.n;
        this.partition([[i, j]], `one-way n${i}>n${j}`);
      }
    } else if (x < 0.55) {
      // A crash, and a restart after a while (shorter than the member timeout, so the majority
      // keeps its members; a wipe below is what the removal of a dead member is for).
      if (alive.length === this.n) {
        const i = alive[this.prng.int(alive.length)];
        // A node that started over keeps its old identity's writes in memory until it writes
        // them again: a crash then loses them (docs/protocol.md); not what this checks.
        if (this.slots[i].proc!.replicator.reemitPending() > 0) return;
        this.crash(i);
        this.world.schedule(this.prng.range(300, 5000), () => {
          if (this.slots[i].proc === null) this.boot(i, true);
        });
      }
    } else if (x < 0.6) {
      // A wipe: the machine returns empty under a new node id; the old id is removed by the
      // majority after the member timeout. One at a time, once the last one is settled, and
      // only of a node whose writes reached its peers (a disk lost with writes nobody else has
      // loses them: no system can do better; that is not what this checks).
      const now = this.world.now;
      const settled = alive.length === this.n && alive.every((i) => this.members(i) === this.n) &&
        this.cuts.size === 0 && now - this.lastCutMs > 5000 &&
        alive.every((i) => now - (this.bootedAt.get(this.slots[i].name) ?? 0) > 5000);
      if (settled && this.draining === null) {
        // Its clients stop first, then it goes once its peers acknowledged all it sent.
        const i = alive[this.prng.int(alive.length)];
        this.draining = i;
        this.world.schedule(1500, () => {
          this.draining = null;
          const p = this.slots[i].proc;
          // The liveness phase may have begun meanwhile: then nothing is wiped any more.
          if (!this.#workload || p === null || this.cuts.size > 0 || p.replicator.info().pending_acks !== 0) {
            return;
          }
          this.wipe(i);
          this.world.schedule(this.prng.range(300, 3000), () => {
            if (this.slots[i].proc === null) this.boot(i, true);
          });
        });
      }
    } else if (x < 0.75) {
      const s = this.slots[this.prng.int(this.n)];
      const jump = this.prng.chance(0.8) ? this.prng.range(-300, 300) : this.prng.range(-3000, 800);
      s.skewMs += jump;
      if (s.proc !== null) s.proc.env.skewMs = s.skewMs;
      this.stats.clockJumps++;
      this.log(`clock ${s.name} jumps ${jump} to skew ${s.skewMs}`);
    } else if (x < 0.85) {
      const cs = [...this.conns.values()];
      if (cs.length > 0) {
        const c = cs[this.prng.int(cs.length)];
        this.log(`break connection n${c.from}-n${c.to}`);
        this.breakConn(c);
      }
    } else if (x < 0.9) {
      // A checkpoint on a live node (compacts its log; recovery then starts from it).
      if (alive.length > 0) this.slots[alive[this.prng.int(alive.length)]].proc!.engine.checkpoint(() => {});
    }
  }

  /** Set while a node is down for longer than the member timeout. */
  outage: number | null = null;

  /**
   * A member dies for good while commits are in flight: the others answer exclusive commands
   * with -PARTITIONED (or decide what was pending by recovery), remove it after the member
   * timeout, and commit again as two. It comes back later, wiped (a new node id) or with its
   * disk (it learns it was removed and rejoins under a new incarnation). Its clients stop and its
   * peers acknowledge all it sent first, so nothing only it had is lost with it.
   */
  longOutage(alive: number[]): void {
    if (
      this.outage !== null || this.draining !== null || alive.length < this.n || this.cuts.size > 0 ||
      !alive.every((i) => this.members(i) === this.n)
    ) return;
    const i = alive[this.prng.int(alive.length)];
    if (this.prng.chance(0.5)) {
      // Alive but cut off past the member timeout: it keeps taking coordination-free writes,
      // is removed by the other two, and when the cut heals it starts over as a new node and
      // writes again what they lack.
      this.outage = i;
      this.stats.outages++;
      const cuts: [number, number][] = [];
      for (let j = 0; j < this.n; j++) if (j !== i) cuts.push([i, j], [j, i]);
      this.partition(cuts, `long isolation of n${i}`);
      this.world.schedule(MEMBER_TIMEOUT_MS + this.prng.range(2000, 5000), () => {
        this.heal();
        this.outage = null;
      });
      return;
    }
    this.draining = i;
    let waited = 0;
    const attempt = () => {
      const p = this.slots[i].proc;
      if (!this.#workload || p === null || this.outage !== null) {
        this.draining = null;
        return;
      }
      if (p.replicator.info().pending_acks !== 0 && waited < 5000) {
        waited += 100;
        this.world.schedule(100, attempt);
        return;
      }
      this.draining = null;
      if (p.replicator.info().pending_acks !== 0) return;
      this.outage = i;
      this.stats.outages++;
      this.log(`long outage of n${i}: down past the member timeout`);
      this.crash(i);
      const wipe = this.prng.chance(0.5);
      this.world.schedule(MEMBER_TIMEOUT_MS + this.prng.range(1000, 4000), () => {
        if (this.slots[i].proc === null) {
          if (wipe) this.wipe(i);
          this.boot(i, true);
        }
        this.outage = null;
      });
    };
    this.world.schedule(1500, attempt);
  }

  /** Runs until `cond` holds or `limitMs` passes; false on timeout. */
  until(cond: () => boolean, limitMs: number, stepMs = 50): boolean {
    const end = this.world.now + limitMs;
    while (!cond()) {
      if (this.world.now >= end) return false;
      this.world.advance(stepMs);
    }
    return true;
  }

  members(i: number): number {
    return this.slots[i].proc?.replicator.members().length ?? 0;
  }

  run(seconds: number): void {
    this.boot(0, false);
    for (let i = 1; i < this.n; i++) this.boot(i, true);
    const dialer = () => {
      this.dialAll();
      this.world.schedule(100, dialer);
    };
    dialer();
    if (!this.until(() => this.slots.every((s) => this.members(s.index) === this.n), 20_000)) {
      this.fail(
        `bootstrap: members ${this.slots.map((s) => this.members(s.index))} after 20 s: ` +
          this.slots.map((s) => JSON.stringify(s.proc?.replicator.info())).join(" "),
      );
    }
    this.log("bootstrap done");
    // The bank's accounts start with equal shares of the total on every node.
    const share = String(BANK_TOTAL / ACCOUNTS.length);
    this.query(this.slots[0].proc!, [["MSET", ...ACCOUNTS.flatMap((a) => [a, share])]]);
    if (
      !this.until(
        () =>
          this.slots.every((s) =>
            this.query(s.proc!, [["GET", ACCOUNTS[ACCOUNTS.length - 1]]])[0] === `$"${share}"`
          ),
        10_000,
      )
    ) this.fail("bank accounts did not replicate");
    for (let i = 0; i < this.n * 2; i++) {
      const c: SimClient = {
        id: i + 1,
        slot: i % this.n,
        gen: 0,
        conn: null,
        reader: new ReplyReader(),
        pending: null,
      };
      this.clients.push(c);
      this.connectClient(c);
    }
    const tickClients = () => {
      for (const c of this.clients) {
        if (c.conn === null && this.slots[c.slot].proc !== null) this.connectClient(c);
        if (this.prng.chance(0.5)) this.step(c);
      }
      this.world.schedule(this.prng.range(50, 150), tickClients);
    };
    tickClients();
    let nemesisOn = true;
    const nemesis = () => {
      if (!nemesisOn) return;
      this.nemesis();
      this.world.schedule(this.prng.range(300, 2500), nemesis);
    };
    this.world.schedule(500, nemesis);
    // Half the seeds lose a member for good for a while (tried until the cluster is whole).
    if (this.prng.chance(0.5)) {
      let tries = 0;
      const outage = () => {
        if (this.outage === null && this.stats.outages === 0 && tries++ < 30) {
          this.longOutage(this.alive());
          this.world.schedule(500, outage);
        }
      };
      this.world.schedule(this.prng.range(2000, 6000), outage);
    }
    const oracle = () => {
      this.checkStability();
      this.world.schedule(1000, oracle);
    };
    oracle();
    this.world.advance(seconds * 1000);

    // Liveness: heal everything, bring every machine back, fix the clocks, stop the workload.
    nemesisOn = false;
    this.#workload = false;
    this.heal();
    for (const s of this.slots) {
      s.skewMs = Math.max(-200, Math.min(200, s.skewMs));
      if (s.proc !== null) s.proc.env.skewMs = s.skewMs;
      if (s.proc === null) this.boot(s.index, true);
    }
    this.log("liveness phase");
    const hashes = () => {
      const now = Math.max(...this.slots.map((s) => s.proc!.engine.hlc.nowMs()));
      return this.slots.map((s) => s.proc!.engine.stateHash(now));
    };
    const settled = () =>
      this.clients.every((c) => c.pending === null) &&
      this.slots.every((s) =>
        this.heldNotLost(s.proc!.engine) === 0 && s.proc!.replicator.envelopes.undecided() === 0 &&
        s.proc!.replicator.reemitPending() === 0
      ) &&
      new Set(hashes()).size === 1;
    if (!this.until(settled, 60_000, 100)) {
      const detail = this.slots.map((s) => {
        const p = s.proc!;
        const all = new Set(Array.from({ length: 1024 }, (_, i) => i));
        const versions = p.engine.versionsIn(all, 1024).map(([db, k, v]) => `${db}/${k}=${v.join(":")}`).join(
          " ",
        );
        const st = p.engine.stats;
        return `${s.name} ${p.engine.writer.key} undecided: ${
          p.replicator.envelopes.undecidedSummary().join("; ")
        } held: ${
          p.engine.heldSummary().join("; ")
        }\n    versions: ${versions}\n    dumps installed=${st.dumpsInstalled} skipped=${st.dumpsSkipped} refused=${st.clockRefused}\n    members=${p.replicator.members().length} held=${p.engine.heldCount()} hash=${
          p.engine.stateHash(hlcMs(p.engine.hlc.peek()))
        } ${JSON.stringify(p.replicator.info())}`;
      }).join("\n    ");
      const keys = [...COUNTERS, ...REGISTERS, ...LISTS];
      const reads = this.slots.map((s) =>
        `${s.name}: ` +
        this.query(
          s.proc!,
          keys.flatMap((k) => [["TYPE", k], ["PTTL", k], ["GET", k], ["LRANGE", k, "0", "-1"]]),
        ).join(" ")
      ).join("\n    ");
      this.fail(
        `no convergence 60 s after healing:\n    ${detail}\n    differing keys: ${this.differingKeys()}\n    ${reads}`,
      );
    }
    // Let every deadline pass on every clock: nodes judge expiry by their own clocks, so a key
    // in its last moments reads as present on one node and gone on another.
    this.world.advance(4000);
    this.stats.simulatedMs = this.world.now;
    this.log(`converged hash=${hashes()[0]}`);
    this.finalChecks();
  }

  /**
   * Held effects except orphans: an effect whose missing dep was lost for good (its writer's
   * incarnation is over and no node holds it: a crash took it under everysec before it reached a
   * peer that kept it) can never apply, on any node, and is the loss --appendfsync everysec allows.
   */
  heldNotLost(engine: Engine): number {
    let n = engine.heldCount();
    for (const h of engine.heldWaits()) {
      const owner = this.slots.find((s) => s.nodeId === h.w.node);
      const over = owner === undefined || owner.proc === null ||
        owner.proc.engine.writer.inc !== h.w.inc % ENVELOPE_INC;
      const somewhere = this.slots.some((s) => s.proc !== null && s.proc.engine.hasSeq(h.w, h.seq));
      if (over && !somewhere && this.appendfsync !== "always") n -= h.effects;
    }
    return n;
  }

  /** Keys whose value differs between nodes (diagnostics of a convergence failure). */
  differingKeys(): string {
    const out: string[] = [];
    const now = Math.max(...this.slots.map((s) => s.proc!.engine.hlc.nowMs()));
    const dump = this.slots.map((s) => {
      const m = new Map<string, string>();
      s.proc!.engine.dbs.forEach((d, db) => {
        for (const [key, ks] of d.map) {
          if (ks.type === null || (ks.deadline !== 0 && ks.deadline <= now)) continue;
          m.set(`${db}/${key}`, `${ks.type.type}:${ks.deadline}:${ks.type.canonical(ks.value)}`);
        }
      });
      return m;
    });
    const keys = new Set(dump.flatMap((m) => [...m.keys()]));
    for (const k of keys) {
      const vs = dump.map((m) => m.get(k) ?? "(absent)");
      if (new Set(vs).size > 1) out.push(`${k}: ${vs.map((v) => v.slice(0, 4000)).join(" | ")}`);
    }
    return out.slice(0, 5).join("\n      ");
  }

  /** Final reads through RESP on every node, then the checkers. */
  finalChecks(): void {
    const reads: NodeReads = new Map();
    // A write acknowledged shortly before its node lost its page cache (everysec, as in Redis) or
    // its disk (a wipe) and not yet on a peer may be gone: such acknowledgements count as unknown.
    const events: Event[] = this.history.events().map((e) => {
      if (e.type !== "ok" || ENVELOPE_FS.has(e.f)) return e;
      const lost = this.losses.get(e.node)?.some(([from, to]) => e.time >= from && e.time <= to);
      return lost
        ? { ...e, type: "info" as const, value: "acknowledged shortly before its node lost unsynced data" }
        : e;
    });
    const t = this.world.now;
    for (const s of this.slots) {
      const p = s.proc!;
      const r = new Map<string, string | null>();
      const replies = this.query(p, [
        ...COUNTERS.map((k) => ["GET", k]),
        ...SETS.map((k) => ["SMEMBERS", k]),
        ...REGISTERS.map((k) => ["GET", k]),
        ["LRANGE", LISTS[0], "0", "-1"],
      ]);
      let i = 0;
      for (const k of COUNTERS) {
        const v = replies[i++];
        r.set(k, v);
        events.push({
          type: "invoke",
          process: 1000 + s.index,
          node: s.name,
          time: t,
          f: "final-read",
          key: k,
        });
        events.push({
          type: "ok",
          process: 1000 + s.index,
          node: s.name,
          time: t,
          f: "final-read",
          key: k,
          value: v === "$nil" ? null : Number(JSON.parse(v.slice(1))),
        });
      }
      for (const k of SETS) {
        const v = replies[i++];
        r.set(k, [...v.matchAll(/\$"([^"]*)"/g)].map((m) => m[1]).sort().join(","));
        events.push({
          type: "invoke",
          process: 2000 + s.index,
          node: s.name,
          time: t,
          f: "final-read",
          key: k,
        });
        events.push({
          type: "ok",
          process: 2000 + s.index,
          node: s.name,
          time: t,
          f: "final-read",
          key: k,
          value: [...v.matchAll(/\$"([^"]*)"/g)].map((m) => m[1]),
        });
      }
      for (const k of [...REGISTERS, ...LISTS]) r.set(k, replies[i++]);
      reads.set(s.name, r);
    }
    // The exclusive workloads' final reads, one per node.
    const bankEvents = events.filter((e) => e.f === "transfer" || e.f === "read");
    const electionEvents = events.filter((e) => e.f === "elect");
    const rounds = [...this.elections].sort();
    for (const s of this.slots) {
      const replies = this.query(s.proc!, [
        ["LRANGE", QUEUE, "0", "-1"],
        ["MGET", ...ACCOUNTS],
        ...rounds.map((k) => ["GET", k]),
      ]).map(parseReply);
      const final = (process: number, f: string, key: string | undefined, value: unknown) => {
        const ev = { process, node: s.name, time: t, f };
        events.push({ ...ev, type: "invoke", ...(key === undefined ? {} : { key }) });
        events.push({ ...ev, type: "ok", ...(key === undefined ? {} : { key }), value });
        return [{ ...ev, type: "invoke" as const, ...(key === undefined ? {} : { key }) }, {
          ...ev,
          type: "ok" as const,
          ...(key === undefined ? {} : { key }),
          value,
        }];
      };
      final(3000 + s.index, "final-read", QUEUE, replies[0]);
      // The mixed workloads' queues: the blocking one, and the entries the group has not been given.
      const [bq, groups] = this.query(s.proc!, [["LRANGE", BQUEUE, "0", "-1"], ["XINFO", "GROUPS", STREAM]])
        .map(parseReply);
      final(3100 + s.index, "final-read", BQUEUE, bq);
      let last = "-";
      for (const g of isErr(groups) ? [] : groups as Value[][]) {
        const at = g.indexOf("last-delivered-id");
        if (g[1] === GROUP && at >= 0) last = `(${g[at + 1] as string}`;
      }
      const rest = parseReply(this.query(s.proc!, [["XRANGE", STREAM, last, "+"]])[0]);
      final(
        3200 + s.index,
        "final-read",
        STREAM,
        isErr(rest) ? [] : (rest as Value[][]).map((e) => (e[1] as string[])[1]),
      );
      const bal = replies[1] as (string | null)[];
      bankEvents.push(
        ...final(
          4000 + s.index,
          "final-read",
          undefined,
          Object.fromEntries(ACCOUNTS.map((a, i) => [a, Number(bal[i] ?? 0)])),
        ),
      );
      rounds.forEach((k, i) =>
        electionEvents.push(...final(5000 + s.index * 1000 + i, "final-read", k, replies[2 + i]))
      );
    }
    const results = [
      ["convergence", checkConvergence(reads)],
      ["queue", checkQueue(events, { key: QUEUE })],
      ["blocking queue", checkQueue(events, { key: BQUEUE })],
      ["consumer group", checkQueue(events, { key: STREAM })],
      ["bank", checkBank(bankEvents, { total: BANK_TOTAL, accounts: ACCOUNTS })],
      ["list-append", checkListAppend(events)],
      ["election", checkElection(electionEvents)],
      ...COUNTERS.map((k) => [`counter ${k}`, checkCounter(events, { key: k })] as const),
      ...SETS.map((k) => [`set ${k}`, checkSet(events, { key: k })] as const),
    ] as const;
    for (const [name, res] of results) {
      if (!res.valid) this.fail(`${name} checker: ${res.errors.join("; ")}`);
    }
  }

  query(p: Proc, cmds: string[][]): string[] {
    const reader = new ReplyReader();
    const out: string[] = [];
    const conn = p.face.connect({
      write: (b) => {
        reader.feed(b);
        for (let r = reader.next(); r !== undefined; r = reader.next()) out.push(r);
      },
      close: () => {},
      backlog: () => 0,
    }, { addr: "10.0.0.99:1", laddr: "10.0.0.100:6379", kind: "tcp" });
    if (conn === null) this.fail("read connection refused");
    for (const c of cmds) conn.feed(encodeCommand(c));
    if (!this.until(() => out.length >= cmds.length, 2000, 1)) this.fail("final reads did not answer");
    conn.kill();
    return out;
  }
}

const ALL_BUCKETS = new Set([0]);

function vvOf(flat: (string | number)[]): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < flat.length; i += 3) m.set(`${flat[i]}/${flat[i + 1]}`, flat[i + 2] as number);
  return m;
}

function within(a: Map<string, number>, b: Map<string, number>): boolean {
  for (const [w, s] of a) if ((b.get(w) ?? 0) < s) return false;
  return true;
}

const PLANTED_ACK = { on: false };
const PLANTED_STABILITY = { on: false };
const PLANTED_ENVELOPE = { accept: false, chosen: false };

/** Runs one seed; never throws. */
export function runClusterSeed(seed: number, opts: ClusterRunOptions = {}): ClusterRunResult {
  PLANTED.arrivalOrderTieBreak = opts.planted === "tie-break";
  PLANTED_ACK.on = opts.planted === "ack";
  PLANTED_STABILITY.on = opts.planted === "stability";
  PLANTED_ENVELOPE.accept = opts.planted === "accept";
  PLANTED_ENVELOPE.chosen = opts.planted === "chosen";
  let sim: ClusterSim | null = null;
  try {
    sim = new ClusterSim(seed, opts.nodes ?? 3, opts);
    sim.run(opts.seconds ?? 30);
    return {
      ok: true,
      detail:
        `${sim.stats.ops} ops (${sim.stats.acknowledged} acknowledged, ${sim.stats.exclusiveAcknowledged} exclusive), ${sim.stats.commitTraps} commit traps, ${sim.stats.outages} long outages, ${sim.stats.crashes} crashes, ${sim.stats.wipes} wipes, ${sim.stats.partitions} partitions, ${sim.stats.clockJumps} clock jumps, ${sim.stats.simulatedMs} simulated ms`,
      traceHash: sim.world.traceHash.toString(16),
      stats: sim.stats,
      trace: sim.trace ?? [],
    };
  } catch (e) {
    const where = sim === null ? "" : ` at ${sim.world.now} simulated ms`;
    const msg = e instanceof SimFailure ? e.message : `exception: ${(e as Error)?.stack ?? String(e)}`;
    const tail = sim?.world.logLines.slice(-Number(process.env.SIM_TAIL ?? 40)) ?? [];
    return {
      ok: false,
      detail: `seed ${seed}${
        opts.planted ? ` (planted ${opts.planted})` : ""
      }${where}: ${msg}\n  replay: bun run sim --seed ${seed}${
        opts.planted ? ` --planted ${opts.planted}` : ""
      } --trace\n  trace tail:\n    ${tail.join("\n    ")}`,
      traceHash: sim?.world.traceHash.toString(16) ?? "",
      stats: sim?.stats ?? emptyStats(),
      trace: sim?.trace ?? [],
    };
  } finally {
    PLANTED.arrivalOrderTieBreak = false;
    PLANTED_ACK.on = false;
    PLANTED_STABILITY.on = false;
    PLANTED_ENVELOPE.accept = false;
    PLANTED_ENVELOPE.chosen = false;
  }
}
