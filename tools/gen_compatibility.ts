/**
 * Generates docs/compatibility.md from the fragments in docs/compat/: the hand-written introduction
 * (`_intro.md`), then "## Every command" with each family's fragment in a fixed order (its headings
 * demoted one level), then the Redis suite results and the known differences (`_suite.md`). The
 * result goes through `deno fmt`, so the file is the same whoever generates it.
 *
 * Usage: bun tools/gen_compatibility.ts [--check]
 *   without --check  rewrites docs/compatibility.md
 *   --check          exits 1 when docs/compatibility.md differs from what would be generated
 * A missing fragment is reported on stderr and left out (tests/unit/compatibility_doc_test.ts then
 * reports its commands as missing rows), and so is a fragment that is not in FRAGMENTS.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** The repository root (this file lives in tools/). */
export const ROOT = join(dirname(new URL(import.meta.url).pathname), "..");

/** The output, relative to the root. */
export const OUTPUT = "docs/compatibility.md";

/** The fragments of docs/compat/, in the order they appear under "## Every command". */
export const FRAGMENTS: readonly string[] = [
  "string",
  "list",
  "hash",
  "set",
  "zset",
  "geo",
  "stream",
  "bitmap",
  "hll",
  "keys",
  "generic",
  "transactions",
  "connection",
  "server",
  "scripting",
  "pubsub",
  "cluster",
];

/** What "## Every command" says before the fragments. */
const LEGEND = [
  "## Every command",
  "",
  "One row per command and subcommand of Redis 8.4 (Sentinel's aside). `supported`: `yes`, `no` (the node",
  "answers `ERR command '<name>' is not supported by this node yet`, or Redis's unknown-subcommand error for a",
  "subcommand its container does not know), or `partly` for a container some of whose subcommands are",
  "supported. `class`: `coordination-free`, `exclusive`, `read` (answered from this node's view), `admin` or",
  "`connection` (about this node or this connection: nothing is replicated), or `—` for an unsupported command",
  "that has no class yet. The last column says what concurrent writes on two nodes produce, or for an",
  "unsupported command why it is not.",
].join("\n");

/** `md` with every ATX heading outside code fences one level deeper. */
export function demote(md: string): string {
  let fenced = false;
  return md.split("\n").map((line) => {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    return !fenced && /^#{1,5} /.test(line) ? "#" + line : line;
  }).join("\n");
}

/** The unformatted document, the fragments that were not found and the files of docs/compat/ not used. */
export function compose(root = ROOT): { text: string; missing: string[]; unlisted: string[] } {
  const dir = join(root, "docs/compat");
  const read = (name: string) => readFileSync(join(dir, name), "utf8").trim();
  const parts = [read("_intro.md"), LEGEND];
  const missing: string[] = [];
  for (const name of FRAGMENTS) {
    const file = join(dir, `${name}.md`);
    if (existsSync(file)) parts.push(demote(read(`${name}.md`)));
    else missing.push(name);
  }
  parts.push(read("_suite.md"));
  const unlisted = readdirSync(dir).filter((f) =>
    f.endsWith(".md") && !f.startsWith("_") && !FRAGMENTS.includes(f.slice(0, -3))
  );
  return { text: parts.join("\n\n") + "\n", missing, unlisted };
}

/** `md` as `deno fmt` formats it with the repository's settings (deno.json). */
export function format(md: string, root = ROOT): string {
  const deno = join(root, "node_modules/.bin/deno");
  const r = spawnSync(deno, ["fmt", "--config", join(root, "deno.json"), "--ext", "md", "-"], {
    cwd: root,
    input: md,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`deno fmt failed: ${r.stderr || r.error}`);
  return r.stdout;
}

/** The formatted document, the fragments that were not found and the files of docs/compat/ not used. */
export function generate(root = ROOT): { text: string; missing: string[]; unlisted: string[] } {
  const { text, missing, unlisted } = compose(root);
  return { text: format(text, root), missing, unlisted };
}

if (import.meta.main) {
  const { text, missing, unlisted } = generate();
  for (const name of missing) console.error(`warning: docs/compat/${name}.md is missing; left out`);
  for (const file of unlisted) console.error(`warning: docs/compat/${file} is not in FRAGMENTS; left out`);
  const out = join(ROOT, OUTPUT);
  if (process.argv.includes("--check")) {
    const same = existsSync(out) && readFileSync(out, "utf8") === text;
    if (!same) console.error(`${OUTPUT} differs from the fragments: run bun tools/gen_compatibility.ts`);
    process.exit(same ? 0 : 1);
  }
  writeFileSync(out, text);
  console.log(`wrote ${OUTPUT}`);
}
