/** Peer wire framing: any chunking reads back the same frames; an oversized header is refused unbuffered. */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { WireError, wireFrame, WireReader } from "../../core/wire.ts";

test("frames split at arbitrary points read back exactly", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 20 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }),
      (payloads, cuts) => {
        const stream = new Uint8Array(payloads.reduce((n, p) => n + 4 + p.length, 0));
        let at = 0;
        for (const p of payloads) {
          stream.set(wireFrame(p), at);
          at += 4 + p.length;
        }
        const r = new WireReader(1000);
        const got: Uint8Array[] = [];
        let pos = 0, i = 0;
        while (pos < stream.length) {
          const n = cuts[i++ % cuts.length];
          r.feed(stream.subarray(pos, pos + n));
          pos += n;
          for (let f = r.next(); f !== null; f = r.next()) {
            expect(f).not.toBeInstanceOf(WireError);
            got.push(f as Uint8Array);
          }
        }
        expect(got).toEqual(payloads);
        expect(r.buffered()).toBe(0);
      },
    ),
    { numRuns: 300 },
  );
});

test("an oversized frame is an error before its body is buffered, and the reader stays dead", () => {
  const r = new WireReader(1024);
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, 2 ** 31, true);
  r.feed(header);
  const e = r.next();
  expect(e).toBeInstanceOf(WireError);
  expect((e as WireError).message).toContain("exceeds the limit of 1024");
  r.feed(new Uint8Array(1 << 20));
  expect(r.buffered()).toBe(4);
  expect(r.next()).toBe(e);
});
