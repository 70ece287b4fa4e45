/**
 * Envelope-commit (DESIGN.md section 4; the exact protocol is in docs/protocol.md), sans-IO.
 *
 * An exclusive command is planned on its originating node into an envelope: per key, the version
 * it read and the ops it writes. Every participant (today: every member) votes once, durably: yes
 * iff every effect it holds on those keys is in the envelope's read versions and it holds no other
 * undecided envelope on them. The outcome is decided by single-decree Paxos among the participants
 * (Gray and Lamport's Paxos Commit with the participants as acceptors): ballot 0 is the fast round,
 * whose only possible value follows from the votes (commit iff all voted yes); any participant
 * finishes an envelope left undecided past the commit timeout with a higher ballot, proposing what
 * a majority reports accepted, else abort. A decision is logged and replicated as a record, so
 * every node folds the same envelopes.
 */
import { decodeValue, encodeValue } from "./codec.ts";
import { type EffectId, type Op, Writer } from "./effect.ts";
import type { Engine } from "./engine.ts";

/** Messages of envelope-commit on a peer link (after the replicator's types). */
export const ENVELOPE_MSG = {
  /** `[20, body]`: originator to participants. */
  envelope: 20,
  /** `[21, id, voter, yes, staleKeys]`: a durable vote, to every participant. */
  vote: 21,
  /** `[22, id, ballot, value, acceptor]`: a durable acceptance, to every participant. */
  accepted: 22,
  /** `[23, id, ballot, body]`: phase 1 of a recovery ballot. */
  prepare: 23,
  /** `[24, id, ballot, ok, accBallot, accValue, vote]`: a durable promise (or a refusal). */
  promise: 24,
  /** `[25, id, ballot, value]`: phase 2 of a recovery ballot. */
  accept: 25,
  /** `[26, id, committed]`: "this envelope is decided" (answer to news of a decided one). */
  decided: 26,
} as const;

/** One key of an envelope: the version the plan read, and what it writes (null: read only). */
export interface EnvelopeKey {
  db: number;
  key: string;
  /** Per writer, the highest seq the originator had applied on the key when it planned. */
  vv: EffectId[];
  /** The key's tips when planned: the deps of the effect (written keys only). */
  deps: readonly EffectId[] | null;
  ops: Op[] | null;
}

/** What the originator plans: the envelope without its id. */
export interface EnvelopePlan {
  hlc: number;
  keys: EnvelopeKey[];
  /** Keys whose staleness means "a watched key changed" (EXEC with WATCH answers nil). */
  watched?: string[];
}

/** An envelope: its id is its effects' first id under the originator's envelope writer. */
export interface EnvelopeBody extends EnvelopePlan {
  id: string;
  w: Writer;
  first: number;
  /** Seqs it takes: one per written key, at least one. */
  size: number;
  /** Participants (node ids, sorted): acceptors and voters. */
  parts: string[];
  /**
   * What commit needs: every participant's yes (data), or a strict majority's (membership
   * changes, DESIGN.md section 5: a dead member must be removable by the others).
   */
  rule: "all" | "majority";
}

/** How an envelope ended for its originator. */
export type Outcome =
  | { kind: "committed" }
  | { kind: "conflict"; why: string; stale: string[] }
  | { kind: "partitioned"; why: string }
  /**
   * This node holds an undecided envelope on a key: nothing was sent; `retry` runs once it is
   * decided, commands that have waited longest first (`since`: when the command first asked).
   */
  | { kind: "busy"; retry: (run: () => void, since: number) => void }
  | { kind: "unknown"; why: string };

/** What the envelope module needs from the node around it. */
export interface EnvelopeHost {
  self(): string;
  /** Current members, sorted node ids (this node included). */
  members(): string[];
  /** True when a link to `node` is up and it was heard from recently. */
  alive(node: string): boolean;
  /** Sends a message on the link to `node` (dropped when there is none). */
  send(node: string, msg: unknown[]): void;
  /** Whether this node may vote yes on a membership change (majority rule); default yes. */
  mayAccept?(body: EnvelopeBody): boolean;
  /** This node voted yes on an envelope (before the vote is sent). */
  votedYes?(body: EnvelopeBody): void;
  /** An envelope this node knew was decided. */
  decided?(body: EnvelopeBody, committed: boolean): void;
}

export interface EnvelopeOptions {
  /** How long the originator waits for an outcome, and how long before anyone recovers. */
  commitTimeoutMs?: number;
  /** How long a younger envelope waits for an older conflicting one before voting no. */
  conflictWaitMs?: number;
  /** Test-only planted bug: votes and acceptances are sent before their record is synced. */
  plantedBugAcceptNotFsynced?: boolean;
  /** Test-only planted bug: the originator reports commit once all voted yes, before it is chosen. */
  plantedBugCommitBeforeChosen?: boolean;
}

/** Undecided envelopes kept at most (new ones are refused past it, so memory stays bounded). */
export const MAX_UNDECIDED = 100_000;
/** Ballots: `round * BALLOT_SPAN + participant index + 1`; ballot 0 is the fast round. */
const BALLOT_SPAN = 64;
/** Votes kept for envelopes not received yet (they arrive on other links). */
const MAX_ORPHAN_VOTES = 10_000;

interface State {
  body: EnvelopeBody;
  votes: Map<string, boolean>;
  stale: Set<string>;
  myVote: boolean | null;
  promised: number;
  accBallot: number;
  accValue: boolean | null;
  /** When this node first saw it (monotonic ms): recovery starts a commit timeout later. */
  seenMs: number;
  nextRecoveryMs: number;
  /** A conflicting older envelope holds a key: the vote waits until then at most. */
  waitUntilMs: number;
  /** Acceptances heard, per ballot and value. */
  heard: Map<string, Set<string>>;
  /** Recovery ballot in flight (this node proposes it). */
  recovery: { ballot: number; promises: Map<string, unknown[]>; value: boolean | null } | null;
  /** Set on the originator: the command waiting for the outcome. */
  waiter: ((o: Outcome) => void) | null;
  waiterDeadlineMs: number;
  logged: boolean;
}

export class Envelopes {
  readonly engine: Engine;
  readonly #host: EnvelopeHost;
  readonly #opts: Required<EnvelopeOptions>;
  readonly #states = new Map<string, State>();
  /** `${db}\0${key}` -> the undecided envelope this node voted yes on (its lock). */
  readonly #locks = new Map<string, string>();
  /** Commands waiting for a local envelope to be decided before they plan again. */
  #busyWaiters: { id: string; run: () => void; since: number; queued: number }[] = [];
  readonly #orphanVotes = new Map<string, { votes: Map<string, boolean>; stale: Set<string>; ms: number }>();
  readonly stats = {
    started: 0,
    committed: 0,
    aborted: 0,
    unknown: 0,
    recoveries: 0,
    votesNo: 0,
    waits: 0,
  };

  constructor(engine: Engine, host: EnvelopeHost, opts: EnvelopeOptions = {}) {
    this.engine = engine;
    this.#host = host;
    this.#opts = {
      commitTimeoutMs: opts.commitTimeoutMs ?? 2000,
      conflictWaitMs: opts.conflictWaitMs ?? 100,
      plantedBugAcceptNotFsynced: opts.plantedBugAcceptNotFsynced ?? false,
      plantedBugCommitBeforeChosen: opts.plantedBugCommitBeforeChosen ?? false,
    };
    engine.onEnvelopeDecided = (id, committed) => this.#decided(id, committed);
    // Envelopes undecided at the last stop come back from the log and the checkpoint.
    for (const bytes of engine.undecidedEnvelopes()) this.#restore(bytes);
  }

  get commitTimeoutMs(): number {
    return this.#opts.commitTimeoutMs;
  }

  /** Undecided envelopes known here. */
  undecided(): number {
    return this.#states.size;
  }

  /** The first undecided envelopes and where they stand (diagnostics for logs and the simulator). */
  undecidedSummary(max = 5): string[] {
    const out: string[] = [];
    for (const st of this.#states.values()) {
      if (out.length >= max) break;
      const votes = [...st.votes].map(([n, v]) => `${n.slice(0, 4)}=${v}`).join(",");
      out.push(
        `${st.body.id} ${st.body.rule} parts=${st.body.parts.map((p) => p.slice(0, 4))} keys=${
          st.body.keys.map((k) => k.key)
        } vote=${st.myVote} votes=${votes} promised=${st.promised} acc=${st.accBallot}:${st.accValue}`,
      );
    }
    return out;
  }

  /** Forgets every envelope (this node starts over as a new node); waiting commands get unknown. */
  reset(): void {
    const states = [...this.#states.values()];
    this.#states.clear();
    this.#locks.clear();
    this.#orphanVotes.clear();
    // Commands queued behind this node's envelopes plan again (and learn the node's new state).
    for (const x of this.#busyWaiters) this.engine.env.setTimer(0, x.run);
    this.#busyWaiters = [];
    for (const st of states) {
      if (st.waiter === null) continue;
      const w = st.waiter;
      st.waiter = null;
      w({ kind: "unknown", why: "this node was removed from the cluster while the outcome was undecided" });
    }
  }

  /** Why an envelope cannot start now (a participant is unreachable), or null. */
  unreachable(): string | null {
    for (const m of this.#host.members()) {
      if (m !== this.#host.self() && !this.#host.alive(m)) return `member ${m} is unreachable`;
    }
    return null;
  }

  #noMajority(): string | null {
    const members = this.#host.members();
    const up = members.filter((m) => m === this.#host.self() || this.#host.alive(m)).length;
    return up >= majority(members.length) ? null : `only ${up} of ${members.length} members are reachable`;
  }

  /**
   * Starts an envelope for `plan` on this node (the originator); `done` gets the outcome. Nothing
   * is emitted when a participant is unreachable or this node holds a conflicting envelope.
   */
  commit(plan: EnvelopePlan, done: (o: Outcome) => void, rule: "all" | "majority" = "all"): void {
    if (!this.#host.members().includes(this.#host.self())) {
      // Only a participant can learn the outcome (a command retried after this node lost its
      // membership, say): nothing is sent.
      return done({ kind: "partitioned", why: "this node is not a member of the cluster" });
    }
    const down = rule === "all" ? this.unreachable() : this.#noMajority();
    if (down !== null) return done({ kind: "partitioned", why: down });
    if (this.#states.size >= MAX_UNDECIDED) {
      return done({ kind: "conflict", why: "too many undecided envelopes", stale: [] });
    }
    for (const k of plan.keys) {
      const holder = this.#locks.get(keyId(k.db, k.key));
      if (holder !== undefined) {
        // Local contenders queue behind the holder instead of racing it across the network.
        return done({
          kind: "busy",
          retry: (run, since) => {
            if (this.#busyWaiters.length >= MAX_ORPHAN_VOTES) return this.engine.env.setTimer(10, run);
            // Oldest first, so a command woken and queued again keeps its place (no starvation).
            let at = this.#busyWaiters.length;
            while (at > 0 && this.#busyWaiters[at - 1].since > since) at--;
            this.#busyWaiters.splice(at, 0, {
              id: holder,
              run,
              since,
              queued: this.engine.env.monotonicMs(),
            });
          },
        });
      }
    }
    // Watched keys were read at WATCH time: a write since then (from anywhere) fails EXEC.
    const stale = this.engine.envelopeStale(plan.keys);
    if (stale.length > 0) return done({ kind: "conflict", why: "a key changed since it was read", stale });
    const written = plan.keys.filter((k) => k.ops !== null).length;
    const size = Math.max(1, written);
    const { w, first } = this.engine.reserveEnvelope(size);
    const body: EnvelopeBody = {
      ...plan,
      id: envelopeId(w, first),
      w,
      first,
      size,
      parts: [...this.#host.members()].sort(),
      rule,
    };
    const now = this.engine.env.monotonicMs();
    const st = this.#newState(body, now);
    st.waiter = done;
    st.waiterDeadlineMs = now + this.#opts.commitTimeoutMs;
    this.engine.env.setTimer(this.#opts.commitTimeoutMs, () => this.#expire(st));
    this.stats.started++;
    for (const p of body.parts) {
      if (p !== this.#host.self()) this.#host.send(p, [ENVELOPE_MSG.envelope, encodeBody(body)]);
    }
    this.#vote(st, true, []);
  }

  /** A message from peer `from`. */
  onMessage(from: string, msg: unknown[]): void {
    switch (msg[0]) {
      case ENVELOPE_MSG.envelope:
        return this.#onEnvelope(decodeBody(msg[1]));
      case ENVELOPE_MSG.vote:
        return this.#onVote(msg[1] as string, msg[2] as string, msg[3] as boolean, msg[4] as string[]);
      case ENVELOPE_MSG.accepted:
        return this.#onAccepted(msg[1] as string, msg[2] as number, msg[3] as boolean, msg[4] as string);
      case ENVELOPE_MSG.prepare:
        return this.#onPrepare(from, msg[2] as number, decodeBody(msg[3]));
      case ENVELOPE_MSG.promise:
        return this.#onPromise(from, msg);
      case ENVELOPE_MSG.accept:
        return this.#onAccept(from, msg[1] as string, msg[2] as number, msg[3] as boolean);
      case ENVELOPE_MSG.decided:
        return this.#onDecidedMsg(msg[1] as string, msg[2] as boolean);
    }
  }

  /** Periodic work: deferred votes, originators' deadlines, recovery of stuck envelopes. */
  tick(): void {
    const now = this.engine.env.monotonicMs();
    for (const st of [...this.#states.values()]) {
      if (st.myVote === null && st.waitUntilMs > 0 && now >= st.waitUntilMs) this.#consider(st);
      if (st.waiter !== null && now >= st.waiterDeadlineMs) this.#expire(st);
      if (now >= st.nextRecoveryMs && this.#states.has(st.body.id)) this.#recover(st, now);
    }
    // Commands queued behind an envelope that cannot be decided soon (a member became
    // unreachable, or it is taking long) plan again: they then answer -PARTITIONED or wait anew.
    if (this.#busyWaiters.length > 0) {
      const down = this.unreachable() !== null;
      const woken = this.#busyWaiters.filter((x) => down || now - x.queued >= this.#opts.commitTimeoutMs);
      if (woken.length > 0) {
        this.#busyWaiters = this.#busyWaiters.filter((x) => !woken.includes(x));
        for (const x of woken) this.engine.env.setTimer(0, x.run);
      }
    }
    for (const [id, o] of this.#orphanVotes) {
      if (now - o.ms > 2 * this.#opts.commitTimeoutMs) this.#orphanVotes.delete(id);
    }
  }

  /** The originator gives up waiting: the client hears -TRYAGAIN, the outcome comes later. */
  #expire(st: State): void {
    if (st.waiter === null || this.engine.env.monotonicMs() < st.waiterDeadlineMs) return;
    const w = st.waiter;
    st.waiter = null;
    this.stats.unknown++;
    w({ kind: "unknown", why: "the outcome was not learned within the commit timeout" });
  }

  // ---------------------------------------------------------------- participant

  #newState(body: EnvelopeBody, now: number): State {
    const st: State = {
      body,
      votes: new Map(),
      stale: new Set(),
      myVote: null,
      promised: 0,
      accBallot: -1,
      accValue: null,
      seenMs: now,
      nextRecoveryMs: now + this.#opts.commitTimeoutMs + this.#jitter(),
      waitUntilMs: 0,
      heard: new Map(),
      recovery: null,
      waiter: null,
      waiterDeadlineMs: 0,
      logged: false,
    };
    const orphan = this.#orphanVotes.get(body.id);
    if (orphan !== undefined) {
      this.#orphanVotes.delete(body.id);
      for (const [n, v] of orphan.votes) st.votes.set(n, v);
      for (const k of orphan.stale) st.stale.add(k);
    }
    this.#states.set(body.id, st);
    return st;
  }

  #onEnvelope(body: EnvelopeBody): void {
    const known = this.engine.envelopeDecided(body.id);
    if (known !== undefined) return this.#tellDecided(body.w.node, body.id, known);
    if (this.#states.has(body.id) || !body.parts.includes(this.#host.self())) return;
    if (this.#states.size >= MAX_UNDECIDED) return; // no vote: it aborts, or waits for recovery
    // Our next effects must stamp above the envelope: a write here after our vote is then
    // serialized after it (docs/protocol.md, "Why it is serializable").
    this.engine.hlc.observe(body.hlc);
    const st = this.#newState(body, this.engine.env.monotonicMs());
    this.#consider(st);
  }

  /** Decides this node's vote, or defers it while an older conflicting envelope is undecided. */
  #consider(st: State): void {
    if (st.myVote !== null) return;
    const b = st.body;
    const members = [...this.#host.members()].sort();
    if (members.join(",") !== b.parts.join(",")) return this.#vote(st, false, []);
    for (const k of b.keys) {
      const holder = this.#locks.get(keyId(k.db, k.key));
      if (holder === undefined || holder === b.id) continue;
      const other = this.#states.get(holder);
      if (other === undefined) continue;
      const now = this.engine.env.monotonicMs();
      // Wait-die: a younger envelope waits (a while) for an older one; an older one never
      // waits for a younger, so no two envelopes wait for each other.
      if (older(other.body, b) && st.waitUntilMs === 0) {
        this.stats.waits++;
        st.waitUntilMs = now + this.#opts.conflictWaitMs;
        this.engine.env.setTimer(this.#opts.conflictWaitMs, () => {
          if (this.#states.get(b.id) === st) this.#consider(st);
        });
        return;
      }
      if (older(other.body, b) && now < st.waitUntilMs) return;
      return this.#vote(st, false, []);
    }
    const stale = this.engine.envelopeStale(b.keys);
    const ok = stale.length === 0 && (b.rule === "all" || (this.#host.mayAccept?.(b) ?? true));
    this.#vote(st, ok, stale);
  }

  /**
   * Records this node's vote: a yes durably (then it is sent), a no at once, since a single no
   * decides abort (commit needs every participant's yes) and this node replicates that decision.
   */
  #vote(st: State, yes: boolean, stale: string[]): void {
    const self = this.#host.self();
    st.myVote = yes;
    st.votes.set(self, yes);
    for (const k of stale) st.stale.add(k);
    if (!yes && st.body.rule === "all") {
      this.stats.votesNo++;
      for (const p of st.body.parts) {
        if (p !== self) this.#host.send(p, [ENVELOPE_MSG.vote, st.body.id, self, false, stale]);
      }
      return this.#finish(st, false, true);
    }
    if (!yes) {
      // Under the majority rule a no is one vote among others: recorded durably like a yes.
      this.stats.votesNo++;
      return this.#persist(st, () => {
        for (const p of st.body.parts) {
          if (p !== self) this.#host.send(p, [ENVELOPE_MSG.vote, st.body.id, self, false, stale]);
        }
        this.#fastRound(st);
      });
    }
    for (const k of st.body.keys) this.#locks.set(keyId(k.db, k.key), st.body.id);
    this.#host.votedYes?.(st.body);
    this.#persist(st, () => {
      for (const p of st.body.parts) {
        if (p !== self) this.#host.send(p, [ENVELOPE_MSG.vote, st.body.id, self, true, []]);
      }
      this.#fastRound(st);
    });
  }

  #onVote(id: string, voter: string, yes: boolean, stale: string[]): void {
    const st = this.#states.get(id);
    if (st === undefined) {
      const known = this.engine.envelopeDecided(id);
      if (known !== undefined) return;
      if (this.#orphanVotes.size >= MAX_ORPHAN_VOTES) return;
      let o = this.#orphanVotes.get(id);
      if (o === undefined) {
        this.#orphanVotes.set(
          id,
          o = { votes: new Map(), stale: new Set(), ms: this.engine.env.monotonicMs() },
        );
      }
      o.votes.set(voter, yes);
      for (const k of stale ?? []) o.stale.add(k);
      return;
    }
    st.votes.set(voter, yes);
    for (const k of stale ?? []) st.stale.add(k);
    if (!yes && st.body.rule === "all") return this.#finish(st, false, st.body.w.node === this.#host.self());
    this.#fastRound(st);
  }

  /**
   * Ballot 0: once every vote is known, this acceptor accepts the one value the votes allow
   * (commit iff all said yes), unless it promised a recovery ballot already.
   */
  #fastRound(st: State): void {
    if (st.myVote === null || st.accBallot >= 0 || st.promised > 0) return;
    const value = ballotZero(st.body, st.votes);
    if (value === null) return;
    if (!value) {
      st.accBallot = 0;
      st.accValue = false;
      return this.#persist(st, () => this.#broadcastAccepted(st, 0, false));
    }
    if (this.#opts.plantedBugCommitBeforeChosen && st.waiter !== null) {
      // Planted bug: all voted yes, so the originator reports commit before a majority chose it.
      const w = st.waiter;
      st.waiter = null;
      w({ kind: "committed" });
    }
    st.accBallot = 0;
    st.accValue = true;
    this.#persist(st, () => this.#broadcastAccepted(st, 0, true));
  }

  #broadcastAccepted(st: State, ballot: number, value: boolean): void {
    for (const p of st.body.parts) {
      if (p !== this.#host.self()) {
        this.#host.send(p, [ENVELOPE_MSG.accepted, st.body.id, ballot, value, this.#host.self()]);
      }
    }
    this.#onAccepted(st.body.id, ballot, value, this.#host.self());
  }

  /** An acceptance: a value accepted by a majority at one ballot is chosen. */
  #onAccepted(id: string, ballot: number, value: boolean, acceptor: string): void {
    const st = this.#states.get(id);
    if (st === undefined) return;
    const tag = `${ballot}:${value}`;
    let set = st.heard.get(tag);
    if (set === undefined) st.heard.set(tag, set = new Set());
    set.add(acceptor);
    if (set.size >= majority(st.body.parts.length)) {
      // The proposer of the ballot replicates the decision to everyone (members that are not
      // participants, and participants that missed the acceptances).
      const proposer = ballot === 0 ? st.body.w.node : st.body.parts[(ballot % BALLOT_SPAN) - 1];
      this.#finish(st, value, proposer === this.#host.self());
    }
  }

  // ---------------------------------------------------------------- recovery

  #recover(st: State, now: number): void {
    st.nextRecoveryMs = now + this.#opts.commitTimeoutMs / 2 + this.#jitter();
    const idx = st.body.parts.indexOf(this.#host.self());
    if (idx < 0) return;
    const round = Math.floor(Math.max(st.promised, st.accBallot, 0) / BALLOT_SPAN) + 1;
    const ballot = round * BALLOT_SPAN + idx + 1;
    this.stats.recoveries++;
    st.recovery = { ballot, promises: new Map(), value: null };
    // A participant that never voted cannot vote yes any more: it would race the recovery.
    if (st.myVote === null) {
      st.myVote = false;
      st.votes.set(this.#host.self(), false);
    }
    const enc = encodeBody(st.body);
    for (const p of st.body.parts) {
      if (p !== this.#host.self()) this.#host.send(p, [ENVELOPE_MSG.prepare, st.body.id, ballot, enc]);
    }
    this.#onPrepare(this.#host.self(), ballot, st.body);
  }

  #onPrepare(from: string, ballot: number, body: EnvelopeBody): void {
    const known = this.engine.envelopeDecided(body.id);
    if (known !== undefined) return this.#tellDecided(from, body.id, known);
    let st = this.#states.get(body.id);
    if (st === undefined) {
      // Only a participant holds an envelope (this node may have started over since).
      if (this.#states.size >= MAX_UNDECIDED || !body.parts.includes(this.#host.self())) return;
      this.engine.hlc.observe(body.hlc);
      st = this.#newState(body, this.engine.env.monotonicMs());
    }
    if (st.myVote === null) {
      // Never voted (the envelope came late or the vote was waiting): too late to vote yes.
      st.myVote = false;
      st.votes.set(this.#host.self(), false);
    }
    const reply = (ok: boolean) => {
      const msg = [ENVELOPE_MSG.promise, body.id, ballot, ok, st!.accBallot, st!.accValue, st!.myVote];
      if (from === this.#host.self()) this.#onPromise(from, msg);
      else this.#host.send(from, msg);
    };
    if (ballot <= st.promised) return reply(false);
    st.promised = ballot;
    this.#persist(st, () => reply(true));
  }

  #onPromise(from: string, msg: unknown[]): void {
    const st = this.#states.get(msg[1] as string);
    const r = st?.recovery;
    if (st === undefined || r === null || r === undefined || r.ballot !== msg[2] || r.value !== null) return;
    if (msg[3] !== true) return;
    r.promises.set(from, msg);
    if (r.promises.size < majority(st.body.parts.length)) return;
    // The value: the one accepted at the highest ballot a majority reports, else abort.
    let best = -1, value = false;
    for (const m of r.promises.values()) {
      if ((m[4] as number) > best && typeof m[5] === "boolean") {
        best = m[4] as number;
        value = m[5] as boolean;
      }
    }
    r.value = value;
    for (const p of st.body.parts) {
      if (p !== this.#host.self()) this.#host.send(p, [ENVELOPE_MSG.accept, st.body.id, r.ballot, value]);
    }
    this.#onAccept(this.#host.self(), st.body.id, r.ballot, value);
  }

  #onAccept(from: string, id: string, ballot: number, value: boolean): void {
    const known = this.engine.envelopeDecided(id);
    if (known !== undefined) return this.#tellDecided(from, id, known);
    const st = this.#states.get(id);
    if (st === undefined || ballot < st.promised) return;
    st.promised = ballot;
    st.accBallot = ballot;
    st.accValue = value;
    this.#persist(st, () => this.#broadcastAccepted(st, ballot, value));
  }

  #onDecidedMsg(id: string, committed: boolean): void {
    const st = this.#states.get(id);
    if (st !== undefined) this.#finish(st, committed, false);
  }

  #tellDecided(to: string, id: string, committed: boolean): void {
    if (to !== this.#host.self()) this.#host.send(to, [ENVELOPE_MSG.decided, id, committed]);
  }

  // ---------------------------------------------------------------- outcome

  /** The outcome is known here: log it (replicate it when `broadcast`), apply it, release. */
  #finish(st: State, committed: boolean, broadcast: boolean): void {
    if (!this.#states.has(st.body.id)) return;
    this.engine.decideEnvelope(st.body, committed, broadcast);
    // decideEnvelope calls back #decided, which releases the locks and answers the waiter.
  }

  /** The engine applied a decision (ours, or a record from a peer, or the log at recovery). */
  #decided(id: string, committed: boolean): void {
    const st = this.#states.get(id);
    if (st === undefined) return;
    this.#states.delete(id);
    this.#host.decided?.(st.body, committed);
    for (const k of st.body.keys) {
      const kid = keyId(k.db, k.key);
      if (this.#locks.get(kid) === id) this.#locks.delete(kid);
    }
    if (committed) this.stats.committed++;
    else this.stats.aborted++;
    if (st.waiter !== null) {
      const w = st.waiter;
      st.waiter = null;
      if (committed) {
        w({ kind: "committed" });
      } else {
        w({ kind: "conflict", why: "a participant refused", stale: [...st.stale] });
      }
    }
    if (this.#busyWaiters.length > 0) {
      const woken = this.#busyWaiters.filter((x) => x.id === id || !this.#states.has(x.id));
      this.#busyWaiters = this.#busyWaiters.filter((x) => !woken.includes(x));
      for (const x of woken) this.engine.env.setTimer(0, x.run);
    }
    // Envelopes waiting for this one's keys may vote now.
    for (const other of this.#states.values()) {
      if (other.myVote === null && other.waitUntilMs > 0) this.#consider(other);
    }
  }

  /** Logs the state durably (fsynced whatever --appendfsync says), then runs `then`. */
  #persist(st: State, then: () => void): void {
    const first = !st.logged;
    st.logged = true;
    const bytes = encodeValue([
      encodeBody(st.body),
      st.myVote,
      st.promised,
      st.accBallot,
      st.accValue,
    ]);
    if (this.#opts.plantedBugAcceptNotFsynced) {
      // Planted bug: logged but not synced, and sent at once.
      this.engine.logEnvelope(st.body, bytes, false, () => {});
      return then();
    }
    this.engine.logEnvelope(st.body, bytes, true, () => {
      if (this.#states.has(st.body.id) || !first) then();
    });
  }

  #restore(bytes: Uint8Array): void {
    const r = decodeValue(bytes) as unknown[];
    const body = decodeBody(r[0]);
    if (this.#states.has(body.id) || !body.parts.includes(this.#host.self())) return;
    const st = this.#newState(body, this.engine.env.monotonicMs());
    st.logged = true;
    st.myVote = r[1] as boolean | null;
    if (st.myVote !== null) st.votes.set(this.#host.self(), st.myVote);
    st.promised = r[2] as number;
    st.accBallot = r[3] as number;
    st.accValue = r[4] as boolean | null;
    if (st.myVote === true) {
      for (const k of body.keys) this.#locks.set(keyId(k.db, k.key), body.id);
      // What a yes vote set up (a removal's record fence) holds again after a restart.
      this.#host.votedYes?.(body);
    }
  }

  #jitter(): number {
    return Math.floor(this.engine.env.random() * this.#opts.commitTimeoutMs / 2);
  }

  info(): Record<string, number> {
    return {
      envelopes_started: this.stats.started,
      envelopes_committed: this.stats.committed,
      envelopes_aborted: this.stats.aborted,
      envelopes_unknown: this.stats.unknown,
      envelopes_undecided: this.#states.size,
      envelope_recoveries: this.stats.recoveries,
      envelope_waits: this.stats.waits,
    };
  }
}

/**
 * The one value ballot 0 may carry, once the votes allow it: under "all", commit iff every
 * participant voted yes; under "majority", commit once a majority said yes, abort once so many
 * said no that no majority can say yes. Votes are durable and cast once, so every acceptor that
 * finds a value finds the same one.
 */
function ballotZero(b: EnvelopeBody, votes: Map<string, boolean>): boolean | null {
  let yes = 0, no = 0;
  for (const p of b.parts) {
    const v = votes.get(p);
    if (v === true) yes++;
    else if (v === false) no++;
  }
  if (b.rule === "all") return yes === b.parts.length ? true : null;
  const m = majority(b.parts.length);
  if (yes >= m) return true;
  if (no > b.parts.length - m) return false;
  return null;
}

/** Strict majority of n. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

function keyId(db: number, key: string): string {
  return `${db}\u0000${key}`;
}

/** An envelope's id: its first effect id under the envelope writer. */
export function envelopeId(w: Writer, first: number): string {
  return `${w.key}:${first}`;
}

/** True when `a` was planned before `b` (by hlc, then node): the wait-die order. */
function older(a: EnvelopeBody, b: EnvelopeBody): boolean {
  if (a.hlc !== b.hlc) return a.hlc < b.hlc;
  return a.w.node < b.w.node;
}

function flatIds(ids: readonly EffectId[]): unknown[] {
  const out: unknown[] = [];
  for (const id of ids) out.push(id.w.node, id.w.inc, id.seq);
  return out;
}

function readIds(flat: unknown[]): EffectId[] {
  const out: EffectId[] = [];
  for (let i = 0; i < flat.length; i += 3) {
    out.push({ w: Writer.of(flat[i] as string, flat[i + 1] as number), seq: flat[i + 2] as number });
  }
  return out;
}

/** The body as a CBOR-ready array (wire and log). */
export function encodeBody(b: EnvelopeBody): unknown[] {
  return [
    b.w.node,
    b.w.inc,
    b.first,
    b.size,
    b.hlc,
    b.parts,
    b.keys.map((k) => [k.db, k.key, flatIds(k.vv), k.deps === null ? null : flatIds(k.deps), k.ops]),
    b.watched ?? [],
    b.rule === "majority" ? 1 : 0,
  ];
}

export function decodeBody(x: unknown): EnvelopeBody {
  const a = x as unknown[];
  if (!Array.isArray(a) || a.length < 7) throw new Error("malformed envelope");
  const w = Writer.of(a[0] as string, a[1] as number);
  const first = a[2] as number;
  return {
    id: envelopeId(w, first),
    w,
    first,
    size: a[3] as number,
    hlc: a[4] as number,
    parts: a[5] as string[],
    keys: (a[6] as unknown[][]).map((k) => ({
      db: k[0] as number,
      key: k[1] as string,
      vv: readIds(k[2] as unknown[]),
      deps: k[3] === null ? null : readIds(k[3] as unknown[]),
      ops: k[4] as Op[] | null,
    })),
    watched: (a[7] as string[] | undefined) ?? [],
    rule: a[8] === 1 ? "majority" : "all",
  };
}
