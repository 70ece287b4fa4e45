/**
 * Lua scripts against a real `swytch redis` process with ioredis clients: EVAL and EVALSHA with
 * Redis's conversions, errors naming the script line, the script cache, the sandbox, read-only
 * scripts, binary-safe arguments, and a script past the busy threshold: other clients answered
 * -BUSY, SCRIPT KILL stopping it, and a script that wrote running to its end.
 */
import { describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { swytchForFile } from "../helpers.ts";

const { client, port } = swytchForFile();

/** Runs `fn` with busy-reply-threshold at `ms`, then puts the default (5000) back. */
async function withThreshold(r: Redis, ms: number, fn: () => Promise<void>): Promise<void> {
  await r.config("SET", "busy-reply-threshold", String(ms));
  try {
    await fn();
  } finally {
    await r.config("SET", "busy-reply-threshold", "5000");
  }
}

/** The error text a command answers (fails the test when it succeeds). */
async function errorOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected an error reply");
}

describe("EVAL and EVALSHA", () => {
  test("KEYS and ARGV reach the script, and its writes are the node's", async () => {
    const r = client();
    const v = await r.eval(
      "redis.call('set', KEYS[1], ARGV[1]); redis.call('rpush', KEYS[2], ARGV[2], ARGV[3]); " +
        "return {redis.call('get', KEYS[1]), redis.call('llen', KEYS[2])}",
      2,
      "s:k",
      "s:l",
      "v1",
      "a",
      "b",
    );
    expect(v).toEqual(["v1", 2]);
    expect(await r.get("s:k")).toBe("v1");
    expect(await r.lrange("s:l", 0, -1)).toEqual(["a", "b"]);
  });

  test("Lua values convert as in Redis", async () => {
    const r = client();
    expect(await r.eval("return {1, 'two', {3, 'x'}, 3.99, -2.5, true}", 0)).toEqual([
      1,
      "two",
      [3, "x"],
      3,
      -2,
      1,
    ]);
    // An array stops at its first nil; false is a nil bulk string.
    expect(await r.eval("return {1, 2, nil, 4}", 0)).toEqual([1, 2]);
    expect(await r.eval("return false", 0)).toBeNull();
    expect(await r.eval("return redis.status_reply('FINE')", 0)).toBe("FINE");
    expect(await errorOf(r.eval("return redis.error_reply('MYERR custom')", 0))).toBe("MYERR custom");
    expect(await errorOf(r.eval("return {err = 'OTHER thing'}", 0))).toBe("OTHER thing");
    // Replies come back as Lua values: nil bulk is false, status {ok=}, integers numbers.
    await r.del("s:none");
    expect(await r.eval("return type(redis.call('get', 's:none'))", 0)).toBe("boolean");
    expect(await r.eval("return redis.call('set', 's:st', 'x')['ok']", 0)).toBe("OK");
    expect(await r.eval("return redis.call('incrby', 's:n', 5000000000) + 1", 0)).toBe(5000000001);
  });

  test("redis.setresp(3) gives RESP3 shapes to the script", async () => {
    const r = client();
    await r.hset("s:h", "f", "v");
    expect(await r.eval("redis.setresp(3); return redis.call('hgetall', KEYS[1])['map']['f']", 1, "s:h"))
      .toBe("v");
    expect(await r.eval("return redis.call('hgetall', KEYS[1])[2]", 1, "s:h")).toBe("v");
  });

  test("arguments and replies are binary-safe", async () => {
    const r = client();
    const bytes = Buffer.from([0, 1, 255, 13, 10, 128, 0]);
    await r.eval("redis.call('set', KEYS[1], ARGV[1])", 1, "s:bin", bytes);
    expect(await r.getBuffer("s:bin")).toEqual(bytes);
    expect(await r.callBuffer("EVAL", "return redis.call('get', KEYS[1])", 1, "s:bin")).toEqual(bytes);
    expect(await r.eval("return #ARGV[1]", 0, bytes)).toBe(7);
  });

  test("a failing redis.call raises with the script line; redis.pcall returns the error", async () => {
    const r = client();
    await r.set("s:str", "x");
    const e = await errorOf(r.eval("\nreturn redis.call('lpush', KEYS[1], 1)", 1, "s:str"));
    expect(e).toMatch(
      /^WRONGTYPE Operation against a key holding the wrong kind of value script: [0-9a-f]{40}, on @user_script:2\.$/,
    );
    expect(await errorOf(r.eval("return redis.pcall('lpush', KEYS[1], 1)", 1, "s:str"))).toBe(
      "WRONGTYPE Operation against a key holding the wrong kind of value",
    );
    expect(await r.eval("local e = redis.pcall('lpush', KEYS[1], 1); return e['err']", 1, "s:str")).toMatch(
      /^WRONGTYPE/,
    );
    expect(await errorOf(r.eval("return redis.call('nosuchcommand')", 0))).toMatch(
      /^ERR Unknown Redis command called from script/,
    );
    expect(await errorOf(r.eval("return redis.call('set', 'only-key')", 0))).toMatch(
      /^ERR Wrong number of args calling Redis command from script/,
    );
    expect(await errorOf(r.eval("return redis.call('eval', 'return 1', 0)", 0))).toMatch(
      /^ERR This Redis command is not allowed from script/,
    );
    expect(await errorOf(r.eval("return redis.call('ping', {})", 0))).toMatch(
      /^ERR Lua redis lib command arguments must be strings or integers/,
    );
    // The connection (and the Lua state) keep working after every one of these.
    expect(await r.eval("return redis.call('ping', 'asdf')", 0)).toBe("asdf");
  });

  test("writes before an error stay, as in Redis (no rollback)", async () => {
    const r = client();
    await r.del("s:partial");
    await errorOf(r.eval("redis.call('set', KEYS[1], 'done'); error('boom')", 1, "s:partial"));
    expect(await r.get("s:partial")).toBe("done");
  });

  test("blocking commands answer at once inside a script", async () => {
    const r = client();
    await r.del("s:empty");
    expect(await r.eval("return redis.call('blpop', KEYS[1], 0)", 1, "s:empty")).toBeNull();
  });

  test("the script cache: SCRIPT LOAD, EXISTS, EVALSHA, FLUSH", async () => {
    const r = client();
    const sha = (await r.script("LOAD", "return 'cached ' .. ARGV[1]")) as string;
    expect(sha).toBe(new Bun.CryptoHasher("sha1").update("return 'cached ' .. ARGV[1]").digest("hex"));
    expect(await r.evalsha(sha, 0, "x")).toBe("cached x");
    expect(await r.evalsha(sha.toUpperCase(), 0, "y")).toBe("cached y");
    expect(await r.script("EXISTS", sha, "0".repeat(40))).toEqual([1, 0]);
    // EVAL caches what it runs, under the body's SHA1.
    await r.eval("return 'via eval'", 0);
    expect(await r.script("EXISTS", new Bun.CryptoHasher("sha1").update("return 'via eval'").digest("hex")))
      .toEqual([1]);
    expect(await r.script("FLUSH")).toBe("OK");
    expect(await errorOf(r.evalsha(sha, 0))).toBe("NOSCRIPT No matching script. Please use EVAL.");
    expect(await errorOf(r.script("LOAD", "return ("))).toMatch(
      /^ERR Error compiling script \(new function\): user_script:1:/,
    );
    expect(await errorOf(r.eval("return 1", -1))).toBe("ERR Number of keys can't be negative");
    expect(await errorOf(r.eval("return 1", 3, "a"))).toBe(
      "ERR Number of keys can't be greater than number of args",
    );
  });

  test("the sandbox: no globals written, no unknown globals read, no os, io or bytecode", async () => {
    const r = client();
    expect(await errorOf(r.eval("x = 1", 0))).toMatch(/Attempt to modify a readonly table/);
    expect(await errorOf(r.eval("return undefined_name", 0))).toMatch(
      /Script attempted to access nonexistent global variable 'undefined_name'/,
    );
    expect(await errorOf(r.eval("redis.call = nil", 0))).toMatch(/Attempt to modify a readonly table/);
    // Lua 5.1's wording, as Redis answers it.
    expect(await errorOf(r.eval("os.execute('true')", 0))).toMatch(
      /attempt to call field 'execute' \(a nil value\)/,
    );
    expect(await errorOf(r.eval("return io.open('/etc/passwd')", 0))).toMatch(
      /nonexistent global variable 'io'/,
    );
    expect(await r.eval("local f, e = load('\\27Lua'); return e ~= nil", 0)).toBe(1);
    // Lua 5.1 names scripts use are there.
    expect(await r.eval("return unpack({7, 8})", 0)).toBe(7);
    expect(await r.eval("return redis.sha1hex('')", 0)).toBe("da39a3ee5e6b4b0d3255bfef95601890afd80709");
  });

  test("cjson, cmsgpack, bit and struct", async () => {
    const r = client();
    expect(await r.eval("return cjson.encode({1, 'a/b', {k = cjson.null}})", 0)).toBe(
      '[1,"a\\/b",{"k":null}]',
    );
    expect(
      await r.eval(
        "local t = cjson.decode(ARGV[1]); return {t.a[2], t.b, tostring(t.c == cjson.null)}",
        0,
        '{"a":[1,2.5],"b":"\\u00e9","c":null}',
      ),
    )
      .toEqual([2, "\u00e9", "true"]);
    expect(await errorOf(r.eval("return cjson.decode('[1,')", 0))).toMatch(
      /^ERR Expected value but found T_END at character 4/,
    );
    expect(
      await r.eval(
        "local s = cmsgpack.pack({1, 2, 'x'}, -1099511627776, 0.1); local a, b, c = cmsgpack.unpack(s); return {a[3], tostring(b), tostring(c), #s}",
        0,
      ),
    ).toEqual(["x", "-1099511627776", "0.1", 5 + 9 + 9]);
    expect(await r.eval("return {bit.band(0xff, 0x0f), bit.lshift(1, 31), bit.tohex(255), bit.bnot(0)}", 0))
      .toEqual([15, -2147483648, "000000ff", -1]);
    expect(await r.eval("return {struct.unpack('>I2 c3', struct.pack('>I2 c3', 258, 'abc'))}", 0)).toEqual([
      258,
      "abc",
      6,
    ]);
    expect(await errorOf(r.eval("cjson.encode = nil", 0))).toMatch(/Attempt to modify a readonly table/);
  });

  test("an error a script passes on is counted once in INFO errorstats", async () => {
    const r = client();
    await r.config("RESETSTAT");
    await r.set("s:wt", "x");
    await errorOf(r.eval("return redis.call('lpush', KEYS[1], 1)", 1, "s:wt"));
    await errorOf(r.eval("return redis.pcall('lpush', KEYS[1], 1)", 1, "s:wt"));
    expect(await r.eval("local e = redis.pcall('lpush', KEYS[1], 1); return 1", 1, "s:wt")).toBe(1);
    const info = await r.info("errorstats");
    expect(info).toMatch(/errorstat_WRONGTYPE:count=3\r\n/);
    expect(await r.info("stats")).toMatch(/total_error_replies:3\r\n/);
  });

  test("EVAL_RO, EVALSHA_RO and no-writes scripts refuse writes", async () => {
    const r = client();
    await r.set("s:ro", "1");
    expect(await r.call("EVAL_RO", "return redis.call('get', KEYS[1])", 1, "s:ro")).toBe("1");
    expect(await errorOf(r.call("EVAL_RO", "return redis.call('set', KEYS[1], 2)", 1, "s:ro"))).toMatch(
      /^ERR Write commands are not allowed from read-only scripts\./,
    );
    const sha = (await r.script("LOAD", "return redis.call('del', KEYS[1])")) as string;
    expect(await errorOf(r.call("EVALSHA_RO", sha, 1, "s:ro"))).toMatch(
      /^ERR Write commands are not allowed/,
    );
    expect(await errorOf(r.eval("#!lua flags=no-writes\nreturn redis.call('del', KEYS[1])", 1, "s:ro")))
      .toMatch(
        /^ERR Write commands are not allowed/,
      );
    expect(await errorOf(r.eval("#!lua flags=bogus\nreturn 1", 0))).toBe(
      "ERR Unexpected flag in script shebang: bogus",
    );
    expect(await r.get("s:ro")).toBe("1");
  });
});

describe("sandbox and edge cases", () => {
  test("no finalizers, no changing the string metatable, loaded chunks see the script's globals", async () => {
    const r = client();
    expect(await errorOf(r.eval("setmetatable({}, {__gc = function() end})", 0))).toMatch(
      /__gc metamethods are not allowed/,
    );
    await errorOf(r.eval("getmetatable('').__index.upper = function() return 'pwned' end", 0));
    expect(await r.eval("return string.upper('abc')", 0)).toBe("ABC");
    expect(await r.eval("return loadstring('return ARGV[1]')()", 0, "seen")).toBe("seen");
    expect(await r.eval("return struct.size('!4bi')", 0)).toBe(8);
    expect(await r.eval("return {struct.unpack('!4bi', struct.pack('!4bi', 1, 2))}", 0)).toEqual([1, 2, 9]);
    expect(await r.eval("return bit.tobit(2.5)", 0)).toBe(2);
  });

  test("booleans follow the script's protocol (redis.setresp), not the caller's", async () => {
    const r = client();
    expect(await r.eval("return true", 0)).toBe(1);
    expect(await r.eval("return false", 0)).toBeNull();
    // RESP3 booleans sent to a RESP2 client become 1 and 0.
    expect(await r.eval("redis.setresp(3); return false", 0)).toBe(0);
  });

  test("EVAL_RO refuses a script whose shebang does not say no-writes", async () => {
    const r = client();
    expect(await errorOf(r.call("EVAL_RO", "#!lua\nreturn 1", 0))).toBe(
      "ERR Can not run script with write flag on readonly command",
    );
    expect(await r.call("EVAL_RO", "#!lua flags=no-writes\nreturn 1", 0)).toBe(1);
  });

  test("SCRIPT FLUSH starts a new Lua state: memory goes back down", async () => {
    const r = client();
    await r.eval("local t = {} for i = 1, 100000 do t[tostring(i)] = i end return 1", 0);
    const lua = async () => Number(/used_memory_lua:(\d+)/.exec(await r.info("memory"))![1]);
    const before = await lua();
    await r.script("FLUSH");
    await r.eval("return 1", 0);
    expect(await lua()).toBeLessThan(before);
    expect(await lua()).toBeLessThan(200_000);
  });
});

describe("long scripts", () => {
  test("past busy-reply-threshold others get -BUSY, and SCRIPT KILL stops the script", async () => {
    const r = client(), runner = client(), other = client();
    expect(await r.script("KILL").catch((e) => (e as Error).message)).toBe(
      "NOTBUSY No scripts in execution right now.",
    );
    // lua-time-limit is the old name of busy-reply-threshold.
    await r.config("SET", "lua-time-limit", "4000");
    expect(await r.config("GET", "busy-reply-threshold")).toEqual(["busy-reply-threshold", "4000"]);
    await withThreshold(r, 50, async () => {
      const looping = runner.eval("while true do end", 0).then(() => "returned", (e) => (e as Error).message);
      await Bun.sleep(200);
      expect(await errorOf(other.ping())).toBe(
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
      );
      expect(await r.script("KILL")).toBe("OK");
      expect(await looping).toMatch(/Script killed by user with SCRIPT KILL/);
      expect(await other.ping()).toBe("PONG");
      expect(await runner.eval("return 'again'", 0)).toBe("again");
    });
  });

  test("a script that wrote runs to its end: others wait for it instead of -BUSY", async () => {
    const r = client(), runner = client();
    await withThreshold(r, 20, async () => {
      const script = "redis.call('set', KEYS[1], 'started'); local t = os.clock() " +
        "while os.clock() - t < 0.3 do end redis.call('set', KEYS[1], 'finished') return 1";
      const done = runner.eval(script, 1, "s:long");
      await Bun.sleep(50);
      // This GET reaches the node while the script runs; it is answered after it, whole.
      expect(await r.get("s:long")).toBe("finished");
      expect(await done).toBe(1);
    });
  });

  test("a loop inside a sort comparator runs on (Lua cannot pause there); a __close loop dies with the script", async () => {
    const r = client(), runner = client();
    await withThreshold(r, 30, async () => {
      expect(
        await runner.eval(
          "local t = {} for i = 1, 2000 do t[i] = i end " +
            "table.sort(t, function(a, b) local x = 0 for j = 1, 2000 do x = x + j end return a < b end) return #t",
          0,
        ),
      ).toBe(2000);
      const looping = runner.eval(
        "local x <close> = setmetatable({}, {__close = function() while true do end end}) while true do end",
        0,
      ).then(() => "returned", (e) => (e as Error).message);
      await Bun.sleep(150);
      expect(await r.script("KILL")).toBe("OK");
      expect(await looping).toMatch(/Script killed by user/);
      expect(await r.ping()).toBe("PONG");
    });
  });

  test("a client that leaves during a paused script frees the node", async () => {
    const r = client();
    const runner = new Redis({ host: "127.0.0.1", port: port(), maxRetriesPerRequest: 0 });
    await withThreshold(r, 20, async () => {
      runner.eval("while true do end", 0).catch(() => {});
      await Bun.sleep(100);
      expect(await errorOf(r.get("x"))).toMatch(/^BUSY/);
      runner.disconnect();
      let pong = "";
      for (let i = 0; i < 100 && pong !== "PONG"; i++) {
        pong = await r.ping().catch(() => "");
        await Bun.sleep(20);
      }
      expect(pong).toBe("PONG");
    });
  });
});
