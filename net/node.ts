/**
 * A running Redis-speaking node: the real Env, the disk, the engine, the Redis face, and the
 * TCP and unix-socket listeners that feed bytes to it.
 */
import { defaultEncodingLimits } from "../redis/encodings.ts";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Socket, TCPSocketListener, UnixSocketListener } from "bun";
import { type AppendFsync, Engine } from "../core/engine.ts";
import { noStorage } from "../core/env.ts";
import type { Client, Transport } from "../redis/client.ts";
import { Face, handlers, reducers } from "../redis/mod.ts";
import { membershipStore } from "../redis/members.ts";
import { type ClusterNode, startCluster } from "./cluster.ts";
import { DiskStorage } from "./disk.ts";
import { drainQueue, writeOrQueue } from "./out_queue.ts";
import { realEnv } from "./env.ts";

export const VERSION = "8.4.0";

/** Everything `swytch redis` can be told. */
export interface RedisNodeOptions {
  port: number;
  /** Address to listen on; "" = no TCP. */
  bind: string;
  unixsocket: string;
  unixsocketperm: number;
  requirepass: string;
  /** "" = memory only. */
  dataDir: string;
  appendfsync: AppendFsync;
  maxclients: number;
  timeout: number;
  databases: number;
  logFormat: "text" | "json";
  verbose: boolean;
  /** Test-only: the simulator's planted bug, reachable from the real binary for the harness. */
  plantedBugReplyBeforeFsync?: boolean;
  /** The cluster: a passphrase turns the peer listener on; seeds make the node join. */
  cluster?: NodeClusterOptions;
  /** Test-only: milliseconds added to this node's wall clock (clock skew in the fault harness). */
  debugClockOffsetMs?: number;
  /** Called when a client asks for SHUTDOWN, after the node stopped. */
  onShutdown?: () => void;
  /** Called after an internal invariant failed while serving a client (the CLI exits). */
  onFatal?: (error: unknown) => void;
}

/** Cluster flags of `swytch redis`. */
export interface NodeClusterOptions {
  passphrase: string;
  /** Seeds (`host:port` of their cluster ports); empty = a cluster of one others can join. */
  join: string[];
  /** Cluster port; 0 = the Redis port + 1000. */
  port: number;
  /** `host:port` others reach this node's cluster port at ("" = bind address and port). */
  advertise: string;
  memberTimeoutMs: number;
  maxClockOffsetMs: number;
  /** Bytes of unstable effects one key may keep before its writes are refused (0 = no limit). */
  maxUnstableBytes?: number;
  heartbeatMs?: number;
  antiEntropyMs?: number;
  plantedBugAckBeforeLog?: boolean;
  plantedBugUnorderedStability?: boolean;
  /** How long an exclusive command waits for its envelope's outcome (default 2 s). */
  commitTimeoutMs?: number;
  plantedBugAcceptNotFsynced?: boolean;
  plantedBugCommitBeforeChosen?: boolean;
}

export const DEFAULTS: RedisNodeOptions = {
  port: 6379,
  bind: "127.0.0.1",
  unixsocket: "",
  unixsocketperm: 0o700,
  requirepass: "",
  dataDir: "./swytch-data",
  appendfsync: "everysec",
  maxclients: 10000,
  timeout: 0,
  databases: 16,
  logFormat: "text",
  verbose: false,
};

/** Commands since the last full GC before an idle second triggers another. */
const IDLE_GC_AFTER_COMMANDS = 10_000;

/** Output bytes a client may leave unread before it is disconnected. */
const OUTPUT_BUFFER_LIMIT = 1 << 30;

interface SocketData {
  client: Client | null;
  /** Reply bytes of this turn, sent at its end. */
  out: Uint8Array[];
  outBytes: number;
  /** Bytes the socket did not take yet (backpressure), sent on drain. */
  queue: Uint8Array[];
  queued: number;
  /** End the socket once everything queued is out. */
  closing: boolean;
}

/** A started node. */
export interface RedisNode {
  readonly engine: Engine;
  readonly face: Face;
  /** The bound TCP port (useful with port 0), or 0 without TCP. */
  readonly port: number;
  /** The cluster side, once started (null without `cluster` options). */
  readonly cluster: Promise<ClusterNode> | null;
  /** Stops listening, closes clients, checkpoints when `save`, makes the log durable. */
  stop(opts?: { save?: boolean; leave?: boolean }): Promise<void>;
}

/** Starts a node; resolves once it listens. */
export function startRedisNode(options: Partial<RedisNodeOptions> = {}): RedisNode {
  const o: RedisNodeOptions = { ...DEFAULTS, ...options };
  const disk = o.dataDir === "" ? null : new DiskStorage(path.resolve(o.dataDir));
  const env = realEnv({
    storage: disk ?? noStorage,
    logFormat: o.logFormat,
    verbose: o.verbose,
    clockOffsetMs: o.debugClockOffsetMs,
  });
  const engine = new Engine(env, {
    reducers,
    databases: o.databases,
    appendfsync: o.appendfsync,
    plantedBugReplyBeforeFsync: o.plantedBugReplyBeforeFsync,
    clustered: (o.cluster?.join.length ?? 0) > 0,
    maxClockOffsetMs: o.cluster?.maxClockOffsetMs,
    maxUnstableBytes: o.cluster?.maxUnstableBytes,
    plantedBugAckBeforeLog: o.cluster?.plantedBugAckBeforeLog,
  });
  const recovery = engine.open();
  if (engine.clustered && o.cluster === undefined) {
    throw new Error("this data dir belongs to a node of a cluster: start it with --cluster-passphrase");
  }
  env.log("info", "recovered", { ...recovery });
  const runId = Array.from({ length: 40 }, () => Math.floor(Math.random() * 16).toString(16)).join("");
  let stopping: Promise<void> | null = null;
  const listeners: (TCPSocketListener<SocketData> | UnixSocketListener<SocketData>)[] = [];

  const face: Face = new Face(engine, {
    config: {
      requirepass: o.requirepass,
      maxclients: o.maxclients,
      timeout: o.timeout,
      databases: o.databases,
      protoMaxBulkLen: 512 * 1024 * 1024,
      clientQueryBufferLimit: 1024 * 1024 * 1024,
      clientOutputBufferLimit: OUTPUT_BUFFER_LIMIT,
      encodings: defaultEncodingLimits(),
      maxmemoryPolicy: "noeviction",
      busyReplyThresholdMs: 5000,
      save: "",
      port: o.port,
      bind: o.bind,
      unixsocket: o.unixsocket,
      unixsocketperm: o.unixsocketperm,
      dir: o.dataDir === "" ? process.cwd() : path.resolve(o.dataDir),
      appendfsync: o.appendfsync,
      appendonly: disk !== null,
      hz: 10,
      maxmemory: 0,
    },
    host: {
      pid: process.pid,
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      arch: os.arch(),
      executable: process.execPath,
      runId,
      tcpPort: o.port,
      processStats() {
        const m = process.memoryUsage();
        const cpu = process.cpuUsage();
        return {
          rssBytes: m.rss,
          heapBytes: m.heapUsed,
          userCpuSec: cpu.user / 1e6,
          sysCpuSec: cpu.system / 1e6,
        };
      },
      purge: () => Bun.gc(true),
    },
    version: VERSION,
    digest: (v) => Bun.hash.xxHash3(Buffer.from(v, "latin1")).toString(16).padStart(16, "0"),
    shutdown(save, done) {
      node.stop({ save: save ?? false }).then(() => o.onShutdown?.(), (e) => done(String(e)));
    },
    handlers,
  });

  // Replies leave once per event-loop turn, after the log's buffered records were written to the
  // OS (one write(2) for every command of the turn, like Redis's beforeSleep): an acknowledged
  // write survives kill -9, and pipelines from many clients share the syscalls.
  const dirty = new Set<Socket<SocketData>>();
  let turnScheduled = false;
  const endOfTurn = () => {
    turnScheduled = false;
    disk?.flush();
    for (const socket of dirty) sendOut(socket);
    dirty.clear();
  };
  const sendOut = (socket: Socket<SocketData>) => {
    const d = socket.data;
    if (d.out.length > 0) {
      const bytes = d.out.length === 1 ? d.out[0] : Buffer.concat(d.out, d.outBytes);
      d.out = [];
      d.outBytes = 0;
      writeOrQueue(socket, d, bytes);
    }
    if (d.closing && d.queue.length === 0) socket.end();
  };

  const socketHandlers = (kind: "tcp" | "unix", laddr: () => string) => ({
    open(socket: Socket<SocketData>) {
      // As Redis does (TCP_NODELAY on client sockets): replies leave without a Nagle delay.
      if (kind === "tcp") socket.setNoDelay(true);
      socket.data = { client: null, out: [], outBytes: 0, queue: [], queued: 0, closing: false };
      const later = () => {
        dirty.add(socket);
        if (!turnScheduled) {
          turnScheduled = true;
          setImmediate(endOfTurn);
        }
      };
      const transport: Transport = {
        write(bytes) {
          const d = socket.data;
          face.stats.netOutputBytes += bytes.length;
          d.out.push(bytes);
          d.outBytes += bytes.length;
          later();
        },
        close(flush) {
          const d = socket.data;
          if (!flush) {
            // A killed client goes now: what it did not read is dropped, not kept in memory.
            d.out = [];
            d.outBytes = 0;
            d.queue = [];
            d.queued = 0;
            dirty.delete(socket);
            socket.terminate();
            return;
          }
          d.closing = true;
          later();
        },
        backlog: () => socket.data.queued + socket.data.outBytes,
      };
      const addr = kind === "tcp"
        ? `${socket.remoteAddress}:${(socket as unknown as { remotePort?: number }).remotePort ?? 0}`
        : `${o.unixsocket}:0`;
      socket.data.client = face.connect(transport, { addr, laddr: laddr(), kind });
    },
    data(socket: Socket<SocketData>, chunk: Uint8Array) {
      face.stats.netInputBytes += chunk.length;
      try {
        socket.data.client?.feed(chunk);
      } catch (e) {
        // Handlers' errors become replies; anything escaping is a broken invariant of the
        // engine. Like Redis on a failed assertion, stop rather than serve from a state that
        // may be wrong (embedders choose with onFatal; the connection is closed either way).
        env.log("error", "internal invariant violated", { error: String((e as Error)?.stack ?? e) });
        socket.terminate();
        (o.onFatal ?? (() => {}))(e);
      }
    },
    drain(socket: Socket<SocketData>) {
      const d = socket.data;
      if (drainQueue(socket, d) && d.closing) socket.end();
    },
    close(socket: Socket<SocketData>) {
      socket.data?.client?.transportClosed();
    },
    error(socket: Socket<SocketData>) {
      socket.data?.client?.transportClosed();
      socket.terminate();
    },
  });

  let port = 0;
  if (o.bind !== "") {
    const l = Bun.listen<SocketData>({
      hostname: o.bind,
      port: o.port,
      socket: socketHandlers("tcp", () => `${o.bind}:${port}`),
    });
    port = l.port;
    face.config.port = port;
    listeners.push(l);
  }
  if (o.unixsocket !== "") {
    fs.rmSync(o.unixsocket, { force: true });
    listeners.push(
      Bun.listen<SocketData>({
        unix: o.unixsocket,
        socket: socketHandlers("unix", () => `${o.unixsocket}:0`),
      }),
    );
    fs.chmodSync(o.unixsocket, o.unixsocketperm);
  }
  // A full collection once the node goes idle after work: garbage from parsing and replies would
  // otherwise sit in RSS until the next busy period (Redis frees eagerly; a GC'd runtime must ask).
  let seenCommands = 0, gcAtCommands = 0;
  const idleGc = setInterval(() => {
    const n = face.stats.totalCommands;
    if (n === seenCommands && n - gcAtCommands >= IDLE_GC_AFTER_COMMANDS) {
      Bun.gc(true);
      gcAtCommands = n;
    }
    seenCommands = n;
  }, 1000);
  idleGc.unref();

  env.log("info", "ready to accept connections", { port, unixsocket: o.unixsocket, dataDir: o.dataDir });

  let cluster: Promise<ClusterNode> | null = null;
  const node: RedisNode = {
    engine,
    face,
    port,
    get cluster() {
      return cluster;
    },
    stop(opts = {}) {
      if (stopping !== null) return stopping;
      const teardown = () =>
        new Promise<void>((resolve) => {
          void cluster?.then((c) => c.stop(), () => {});
          for (const l of listeners) l.stop(true);
          clearInterval(idleGc);
          face.close();
          engine.close(() => {
            disk?.closeSync();
            if (o.unixsocket !== "") fs.rmSync(o.unixsocket, { force: true });
            env.log("info", "stopped");
            resolve();
          });
        });
      if (opts.leave === true && cluster !== null) {
        // Graceful leave: the majority removes this node before it goes (bounded by the proposal
        // timeouts), so the others stop waiting for it.
        return stopping = cluster.then((c) => c.leave(), () => {}).then(() => {
          stopping = null;
          return node.stop({ save: opts.save });
        });
      }
      if (opts.save !== true || disk === null) return stopping = teardown();
      // Save first and keep serving if it fails (as Redis does), so the caller can retry.
      return stopping = new Promise<void>((resolve, reject) => {
        engine.checkpoint((error) => {
          if (error === undefined) return teardown().then(resolve);
          stopping = null;
          reject(new Error(error));
        });
      });
    },
  };
  if (o.cluster !== undefined) {
    const c = o.cluster;
    const clusterPort = c.port === 0 ? port + 1000 : c.port;
    const host = o.bind === "" || o.bind === "0.0.0.0" || o.bind === "::" ? "127.0.0.1" : o.bind;
    cluster = startCluster(node, {
      bind: o.bind === "" ? "127.0.0.1" : o.bind,
      port: clusterPort,
      passphrase: c.passphrase,
      join: c.join,
      advertise: {
        redis: `${host}:${port}`,
        cluster: c.advertise !== "" ? c.advertise : `${host}:${clusterPort}`,
      },
      memberTimeoutMs: c.memberTimeoutMs,
      store: membershipStore(engine),
      heartbeatMs: c.heartbeatMs,
      antiEntropyMs: c.antiEntropyMs,
      plantedBugUnorderedStability: c.plantedBugUnorderedStability,
      envelopes: {
        commitTimeoutMs: c.commitTimeoutMs,
        plantedBugAcceptNotFsynced: c.plantedBugAcceptNotFsynced,
        plantedBugCommitBeforeChosen: c.plantedBugCommitBeforeChosen,
      },
    });
    cluster.then((cn) => {
      face.cluster = {
        multiNode: () => cn.replicator.multiNode(),
        info: () => cn.replicator.info(),
        writeBlocked: () => cn.replicator.writeBlocked(),
        acknowledgedBy: (w, seq) => cn.replicator.acknowledgedBy(w, seq),
        commit: (plan, done) => cn.replicator.envelopes.commit(plan, done),
      };
    }, (e) => {
      env.log("error", "cluster failed to start", { error: String((e as Error).message ?? e) });
      (o.onFatal ?? (() => {}))(e);
    });
  }

  return node;
}
