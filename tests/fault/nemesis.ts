/**
 * Nemeses and their seeded schedule.
 *
 * - isolate: one node loses every peer (nftables in the namespaces, both directions).
 * - majority-minority: the nodes split into a majority and a minority side.
 * - bridge: one pair of nodes cannot talk; both still reach the others (not transitive).
 * - asymmetric: one direction only: node A's packets to node B are dropped (or all of A's
 *   outgoing, or all of A's incoming peer traffic), the other direction flows.
 * - kill: kill -9, down for a few seconds, restart with the same data dir and flags.
 * - pause: SIGSTOP for a few seconds, then SIGCONT.
 * - delay: the link proxies hold every chunk between some nodes for tens to hundreds of ms
 *   (independently per direction), in order.
 * - reset: the link proxies cut every peer connection of one node at once (as a middlebox
 *   resetting connections would); the nodes keep running and dial each other again.
 * - clock: a clean restart (SIGINT) with another --debug-clock-offset-ms, kept in [-200, 200] ms
 *   so any two nodes stay within 400 ms of each other (the default --max-clock-offset is 500 ms);
 *   the offset stays for the rest of the run and is checked through TIME.
 *
 * A schedule is a list of steps planned up front from the seed: one nemesis at a time, sometimes
 * with a delay overlay on top, each undone before a quiet gap of 1-3 s and the next step. The
 * first steps go round every available nemesis in a seeded order (so a run long enough tries
 * each), the rest are drawn by weight. Every outage is far shorter than the member timeout, so
 * no node is ever removed.
 */
import type { Cluster } from "./cluster.ts";
import type { Block } from "./netns.ts";
import { type NemesisKind, PARTITIONS } from "./probe.ts";
import { Rng } from "./rng.ts";

export interface DelaySpec {
  /** Ordered pairs [from, to] and the delay of each. */
  pairs: { from: number; to: number; ms: number }[];
}

export interface Step {
  /** Start, ms after the fault phase began. */
  at: number;
  kind: NemesisKind;
  /** How long the fault stays before it is undone (for clock: nothing is undone). */
  durationMs: number;
  /** Nodes the fault is about (for the report). */
  nodes: number[];
  blocks?: Block[];
  delay?: DelaySpec;
  clockOffsetMs?: number;
  /** A delay added on top of a non-delay step. */
  overlay?: DelaySpec;
  /** Human-readable description. */
  what: string;
}

const WEIGHTS: Record<NemesisKind, number> = {
  "isolate": 2,
  "majority-minority": 1,
  "bridge": 1,
  "asymmetric": 2,
  "kill": 2,
  "pause": 2,
  "delay": 2,
  "reset": 1,
  "clock": 1,
};

/** Plans the steps of `seconds` of faults on `n` nodes using only the `available` nemeses. */
export function planSchedule(
  seed: number,
  n: number,
  seconds: number,
  available: readonly NemesisKind[],
): Step[] {
  const rng = new Rng(seed ^ 0x5eed);
  const kinds = available.filter((k) => !(n < 2 && (PARTITIONS.has(k) || k === "delay" || k === "reset")));
  const steps: Step[] = [];
  if (kinds.length === 0) return steps;
  const end = seconds * 1000;
  const name = (i: number) => `n${i + 1}`;
  let t = 2000;
  // Each kind at least once when there is time for it: the first steps go round the kinds.
  const firstRound = rng.shuffle(kinds);
  while (t < end - 3000) {
    const kind = firstRound.shift() ?? kinds[rng.weighted(kinds.map((k) => WEIGHTS[k]))];
    const room = end - t;
    let step: Step;
    switch (kind) {
      case "isolate": {
        const a = rng.int(n);
        step = {
          at: t,
          kind,
          durationMs: rng.range(3000, 10_000),
          nodes: [a],
          blocks: all(n).filter((j) => j !== a).flatMap((j) => [{ from: a, to: j }, { from: j, to: a }]),
          what: `isolate ${name(a)}`,
        };
        break;
      }
      case "majority-minority": {
        const order = rng.shuffle(all(n));
        const minority = order.slice(0, Math.max(1, Math.floor((n - 1) / 2)));
        const majority = order.slice(minority.length);
        step = {
          at: t,
          kind,
          durationMs: rng.range(3000, 10_000),
          nodes: minority,
          blocks: minority.flatMap((a) => majority.flatMap((b) => [{ from: a, to: b }, { from: b, to: a }])),
          what: `minority {${minority.map(name).join(",")}} | majority {${majority.map(name).join(",")}}`,
        };
        break;
      }
      case "bridge": {
        const [a, b] = rng.shuffle(all(n));
        step = {
          at: t,
          kind,
          durationMs: rng.range(3000, 10_000),
          nodes: [a, b],
          blocks: [{ from: a, to: b }, { from: b, to: a }],
          what: `cut ${name(a)} <-> ${name(b)} (both still reach the rest)`,
        };
        break;
      }
      case "asymmetric": {
        const [a, b] = rng.shuffle(all(n));
        const mode = rng.int(3);
        const others = all(n).filter((j) => j !== a);
        const blocks = mode === 0
          ? [{ from: a, to: b }]
          : mode === 1
          ? others.map((j) => ({ from: a, to: j }))
          : others.map((j) => ({ from: j, to: a }));
        step = {
          at: t,
          kind,
          durationMs: rng.range(3000, 10_000),
          nodes: mode === 0 ? [a, b] : [a],
          blocks,
          what: mode === 0
            ? `drop ${name(a)} -> ${name(b)} only`
            : mode === 1
            ? `drop everything ${name(a)} sends to peers (it still receives)`
            : `drop everything peers send to ${name(a)} (it still sends)`,
        };
        break;
      }
      case "kill": {
        const a = rng.int(n);
        step = { at: t, kind, durationMs: rng.range(2000, 8000), nodes: [a], what: `kill -9 ${name(a)}` };
        break;
      }
      case "pause": {
        const a = rng.int(n);
        step = { at: t, kind, durationMs: rng.range(2000, 6000), nodes: [a], what: `SIGSTOP ${name(a)}` };
        break;
      }
      case "delay": {
        const spec = planDelay(rng, n);
        step = {
          at: t,
          kind,
          durationMs: rng.range(4000, 10_000),
          nodes: [...new Set(spec.pairs.flatMap((p) => [p.from, p.to]))].sort(),
          delay: spec,
          what: `delay ${describeDelay(spec)}`,
        };
        break;
      }
      case "reset": {
        const a = rng.int(n);
        step = {
          at: t,
          kind,
          durationMs: rng.range(2000, 4000),
          nodes: [a],
          what: `reset every peer connection of ${name(a)}`,
        };
        break;
      }
      case "clock": {
        const a = rng.int(n);
        const sign = rng.int(2) === 0 ? -1 : 1;
        const ms = sign * rng.range(50, 200);
        step = {
          at: t,
          kind,
          durationMs: 3000,
          nodes: [a],
          clockOffsetMs: ms,
          what: `restart ${name(a)} with clock offset ${ms} ms`,
        };
        break;
      }
    }
    // The last step is cut short to end in time, but never below what makes it a real fault
    // (a partition shorter than the 1.5 s a node waits before it calls a peer dead is nothing).
    step.durationMs = Math.min(step.durationMs, room - 1000);
    if (step.durationMs < (PARTITIONS.has(kind) || kind === "delay" ? 3000 : 2000)) break;
    if (
      kind !== "delay" && kind !== "clock" && kind !== "reset" && kinds.includes("delay") && n >= 2 &&
      rng.float() < 0.3
    ) {
      step.overlay = planDelay(rng, n);
      step.what += ` + delay ${describeDelay(step.overlay)}`;
    }
    steps.push(step);
    t += step.durationMs + rng.range(1000, 3000);
  }
  return steps;
}

function all(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Either all of one node's peer traffic, or one pair; each direction its own delay. */
function planDelay(rng: Rng, n: number): DelaySpec {
  const [a, b] = rng.shuffle(all(n));
  const ms = () => rng.pick([0, 20, 50, 100, 200, 300, 400]);
  const pairs: DelaySpec["pairs"] = [];
  const others = rng.int(2) === 0 ? [b] : all(n).filter((j) => j !== a);
  for (const j of others) {
    const out = ms(), inn = ms();
    pairs.push({ from: a, to: j, ms: out === 0 && inn === 0 ? 100 : out }, { from: j, to: a, ms: inn });
  }
  return { pairs: pairs.filter((p) => p.ms > 0) };
}

function describeDelay(d: DelaySpec): string {
  return d.pairs.map((p) => `n${p.from + 1}->n${p.to + 1} ${p.ms}ms`).join(", ");
}

/** What happened to each nemesis kind in a run. */
export interface NemesisTally {
  planned: number;
  ran: number;
  /** Why it never ran (capability), when it did not. */
  skipped?: string;
  /** Steps that failed to apply (harness or environment problems). */
  errors: string[];
  /** Observations that the fault took effect (alive peers, delayed chunks, measured clock offsets). */
  observed: string[];
}

/** Applies and undoes steps on a running cluster. */
export class Nemesis {
  #blocks: Block[] = [];
  #killed = new Set<number>();
  #paused = new Set<number>();

  constructor(readonly cluster: Cluster, readonly log: (line: string) => void) {}

  async partition(blocks: Block[]): Promise<void> {
    this.#blocks = blocks;
    await this.cluster.lab.setBlocks(blocks, {
      proxyIp: this.cluster.lab.proxyIp,
      proxyPorts: this.cluster.proxyPorts,
    });
  }

  async healPartitions(): Promise<void> {
    await this.partition([]);
  }

  setDelay(spec: DelaySpec | null): void {
    this.cluster.delays.clear();
    for (const p of spec?.pairs ?? []) this.cluster.delays.set(`${p.from}>${p.to}`, p.ms);
  }

  async kill(i: number): Promise<void> {
    this.#killed.add(i);
    await this.cluster.nodes[i].kill9();
  }

  async restart(i: number): Promise<void> {
    const node = this.cluster.nodes[i];
    if (node.state === "down") await node.start();
    this.#killed.delete(i);
  }

  pause(i: number): void {
    this.cluster.nodes[i].pause();
    this.#paused.add(i);
  }

  resume(i: number): void {
    this.cluster.nodes[i].resume();
    this.#paused.delete(i);
  }

  /** Clean stop, then a start with the new offset; returns the offset measured through TIME. */
  async clock(i: number, offsetMs: number): Promise<number> {
    const node = this.cluster.nodes[i];
    await node.stop();
    node.clockOffsetMs = offsetMs;
    await node.start();
    return await measureOffset(this.cluster, i);
  }

  /** Undoes everything: partitions, delays, pauses, and starts every node that is down. */
  async healAll(): Promise<void> {
    await this.healPartitions();
    this.setDelay(null);
    for (const n of this.cluster.nodes) if (n.state === "paused") n.resume();
    this.#paused.clear();
    for (const n of this.cluster.nodes) if (n.state === "down") await n.start();
    this.#killed.clear();
  }

  /** Runs one step: apply, hold, undo. Throws when applying or undoing fails. */
  async run(step: Step, tally: NemesisTally, sleep: (ms: number) => Promise<void>): Promise<void> {
    const c = this.cluster;
    if (step.overlay !== undefined) this.setDelay(step.overlay);
    const delayedBefore = sumDelayed(c);
    const crashesBefore = c.crashes.length;
    try {
      switch (step.kind) {
        case "isolate":
        case "majority-minority":
        case "bridge":
        case "asymmetric": {
          await this.partition(step.blocks!);
          await sleep(step.durationMs);
          // Alive peers as the cut nodes see them, just before healing (a node counts a peer
          // alive for 1.5 s after it last heard from it).
          const blocks = step.blocks!;
          const cut = (i: number, j: number) =>
            blocks.some((b) => b.from === i && b.to === j) && blocks.some((b) => b.from === j && b.to === i);
          const blind: string[] = [];
          const seen = await Promise.all(step.nodes.map(async (i) => {
            const info = await c.nodes[i].info().catch(() => null);
            const alive = info?.swytch_alive_peers;
            // A node cut both ways from peers for seconds must have noticed (else the rules do
            // nothing): it can see at most the peers it is not cut from.
            const most = c.nodes.filter((x) => x.index !== i && !cut(i, x.index)).length;
            if (alive !== undefined && Number(alive) > most) {
              blind.push(`${c.nodes[i].name} sees ${alive} > ${most}`);
            }
            return `${c.nodes[i].name} alive_peers=${alive ?? "?"}`;
          }));
          tally.observed.push(`${step.what}: ${seen.join(" ")}`);
          await this.healPartitions();
          if (blind.length > 0) throw new Error(`partition had no effect: ${blind.join(", ")}`);
          break;
        }
        case "kill": {
          const i = step.nodes[0];
          await this.kill(i);
          await sleep(step.durationMs);
          await this.restart(i);
          tally.observed.push(`${c.nodes[i].name} restarted (start #${c.nodes[i].starts})`);
          break;
        }
        case "pause": {
          const i = step.nodes[0];
          this.pause(i);
          await sleep(step.durationMs);
          this.resume(i);
          break;
        }
        case "delay": {
          this.setDelay(step.delay!);
          await sleep(step.durationMs);
          this.setDelay(null);
          const n = sumDelayed(c) - delayedBefore;
          tally.observed.push(`${step.what}: ${n} chunks delayed`);
          // Peers exchange heartbeats every 100 ms: a delay that held nothing did not work (unless
          // a node died meanwhile, which the harness reports on its own).
          if (n === 0 && c.crashes.length === crashesBefore) {
            throw new Error(`${step.what}: no chunk was delayed`);
          }
          break;
        }
        case "reset": {
          const i = step.nodes[0];
          let cut = 0;
          for (const p of c.proxies) cut += p.reset((from) => p.to === i || from === i);
          tally.observed.push(`${step.what}: ${cut} connections cut`);
          if (cut === 0) throw new Error(`${step.what}: no connection to cut`);
          await sleep(step.durationMs);
          break;
        }
        case "clock": {
          const i = step.nodes[0];
          const measured = await this.clock(i, step.clockOffsetMs!);
          tally.observed.push(`${c.nodes[i].name} offset ${step.clockOffsetMs} ms, TIME says ${measured} ms`);
          if (Math.abs(measured - step.clockOffsetMs!) > 100) {
            throw new Error(
              `${c.nodes[i].name}: asked for ${step.clockOffsetMs} ms, TIME shows ${measured} ms`,
            );
          }
          await sleep(step.durationMs);
          break;
        }
      }
    } finally {
      if (step.overlay !== undefined) this.setDelay(null);
    }
  }
}

function sumDelayed(c: Cluster): number {
  return c.proxies.reduce((a, p) => a + p.stats.delayedChunks, 0);
}

/** Node i's clock minus ours, through TIME (median of five, each corrected by half its round trip). */
export async function measureOffset(c: Cluster, i: number): Promise<number> {
  return await c.nodes[i].admin(async (r) => {
    const xs: number[] = [];
    for (let k = 0; k < 5; k++) {
      const t0 = Date.now();
      const [s, us] = await r.time();
      const t1 = Date.now();
      xs.push(Number(s) * 1000 + Math.floor(Number(us) / 1000) - (t0 + t1) / 2);
    }
    xs.sort((a, b) => a - b);
    return Math.round(xs[2]);
  });
}
