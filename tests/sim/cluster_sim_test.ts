/**
 * The cluster simulator in the suite: a fixed seed range run for a time budget (two minutes in
 * CI, `SIM_BUDGET_S` seconds otherwise, 20 by default) plus every regression seed, with zero
 * failures; the determinism self-check; and each planted bug caught.
 */
import { expect, test } from "bun:test";
import { type PlantedBug, runClusterSeed } from "./cluster.ts";
import { regressionSeeds } from "./cluster_main.ts";

const BUDGET_S = Number(process.env.SIM_BUDGET_S ?? (process.env.CI === "true" ? 130 : 20));

test("regression seeds pass", () => {
  for (const seed of regressionSeeds()) {
    const r = runClusterSeed(seed);
    if (!r.ok) throw new Error(r.detail);
  }
}, 300_000);

test(`seeds from 1 for ${BUDGET_S} s: every one converges and passes the checkers`, () => {
  const t0 = performance.now();
  let seed = 1, ops = 0, crashes = 0, partitions = 0, wipes = 0, exclusive = 0, traps = 0;
  const failures: string[] = [];
  while ((performance.now() - t0) / 1000 < BUDGET_S) {
    const r = runClusterSeed(seed);
    if (!r.ok) failures.push(r.detail);
    ops += r.stats.ops;
    crashes += r.stats.crashes;
    partitions += r.stats.partitions;
    wipes += r.stats.wipes;
    exclusive += r.stats.exclusiveAcknowledged;
    traps += r.stats.commitTraps;
    seed++;
  }
  const s = (performance.now() - t0) / 1000;
  console.log(
    `cluster simulator: seeds 1..${seed - 1} in ${s.toFixed(1)} s (${((seed - 1) / s).toFixed(1)} seeds/s, ` +
      `3 nodes, 30 simulated s each): ${ops} ops (${exclusive} exclusive ones acknowledged), ${crashes} crashes ` +
      `(${traps} commit traps), ${wipes} wipes, ${partitions} partitions, ${failures.length} failed`,
  );
  if (failures.length > 0) throw new Error(failures.slice(0, 3).join("\n\n"));
}, (BUDGET_S + 120) * 1000);

test("a seed replays exactly (same trace hash twice)", () => {
  const a = runClusterSeed(7), b = runClusterSeed(7);
  expect(a.ok).toBe(true);
  expect(a.traceHash).toBe(b.traceHash);
  expect(a.traceHash).not.toBe(runClusterSeed(8).traceHash);
}, 60_000);

for (const bug of ["tie-break", "stability", "ack", "accept", "chosen"] as PlantedBug[]) {
  test(`planted bug "${bug}" is caught`, () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = runClusterSeed(seed, { planted: bug });
      if (!r.ok) {
        console.log(`planted ${bug}: caught by seed ${seed}: ${r.detail.split("\n")[0].slice(0, 160)}`);
        return;
      }
    }
    throw new Error(`planted bug ${bug} survived 40 seeds`);
  }, 120_000);
}
