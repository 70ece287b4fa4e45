/**
 * Script format of the differential tests (tests/differential/scripts/*.txt).
 *
 * One command per line, tokens split on blanks like redis-cli: "double quoted" (escapes \n \r \t
 * \\ \" \xHH) and 'single quoted' (literal) tokens are allowed, "" is the empty string.
 *
 *   # text           comment
 *   @resp3           (first line only) every connection of the script starts with HELLO 3 (not compared)
 *   !sleep MS        wait MS milliseconds (bounded to 3000) on both sides
 *   [N] CMD ...      send on connection N (1..4) instead of connection 1
 *   ~MODE CMD ...    compare after a normalization; modes (each one documented where it is applied):
 *      ttl          integer replies > 0 become ":<positive>" (TTL, PTTL, EXPIRETIME, PEXPIRETIME:
 *                   the exact number depends on the clock; -1 / -2 are kept)
 *      sort         the elements of an array/set reply are sorted (KEYS and friends: order unspecified)
 *      scan         SCAN is repeated from cursor 0 until the cursor is 0 again (at most 1000 calls),
 *                   all keys are collected and sorted; the cursors themselves are not compared
 *      type         only the reply type is compared (CLIENT ID, TIME, RANDOMKEY with many keys...)
 *      hello        HELLO reply with the values of "version" and "id" replaced by "<x>"
 *                   (server version and client id differ by construction)
 */

export type Mode = "ttl" | "sort" | "scan" | "type" | "hello";

export interface Step {
  line: number;
  /** The line as written, without the connection and mode prefixes. */
  text: string;
  conn: number;
  mode: Mode | null;
  args: Buffer[];
  sleepMs?: number;
}

export interface Script {
  id: string;
  resp3: boolean;
  steps: Step[];
}

const MODES = new Set(["ttl", "sort", "scan", "type", "hello"]);

/** Splits a command line into arguments (redis-cli quoting rules). */
export function tokenize(line: string): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && (line[i] === " " || line[i] === "\t")) i++;
    if (i >= line.length) break;
    const bytes: number[] = [];
    if (line[i] === '"') {
      i++;
      let closed = false;
      while (i < line.length) {
        const c = line[i]!;
        if (c === "\\" && i + 1 < line.length) {
          const n = line[i + 1]!;
          if (n === "x" && /^[0-9a-fA-F]{2}$/.test(line.slice(i + 2, i + 4))) {
            bytes.push(parseInt(line.slice(i + 2, i + 4), 16));
            i += 4;
            continue;
          }
          const map: Record<string, string> = { n: "\n", r: "\r", t: "\t", "\\": "\\", '"': '"' };
          for (const b of Buffer.from(map[n] ?? n)) bytes.push(b);
          i += 2;
          continue;
        }
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        for (const b of Buffer.from(c)) bytes.push(b);
        i++;
      }
      if (!closed) throw new Error(`unbalanced quotes in ${line}`);
    } else if (line[i] === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unbalanced quotes in ${line}`);
      for (const b of Buffer.from(line.slice(i + 1, end))) bytes.push(b);
      i = end + 1;
    } else {
      const start = i;
      while (i < line.length && line[i] !== " " && line[i] !== "\t") i++;
      for (const b of Buffer.from(line.slice(start, i))) bytes.push(b);
    }
    out.push(Buffer.from(bytes));
  }
  return out;
}

/** Parses a script file's text. */
export function parseScript(id: string, source: string): Script {
  const steps: Step[] = [];
  let resp3 = false;
  source.split("\n").forEach((raw, idx) => {
    const lineNo = idx + 1;
    let text = raw.trim();
    if (text === "" || text.startsWith("#")) return;
    if (text === "@resp3") {
      if (steps.length > 0) throw new Error(`${id}:${lineNo}: @resp3 must come first`);
      resp3 = true;
      return;
    }
    const sleep = /^!sleep\s+(\d+)$/.exec(text);
    if (sleep) {
      const ms = Number(sleep[1]);
      if (ms > 3000) throw new Error(`${id}:${lineNo}: sleep too long`);
      steps.push({ line: lineNo, text, conn: 1, mode: null, args: [], sleepMs: ms });
      return;
    }
    let conn = 1;
    const c = /^\[(\d)\]\s+/.exec(text);
    if (c) {
      conn = Number(c[1]);
      if (conn < 1 || conn > 4) throw new Error(`${id}:${lineNo}: connection out of range`);
      text = text.slice(c[0].length);
    }
    let mode: Mode | null = null;
    const m = /^~(\w+)\s+/.exec(text);
    if (m) {
      if (!MODES.has(m[1]!)) throw new Error(`${id}:${lineNo}: unknown mode ${m[1]}`);
      mode = m[1] as Mode;
      text = text.slice(m[0].length);
    }
    steps.push({ line: lineNo, text, conn, mode, args: tokenize(text) });
  });
  return { id, resp3, steps };
}
