/**
 * The cluster simulator's command line (`bun run sim ...`):
 *
 *   bun run sim --seeds 1..200 [--budget 120]   a seed range (stops when the budget in s runs out)
 *   bun run sim --seed 7 --trace                 replays one seed and prints its whole trace
 *   bun run sim --seed 7 --planted tie-break     one seed with a planted bug (tie-break|stability|ack|accept|chosen)
 *   bun run sim:explore [--budget 60]            fresh random seeds until the budget runs out
 *   --nodes N --seconds S                        cluster size and simulated seconds per seed
 *   --regressions                                also replays tests/sim/regression_seeds.json
 *
 * Prints one line per failing seed (with the command that replays it) and a summary with seeds
 * per second; exits 1 when any seed failed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { type PlantedBug, runClusterSeed } from "./cluster.ts";

export const REGRESSION_FILE = path.join(import.meta.dir, "regression_seeds.json");

/** Seeds that once failed (kept forever as regression tests). */
export function regressionSeeds(): number[] {
  const j = JSON.parse(fs.readFileSync(REGRESSION_FILE, "utf8")) as { seeds: { seed: number }[] };
  return j.seeds.map((s) => s.seed);
}

interface Args {
  from: number;
  to: number;
  budgetS: number;
  trace: boolean;
  planted: PlantedBug | null;
  nodes: number;
  seconds: number;
  explore: boolean;
  regressions: boolean;
}

function parse(argv: string[]): Args {
  const a: Args = {
    from: 1,
    to: 1,
    budgetS: Infinity,
    trace: false,
    planted: null,
    nodes: 3,
    seconds: 30,
    explore: false,
    regressions: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${x} needs a value`);
      return v;
    };
    const int = (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${x}: not an integer: ${v}`);
      return n;
    };
    if (x === "--seed") a.from = a.to = int(next());
    else if (x === "--seeds") {
      const m = /^(\d+)\.\.(\d+)$/.exec(next());
      if (m === null) throw new Error("--seeds wants A..B");
      a.from = Number(m[1]);
      a.to = Number(m[2]);
    } else if (x === "--budget") a.budgetS = int(next());
    else if (x === "--trace") a.trace = true;
    else if (x === "--planted") {
      const v = next();
      if (!["tie-break", "stability", "ack", "accept", "chosen"].includes(v)) {
        throw new Error(`unknown planted bug ${v}`);
      }
      a.planted = v as PlantedBug;
    } else if (x === "--nodes") a.nodes = int(next());
    else if (x === "--seconds") a.seconds = int(next());
    else if (x === "--explore") a.explore = true;
    else if (x === "--regressions") a.regressions = true;
    else throw new Error(`unknown argument ${x}`);
  }
  return a;
}

if (import.meta.main) {
  let args: Args;
  try {
    args = parse(process.argv.slice(2));
  } catch (e) {
    console.error(`sim: ${(e as Error).message}`);
    process.exit(2);
  }
  const seeds: number[] = [];
  if (args.regressions) seeds.push(...regressionSeeds());
  if (args.explore) {
    const base = Math.floor(Math.random() * 1e9);
    for (let i = 0; i < 1e6; i++) seeds.push(base + i);
  } else for (let s = args.from; s <= args.to; s++) seeds.push(s);
  const t0 = performance.now();
  let ran = 0, failed = 0;
  for (const seed of seeds) {
    if ((performance.now() - t0) / 1000 > args.budgetS) break;
    const r = runClusterSeed(seed, {
      nodes: args.nodes,
      seconds: args.seconds,
      planted: args.planted,
      trace: args.trace,
    });
    ran++;
    if (args.trace) {
      for (const line of r.trace) console.log(line);
      console.log(`trace hash ${r.traceHash}`);
    }
    if (!r.ok) {
      failed++;
      console.log(`FAILED ${r.detail}`);
    } else if (seeds.length === 1) console.log(`seed ${seed}: ok ${r.detail}`);
  }
  const s = (performance.now() - t0) / 1000;
  console.log(
    `${ran - failed}/${ran} seeds passed in ${s.toFixed(1)} s (${
      (ran / s).toFixed(1)
    } seeds/s, ${args.nodes} nodes, ${args.seconds} simulated s each)`,
  );
  process.exit(failed > 0 ? 1 : 0);
}
