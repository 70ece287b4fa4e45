/**
 * Differential test: the same command scripts go to a real redis-server (Debian's 7.0) and to a
 * real Swytch over raw sockets; the replies are compared command by command, type markers included.
 *
 * Any difference fails unless it is listed in known_diffs.json with both replies verbatim and a
 * justification from the Redis 8.4 behaviour (commands new in 8.x, replies changed after 7.0).
 * The normalizations (TTL values, sorting, SCAN collection, reply types only, HELLO version/id)
 * are chosen per command in the scripts and documented in script.ts.
 */
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { freePort, type Proc, startSwytch, testIf, tmpDir, waitForPort } from "../helpers.ts";
import { render, type Resp, RespConn } from "./resp_client.ts";
import { type Mode, parseScript, type Script, type Step } from "./script.ts";

const REDIS = "/usr/bin/redis-server";
const HERE = import.meta.dir;

interface KnownDiff {
  script: string;
  command: string;
  redis7: string;
  swytch: string;
  justification: string;
}

const knownDiffs: KnownDiff[] = JSON.parse(fs.readFileSync(path.join(HERE, "known_diffs.json"), "utf8"));
const usedKnown = new Set<number>();

const scripts: Script[] = fs.readdirSync(path.join(HERE, "scripts"))
  .filter((f) => f.endsWith(".txt"))
  .sort()
  .map((f) => parseScript(f.replace(/\.txt$/, ""), fs.readFileSync(path.join(HERE, "scripts", f), "utf8")));

const haveRedis = fs.existsSync(REDIS);
const it = testIf(haveRedis, `${REDIS} not found: differential tests need a reference redis-server`);

let redisChild: ChildProcess | null = null;
let redisExited: Promise<unknown> | null = null;
let redisPort = 0;
let redisDir = "";
let swytch: Proc | null = null;
let compared = 0;

async function startRedis(): Promise<void> {
  redisPort = await freePort();
  redisDir = tmpDir("redis7-diff-");
  const child = spawn(REDIS, [
    "--port",
    String(redisPort),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--daemonize",
    "no",
    "--dir",
    redisDir,
  ], { stdio: ["ignore", "ignore", "ignore"] });
  redisChild = child;
  redisExited = new Promise((resolve) => child.once("exit", resolve));
  await waitForPort(redisPort);
}

// ------------------------------------------------------------------ normalizations

function isArray(r: Resp): r is { t: "*" | "~" | ">"; v: Resp[] | null } {
  return r.t === "*" || r.t === "~" || r.t === ">";
}

function bulkText(r: Resp): string | null {
  if ((r.t === "$" || r.t === "+") && r.v !== null) return r.v.toString();
  return null;
}

function normalize(mode: Mode | null, r: Resp): string {
  switch (mode) {
    case null:
    case "scan":
      return render(r);
    case "ttl":
      // TTL/PTTL/EXPIRETIME values depend on the clock: any positive integer is ":<positive>".
      return r.t === ":" && r.v > 0n ? ":<positive>" : render(r);
    case "sort":
      // Element order of KEYS (and similar) is unspecified.
      if (isArray(r) && r.v !== null) return `${r.t}[${r.v.map(render).sort().join(",")}]`;
      return render(r);
    case "type":
      // Only the reply type is compared (value depends on ids, time or randomness).
      return r.t === "-" ? render(r) : `${r.t}<any>`;
    case "hello": {
      // HELLO: server version and client id differ by construction.
      if (r.t === "%") {
        return `%{${
          r.v.map(([k, v]) => {
            const name = bulkText(k);
            return `${render(k)}=>${name === "version" || name === "id" ? "<x>" : render(v)}`;
          }).join(",")
        }}`;
      }
      if (isArray(r) && r.v !== null) {
        const parts: string[] = [];
        for (let i = 0; i < r.v.length; i++) {
          const name = i % 2 === 0 ? null : bulkText(r.v[i - 1]!);
          parts.push(name === "version" || name === "id" ? "<x>" : render(r.v[i]!));
        }
        return `${r.t}[${parts.join(",")}]`;
      }
      return render(r);
    }
  }
}

/** SCAN from cursor 0 to 0, collecting the keys; the result is sorted (order is unspecified). */
async function scanAll(conn: RespConn, args: Buffer[]): Promise<Resp> {
  const keys: string[] = [];
  let cursor = "0";
  for (let i = 0; i < 1000; i++) {
    const a = args.slice();
    a[1] = Buffer.from(cursor);
    const r = await conn.call(a);
    if (r.t !== "*" || r.v === null || r.v.length !== 2) return r;
    const [c, ks] = r.v;
    if (c!.t !== "$" || c!.v === null || ks!.t !== "*" || ks!.v === null) return r;
    cursor = c!.v.toString();
    for (const k of ks!.v) keys.push(render(k));
    if (cursor === "0") return { t: "+", v: `SCANNED [${keys.sort().join(",")}]` };
  }
  return { t: "-", v: "DIFFTEST SCAN did not finish in 1000 calls" };
}

// ------------------------------------------------------------------ running a script

interface Diff {
  script: string;
  line: number;
  command: string;
  redis7: string;
  swytch: string;
}

async function openConns(port: number, resp3: boolean): Promise<RespConn[]> {
  const conns: RespConn[] = [];
  for (let i = 0; i < 4; i++) {
    const c = await RespConn.connect(port);
    if (resp3) await c.call(["HELLO", "3"]);
    conns.push(c);
  }
  return conns;
}

async function exec(conns: RespConn[], step: Step): Promise<string> {
  const conn = conns[step.conn - 1]!;
  try {
    const r = step.mode === "scan" ? await scanAll(conn, step.args) : await conn.call(step.args);
    return normalize(step.mode, r);
  } catch (e) {
    return `<client error: ${(e as Error).message}>`;
  }
}

async function runScript(script: Script): Promise<Diff[]> {
  // Fresh state: FLUSHALL on a setup connection (not compared); fresh connections per script.
  for (const port of [redisPort, swytch!.port]) {
    const c = await RespConn.connect(port);
    await c.call(["FLUSHALL"]);
    c.close();
  }
  const a = await openConns(redisPort, script.resp3);
  const b = await openConns(swytch!.port, script.resp3);
  const diffs: Diff[] = [];
  try {
    for (const step of script.steps) {
      if (step.sleepMs !== undefined) {
        await Bun.sleep(step.sleepMs);
        continue;
      }
      const [ra, rb] = await Promise.all([exec(a, step), exec(b, step)]);
      compared++;
      if (ra === rb) continue;
      const k = knownDiffs.findIndex((d) =>
        d.script === script.id && d.command === step.text && d.redis7 === ra && d.swytch === rb
      );
      if (k >= 0) {
        usedKnown.add(k);
        continue;
      }
      diffs.push({ script: script.id, line: step.line, command: step.text, redis7: ra, swytch: rb });
    }
  } finally {
    for (const c of [...a, ...b]) c.close();
  }
  return diffs;
}

// ------------------------------------------------------------------ tests

describe("differential: redis-server 7.0 vs swytch", () => {
  beforeAll(async () => {
    if (!haveRedis) return;
    await startRedis();
    swytch = await startSwytch();
  }, 30000);

  afterAll(async () => {
    if (redisChild !== null) {
      redisChild.kill("SIGTERM");
      await redisExited;
    }
    if (swytch !== null) await swytch.stop();
    if (redisDir !== "") fs.rmSync(redisDir, { recursive: true, force: true });
    if (swytch !== null) fs.rmSync(swytch.dataDir, { recursive: true, force: true });
  });

  for (const script of scripts) {
    it(`script ${script.id} (${script.steps.length} steps${script.resp3 ? ", RESP3" : ""})`, async () => {
      const diffs = await runScript(script);
      if (diffs.length > 0) {
        const lines = diffs.map((d) =>
          `${d.script}:${d.line}  ${d.command}\n    redis7: ${d.redis7}\n    swytch: ${d.swytch}`
        );
        console.log(`UNEXPECTED DIFFERENCES in ${script.id}:\n${lines.join("\n")}`);
        console.log(JSON.stringify(diffs.map(({ line: _l, ...d }) => d), null, 2));
      }
      expect(diffs.map((d) => `${d.script}:${d.line} ${d.command}`)).toEqual([]);
    }, 60000);
  }

  it("every known difference is still observed (no stale entries)", () => {
    console.log(
      `compared ${compared} commands; ${usedKnown.size}/${knownDiffs.length} known differences seen`,
    );
    const stale = knownDiffs.filter((_, i) => !usedKnown.has(i)).map((d) => `${d.script}: ${d.command}`);
    expect(stale).toEqual([]);
  });
});
