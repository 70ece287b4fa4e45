/**
 * docs/compatibility.md against the code: one row per Redis 8.4 command and subcommand (Sentinel's
 * aside), a "supported" column that agrees with the handler registry, no always-exclusive command
 * classed otherwise, and a file that is exactly what tools/gen_compatibility.ts makes of the
 * fragments in docs/compat/ (so nobody edits the output by hand).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import facts from "../../redis/command_facts.json" with { type: "json" };
import { CommandError, type Ctx } from "../../redis/command.ts";
import { exclusiveReason } from "../../redis/exclusive.ts";
import { handlers } from "../../redis/mod.ts";
import { generate, OUTPUT, ROOT } from "../../tools/gen_compatibility.ts";

interface Fact {
  name: string;
  group: string;
  container?: string;
  subcommands?: string[];
}

interface Row {
  command: string;
  supported: string;
  cls: string;
  line: number;
}

/** Commands the face runs itself (redis/face.ts execute), with no entry in the registry. */
const FACE_BUILTINS = new Set(["multi", "exec", "discard", "watch"]);

const FACTS = (facts as Fact[]).filter((f) => f.group !== "sentinel");
const BY_NAME = new Map(FACTS.map((f) => [f.name, f]));
const DOC = readFileSync(join(ROOT, OUTPUT), "utf8");

/** The cells of a table line, split at pipes that are not escaped. */
function cells(line: string): string[] {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split(/(?<!\\)\|/).map((c) => c.trim());
}

/** The rows of every table whose header is `| command | supported | class | ... |`. */
function commandRows(md: string): Row[] {
  const rows: Row[] = [];
  let inTable = false;
  md.split("\n").forEach((line, i) => {
    if (!line.startsWith("|")) {
      inTable = false;
      return;
    }
    const c = cells(line);
    if (c[0] === "command" && c[1] === "supported" && c[2] === "class") {
      inTable = true;
      return;
    }
    if (!inTable || /^-+$/.test(c[0])) return;
    const command = c[0].replace(/`/g, "").trim().toUpperCase().replace(" ", "|");
    rows.push({ command, supported: c[1], cls: c[2], line: i + 1 });
  });
  return rows;
}

/** A minimal context for asking a container's handler about a subcommand it may not know. */
const PROBE_CTX = { client: {}, face: {}, engine: {}, batch: {}, db: 0 } as unknown as Ctx;

/**
 * Whether the node answers a non-container command: its own handler, the face, or its container's
 * handler unless that handler refuses the subcommand as unknown (CLIENT, CONFIG, COMMAND, MEMORY
 * dispatch their subcommands themselves).
 */
function supportedByCode(f: Fact): boolean {
  const name = f.name.toLowerCase();
  if (handlers[name] !== undefined || FACE_BUILTINS.has(name)) return true;
  if (f.container === undefined) return false;
  const handler = handlers[f.container.toLowerCase()];
  if (handler === undefined) return false;
  const [container, sub] = name.split("|");
  try {
    handler(PROBE_CTX, [container, sub]);
  } catch (e) {
    if (e instanceof CommandError) return !/unknown subcommand|is not supported by this node/.test(e.message);
  }
  // Anything else (a reply, an arity error, or a failure on the probe's empty context) means the
  // handler went past its dispatch, so it knows the subcommand.
  return true;
}

/** "yes" / "no" for a command, "yes" / "no" / "partly" for a container from its subcommands. */
function expectedSupport(f: Fact): string {
  if (f.subcommands === undefined || f.subcommands.length === 0) return supportedByCode(f) ? "yes" : "no";
  const subs = f.subcommands.map((s) => BY_NAME.get(s)).filter((s) => s !== undefined);
  const n = subs.filter((s) => supportedByCode(s)).length;
  return n === subs.length ? "yes" : n === 0 ? "no" : "partly";
}

const ROWS = commandRows(DOC);

describe("docs/compatibility.md", () => {
  test("every command and subcommand has exactly one row", () => {
    const seen = new Map<string, number>();
    for (const r of ROWS) seen.set(r.command, (seen.get(r.command) ?? 0) + 1);
    const missing = FACTS.filter((f) => !seen.has(f.name)).map((f) =>
      `${f.group}: ${f.name.replace("|", " ")}`
    );
    const doubled = [...seen].filter(([, n]) => n > 1).map(([c]) => c.replace("|", " "));
    const unknown = [...seen.keys()].filter((c) => !BY_NAME.has(c)).map((c) => c.replace("|", " "));
    expect({ missing, doubled, unknown }).toEqual({ missing: [], doubled: [], unknown: [] });
  });

  test("the supported column agrees with the handler registry", () => {
    const wrong: string[] = [];
    for (const r of ROWS) {
      const f = BY_NAME.get(r.command);
      if (f === undefined) continue;
      const want = expectedSupport(f);
      if (r.supported !== want) {
        wrong.push(`${r.command} (line ${r.line}): "${r.supported}", the code says "${want}"`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test("always-exclusive commands are classed exclusive", () => {
    const wrong: string[] = [];
    for (const r of ROWS) {
      const name = r.command.toLowerCase();
      if (exclusiveReason(name, [name]) === null) continue;
      if (!/\bexclusive\b/.test(r.cls) || /^(coordination-free|read)\b/.test(r.cls)) {
        wrong.push(`${r.command} (line ${r.line}): class "${r.cls}"`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test("the file is what tools/gen_compatibility.ts makes of docs/compat/", () => {
    const { text, missing, unlisted } = generate();
    expect({ missing, unlisted }).toEqual({ missing: [], unlisted: [] });
    // Compared as lines so a difference shows where it is.
    expect(DOC.split("\n")).toEqual(text.split("\n"));
  });
});
