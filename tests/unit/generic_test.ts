import { describe, expect, test } from "bun:test";
import { crc32 } from "../../core/crc32.ts";
import { decodeValue, encodeValue } from "../../core/codec.ts";
import fc from "fast-check";
import { DUMP_VERSION, genericCommands, genericExclusive, sortScore } from "../../redis/generic.ts";
import { keyCommands } from "../../redis/keys.ts";
import { OK } from "../../redis/reply.ts";
import { hashCommands, hashType } from "../../redis/types/hash.ts";
import { listCommands, listType } from "../../redis/types/list.ts";
import { setCommands, setType } from "../../redis/types/set.ts";
import { stringCommands, stringType } from "../../redis/types/string.ts";
import { zsetCommands, zsetType } from "../../redis/types/zset.ts";
import { commandNode, shuffle } from "./fake_env.ts";

const HANDLERS = {
  ...keyCommands,
  ...stringCommands,
  ...listCommands,
  ...hashCommands,
  ...setCommands,
  ...zsetCommands,
  ...genericCommands,
};

/** A real engine with every Redis type, running any handler; errors come back as `ERR:<text>`. */
function node(seed = 1, peers: string[] = []) {
  return commandNode(seed, [stringType, listType, hashType, setType, zsetType], HANDLERS, peers);
}

const SCORES = "ERR:ERR One or more scores can't be converted into double";

describe("SORT", () => {
  test("numeric and ALPHA, ASC and DESC, LIMIT", () => {
    const { run } = node();
    run("RPUSH", "l", "3", "1", "2", "10", "-1", "2.5");
    expect(run("SORT", "l")).toEqual(["-1", "1", "2", "2.5", "3", "10"]);
    expect(run("SORT", "l", "DESC")).toEqual(["10", "3", "2.5", "2", "1", "-1"]);
    expect(run("SORT", "l", "ALPHA")).toEqual(["-1", "1", "10", "2", "2.5", "3"]);
    expect(run("SORT", "l", "LIMIT", "1", "2")).toEqual(["1", "2"]);
    expect(run("SORT", "l", "LIMIT", "-5", "2")).toEqual(["-1", "1"]);
    expect(run("SORT", "l", "LIMIT", "4", "-1")).toEqual(["3", "10"]);
    expect(run("SORT", "l", "LIMIT", "10", "5")).toEqual([]);
    expect(run("SORT", "l", "LIMIT", "2", "9223372036854775807")).toEqual(["2", "2.5", "3", "10"]);
    expect(run("SORT", "l", "LIMIT", "x", "1")).toBe("ERR:ERR value is not an integer or out of range");
    expect(run("SORT", "l", "LIMIT", "1")).toBe("ERR:ERR syntax error");
    expect(run("SORT", "nokey")).toEqual([]);
    // Equal scores sort by the elements' bytes.
    run("RPUSH", "eq", "b", "a", "c");
    expect(run("SORT", "eq", "BY", "nokey_*")).toEqual(["a", "b", "c"]);
    expect(run("SORT", "eq", "BY", "nokey_*", "DESC")).toEqual(["c", "b", "a"]);
  });

  test("BY: keys, hash fields, nosort; GET: #, keys, hash fields", () => {
    const { run } = node();
    run("RPUSH", "l", "a", "b", "c");
    run("MSET", "w_a", "3", "w_b", "1", "w_c", "2");
    run("HSET", "h_a", "f", "z");
    run("HSET", "h_b", "f", "x");
    expect(run("SORT", "l", "BY", "w_*")).toEqual(["b", "c", "a"]);
    expect(run("SORT", "l", "BY", "h_*->f", "ALPHA")).toEqual(["c", "b", "a"]);
    expect(run("SORT", "l", "BY", "h_*->f", "ALPHA", "DESC")).toEqual(["a", "b", "c"]);
    expect(run("SORT", "l", "BY", "nosort")).toEqual(["a", "b", "c"]);
    expect(run("SORT", "l", "BY", "nosort", "DESC", "LIMIT", "0", "2")).toEqual(["c", "b"]);
    expect(run("SORT", "l", "BY", "w_*", "GET", "#", "GET", "w_*", "GET", "h_*->f")).toEqual([
      "b",
      "1",
      "x",
      "c",
      "2",
      null,
      "a",
      "3",
      "z",
    ]);
    // No `*`: nothing to look up; "->" with no field name reads the key "x:a->".
    expect(run("SORT", "l", "BY", "nosort", "GET", "w_a")).toEqual([null, null, null]);
    run("SET", "x:a->", "100");
    expect(run("SORT", "l", "BY", "nosort", "GET", "x:*->")).toEqual(["100", null, null]);
    // A hash pattern on a string key, or a key pattern on a hash, finds nothing.
    expect(run("SORT", "l", "BY", "nosort", "GET", "w_*->f", "GET", "h_*")).toEqual([
      null,
      null,
      null,
      null,
      null,
      null,
    ]);
  });

  test("scores that are not doubles, wrong types, syntax", () => {
    const { run } = node();
    run("RPUSH", "bad", "1", "x");
    expect(run("SORT", "bad")).toBe(SCORES);
    expect(run("SORT", "bad", "ALPHA")).toEqual(["1", "x"]);
    expect(run("SORT", "bad", "BY", "nosort")).toEqual(["1", "x"]);
    run("SET", "w_1", "nan");
    expect(run("SORT", "bad", "BY", "w_*")).toBe(SCORES);
    run("SET", "str", "1");
    expect(run("SORT", "str")).toBe("ERR:WRONGTYPE Operation against a key holding the wrong kind of value");
    run("HSET", "h", "a", "1");
    expect(run("SORT", "h")).toBe("ERR:WRONGTYPE Operation against a key holding the wrong kind of value");
    // Options are parsed before the key is looked up.
    expect(run("SORT", "str", "FOO")).toBe("ERR:ERR syntax error");
    expect(run("SORT", "bad", "GET")).toBe("ERR:ERR syntax error");
    expect(run("SORT_RO", "bad", "STORE", "x")).toBe("ERR:ERR syntax error");
    expect(run("SORT_RO", "bad", "ALPHA", "DESC")).toEqual(["x", "1"]);
  });

  test("sortScore reads doubles as C's strtod does", () => {
    expect(sortScore("")).toBe(0);
    expect(sortScore(" 5")).toBe(5);
    expect(sortScore("0x10")).toBe(16);
    expect(sortScore("0x1.8p1")).toBe(3);
    expect(sortScore("-0X.8")).toBe(-0.5);
    expect(sortScore("1e3")).toBe(1000);
    expect(sortScore(".5")).toBe(0.5);
    expect(sortScore("5.")).toBe(5);
    expect(sortScore("-inf")).toBe(-Infinity);
    expect(sortScore("Infinity")).toBe(Infinity);
    expect(sortScore("0")).toBe(0);
    expect(sortScore("0e500")).toBe(0);
    for (const bad of ["nan", "x", "5 ", " ", "1e", "0x", "1e400", "1e-400", "4e-320", "--1", "1,5"]) {
      expect(sortScore(bad)).toBeNull();
    }
  });

  test("sets: sorted output; BY nosort with STORE sorts ALPHA so every node stores the same", () => {
    const { run, lastOps } = node();
    run("SADD", "s", "c", "a", "b");
    expect(run("SORT", "s", "ALPHA")).toEqual(["a", "b", "c"]);
    expect(run("SORT", "s", "BY", "nosort", "STORE", "dst")).toBe(3);
    expect(lastOps()).toEqual([["del"], ["push", "R", ["a", "b", "c"]]]);
    expect(run("LRANGE", "dst", "0", "-1")).toEqual(["a", "b", "c"]);
  });

  test("STORE: a list without TTL; missing GET values stored empty; an empty result deletes", () => {
    const { run, lastOps } = node();
    run("RPUSH", "l", "2", "1");
    run("SET", "dst", "x");
    run("EXPIRE", "dst", "100");
    expect(run("SORT", "l", "STORE", "dst")).toBe(2);
    expect(run("TTL", "dst")).toBe(-1);
    expect(run("LRANGE", "dst", "0", "-1")).toEqual(["1", "2"]);
    expect(run("SORT", "l", "GET", "#", "GET", "nokey_*", "STORE", "dst")).toBe(4);
    expect(run("LRANGE", "dst", "0", "-1")).toEqual(["1", "", "2", ""]);
    expect(run("SORT", "l", "LIMIT", "5", "1", "STORE", "dst")).toBe(0);
    expect(lastOps()).toEqual([["del"]]);
    expect(run("EXISTS", "dst")).toBe(0);
    expect(run("SORT", "l", "LIMIT", "5", "1", "STORE", "dst")).toBe(0);
    expect(lastOps()).toEqual([]);
    // The source itself as destination: read first, then overwritten.
    expect(run("SORT", "l", "STORE", "l")).toBe(2);
    expect(run("LRANGE", "l", "0", "-1")).toEqual(["1", "2"]);
    // STORE names the last destination when given twice.
    expect(run("SORT", "l", "STORE", "a", "STORE", "b")).toBe(2);
    expect(run("EXISTS", "a", "b")).toBe(1);
  });

  test.skipIf(zsetCommands.zadd === undefined)(
    "sorted sets: score order with BY nosort, sorted otherwise",
    () => {
      const { run } = node();
      for (const [score, m] of [["1", "a"], ["5", "b"], ["2", "c"], ["10", "d"], ["3", "e"]]) {
        run(
          "ZADD",
          "z",
          score,
          m,
        );
      }
      expect(run("SORT", "z", "BY", "nosort")).toEqual(["a", "c", "e", "b", "d"]);
      expect(run("SORT", "z", "BY", "nosort", "DESC")).toEqual(["d", "b", "e", "c", "a"]);
      expect(run("SORT", "z", "BY", "nosort", "DESC", "LIMIT", "0", "2")).toEqual(["d", "b"]);
      expect(run("SORT", "z", "ALPHA", "DESC")).toEqual(["e", "d", "c", "b", "a"]);
    },
  );
});

describe("DUMP and RESTORE", () => {
  test("round trips of every finished type, TTLs, REPLACE and BUSYKEY", () => {
    const { run, clock, lastOps } = node();
    run("SET", "str", "v\u0000\u00ff");
    run("RPUSH", "list", "a", "b", "\u00e9");
    run("SADD", "set", "x", "1", "\u0001");
    run("HSET", "hash", "f", "v", "g", "w");
    for (const key of ["str", "list", "set", "hash"]) {
      const payload = run("DUMP", key) as string;
      const type = run("TYPE", key);
      expect(run("RESTORE", key, "0", payload)).toBe("ERR:BUSYKEY Target key name already exists.");
      expect(run("RESTORE", `${key}2`, "0", payload)).toBe(OK);
      expect(run("TYPE", `${key}2`)).toEqual(type);
      expect(run("DUMP", `${key}2`)).toBe(payload);
      expect(run("TTL", `${key}2`)).toBe(-1);
    }
    expect(run("LRANGE", "list2", "0", "-1")).toEqual(["a", "b", "\u00e9"]);
    expect(run("GET", "str2")).toBe("v\u0000\u00ff");
    expect(run("HGET", "hash2", "g")).toBe("w");
    expect(run("DUMP", "nokey")).toBeNull();
    const payload = run("DUMP", "str") as string;
    run("RESTORE", "t", "5000", payload);
    expect(lastOps()).toEqual([["restore", "string", "v\u0000\u00ff", clock.ms + 5000]]);
    expect(run("PTTL", "t")).toBe(5000);
    run("RESTORE", "t", String(clock.ms + 3000), payload, "REPLACE", "ABSTTL");
    expect(run("PTTL", "t")).toBe(3000);
    run("SET", "r", "old");
    run("EXPIRE", "r", "100");
    expect(run("RESTORE", "r", "0", run("DUMP", "list") as string, "replace")).toBe(OK);
    expect(run("TYPE", "r")).toEqual(run("TYPE", "list"));
    expect(run("TTL", "r")).toBe(-1);
    // Already expired: nothing is created; with REPLACE the old value goes.
    expect(run("RESTORE", "gone", String(clock.ms - 1), payload, "ABSTTL")).toEqual(OK);
    expect(run("EXISTS", "gone")).toBe(0);
    expect(run("RESTORE", "r", "1", payload, "REPLACE", "ABSTTL")).toEqual(OK);
    expect(lastOps()).toEqual([["del"]]);
    expect(run("EXISTS", "r")).toBe(0);
    // IDLETIME and FREQ are accepted (and ignored).
    expect(run("RESTORE", "i", "0", payload, "IDLETIME", "1000")).toEqual(OK);
    expect(run("RESTORE", "f", "0", payload, "FREQ", "255")).toEqual(OK);
  });

  test("payloads that are damaged, of another version or that do not decode are refused", () => {
    const { run } = node();
    run("SET", "k", "value");
    const good = run("DUMP", "k") as string;
    const WRONG = "ERR:ERR DUMP payload version or checksum are wrong";
    const BAD = "ERR:ERR Bad data format";
    const flip = (s: string, i: number) =>
      s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ 1) + s.slice(i + 1);
    for (let i = 0; i < good.length; i++) expect(run("RESTORE", "n", "0", flip(good, i))).toBe(WRONG);
    expect(run("RESTORE", "n", "0", good.slice(1))).toBe(WRONG);
    expect(run("RESTORE", "n", "0", "")).toBe(WRONG);
    expect(run("RESTORE", "n", "0", "...")).toBe(WRONG);
    // A well-formed footer around something that is not a value of a known type.
    const wrap = (body: Uint8Array) => {
      const out = new Uint8Array(body.length + 10);
      out.set(body);
      const dv = new DataView(out.buffer);
      dv.setUint16(body.length, DUMP_VERSION, true);
      dv.setUint32(body.length + 2, crc32(out, 0, body.length + 2), true);
      dv.setUint32(body.length + 6, body.length, true);
      return String.fromCharCode(...out);
    };
    expect(wrap(encodeValue(decodeValue(encodeValue(["string", "value"]))))).toBe(good);
    expect(run("RESTORE", "n", "0", wrap(encodeValue(["nosuchtype", "x"])))).toBe(BAD);
    expect(run("RESTORE", "n", "0", wrap(encodeValue(["set", 5])))).toBe(BAD);
    expect(run("RESTORE", "n", "0", wrap(encodeValue(["list", { a: 1 }])))).toBe(BAD);
    expect(run("RESTORE", "n", "0", wrap(encodeValue("string")))).toBe(BAD);
    expect(run("RESTORE", "n", "0", wrap(encodeValue(["string", "\u4e2d"])))).toBe(BAD);
    expect(run("RESTORE", "n", "0", wrap(encodeValue(["string", new Uint8Array([1])])))).toBe(BAD);
    let deep: unknown = "x";
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(run("RESTORE", "n", "0", wrap(encodeValue(["list", deep])))).toBe(BAD);
    expect(run("RESTORE", "n", "0", wrap(new Uint8Array([0xff, 0x00])))).toBe(BAD);
    expect(run("EXISTS", "n")).toBe(0);
  });

  test("argument errors in Redis's order", () => {
    const { run } = node();
    run("SET", "k", "v");
    const p = run("DUMP", "k") as string;
    expect(run("RESTORE", "k", "0", "...", "FOO")).toBe("ERR:ERR syntax error");
    expect(run("RESTORE", "k", "-1", "...")).toBe("ERR:BUSYKEY Target key name already exists.");
    expect(run("RESTORE", "n", "-1", p)).toBe("ERR:ERR Invalid TTL value, must be >= 0");
    expect(run("RESTORE", "n", "x", p)).toBe("ERR:ERR value is not an integer or out of range");
    expect(run("RESTORE", "n", "0", p, "IDLETIME", "-1")).toBe(
      "ERR:ERR Invalid IDLETIME value, must be >= 0",
    );
    expect(run("RESTORE", "n", "0", p, "FREQ", "256")).toBe(
      "ERR:ERR Invalid FREQ value, must be >= 0 and <= 255",
    );
    expect(run("RESTORE", "n", "0", p, "FREQ", "x")).toBe("ERR:ERR value is not an integer or out of range");
    expect(run("RESTORE", "n", "0", p, "IDLETIME", "1", "FREQ", "1")).toBe("ERR:ERR syntax error");
    expect(run("RESTORE", "n", "0", p, "FREQ", "1", "IDLETIME", "1")).toBe("ERR:ERR syntax error");
    expect(run("RESTORE", "n", "0", p, "IDLETIME")).toBe("ERR:ERR syntax error");
  });

  test("classification: RESTORE without REPLACE is exclusive; SORT, DUMP and RESTORE REPLACE are not", () => {
    const restore = genericExclusive.restore;
    expect(restore(["restore", "k", "0", "p"])).toBe("RESTORE without REPLACE is a conditional write");
    expect(restore(["restore", "k", "0", "p", "ABSTTL", "replace"])).toBeNull();
    expect(restore(["restore", "replace", "0", "replace"])).not.toBeNull();
    expect(Object.keys(genericExclusive)).toEqual(["restore"]);
  });
});

describe("concurrent writes", () => {
  test("SORT STORE, RESTORE REPLACE and pushes from two nodes converge in any delivery order", () => {
    const payloads = (() => {
      const { run } = node(3);
      run("RPUSH", "l", "x", "y");
      run("SADD", "s", "1", "2");
      return [run("DUMP", "l") as string, run("DUMP", "s") as string];
    })();
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            node: fc.nat(1),
            cmd: fc.constantFrom("RPUSH", "SORT", "RESTORE", "SADD"),
            arg: fc.nat(1),
            tick: fc.nat(2),
          }),
          { minLength: 1, maxLength: 20 },
        ),
        fc.integer(),
        fc.integer(),
        (cmds, seedA, seedB) => {
          const writers = [node(11, ["x"]), node(12, ["x"])];
          for (const c of cmds) {
            const w = writers[c.node];
            w.clock.ms += c.tick;
            if (c.cmd === "RPUSH") w.run("RPUSH", "src", String(c.arg), String(c.tick));
            else if (c.cmd === "SADD") w.run("SADD", "set", String(c.arg));
            else if (c.cmd === "SORT") w.run("SORT", c.arg ? "src" : "set", "STORE", "dst");
            else w.run("RESTORE", "dst", "0", payloads[c.arg], "REPLACE");
          }
          const all = [...writers[0].effects, ...writers[1].effects];
          const r1 = node(21, ["x"]);
          const r2 = node(22, ["x"]);
          for (const e of shuffle(all, seedA)) r1.engine.receive(e);
          for (const e of shuffle(all, seedB)) r2.engine.receive(e);
          expect(r1.engine.heldCount()).toBe(0);
          expect(r1.engine.stateHash()).toBe(r2.engine.stateHash());
          expect(r1.run("DUMP", "dst")).toBe(r2.run("DUMP", "dst"));
        },
      ),
      { numRuns: 100 },
    );
  });
});
