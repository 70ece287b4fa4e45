import { beforeEach, describe, expect, test } from "bun:test";
import { faceNode, stringApplyUndo } from "./fake_env.ts";
import fc from "fast-check";
import type { Op } from "../../core/effect.ts";
import type { ApplyCtx } from "../../core/reducer.ts";
import { exclusiveReason } from "../../redis/exclusive.ts";
import { SimpleReply } from "../../redis/reply.ts";
import { hllEstimate, hllPosition, hllRegisters } from "../../redis/types/hll.ts";
import { stringType, sv } from "../../redis/types/string.ts";

// ------------------------------------------------------------------ fixtures

const ACTX = {} as ApplyCtx;

let node = faceNode();
beforeEach(() => {
  node = faceNode();
});
const run = (...args: string[]) => node.run(...args);
const get = (key: string) => node.get(key);

const status = (r: unknown) => (r instanceof SimpleReply ? `+${r.s}` : r);
const INVALID = "ERR:INVALIDOBJ Corrupted HLL object detected";
const NOT_HLL = "ERR:WRONGTYPE Key is not a valid HyperLogLog string value.";
const WRONGTYPE = "ERR:WRONGTYPE Operation against a key holding the wrong kind of value";
const HDR_STALE = "HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80";

function apply(s: string | undefined, op: Op): string | undefined {
  return sv(stringType.apply(s, op, ACTX).state);
}

function registersOf(elements: string[]): Uint8Array {
  const r = new Uint8Array(16384);
  for (const e of elements) {
    const { index, rank } = hllPosition(e);
    if (rank > r[index]) r[index] = rank;
  }
  return r;
}

function sha1(s: string): string {
  return new Bun.CryptoHasher("sha1").update(Buffer.from(s, "latin1")).digest("hex");
}

// ------------------------------------------------------------------ format and estimate

describe("HLL format", () => {
  test("bytes and cache match redis-server's for PFADD a b c", () => {
    expect(run("PFADD", "h", "a", "b", "c")).toBe(1);
    expect(get("h")).toBe(HDR_STALE + "\x60\xf3\x80\x50\xb1\x84\x4b\xfb\x80\x42\x5a");
    expect(run("PFCOUNT", "h")).toBe(3);
    expect(get("h")!.slice(8, 16)).toBe("\x03\0\0\0\0\0\0\0");
    expect(run("PFADD", "h", "a", "b", "c")).toBe(0);
    expect(node.lastOps).toEqual([]);
    expect(run("PFADD", "h", "1", "2", "3")).toBe(1);
    expect(get("h")!.charCodeAt(15)).toBe(0x80);
    expect(run("PFADD", "e")).toBe(1);
    expect(get("e")).toBe(HDR_STALE + "\x7f\xff");
    expect(run("PFCOUNT", "e")).toBe(0);
  });

  test("MurmurHash64A with Redis's seed puts elements where Redis does", () => {
    // redis-server's PFDEBUG DECODE after PFADD h a b c: Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603.
    const regs = registersOf(["a", "b", "c"]);
    const set = [...regs.entries()].filter(([, v]) => v > 0);
    expect(set).toEqual([[8436, 1], [12711, 2], [15780, 1]]);
  });

  test("estimates and dense bytes match redis-server 7.0.15", () => {
    const cases: [number, number, string][] = [
      [100, 100, "52a2b8a6b2b5"],
      [200, 199, "a9ecfe01f6a4"],
      [1000, 995, "8485d1b33784"],
      [10000, 10077, "eca4a9c65a46"],
    ];
    for (const [n, est, hash] of cases) {
      run("DEL", "h");
      const els = Array.from({ length: n }, (_, i) => `e:${i}`);
      for (let i = 0; i < n; i += 1000) run("PFADD", "h", ...els.slice(i, i + 1000));
      expect(sha1(get("h")!).slice(0, 12)).toBe(hash);
      expect(run("PFCOUNT", "h")).toBe(est);
    }
    expect(hllEstimate(registersOf(Array.from({ length: 100000 }, (_, i) => `e:${i}`)))).toBe(100342);
  });

  test("sparse values are promoted to dense past hll-sparse-max-bytes or a register above 32", () => {
    node.encodings["hll-sparse-max-bytes"] = 60;
    run("PFADD", "s", "a", "b", "c", "d", "e", "f", "g", "h");
    expect(status(run("PFDEBUG", "ENCODING", "s"))).toBe("+sparse");
    run("PFADD", "s", ..."ijklmnopqrstuvwxyz");
    expect(status(run("PFDEBUG", "ENCODING", "s"))).toBe("+dense");
    expect(get("s")!.length).toBe(12304);
    // A value whose register 3 is 2 and a PFADD that sets a rank above 32 somewhere.
    const regs = "\0".repeat(16384).split("");
    regs[100] = String.fromCharCode(40);
    const v = apply(HDR_STALE + "\x7f\xff", ["pfmerge", regs.join(""), 0, 3000])!;
    expect(v.length).toBe(12304);
    expect(hllRegisters(v)![100]).toBe(40);
  });

  test("PFDEBUG DECODE, GETREG, TODENSE", () => {
    run("SET", "v", HDR_STALE + "\x02\x85\x7f\xfa");
    expect(run("PFDEBUG", "DECODE", "v")).toBe("z:3 v:2,2 Z:16379");
    expect(run("PFCOUNT", "v")).toBe(2);
    expect(run("PFDEBUG", "TODENSE", "v")).toBe(1);
    expect(run("PFDEBUG", "TODENSE", "v")).toBe(0);
    expect(run("PFDEBUG", "DECODE", "v")).toBe("ERR:ERR HLL encoding is not sparse");
    const regs = run("PFDEBUG", "GETREG", "v") as number[];
    expect(regs.length).toBe(16384);
    expect(regs.slice(0, 6)).toEqual([0, 0, 0, 2, 2, 0]);
    expect(run("PFDEBUG", "GETREG", "nokey")).toBe("ERR:ERR The specified key does not exist");
    expect(run("PFDEBUG", "BOGUS", "v")).toBe("ERR:ERR Unknown PFDEBUG subcommand 'BOGUS'");
    run("PFADD", "w", "x");
    run("PFDEBUG", "GETREG", "w");
    expect(status(run("PFDEBUG", "ENCODING", "w"))).toBe("+dense");
    expect(status(run("PFSELFTEST"))).toBe("+OK");
  });

  test("type errors and corrupted values", () => {
    run("SET", "foo", "bar");
    expect(run("PFADD", "foo", "1")).toBe(NOT_HLL);
    expect(run("PFCOUNT", "foo")).toBe(NOT_HLL);
    expect(run("PFMERGE", "x", "foo")).toBe(NOT_HLL);
    expect(run("PFMERGE", "foo", "x")).toBe(NOT_HLL);
    run("RPUSH", "l", "a");
    expect(run("PFADD", "l", "1")).toBe(WRONGTYPE);
    expect(run("PFCOUNT", "h", "l")).toBe(WRONGTYPE);
    run("PFADD", "c", "a", "b", "c");
    run("APPEND", "c", "hello");
    expect(run("PFCOUNT", "c")).toBe(INVALID);
    expect(run("PFADD", "c", "zz")).toBe(INVALID);
    expect(run("PFMERGE", "m", "c")).toBe(INVALID);
    expect(run("EXISTS", "m")).toBe(0);
    run("PFADD", "d", "a");
    run("SETRANGE", "d", "4", "x");
    expect(run("PFCOUNT", "d")).toBe(NOT_HLL);
    run("SETRANGE", "d", "4", "\0");
    expect(run("PFCOUNT", "d")).toBe(NOT_HLL);
    // A random corruption never throws.
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(40), fc.nat(255)), { maxLength: 5 }), (edits) => {
        let s = HDR_STALE + "\x7f\xff" as string;
        s = apply(s, [
          "pfadd",
          registersOf(["a", "b", "c", "d"]).reduce<number[]>(
            (out, r, i) => (r > 0 ? [...out, i * 64 + r] : out),
            [],
          ),
          3000,
        ])!;
        for (const [pos, b] of edits) {
          if (pos < s.length) s = s.slice(0, pos) + String.fromCharCode(b) + s.slice(pos + 1);
        }
        apply(s, ["pfadd", [5 * 64 + 3], 3000]);
        apply(s, ["pfcache"]);
        apply(s, ["pfdense"]);
        hllRegisters(s);
      }),
    );
  });

  test("PFMERGE creates the destination and keeps sparse when every input is sparse", () => {
    run("PFADD", "a", "x1", "x2");
    run("PFADD", "b", "y1");
    expect(status(run("PFMERGE", "m", "a", "b"))).toBe("+OK");
    expect(run("PFCOUNT", "m")).toBe(3);
    expect(status(run("PFDEBUG", "ENCODING", "m"))).toBe("+sparse");
    expect(status(run("PFMERGE", "e", "nokey"))).toBe("+OK");
    expect(run("PFCOUNT", "e")).toBe(0);
    run("PFDEBUG", "TODENSE", "b");
    run("PFMERGE", "m2", "a", "b");
    expect(status(run("PFDEBUG", "ENCODING", "m2"))).toBe("+dense");
    expect(run("PFCOUNT", "a", "b", "nokey")).toBe(3);
  });
});

// ------------------------------------------------------------------ merging across nodes

const element = fc.string({ maxLength: 6 });

describe("HLL ops across nodes", () => {
  test("concurrent PFADDs commute: every element counts in either fold order", () => {
    fc.assert(
      fc.property(
        fc.array(element, { maxLength: 20 }),
        fc.array(element, { maxLength: 40 }),
        fc.array(element, { maxLength: 40 }),
        fc.constantFrom(0, 40, 200, 3000),
        (base, xs, ys, max) => {
          node.encodings["hll-sparse-max-bytes"] = max;
          const opOf = (els: string[], s: string | undefined): Op => {
            const r = registersOf(els);
            const packed: number[] = [];
            r.forEach((v, i) => v > 0 && packed.push(i * 64 + v));
            void s;
            return ["pfadd", packed, max];
          };
          const s0 = base.length === 0 ? undefined : apply(undefined, opOf(base, undefined));
          const a = opOf(xs, s0), b = opOf(ys, s0);
          const ab = apply(apply(s0, a), b)!, ba = apply(apply(s0, b), a)!;
          const want = registersOf([...base, ...xs, ...ys]);
          expect(hllRegisters(ab)).toEqual(want);
          expect(hllRegisters(ba)).toEqual(want);
          expect(hllEstimate(hllRegisters(ab)!)).toBe(hllEstimate(hllRegisters(ba)!));
        },
      ),
      { numRuns: 200 },
    );
  });

  test("PFMERGE carries the sources only: a concurrent PFADD to the destination survives", () => {
    run("PFADD", "src", "s1", "s2");
    run("PFADD", "dst", "d1");
    run("PFMERGE", "dst", "src");
    const merge = node.lastOps[0][1][0];
    const before = sv(stringType.apply(undefined, ["pfadd", [], 3000], ACTX).state);
    const d1 = apply(before, [
      "pfadd",
      [...registersOf(["d1"]).entries()].filter(([, v]) => v).map(([i, v]) => i * 64 + v),
      3000,
    ]);
    const other = [
      "pfadd",
      [...registersOf(["d2"]).entries()].filter(([, v]) => v).map(([i, v]) => i * 64 + v),
      3000,
    ];
    const x = apply(apply(d1, merge), other)!, y = apply(apply(d1, other), merge)!;
    const want = registersOf(["s1", "s2", "d1", "d2"]);
    expect(hllRegisters(x)).toEqual(want);
    expect(hllRegisters(y)).toEqual(want);
  });

  test("an HLL op landing on a string that is not an HLL leaves it alone", () => {
    for (
      const op of [["pfadd", [64 + 1], 3000], ["pfmerge", [], 0, 3000], ["pfcache"], ["pfdense"]] as Op[]
    ) {
      expect(apply("plain", op)).toBe("plain");
    }
    expect(apply(undefined, ["pfcache"])).toBeUndefined();
    expect(apply(undefined, ["pfdense"])).toBeUndefined();
  });

  test("pfcache fills in the estimate of the state it lands on", () => {
    run("PFADD", "h", "a", "b");
    const stale = get("h")!;
    const withC = apply(stale, [
      "pfadd",
      [...registersOf(["c"]).entries()].filter(([, v]) => v).map(([i, v]) => i * 64 + v),
      3000,
    ]);
    const cached = apply(withC, ["pfcache"])!;
    expect(cached.slice(8, 16)).toBe("\x03\0\0\0\0\0\0\0");
    expect(apply(cached, ["pfcache"])).toBe(cached);
  });

  test("apply is total and undo restores exactly", () => {
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.array(element, { maxLength: 10 }).map((els) => {
        const packed: number[] = [];
        registersOf(els).forEach((v, i) => v > 0 && packed.push(i * 64 + v));
        return ["pfadd", packed, 3000] as Op;
      }),
      fc.constantFrom<Op>(["pfcache"], ["pfdense"], ["pfmerge", [], 1, 3000], [
        "pfadd",
        [-1, "x", 1e9],
        3000,
      ]),
      fc.constantFrom<Op>(["set", "x"], ["append", "y"], ["pfmerge", "short", 0, 3000]),
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 8 }), (ops) => {
        stringApplyUndo(undefined, ops);
      }),
      { numRuns: 300 },
    );
  });

  test("classes and events", () => {
    expect(exclusiveReason("pfadd", ["pfadd", "h", "a"])).toBeNull();
    expect(exclusiveReason("pfmerge", ["pfmerge", "d", "s"])).toBeNull();
    expect(exclusiveReason("pfcount", ["pfcount", "h"])).toBeNull();
    expect(stringType.event(["pfadd", [], 3000])).toBe("pfadd");
    expect(stringType.event(["pfmerge", "", 0, 3000])).toBe("pfadd");
    expect(stringType.event(["pfcache"])).toBe("");
  });
});
