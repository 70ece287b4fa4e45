/**
 * The IO rule: core/ and redis/ are sans-IO. Every clock, random number, timer, file, socket and
 * process fact reaches them through Env (or the shell's options); and core/ imports nothing outside
 * core/ except the npm package cbor-x.
 */
import { expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOT } from "../helpers.ts";

/** Every .ts file under `dir` (recursive), as absolute paths. */
function sources(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|tsx|js|mjs|cjs|mts|cts)$/.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * Blanks out comments (keeping newlines, so line numbers hold). String and template literals are
 * kept: an IO name inside a string is suspicious enough to report.
 */
function stripComments(src: string): string {
  let out = "";
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i], d = src[i + 1];
    if (c === "/" && d === "/") {
      while (i < n && src[i] !== "\n") {
        out += " ";
        i++;
      }
    } else if (c === "/" && d === "*") {
      while (i < n && !(src[i] === "*" && src[i + 1] === "/")) {
        out += src[i] === "\n" ? "\n" : " ";
        i++;
      }
      if (i < n) {
        out += "  ";
        i += 2;
      }
    } else if (c === '"' || c === "'" || c === "`") {
      out += c;
      i++;
      while (i < n && src[i] !== c) {
        if (src[i] === "\\" && i + 1 < n) {
          out += src[i] + src[i + 1];
          i += 2;
          continue;
        }
        if (c !== "`" && src[i] === "\n") break; // unterminated: give up on this literal
        out += src[i];
        i++;
      }
      if (i < n) {
        out += src[i];
        i++;
      }
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Forbidden uses of ambient IO, by name. */
const FORBIDDEN: [string, RegExp][] = [
  ["Date.now", /(?<![\w$.])Date\s*\.\s*now\b/],
  ["new Date", /\bnew\s+Date\b/],
  ["Math.random", /(?<![\w$.])Math\s*\.\s*random\b/],
  ["performance", /(?<![\w$.])performance\b/],
  ["setTimeout", /(?<![\w$.])setTimeout\b/],
  ["setInterval", /(?<![\w$.])setInterval\b/],
  ["setImmediate", /(?<![\w$.])setImmediate\b/],
  ["process.", /(?<![\w$.])process\s*\./],
  ["Bun.", /(?<![\w$.])Bun\s*\./],
  ["require(", /(?<![\w$.])require\s*\(/],
  ["fetch(", /(?<![\w$.])fetch\s*\(/],
];

const IO_MODULES = [
  "fs",
  "fs/promises",
  "net",
  "dgram",
  "child_process",
  "os",
  "http",
  "https",
  "tls",
  "worker_threads",
];

/** Module specifiers imported or re-exported by a (comment-stripped) source, with their lines. */
function importsOf(code: string): { spec: string; line: number }[] {
  const out: { spec: string; line: number }[] = [];
  const re =
    /(?:\bimport\s*(?:type\s+)?(?:[\w$*{}\s,]+?\s*from\s*)?|\bexport\s*(?:type\s+)?[\w$*{}\s,]+?\s*from\s*|\bimport\s*\(\s*)(["'])([^"'\n]+)\1/g;
  for (const m of code.matchAll(re)) {
    out.push({ spec: m[2], line: code.slice(0, m.index).split("\n").length });
  }
  return out;
}

interface Violation {
  where: string;
  what: string;
}

function check(dir: string): Violation[] {
  const violations: Violation[] = [];
  const inCore = dir === "core";
  for (const file of sources(path.join(ROOT, dir))) {
    const rel = path.relative(ROOT, file);
    const code = stripComments(fs.readFileSync(file, "utf8"));
    const lines = code.split("\n");
    lines.forEach((line, i) => {
      for (const [name, re] of FORBIDDEN) {
        if (re.test(line)) {
          violations.push({ where: `${rel}:${i + 1}`, what: `uses ${name}: ${line.trim()}` });
        }
      }
    });
    for (const { spec, line } of importsOf(code)) {
      const bare = spec.replace(/^node:/, "");
      if (IO_MODULES.includes(bare) || IO_MODULES.some((m) => bare.startsWith(m + "/"))) {
        violations.push({ where: `${rel}:${line}`, what: `imports IO module '${spec}'` });
      }
      if (spec.startsWith(".")) {
        const target = path.relative(ROOT, path.resolve(path.dirname(file), spec));
        if (target.startsWith("net/") || target.startsWith("cli/") || target === "net" || target === "cli") {
          violations.push({ where: `${rel}:${line}`, what: `imports the shell '${spec}'` });
        }
        if (inCore && !(target + "/").startsWith("core/")) {
          violations.push({ where: `${rel}:${line}`, what: `core imports outside core/: '${spec}'` });
        }
      } else if (inCore && spec !== "cbor-x") {
        violations.push({
          where: `${rel}:${line}`,
          what: `core imports package '${spec}' (only cbor-x is allowed)`,
        });
      }
    }
  }
  return violations;
}

function report(vs: Violation[]): string {
  return vs.map((v) => `${v.where}: ${v.what}`).join("\n");
}

test("the checker itself finds what it should", () => {
  const code = stripComments(
    [
      "// Date.now() in a comment is fine",
      "/* setTimeout( in a block",
      "   comment */ const x = 1;",
      'import * as fs from "node:fs";',
      "const t = Date.now();",
      "const u = env.performance;",
    ].join("\n"),
  );
  const lines = code.split("\n");
  const hits = lines.flatMap((l, i) =>
    FORBIDDEN.filter(([, re]) => re.test(l)).map(([n]) => `${i + 1}:${n}`)
  );
  expect(hits).toEqual(["5:Date.now"]);
  expect(importsOf(code).map((x) => x.spec)).toEqual(["node:fs"]);
  expect(importsOf('export { a } from "../net/x.ts";\nconst m = await import("os");').map((x) => x.line))
    .toEqual([1, 2]);
});

test("core/ uses no IO outside Env and imports only core/ and cbor-x", () => {
  expect(sources(path.join(ROOT, "core")).length).toBeGreaterThan(0);
  const vs = check("core");
  if (vs.length > 0) console.error(report(vs));
  expect(report(vs)).toBe("");
});

test("redis/ uses no IO outside Env and does not import the shell", () => {
  expect(sources(path.join(ROOT, "redis")).length).toBeGreaterThan(0);
  const vs = check("redis");
  if (vs.length > 0) console.error(report(vs));
  expect(report(vs)).toBe("");
});
