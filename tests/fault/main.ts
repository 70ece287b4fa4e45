/**
 * `bun tests/fault/main.ts [--seed N] [--seconds S] [--nodes N] [--rate OPS] [--nemeses a,b|none]
 * [--queue-rate N] [--pop-batch N] [--no-exclusive] [--keep]` runs the fault harness once and
 * prints its report. --rate is the target operations per second over the counter and set clients;
 * --nemeses limits the schedule to some nemeses (none: the workload alone); --queue-rate is the
 * queue elements pushed per second; --pop-batch is the most elements one LPOP takes while the
 * queue is backlogged (1: single LPOPs only); --no-exclusive leaves out the exclusive workloads
 * (queue, bank, list-append).
 *
 * `bun tests/fault/main.ts --partition [--seed N] [--keep]` runs the partition test instead
 * (partition.ts).
 *
 * Exit 0 pass, 1 fail, 2 bad usage, 77 skipped (the machine cannot run it: not root, no `ip
 * netns`; the reason is printed as `SKIPPED: ...`).
 */
import { DEFAULT_RATE, formatReport, POP_BATCH_MAX, QUEUE_RATE, runHarness } from "./harness.ts";
import { formatPartitionReport, runPartition } from "./partition.ts";
import { NEMESES, type NemesisKind } from "./probe.ts";

const USAGE = "usage: bun tests/fault/main.ts [--seed N] [--seconds S] [--nodes N] [--rate OPS] " +
  "[--nemeses a,b|none] [--queue-rate N] [--pop-batch N] [--no-exclusive] [--keep]\n" +
  "       bun tests/fault/main.ts --partition [--seed N] [--keep]";

interface Args {
  seed: number;
  seconds: number;
  nodes: number;
  rate: number;
  only: NemesisKind[] | undefined;
  exclusive: boolean;
  queueRate: number;
  popBatch: number;
  partition: boolean;
  keep: boolean;
}

function parse(argv: string[]): Args {
  const o: Args = {
    seed: Date.now() % 1_000_000,
    seconds: 90,
    nodes: 3,
    rate: DEFAULT_RATE,
    only: undefined,
    exclusive: true,
    queueRate: QUEUE_RATE,
    popBatch: POP_BATCH_MAX,
    partition: false,
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
    } else if (a === "--queue-rate") o.queueRate = num(1, 100_000);
    else if (a === "--pop-batch") o.popBatch = num(1, 1000);
    else if (a === "--no-exclusive") o.exclusive = false;
    else if (a === "--partition") o.partition = true;
    else if (a === "--keep") o.keep = true;
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
if (opts.partition) {
  console.log(`seed ${opts.seed} (replay: bun tests/fault/main.ts --partition --seed ${opts.seed})`);
  const report = await runPartition({ seed: opts.seed, keepDir: opts.keep, log: (l) => console.log(l) });
  console.log(formatPartitionReport(report));
  process.exit(report.skipped !== null ? 77 : report.ok ? 0 : 1);
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
  exclusive: opts.exclusive,
  queueRate: opts.queueRate,
  popBatchMax: opts.popBatch,
  keepDir: opts.keep,
  log: (l) => console.log(l),
});
console.log(formatReport(report));
process.exit(report.skipped !== null ? 77 : report.ok ? 0 : 1);
