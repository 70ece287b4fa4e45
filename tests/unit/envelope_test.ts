/**
 * Envelope-commit (core/envelope.ts) on three real engines wired by an in-memory network: one
 * commit, conflicting commits, a no vote, recovery after the originator goes silent, the majority
 * rule, and the body's encoding. The simulator runs the same code under faults; these pin the
 * rules down one at a time.
 */
import { expect, test } from "bun:test";
import { type EnvelopePlan, Envelopes, type Outcome } from "../../core/envelope.ts";
import { decodeBody, encodeBody } from "../../core/envelope.ts";
import { Engine } from "../../core/engine.ts";
import type { Env } from "../../core/env.ts";
import { noStorage } from "../../core/env.ts";
import { reducers } from "../../redis/mod.ts";
import { fakeEnv } from "./fake_env.ts";

/** Three nodes, a clock, timers, and a network that delivers in order unless a node is cut off. */
class Net {
  readonly clock = { ms: 1_000_000 };
  readonly timers: { at: number; fn: () => void }[] = [];
  readonly queue: (() => void)[] = [];
  readonly engines: Engine[] = [];
  readonly envelopes: Envelopes[] = [];
  readonly ids: string[] = [];
  /** Nodes whose messages (in and out) are dropped. */
  readonly silent = new Set<number>();

  constructor(n = 3) {
    for (let i = 0; i < n; i++) {
      const base = fakeEnv(i + 1, this.clock);
      const env: Env = {
        ...base,
        storage: noStorage,
        setTimer: (ms, fn) => {
          const t = { at: this.clock.ms + ms, fn };
          this.timers.push(t);
          return t;
        },
        clearTimer: (t) => {
          const i = this.timers.indexOf(t as never);
          if (i >= 0) this.timers.splice(i, 1);
        },
      };
      const e = new Engine(env, { reducers, clustered: true });
      e.open();
      this.engines.push(e);
      this.ids.push(e.writer.node);
    }
    const members = [...this.ids].sort();
    this.engines.forEach((e, i) => {
      e.setMembers(members);
      // Decisions replicate as records, as the replicator's sessions carry them.
      e.onRecord = (record) => {
        for (let j = 0; j < this.engines.length; j++) {
          if (j !== i) this.deliver(i, j, () => this.engines[j].ingest(record));
        }
      };
      this.envelopes.push(
        new Envelopes(e, {
          self: () => this.ids[i],
          members: () => members,
          alive: (node) => !this.silent.has(this.ids.indexOf(node)),
          send: (node, msg) => {
            const j = this.ids.indexOf(node);
            this.deliver(i, j, () => this.envelopes[j].onMessage(this.ids[i], structuredClone(msg)));
          },
        }, { commitTimeoutMs: 2000 }),
      );
    });
  }

  deliver(from: number, to: number, fn: () => void): void {
    // Checked when the message would arrive: a node cut off meanwhile loses it.
    this.queue.push(() => {
      if (!this.silent.has(from) && !this.silent.has(to)) fn();
    });
  }

  /** Runs messages, timers and the modules' ticks (every 100 ms) for `ms` of simulated time. */
  run(ms: number): void {
    const end = this.clock.ms + ms;
    const drain = () => {
      while (this.queue.length > 0) this.queue.shift()!();
    };
    for (;;) {
      drain();
      const tickAt = Math.floor(this.clock.ms / 100) * 100 + 100;
      const next = Math.min(...this.timers.map((t) => t.at), tickAt);
      if (next > end) break;
      this.clock.ms = next;
      for (let t = this.due(); t !== undefined; t = this.due()) {
        t.fn();
        drain();
      }
      if (next === tickAt) { for (const env of this.envelopes) env.tick(); }
    }
    this.clock.ms = end;
  }

  due(): { at: number; fn: () => void } | undefined {
    const i = this.timers.findIndex((t) => t.at <= this.clock.ms);
    return i < 0 ? undefined : this.timers.splice(i, 1)[0];
  }

  /** A plan that sets `key` to `value` on node i's current version of it. */
  plan(i: number, key: string, value: string): EnvelopePlan {
    const e = this.engines[i];
    const batch = e.begin();
    batch.reads = [];
    batch.get(0, key);
    batch.write(0, key, ["set", value]);
    return e.planEnvelope(batch);
  }

  value(i: number, key: string): unknown {
    return this.engines[i].lookup(0, key, this.clock.ms)?.value;
  }
}

function commit(net: Net, i: number, plan: EnvelopePlan, rule: "all" | "majority" = "all"): Outcome[] {
  const out: Outcome[] = [];
  net.envelopes[i].commit(plan, (o) => out.push(o), rule);
  return out;
}

test("an envelope commits on every node, and its effect is visible everywhere", () => {
  const net = new Net();
  const out = commit(net, 0, net.plan(0, "k", "v1"));
  net.run(500);
  expect(out).toEqual([{ kind: "committed" }]);
  for (let i = 0; i < 3; i++) {
    expect(net.value(i, "k")).toBe("v1");
    expect(net.envelopes[i].undecided()).toBe(0);
  }
});

test("two conflicting envelopes: at most one commits, the other is refused", () => {
  const net = new Net();
  const a = commit(net, 0, net.plan(0, "k", "from-a"));
  const b = commit(net, 1, net.plan(1, "k", "from-b"));
  net.run(3000);
  const kinds = [a[0]?.kind, b[0]?.kind];
  expect(kinds.filter((k) => k === "committed").length).toBeLessThanOrEqual(1);
  expect(kinds.every((k) => k === "committed" || k === "conflict")).toBe(true);
  const values = [0, 1, 2].map((i) => net.value(i, "k"));
  expect(new Set(values).size).toBe(1);
  for (const env of net.envelopes) expect(env.undecided()).toBe(0);
});

test("a participant holding a write the plan did not read votes no: abort, nothing written", () => {
  const net = new Net();
  const plan = net.plan(0, "k", "conditional");
  // Node 2 writes k before the envelope reaches it (a concurrent blind write).
  const b = net.engines[2].begin();
  b.write(0, "k", ["set", "blind"]);
  b.commit(() => {});
  const out = commit(net, 0, plan);
  net.run(500);
  expect(out[0].kind).toBe("conflict");
  if (out[0].kind === "conflict") expect(out[0].stale).toContain("k");
  expect(net.value(0, "k")).not.toBe("conditional");
  for (const env of net.envelopes) expect(env.undecided()).toBe(0);
});

test("an unreachable participant: -PARTITIONED before anything is sent", () => {
  const net = new Net();
  net.silent.add(2);
  const out = commit(net, 0, net.plan(0, "k", "v"));
  expect(out).toEqual([{ kind: "partitioned", why: `member ${net.ids[2]} is unreachable` }]);
  expect(net.envelopes[1].undecided()).toBe(0);
});

test("the originator goes silent after sending: the others finish it (abort) after the commit timeout", () => {
  const net = new Net();
  const out = commit(net, 0, net.plan(0, "k", "orphan"));
  // The envelope reaches nodes 1 and 2, then node 0 is cut off: its own vote never arrives.
  net.queue.shift()!();
  net.queue.shift()!();
  expect(net.envelopes[1].undecided() + net.envelopes[2].undecided()).toBe(2);
  net.silent.add(0);
  net.run(8000);
  expect(out[0]?.kind).toBe("unknown");
  for (const i of [1, 2]) {
    expect(net.envelopes[i].undecided()).toBe(0);
    expect(net.value(i, "k")).toBeUndefined();
  }
});

test("the majority rule commits without a dead participant's vote", () => {
  const net = new Net();
  const plan = net.plan(0, "members", "changed");
  net.silent.add(2);
  // The liveness check of the majority rule passes with two of three.
  const out = commit(net, 0, plan, "majority");
  net.run(500);
  expect(out).toEqual([{ kind: "committed" }]);
  expect(net.value(1, "members")).toBe("changed");
});

test("the body survives its encoding", () => {
  const net = new Net();
  const plan = net.plan(0, "k\u0000bin\u00ff", "v");
  const out = commit(net, 0, plan);
  net.run(200);
  expect(out[0].kind).toBe("committed");
  const again = net.plan(0, "k\u0000bin\u00ff", "w");
  const body = {
    ...again,
    id: "x",
    w: net.engines[0].envelopeWriter(),
    first: 7,
    size: 1,
    parts: [...net.ids].sort(),
    rule: "majority" as const,
    watched: ["k\u0000bin\u00ff"],
  };
  const back = decodeBody(structuredClone(encodeBody(body)));
  expect(back.first).toBe(7);
  expect(back.rule).toBe("majority");
  expect(back.keys[0].key).toBe("k\u0000bin\u00ff");
  expect(back.keys[0].vv).toEqual(body.keys[0].vv);
  expect(back.keys[0].ops).toEqual(body.keys[0].ops);
  expect(back.watched).toEqual(body.watched);
  expect(back.id).toBe(`${body.w.key}:7`);
});
