/**
 * Peer sessions: over connections that break at random (losing what was in flight, and lost
 * acknowledgements), with reconnect handshakes, every payload is delivered exactly once and in
 * order; the sender's memory is bounded by its limits.
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { type Frame, InboundSession, OutboundSession } from "../../core/session.ts";

const payload = (n: number) => new Uint8Array([n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff]);
const id = (p: Uint8Array) => p[0] | (p[1] << 8) | (p[2] << 16);

test("exactly-once, in-order delivery across broken connections and lost acks", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.record({ kind: fc.constant("send" as const), n: fc.integer({ min: 1, max: 5 }) }),
          fc.record({ kind: fc.constant("transmit" as const), n: fc.integer({ min: 0, max: 6 }) }),
          fc.record({ kind: fc.constant("ack" as const), lost: fc.boolean() }),
          fc.record({ kind: fc.constant("break" as const) }),
        ),
        { maxLength: 200 },
      ),
      (steps) => {
        const out = new OutboundSession();
        const inb = new InboundSession();
        let sent = 0;
        const delivered: number[] = [];
        let wire: Frame[] = []; // frames written on the current connection, not yet read
        const deliver = (frames: Frame[]) => {
          for (const f of frames) {
            const r = inb.receive(f);
            expect(r).not.toBe("gap"); // one connection never reorders
            if (r !== null && r !== "gap") delivered.push(id(r));
          }
        };
        for (const s of steps) {
          if (s.kind === "send") {
            for (let i = 0; i < s.n; i++) expect(out.send(payload(sent++))).toBe(true);
          } else if (s.kind === "transmit") {
            wire.push(...out.take());
            deliver(wire.splice(0, s.n));
          } else if (s.kind === "ack") {
            if (!s.lost && inb.receivedUpTo() > 0) out.ack(inb.receivedUpTo());
          } else {
            // The connection breaks: whatever was in flight is lost; the new one starts with the
            // receiver telling the sender what it has.
            wire = [];
            out.reconnected(inb.receivedUpTo());
          }
        }
        // Heal: a last connection drains everything.
        out.reconnected(inb.receivedUpTo());
        deliver(out.take());
        out.ack(inb.receivedUpTo() === 0 ? 0 : inb.receivedUpTo());
        expect(delivered).toEqual(Array.from({ length: sent }, (_, i) => i));
        expect(out.unacked()).toBe(0);
        expect(out.unackedBytes()).toBe(0);
      },
    ),
    { numRuns: 500 },
  );
});

test("a sender refuses frames past its limits until acknowledgements free room", () => {
  const out = new OutboundSession({ maxFrames: 3, maxBytes: 10 });
  expect(out.send(new Uint8Array(4))).toBe(true);
  expect(out.send(new Uint8Array(4))).toBe(true);
  expect(out.send(new Uint8Array(4))).toBe(false); // 12 bytes > 10
  expect(out.send(new Uint8Array(2))).toBe(true);
  expect(out.send(new Uint8Array(0))).toBe(false); // 4 frames > 3
  expect(out.take().map((f) => f.seq)).toEqual([1, 2, 3]);
  out.ack(2);
  expect(out.unacked()).toBe(1);
  expect(out.send(new Uint8Array(4))).toBe(true);
  expect(out.take().map((f) => f.seq)).toEqual([4]);
  expect(() => out.ack(9)).toThrow();
});

test("a receiver drops duplicates and reports gaps", () => {
  const inb = new InboundSession();
  const f = (seq: number) => ({ seq, payload: payload(seq) });
  expect(inb.receive(f(1))).toEqual(payload(1));
  expect(inb.receive(f(1))).toBe(null);
  expect(inb.receive(f(3))).toBe("gap");
  expect(inb.receive(f(2))).toEqual(payload(2));
  expect(inb.receivedUpTo()).toBe(2);
});

test("a reconnect that reports less than was acknowledged resends nothing acknowledged (after compaction too)", () => {
  const out = new OutboundSession();
  for (let i = 1; i <= 3000; i++) out.send(new Uint8Array([i & 0xff]));
  expect(out.take().length).toBe(3000);
  out.ack(2000); // compacts the acknowledged prefix away
  out.reconnected(0); // a receiver that cannot tell which session it had
  const again = out.take(5);
  expect(again.map((f) => f.seq)).toEqual([2001, 2002, 2003, 2004, 2005]);
  expect(again.every((f) => f !== undefined)).toBe(true);
});
