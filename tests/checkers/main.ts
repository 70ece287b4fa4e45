/**
 * `bun tests/checkers/main.ts <counter|set|convergence> history.jsonl [--key K] [--linearizable]`
 * prints the checker's result as JSON. Exit 0 valid, 1 invalid, 2 on bad usage or a malformed history.
 */
import { readFileSync } from "node:fs";
import { checkConvergence, convergenceFromHistory } from "./convergence.ts";
import { checkCounter } from "./counter.ts";
import { type CheckResult, parseHistory } from "./history.ts";
import { checkSet } from "./set.ts";

const USAGE =
  "usage: bun tests/checkers/main.ts <counter|set|convergence> history.jsonl [--key K] [--linearizable]";

function run(argv: string[]): CheckResult {
  const [kind, file, ...rest] = argv;
  let key: string | undefined, linearizable = false;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--key" && i + 1 < rest.length) key = rest[++i];
    else if (rest[i] === "--linearizable") linearizable = true;
    else throw new Error(`unknown argument ${rest[i]}\n${USAGE}`);
  }
  if (file === undefined) throw new Error(USAGE);
  const events = parseHistory(readFileSync(file, "utf8"));
  if (kind === "counter") return checkCounter(events, { key, linearizable });
  if (kind === "set") return checkSet(events, { key });
  if (kind === "convergence") return checkConvergence(convergenceFromHistory(events));
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
