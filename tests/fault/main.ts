/**
 * `bun tests/fault/main.ts [--seed N] [--seconds S] [--nodes N] [--rate OPS] [--nemeses a,b|none]
 * [--keep]` runs the fault harness once and prints its report. --rate is the target operations per
 * second over all clients; --nemeses limits the schedule to some nemeses (none: the workload alone). Exit 0 pass, 1 fail, 2 bad usage, 77 skipped (the machine cannot
 * run it: not root, no `ip netns`; the reason is printed as `SKIPPED: ...`).
 */
import { DEFAULT_RATE, formatReport, runHarness } from "./harness.ts";
import { NEMESES, type NemesisKind } from "./probe.ts";

const USAGE =
  "usage: bun tests/fault/main.ts [--seed N] [--seconds S] [--nodes N] [--rate OPS] [--nemeses a,b|none] [--keep]";

interface Args {
  seed: number;
  seconds: number;
  nodes: number;
  rate: number;
  only: NemesisKind[] | undefined;
  keep: boolean;
}

function parse(argv: string[]): Args {
  const o: Args = {
    seed: Date.now() % 1_000_000,
    seconds: 90,
    nodes: 3,
    rate: DEFAULT_RATE,
    only: undefined,
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (min: number, max: number) => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < min || v > max) throw new Error(`bad value for ${a}\n${USAGE}`);
      return v;
    };
    if (a === "--seed") o.seed = num(0, 2 ** 32 - 1);
    else if (a === "--seconds") o.seconds = num(5, 3600);
    else if (a === "--nodes") o.nodes = num(1, 9);
    else if (a === "--rate") o.rate = num(0, 100_000);
    else if (a === "--nemeses") {
      const list = (argv[++i] ?? "").split(",").filter((x) => x !== "" && x !== "none");
      const bad = list.filter((x) => !(NEMESES as readonly string[]).includes(x));
      if (bad.length > 0) {
        throw new Error(`unknown nemeses ${bad.join(",")} (known: ${NEMESES.join(",")})\n${USAGE}`);
      }
      o.only = list as NemesisKind[];
    } else if (a === "--keep") o.keep = true;
    else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  return o;
}

let opts;
try {
  opts = parse(process.argv.slice(2));
} catch (e) {
  console.error((e as Error).message);
  process.exit(2);
}
console.log(
  `seed ${opts.seed} (replay: bun tests/fault/main.ts --seed ${opts.seed} --seconds ${opts.seconds})`,
);
const report = await runHarness({
  seed: opts.seed,
  seconds: opts.seconds,
  nodes: opts.nodes,
  rate: opts.rate,
  only: opts.only,
  keepDir: opts.keep,
  log: (l) => console.log(l),
});
console.log(formatReport(report));
process.exit(report.skipped !== null ? 77 : report.ok ? 0 : 1);
