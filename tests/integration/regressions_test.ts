/**
 * Regressions found in review, each against a real `swytch redis` process over raw sockets:
 * expiry inside a transaction, QUIT behind an fsync, killed clients that never read, SHUTDOWN
 * SAVE during a background save, WATCH across flushes and expiry, UNWATCH inside MULTI.
 */
import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as net from "node:net";
import { type Proc, startSwytch } from "../helpers.ts";

const procs: Proc[] = [];
afterAll(async () => {
  for (const p of procs) {
    if (p.child.exitCode === null && p.child.signalCode === null) await p.kill9();
    fs.rmSync(p.dataDir, { recursive: true, force: true });
  }
});

async function start(extra: string[] = [], dataDir?: string): Promise<Proc> {
  const p = await startSwytch(extra, dataDir === undefined ? {} : { dataDir });
  procs.push(p);
  return p;
}

/** A raw connection collecting everything the server sends, and whether it closed. */
class Raw {
  data = "";
  closed = false;
  readonly sock: net.Socket;
  constructor(port: number) {
    this.sock = net.connect(port, "127.0.0.1");
    this.sock.setEncoding("latin1");
    this.sock.on("data", (d: string) => (this.data += d));
    this.sock.on("close", () => (this.closed = true));
    this.sock.on("error", () => {});
  }
  ready(): Promise<void> {
    return new Promise((resolve) => this.sock.once("connect", () => resolve()));
  }
  send(...cmds: string[][]): void {
    this.sock.write(
      cmds.map((c) => `*${c.length}\r\n${c.map((a) => `$${a.length}\r\n${a}\r\n`).join("")}`).join(""),
    );
  }
  async until(pred: () => boolean, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out; received so far: ${JSON.stringify(this.data)}`);
      await Bun.sleep(10);
    }
  }
  /** Sends commands and waits for `n` top-level replies (simple ones; enough for these tests). */
  async ask(cmds: string[][], expect: string): Promise<string> {
    const before = this.data.length;
    this.send(...cmds);
    await this.until(() => this.data.slice(before).includes(expect));
    return this.data.slice(before);
  }
}

async function raw(p: Proc): Promise<Raw> {
  const r = new Raw(p.port);
  await r.ready();
  return r;
}

test("a key expired by an absolute time inside MULTI, then rewritten, keeps the rewrite (and after restart)", async () => {
  const p = await start();
  const c = await raw(p);
  const out = await c.ask(
    [["MULTI"], ["SET", "k", "v", "PXAT", "1"], ["GET", "k"], ["SET", "k", "v2"], ["SET", "other", "1"], [
      "EXEC",
    ]],
    "*4\r\n",
  );
  expect(out.endsWith("*4\r\n+OK\r\n$-1\r\n+OK\r\n+OK\r\n")).toBe(true);
  expect(await c.ask([["GET", "k"]], "v2")).toBe("$2\r\nv2\r\n");
  expect(await c.ask([["DBSIZE"]], ":")).toBe(":2\r\n");
  const scan = await c.ask([["SCAN", "0", "COUNT", "100"]], "other");
  expect(scan).toContain("$1\r\nk\r\n");
  await p.stop();
  const q = await start([], p.dataDir);
  const d = await raw(q);
  expect(await d.ask([["GET", "k"]], "\r\n")).toBe("$2\r\nv2\r\n");
  expect(await d.ask([["DBSIZE"]], ":")).toBe(":2\r\n");
});

test("SET with an absolute time already past deletes the key and answers OK", async () => {
  const p = await start(["--data-dir", ""]);
  const c = await raw(p);
  expect(await c.ask([["SET", "k", "old"], ["SET", "k", "v", "EXAT", "1", "GET"]], "old\r\n")).toBe(
    "+OK\r\n$3\r\nold\r\n",
  );
  expect(await c.ask([["EXISTS", "k"]], ":")).toBe(":0\r\n");
});

test("QUIT behind a write waiting for its fsync still answers +OK before closing", async () => {
  const p = await start(["--appendfsync", "always"]);
  const c = await raw(p);
  c.send(["SET", "k", "v"], ["QUIT"]);
  await c.until(() => c.closed);
  expect(c.data).toBe("+OK\r\n+OK\r\n");
});

test("a killed client that never reads is disconnected at once and its output dropped", async () => {
  const p = await start(["--data-dir", ""]);
  const admin = await raw(p);
  const big = "x".repeat(4 * 1024 * 1024);
  await admin.ask([["SET", "big", big]], "+OK");
  const slow = new Raw(p.port);
  await slow.ready();
  slow.sock.pause(); // never reads: replies pile up in the server
  slow.send(["CLIENT", "SETNAME", "slow"], ...Array.from({ length: 20 }, () => ["GET", "big"]));
  await Bun.sleep(500);
  const list = await admin.ask([["CLIENT", "LIST"]], "\r\n");
  const id = /id=(\d+) [^\n]*name=slow/.exec(list)?.[1];
  expect(id).toBeDefined();
  expect(await admin.ask([["CLIENT", "KILL", "ID", id!]], ":")).toBe(":1\r\n");
  slow.sock.resume();
  await slow.until(() => slow.closed, 5000);
  // Far less than the 80 MiB of replies it asked for reached it before the kill.
  expect(slow.data.length).toBeLessThan(80 * 1024 * 1024);
  expect(await admin.ask([["PING"]], "PONG")).toBe("+PONG\r\n");
});

test("SHUTDOWN SAVE while a background save is running waits for it and exits 0", async () => {
  const p = await start();
  const c = await raw(p);
  // Some data so the save takes a moment.
  const cmds: string[][] = [];
  for (let i = 0; i < 2000; i++) cmds.push(["SET", `key:${i}`, "v".repeat(100)]);
  await c.ask([...cmds, ["PING"]], "PONG");
  c.send(["BGSAVE"], ["SHUTDOWN", "SAVE"]);
  const code = await new Promise<number | null>((resolve) => {
    const t = setTimeout(() => resolve(-1), 15000);
    p.child.once("exit", (x) => {
      clearTimeout(t);
      resolve(x);
    });
  });
  expect(code).toBe(0);
});

test("WATCH: FLUSHALL touches only keys existing in the watched key's db; expiry fails EXEC", async () => {
  const p = await start(["--data-dir", ""]);
  const c = await raw(p);
  const other = await raw(p);
  // The watched key exists only in db 3, not in db 0 where it is watched.
  await other.ask([["SELECT", "3"], ["SET", "w", "1"]], "+OK\r\n+OK");
  await c.ask([["WATCH", "w"]], "+OK");
  await other.ask([["FLUSHALL"]], "+OK");
  expect(await c.ask([["MULTI"], ["PING"], ["EXEC"]], "PONG")).toBe("+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n");
  // A watched key that expires before EXEC fails it.
  await c.ask([["SET", "e", "1", "PX", "50"], ["WATCH", "e"]], "+OK\r\n+OK");
  await Bun.sleep(120);
  expect(await c.ask([["MULTI"], ["PING"], ["EXEC"]], "*-1")).toBe("+OK\r\n+QUEUED\r\n*-1\r\n");
});

test("UNWATCH inside MULTI is queued and runs at EXEC", async () => {
  const p = await start(["--data-dir", ""]);
  const c = await raw(p);
  expect(await c.ask([["WATCH", "a"], ["MULTI"], ["UNWATCH"], ["EXEC"]], "*1")).toBe(
    "+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n",
  );
});

test("a transaction that flushes, then writes a key that expires before EXEC, still answers", async () => {
  const p = await start(["--data-dir", ""]);
  const watcher = await raw(p);
  const c = await raw(p);
  await watcher.ask([["WATCH", "k"]], "+OK");
  const cmds: string[][] = [["MULTI"], ["SET", "z", "1"], ["FLUSHDB"], ["SET", "k", "v", "PX", "1"]];
  for (let i = 0; i < 20000; i++) cmds.push(["SET", `x${i}`, "y"]);
  cmds.push(["SWAPDB", "0", "0"], ["EXEC"], ["PING"]);
  const out = await c.ask(cmds, "+PONG\r\n");
  expect(out).toContain("*20004\r\n+OK\r\n+OK\r\n+OK\r\n");
  // The 20000 x keys, and k until it is reclaimed (it expired 1 ms after it was set).
  expect([":20000\r\n", ":20001\r\n"]).toContain(await c.ask([["DBSIZE"]], ":"));
  expect(await c.ask([["EXISTS", "z", "k", "x0", "x19999"]], ":")).toBe(":2\r\n");
});

test("CLIENT KILL of its own address answers, then closes", async () => {
  const p = await start(["--data-dir", ""]);
  const c = await raw(p);
  const info = await c.ask([["CLIENT", "INFO"]], "\r\n");
  const addr = /addr=(\S+)/.exec(info)![1];
  c.send(["PING"], ["CLIENT", "KILL", addr]);
  await c.until(() => c.closed);
  expect(c.data.slice(info.length)).toBe("+PONG\r\n+OK\r\n");
});
