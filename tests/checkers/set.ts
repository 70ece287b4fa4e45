/**
 * Set checker: a set only grows by SADDs in the history (no removals in this workload).
 */
import { type CheckResult, checkResult, type Event, type Op, pairOps, selectOps } from "./history.ts";

/** Options for checkSet. */
export interface SetOptions {
  /** The set's key; required when the history touches several keys. */
  key?: string;
}

const FS: ReadonlySet<string> = new Set(["sadd", "smembers", "final-read"]);

/**
 * Checks one set's history.
 *
 * Adds are `sadd` ops whose invoke value is the element (or an array of elements for a multi-member
 * SADD; each element is judged on its own). Reads are `smembers` and `final-read` ok ops whose value is
 * the array of members on the op's node.
 *
 * Rules (valid iff none is broken):
 * - there is at least one final read, and every final read holds the same members;
 * - every element of an ok add is in every final read (lost otherwise);
 * - every element in any read was in an add that did not fail, invoked by the time the read returned
 *   (ok, info or never completed). An element only ever added by failed SADDs must not appear;
 * - no read lists an element twice.
 *
 * stats: acknowledged, indeterminate, failed (add ops), finalSize (members in any final read), lost,
 * unexpected, divergent (distinct elements).
 */
export function checkSet(events: readonly Event[], options: SetOptions = {}): CheckResult {
  const ops = selectOps(pairOps(events), FS, options.key);
  const adds = ops.filter((o) => o.f === "sadd");
  const finals = ops.filter((o) => o.f === "final-read" && o.status === "ok");
  const reads = ops.filter((o) => o.f === "smembers" && o.status === "ok");
  const errors: string[] = [];
  if (finals.length === 0) errors.push("no final reads");

  const acked = new Set(adds.filter((o) => o.status === "ok").flatMap(elements));
  const failed = new Set(adds.filter((o) => o.status === "fail").flatMap(elements));
  // Earliest invoke of a non-failed add per element: the soonest any read may show it.
  const firstAdd = new Map<string, number>();
  for (const o of adds) {
    if (o.status === "fail") continue;
    for (const e of elements(o)) firstAdd.set(e, Math.min(o.start, firstAdd.get(e) ?? Infinity));
  }

  // Phantom check for every read: an element must come from a non-failed add invoked before it returned.
  const unexpected = new Set<string>();
  const finalSets = new Map<Op, Set<string>>();
  for (const r of [...reads, ...finals]) {
    const members = readMembers(r, errors);
    if (r.f === "final-read") finalSets.set(r, members);
    for (const e of members) {
      const first = firstAdd.get(e);
      if (first !== undefined && first <= r.end) continue;
      unexpected.add(e);
      const why = first !== undefined
        ? "added only after the read returned"
        : failed.has(e)
        ? "only added by SADDs that failed"
        : "never added";
      errors.push(`${where(r)} holds ${JSON.stringify(e)}, ${why}`);
    }
  }

  const union = new Set([...finalSets.values()].flatMap((s) => [...s]));
  let lost = 0, divergent = 0;
  for (const e of [...new Set([...acked, ...union])].sort()) {
    const missing = finals.filter((r) => !finalSets.get(r)!.has(e)).map((r) => r.node);
    if (missing.length === 0) continue;
    if (acked.has(e)) {
      lost++;
      errors.push(`acknowledged ${JSON.stringify(e)} missing from the final read on ${missing.join(", ")}`);
    } else {
      // Present on some nodes only: an indeterminate add may go either way, but the same way everywhere.
      divergent++;
      const present = finals.filter((r) => finalSets.get(r)!.has(e)).map((r) => r.node);
      errors.push(
        `final reads diverge on ${JSON.stringify(e)}: present on ${present.join(", ")}, missing on ${
          missing.join(", ")
        }`,
      );
    }
  }

  const count = (status: Op["status"]) => adds.filter((o) => o.status === status).length;
  return checkResult(errors, {
    acknowledged: count("ok"),
    indeterminate: count("info"),
    failed: count("fail"),
    finalSize: union.size,
    lost,
    unexpected: unexpected.size,
    divergent,
  });
}

/** The elements an add names; throws on a malformed argument (a broken history, not a store bug). */
function elements(o: Op): string[] {
  const v = o.value;
  if (typeof v === "string") return [v];
  if (Array.isArray(v) && v.every((e) => typeof e === "string")) return v;
  throw new Error(`sadd by process ${o.process}: value must be a string or an array of strings`);
}

/** A read's members; a malformed reply or a duplicate member is the store's fault, so it is an error. */
function readMembers(r: Op, errors: string[]): Set<string> {
  const v = r.result;
  if (!Array.isArray(v) || !v.every((e) => typeof e === "string")) {
    errors.push(`${where(r)} returned ${JSON.stringify(v)}, not an array of strings`);
    return new Set();
  }
  const members = new Set(v);
  if (members.size !== v.length) errors.push(`${where(r)} lists a member twice`);
  return members;
}

function where(r: Op): string {
  return `${r.f} on ${r.node} (process ${r.process})`;
}
