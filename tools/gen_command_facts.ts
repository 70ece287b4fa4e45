/**
 * Generates redis/command_facts.json from the shared Redis 8.4 command facts.
 *
 * Usage: bun tools/gen_command_facts.ts [input.json] [output.json]
 *   input  defaults to ../shared/redis-commands.json (relative to the repository root)
 *   output defaults to redis/command_facts.json
 *
 * Only entries that exist outside Sentinel are kept, and only the fields the server
 * needs for dispatch and for COMMAND COUNT/INFO/DOCS/LIST/GETKEYS. Key-spec strings
 * ("index:1", "keyword:STREAMS,1", "range:-1,1,2", "keynum:0,1,1") are parsed here so
 * the server does no parsing at start-up. The output is minified JSON.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** One entry of ../shared/redis-commands.json (only the fields we read). */
interface SourceEntry {
  name: string;
  container: string | null;
  group: string;
  since: string;
  arity: number;
  flags: string[];
  hidden_flags: string[];
  acl_categories: string[];
  key_specs: { first: number; last: number; step: number };
  movablekeys: boolean;
  key_specs_detail: { flags: string[]; begin_search: string; find_keys: string; notes?: string }[];
  getkeys_function: boolean;
  command_tips: string[];
  syntax: string;
  arg_versions: { arg: string; since?: string; deprecated_since?: string }[];
  history: string[];
  doc_flags: string[];
  sentinel_only: boolean;
  subcommands: string[];
  summary?: string;
  complexity?: string;
  deprecated_since?: string;
  replaced_by?: string;
}

/** Parsed begin_search part of a key spec. */
type BeginSearch =
  | { type: "index"; index: number }
  | { type: "keyword"; keyword: string; startfrom: number }
  | { type: "unknown" };

/** Parsed find_keys part of a key spec. */
type FindKeys =
  | { type: "range"; lastkey: number; keystep: number; limit: number }
  | { type: "keynum"; keynumidx: number; firstkey: number; keystep: number }
  | { type: "unknown" };

/** One command as written to redis/command_facts.json (optional fields are omitted when empty). */
interface FactEntry {
  name: string;
  container?: string;
  group: string;
  since: string;
  arity: number;
  flags: string[];
  hidden_flags?: string[];
  acl_categories: string[];
  key_range: [number, number, number];
  movablekeys?: true;
  key_specs?: { flags: string[]; bs: BeginSearch; fk: FindKeys; notes?: string }[];
  getkeys_function?: true;
  tips?: string[];
  summary?: string;
  complexity?: string;
  syntax: string;
  doc_flags?: string[];
  deprecated_since?: string;
  replaced_by?: string;
  history?: [string, string][];
  subcommands?: string[];
}

function ints(s: string, n: number, what: string): number[] {
  const parts = s.split(",");
  const out = parts.map((p) => {
    const v = Number(p);
    if (!Number.isInteger(v)) throw new Error(`bad ${what}: ${s}`);
    return v;
  });
  if (out.length !== n) throw new Error(`bad ${what}: ${s}`);
  return out;
}

function parseBeginSearch(s: string): BeginSearch {
  if (s === "unknown") return { type: "unknown" };
  const colon = s.indexOf(":");
  const kind = s.slice(0, colon);
  const rest = s.slice(colon + 1);
  if (kind === "index") return { type: "index", index: ints(rest, 1, "begin_search")[0]! };
  if (kind === "keyword") {
    const comma = rest.lastIndexOf(",");
    return {
      type: "keyword",
      keyword: rest.slice(0, comma),
      startfrom: ints(rest.slice(comma + 1), 1, "begin_search")[0]!,
    };
  }
  throw new Error(`unknown begin_search: ${s}`);
}

function parseFindKeys(s: string): FindKeys {
  if (s === "unknown") return { type: "unknown" };
  const colon = s.indexOf(":");
  const kind = s.slice(0, colon);
  const rest = s.slice(colon + 1);
  if (kind === "range") {
    const [lastkey, keystep, limit] = ints(rest, 3, "find_keys");
    return { type: "range", lastkey: lastkey!, keystep: keystep!, limit: limit! };
  }
  if (kind === "keynum") {
    const [keynumidx, firstkey, keystep] = ints(rest, 3, "find_keys");
    return { type: "keynum", keynumidx: keynumidx!, firstkey: firstkey!, keystep: keystep! };
  }
  throw new Error(`unknown find_keys: ${s}`);
}

/**
 * The source only lists history versions. The change text is rebuilt from the
 * per-argument versions when they account for the version, else left empty.
 */
function history(e: SourceEntry): [string, string][] {
  const out: [string, string][] = [];
  const seen = new Map<string, number>();
  for (const v of e.history) {
    const added = e.arg_versions.filter((a) => a.since === v).map((a) => a.arg);
    const deprecated = e.arg_versions.filter((a) => a.deprecated_since === v).map((a) => a.arg);
    const texts: string[] = [];
    if (added.length) texts.push(`Added the ${list(added)} ${added.length > 1 ? "arguments" : "argument"}.`);
    if (deprecated.length) {
      texts.push(`Deprecated the ${list(deprecated)} ${deprecated.length > 1 ? "arguments" : "argument"}.`);
    }
    // A version listed twice (e.g. CLIENT|KILL 2.8.12) keeps both rows, the text only on the first.
    const n = seen.get(v) ?? 0;
    seen.set(v, n + 1);
    out.push([v, n === 0 ? texts.join(" ") : ""]);
  }
  return out;
}

function list(names: string[]): string {
  const q = names.map((n) => "`" + n + "`");
  return q.length <= 1 ? q.join("") : q.slice(0, -1).join(", ") + " and " + q[q.length - 1];
}

function convert(e: SourceEntry): FactEntry {
  const f: FactEntry = {
    name: e.name,
    group: e.group,
    since: e.since,
    arity: e.arity,
    flags: e.flags,
    acl_categories: e.acl_categories,
    key_range: [e.key_specs.first, e.key_specs.last, e.key_specs.step],
    syntax: e.syntax,
  };
  if (e.container) f.container = e.container;
  if (e.hidden_flags.length) f.hidden_flags = e.hidden_flags;
  if (e.movablekeys) f.movablekeys = true;
  if (e.key_specs_detail.length) {
    f.key_specs = e.key_specs_detail.map((k) => ({
      flags: k.flags,
      bs: parseBeginSearch(k.begin_search),
      fk: parseFindKeys(k.find_keys),
      ...(k.notes ? { notes: k.notes } : {}),
    }));
  }
  if (e.getkeys_function) f.getkeys_function = true;
  if (e.command_tips.length) f.tips = e.command_tips;
  if (e.summary) f.summary = e.summary;
  if (e.complexity) f.complexity = e.complexity;
  if (e.doc_flags.length) f.doc_flags = e.doc_flags;
  if (e.deprecated_since) f.deprecated_since = e.deprecated_since;
  if (e.replaced_by) f.replaced_by = e.replaced_by;
  if (e.history.length) f.history = history(e);
  const subs = e.subcommands;
  if (subs.length) f.subcommands = subs;
  return f;
}

function main(): void {
  const root = join(dirname(new URL(import.meta.url).pathname), "..");
  const input = process.argv[2] ?? join(root, "../shared/redis-commands.json");
  const output = process.argv[3] ?? join(root, "redis/command_facts.json");
  const src = JSON.parse(readFileSync(input, "utf8")) as SourceEntry[];
  const kept = src.filter((e) => !e.sentinel_only);
  const names = new Set(kept.map((e) => e.name));
  const facts = kept.map(convert);
  // Drop references to subcommands that were filtered out (Sentinel-only ones).
  for (const f of facts) {
    if (f.subcommands) {
      f.subcommands = f.subcommands.filter((s) => names.has(s));
      if (!f.subcommands.length) delete f.subcommands;
    }
    if (f.container && !names.has(f.container)) throw new Error(`orphan subcommand ${f.name}`);
  }
  writeFileSync(output, JSON.stringify(facts) + "\n");
  const top = facts.filter((f) => !f.container).length;
  console.log(`wrote ${output}: ${facts.length} entries (${top} top-level)`);
}

main();
