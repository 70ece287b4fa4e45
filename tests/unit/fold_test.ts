/**
 * The fold against a naive from-scratch topological fold: three or more synthetic writers, random
 * deps, random arrival orders; incremental apply, undo-based reordering and pruning must give the
 * state the naive fold gives. And two engines exchanging effects over a lossy, reordering,
 * duplicating channel converge to one state hash.
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { compareEffects, type Effect, type EffectId, Writer } from "../../core/effect.ts";
import { Engine } from "../../core/engine.ts";
import { type Env, noStorage } from "../../core/env.ts";
import { applyEffect, depsApplied, insertEffect, pruneLog } from "../../core/fold.ts";
import { KeyState } from "../../core/keyspace.ts";
import { type Reducer, ReducerRegistry } from "../../core/reducer.ts";

/** A register whose appends do not commute, so any ordering mistake shows. */
const reg: Reducer<string> = {
  type: "string",
  opcodes: ["t.set", "t.app"],
  apply(state, op) {
    const v = op[0] === "t.set" ? String(op[1]) : (state ?? "") + String(op[1]);
    return { state: v, undo: state, delta: v.length - (state?.length ?? 0) };
  },
  undo: (_s, u) => u as string | undefined,
  size: (s) => s.length,
  encode: (s) => s,
  decode: (d) => d as string,
  canonical: (s) => s,
  event: (op) => String(op[0]),
};
const registry = new ReducerRegistry([reg]);

interface Gen {
  effects: Effect[];
}

/** Builds a random causal history of one key by `writers` writers exchanging observations. */
function history(seed: number[], writers: number, n: number): Gen {
  let r = 0;
  const next = () => seed[r++ % seed.length] + r;
  const ws = Array.from({ length: writers }, (_, i) => Writer.of(`w${i}`, 1 + (i % 2)));
  const views: Set<Effect>[] = ws.map(() => new Set());
  const clocks = ws.map(() => 0);
  const seqs = ws.map(() => 0);
  const effects: Effect[] = [];
  for (let i = 0; i < n; i++) {
    const wi = next() % writers;
    // Observe some effects of others (with their causal past: views are closed under deps).
    if (effects.length > 0 && next() % 2 === 0) {
      const e = effects[next() % effects.length];
      const stack = [e];
      while (stack.length > 0) {
        const x = stack.pop()!;
        if (views[wi].has(x)) continue;
        views[wi].add(x);
        for (const d of x.deps) stack.push(effects.find((y) => y.w === d.w && y.seq === d.seq)!);
      }
    }
    const view = views[wi];
    const tips = [...view].filter((x) =>
      ![...view].some((y) => y.deps.some((d) => d.w === x.w && d.seq === x.seq))
    );
    const deps: EffectId[] = tips.map((t) => ({ w: t.w, seq: t.seq }));
    const maxDep = Math.max(0, ...tips.map((t) => t.hlc));
    // Clocks jump around so concurrent effects interleave in HLC order in every way.
    clocks[wi] = Math.max(clocks[wi], maxDep) + 1 + (next() % 5);
    const kind = next() % 4;
    const e: Effect = {
      w: ws[wi],
      seq: ++seqs[wi],
      db: 0,
      key: "k",
      deps,
      hlc: clocks[wi],
      cls: 1,
      group: null,
      ops: kind === 0 ? [["t.set", `S${i}`]] : kind === 3 ? [["del"]] : [["t.app", `a${i}`]],
    };
    effects.push(e);
    view.add(e);
  }
  return { effects };
}

/** The naive fold: repeatedly apply the smallest effect whose deps are all applied. */
function naiveFold(effects: Effect[]): { value: unknown; order: Effect[] } {
  const ks = new KeyState();
  const done = new Set<Effect>();
  const order: Effect[] = [];
  const isDone = (d: EffectId) => [...done].some((x) => x.w === d.w && x.seq === d.seq);
  while (done.size < effects.length) {
    const ready = effects.filter((e) => !done.has(e) && e.deps.every(isDone)).sort(compareEffects);
    applyEffect(ks, ready[0], registry, false);
    done.add(ready[0]);
    order.push(ready[0]);
  }
  return { value: ks.value, order };
}

test("incremental fold with reordering and pruning equals the naive fold, every arrival order", () => {
  fc.assert(
    fc.property(
      fc.array(fc.nat(1000), { minLength: 5, maxLength: 40 }),
      fc.integer({ min: 3, max: 5 }),
      fc.integer({ min: 1, max: 30 }),
      fc.array(fc.nat(), { minLength: 30, maxLength: 30 }),
      fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }),
      (seed, writers, n, perm, pruneAt) => {
        const { effects } = history(seed, writers, n);
        // A random arrival order.
        const arrival = effects.map((e, i) => ({ e, k: perm[i % perm.length] + i / 1000 })).sort((a, b) =>
          a.k - b.k
        )
          .map((x) => x.e);
        const ks = new KeyState();
        const held: Effect[] = [];
        const delivered: Effect[] = [];
        let reorders = 0;
        arrival.forEach((e, step) => {
          held.push(e);
          for (let progress = true; progress;) {
            progress = false;
            for (let i = 0; i < held.length; i++) {
              if (depsApplied(ks, held[i])) {
                reorders += insertEffect(ks, held[i], registry);
                delivered.push(held[i]);
                held.splice(i, 1);
                progress = true;
                break;
              }
            }
          }
          // After each arrival: the state equals the naive fold of what was applied.
          expect(ks.value).toEqual(naiveFold(delivered).value);
          // Prune a prefix that no undelivered effect can sort before (the stability rule).
          if (pruneAt[step % pruneAt.length] && ks.log !== null) {
            const pending = effects.filter((x) => !delivered.includes(x));
            let k = 0;
            while (k < ks.log.length && pending.every((u) => compareEffects(u, ks.log![k].e) > 0)) k++;
            pruneLog(ks, k);
          }
        });
        expect(held.length).toBe(0);
        const naive = naiveFold(effects);
        expect(ks.value).toEqual(naive.value);
        // The unstable suffix is in fold order.
        if (ks.log !== null) {
          const tail = naive.order.slice(naive.order.length - ks.log.length);
          expect(ks.log.map((x) => x.e)).toEqual(tail);
        }
        return reorders >= 0;
      },
    ),
    { numRuns: 300 },
  );
});

test("the generator produces reorderings (the property above is not vacuous)", () => {
  let total = 0;
  for (let s = 1; s < 40; s++) {
    const { effects } = history([s, s * 7, s * 13, 5, 11], 3, 20);
    const ks = new KeyState();
    for (const e of [...effects].reverse().sort((a, b) => b.hlc - a.hlc).reverse()) {
      if (depsApplied(ks, e)) total += insertEffect(ks, e, registry);
    }
    const shuffled = [...effects].sort((a, b) => (a.seq * 7919 + b.hlc) % 5 - 2);
    const ks2 = new KeyState();
    const pend = [...shuffled];
    while (pend.length > 0) {
      const i = pend.findIndex((e) => depsApplied(ks2, e));
      total += insertEffect(ks2, pend[i], registry);
      pend.splice(i, 1);
    }
  }
  expect(total).toBeGreaterThan(0);
});

// ------------------------------------------------------------------ two engines, lossy channel

function fakeEnv(seed: number): Env & { advance(ms: number): void } {
  let now = 1_700_000_000_000;
  let s = seed >>> 0 || 1;
  return {
    monotonicMs: () => now,
    wallMs: () => now,
    random() {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return (s >>> 0) / 2 ** 32;
    },
    setTimer: () => 0,
    clearTimer: () => {},
    storage: noStorage,
    log: () => {},
    buggify: () => false,
    advance(ms) {
      now += ms;
    },
  };
}

test("two engines over a lossy, reordering, duplicating channel converge to one state hash", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 10, max: 80 }), (seed, steps) => {
      const envs = [fakeEnv(seed), fakeEnv(seed + 1)];
      const engines = envs.map((env) => new Engine(env, { reducers: [reg], clustered: true }));
      engines.forEach((e) => e.open());
      // Two members that never advertise what they have: every effect stays unstable.
      engines.forEach((e) => e.setMembers(["a", "b"]));
      const rnd = envs[0].random;
      // In-flight effects per direction; each is resent until delivered at least once.
      const inflight: Effect[][] = [[], []];
      for (let i = 0; i < steps; i++) {
        const a = Math.floor(rnd() * 2);
        envs[a].advance(Math.floor(rnd() * 3));
        const b = engines[a].begin();
        const key = `k${Math.floor(rnd() * 3)}`;
        const r = rnd();
        if (r < 0.4) b.write(0, key, ["t.app", `${a}.${i}`]);
        else if (r < 0.6) b.write(0, key, ["t.set", `${a}:${i}`]);
        else if (r < 0.7) b.write(0, key, ["del"]);
        else {
          // A multi-key command: one group.
          b.write(0, key, ["t.app", `g${i}`]);
          b.write(0, "k9", ["t.app", `g${i}`]);
        }
        const sent = [...b.effects.values()].map((x) => x.e);
        b.commit(() => {});
        inflight[1 - a].push(...sent);
        // The channel: deliver some, drop some (kept for resend), duplicate some, reorder.
        for (const to of [0, 1]) {
          const q = inflight[to];
          for (let j = q.length - 1; j >= 0; j--) {
            const x = rnd();
            if (x < 0.3) {
              engines[to].receive(q[j]);
              if (rnd() < 0.3) engines[to].receive(q[j]); // duplicate
              q.splice(j, 1);
            }
          }
        }
      }
      // Heal: everything left is delivered, in random order.
      for (const to of [0, 1]) {
        const q = inflight[to].sort(() => rnd() - 0.5);
        for (const e of q) engines[to].receive(e);
      }
      expect(engines[0].heldCount()).toBe(0);
      expect(engines[1].heldCount()).toBe(0);
      expect(engines[0].stateHash()).toBe(engines[1].stateHash());
    }),
    { numRuns: 200 },
  );
});
