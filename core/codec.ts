/**
 * Versioned CBOR encodings of what goes on disk (and, later, on the wire), and the framing of log
 * records: `[u32 length][u32 crc32 of payload][payload]`, little-endian.
 */
import { Decoder, Encoder } from "cbor-x";
import { CborWriter, fromWire } from "./cbor.ts";
import { crc32 } from "./crc32.ts";
import { type Effect, type EffectId, type EpochEffect, type EpochOp, type Op, Writer } from "./effect.ts";

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** Record kinds in the log. */
export const RECORD = { batch: 1, epoch: 2, dump: 3, decision: 5, envelope: 6 } as const;

/** Bytes of the frame header. */
export const FRAME_HEADER = 8;
/** Largest record payload accepted when reading a log (corruption guard). */
export const MAX_RECORD_BYTES = 1 << 30;

/** Frames a payload for the log. */
export function frameRecord(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, payload.length, true);
  dv.setUint32(4, crc32(payload), true);
  out.set(payload, FRAME_HEADER);
  return out;
}

/** Result of reading a segment: the intact records, where they end, and why reading stopped early. */
export interface ParsedFrames {
  records: Uint8Array[];
  /** Offset just past the last intact record. */
  end: number;
  /** Set when bytes after `end` are torn or corrupt. */
  error: string | null;
}

/** Splits a segment's bytes into records, stopping at the first torn or corrupt one. */
export function parseFrames(bytes: Uint8Array): ParsedFrames {
  const records: Uint8Array[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < FRAME_HEADER) return { records, end: at, error: "torn record header" };
    const len = dv.getUint32(at, true);
    const crc = dv.getUint32(at + 4, true);
    if (len > MAX_RECORD_BYTES) return { records, end: at, error: `record length ${len} too large` };
    if (bytes.length - at - FRAME_HEADER < len) return { records, end: at, error: "torn record body" };
    const body = bytes.subarray(at + FRAME_HEADER, at + FRAME_HEADER + len);
    if (crc32(body) !== crc) return { records, end: at, error: "record CRC mismatch" };
    records.push(body);
    at += FRAME_HEADER + len;
  }
  return { records, end: at, error: null };
}

const writer = new CborWriter();

/** A writer's node id and incarnation, encoded once: every record and dep repeats them. */
function encodedWriter(w: Writer): Uint8Array {
  return w.cbor ??= new CborWriter().str(w.node).num(w.inc).bytes().slice();
}

/**
 * One command's effects: one log record (a group when there are several keys). The returned
 * bytes are a view into a reused buffer, valid until the next encode.
 */
export function encodeBatch(effects: readonly Effect[]): Uint8Array {
  const first = effects[0];
  const w = writer.reset().array(7).num(RECORD.batch).raw(encodedWriter(first.w)).num(first.seq)
    .num(first.hlc).num(first.cls).array(effects.length);
  for (const e of effects) {
    w.array(4).num(e.db).str(e.key).array(e.deps.length * 3);
    for (const d of e.deps) w.raw(encodedWriter(d.w)).num(d.seq);
    w.value(e.ops);
  }
  return w.bytes();
}

function decodeDeps(flat: unknown[]): EffectId[] {
  const out: EffectId[] = [];
  for (let i = 0; i < flat.length; i += 3) {
    out.push({ w: Writer.of(flat[i] as string, flat[i + 1] as number), seq: flat[i + 2] as number });
  }
  return out;
}

/** Encodes a keyspace-wide effect (a view into a reused buffer). */
export function encodeEpoch(e: EpochEffect): Uint8Array {
  return writer.reset().array(6).num(RECORD.epoch).str(e.w.node).num(e.w.inc).num(e.seq).num(e.hlc).value(
    e.op,
  )
    .bytes();
}

/**
 * One key as anti-entropy ships it: the folded base (type, encoded value, deadline) with the
 * version vector of what the base holds, the key's tips, and its unstable effects in fold order.
 */
export interface KeyDump {
  db: number;
  key: string;
  type: string | null;
  enc: unknown;
  deadline: number;
  tips: EffectId[];
  baseVv: EffectId[];
  log: Effect[];
  /**
   * True when only the unstable effects the peer lacks are shipped (it holds the whole base):
   * then type, value, deadline and tips are not sent.
   */
  partial: boolean;
}

/** An anti-entropy shipment: keys, and on the last one of a round the sender's frontiers. */
export interface DumpRecord {
  kind: "dump";
  /** Node id of the sender (claims only count when its whole round was installed). */
  from: string;
  /** The sender's clock: at or above every effect it holds, the bases' included. */
  hlc: number;
  roundStart: boolean;
  keys: KeyDump[];
  claims: EffectId[] | null;
}

/**
 * The outcome of an envelope that commits no effects (it aborted, or it only read): its seqs
 * `first .. first+size-1` of the envelope writer are settled with nothing applied.
 */
export interface DecisionRecord {
  kind: "decision";
  w: Writer;
  first: number;
  size: number;
  committed: boolean;
}

/** A participant's durable state of an undecided envelope (opaque to the log: core/envelope.ts). */
export interface EnvelopeRecord {
  kind: "envelope";
  state: Uint8Array;
}

/** A decoded log record. */
export type DecodedRecord =
  | { kind: "batch"; effects: Effect[] }
  | { kind: "epoch"; effect: EpochEffect }
  | DumpRecord
  | DecisionRecord
  | EnvelopeRecord;

/** Encodes an envelope's outcome without effects. */
export function encodeDecision(d: Omit<DecisionRecord, "kind">): Uint8Array {
  return cbor.encode([RECORD.decision, d.w.node, d.w.inc, d.first, d.size, d.committed]);
}

/** Encodes a participant's envelope state. */
export function encodeEnvelopeState(state: Uint8Array): Uint8Array {
  return cbor.encode([RECORD.envelope, state]);
}

/** A table of writers so each id costs two small integers. */
class WriterTable {
  readonly flat: unknown[] = [];
  readonly #index = new Map<Writer, number>();
  ref(w: Writer): number {
    let i = this.#index.get(w);
    if (i === undefined) {
      this.#index.set(w, i = this.#index.size);
      this.flat.push(w.node, w.inc);
    }
    return i;
  }
  ids(ids: readonly EffectId[]): number[] {
    const out: number[] = [];
    for (const id of ids) out.push(this.ref(id.w), id.seq);
    return out;
  }
}

function readWriters(flat: unknown[]): Writer[] {
  const out: Writer[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push(Writer.of(flat[i] as string, flat[i + 1] as number));
  return out;
}

function readIds(writers: Writer[], flat: number[]): EffectId[] {
  const out: EffectId[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const w = writers[flat[i]];
    if (w === undefined) throw new Error("record names an unknown writer");
    out.push({ w, seq: flat[i + 1] });
  }
  return out;
}

/** Encodes unstable effects against a writer table (dumps and checkpoints). */
export function encodeEffects(t: WriterTable, effects: readonly Effect[]): unknown[] {
  return effects.map((e) => [
    t.ref(e.w),
    e.seq,
    e.hlc,
    e.cls,
    t.ids(e.deps),
    e.ops,
    e.group?.first ?? 0,
    e.group?.size ?? 0,
    e.db,
    e.key,
  ]);
}

/** Decodes what `encodeEffects` wrote. */
export function decodeEffects(writers: Writer[], list: unknown[][]): Effect[] {
  return list.map((x): Effect => ({
    w: writers[x[0] as number],
    seq: x[1] as number,
    hlc: x[2] as number,
    cls: x[3] as 0 | 1,
    deps: readIds(writers, x[4] as number[]),
    ops: x[5] as Op[],
    group: (x[7] as number) > 0 ? { first: x[6] as number, size: x[7] as number } : null,
    db: x[8] as number,
    key: x[9] as string,
  }));
}

export { readIds, readWriters, WriterTable };

/** Encodes an anti-entropy shipment as a log record (it is logged by its receiver). */
export function encodeDump(d: Omit<DumpRecord, "kind">): Uint8Array {
  const t = new WriterTable();
  const keys = d.keys.map((k) => [
    k.db,
    k.key,
    k.type,
    k.enc,
    k.deadline,
    t.ids(k.tips),
    t.ids(k.baseVv),
    encodeEffects(t, k.log),
    k.partial,
  ]);
  const claims = d.claims === null ? null : t.ids(d.claims);
  return cbor.encode([RECORD.dump, d.from, d.roundStart, t.flat, keys, claims, d.hlc]);
}

/** Decodes a log record payload. */
export function decodeRecord(payload: Uint8Array): DecodedRecord {
  const raw = decoder.decode(payload) as unknown[];
  // The envelope state stays bytes (fromWire would turn it into a string).
  if (raw[0] === RECORD.envelope) return { kind: "envelope", state: raw[1] as Uint8Array };
  const r = fromWire(raw) as unknown[];
  if (r[0] === RECORD.dump) {
    const writers = readWriters(r[3] as unknown[]);
    const keys = (r[4] as unknown[][]).map((k): KeyDump => ({
      db: k[0] as number,
      key: k[1] as string,
      type: k[2] as string | null,
      enc: k[3],
      deadline: k[4] as number,
      tips: readIds(writers, k[5] as number[]),
      baseVv: readIds(writers, k[6] as number[]),
      log: decodeEffects(writers, k[7] as unknown[][]),
      partial: k[8] === true,
    }));
    const claims = r[5] === null ? null : readIds(writers, r[5] as number[]);
    return {
      kind: "dump",
      from: r[1] as string,
      roundStart: r[2] as boolean,
      keys,
      claims,
      hlc: (r[6] as number) ?? 0,
    };
  }
  const w = Writer.of(r[1] as string, r[2] as number);
  if (r[0] === RECORD.decision) {
    return { kind: "decision", w, first: r[3] as number, size: r[4] as number, committed: r[5] === true };
  }
  if (r[0] === RECORD.batch) {
    const first = r[3] as number, hlc = r[4] as number, cls = r[5] as 0 | 1;
    const keys = r[6] as [number, string, unknown[], Op[]][];
    const group = keys.length > 1 ? { first, size: keys.length } : null;
    const effects = keys.map(([db, key, deps, ops], i): Effect => ({
      w,
      seq: first + i,
      db,
      key,
      deps: decodeDeps(deps),
      hlc,
      cls,
      group,
      ops,
    }));
    return { kind: "batch", effects };
  }
  if (r[0] === RECORD.epoch) {
    return { kind: "epoch", effect: { w, seq: r[3] as number, hlc: r[4] as number, op: r[5] as EpochOp } };
  }
  throw new Error(`unknown log record kind ${String(r[0])}`);
}

/** Generic CBOR for checkpoints. */
export function encodeValue(x: unknown): Uint8Array {
  return cbor.encode(x);
}

export function decodeValue(bytes: Uint8Array): unknown {
  return decoder.decode(bytes);
}
