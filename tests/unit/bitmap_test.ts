import { beforeEach, describe, expect, test } from "bun:test";
import { faceNode, stringApplyUndo } from "./fake_env.ts";
import fc from "fast-check";
import type { Op } from "../../core/effect.ts";
import type { ApplyCtx } from "../../core/reducer.ts";
import { exclusiveReason } from "../../redis/exclusive.ts";
import { stringType, sv } from "../../redis/types/string.ts";

// ------------------------------------------------------------------ fixtures

const ACTX = {} as ApplyCtx;

let node = faceNode();
beforeEach(() => {
  node = faceNode();
});
const run = (...args: string[]) => node.run(...args);
const get = (key: string) => node.get(key);

function apply(s: string | undefined, op: Op): string | undefined {
  return sv(stringType.apply(s, op, ACTX).state);
}

const bytes = fc.string({
  maxLength: 12,
  unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)),
});
const WRONGTYPE = "ERR:WRONGTYPE Operation against a key holding the wrong kind of value";
const SYNTAX = "ERR:ERR syntax error";

/** The bits of a string, most significant first. */
function bitsOf(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) for (let k = 7; k >= 0; k--) out.push((s.charCodeAt(i) >> k) & 1);
  return out;
}

// ------------------------------------------------------------------ SETBIT, GETBIT, BITCOUNT, BITPOS

describe("bit commands", () => {
  test("SETBIT writes only when the bit or the length changes", () => {
    expect(run("SETBIT", "b", "7", "0")).toBe(0);
    expect(node.lastOps).toEqual([["b", [["setbit", 7, 0]]]]);
    expect(run("SETBIT", "b", "7", "0")).toBe(0);
    expect(node.lastOps).toEqual([]);
    expect(run("SETBIT", "b", "7", "1")).toBe(0);
    expect(run("SETBIT", "b", "7", "1")).toBe(1);
    expect(node.lastOps).toEqual([]);
    expect(run("SETBIT", "b", "20", "0")).toBe(0);
    expect(get("b")).toBe("\x01\0\0");
    expect(run("GETBIT", "b", "7")).toBe(1);
    expect(run("GETBIT", "b", "100")).toBe(0);
    expect(run("SETBIT", "b", "1", "2")).toBe("ERR:ERR bit is not an integer or out of range");
    expect(run("SETBIT", "b", "-1", "1")).toBe("ERR:ERR bit offset is not an integer or out of range");
    expect(run("SETBIT", "b", "4294967296", "1")).toBe(
      "ERR:ERR bit offset is not an integer or out of range",
    );
    expect(run("OBJECT", "ENCODING", "b")).toBe("raw");
  });

  test("concurrent SETBITs on different bits both survive in either fold order", () => {
    fc.assert(
      fc.property(
        fc.option(bytes, { nil: undefined }),
        fc.nat(200),
        fc.nat(200),
        fc.nat(1),
        fc.nat(1),
        (s, i, j, x, y) => {
          fc.pre(i !== j);
          const ab = apply(apply(s, ["setbit", i, x]), ["setbit", j, y])!;
          const ba = apply(apply(s, ["setbit", j, y]), ["setbit", i, x])!;
          expect(ab).toBe(ba);
          expect(bitsOf(ab)[i]).toBe(x);
          expect(bitsOf(ab)[j]).toBe(y);
        },
      ),
    );
  });

  test("BITCOUNT and BITPOS follow the range rules on random strings", () => {
    const model = (s: string, start: number, end: number, isBit: boolean): [number, number] | null => {
      const total = isBit ? s.length * 8 : s.length;
      if (start < 0) start += total;
      if (end < 0) end += total;
      start = Math.max(start, 0);
      end = Math.min(Math.max(end, 0), total - 1);
      if (start > end) return null;
      return isBit ? [start, end] : [start * 8, end * 8 + 7];
    };
    fc.assert(
      fc.property(
        bytes,
        fc.integer({ min: -100, max: 100 }),
        fc.integer({ min: -100, max: 100 }),
        fc.boolean(),
        (s, a, b, isBit) => {
          run("SET", "s", s);
          const unit = isBit ? "BIT" : "BYTE";
          const bits = bitsOf(s);
          const r = model(s, a, b, isBit);
          const count = a < 0 && b < 0 && a > b || r === null
            ? 0
            : bits.slice(r[0], r[1] + 1).filter((x) => x).length;
          expect(run("BITCOUNT", "s", String(a), String(b), unit)).toBe(count);
          for (const bit of [0, 1]) {
            const at = r === null ? -1 : bits.slice(r[0], r[1] + 1).indexOf(bit);
            expect(run("BITPOS", "s", String(bit), String(a), String(b), unit)).toBe(
              at < 0 ? -1 : r![0] + at,
            );
          }
          const first0 = bits.indexOf(0);
          expect(run("BITPOS", "s", "0")).toBe(s.length === 0 ? -1 : first0 < 0 ? bits.length : first0);
          expect(run("BITPOS", "s", "1")).toBe(bits.indexOf(1));
        },
      ),
    );
  });

  test("BITCOUNT and BITPOS argument errors come before the key lookup", () => {
    expect(run("BITCOUNT", "nokey", "0")).toBe(SYNTAX);
    expect(run("BITCOUNT", "nokey", "0", "1", "hello")).toBe(SYNTAX);
    expect(run("BITCOUNT", "nokey", "a", "b")).toBe("ERR:ERR value is not an integer or out of range");
    expect(run("BITPOS", "nokey", "0", "1", "hello", "hello2")).toBe(SYNTAX);
    expect(run("BITPOS", "nokey", "0", "0", "1", "hello")).toBe(SYNTAX);
    expect(run("BITPOS", "nokey", "2")).toBe("ERR:ERR The bit argument must be 1 or 0.");
    expect(run("BITPOS", "nokey", "0")).toBe(0);
    expect(run("BITPOS", "nokey", "1")).toBe(-1);
    run("RPUSH", "l", "a");
    expect(run("BITCOUNT", "l", "-6", "-7")).toBe(WRONGTYPE);
    expect(run("BITPOS", "l", "1", "a", "b")).toBe("ERR:ERR value is not an integer or out of range");
  });
});

// ------------------------------------------------------------------ BITOP

describe("BITOP", () => {
  test("the eight operations match a bit model", () => {
    const ops: Record<string, (x: number, ys: number[]) => number> = {
      AND: (x, ys) => ys.reduce((a, y) => a & y, x),
      OR: (x, ys) => ys.reduce((a, y) => a | y, x),
      XOR: (x, ys) => ys.reduce((a, y) => a ^ y, x),
      DIFF: (x, ys) => x & (ys.some((y) => y === 1) ? 0 : 1),
      DIFF1: (x, ys) => (x === 0 && ys.some((y) => y === 1) ? 1 : 0),
      ANDOR: (x, ys) => (x === 1 && ys.some((y) => y === 1) ? 1 : 0),
      ONE: (x, ys) => ([x, ...ys].filter((y) => y === 1).length === 1 ? 1 : 0),
    };
    fc.assert(
      fc.property(fc.array(bytes, { minLength: 2, maxLength: 4 }), (srcs) => {
        const keys = srcs.map((s, i) => {
          run("SET", `k${i}`, s);
          return `k${i}`;
        });
        const len = Math.max(...srcs.map((s) => s.length));
        const padded = srcs.map((s) => bitsOf(s + "\0".repeat(len - s.length)));
        for (const [name, f] of Object.entries(ops)) {
          expect(run("BITOP", name, "d", ...keys)).toBe(len);
          const want = padded[0].map((x, i) => f(x, padded.slice(1).map((p) => p[i])));
          expect(len === 0 ? get("d") : bitsOf(get("d")!)).toEqual(len === 0 ? undefined : want);
        }
        expect(run("BITOP", "NOT", "d", keys[0])).toBe(srcs[0].length);
      }),
    );
  });

  test("errors, empty results, and the raw encoding of the result", () => {
    expect(run("BITOP", "NOT", "d", "a", "b")).toBe(
      "ERR:ERR BITOP NOT must be called with a single source key.",
    );
    for (const op of ["DIFF", "diff1", "AndOr"]) {
      expect(run("BITOP", op, "d", "a")).toBe(
        `ERR:ERR BITOP ${op.toUpperCase()} must be called with at least two source keys.`,
      );
    }
    expect(run("BITOP", "ONE", "d", "nokey")).toBe(0);
    expect(run("BITOP", "NAND", "d", "a")).toBe(SYNTAX);
    run("RPUSH", "l", "x");
    expect(run("BITOP", "OR", "d", "l")).toBe(WRONGTYPE);
    run("SET", "i", "1");
    run("SET", "d", "old");
    expect(run("BITOP", "ONE", "d", "i")).toBe(1);
    expect(run("OBJECT", "ENCODING", "d")).toBe("raw");
    expect(run("BITOP", "AND", "d", "nokey")).toBe(0);
    expect(run("EXISTS", "d")).toBe(0);
  });
});

// ------------------------------------------------------------------ BITFIELD

/** Redis's overflow rules for a field, exactly (no 64-bit quirks needed for INCRBY). */
function model(signed: boolean, bits: number, v: bigint, incr: bigint, ow: string): bigint | null {
  const max = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  const min = signed ? -max - 1n : 0n;
  const sum = v + incr;
  if (sum >= min && sum <= max) return sum;
  if (ow === "fail") return null;
  if (ow === "sat") return sum > max ? max : min;
  return signed ? BigInt.asIntN(bits, sum) : BigInt.asUintN(bits, sum);
}

const num = (v: bigint) => (Number.isSafeInteger(Number(v)) ? Number(v) : v);

describe("BITFIELD", () => {
  test("INCRBY and SET under each OVERFLOW follow the model", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.integer({ min: 1, max: 64 }),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.constantFrom("wrap", "sat", "fail"),
        fc.nat(20),
        (signed, bits, start, incr, ow, offset) => {
          if (!signed && bits === 64) bits = 63;
          const t = `${signed ? "i" : "u"}${bits}`;
          const max = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
          const min = signed ? -max - 1n : 0n;
          const v = start < min ? min : start > max ? max : start;
          run("DEL", "f");
          expect(run("BITFIELD", "f", "SET", t, String(offset), String(v))).toEqual([0]);
          const want = model(signed, bits, v, incr, ow);
          const r = run(
            "BITFIELD",
            "f",
            "OVERFLOW",
            ow,
            "INCRBY",
            t,
            String(offset),
            String(incr),
            "GET",
            t,
            String(offset),
          );
          expect(r).toEqual([want === null ? null : num(want), num(want ?? v)]);
        },
      ),
      { numRuns: 500 },
    );
  });

  test("the ops BITFIELD writes", () => {
    run("BITFIELD", "f", "SET", "u8", "0", "10");
    expect(node.lastOps).toEqual([["f", [["bfgrow", 1], ["bfset", 0, 8, 10]]]]);
    run("BITFIELD", "f", "SET", "u8", "0", "10");
    expect(node.lastOps).toEqual([]);
    run("BITFIELD", "f", "INCRBY", "u8", "0", "0");
    expect(node.lastOps).toEqual([["f", [["bfincr", 0, 8, 0]]]]);
    run("BITFIELD", "f", "OVERFLOW", "SAT", "INCRBY", "u8", "0", "300");
    expect(node.lastOps).toEqual([["f", [["bfset", 0, 8, 255]]]]);
    expect(run("BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "u8", "16", "300")).toEqual([null]);
    expect(node.lastOps).toEqual([["f", [["bfgrow", 3]]]]);
    expect(get("f")).toBe("\xff\0\0");
    expect(run("BITFIELD", "f", "GET", "u8", "100")).toEqual([0]);
    expect(node.lastOps).toEqual([]);
    expect(run("BITFIELD_RO", "f", "SET", "u8", "0", "1")).toBe(
      "ERR:ERR BITFIELD_RO only supports the GET subcommand",
    );
    expect(run("BITFIELD", "f", "GET", "I8", "0")).toBe(
      "ERR:ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
    );
  });

  test("concurrent WRAP increments all count; SET and SETBIT ops commute on disjoint bits", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { maxLength: 6 }),
        fc.nat(30),
        (bits, deltas, offset) => {
          const ops: Op[] = deltas.map((d) => ["bfincr", offset, bits, num(d)]);
          let fwd: string | undefined = undefined, back: string | undefined = undefined;
          for (const op of ops) fwd = apply(fwd, op);
          for (const op of [...ops].reverse()) back = apply(back, op);
          expect(fwd).toBe(back);
          if (fwd !== undefined) {
            run("SET", "x", fwd);
            const sum = deltas.reduce((a, d) => a + d, 0n);
            expect(
              run(
                "BITFIELD",
                "x",
                "GET",
                `u${Math.min(bits, 63)}`,
                String(offset + bits - Math.min(bits, 63)),
              ),
            )
              .toEqual([num(BigInt.asUintN(Math.min(bits, 63), sum))]);
          }
        },
      ),
    );
    const a: Op = ["bfset", 0, 8, 65], b: Op = ["setbit", 12, 1];
    expect(apply(apply(undefined, a), b)).toBe(apply(apply(undefined, b), a));
  });

  test("apply is total and undo restores exactly", () => {
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.tuple(
        fc.constant("bfset"),
        fc.nat(40),
        fc.integer({ min: 1, max: 64 }),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      )
        .map((t) => [...t]),
      fc.tuple(fc.constant("bfincr"), fc.nat(40), fc.integer({ min: 1, max: 64 }), fc.integer()).map((
        t,
      ) => [...t]),
      fc.tuple(fc.constant("bfgrow"), fc.nat(20)).map((t) => [...t]),
      fc.tuple(fc.constant("setbit"), fc.nat(80), fc.nat(1)).map((t) => [...t]),
      fc.constantFrom<Op>(["bfset", -1, 8, 1], ["bfset", 0, 65, 1], ["bfincr", 0, 8, "x"], ["bfgrow", 1.5], [
        "set",
        "x",
        2,
      ]),
    );
    fc.assert(
      fc.property(fc.option(bytes, { nil: undefined }), fc.array(opArb, { maxLength: 8 }), (s0, ops) => {
        stringApplyUndo(s0, ops);
      }),
    );
  });

  test("exclusive only for INCRBY under OVERFLOW SAT or FAIL", () => {
    expect(exclusiveReason("bitfield", ["bitfield", "k", "SET", "u8", "0", "1", "INCRBY", "u8", "0", "1"]))
      .toBeNull();
    expect(exclusiveReason("bitfield", ["bitfield", "k", "OVERFLOW", "FAIL", "SET", "u8", "0", "1"]))
      .toBeNull();
    expect(exclusiveReason("bitfield", ["bitfield", "k", "OVERFLOW", "sat", "INCRBY", "u8", "0", "1"])).toBe(
      "BITFIELD INCRBY with OVERFLOW SAT reads the old value",
    );
    expect(
      exclusiveReason("bitfield", [
        "bitfield",
        "k",
        "OVERFLOW",
        "FAIL",
        "OVERFLOW",
        "WRAP",
        "INCRBY",
        "u8",
        "0",
        "1",
      ]),
    )
      .toBeNull();
    expect(exclusiveReason("bitfield_ro", ["bitfield_ro", "k", "GET", "u8", "0"])).toBeNull();
    expect(exclusiveReason("setbit", ["setbit", "k", "1", "1"])).toBeNull();
    expect(exclusiveReason("bitop", ["bitop", "and", "d", "a"])).toBeNull();
    expect(stringType.event(["bfincr", 0, 8, 1])).toBe("setbit");
  });
});
