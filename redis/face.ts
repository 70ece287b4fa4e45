/**
 * The Redis face of a node: command dispatch, transactions, clients, config, stats.
 *
 * Every command runs as a plan on the local path (a Batch of the engine). MULTI/EXEC is one plan:
 * its commands share one batch, so each key written gets one effect and the whole transaction one
 * group and one log record. The envelope and parked paths of later issues slot in at `#run`.
 */
import { type Engine, overUnstableLimit } from "../core/engine.ts";
import type { EffectId, Writer } from "../core/effect.ts";
import type { EnvelopePlan, Outcome } from "../core/envelope.ts";
import type { Env } from "../core/env.ts";
import { Block, CommandError, type Ctx, Deferred, type Handler, Running } from "./command.ts";
import { arityError, arityOk, commandKeys, type CommandSpec, lookupCommand } from "./command_table.ts";
import { Client, LIMITS, type Transport } from "./client.ts";
import type { EncodingLimits } from "./encodings.ts";
import { exclusiveReason } from "./exclusive.ts";
import { CountedError, E, err, ErrorReply, NULL_ARRAY, OK, QUEUED, type Reply } from "./reply.ts";
import { Scripting } from "./scripting.ts";

/** Facts about the hosting process, supplied by the shell. */
export interface HostInfo {
  pid: number;
  os: string;
  arch: string;
  executable: string;
  runId: string;
  tcpPort: number;
  processStats(): { rssBytes: number; heapBytes: number; userCpuSec: number; sysCpuSec: number };
  /** Returns free memory to the OS where the runtime can (MEMORY PURGE): a full GC. */
  purge(): void;
}

/** The parameters the node honours (CONFIG GET/SET). */
export interface FaceConfig {
  requirepass: string;
  maxclients: number;
  /** Idle seconds before a client is closed; 0 = never. */
  timeout: number;
  databases: number;
  protoMaxBulkLen: number;
  clientQueryBufferLimit: number;
  clientOutputBufferLimit: number;
  port: number;
  bind: string;
  unixsocket: string;
  unixsocketperm: number;
  dir: string;
  appendfsync: string;
  appendonly: boolean;
  hz: number;
  /** Bytes of used memory past which commands flagged denyoom are refused (0 = no limit). */
  maxmemory: number;
  /** CONFIG save: recorded only (the effect log is written continuously; there are no snapshots to schedule). */
  save: string;
  /** CONFIG maxmemory-policy: recorded (Swytch evicts nothing); an LFU policy makes OBJECT IDLETIME refuse. */
  maxmemoryPolicy: string;
  /** The thresholds OBJECT ENCODING reports by (CONFIG SET hash-max-listpack-entries ...). */
  encodings: EncodingLimits;
  /** busy-reply-threshold (alias lua-time-limit): ms a script runs before others are answered -BUSY. */
  busyReplyThresholdMs: number;
}

export interface FaceOptions {
  config: FaceConfig;
  host: HostInfo;
  version: string;
  /** XXH3-64 of a value as 16 lowercase hex chars (DIGEST, IFDEQ); the shell supplies it. */
  digest: (value: string) => string;
  /** SHUTDOWN: the shell stops the node; `save` null = default. Errors come back as a string. */
  shutdown: (save: boolean | null, done: (error?: string) => void) => void;
  handlers: Record<string, Handler>;
}

const E_OOM = err("OOM command not allowed when used memory > 'maxmemory'.");
const E_BUSY = err("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");

/** Commands allowed before AUTH. */
const NOAUTH_ALLOWED = new Set(["auth", "hello", "quit", "reset"]);
/** Commands that run at once inside MULTI instead of being queued. */
const MULTI_IMMEDIATE = new Set(["exec", "discard", "multi", "watch", "quit", "reset"]);

/** What the face needs to know of the cluster (set by the shell once replication runs). */
export interface ClusterHooks {
  /** True when other members exist: exclusive commands need envelope-commit. */
  multiNode(): boolean;
  /** Fields of INFO's cluster section. */
  info(): Record<string, string | number>;
  /** Why client writes must wait right now (joining), or null. */
  writeBlocked(): string | null;
  /** Commits an envelope across the members (core/envelope.ts). */
  commit(plan: EnvelopePlan, done: (o: Outcome) => void): void;
  /** How many other members have durably logged effect (w, seq) (WAIT, WAITAOF). */
  acknowledgedBy(w: Writer, seq: number): number;
}

/** Exclusive commands that do not run as envelopes yet: they refuse in a cluster of several nodes. */
const NOT_ENVELOPED = new Set(["fcall"]);

/** A client parked by a blocking command (BLPOP, XREAD BLOCK...) until a key it waits on is written. */
interface Parked {
  readonly client: Client;
  readonly spec: CommandSpec;
  /** The command run again on every wake-up. */
  readonly args: string[];
  /** `${db}\0${key}` of each key waited on. */
  readonly ids: readonly string[];
  readonly onTimeout: Reply;
  readonly release: (r: Reply) => void;
  timer: unknown;
  /** A re-run is in flight (an envelope deciding): its outcome, not the timeout, answers. */
  running: boolean;
  /** The timeout passed while a re-run was in flight. */
  timedOut: boolean;
  /** Answered (or the client left): ignore late wake-ups. */
  done: boolean;
}

/** The type a blocking command waits for: a write that leaves another type there does not wake it. */
const WAKE_TYPE: Record<string, string> = {
  blpop: "list",
  brpop: "list",
  blmove: "list",
  brpoplpush: "list",
  blmpop: "list",
  bzpopmin: "zset",
  bzpopmax: "zset",
  bzmpop: "zset",
  xread: "stream",
};

/** Attempts of an implicit transaction (and of EXEC) that lost a conflict before -TRYAGAIN. */
export const ENVELOPE_ATTEMPTS = 8;
/** How long a command may queue behind this node's own envelopes on its keys. */
const ENVELOPE_QUEUE_LIMIT_MS = 10_000;

/** Keys under this prefix belong to the cluster (membership); clients may read, not write. */
export const RESERVED_PREFIX = "__swytch:";
const E_RESERVED = err("ERR keys under '__swytch:' are reserved for the cluster");

/** One command's INFO commandstats line. */
export interface CommandStat {
  calls: number;
  usec: number;
  /** Refused before running (arity, auth, OOM...). */
  rejected: number;
  /** Ran and answered an error. */
  failed: number;
}

export interface FaceStats {
  totalCommands: number;
  totalConnections: number;
  rejectedConnections: number;
  protocolErrors: number;
  errorReplies: number;
  netInputBytes: number;
  netOutputBytes: number;
  startMonotonicMs: number;
  startWallMs: number;
}

export class Face {
  readonly engine: Engine;
  readonly env: Env;
  readonly config: FaceConfig;
  readonly host: HostInfo;
  readonly version: string;
  readonly digest: (value: string) => string;
  readonly shutdown: FaceOptions["shutdown"];
  readonly clients = new Map<number, Client>();
  readonly stats: FaceStats;
  /** Per command, by Redis's name ("config|get"): INFO commandstats. */
  readonly commandStats = new Map<string, CommandStat>();
  /** Per error code (the error's first word), the error replies sent: INFO errorstats. */
  readonly errorStats = new Map<string, number>();
  /** JS heap in use when the face started (used_memory_startup). */
  readonly startupMemory: number;
  readonly #handlers: Map<string, Handler>;
  /** `${db}\0${key}` -> clients watching it. */
  readonly #watchers = new Map<string, Set<Client>>();
  /** `${db}\0${key}` -> clients blocked on it, oldest first. */
  readonly #parkedByKey = new Map<string, Parked[]>();
  readonly #parkedByClient = new Map<Client, Parked>();
  /** Keys with blocked clients written since the last wake-up pass. */
  readonly #readyKeys = new Set<string>();
  #wakeScheduled = false;
  /** A wake-up pass is running (the commands it resumes must not start another). */
  #waking = false;
  #nextClientId = 1;
  #cronTimer: unknown = null;
  /** The cluster, once the node replicates; null for a node that never joined one. */
  cluster: ClusterHooks | null = null;
  /** The Lua state, made on the first script. */
  #scripting: Scripting | null = null;
  /** A script paused past the busy threshold: it holds the node until it ends or is killed. */
  #busy: { client: Client; running: Running } | null = null;

  constructor(engine: Engine, opts: FaceOptions) {
    this.engine = engine;
    this.env = engine.env;
    this.config = opts.config;
    this.host = opts.host;
    this.version = opts.version;
    this.digest = opts.digest;
    this.shutdown = opts.shutdown;
    this.#handlers = new Map(Object.entries(opts.handlers));
    this.startupMemory = opts.host.processStats().heapBytes;
    const now = this.env.monotonicMs();
    this.stats = {
      totalCommands: 0,
      totalConnections: 0,
      rejectedConnections: 0,
      protocolErrors: 0,
      errorReplies: 0,
      netInputBytes: 0,
      netOutputBytes: 0,
      startMonotonicMs: now,
      startWallMs: this.env.wallMs(),
    };
    engine.onExpired = (db, key) => this.touched(db, key);
    // Writes replicated from other nodes wake blocked clients and fail WATCH as local ones do.
    engine.onApplied = (db, key) => this.touched(db, key);
    this.#scheduleCron();
  }

  /** A new connection; null (after writing the error) when maxclients is reached. */
  connect(transport: Transport, info: { addr: string; laddr: string; kind: "tcp" | "unix" }): Client | null {
    if (this.clients.size >= this.config.maxclients) {
      this.stats.rejectedConnections++;
      transport.write(new TextEncoder().encode("-ERR max number of clients reached\r\n"));
      transport.close(true);
      return null;
    }
    const c = new Client(this, transport, {
      ...info,
      id: this.#nextClientId++,
      nowMs: this.env.monotonicMs(),
    });
    this.clients.set(c.id, c);
    this.stats.totalConnections++;
    return c;
  }

  /** Called by a client when it is gone. */
  disconnected(c: Client): void {
    this.unwatchAll(c);
    const p = this.#parkedByClient.get(c);
    if (p !== undefined) this.#unpark(p, null);
    if (this.#busy?.client === c) {
      this.#busy.running.abandon();
      this.#busy = null;
    }
    this.clients.delete(c.id);
  }

  /** Stops timers and closes every client. */
  close(): void {
    if (this.#cronTimer !== null) this.env.clearTimer(this.#cronTimer);
    this.#cronTimer = null;
    for (const c of [...this.clients.values()]) c.kill();
  }

  // ---------------------------------------------------------------- dispatch

  /** Runs one parsed command for a client, then serves the clients blocked on the keys it wrote. */
  execute(client: Client, args: string[]): void {
    this.#execute(client, args);
    if (this.#readyKeys.size > 0) this.#wake();
  }

  #execute(client: Client, args: string[]): void {
    this.stats.totalCommands++;
    const found = lookupCommand(args);
    if ("error" in found) return this.#reject(client, found.error);
    const spec = found.spec;
    if (!arityOk(spec, args.length)) return this.#reject(client, arityError(spec), spec);
    if (!client.authenticated && !NOAUTH_ALLOWED.has(rootName(spec))) {
      return this.#reject(client, E.noAuth, spec);
    }
    if (this.#busy !== null && !spec.flags.has("allow_busy")) return this.#reject(client, E_BUSY, spec);
    if (
      this.config.maxmemory > 0 && this.#usesMemory(client, spec) && this.usedMemory() > this.config.maxmemory
    ) {
      return this.#reject(client, E_OOM, spec);
    }
    if (spec.flags.has("write") && this.#touchesReserved(spec, args)) {
      return this.#reject(client, E_RESERVED, spec);
    }
    if (this.cluster !== null && spec.flags.has("write")) {
      const why = this.cluster.writeBlocked();
      if (why !== null) return this.#reject(client, err(`TRYAGAIN ${why}`), spec);
      for (const i of commandKeys(spec, args)) {
        if (overUnstableLimit(this.engine, client.db, args[i])) {
          return this.#reject(
            client,
            err(
              `OOM command not allowed: key '${args[i]}' keeps more than --max-unstable-bytes of writes ` +
                "that not every member has yet (is a member unreachable?)",
            ),
            spec,
          );
        }
      }
    }
    if (this.cluster !== null && client.multi === null && spec.name !== "multi" && this.cluster.multiNode()) {
      const why = exclusiveReason(spec.name, args);
      if (why !== null) {
        if (NOT_ENVELOPED.has(spec.name)) {
          return this.#reject(
            client,
            err(`ERR ${spec.name.toUpperCase()} is not available in a cluster of several nodes yet`),
            spec,
          );
        }
        const blocked = this.cluster.writeBlocked();
        if (blocked !== null) return this.#reject(client, err(`TRYAGAIN ${blocked}`), spec);
        const release = client.replyLater();
        client.suspend();
        return this.#envelope(client, [args], null, (r) => {
          if (r instanceof Block) return this.#park(client, spec, args, r, release);
          release(r);
          client.resume();
        });
      }
    }
    if (client.multi !== null && !MULTI_IMMEDIATE.has(spec.name)) {
      if (spec.flags.has("no_multi")) {
        return this.#reject(client, err("ERR Command not allowed inside a transaction"));
      }
      if (client.multi.length >= LIMITS.maxQueuedCommands) {
        return this.#reject(client, err("ERR too many queued commands"));
      }
      client.multi.push(args);
      client.reply(QUEUED);
      return;
    }
    switch (spec.name) {
      case "multi":
        return this.#multi(client);
      case "exec":
        return this.#exec(client);
      case "discard":
        return this.#discard(client);
      case "watch":
        return this.#watch(client, args);
    }
    const batch = this.engine.begin();
    const reply = this.#run(client, spec, args, batch, { mayPause: true });
    if (reply instanceof Running) {
      batch.release();
      const release = client.replyLater();
      client.suspend();
      return this.#scriptSlices(client, spec, reply, null, (b, r) => {
        if (b.readOnly()) {
          b.release();
          release(r);
        } else {
          client.noteWrite(b);
          b.commit(() => release(r));
        }
        client.resume();
      });
    }
    if (reply instanceof Block) {
      batch.release();
      const release = client.replyLater();
      client.suspend();
      return this.#park(client, spec, args, reply, release);
    }
    this.#commitAndReply(client, batch, reply);
  }

  /** True when a write names a key under the reserved prefix (cheap check first: any argument). */
  #touchesReserved(spec: CommandSpec, args: string[]): boolean {
    let any = false;
    for (let i = 1; i < args.length && !any; i++) any = args[i].startsWith(RESERVED_PREFIX);
    return any && commandKeys(spec, args).some((i) => args[i].startsWith(RESERVED_PREFIX));
  }

  /** True for commands that may grow memory (an EXEC whose queue holds one counts too). */
  #usesMemory(client: Client, spec: CommandSpec): boolean {
    if (spec.flags.has("denyoom")) return true;
    if (spec.name !== "exec" || client.multi === null) return false;
    return client.multi.some((args) => {
      const found = lookupCommand(args);
      return "spec" in found && found.spec.flags.has("denyoom");
    });
  }

  /**
   * What INFO reports as used_memory and maxmemory is judged by: the per-key accounting (values
   * by their reducers' sizes plus a fixed per-key overhead) on top of the heap the node had at start.
   */
  usedMemory(): number {
    return this.startupMemory + this.engine.usedBytes();
  }

  /** True when maxmemory is set and the node uses more. */
  overMaxmemory(): boolean {
    return this.config.maxmemory > 0 && this.usedMemory() > this.config.maxmemory;
  }

  /** Refuses a command; inside MULTI that fails the transaction, and a refused EXEC ends it. */
  #reject(client: Client, e: ErrorReply, spec?: CommandSpec): void {
    if (spec !== undefined) this.#commandStat(spec.name).rejected++;
    if (spec?.name === "exec") {
      // Redis answers a refused EXEC with EXECABORT, in or out of MULTI.
      client.multi = null;
      client.multiError = false;
      this.unwatchAll(client);
      const reason = e.s.startsWith("ERR ") ? e.s.slice(4) : e.s;
      client.reply(err(`EXECABORT Transaction discarded because of: ${reason}`));
      return;
    }
    if (client.multi !== null) client.multiError = true;
    client.reply(e);
  }

  /** An error that does not fail the surrounding transaction (nested MULTI, WATCH in MULTI). */
  #refuse(client: Client, e: ErrorReply): void {
    client.reply(e);
  }

  /**
   * Runs a handler on a batch; errors become replies. `mayPause`: a script may return Running;
   * `nested`: inside EXEC or a script, where the command must answer at once.
   */
  #run(
    client: Client,
    spec: CommandSpec,
    args: string[],
    batch: ReturnType<Engine["begin"]>,
    opts: { mayPause?: boolean; nested?: boolean; fromScript?: boolean } = {},
  ): Reply | Deferred | Block | Running {
    const handler = this.#handlers.get(spec.name) ??
      (spec.container !== undefined ? this.#handlers.get(spec.container.name) : undefined);
    client.lastCommand = spec.name;
    if (handler === undefined) {
      return err(`ERR command '${spec.name}' is not supported by this node yet`);
    }
    return this.#guarded(spec, handler, args, {
      face: this,
      engine: this.engine,
      client,
      batch,
      db: client.db,
      mayPause: opts.mayPause,
      nested: opts.nested,
      fromScript: opts.fromScript,
    });
  }

  /** Calls a handler (or a paused script's next slice), counting it; errors become replies. */
  #guarded(
    spec: CommandSpec,
    call: (ctx: Ctx, args: string[]) => Reply | Deferred | Block | Running,
    args: string[],
    ctx: Ctx,
  ): Reply | Deferred | Block | Running {
    const stat = this.#commandStat(spec.name);
    const t0 = this.env.monotonicMs();
    try {
      const r = call(ctx, args);
      // A command that blocks (or pauses) counts once, when it is answered.
      if (!(r instanceof Block) && !(r instanceof Running)) {
        stat.calls++;
        stat.usec += (this.env.monotonicMs() - t0) * 1000;
        if (r instanceof ErrorReply) stat.failed++;
      }
      return r;
    } catch (e) {
      stat.calls++;
      stat.failed++;
      if (e instanceof CommandError) return e.reply;
      this.env.log("error", "command failed", {
        command: spec.name,
        error: String((e as Error)?.stack ?? e),
      });
      return err(`ERR internal error: ${(e as Error)?.message ?? String(e)}`);
    }
  }

  // ---------------------------------------------------------------- scripts

  /** The node's Lua state (made on first use). */
  scripting(): Scripting {
    return this.#scripting ??= new Scripting(this);
  }

  /** SCRIPT FLUSH: drops the Lua state with every cached script; the next script makes a new one. */
  flushScripts(): void {
    this.#scripting?.close();
    this.#scripting = null;
  }

  /** Cached scripts and Lua memory, for INFO (no Lua state is made to answer). */
  scriptStats(): { scripts: number; memoryBytes: number } {
    const s = this.#scripting;
    return s === null ? { scripts: 0, memoryBytes: 0 } : { scripts: s.cached, memoryBytes: s.memoryBytes() };
  }

  /** SCRIPT KILL: stops the paused script (its client is answered with the kill error). */
  killScript(): Reply {
    if (this.#busy === null) return err("NOTBUSY No scripts in execution right now.");
    this.#scripting?.kill();
    return OK;
  }

  /**
   * Runs a paused script's remaining slices, one per timer tick so other clients (answered
   * -BUSY meanwhile) and SCRIPT KILL get in between. Each slice has a batch of its own
   * (`prepare` readies it); `done` gets the last slice's batch and the script's reply.
   */
  #scriptSlices(
    client: Client,
    spec: CommandSpec,
    running: Running,
    prepare: ((batch: ReturnType<Engine["begin"]>) => void) | null,
    done: (batch: ReturnType<Engine["begin"]>, reply: Reply) => void,
  ): void {
    this.#busy = { client, running };
    this.env.setTimer(0, () => {
      if (this.#busy?.running !== running) return; // its client left
      const batch = this.engine.begin();
      prepare?.(batch);
      const r = this.#guarded(spec, running.resume, [], {
        face: this,
        engine: this.engine,
        client,
        batch,
        db: client.db,
        mayPause: true,
      });
      if (r instanceof Running) {
        batch.release();
        return this.#scriptSlices(client, spec, r, prepare, done);
      }
      this.#busy = null;
      done(batch, inTransaction(r));
      if (this.#readyKeys.size > 0) this.#wake();
    });
  }

  /**
   * One redis.call from a script, on the script's batch: Redis's checks for commands called from
   * scripts, then the handler. A blocking command answers at once, as inside MULTI.
   */
  callFromScript(ctx: Ctx, args: string[], readOnly: boolean, allowOom: boolean): Reply {
    const found = lookupCommand(args);
    if ("error" in found) return this.#scriptError(err("ERR Unknown Redis command called from script"));
    const spec = found.spec;
    const refuse = (e: ErrorReply): Reply => {
      this.#commandStat(spec.name).rejected++;
      return this.#scriptError(e);
    };
    if (!arityOk(spec, args.length)) {
      return refuse(err("ERR Wrong number of args calling Redis command from script"));
    }
    if (spec.flags.has("noscript")) return refuse(err("ERR This Redis command is not allowed from script"));
    if (spec.flags.has("write")) {
      if (readOnly) return refuse(err("ERR Write commands are not allowed from read-only scripts."));
      if (this.#touchesReserved(spec, args)) return refuse(E_RESERVED);
    }
    // A script that has not written yet may not start growing memory past maxmemory.
    if (!allowOom && spec.flags.has("denyoom") && ctx.batch.readOnly() && this.overMaxmemory()) {
      return refuse(E_OOM);
    }
    const r = inTransaction(this.#run(ctx.client, spec, args, ctx.batch, { nested: true, fromScript: true }));
    return r instanceof ErrorReply ? this.#scriptError(r) : r;
  }

  /** A command a script called failed: counted now (INFO errorstats), passed on as counted. */
  #scriptError(e: ErrorReply): CountedError {
    this.noteError(e);
    return new CountedError(e.s);
  }

  /** Commits the batch and sends the reply once the log policy allows. */
  #commitAndReply(client: Client, batch: ReturnType<Engine["begin"]>, reply: Reply | Deferred): void {
    if (reply instanceof Deferred) {
      const release = client.replyLater();
      batch.commit(() => reply.start(release));
      return;
    }
    if (batch.readOnly()) {
      batch.release();
      return client.reply(reply);
    }
    client.noteWrite(batch);
    let done = false;
    let release: ((r: Reply) => void) | null = null;
    batch.commit(() => {
      done = true;
      if (release !== null) release(reply);
    });
    if (done) client.reply(reply);
    else release = client.replyLater();
  }

  // ---------------------------------------------------------------- envelopes

  /**
   * Runs an exclusive command (one entry in `commands`, `watched` null) or a transaction (EXEC)
   * as an envelope: planned on the local state, its writes undone and sent to the members,
   * replied once the outcome is known. The client runs nothing else meanwhile, so it reads its
   * own writes. A conflict re-plans after a random pause, a bounded number of times; a watched
   * key that changed anywhere answers EXEC with nil.
   */
  #envelope(
    client: Client,
    commands: string[][],
    watched: Map<string, EffectId[]> | null,
    finish: (r: Reply | Block) => void,
  ): void {
    const cluster = this.cluster!;
    const multi = watched !== null;
    let attempt = 0;
    const started = this.env.monotonicMs();
    const run = () => {
      if (client.closed) return;
      if (this.#busy !== null && this.#busy.client !== client) {
        // Another client's script holds the node (a retry met it): wait for it, as clients do.
        if (this.env.monotonicMs() - started > ENVELOPE_QUEUE_LIMIT_MS) return finish(E_BUSY);
        this.env.setTimer(10, run);
        return;
      }
      attempt++;
      const batch = this.engine.begin();
      batch.reads = [];
      if (multi) {
        const replies: Reply[] = [];
        for (const args of commands) {
          const spec = (lookupCommand(args) as { spec: CommandSpec }).spec;
          const r = this.#run(client, spec, args, batch, { nested: true });
          replies.push(inTransaction(r));
        }
        return commit(batch, replies);
      }
      const spec = (lookupCommand(commands[0]) as { spec: CommandSpec }).spec;
      const r = this.#run(client, spec, commands[0], batch, { mayPause: true });
      if (r instanceof Running) {
        // A script pausing has read nothing yet: its plan starts with the slice that does.
        batch.release();
        return this.#scriptSlices(client, spec, r, (b) => {
          b.reads = [];
        }, single);
      }
      single(batch, r);
    };
    const single = (batch: ReturnType<Engine["begin"]>, r: Reply | Deferred | Block) => {
      if (r instanceof Deferred) {
        batch.release();
        return finish(err("ERR command cannot run as an envelope"));
      }
      if (r instanceof Block) {
        batch.release();
        return finish(r);
      }
      // Nothing written (a pop of an empty list, SET NX of a key that exists): the reply
      // reflects the local state, like any read.
      if (batch.readOnly()) {
        batch.release();
        return finish(r);
      }
      commit(batch, r);
    };
    const commit = (batch: ReturnType<Engine["begin"]>, reply: Reply) => {
      const plan = this.engine.planEnvelope(batch);
      const blocked = cluster.writeBlocked();
      // A retry may come after this node lost its membership (or is catching up again).
      if (blocked !== null) return finish(err(`TRYAGAIN ${blocked}`));
      if (watched !== null && watched.size > 0) {
        // Watched keys are checked at the version they had at WATCH time.
        plan.watched = [];
        for (const [id, vv] of watched) {
          const sep = id.indexOf("\u0000");
          const db = Number(id.slice(0, sep)), key = id.slice(sep + 1);
          plan.watched.push(key);
          const k = plan.keys.find((x) => x.db === db && x.key === key);
          if (k !== undefined) k.vv = vv;
          else plan.keys.push({ db, key, vv, deps: null, ops: null });
        }
      }
      cluster.commit(plan, (o) => {
        switch (o.kind) {
          case "committed":
            return finish(reply);
          case "busy":
            // Not an attempt: nothing left this node. Planned again once the key is free.
            if (this.env.monotonicMs() - started > ENVELOPE_QUEUE_LIMIT_MS) {
              return finish(err("TRYAGAIN the key stayed busy with other transactions of this node"));
            }
            attempt--;
            return o.retry(run, started);
          case "partitioned":
            return finish(
              err(`PARTITIONED ${o.why}: exclusive commands need every member; nothing was written`),
            );
          case "unknown":
            return finish(err(`TRYAGAIN ${o.why}; the outcome will be the same on every node`));
          case "conflict": {
            if (plan.watched !== undefined && o.stale.some((k) => plan.watched!.includes(k))) {
              return finish(NULL_ARRAY);
            }
            if (attempt >= ENVELOPE_ATTEMPTS) {
              return finish(
                err(`TRYAGAIN the keys are contended: not committed after ${attempt} attempts (${o.why})`),
              );
            }
            // Jittered, growing pause: contenders rarely collide again.
            const pause = 1 + Math.floor(this.env.random() * 5 * 2 ** Math.min(attempt, 6));
            this.env.setTimer(pause, run);
            return;
          }
        }
      });
    };
    run();
  }

  // ---------------------------------------------------------------- transactions

  #multi(client: Client): void {
    if (client.multi !== null) return this.#refuse(client, err("ERR MULTI calls can not be nested"));
    client.multi = [];
    client.multiError = false;
    client.reply(OK);
  }

  #discard(client: Client): void {
    if (client.multi === null) return this.#reject(client, err("ERR DISCARD without MULTI"));
    client.multi = null;
    client.multiError = false;
    this.unwatchAll(client);
    client.reply(OK);
  }

  #exec(client: Client): void {
    if (client.multi === null) return this.#reject(client, err("ERR EXEC without MULTI"));
    const queued = client.multi;
    const aborted = client.multiError;
    // A watched key that expired since WATCH fails the transaction, as a write to it would:
    // looking it up expires it, and expiring touches its watchers.
    const now = this.engine.hlc.nowMs();
    for (const id of client.watched) {
      const sep = id.indexOf("\u0000");
      this.engine.lookup(Number(id.slice(0, sep)), id.slice(sep + 1), now);
    }
    const dirty = client.watchDirty;
    const watched = new Map(client.watchedVersions) as Map<string, EffectId[]>;
    client.multi = null;
    client.multiError = false;
    this.unwatchAll(client);
    if (aborted) return this.#reject(client, E.execAbort);
    if (dirty) return client.reply(NULL_ARRAY);
    if (this.cluster !== null) {
      // A transaction promises a state every member agrees on: a node still joining has none.
      const why = this.cluster.writeBlocked();
      if (why !== null) return this.#refuse(client, err(`TRYAGAIN ${why}`));
      if (this.cluster.multiNode()) {
        const release = client.replyLater();
        client.suspend();
        return this.#envelope(client, queued, watched, (r) => {
          release(r as Reply);
          client.resume();
        });
      }
    }
    const batch = this.engine.begin();
    const replies: Reply[] = [];
    for (const args of queued) {
      const spec = (lookupCommand(args) as { spec: CommandSpec }).spec;
      const r = this.#run(client, spec, args, batch, { nested: true });
      replies.push(inTransaction(r));
    }
    this.#commitAndReply(client, batch, replies);
  }

  #watch(client: Client, args: string[]): void {
    if (client.multi !== null) return this.#refuse(client, err("ERR WATCH inside MULTI is not allowed"));
    const now = this.engine.hlc.nowMs();
    for (let i = 1; i < args.length; i++) {
      // Looking up frees a key already expired, so a stale key does not fail EXEC later.
      this.engine.lookup(client.db, args[i], now);
      const id = `${client.db}\u0000${args[i]}`;
      if (client.watched.has(id)) continue;
      client.watched.add(id);
      if (this.cluster?.multiNode() === true) {
        client.watchedVersions.set(id, this.engine.versionIds(client.db, args[i]));
      }
      let set = this.#watchers.get(id);
      if (set === undefined) this.#watchers.set(id, set = new Set());
      set.add(client);
    }
    client.reply(OK);
  }

  /** Forgets every key `client` watches. */
  unwatchAll(client: Client): void {
    for (const id of client.watched) {
      const set = this.#watchers.get(id);
      set?.delete(client);
      if (set?.size === 0) this.#watchers.delete(id);
    }
    client.watched.clear();
    client.watchedVersions.clear();
    client.watchDirty = false;
  }

  /** A key was written (or expired), here or on another node: watchers fail EXEC, blocked clients wake. */
  touched(db: number, key: string): void {
    if (this.#parkedByKey.size > 0) {
      const id = `${db}\u0000${key}`;
      if (this.#parkedByKey.has(id)) this.#markReady(id);
    }
    if (this.#watchers.size === 0) return;
    const set = this.#watchers.get(`${db}\u0000${key}`);
    if (set !== undefined) { for (const c of set) c.watchDirty = true; }
  }

  // ---------------------------------------------------------------- blocking commands

  /** Schedules a wake-up pass for the clients parked on key `id`. */
  #markReady(id: string): void {
    this.#readyKeys.add(id);
    if (!this.#wakeScheduled) {
      this.#wakeScheduled = true;
      this.env.setTimer(0, () => this.#wake());
    }
  }

  /**
   * Parks `client` on the keys of `block` (its reply slot `release` already reserved, the client
   * suspended): the command runs again, oldest parked client first, whenever one of the keys is
   * written on any node, until it answers something else or its timeout passes.
   */
  #park(client: Client, spec: CommandSpec, args: string[], block: Block, release: (r: Reply) => void): void {
    if (client.closed) return;
    const p: Parked = {
      client,
      spec,
      args: block.retryArgs ?? args,
      ids: [...new Set(block.keys)].map((k) => `${client.db}\u0000${k}`),
      onTimeout: block.onTimeout,
      release,
      timer: null,
      running: false,
      timedOut: false,
      done: false,
    };
    this.#parkedByClient.set(client, p);
    for (const id of p.ids) {
      const q = this.#parkedByKey.get(id);
      if (q === undefined) this.#parkedByKey.set(id, [p]);
      else q.push(p);
    }
    if (block.timeoutMs > 0) {
      p.timer = this.env.setTimer(block.timeoutMs, () => {
        p.timer = null;
        if (p.running) p.timedOut = true;
        else this.#timedOut(p);
      });
    }
  }

  /** A parked command's timeout passed: it answers its timeout reply and counts as one call. */
  #timedOut(p: Parked): void {
    this.#commandStat(p.spec.name).calls++;
    this.#unpark(p, p.onTimeout);
  }

  /** Answers a parked client with `reply` (null: it left) and lets it run its next commands. */
  #unpark(p: Parked, reply: Reply | null): void {
    if (p.done) return;
    p.done = true;
    if (p.timer !== null) this.env.clearTimer(p.timer);
    this.#parkedByClient.delete(p.client);
    for (const id of p.ids) {
      const q = this.#parkedByKey.get(id);
      if (q === undefined) continue;
      const i = q.indexOf(p);
      if (i >= 0) q.splice(i, 1);
      if (q.length === 0) this.#parkedByKey.delete(id);
    }
    if (reply === null) return;
    p.release(reply);
    p.client.resume();
  }

  /**
   * Runs the commands parked on the keys written since the last pass, key by key in the order they
   * were written, oldest parked client first, until no key is ready: the writes of the clients it
   * serves (BLMOVE into a key another client waits on) are served in the same pass. Runs right
   * after each command, as Redis does, and on a timer for writes replicated from other nodes.
   */
  #wake(): void {
    if (this.#waking) return;
    this.#waking = true;
    try {
      while (this.#readyKeys.size > 0) {
        const ids = [...this.#readyKeys];
        this.#readyKeys.clear();
        for (const id of ids) {
          for (const p of [...(this.#parkedByKey.get(id) ?? [])]) {
            if (!p.done && !p.running && this.#wakes(p, id)) this.#retry(p);
          }
        }
      }
    } finally {
      this.#waking = false;
      this.#wakeScheduled = false;
    }
  }

  /**
   * True when key `id` now holds what `p` waits for: a list for the list pops, a sorted set for the
   * zset pops, a stream for XREAD. A key of another type keeps them waiting, as in Redis; an
   * XREADGROUP waits on its group and runs again whatever happened to the key (it answers NOGROUP
   * or WRONGTYPE when the stream is gone).
   */
  #wakes(p: Parked, id: string): boolean {
    const want = WAKE_TYPE[p.spec.name];
    if (want === undefined) return true;
    const sep = id.indexOf("\u0000");
    const ks = this.engine.lookup(Number(id.slice(0, sep)), id.slice(sep + 1), this.engine.hlc.nowMs());
    return ks === undefined || ks.type?.type === want;
  }

  /** Runs a parked command again: as an envelope when it is exclusive in a cluster, else locally. */
  #retry(p: Parked): void {
    const { client, spec, args } = p;
    const done = (r: Reply | Block) => {
      p.running = false;
      if (!(r instanceof Block)) return this.#unpark(p, r);
      if (p.timedOut) this.#timedOut(p);
    };
    p.running = true;
    if (this.cluster !== null && this.cluster.multiNode() && exclusiveReason(spec.name, args) !== null) {
      const blocked = this.cluster.writeBlocked();
      if (blocked !== null) return done(err(`TRYAGAIN ${blocked}`));
      return this.#envelope(client, [args], null, done);
    }
    const batch = this.engine.begin();
    const r = this.#run(client, spec, args, batch);
    if (r instanceof Block || r instanceof Deferred) {
      batch.release();
      return done(r instanceof Block ? r : err("ERR command cannot block"));
    }
    if (batch.readOnly()) {
      batch.release();
      return done(r);
    }
    // Marked answered now so a second wake-up cannot run it again; the reply leaves once durable.
    p.running = false;
    client.noteWrite(batch);
    this.#unpark(p, null);
    batch.commit(() => {
      p.release(r);
      client.resume();
    });
  }

  #commandStat(name: string): CommandStat {
    let st = this.commandStats.get(name);
    if (st === undefined) this.commandStats.set(name, st = { calls: 0, usec: 0, rejected: 0, failed: 0 });
    return st;
  }

  /** Counts an error reply sent to a client by its code (INFO errorstats). */
  noteError(e: ErrorReply): void {
    const sp = e.s.indexOf(" ");
    const code = sp < 0 ? e.s : e.s.slice(0, sp);
    this.errorStats.set(code, (this.errorStats.get(code) ?? 0) + 1);
    this.stats.errorReplies++;
  }

  /** Clients blocked right now (INFO blocked_clients). */
  blockedClients(): number {
    return this.#parkedByClient.size;
  }

  /** Keys blocked clients wait on (INFO total_blocking_keys). */
  blockingKeys(): number {
    return this.#parkedByKey.size;
  }

  /**
   * Keys some client waits on even while they do not exist (INFO total_blocking_keys_on_nokey):
   * an XREADGROUP answers NOGROUP when its stream goes away, so it waits on the key itself.
   */
  blockingKeysOnNokey(): number {
    let n = 0;
    for (const q of this.#parkedByKey.values()) if (q.some((p) => p.spec.name === "xreadgroup")) n++;
    return n;
  }

  /**
   * CLIENT UNBLOCK: answers a blocked client with its timeout reply, or with an UNBLOCKED error.
   * False if the client is not blocked (or its re-run is being decided).
   */
  unblock(client: Client, withError: boolean): boolean {
    const p = this.#parkedByClient.get(client);
    if (p === undefined || p.running) return false;
    if (withError) this.#unpark(p, err("UNBLOCKED client unblocked via CLIENT UNBLOCK"));
    else this.#timedOut(p);
    return true;
  }

  /**
   * A keyspace-wide change: FLUSHDB/FLUSHALL touch the watched keys that exist in their db;
   * SWAPDB a b touches a watched key of a (or b) that exists in a or b. Called before the change.
   */
  touchedDbs(dbs: readonly number[], swap = false): void {
    // Clients blocked on keys of these dbs run again (an XREADGROUP whose stream is gone answers NOGROUP).
    for (const id of this.#parkedByKey.keys()) {
      if (dbs.includes(Number(id.slice(0, id.indexOf("\u0000"))))) this.#markReady(id);
    }
    if (this.#watchers.size === 0) return;
    const now = this.engine.hlc.nowMs();
    for (const [id, set] of this.#watchers) {
      const sep = id.indexOf("\u0000");
      const db = Number(id.slice(0, sep));
      if (!dbs.includes(db)) continue;
      const key = id.slice(sep + 1);
      const where = swap ? dbs : [db];
      if (where.some((d) => this.engine.lookup(d, key, now) !== undefined)) {
        for (const c of set) c.watchDirty = true;
      }
    }
  }

  /** Number of keys watched by anyone (INFO watching_clients etc.). */
  watchedKeys(): number {
    return this.#watchers.size;
  }

  /** Keys of a command, by the command table (COMMAND GETKEYS). */
  keysOf(spec: CommandSpec, args: string[]): string[] {
    return commandKeys(spec, args).map((i) => args[i]);
  }

  // ---------------------------------------------------------------- cron

  #scheduleCron(): void {
    this.#cronTimer = this.env.setTimer(1000, () => {
      this.#cron();
      this.#scheduleCron();
    });
  }

  #cron(): void {
    if (this.config.timeout <= 0) return;
    const now = this.env.monotonicMs();
    for (const c of [...this.clients.values()]) {
      if (now - c.lastInteractionMs > this.config.timeout * 1000) c.kill();
    }
  }
}

/** A queued command's reply inside EXEC: a blocking command that finds nothing answers its timeout reply. */
function inTransaction(r: Reply | Deferred | Block | Running): Reply {
  if (r instanceof Deferred || r instanceof Running) return err("ERR command cannot run inside MULTI");
  if (r instanceof Block) return r.inTransaction !== undefined ? r.inTransaction : r.onTimeout;
  return r;
}

function rootName(spec: CommandSpec): string {
  return spec.container !== undefined ? spec.container.name : spec.name;
}
