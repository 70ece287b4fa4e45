/**
 * `bun tests/checkers/main.ts <kind> history.jsonl [options]` prints the checker's result as JSON.
 * Kinds: counter, set, convergence, queue, bank, list-append, election, lost-writes. Options:
 * `--key K` (counter, set, queue), `--linearizable` (counter), `--total N` (bank, required),
 * `--accounts a,b,c` and `--initial '{"a":10,...}'` (bank).
 * Exit 0 valid, 1 invalid, 2 on bad usage or a malformed history.
 */
import { readFileSync } from "node:fs";
import { checkBank } from "./bank.ts";
import { checkConvergence, convergenceFromHistory } from "./convergence.ts";
import { checkCounter } from "./counter.ts";
import { checkElection } from "./election.ts";
import { type CheckResult, parseHistory } from "./history.ts";
import { checkListAppend } from "./list_append.ts";
import { checkLostWrites } from "./lost_writes.ts";
import { checkQueue } from "./queue.ts";
import { checkSet } from "./set.ts";

const USAGE = "usage: bun tests/checkers/main.ts " +
  "<counter|set|convergence|queue|bank|list-append|election|lost-writes> history.jsonl " +
  "[--key K] [--linearizable] [--total N] [--accounts a,b,c] [--initial JSON]";

function run(argv: string[]): CheckResult {
  const [kind, file, ...rest] = argv;
  let key: string | undefined, linearizable = false, total: number | undefined;
  let accounts: string[] | undefined, initial: Record<string, number> | undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === "--linearizable") {
      linearizable = true;
      continue;
    }
    const value = rest[++i];
    if (value === undefined) throw new Error(`unknown argument ${arg}\n${USAGE}`);
    if (arg === "--key") key = value;
    else if (arg === "--total") total = Number(value);
    else if (arg === "--accounts") accounts = value.split(",");
    else if (arg === "--initial") initial = JSON.parse(value);
    else throw new Error(`unknown argument ${arg}\n${USAGE}`);
  }
  if (file === undefined) throw new Error(USAGE);
  const events = parseHistory(readFileSync(file, "utf8"));
  if (kind === "counter") return checkCounter(events, { key, linearizable });
  if (kind === "set") return checkSet(events, { key });
  if (kind === "convergence") return checkConvergence(convergenceFromHistory(events));
  if (kind === "queue") return checkQueue(events, { key });
  if (kind === "bank") {
    if (total === undefined) throw new Error(`bank needs --total N\n${USAGE}`);
    return checkBank(events, { total, accounts, initial });
  }
  if (kind === "list-append") return checkListAppend(events);
  if (kind === "election") return checkElection(events);
  if (kind === "lost-writes") return checkLostWrites(events);
  throw new Error(USAGE);
}

try {
  const result = run(process.argv.slice(2));
  console.log(JSON.stringify(result, null, 2));
  process.exit(result.valid ? 0 : 1);
} catch (e) {
  console.error((e as Error).message);
  process.exit(2);
}
