/** Codec round trips (log records, framing, checkpoints) and the HLC's rules. */
import { expect, test } from "bun:test";
import fc from "fast-check";
import {
  decodeRecord,
  decodeValue,
  encodeBatch,
  encodeEpoch,
  encodeValue,
  frameRecord,
  parseFrames,
} from "../../core/codec.ts";
import { crc32 } from "../../core/crc32.ts";
import { type Effect, type EpochOp, Writer } from "../../core/effect.ts";
import { Hlc, hlcMs, LOGICAL_SPAN } from "../../core/hlc.ts";
import * as zlib from "node:zlib";

/** Binary-safe strings: any bytes, one char per byte. */
const bin = fc.uint8Array({ maxLength: 40 }).map((b) => String.fromCharCode(...b));
const int64 = fc.oneof(
  fc.integer(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).filter((b) => !Number.isSafeInteger(Number(b))),
  fc.constantFrom(0, -1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER),
);
const leaf = fc.oneof(bin, int64, fc.double({ noNaN: true }).filter((d) => !Number.isInteger(d)));
const op = fc.tuple(
  fc.constantFrom("set", "incr", "push", "rem", "pexpire"),
  fc.array(leaf, { maxLength: 4 }),
)
  .map(([code, args]) => [code, ...args, args.slice(0, 2)]);

const effectArb = fc.record({
  node: fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 16, maxLength: 16 }),
  inc: fc.integer({ min: 1, max: 1000 }),
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER - 100 }),
  hlc: fc.integer({ min: 0, max: 2 ** 52 }),
  cls: fc.constantFrom(0 as const, 1 as const),
  keys: fc.array(
    fc.tuple(fc.integer({ min: 0, max: 15 }), bin, fc.array(op, { minLength: 1, maxLength: 3 })),
    {
      minLength: 1,
      maxLength: 5,
    },
  ),
  deps: fc.array(fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 2 ** 40 })), {
    maxLength: 3,
  }),
});

/** Deep equality that tells bigint from number and -0 from 0. */
function same(a: unknown, b: unknown): boolean {
  if (typeof a === "bigint" || typeof b === "bigint") return typeof a === typeof b && a === b;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  return Object.is(a, b) || (typeof a === "number" && a === b && a !== 0);
}

test("batch records round-trip: ids, deps, groups and ops exactly", () => {
  fc.assert(
    fc.property(effectArb, (x) => {
      const w = Writer.of(x.node, x.inc);
      const effects: Effect[] = x.keys.map(([db, key, ops], i) => ({
        w,
        seq: x.seq + i,
        db,
        key,
        deps: x.deps.map(([inc, seq]) => ({ w: Writer.of(x.node, inc), seq })),
        hlc: x.hlc,
        cls: x.cls,
        group: x.keys.length > 1 ? { first: x.seq, size: x.keys.length } : null,
        ops,
      }));
      const rec = decodeRecord(encodeBatch(effects));
      expect(rec.kind).toBe("batch");
      if (rec.kind !== "batch") return;
      expect(rec.effects.length).toBe(effects.length);
      rec.effects.forEach((e, i) => {
        const want = effects[i];
        expect(e.w).toBe(want.w);
        expect([e.seq, e.db, e.key, e.hlc, e.cls]).toEqual([want.seq, want.db, want.key, want.hlc, want.cls]);
        expect(e.group).toEqual(want.group);
        expect(e.deps.map((d) => [d.w, d.seq])).toEqual(want.deps.map((d) => [d.w, d.seq]));
        expect(same(e.ops, want.ops)).toBe(true);
      });
    }),
    { numRuns: 500 },
  );
});

test("epoch records round-trip", () => {
  const w = Writer.of("00ff00ff00ff00ff", 7);
  for (const op of [["flushall"], ["flushdb", 3], ["swapdb", 0, 15]] as EpochOp[]) {
    const rec = decodeRecord(encodeEpoch({ w, seq: 99, hlc: 123456789 * LOGICAL_SPAN, op }));
    expect(rec).toEqual({ kind: "epoch", effect: { w, seq: 99, hlc: 123456789 * LOGICAL_SPAN, op } });
  }
});

test("checkpoint values round-trip", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(bin, fc.integer(), fc.array(fc.integer()))), (v) => {
      expect(decodeValue(encodeValue(v))).toEqual(v);
    }),
  );
});

test("framing: intact records come back; a torn or corrupt tail stops reading at the last good one", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 10 }),
      fc.nat(),
      fc.boolean(),
      (payloads, cut, flip) => {
        const frames = payloads.map(frameRecord);
        const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
        let at = 0;
        for (const f of frames) {
          all.set(f, at);
          at += f.length;
        }
        expect(parseFrames(all)).toEqual({ records: payloads, end: all.length, error: null });
        // Damage the last frame: cut it short, or flip a byte of its body.
        const lastStart = all.length - frames[frames.length - 1].length;
        let damaged: Uint8Array;
        if (flip && payloads[payloads.length - 1].length > 0) {
          damaged = all.slice();
          damaged[lastStart + 8 + (cut % payloads[payloads.length - 1].length)] ^= 0xff;
        } else {
          damaged = all.subarray(0, lastStart + (cut % frames[frames.length - 1].length));
        }
        const r = parseFrames(damaged);
        expect(r.records).toEqual(payloads.slice(0, -1));
        expect(r.end).toBe(lastStart);
        expect(r.error === null).toBe(damaged.length === lastStart);
      },
    ),
    { numRuns: 300 },
  );
});

test("crc32 agrees with zlib on every length and alignment", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (b) => expect(crc32(b)).toBe(zlib.crc32(b))));
  const b = new Uint8Array(64).map((_, i) => i * 37);
  for (let s = 0; s < 8; s++) expect(crc32(b, s, 64 - s)).toBe(zlib.crc32(b.subarray(s, 64 - s)));
});

test("HLC: strictly increasing, never behind wall time or an observed timestamp, restored from disk", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: -5, max: 5 }), fc.option(fc.integer({ min: 0, max: 50 }))), {
        maxLength: 200,
      }),
      (steps) => {
        let wall = 1_700_000_000_000;
        const clock = new Hlc(() => wall);
        let last = 0;
        for (const [dt, remote] of steps) {
          wall += dt; // wall clocks may step back
          if (remote !== null) clock.observe((wall + remote) * LOGICAL_SPAN + 3);
          const t = clock.tick();
          expect(t).toBeGreaterThan(last);
          expect(hlcMs(t)).toBeGreaterThanOrEqual(wall);
          expect(t).toBeGreaterThan(clock.peek() - 1);
          last = t;
        }
        const restored = new Hlc(() => wall - 1000, last);
        expect(restored.tick()).toBeGreaterThan(last);
      },
    ),
  );
});

test("HLC: 2048 events in one millisecond run the clock ahead instead of repeating", () => {
  const clock = new Hlc(() => 1000);
  const seen = new Set<number>();
  for (let i = 0; i < 5000; i++) seen.add(clock.tick());
  expect(seen.size).toBe(5000);
  expect(hlcMs(clock.peek())).toBe(1000 + Math.floor(4999 / LOGICAL_SPAN));
});
