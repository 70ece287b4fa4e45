/**
 * Counter checker: a counter starts at 0 (absent) and only changes by the increments in the history.
 */
import { type CheckResult, checkResult, type Event, type Op, pairOps, selectOps } from "./history.ts";

/** Options for checkCounter. */
export interface CounterOptions {
  /** The counter's key; required when the history touches several keys. */
  key?: string;
  /**
   * Also require each intermediate read to include every increment acknowledged before the read was
   * invoked. Only sound for linearizable reads; a leaderless store may serve a stale read (a partitioned
   * node cannot see increments acknowledged on the other side), so this is off by default.
   */
  linearizable?: boolean;
}

const DELTA_FS: ReadonlySet<string> = new Set(["incr", "decr", "incrby", "decrby"]);
const FS: ReadonlySet<string> = new Set([...DELTA_FS, "read", "final-read"]);

/**
 * Checks one counter's history.
 *
 * Increments: `incr` (+1), `decr` (-1), `incrby` (+value), `decrby` (-value), value an integer on the
 * invoke. An ok increment took effect, a fail did not, an info or uncompleted one may have (at any time
 * after its invoke). Reads: `read` and `final-read` ok ops whose value is the integer read on the op's
 * node (a number, a decimal string as GET returns it, or null for an absent key, meaning 0).
 *
 * Rules (valid iff none is broken):
 * - there is at least one final read, and every final read returns the same value (convergence);
 * - every final read v has lower <= v <= upper, where lower = sum(ok deltas) + sum(negative
 *   indeterminate deltas) and upper = sum(ok deltas) + sum(positive indeterminate deltas): nothing
 *   acknowledged is lost, nothing failed or never invoked is counted;
 * - no increment is invoked after the first final read is (the bounds above assume final reads run after
 *   the workload stopped);
 * - every intermediate read sees a subset of the non-failed increments invoked before it completed:
 *   between the sum of their negative deltas and the sum of their positive ones. With `linearizable`,
 *   increments acknowledged before the read was invoked are in that subset for certain.
 *
 * stats: acknowledged, failed, indeterminate, lower, upper, finalReads, reads.
 */
export function checkCounter(events: readonly Event[], options: CounterOptions = {}): CheckResult {
  const ops = selectOps(pairOps(events), FS, options.key);
  const deltas = ops.filter((o) => DELTA_FS.has(o.f));
  const finals = ops.filter((o) => o.f === "final-read" && o.status === "ok");
  const reads = ops.filter((o) => o.f === "read" && o.status === "ok");
  const errors: string[] = [];

  const acked = deltas.filter((o) => o.status === "ok");
  const indeterminate = deltas.filter((o) => o.status === "info");
  const okSum = sum(acked.map(delta));
  const lower = okSum + sum(indeterminate.map(delta).filter((d) => d < 0));
  const upper = okSum + sum(indeterminate.map(delta).filter((d) => d > 0));

  if (finals.length === 0) errors.push("no final reads");
  const finalStart = Math.min(...finals.map((o) => o.start));
  for (const o of deltas) {
    if (o.start > finalStart) {
      errors.push(`${describe(o)} invoked at ${o.start}, after final reads began at ${finalStart}`);
    }
  }

  const byValue = new Map<string, string[]>();
  for (const o of finals) {
    const v = readValue(o);
    if (typeof v === "string") {
      errors.push(v);
      continue;
    }
    byValue.set(String(v), [...(byValue.get(String(v)) ?? []), o.node]);
    if (v < lower) {
      errors.push(
        `final read on ${o.node} = ${v} is below the lower bound ${lower}: acknowledged increments lost`,
      );
    } else if (v > upper) {
      errors.push(
        `final read on ${o.node} = ${v} exceeds the upper bound ${upper}: counts increments that failed or never ran`,
      );
    }
  }
  if (byValue.size > 1) {
    errors.push(
      `final reads diverge: ${[...byValue].map(([v, ns]) => `${v} on ${ns.join(", ")}`).join("; ")}`,
    );
  }

  for (const r of reads) {
    const v = readValue(r);
    if (typeof v === "string") {
      errors.push(v);
      continue;
    }
    // Certainly applied: acknowledged before the read began (linearizable only). Possibly applied: any
    // other non-failed increment invoked by the time the read returned (ties count as possible).
    let lo = 0, hi = 0;
    for (const o of deltas) {
      if (o.status === "fail" || o.start > r.end) continue;
      const d = delta(o);
      if (options.linearizable && o.status === "ok" && o.end < r.start) {
        lo += d;
        hi += d;
      } else if (d < 0) lo += d;
      else hi += d;
    }
    if (v < lo || v > hi) {
      errors.push(
        `read on ${r.node} (process ${r.process}, ${r.start}..${r.end}) = ${v} outside [${lo}, ${hi}]`,
      );
    }
  }

  return checkResult(errors, {
    acknowledged: acked.length,
    failed: deltas.length - acked.length - indeterminate.length,
    indeterminate: indeterminate.length,
    lower,
    upper,
    finalReads: finals.length,
    reads: reads.length,
  });
}

/** The signed amount of an increment op; throws on a malformed argument (a broken history, not a bug). */
function delta(o: Op): number {
  if (o.f === "incr") return 1;
  if (o.f === "decr") return -1;
  if (!Number.isSafeInteger(o.value)) throw new Error(`${describe(o)}: value must be an integer`);
  return o.f === "incrby" ? o.value as number : -(o.value as number);
}

/** The integer a read returned, or an error message when it is not one (that is the store's fault). */
function readValue(o: Op): number | string {
  const v = o.result;
  if (v === null) return 0;
  if (Number.isSafeInteger(v)) return v as number;
  if (typeof v === "string" && /^-?\d+$/.test(v) && Number.isSafeInteger(Number(v))) return Number(v);
  return `${o.f} on ${o.node} (process ${o.process}) returned ${
    v === undefined ? "no value" : "a non-integer " + JSON.stringify(v)
  }`;
}

function describe(o: Op): string {
  return `${o.f}${o.value === undefined ? "" : " " + JSON.stringify(o.value)} by process ${o.process}`;
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
