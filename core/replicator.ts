/**
 * Replication between nodes (DESIGN.md sections 3 and 5), sans-IO: the shell hands it one `Link`
 * per peer connection and the bytes that arrive; it answers with messages on the links.
 *
 * - Every local record goes to every member over a per-peer session (numbered frames that
 *   survive reconnects; core/session.ts). Received records are logged, then applied.
 * - Each node advertises, per writer, the contiguous seq it has durably logged ("have"). An
 *   effect is stable once every member advertises it; stable effects fold into the base.
 * - Anti-entropy on connect and periodically: bucket digests, then the versions of the keys in
 *   differing buckets, then dumps (base, version vector, unstable effects) of what the peer lacks,
 *   sent through the session and ending with the sender's frontiers as claims.
 * - Membership is data (a store the face provides); a change is accepted by a strict majority
 *   of the current members, one at a time, before it is written.
 * The wire protocol is in docs/protocol.md.
 */
import { decodeValue, encodeValue } from "./codec.ts";
import { type Effect, Writer } from "./effect.ts";
import { type Engine, ENVELOPE_INC } from "./engine.ts";
import { type EnvelopeBody, type EnvelopeOptions, type EnvelopePlan, Envelopes } from "./envelope.ts";
import type { Env } from "./env.ts";
import { hlcFromMs, hlcMs } from "./hlc.ts";
import { InboundSession, OutboundSession, type SessionLimits } from "./session.ts";

/** Message types on a peer link (each message is one CBOR array, first element the type). */
export const MSG = {
  hello: 1,
  frame: 2,
  ack: 3,
  status: 4,
  aeDigest: 5,
  aeVersions: 6,
  join: 7,
  joined: 8,
  removed: 12,
  aeNudge: 13,
} as const;

/** One connection to a peer, as the shell provides it. */
export interface Link {
  send(message: Uint8Array): void;
  close(reason: string): void;
}

/** A member: its node id and where it is reached. */
export interface Member {
  node: string;
  /** Redis address (`host:port`), for INFO and clients. */
  redis: string;
  /** Cluster address (`host:port`), for peers. */
  cluster: string;
}

/** A membership change (an envelope on the members key). */
export type MemberChange = readonly ["add", Member] | readonly ["remove", string];

/** Where membership lives: the face keeps it as data in `__swytch:members`. */
export interface MembershipStore {
  /** Current members, and nodes removed. */
  read(): { members: Member[]; removed: string[] };
  /** Writes a change at once, locally: only the first node, writing itself as the sole member. */
  write(change: MemberChange): void;
  /** The envelope plan of a change (proposed to the members, written if it commits). */
  plan(change: MemberChange): EnvelopePlan;
  /** The change an envelope on the members key makes, or null for any other envelope. */
  changeOf(body: EnvelopeBody): MemberChange | null;
  /** A cheap token that changes whenever the members key does (so reads are skipped otherwise). */
  version(): string;
}

export interface ReplicatorOptions {
  /** This node's addresses. */
  self: { redis: string; cluster: string };
  store: MembershipStore;
  /** A member not heard from for this long is removed by the majority. */
  memberTimeoutMs?: number;
  /** Status (heartbeat) period. */
  heartbeatMs?: number;
  /** Anti-entropy period per peer. */
  antiEntropyMs?: number;
  sessionLimits?: SessionLimits;
  /** Envelope-commit settings (commit timeout, conflict wait, planted bugs). */
  envelopes?: EnvelopeOptions;
  /**
   * Test-only planted bug: stability trusts a member's newest status even when this node has not
   * received everything that member had (stability without session ordering).
   */
  plantedBugUnorderedStability?: boolean;
}

/** How long a node that started over waits, once writable, for every member's status before it writes again. */
const REEMIT_SETTLE_MS = 1500;
/** Effects of a removed node's old identity it writes again at most (the rest are lost, logged). */
const MAX_REEMIT = 1_000_000;
/** A link whose peer sent nothing (heartbeats included) for this long is closed and redialed. */
const SILENT_LINK_MS = 4000;
/** How long a node that asked to join waits to be a member before it asks again. */
const REJOIN_ASK_MS = 3000;
/** How long a pair stays apart before the larger node id dials too. */
const FALLBACK_DIAL_MS = 3000;
/** Effects younger than this are left out of anti-entropy (they are in flight in the sessions). */
const AE_GRACE_MS = 2000;
/** Statuses kept per peer (stability uses the newest this node has caught up with). */
const MAX_STATUSES = 64;
/** Out-of-order seqs a status lists at most (past it the status cannot make anything stable). */
const MAX_STATUS_AHEAD = 10_000;
/** Buckets of the anti-entropy digest. */
const AE_BUCKETS = 1024;
/** Keys per dump record, so one record stays small. */
const DUMP_KEYS = 500;
/** Key versions one reply carries at most; a larger difference takes several rounds. */
const AE_MAX_VERSIONS = 200_000;
/** Frames handed to a link per flush. */
const FLUSH_FRAMES = 1024;

interface Peer {
  node: string;
  cluster: string;
  inc: number;
  link: Link | null;
  out: OutboundSession;
  in: InboundSession;
  /** What the peer advertised it has durably, per writer: its recent statuses, oldest first. */
  statuses: { have: Map<Writer, number>; ahead: [Writer, number][] | null; clockMs: number }[];
  /** The membership the peer last reported (see `writeBlocked`). */
  view: string;
  /** The peer's clock when it last reported (ms). */
  clockMs: number;
  /** When its last status arrived (our monotonic ms). */
  lastStatusMs: number;
  lastHeardMs: number;
  /** Frames received since the last ack we sent. */
  unacked: number;
  aeRound: number;
  /** The round in flight: its frontiers (claims) and when it started. */
  aePending: { round: number; claims: Map<Writer, number>; startedMs: number; cutoff: number } | null;
  aeDueMs: number;
  /** Bucket count of the round in flight. */
  aeBuckets: number;
  /** Session overflowed or a record was refused: a round must repair it. */
  aeNeeded: boolean;
}

/** Replicator counters for INFO. */
export interface ReplicatorStats {
  framesSent: number;
  framesReceived: number;
  recordsRefused: number;
  sessionOverflows: number;
  aeRounds: number;
  keysShipped: number;
  membershipChanges: number;
}

export class Replicator {
  readonly engine: Engine;
  readonly env: Env;
  readonly stats: ReplicatorStats = {
    framesSent: 0,
    framesReceived: 0,
    recordsRefused: 0,
    sessionOverflows: 0,
    aeRounds: 0,
    keysShipped: 0,
    membershipChanges: 0,
  };
  readonly #opts: Required<Omit<ReplicatorOptions, "sessionLimits" | "envelopes">> & {
    sessionLimits?: SessionLimits;
  };
  /** Envelope-commit: exclusive commands and transactions across the members. */
  readonly envelopes: Envelopes;
  readonly #peers = new Map<string, Peer>();
  #members: Member[] = [];
  #removed = new Set<string>();
  /** Nodes whose records are not taken: removed, or whose removal this node voted for. */
  #fenced = new Set<string>();
  #membersText = "";
  #timer: unknown = null;
  #stopped = false;
  #startedMs: number;
  /** Set while this node's membership change is undecided. */
  #proposing = false;
  /** Join requests waiting for their change, by node. */
  #joinWaiters = new Map<string, Link>();
  /** Set while this node is asking to join through seeds. */
  #joining = false;
  /** A joined reply arrived (the shell stops dialing seeds). */
  joined = false;

  constructor(engine: Engine, opts: ReplicatorOptions) {
    this.engine = engine;
    this.env = engine.env;
    this.#opts = {
      self: opts.self,
      store: opts.store,
      memberTimeoutMs: 30_000,
      heartbeatMs: 200,
      antiEntropyMs: 5_000,
      plantedBugUnorderedStability: false,
    };
    // Options left undefined keep their defaults (a spread would overwrite them with undefined).
    for (const [k, v] of Object.entries(opts)) {
      if (v !== undefined) (this.#opts as Record<string, unknown>)[k] = v;
    }
    delete (this.#opts as Record<string, unknown>).envelopes;
    this.#startedMs = this.env.monotonicMs();
    engine.onRecord = (record) => this.#broadcast(record);
    this.#restarted = engine.clustered;
    this.envelopes = new Envelopes(engine, {
      self: () => this.nodeId,
      members: () => this.#members.map((m) => m.node),
      alive: (node) => {
        const p = this.#peers.get(node);
        return p !== undefined && p.link !== null &&
          this.env.monotonicMs() - p.lastHeardMs < this.#aliveWindow();
      },
      send: (node, msg) => this.#peers.get(node)?.link?.send(encodeValue(msg)),
      // Removing a member this node still hears would cut off a live node: vote no.
      mayAccept: (body) => {
        const c = this.#opts.store.changeOf(body);
        if (c === null || c[0] !== "remove" || c[1] === body.w.node) return true; // a leave
        const p = this.#peers.get(c[1]);
        return p === undefined || this.env.monotonicMs() - p.lastHeardMs >= this.#aliveWindow();
      },
      // From a yes to a member's removal on, its records are not taken: the removal may be chosen
      // from then on, and the others then stop waiting for it (see #message).
      votedYes: (body) => {
        const c = this.#opts.store.changeOf(body);
        if (c !== null && c[0] === "remove") this.#fenced.add(c[1]);
      },
      decided: (body, committed) => {
        const c = this.#opts.store.changeOf(body);
        if (c !== null && c[0] === "remove" && !committed) this.#fenced.delete(c[1]);
      },
    }, opts.envelopes);
    this.#refreshMembers();
    this.#updateStability();
    this.#schedule();
  }

  get nodeId(): string {
    return this.engine.writer.node;
  }

  /** Current members (this node included once it joined). */
  members(): readonly Member[] {
    return this.#members;
  }

  /**
   * How many other members have durably logged effect (w, seq), as their newest statuses say
   * (WAIT, WAITAOF). Statuses come every heartbeat, so the count lags by up to one.
   */
  acknowledgedBy(w: Writer, seq: number): number {
    let n = 0;
    for (const m of this.#members) {
      if (m.node === this.nodeId) continue;
      const st = this.#peers.get(m.node)?.statuses;
      const q = st === undefined || st.length === 0 ? undefined : st[st.length - 1];
      if (q === undefined) continue;
      if ((q.have.get(w) ?? 0) >= seq || (q.ahead?.some(([aw, as]) => aw === w && as === seq) ?? false)) n++;
    }
    return n;
  }

  /** True when this node is one of several members: exclusive commands need envelopes. */
  multiNode(): boolean {
    return this.#members.length > 1;
  }

  /** Members this node should dial (the smaller node id of a pair dials) and is not linked to. */
  dialTargets(): Member[] {
    // The smaller node id of a pair dials. The other dials too once the pair has been apart for
    // a while: the smaller one may no longer count it as a member (it was removed) and would
    // never call, while only a link can tell it so.
    const now = this.env.monotonicMs();
    return this.#members.filter((m) => {
      if (m.node === this.nodeId) return false;
      const p = this.#peers.get(m.node);
      if (p?.link != null) return false;
      return m.node > this.nodeId || now - (p?.lastHeardMs ?? this.#startedMs) > FALLBACK_DIAL_MS;
    });
  }

  /** True while this node asked to join and is not a member yet. */
  needsJoin(): boolean {
    // A clustered node missing from its own membership (joining, or removed while away) asks.
    return this.#rejoining ||
      ((this.#joining || this.engine.clustered) && !this.#members.some((m) => m.node === this.nodeId));
  }

  /**
   * Set from "you were removed" until a seed says the new incarnation joined: the local view of
   * the membership may still list this node (the removal has not reached it), so it cannot tell.
   */
  #rejoining = false;

  /** True when the shell should dial a seed: joining, and no join link is open. */
  wantsSeed(): boolean {
    return this.needsJoin() && this.#joinLinks === 0;
  }

  /** The members key's token when it was last read. */
  #storeVersion = "";

  /** Set while this node joined in this process and not every member has said it knows. */
  #newMember = false;

  /** Set from a restart of a member until a majority of members confirmed it still is one. */
  #restarted = false;

  /** When this node last asked to join. */
  #lastJoinMs = 0;

  /** Open links dialed to seeds to join. */
  #joinLinks = 0;

  /** Starts asking seeds to let this node join (the shell dials them and calls `connected`). */
  startJoin(): void {
    this.#joining = true;
    this.engine.becomeClustered();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) this.env.clearTimer(this.#timer);
    this.engine.onRecord = null;
    for (const p of this.#peers.values()) p.link?.close("node stopping");
  }

  // ---------------------------------------------------------------- links

  /**
   * A new connection (dialed or accepted). `join` marks a dial to a seed while joining. Returns
   * the handlers the shell calls with each received message and when the link closes.
   */
  connected(
    link: Link,
    opts: { join?: boolean; dialed?: boolean } = {},
  ): { receive(msg: Uint8Array): void; closed(): void } {
    const dialed = opts.dialed ?? opts.join ?? false;
    let peer: Peer | null = null;
    const w = this.engine.writer;
    let joinLink = opts.join === true;
    const hello = (p: Peer | undefined) =>
      encodeValue([
        MSG.hello,
        w.node,
        w.inc,
        this.#opts.self.cluster,
        p?.in.receivedUpTo() ?? 0,
        p?.inc ?? 0,
        joinLink,
      ]);
    link.send(hello(undefined));
    if (joinLink) this.#joinLinks++;
    if (opts.join === true) {
      this.#lastJoinMs = this.env.monotonicMs();
      link.send(encodeValue([MSG.join, w.node, this.#opts.self.redis, this.#opts.self.cluster]));
    }
    return {
      receive: (bytes) => {
        if (this.#stopped) return;
        let msg: unknown[];
        try {
          msg = decodeValue(bytes) as unknown[];
          if (!Array.isArray(msg)) throw new Error("not an array");
        } catch (e) {
          link.close(`malformed message: ${(e as Error).message}`);
          return;
        }
        try {
          if (peer === null) {
            if (msg[0] !== MSG.hello) throw new Error("first message is not hello");
            // The dialer says whether this link carries a join request (it must survive).
            peer = this.#hello(link, msg, dialed, joinLink || msg[6] === true);
            if (peer === null) return;
            // The hello we sent carried nothing about this peer's session yet: resend it now.
            link.send(hello(peer));
            return;
          }
          peer.lastHeardMs = this.env.monotonicMs();
          this.#message(peer, link, msg);
        } catch (e) {
          this.env.log("warn", "peer link dropped", { peer: peer?.node, error: (e as Error).message });
          link.close((e as Error).message);
        }
      },
      closed: () => {
        if (joinLink) {
          joinLink = false;
          this.#joinLinks--;
        }
        // Any peer still pointing at this link lets go of it (also one whose handshake failed
        // half-way, before this closure learned which peer it was).
        for (const p of this.#peers.values()) {
          if (p.link === link) {
            p.link = null;
            p.aePending = null;
          }
        }
        for (const [node, l] of this.#joinWaiters) if (l === link) this.#joinWaiters.delete(node);
      },
    };
  }

  #peer(node: string, cluster: string): Peer {
    let p = this.#peers.get(node);
    if (p === undefined) {
      p = {
        node,
        cluster,
        inc: 0,
        link: null,
        out: new OutboundSession(this.#opts.sessionLimits),
        in: new InboundSession(),
        statuses: [],
        view: "",
        clockMs: 0,
        lastStatusMs: 0,
        lastHeardMs: this.env.monotonicMs(),
        unacked: 0,
        aeRound: 0,
        aePending: null,
        aeDueMs: 0,
        aeBuckets: AE_BUCKETS,
        aeNeeded: false,
      };
      this.#peers.set(node, p);
    }
    return p;
  }

  #hello(link: Link, msg: unknown[], dialed: boolean, joinLink: boolean): Peer | null {
    const [, node, inc, cluster, recvUpTo, yourInc] = msg as [number, string, number, string, number, number];
    if (typeof node !== "string" || typeof inc !== "number" || node === this.nodeId) {
      link.close("bad hello");
      return null;
    }
    if (this.#removed.has(node) && !this.#members.some((m) => m.node === node)) {
      // It was removed while away: it must rejoin under a new incarnation.
      link.send(encodeValue([MSG.removed]));
    }
    const p = this.#peer(node, cluster);
    p.cluster = cluster;
    if (p.inc !== inc) {
      // A new incarnation: its inbound session restarts; what it never acknowledged is resent.
      if (p.inc !== 0) {
        const pending = p.out.pending();
        p.out = new OutboundSession(this.#opts.sessionLimits);
        for (const x of pending) p.out.send(x);
      }
      p.in = new InboundSession();
      p.inc = inc;
      p.aePending = null;
    }
    if (p.link !== null && p.link !== link) {
      // Two links to one peer (both dialed at once): keep the one the smaller node id dialed,
      // so both ends make the same choice, unless the old one has gone quiet.
      const preferNew = (dialed ? this.nodeId : node) < (dialed ? node : this.nodeId);
      const quiet = this.env.monotonicMs() - p.lastHeardMs > this.#aliveWindow();
      // A join link always wins: the join request and its answer travel on it.
      if (!preferNew && !quiet && !joinLink) {
        link.close("a link to this peer already exists");
        return null;
      }
      p.link.close("replaced by a newer link");
    }
    p.aePending = null;
    p.link = link;
    p.lastHeardMs = this.env.monotonicMs();
    p.out.reconnected(yourInc === this.engine.writer.inc ? Math.min(recvUpTo, p.out.lastSeq()) : 0);
    this.#flush(p);
    this.#sendStatus(p);
    p.aeDueMs = 0;
    return p;
  }

  #message(p: Peer, link: Link, msg: unknown[]): void {
    if (
      (msg[0] === MSG.frame || msg[0] === MSG.aeDigest || msg[0] === MSG.aeVersions ||
        msg[0] === MSG.aeNudge) &&
      (this.#fenced.has(p.node) ||
        (this.#removed.has(p.node) && !this.#members.some((m) => m.node === p.node)))
    ) {
      // A removed node's records are not taken: what it wrote that no member holds, it writes
      // again under its new identity (see #onRemoved), so nothing of it lands behind a fold.
      return;
    }
    switch (msg[0]) {
      case MSG.hello:
        // The second hello of the handshake: now it knows our session, so its count is exact.
        if (msg[5] === this.engine.writer.inc) p.out.ack(Math.min(msg[4] as number, p.out.lastSeq()));
        return;
      case MSG.frame: {
        const r = p.in.receive({ seq: msg[1] as number, payload: msg[2] as Uint8Array });
        if (r === "gap") throw new Error(`session gap at frame ${msg[1]}`);
        if (r === null) return;
        this.stats.framesReceived++;
        if (!this.engine.ingest(r)) {
          // Stamped too far ahead of our clock: not taken, not acknowledged. The session stops
          // here (taking later frames would break its order) and resends from it on the next
          // link, until the clocks agree.
          this.stats.recordsRefused++;
          p.in.rewind(msg[1] as number);
          throw new Error("a record stamped beyond --max-clock-offset ahead of our clock; retrying later");
        }
        if (++p.unacked >= 64) this.#ack(p);
        return;
      }
      case MSG.ack:
        if ((msg[1] as number) > p.out.lastSeq()) throw new Error("ack beyond the frames sent");
        p.out.ack(msg[1] as number);
        this.#flush(p);
        return;
      case MSG.status: {
        const flat = msg[1] as (string | number)[];
        const have = new Map<Writer, number>();
        for (let i = 0; i < flat.length; i += 3) {
          have.set(Writer.of(flat[i] as string, flat[i + 1] as number), flat[i + 2] as number);
        }
        p.clockMs = msg[2] as number;
        // Seqs it holds beyond its frontiers (null: too many to list; the status is then unusable).
        let ahead: [Writer, number][] | null = null;
        if (Array.isArray(msg[4])) {
          const fa = msg[4] as (string | number)[];
          ahead = [];
          for (let i = 0; i < fa.length; i += 3) {
            ahead.push([Writer.of(fa[i] as string, fa[i + 1] as number), fa[i + 2] as number]);
          }
        }
        p.statuses.push({ have, ahead, clockMs: p.clockMs });
        p.lastStatusMs = this.env.monotonicMs();
        if (p.statuses.length > MAX_STATUSES) p.statuses.shift();
        p.view = typeof msg[3] === "string" ? msg[3] : "";
        return;
      }
      case MSG.aeDigest:
        return this.#aeDigest(
          link,
          msg[1] as number,
          msg[2] as Uint8Array,
          msg[3] as number,
          msg[4] as number,
        );
      case MSG.aeVersions:
        return this.#aeVersions(p, msg);
      case MSG.aeNudge:
        if (p.aePending === null) p.aeDueMs = 0;
        return;
      case MSG.join:
        return this.#join(link, msg[1] as string, msg[2] as string, msg[3] as string);
      case MSG.joined:
        if (msg[1] === true) {
          // A member now; the membership itself arrives with anti-entropy from the seed.
          this.joined = true;
          this.#rejoining = false;
          p.aeDueMs = 0;
        } else {
          this.env.log("warn", "join refused", { by: p.node, why: msg[2] });
          // Try another seed (or this one again, later).
          link.close("join refused");
        }
        return;
      case MSG.removed:
        return this.#onRemoved(p, link);
      case 20:
      case 21:
      case 22:
      case 23:
      case 24:
      case 25:
      case 26:
        return this.envelopes.onMessage(p.node, msg);
      default:
        throw new Error(`unknown message type ${String(msg[0])}`);
    }
  }

  // ---------------------------------------------------------------- effects

  #broadcast(record: Uint8Array): void {
    for (const m of this.#members) {
      if (m.node === this.nodeId) continue;
      const p = this.#peer(m.node, m.cluster);
      this.#sendFrame(p, record);
    }
  }

  #sendFrame(p: Peer, payload: Uint8Array): void {
    if (!p.out.send(payload)) {
      // The peer is too far behind to keep everything for it: anti-entropy repairs it later.
      this.stats.sessionOverflows++;
      p.aeNeeded = true;
      return;
    }
    this.#flush(p);
  }

  #flush(p: Peer): void {
    if (p.link === null) return;
    for (;;) {
      const frames = p.out.take(FLUSH_FRAMES);
      if (frames.length === 0) return;
      for (const f of frames) {
        p.link.send(encodeValue([MSG.frame, f.seq, f.payload]));
        this.stats.framesSent++;
      }
    }
  }

  #ack(p: Peer): void {
    p.unacked = 0;
    p.link?.send(encodeValue([MSG.ack, p.in.receivedUpTo()]));
  }

  #sendStatus(p: Peer): void {
    if (p.link === null) return;
    const flat: (string | number)[] = [];
    for (const [w, seq] of this.engine.durableHave()) flat.push(w.node, w.inc, seq);
    const held = this.engine.durableAhead();
    let ahead: (string | number)[] | null = null;
    if (held.length <= MAX_STATUS_AHEAD) {
      ahead = [];
      for (const [w, seq] of held) ahead.push(w.node, w.inc, seq);
    }
    p.link.send(encodeValue([MSG.status, flat, hlcMs(this.engine.hlc.peek()), this.#membersText, ahead]));
  }

  /**
   * What every member has, per writer: the minimum of what each advertised. A node that is not
   * in the membership it knows (joining, or removed) folds nothing: it cannot tell who else must
   * have an effect first, and a base that holds what the cluster never saw could not be merged.
   */
  #updateStability(): void {
    const inView = this.#members.some((m) => m.node === this.nodeId);
    const others = this.#members.filter((m) => m.node !== this.nodeId);
    const stable = new Map<Writer, number>();
    // Expiry may free a value only below every member's clock as of a status this node has
    // caught up with: no effect stamped before that can still arrive (same argument as below).
    let safe = inView ? hlcMs(this.engine.hlc.peek()) : 0;
    if (!this.engine.clustered || (inView && others.length === 0)) {
      this.engine.setMembers([]);
    } else {
      this.engine.setMembers(inView ? this.#members.map((m) => m.node) : [this.nodeId, "(unknown)"]);
      const mine = this.engine.have();
      // Per member, the newest status whose every effect this node has too. An effect that
      // member had is then here, so nothing it wrote before acknowledging can arrive later and
      // sort before what becomes stable (the session order argument of DESIGN.md section 3).
      const acks: Map<Writer, number>[] = [];
      for (const m of inView ? others : []) {
        const p = this.#peers.get(m.node);
        let q: { have: Map<Writer, number>; clockMs: number } | undefined;
        const st = p?.statuses ?? [];
        for (let i = st.length - 1; i >= 0 && q === undefined; i--) {
          if (this.#opts.plantedBugUnorderedStability) q = st[i];
          else if (covers(mine, st[i].have) && this.#holdsAll(st[i].ahead)) q = st[i];
          else if (this.#namesLostIncarnation(st[i], mine)) break;
        }
        if (q === undefined) {
          acks.length = 0;
          safe = 0;
          break;
        }
        acks.push(q.have);
        safe = Math.min(safe, q.clockMs);
      }
      if (acks.length === others.length && inView) {
        for (const [w, seq] of mine) {
          let min = seq;
          for (const q of acks) min = Math.min(min, q.get(w) ?? 0);
          if (min > 0) stable.set(w, min);
        }
      }
    }
    this.engine.setStable(stable);
    this.engine.expirySafeMs = this.engine.clustered && (others.length > 0 || !inView) ? safe : Infinity;
  }

  /**
   * True when a status names an effect this node lacks from an incarnation that is over (its
   * node restarted). Such an effect travels only by anti-entropy now, so it can reach the member
   * after that member's older statuses: those older statuses then do not show everything that
   * may still arrive here and sort early, and only a status this node has caught up with
   * entirely, from here on, can make anything stable.
   */
  #namesLostIncarnation(
    status: { have: Map<Writer, number>; ahead: [Writer, number][] | null },
    mine: Map<Writer, number>,
  ): boolean {
    const over = (w: Writer) => {
      const inc = w.node === this.nodeId ? this.engine.writer.inc : this.#peers.get(w.node)?.inc ?? 0;
      return inc !== 0 && w.inc % ENVELOPE_INC < inc;
    };
    for (const [w, seq] of status.have) if ((mine.get(w) ?? 0) < seq && over(w)) return true;
    for (const [w, seq] of status.ahead ?? []) if (!this.engine.hasSeq(w, seq) && over(w)) return true;
    return false;
  }

  /** True when this node holds every out-of-order effect a status lists. */
  #holdsAll(ahead: [Writer, number][] | null): boolean {
    if (ahead === null) return false;
    for (const [w, seq] of ahead) if (!this.engine.hasSeq(w, seq)) return false;
    return true;
  }

  /**
   * Why client writes must wait, or null. A node writes only once every member has it in its
   * membership (DESIGN.md section 5): until then a member could fold an effect as stable without
   * waiting for this node, and a concurrent write from here would land behind it on some nodes.
   */
  writeBlocked(): string | null {
    if (!this.engine.clustered) return null;
    if (this.engine.identityPending()) {
      return "this node started over and its new identity is not durable yet";
    }
    if (!this.#members.some((m) => m.node === this.nodeId)) {
      this.#newMember = true;
      return "this node is not a member of the cluster yet (joining)";
    }
    if (this.#restarted) {
      // A member that restarted may have been removed while it was away: it writes again once
      // a majority of the members (which any removal needs) still count it in.
      let confirmed = 1;
      for (const m of this.#members) {
        const view = m.node === this.nodeId ? "" : this.#peers.get(m.node)?.view ?? "";
        if (view.split(";").some((x) => x.startsWith(`${this.nodeId}=`))) confirmed++;
      }
      if (confirmed < Math.floor(this.#members.length / 2) + 1) {
        return "this node restarted and a majority of the members has not confirmed it is still a member";
      }
      this.#restarted = false;
    }
    // A node that was a member before this process started is known to all of them already.
    if (!this.#newMember) return null;
    for (const m of this.#members) {
      if (m.node === this.nodeId) continue;
      const view = this.#peers.get(m.node)?.view ?? "";
      if (!view.split(";").some((x) => x.startsWith(`${this.nodeId}=`))) {
        return `member ${m.node} does not know this node yet`;
      }
    }
    this.#newMember = false;
    return null;
  }

  // ---------------------------------------------------------------- anti-entropy

  #startRound(p: Peer): void {
    if (p.link === null) return;
    p.aeRound++;
    this.stats.aeRounds++;
    // Effects younger than the grace are most likely in flight in the sessions: not compared.
    const cutoff = hlcFromMs(this.env.wallMs() - AE_GRACE_MS);
    p.aePending = {
      round: p.aeRound,
      claims: this.engine.claimsAt(cutoff),
      startedMs: this.env.monotonicMs(),
      cutoff,
    };
    p.aeNeeded = false;
    // Buckets scale with the keyspace (a few keys per bucket), up to AE_BUCKETS.
    let buckets = 16;
    while (buckets < AE_BUCKETS && buckets * 8 < this.engine.keyCount()) buckets *= 2;
    p.aeBuckets = buckets;
    const digest = this.engine.digest(buckets, cutoff);
    p.link.send(encodeValue([MSG.aeDigest, p.aeRound, new Uint8Array(digest.buffer), buckets, cutoff]));
  }

  #aeDigest(link: Link, round: number, theirs: Uint8Array, buckets: number, cutoff: number): void {
    if (!(Number.isInteger(buckets) && buckets >= 1 && buckets <= AE_BUCKETS)) {
      throw new Error("bad bucket count");
    }
    if (typeof cutoff !== "number") throw new Error("bad cutoff");
    const mine = this.engine.digest(buckets, cutoff);
    // A copy: the decoder may hand out a view into a larger buffer.
    const t = new Uint32Array(Uint8Array.from(theirs).buffer);
    if (t.length !== mine.length) throw new Error("digest of another size");
    const differing: number[] = [];
    for (let b = 0; b < buckets; b++) {
      if (mine[2 * b] !== t[2 * b] || mine[2 * b + 1] !== t[2 * b + 1]) differing.push(b);
    }
    let versions = this.engine.versionsIn(new Set(differing), buckets, cutoff);
    let complete = true;
    if (versions.length > AE_MAX_VERSIONS) {
      // Too many to send at once: this round covers some buckets, the next ones the rest.
      complete = false;
      const keep = new Set(
        differing.slice(0, Math.max(1, Math.floor(differing.length * AE_MAX_VERSIONS / versions.length))),
      );
      differing.length = 0;
      differing.push(...keep);
      versions = this.engine.versionsIn(keep, buckets, cutoff);
    }
    link.send(encodeValue([MSG.aeVersions, round, complete, differing, versions]));
  }

  #aeVersions(p: Peer, msg: unknown[]): void {
    const [, round, complete, differing, versions] = msg as [
      number,
      number,
      boolean,
      number[],
      [number, string, (string | number)[]][],
    ];
    const pending = p.aePending;
    if (pending === null || pending.round !== round) return;
    p.aePending = null;
    const buckets = new Set(differing);
    const { ship, peerAhead } = this.engine.compare(versions, buckets, p.aeBuckets, pending.cutoff);
    this.stats.keysShipped += ship.length;
    const from = this.nodeId;
    let first = true;
    for (let i = 0; i < ship.length || first; i += DUMP_KEYS) {
      const last = i + DUMP_KEYS >= ship.length;
      const record = this.engine.dump(ship.slice(i, i + DUMP_KEYS), {
        from,
        roundStart: first,
        claims: last && complete ? pending.claims : null,
        cutoff: pending.cutoff,
      });
      first = false;
      this.#sendFrame(p, record);
    }
    if (!complete) p.aeDueMs = 0;
    if (peerAhead) p.link?.send(encodeValue([MSG.aeNudge]));
  }

  // ---------------------------------------------------------------- membership

  #refreshMembers(): void {
    const version = this.#opts.store.version();
    if (version === this.#storeVersion && this.#membersText !== "") return;
    this.#storeVersion = version;
    const { members, removed } = this.#opts.store.read();
    if (this.engine.clustered && !members.some((m) => m.node === this.nodeId)) this.#newMember = true;
    members.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    const text = members.map((m) => `${m.node}=${m.redis},${m.cluster}`).join(";");
    this.#removed = new Set(removed);
    if (this.#removed.has(this.nodeId) && this.engine.clustered) {
      // Its own removal reached it (it was away): a removed id never comes back.
      this.#startOver("its removal is in the membership it holds");
      return;
    }
    for (const node of removed) if (!members.some((m) => m.node === node)) this.#fenceRemoved(node);
    if (text === this.#membersText) return;
    this.#membersText = text;
    const before = new Set(this.#members.map((m) => m.node));
    this.#members = members;
    if (members.some((m) => m.node === this.nodeId)) this.#joining = false;
    for (const m of members) {
      if (m.node === this.nodeId) continue;
      const p = this.#peer(m.node, m.cluster);
      if (!before.has(m.node)) {
        p.lastHeardMs = Math.max(p.lastHeardMs, this.env.monotonicMs());
        p.aeDueMs = 0;
      }
    }
    if (members.length > 1) this.engine.becomeClustered();
    for (const [node, link] of this.#joinWaiters) {
      if (members.some((m) => m.node === node)) {
        link.send(encodeValue([MSG.joined, true, null]));
        this.#joinWaiters.delete(node);
      }
    }
    this.#updateStability();
  }

  /** A node asks to join through this one. */
  #join(link: Link, node: string, redis: string, cluster: string): void {
    if (this.#removed.has(node)) {
      // A removed node id never comes back: it starts over as a new node (see #startOver).
      link.send(encodeValue([MSG.removed]));
      return;
    }
    if (this.needsJoin() || (this.engine.clustered && !this.#members.some((m) => m.node === this.nodeId))) {
      // Not a member (yet, or any more): only a member may vouch for a newcomer.
      link.send(encodeValue([MSG.joined, false, "not a member yet"]));
      return;
    }
    if (this.#members.some((m) => m.node === node && m.cluster === cluster && m.redis === redis)) {
      link.send(encodeValue([MSG.joined, true, null]));
      return;
    }
    const now = this.env.monotonicMs();
    const silent = this.#members.find((m) =>
      m.node !== this.nodeId && m.node !== node &&
      now - (this.#peers.get(m.node)?.lastHeardMs ?? 0) >= this.#aliveWindow()
    );
    if (silent !== undefined) {
      // One change at a time, and the removal of a dead member comes first: a majority that
      // needs the dead one's vote could never add anyone.
      link.send(encodeValue([MSG.joined, false, `member ${silent.node} is unreachable`]));
      return;
    }
    this.#joinWaiters.set(node, link);
    if (this.#members.length === 0) {
      // A cluster of one that never wrote itself down: it is the whole membership.
      this.engine.becomeClustered();
      this.#opts.store.write(["add", { node: this.nodeId, ...this.#opts.self }]);
      this.#refreshMembers();
    }
    this.propose(["add", { node, redis, cluster }], (ok, why) => {
      if (!ok) link.send(encodeValue([MSG.joined, false, why]));
    });
  }

  /**
   * Proposes a membership change: an envelope on the members key, committed when a strict
   * majority of the current members accepts it (DESIGN.md section 5); `done` says whether it
   * committed. One change at a time from this node; the members key's lock serializes them
   * across nodes.
   */
  propose(change: MemberChange, done: (ok: boolean, why: string) => void): boolean {
    this.env.log("info", "membership change proposed", { change: JSON.stringify(change) });
    if (this.#proposing) {
      done(false, "another membership change is in flight");
      return false;
    }
    this.#proposing = true;
    this.envelopes.commit(this.#opts.store.plan(change), (o) => {
      this.#proposing = false;
      const ok = o.kind === "committed";
      const why = o.kind === "committed"
        ? ""
        : o.kind === "busy"
        ? "another membership change is undecided"
        : o.why;
      this.env.log("info", "membership change decided", { change: JSON.stringify(change), ok, why });
      if (ok) this.stats.membershipChanges++;
      this.#refreshMembers();
      done(ok, why);
    }, "majority");
    return true;
  }

  /**
   * This node was removed while it was away (DESIGN.md section 5). Its data may hold writes the
   * members never saw, and they fold without waiting for it since its removal: such writes, sent
   * now with their old ids, could land behind what they folded. So it starts over as a new node
   * (new node id, no data), joins again, catches up like any new member, and then writes again,
   * as new effects on the current state, what its old identity wrote that the cluster lacks.
   */
  #onRemoved(p: Peer, link: Link): void {
    if (this.needsJoin()) return;
    link.close("this node starts over as a new node");
    this.#startOver(`told by ${p.node}`);
  }

  #startOver(why: string): void {
    this.env.log("warn", "this node was removed from the cluster; it starts over as a new node and joins", {
      why,
    });
    const old = this.nodeId;
    // The members it knew are where it asks to join again (a node started without --join has
    // no other seeds).
    for (const m of this.#members) if (m.node !== old) this.#seedHints.add(m.cluster);
    const mine = this.engine.startAsNewNode();
    this.#reemit = mine.slice(0, MAX_REEMIT);
    this.#reemitAfterClaims = this.engine.stats.claimsAdopted;
    const links = [...this.#peers.values()].map((q) => q.link);
    this.#peers.clear();
    for (const l of links) l?.close("this node starts over as a new node");
    this.envelopes.reset();
    this.#members = [];
    this.#removed = new Set();
    this.#membersText = "";
    this.#storeVersion = "";
    this.#joining = true;
    this.#rejoining = true;
    this.#newMember = true;
    this.#restarted = false;
    this.#refreshMembers();
    this.env.log("warn", "new node id", { old, now: this.nodeId, toWriteAgain: this.#reemit.length });
  }

  /** `node` was removed: its records are not taken, and its effects held here are dropped. */
  #fenceRemoved(node: string): void {
    if (this.#droppedHeld.has(node)) return;
    this.#droppedHeld.add(node);
    this.#fenced.add(node);
    this.engine.dropHeldOf(node);
  }

  /** Removed nodes whose held effects were dropped. */
  readonly #droppedHeld = new Set<string>();

  /** Cluster addresses of members known before this node started over: seeds to rejoin through. */
  readonly #seedHints = new Set<string>();

  /** Where to ask to join besides the configured seeds. */
  seedHints(): string[] {
    return [...this.#seedHints].slice(0, 16);
  }

  /** Effects of this node's old identity still to be written again (see #onRemoved). */
  reemitPending(): number {
    return this.#reemit.length;
  }

  /** What the old identity of this node wrote, to write again once it is back (see #onRemoved). */
  #reemit: Effect[] = [];
  #reemitAfterClaims = 0;
  /** When this node, started over, was first writable and caught up (0: not yet). */
  #reemitReadyMs = 0;

  /**
   * Once this node (started over after a removal) is a writable member holding the cluster's
   * state, its old identity's effects the cluster lacks are written again as new effects.
   */
  #maybeReemit(): void {
    const now = this.env.monotonicMs();
    if (this.writeBlocked() !== null || this.engine.stats.claimsAdopted <= this.#reemitAfterClaims) {
      this.#reemitReadyMs = 0;
      return;
    }
    // Members may hold different parts of what the old identity wrote (each took its records until
    // it voted for the removal): wait for a status from every member, then skip what any names.
    if (this.#reemitReadyMs === 0) this.#reemitReadyMs = now;
    const others = this.#members.filter((m) => m.node !== this.nodeId);
    const fresh = (m: Member) => {
      const p = this.#peers.get(m.node);
      return p !== undefined && p.statuses.length > 0 &&
        p.lastStatusMs >= this.#reemitReadyMs + REEMIT_SETTLE_MS;
    };
    if (now < this.#reemitReadyMs + REEMIT_SETTLE_MS || !others.every(fresh)) return;
    const statuses = others.map((m) => this.#peers.get(m.node)!.statuses.at(-1)!);
    const named = (w: Writer, seq: number) =>
      statuses.some((st) =>
        (st.have.get(w) ?? 0) >= seq || (st.ahead ?? []).some(([x, s]) => x === w && s === seq)
      );
    const list = this.#reemit;
    this.#reemit = [];
    let n = 0;
    for (const e of list) {
      if (this.engine.hasEffect(e.db, e.key, e.w, e.seq) || named(e.w, e.seq)) continue;
      const b = this.engine.begin();
      for (const op of e.ops) b.write(e.db, e.key, op);
      b.commit(() => {});
      n++;
    }
    this.env.log("warn", "wrote again what this node wrote before its removal and the cluster lacked", {
      effects: n,
      of: list.length,
    });
  }

  /** Leaves the cluster (graceful shutdown): the majority removes this node; `done` either way. */
  leave(done: () => void): void {
    if (this.#members.length <= 1 || !this.#members.some((m) => m.node === this.nodeId)) return done();
    const tryLeave = (attempt: number) => {
      this.propose(["remove", this.nodeId], (ok) => {
        if (ok || attempt >= 3) return done();
        this.env.setTimer(100 + Math.floor(this.env.random() * 200), () => tryLeave(attempt + 1));
      });
    };
    tryLeave(1);
  }

  // ---------------------------------------------------------------- the clock

  #schedule(): void {
    this.#timer = this.env.setTimer(this.#opts.heartbeatMs, () => {
      if (this.#stopped) return;
      this.tick();
      this.#schedule();
    });
  }

  /** Periodic work: acks, status, stability, anti-entropy, proposals, failure detection. */
  tick(): void {
    const now = this.env.monotonicMs();
    this.#refreshMembers();
    for (const p of this.#peers.values()) {
      if (p.link === null) continue;
      if (now - p.lastHeardMs > SILENT_LINK_MS) {
        // Heard nothing for many heartbeats: the link is likely dead (a cut, or a peer that
        // stopped) and TCP may take minutes to say so; a new one is dialed.
        p.link.close("no heartbeat from the peer");
        continue;
      }
      if (p.unacked > 0) this.#ack(p);
      this.#sendStatus(p);
      const isMember = this.#members.some((m) => m.node === p.node);
      if (p.aePending !== null && now - p.aePending.startedMs > 10_000) p.aePending = null;
      if (isMember && p.aePending === null && (now >= p.aeDueMs || p.aeNeeded)) {
        p.aeDueMs = now + this.#opts.antiEntropyMs * (0.75 + 0.5 * this.env.random());
        this.#startRound(p);
      }
    }
    this.#updateStability();
    this.envelopes.tick();
    if (this.#reemit.length > 0) this.#maybeReemit();
    if (this.needsJoin() && now - this.#lastJoinMs > REJOIN_ASK_MS) {
      // Still not a member a while after asking (a seed with a stale view said yes, or the
      // answer was lost): ask again, on any open link.
      const p = [...this.#peers.values()].find((x) => x.link !== null);
      if (p !== undefined) {
        this.#lastJoinMs = now;
        const w = this.engine.writer;
        p.link!.send(encodeValue([MSG.join, w.node, this.#opts.self.redis, this.#opts.self.cluster]));
      }
    }
    this.#detectFailures(now);
  }

  /** A member silent for `--member-timeout` is proposed for removal by the lowest live member. */
  #detectFailures(now: number): void {
    if (this.#proposing || this.#members.length <= 1) return;
    if (!this.#members.some((m) => m.node === this.nodeId)) return;
    const alive = (node: string) =>
      node === this.nodeId ||
      now - (this.#peers.get(node)?.lastHeardMs ?? this.#startedMs) < this.#aliveWindow();
    const lowestAlive = this.#members.map((m) => m.node).filter(alive)[0];
    if (lowestAlive !== this.nodeId) return;
    for (const m of this.#members) {
      if (m.node === this.nodeId) continue;
      const heard = Math.max(this.#peers.get(m.node)?.lastHeardMs ?? 0, this.#startedMs);
      if (now - heard > this.#opts.memberTimeoutMs) {
        this.env.log("warn", "removing a member dead past --member-timeout", { node: m.node });
        this.propose(["remove", m.node], () => {});
        return;
      }
    }
  }

  /** A peer is alive if heard within this window: one missed heartbeat or a short pause is fine. */
  #aliveWindow(): number {
    return Math.max(5 * this.#opts.heartbeatMs, 1500);
  }

  /** Peers heard from recently. */
  alivePeers(): string[] {
    const now = this.env.monotonicMs();
    return [...this.#peers.values()].filter((p) =>
      p.link !== null && now - p.lastHeardMs < this.#aliveWindow()
    ).map((
      p,
    ) => p.node);
  }

  /** The INFO cluster section's fields. */
  info(): Record<string, string | number> {
    const w = this.engine.writer;
    const unstable = this.engine.unstableCounts();
    let pending = 0;
    for (const p of this.#peers.values()) pending += p.out.unacked();
    return {
      cluster_enabled: this.#members.length > 1 ? 1 : 0,
      node_id: w.node,
      incarnation: w.inc,
      members: this.#members.length,
      member_ids: this.#members.map((m) => m.node).join(","),
      alive_peers: this.alivePeers().length,
      writable: this.writeBlocked() === null ? 1 : 0,
      effects_sent: this.stats.framesSent,
      effects_received: this.stats.framesReceived,
      unstable_keys: unstable.keys,
      unstable_effects: unstable.effects,
      pending_acks: pending,
      held_effects: this.engine.heldCount(),
      anti_entropy_rounds: this.stats.aeRounds,
      keys_shipped: this.stats.keysShipped,
      records_refused: this.stats.recordsRefused,
      ...this.envelopes.info(),
    };
  }
}

function covers(a: Map<Writer, number>, b: Map<Writer, number>): boolean {
  for (const [w, seq] of b) if ((a.get(w) ?? 0) < seq) return false;
  return true;
}
