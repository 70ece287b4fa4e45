/**
 * The peer transport: mutual TLS 1.3 links carrying length-prefixed CBOR messages between the
 * replicators of two nodes (DESIGN.md section 5). The replicator decides what to say; this file
 * listens, dials, frames and applies backpressure limits.
 */
import type { EnvelopeOptions } from "../core/envelope.ts";
import * as dns from "node:dns/promises";
import type { Socket, TCPSocketListener } from "bun";
import { type Link, type MembershipStore, Replicator } from "../core/replicator.ts";
import { WireError, wireFrame, WireReader } from "../core/wire.ts";
import type { RedisNode } from "./node.ts";
import { drainQueue, writeOrQueue } from "./out_queue.ts";
import { makePeerIdentity, peerClientTls, type PeerIdentity, peerServerTls } from "./peer_tls.ts";

export interface ClusterOptions {
  /** Address the cluster listener binds (`host`) and its port. */
  bind: string;
  port: number;
  passphrase: string;
  /** Seeds to join through (`host:port` of their cluster ports); empty = a cluster of one. */
  join: string[];
  /** Addresses others use to reach this node (Redis and cluster). */
  advertise: { redis: string; cluster: string };
  memberTimeoutMs: number;
  store: MembershipStore;
  heartbeatMs?: number;
  antiEntropyMs?: number;
  plantedBugUnorderedStability?: boolean;
  envelopes?: EnvelopeOptions;
}

/** Bytes a peer link may have queued unsent before it is dropped (a stuck peer must not grow us). */
const LINK_QUEUE_LIMIT = 512 * 1024 * 1024;
/** Delay between dial attempts to a peer or seed. */
const REDIAL_MS = 500;
/** How long a dial may take before another attempt may start. */
const DIAL_TIMEOUT_MS = 3000;

interface LinkData {
  reader: WireReader;
  queue: Uint8Array[];
  queued: number;
  handlers: { receive(msg: Uint8Array): void; closed(): void } | null;
  open: boolean;
  /** Set once TLS authenticated the peer: a link that ends before that was refused. */
  authenticated: boolean;
  /** Messages of this turn, written together at its end. */
  pending: Uint8Array[];
  pendingBytes: number;
}

export interface ClusterNode {
  readonly replicator: Replicator;
  readonly port: number;
  /** Leaves the membership (graceful) and closes the links. */
  leave(): Promise<void>;
  stop(): void;
}

/** Starts the peer listener and dialer of a running Redis node. */
export async function startCluster(node: RedisNode, o: ClusterOptions): Promise<ClusterNode> {
  const env = node.engine.env;
  const identity: PeerIdentity = await makePeerIdentity(o.passphrase, node.engine.writer.node);
  const replicator = new Replicator(node.engine, {
    self: o.advertise,
    store: o.store,
    memberTimeoutMs: o.memberTimeoutMs,
    heartbeatMs: o.heartbeatMs,
    antiEntropyMs: o.antiEntropyMs,
    plantedBugUnorderedStability: o.plantedBugUnorderedStability,
    envelopes: o.envelopes,
  });
  const sockets = new Set<Socket<LinkData>>();

  // Messages of one event-loop turn leave together: one TLS write per link per turn, not one
  // per effect (a busy node sends thousands of frames a second to each peer).
  const dirty = new Set<Socket<LinkData>>();
  let flushScheduled = false;
  const flushAll = () => {
    flushScheduled = false;
    for (const socket of dirty) {
      const d = socket.data;
      if (!d.open || d.pending.length === 0) continue;
      const bytes = d.pending.length === 1 ? d.pending[0] : Buffer.concat(d.pending, d.pendingBytes);
      d.pending = [];
      d.pendingBytes = 0;
      writeOrQueue(socket, d, bytes);
      if (d.queued > LINK_QUEUE_LIMIT) {
        env.log("warn", "peer link dropped: too much unsent", { queued: d.queued });
        close(socket);
      }
    }
    dirty.clear();
  };
  const linkOf = (socket: Socket<LinkData>): Link => ({
    send(message) {
      const d = socket.data;
      if (!d.open) return;
      const bytes = wireFrame(message);
      d.pending.push(bytes);
      d.pendingBytes += bytes.length;
      dirty.add(socket);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    },
    close(reason) {
      env.log("info", "peer link closed", { reason });
      close(socket);
    },
  });
  const close = (socket: Socket<LinkData>) => {
    const d = socket.data;
    if (!d.open) return;
    d.open = false;
    d.queue = [];
    d.queued = 0;
    d.pending = [];
    d.pendingBytes = 0;
    socket.end();
    d.handlers?.closed();
  };
  /** Logs a link that ended before TLS authenticated the peer (another passphrase, or none). */
  const refused = (socket: Socket<LinkData>, error: Error | null) => {
    const d = socket.data;
    if (d === undefined || d.authenticated || !d.open) return;
    d.open = false;
    env.log("warn", "peer refused: TLS authentication failed", {
      remote: socket.remoteAddress,
      error: error?.message ?? "closed during the TLS handshake",
    });
  };
  const handlers = (join: boolean, dialed: boolean) => ({
    open(socket: Socket<LinkData>) {
      // Envelope messages are small and latency-bound: no Nagle delay behind an unacked segment.
      socket.setNoDelay(true);
      socket.data = {
        reader: new WireReader(),
        queue: [],
        queued: 0,
        handlers: null,
        open: true,
        authenticated: false,
        pending: [],
        pendingBytes: 0,
      };
    },
    handshake(socket: Socket<LinkData>, success: boolean, error: Error | null) {
      if (!success || error !== null) {
        // Another passphrase (or none): refused before a byte of ours is read or sent.
        env.log("warn", "peer refused: TLS authentication failed", {
          remote: socket.remoteAddress,
          error: error?.message ?? "handshake failed",
        });
        socket.data.open = false;
        socket.terminate();
        return;
      }
      sockets.add(socket);
      socket.data.authenticated = true;
      socket.data.handlers = replicator.connected(linkOf(socket), { join, dialed });
    },
    data(socket: Socket<LinkData>, chunk: Uint8Array) {
      const d = socket.data;
      if (!d.open || d.handlers === null) return;
      d.reader.feed(chunk);
      for (;;) {
        const m = d.reader.next();
        if (m === null) break;
        if (m instanceof WireError) {
          env.log("warn", "peer link dropped: bad frame", { error: m.message });
          close(socket);
          return;
        }
        d.handlers.receive(m);
        if (!d.open) return;
      }
    },
    drain(socket: Socket<LinkData>) {
      drainQueue(socket, socket.data);
    },
    close(socket: Socket<LinkData>) {
      sockets.delete(socket);
      refused(socket, null);
      if (socket.data?.open) {
        env.log("info", "peer link closed by the other end or the network", { remote: socket.remoteAddress });
        socket.data.open = false;
        socket.data.handlers?.closed();
      }
    },
    error(socket: Socket<LinkData>, error: Error) {
      sockets.delete(socket);
      refused(socket, error);
      if (socket.data?.open) {
        env.log("info", "peer link failed", { remote: socket.remoteAddress, error: error?.message });
        socket.data.open = false;
        socket.data.handlers?.closed();
      }
    },
    connectError() {},
  });

  const listener: TCPSocketListener<LinkData> = Bun.listen<LinkData>({
    hostname: o.bind,
    port: o.port,
    tls: peerServerTls(identity),
    socket: handlers(false, false),
  });

  const dialing = new Set<string>();
  const lastDial = new Map<string, number>();
  const dial = async (addr: string, join: boolean) => {
    const now = Date.now();
    if (dialing.has(addr) || now - (lastDial.get(addr) ?? 0) < REDIAL_MS) return;
    dialing.add(addr);
    lastDial.set(addr, now);
    try {
      const { host, port } = splitHostPort(addr);
      const resolved = await resolve(host);
      // A dial into a cut network may hang for minutes: stop waiting after a while (a late
      // connection is still taken as a link), so the next attempt can start.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Bun.connect<LinkData>({
          hostname: resolved,
          port,
          tls: peerClientTls(identity),
          socket: handlers(join, true),
        }),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error("connect timed out")), DIAL_TIMEOUT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
    } catch (e) {
      env.log("debug", "dial failed", { addr, error: (e as Error).message });
    } finally {
      dialing.delete(addr);
    }
  };
  if (o.join.length > 0) replicator.startJoin();
  const dialer = setInterval(() => {
    if (replicator.wantsSeed()) {
      for (const s of [...o.join, ...replicator.seedHints()]) void dial(s, true);
    }
    for (const m of replicator.dialTargets()) void dial(m.cluster, false);
  }, REDIAL_MS / 2);
  if (o.join.length > 0) { for (const s of o.join) void dial(s, true); }

  env.log("info", "cluster listening", { port: listener.port, join: o.join.join(",") });
  return {
    replicator,
    port: listener.port,
    leave: () => new Promise<void>((resolve) => replicator.leave(resolve)),
    stop() {
      clearInterval(dialer);
      replicator.stop();
      listener.stop(true);
      for (const s of sockets) s.terminate();
    },
  };
}

/** `host:port`, `[v6]:port`. */
export function splitHostPort(addr: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]+):(\d+)$/.exec(addr);
  if (m === null) throw new Error(`bad address ${JSON.stringify(addr)} (want host:port)`);
  const port = Number(m[2]);
  if (!(port > 0 && port < 65536)) throw new Error(`bad port in ${addr}`);
  return { host: m[1], port };
}

async function resolve(host: string): Promise<string> {
  if (/^[\d.]+$/.test(host) || host.includes(":")) return host;
  const r = await dns.lookup(host);
  return r.address;
}
