/** Shared test helpers: starting real swytch processes, and skipping with a reason. */
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, expect, test } from "bun:test";
import Redis from "ioredis";

export const ROOT = path.resolve(import.meta.dir, "..");

/** `test`, or `test.skip` after printing SKIPPED with the reason when `ok` is false. */
export function testIf(ok: boolean, reason: string): typeof test {
  if (!ok) {
    console.log(`SKIPPED: ${reason}`);
    return test.skip as unknown as typeof test;
  }
  return test;
}

/** True when an executable is on PATH. */
export function have(cmd: string): boolean {
  return (process.env.PATH ?? "").split(":").some((d) => d !== "" && fs.existsSync(path.join(d, cmd)));
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A fresh temporary directory. */
export function tmpDir(prefix = "swytch-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Waits until something accepts TCP connections on `port`. */
export async function waitForPort(port: number, timeoutMs = 15000, host = "127.0.0.1"): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host);
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await Bun.sleep(50);
  }
  throw new Error(`nothing listening on ${port} after ${timeoutMs} ms`);
}

export interface Proc {
  port: number;
  dataDir: string;
  child: ChildProcess;
  stderr: () => string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill9(): Promise<void>;
}

/** Starts `swytch redis` as a real process on a free port. */
export async function startSwytch(
  extra: string[] = [],
  opts: { dataDir?: string; port?: number } = {},
): Promise<Proc> {
  const port = opts.port ?? await freePort();
  const dataDir = opts.dataDir ?? tmpDir();
  const child = spawn(process.execPath, [
    path.join(ROOT, "cli/main.ts"),
    "redis",
    "--port",
    String(port),
    "--data-dir",
    dataDir,
    ...extra,
  ], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (d) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    await waitForPort(port);
  } catch (e) {
    child.kill("SIGKILL");
    throw new Error(`${(e as Error).message}\n${err}`);
  }
  return {
    port,
    dataDir,
    child,
    stderr: () => err,
    async stop() {
      child.kill("SIGTERM");
      return await exited;
    },
    async kill9() {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/**
 * One `swytch redis` process for a test file: started before its tests, stopped after them (it must
 * exit 0) with its data dir removed. `client()` makes an ioredis client that is closed at the end.
 */
export function swytchForFile(args: string[] = []): { client(): Redis; port(): number } {
  let server: Proc | undefined;
  const clients: Redis[] = [];
  beforeAll(async () => {
    server = await startSwytch(args, { port: await freePort() });
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    if (server === undefined) return;
    expect(await server.stop()).toBe(0);
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  });
  return {
    client() {
      const c = new Redis({ host: "127.0.0.1", port: server!.port, maxRetriesPerRequest: 1 });
      clients.push(c);
      return c;
    },
    port: () => server!.port,
  };
}

/** Polls `fn` every 50 ms until `ok` holds of its value (errors count as not yet); fails after `ms`. */
export async function until<T>(
  what: string,
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  ms = 10_000,
): Promise<T> {
  const end = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch {
      // not yet
    }
    await Bun.sleep(50);
  }
  throw new Error(`${what}: not reached in ${ms} ms (last: ${JSON.stringify(last)})`);
}

/** INFO cluster of a node, as fields. */
export async function clusterInfo(c: Redis): Promise<Record<string, string>> {
  const t = await c.info("cluster");
  return Object.fromEntries(t.split("\r\n").filter((l) => l.includes(":")).map((l) => l.split(":", 2)));
}
