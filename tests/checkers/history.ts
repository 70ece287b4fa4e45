/**
 * Client-side operation histories for the cluster checkers: one JSON event per line, in the order the
 * recorder saw them. An operation is an `invoke` followed by at most one completion from the same
 * process: `ok` (took effect, `value` is the reply), `fail` (definitely did not take effect) or `info`
 * (indeterminate: a timeout or a lost connection, so it may or may not have taken effect, now or later).
 * An invoke with no completion is indeterminate too. `time` is one monotonic clock (milliseconds) shared
 * by every process of the run, so times of different processes compare.
 */

/** The four event kinds (Jepsen's names). */
export type EventType = "invoke" | "ok" | "fail" | "info";

/** One history line. */
export interface Event {
  type: EventType;
  /** Client session id; a session has at most one operation in flight. */
  process: number;
  /** The node the session talks to. */
  node: string;
  /** Monotonic milliseconds (fractions allowed). */
  time: number;
  /** Operation name: "incr", "incrby", "read", "sadd", "smembers", "final-read", ... */
  f: string;
  key?: string;
  /** Argument on an invoke, reply on an ok, error text on a fail or info. */
  value?: unknown;
}

/** An invoke paired with its completion. */
export interface Op {
  process: number;
  node: string;
  f: string;
  key?: string;
  /** The invoke's value (the argument). */
  value?: unknown;
  /** "info" also stands for an invoke that was never completed. */
  status: "ok" | "fail" | "info";
  /** The completion's value: the reply on ok, the error otherwise. */
  result?: unknown;
  /** Invoke time. */
  start: number;
  /** Completion time; Infinity when the invoke was never completed. */
  end: number;
}

/** What every checker returns. `stats` are counts for the report, never part of the verdict. */
export interface CheckResult {
  valid: boolean;
  errors: string[];
  stats: Record<string, number>;
}

/** Errors past this many are summarised, so a badly broken run still prints a readable report. */
export const MAX_ERRORS = 20;

/** Builds a CheckResult: valid iff no errors; the error list is capped at MAX_ERRORS plus a summary line. */
export function checkResult(errors: string[], stats: Record<string, number>): CheckResult {
  const shown = errors.length > MAX_ERRORS
    ? [...errors.slice(0, MAX_ERRORS), `... and ${errors.length - MAX_ERRORS} more`]
    : errors;
  return { valid: errors.length === 0, errors: shown, stats };
}

const TYPES: ReadonlySet<string> = new Set(["invoke", "ok", "fail", "info"]);

/** Parses JSONL (blank lines skipped), validating every field; throws naming the 1-based line. */
export function parseHistory(text: string): Event[] {
  const events: Event[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    const bad = (why: string) => new Error(`line ${i + 1}: ${why}`);
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (e) {
      throw bad(`not JSON (${(e as Error).message})`);
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw bad("not a JSON object");
    const o = raw as Record<string, unknown>;
    if (typeof o.type !== "string" || !TYPES.has(o.type)) {
      throw bad(`type must be invoke, ok, fail or info, got ${JSON.stringify(o.type)}`);
    }
    if (!Number.isSafeInteger(o.process)) throw bad("process must be an integer");
    if (typeof o.node !== "string" || o.node === "") throw bad("node must be a non-empty string");
    if (typeof o.time !== "number" || !Number.isFinite(o.time)) throw bad("time must be a finite number");
    if (typeof o.f !== "string" || o.f === "") throw bad("f must be a non-empty string");
    if (o.key !== undefined && typeof o.key !== "string") throw bad("key must be a string");
    const ev: Event = {
      type: o.type as EventType,
      process: o.process as number,
      node: o.node,
      time: o.time,
      f: o.f,
    };
    if (o.key !== undefined) ev.key = o.key;
    if (o.value !== undefined) ev.value = o.value;
    events.push(ev);
  }
  return events;
}

/** Serialises events as JSONL (one line each, fixed field order, trailing newline). */
export function toJsonl(events: readonly Event[]): string {
  return events.map((e) =>
    JSON.stringify({
      type: e.type,
      process: e.process,
      node: e.node,
      time: e.time,
      f: e.f,
      key: e.key,
      value: e.value,
    }) + "\n"
  ).join("");
}

/**
 * Pairs every invoke with the next completion of the same process, in history order. Throws when a
 * process invokes while it has an operation in flight, completes with nothing in flight, completes a
 * different f than it invoked, or completes before it invoked. Ops come back in invoke order.
 */
export function pairOps(events: readonly Event[]): Op[] {
  const ops: Op[] = [];
  const open = new Map<number, Op>();
  events.forEach((e, i) => {
    const where = `event ${i + 1} (process ${e.process}, ${e.type} ${e.f})`;
    if (e.type === "invoke") {
      if (open.has(e.process)) throw new Error(`${where}: invoked with an operation still in flight`);
      const op: Op = {
        process: e.process,
        node: e.node,
        f: e.f,
        status: "info",
        start: e.time,
        end: Infinity,
      };
      if (e.key !== undefined) op.key = e.key;
      if (e.value !== undefined) op.value = e.value;
      open.set(e.process, op);
      ops.push(op);
      return;
    }
    const op = open.get(e.process);
    if (op === undefined) throw new Error(`${where}: completion without an invoke`);
    if (op.f !== e.f) throw new Error(`${where}: completes ${op.f}, which the process invoked`);
    if (e.time < op.start) throw new Error(`${where}: completes before its invoke at ${op.start}`);
    op.status = e.type;
    op.end = e.time;
    if (e.value !== undefined) op.result = e.value;
    open.delete(e.process);
  });
  return ops;
}

/**
 * The ops a checker looks at: those whose f is in `fs` and, given a key, on that key. Without one the
 * history must be about a single key (every selected op carries the same key or none), else it throws:
 * mixing keys would add up unrelated counters or sets.
 */
export function selectOps(ops: readonly Op[], fs: ReadonlySet<string>, key?: string): Op[] {
  const chosen = ops.filter((o) => fs.has(o.f) && (key === undefined || o.key === key));
  if (key === undefined) {
    const keys = [...new Set(chosen.flatMap((o) => o.key === undefined ? [] : [o.key]))];
    if (keys.length > 1) throw new Error(`history has several keys (${keys.join(", ")}); pass the key`);
  }
  return chosen;
}

/** A completion handle for one recorded invoke; completing twice throws. */
export interface PendingOp {
  ok(value?: unknown): void;
  fail(error: unknown): void;
  info(error: unknown): void;
}

/** Records a history as clients run. Completions reuse the invoke's process, node, f and key. */
export class HistoryRecorder {
  readonly #clock: () => number;
  readonly #events: Event[] = [];
  readonly #busy = new Set<number>();

  /** `clock` must be monotonic and shared by every process (default `performance.now`). */
  constructor(clock: () => number = () => performance.now()) {
    this.#clock = clock;
  }

  /** Records an invoke; throws if `process` already has an operation in flight. */
  invoke(process: number, node: string, f: string, key?: string, value?: unknown): PendingOp {
    if (this.#busy.has(process)) throw new Error(`process ${process} already has an operation in flight`);
    this.#busy.add(process);
    this.#push({ type: "invoke", process, node, f, key, value });
    let done = false;
    const complete = (type: EventType, v: unknown) => {
      if (done) throw new Error(`process ${process}: ${f} completed twice`);
      done = true;
      this.#busy.delete(process);
      this.#push({ type, process, node, f, key, value: v });
    };
    return {
      ok: (v?: unknown) => complete("ok", v),
      fail: (err: unknown) => complete("fail", errorText(err)),
      info: (err: unknown) => complete("info", errorText(err)),
    };
  }

  /** A copy of the events so far, in recording order. */
  events(): Event[] {
    return this.#events.map((e) => ({ ...e }));
  }

  #push(e: Omit<Event, "time">): void {
    const ev: Event = { type: e.type, process: e.process, node: e.node, time: this.#clock(), f: e.f };
    if (e.key !== undefined) ev.key = e.key;
    if (e.value !== undefined) ev.value = e.value;
    this.#events.push(ev);
  }
}

/** Errors go into the history as text: an Error object would serialise as `{}`. */
function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
