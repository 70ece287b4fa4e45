/**
 * Hostile bytes on raw sockets: protocol errors get `-ERR Protocol error: ...` and a close, the
 * server keeps serving everyone else, and huge announced lengths do not turn into memory.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as net from "node:net";
import { type Proc, startSwytch } from "../helpers.ts";

let server: Proc;

beforeAll(async () => {
  server = await startSwytch([], { dataDir: "" });
});

afterAll(async () => {
  expect(await server?.stop()).toBe(0);
});

/** A raw connection that records what it reads and whether the server closed it. */
interface Raw {
  socket: net.Socket;
  data: () => string;
  closed: () => boolean;
  /** Resolves when the peer closed, or after `ms` (then `closed()` tells which). */
  waitClose(ms: number): Promise<void>;
  /** Resolves once the bytes read satisfy `pred`, or after `ms`. */
  waitFor(pred: (s: string) => boolean, ms: number): Promise<void>;
}

async function raw(port: number): Promise<Raw> {
  const socket = net.connect(port, "127.0.0.1");
  let buf = "";
  let isClosed = false;
  const closeWaiters: (() => void)[] = [];
  const dataWaiters: (() => void)[] = [];
  socket.on("data", (d) => {
    buf += d.toString("latin1");
    for (const w of dataWaiters.splice(0)) w();
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    isClosed = true;
    for (const w of closeWaiters.splice(0)) w();
    for (const w of dataWaiters.splice(0)) w();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  return {
    socket,
    data: () => buf,
    closed: () => isClosed,
    waitClose: (ms) =>
      new Promise<void>((resolve) => {
        if (isClosed) return resolve();
        const t = setTimeout(resolve, ms);
        closeWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      }),
    async waitFor(pred, ms) {
      const until = Date.now() + ms;
      while (!pred(buf) && !isClosed && Date.now() < until) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.max(1, until - Date.now()));
          dataWaiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
  };
}

/** A healthy client that must keep getting PONG. */
let healthy: Raw;
async function assertHealthy(): Promise<void> {
  const before = healthy.data().length;
  healthy.socket.write("*1\r\n$4\r\nPING\r\n");
  await healthy.waitFor((s) => s.length >= before + 7, 5000);
  expect(healthy.data().slice(before)).toBe("+PONG\r\n");
  expect(healthy.closed()).toBe(false);
  expect(server.child.exitCode).toBeNull();
  expect(server.child.signalCode).toBeNull();
}

describe("protocol errors: reply, close, and the server goes on", () => {
  beforeAll(async () => {
    healthy = await raw(server.port);
    await assertHealthy();
  });
  afterAll(() => {
    healthy?.socket.destroy();
  });

  const cases: [string, string | Uint8Array, RegExp][] = [
    ["garbage multibulk count", "*abc\r\n", /^-ERR Protocol error: invalid multibulk length\r\n$/],
    ["bulk length 2^40", "*1\r\n$1099511627776\r\n", /^-ERR Protocol error: invalid bulk length\r\n$/],
    ["negative bulk length", "*1\r\n$-5\r\n", /^-ERR Protocol error: invalid bulk length\r\n$/],
    [
      "multibulk count above 1024*1024",
      "*2000000\r\n",
      /^-ERR Protocol error: invalid multibulk length\r\n$/,
    ],
    ["no '$' where a bulk should be", "*1\r\nPING\r\n", /^-ERR Protocol error: expected '\$', got 'P'\r\n$/],
    [
      "unterminated inline line longer than 64 KiB",
      "PING " + "a".repeat(70 * 1024),
      /^-ERR Protocol error: too big inline request\r\n$/,
    ],
    [
      "unterminated count line longer than 64 KiB",
      "*" + "1".repeat(70 * 1024),
      /^-ERR Protocol error: too big mbulk count string\r\n$/,
    ],
    ["unbalanced quotes inline", 'SET "a b\r\n', /^-ERR Protocol error: unbalanced quotes in request\r\n$/],
    [
      "binary garbage after a good command",
      Buffer.concat([Buffer.from("*1\r\n$4\r\nPING\r\n"), Buffer.from("*\xff\xfe\x00\r\n", "latin1")]),
      /^\+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n$/,
    ],
  ];

  for (const [name, bytes, want] of cases) {
    test(name, async () => {
      const c = await raw(server.port);
      try {
        c.socket.write(bytes);
        await c.waitClose(5000);
        expect(c.data()).toMatch(want);
        expect(c.closed()).toBe(true);
      } finally {
        c.socket.destroy();
      }
      await assertHealthy();
    });
  }

  test("the bad bytes arriving one at a time", async () => {
    const c = await raw(server.port);
    try {
      for (const ch of "*1\r\n$1099511627776\r\n") {
        if (c.closed()) break;
        c.socket.write(ch);
        await Bun.sleep(2);
      }
      await c.waitClose(5000);
      expect(c.data()).toBe("-ERR Protocol error: invalid bulk length\r\n");
      expect(c.closed()).toBe(true);
    } finally {
      c.socket.destroy();
    }
    await assertHealthy();
  });

  test("*1000000 with no body is a valid prefix: the server waits, replies nothing, stays up", async () => {
    // 1000000 <= 1024*1024, so Redis accepts the count and waits for the arguments.
    const c = await raw(server.port);
    try {
      c.socket.write("*1000000\r\n");
      await c.waitClose(500);
      expect(c.closed()).toBe(false);
      expect(c.data()).toBe("");
      await assertHealthy();
      // The body never comes; a later protocol error in it is still caught.
      c.socket.write("$1099511627776\r\n");
      await c.waitClose(5000);
      expect(c.data()).toBe("-ERR Protocol error: invalid bulk length\r\n");
      expect(c.closed()).toBe(true);
    } finally {
      c.socket.destroy();
    }
    await assertHealthy();
  });

  test("a client that disconnects mid-command leaves no trace", async () => {
    for (let i = 0; i < 20; i++) {
      const c = await raw(server.port);
      c.socket.write("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nabc");
      c.socket.destroy();
    }
    await Bun.sleep(100);
    await assertHealthy();
  });
});

/** Resident set size of a process, in bytes. */
function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  if (m === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

test("100 clients announcing 1M args and a 512 MiB bulk cost no more than 64 MiB", async () => {
  if (!fs.existsSync("/proc/self/status")) throw new Error("needs /proc");
  const p = await startSwytch([], { dataDir: "" });
  const conns: Raw[] = [];
  try {
    const probe = await raw(p.port);
    probe.socket.write("*1\r\n$4\r\nPING\r\n");
    await probe.waitFor((s) => s.includes("PONG"), 5000);
    await Bun.sleep(300);
    const start = rssBytes(p.child.pid!);
    const body = "*1000000\r\n$536870912\r\n" + "x".repeat(16 * 1024);
    for (let i = 0; i < 100; i++) {
      const c = await raw(p.port);
      c.socket.write(body);
      conns.push(c);
    }
    // Let the server read everything, then ask it something to be sure it has.
    await Bun.sleep(500);
    const before = probe.data().length;
    probe.socket.write("*1\r\n$4\r\nPING\r\n");
    await probe.waitFor((s) => s.length >= before + 7, 5000);
    expect(probe.data().slice(before)).toBe("+PONG\r\n");
    let peak = 0;
    for (let i = 0; i < 5; i++) {
      peak = Math.max(peak, rssBytes(p.child.pid!));
      await Bun.sleep(100);
    }
    const grew = peak - start;
    console.log(`RSS ${(start / 2 ** 20).toFixed(1)} MiB -> ${(peak / 2 ** 20).toFixed(1)} MiB`);
    expect(grew).toBeLessThan(64 * 2 ** 20);
    // Every connection is still open: the input so far is a valid prefix of a command.
    expect(conns.filter((c) => c.closed()).length).toBe(0);
    for (const c of conns) c.socket.destroy();
    await Bun.sleep(200);
    const before2 = probe.data().length;
    probe.socket.write("*1\r\n$4\r\nPING\r\n");
    await probe.waitFor((s) => s.length >= before2 + 7, 5000);
    expect(probe.data().slice(before2)).toBe("+PONG\r\n");
    probe.socket.destroy();
    expect(p.child.exitCode).toBeNull();
  } finally {
    for (const c of conns) c.socket.destroy();
    expect(await p.stop()).toBe(0);
  }
}, 60_000);

describe("with --requirepass, unauthenticated clients may not announce big requests (Redis 7+)", () => {
  let secured: Proc;
  beforeAll(async () => {
    secured = await startSwytch(["--requirepass", "pw"], { dataDir: "" });
  });
  afterAll(async () => {
    expect(await secured?.stop()).toBe(0);
  });

  // redis-server 7.0.15 with --requirepass answers exactly these and closes the connection.
  const cases: [string, string, string][] = [
    ["multibulk count above 10", "*11\r\n", "-ERR Protocol error: unauthenticated multibulk length\r\n"],
    ["*1000000", "*1000000\r\n", "-ERR Protocol error: unauthenticated multibulk length\r\n"],
    ["bulk length above 16384", "*2\r\n$20000\r\n", "-ERR Protocol error: unauthenticated bulk length\r\n"],
  ];
  for (const [name, bytes, want] of cases) {
    test(name, async () => {
      const c = await raw(secured.port);
      try {
        c.socket.write(bytes);
        await c.waitClose(2000);
        expect(c.data()).toBe(want);
        expect(c.closed()).toBe(true);
      } finally {
        c.socket.destroy();
      }
    }, 20_000);
  }

  test("small requests before AUTH still get NOAUTH, and AUTH lifts the limits", async () => {
    const c = await raw(secured.port);
    try {
      c.socket.write("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
      await c.waitFor((s) => s.includes("\r\n"), 5000);
      expect(c.data()).toBe("-NOAUTH Authentication required.\r\n");
      c.socket.write("*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n");
      await c.waitFor((s) => s.endsWith("+OK\r\n"), 5000);
      const big = "v".repeat(20000);
      c.socket.write(`*13\r\n$4\r\nMSET\r\n${"$1\r\nk\r\n".repeat(11)}$${big.length}\r\n${big}\r\n`);
      await c.waitFor((s) => s.endsWith("+OK\r\n+OK\r\n"), 5000);
      expect(c.data()).toBe("-NOAUTH Authentication required.\r\n+OK\r\n+OK\r\n");
    } finally {
      c.socket.destroy();
    }
  }, 20_000);
});
