/**
 * Lost-writes checker: registers written with unique values. After heal each key must hold a value an
 * acknowledged (or possibly applied) write produced and that no later acknowledged write replaced.
 */
import { type CheckResult, checkResult, type Event, type Op, pairOps } from "./history.ts";

const FS: ReadonlySet<string> = new Set(["write", "delete", "final-read"]);

/**
 * Checks a register history, key by key.
 *
 * Writes are `write` ops on a key whose invoke value is the value written (a string, unique per key:
 * the workload never writes a value twice); deletes are `delete` ops on a key. ok took effect, fail did
 * not, info or uncompleted may have, at any time after the invoke. Final reads are `final-read` ok ops
 * on a key whose value is the string read or null (absent), one per node after heal. Keyless final
 * reads (whole-keyspace dumps for the convergence checker) are skipped.
 *
 * Two acknowledged operations that do not overlap in real time (A ok before B was invoked) are taken
 * to be ordered A then B by the store: that is what a linearizable register does, and what a
 * last-writer-wins register does when its clock respects real time. Concurrent operations may resolve
 * either way.
 *
 * Rules (valid iff none is broken):
 * - the workload writes no value to a key twice ("workload error");
 * - the history has a final read, every key with an acknowledged write has one, all final reads of a
 *   key agree, and no write or delete of a key is invoked after the key's first final read is;
 * - a final value was written to that key by a write that did not fail;
 * - the final value is not definitely overwritten: if its write A is acknowledged, no write or delete B
 *   of the key is acknowledged and invoked after A was acknowledged (B's effect comes later and
 *   replaces A's; values are unique, so A's value cannot come back). An indeterminate A is never
 *   definitely overwritten: it may have landed after everything else;
 * - a final null is allowed only if the key has no acknowledged write or some delete of it did not fail
 *   (a register only empties by a delete).
 *
 * stats: keys, acknowledged, failed, indeterminate (writes), lost (keys that lost an acknowledged
 * value to null or to no final read), stale (keys whose final value was definitely overwritten),
 * unexpected (keys holding a value no possibly-applied write wrote), divergent (keys whose final reads
 * disagree).
 */
export function checkLostWrites(events: readonly Event[]): CheckResult {
  const errors: string[] = [];
  const keys = new Map<string, { writes: Op[]; deletes: Op[]; finals: Op[] }>();
  for (const o of pairOps(events)) {
    if (!FS.has(o.f) || (o.f === "final-read" && o.key === undefined)) continue;
    if (o.key === undefined) throw new Error(`${where(o)}: no key`);
    if (o.f === "write" && typeof o.value !== "string") {
      throw new Error(`${where(o)}: value must be a string`);
    }
    const k = keys.get(o.key) ?? keys.set(o.key, { writes: [], deletes: [], finals: [] }).get(o.key)!;
    if (o.f === "write") k.writes.push(o);
    else if (o.f === "delete") k.deletes.push(o);
    else if (o.status === "ok") k.finals.push(o);
  }
  if ([...keys.values()].every((k) => k.finals.length === 0)) errors.push("no final reads");

  let lost = 0, stale = 0, unexpected = 0, divergent = 0;
  for (const [key, { writes, deletes, finals }] of keys) {
    const at = `key ${JSON.stringify(key)}:`;
    const acked = writes.filter((o) => o.status === "ok");

    const writeOf = new Map<string, Op>();
    for (const o of writes) {
      const first = writeOf.get(o.value as string);
      if (first === undefined) writeOf.set(o.value as string, o);
      else {errors.push(
          `${at} workload error: ${JSON.stringify(o.value)} written twice (${where(first)}, ${where(o)})`,
        );}
    }

    const finalStart = Math.min(...finals.map((r) => r.start));
    for (const o of [...writes, ...deletes]) {
      if (o.start > finalStart) {
        errors.push(`${at} ${where(o)} invoked after final reads began at ${finalStart}`);
      }
    }
    if (finals.length === 0) {
      if (acked.length > 0) {
        lost++;
        errors.push(`${at} ${acked.length} acknowledged write(s) but no final read`);
      }
      continue;
    }

    // Nodes that read the same value are judged together, so an error names every node it applies to.
    const byValue = new Map<string | null, string[]>();
    for (const r of finals) {
      if (r.result !== null && typeof r.result !== "string") {
        errors.push(`${at} ${where(r)} returned ${JSON.stringify(r.result)}, not a string or null`);
        continue;
      }
      byValue.set(r.result, [...(byValue.get(r.result) ?? []), r.node]);
    }
    if (byValue.size > 1) {
      divergent++;
      errors.push(
        `${at} final reads diverge: ${
          [...byValue].map(([v, ns]) => `${JSON.stringify(v)} on ${ns.join(", ")}`).join("; ")
        }`,
      );
    }

    // The acknowledged write or delete invoked last: it follows every op acknowledged before its invoke.
    const last = [...acked, ...deletes.filter((o) => o.status === "ok")].reduce<Op | undefined>(
      (a, b) => a === undefined || b.start > a.start ? b : a,
      undefined,
    );
    for (const [value, nodes] of byValue) {
      const on = `final read on ${nodes.join(", ")} holds ${JSON.stringify(value)}`;
      if (value === null) {
        if (acked.length === 0 || deletes.some((o) => o.status !== "fail")) continue;
        lost++;
        errors.push(
          `${at} ${on}, but ${acked.length} write(s) were acknowledged and nothing deleted the key`,
        );
        continue;
      }
      const w = writeOf.get(value);
      if (w === undefined || w.status === "fail") {
        unexpected++;
        errors.push(
          `${at} ${on}, ${w === undefined ? "never written" : `written only by ${where(w)}, which failed`}`,
        );
        continue;
      }
      if (w.status === "ok" && last !== undefined && last.start > w.end) {
        stale++;
        errors.push(
          `${at} ${on}, but ${where(w)} was acknowledged at ${w.end}, before acknowledged ${
            where(last)
          } was invoked at ${last.start}`,
        );
      }
    }
  }

  const all = [...keys.values()].flatMap((k) => k.writes);
  return checkResult(errors, {
    keys: keys.size,
    acknowledged: all.filter((o) => o.status === "ok").length,
    failed: all.filter((o) => o.status === "fail").length,
    indeterminate: all.filter((o) => o.status === "info").length,
    lost,
    stale,
    unexpected,
    divergent,
  });
}

function where(o: Op): string {
  return o.f === "write"
    ? `write ${JSON.stringify(o.value)} by process ${o.process}`
    : `${o.f} on ${o.node} (process ${o.process})`;
}
