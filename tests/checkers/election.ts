/**
 * Election checker: each round is one key that candidates race to claim with SET NX. At most one
 * candidate may win a round, and after heal every node must name that winner.
 */
import { type CheckResult, checkResult, type Event, type Op, pairOps } from "./history.ts";

/** A candidate id as the workload wrote it. */
type Candidate = string | number;

const FS: ReadonlySet<string> = new Set(["elect", "final-read"]);

/**
 * Checks an election history.
 *
 * Elections are `elect` ops whose key is the round and whose invoke value is the candidate id (a string
 * or a number); the ok value is true when SET NX returned OK (won) and false when it returned nil
 * (lost: the key was already set). Final reads are `final-read` ok ops on the round's key whose value
 * is the stored winner, or null; one per node after heal (keyless final reads, whole-keyspace dumps,
 * are not this checker's and are skipped).
 *
 * Rules, per round (valid iff none is broken):
 * - at most one elect is won;
 * - all final reads agree, and no elect is invoked after the round's first final read is (the final
 *   state must be the workload's end);
 * - a won round's final reads name the winner;
 * - a final value is a candidate whose elect in the round did not fail and did not lose: it was won, or
 *   it is indeterminate (info, or never completed) and may have set the key;
 * - a lost elect means the key was already set, by an elect that may have won (won or indeterminate) and
 *   was invoked before the lost one returned; so such an elect must exist, and the final reads of the
 *   round cannot be null (nothing deletes a round's key);
 * and the history has at least one final read.
 *
 * stats: rounds, winners (rounds with a won elect), roundsWithoutWinner, indeterminate (elects),
 * finalReads.
 */
export function checkElection(events: readonly Event[]): CheckResult {
  const ops = pairOps(events).filter((o) => FS.has(o.f));
  const errors: string[] = [];
  const rounds = new Map<string, { elects: Op[]; finals: Op[] }>();
  for (const o of ops) {
    // A keyless final read is a whole-keyspace dump for the convergence checker, not a round's read.
    if (o.key === undefined && o.f === "final-read") continue;
    if (o.key === undefined) throw new Error(`${where(o)}: no key (the round)`);
    if (o.f === "elect") candidate(o);
    const r = rounds.get(o.key) ?? rounds.set(o.key, { elects: [], finals: [] }).get(o.key)!;
    if (o.f === "elect") r.elects.push(o);
    else if (o.status === "ok") r.finals.push(o);
  }
  const finalReads = [...rounds.values()].reduce((n, r) => n + r.finals.length, 0);
  if (finalReads === 0) errors.push("no final reads");

  let winners = 0, indeterminate = 0;
  for (const [round, { elects, finals }] of rounds) {
    const at = `round ${round}:`;
    indeterminate += elects.filter((o) => o.status === "info").length;
    for (const o of elects) {
      if (o.status === "ok" && typeof o.result !== "boolean") {
        errors.push(`${at} ${where(o)} returned ${JSON.stringify(o.result)}, not true or false`);
      }
    }
    const won = elects.filter((o) => o.status === "ok" && o.result === true);
    const lost = elects.filter((o) => o.status === "ok" && o.result === false);
    // Could have set the key: won, or indeterminate.
    const setters = elects.filter((o) => o.status === "info" || (o.status === "ok" && o.result === true));
    if (won.length > 0) winners++;
    if (won.length > 1) errors.push(`${at} ${won.length} elects won: ${won.map(where).join(", ")}`);

    for (const o of lost) {
      if (setters.some((s) => s.start <= o.end)) continue;
      errors.push(`${at} ${where(o)} lost, but no elect that could have won was invoked before it returned`);
    }

    const finalStart = Math.min(...finals.map((r) => r.start));
    for (const o of elects) {
      if (o.start > finalStart) {
        errors.push(`${at} ${where(o)} invoked after final reads began at ${finalStart}`);
      }
    }

    // Nodes that read the same value are judged together, so an error names every node it applies to.
    const byValue = new Map<string, { value: Candidate | null; nodes: string[] }>();
    for (const r of finals) {
      const v = r.result;
      if (v !== null && typeof v !== "string" && typeof v !== "number") {
        errors.push(
          `${at} final-read on ${r.node} (process ${r.process}) returned ${
            JSON.stringify(v)
          }, not a candidate or null`,
        );
        continue;
      }
      const g = byValue.get(JSON.stringify(v));
      if (g === undefined) byValue.set(JSON.stringify(v), { value: v, nodes: [r.node] });
      else g.nodes.push(r.node);
    }
    if (byValue.size > 1) {
      errors.push(
        `${at} final reads diverge: ${
          [...byValue].map(([v, g]) => `${v} on ${g.nodes.join(", ")}`).join("; ")
        }`,
      );
    }

    for (const [text, { value, nodes }] of byValue) {
      const on = `final read on ${nodes.join(", ")} holds ${text}`;
      if (value === null) {
        if (won.length > 0) errors.push(`${at} ${on}, but ${where(won[0])} won: the winner was lost`);
        else if (lost.length > 0) errors.push(`${at} ${on}, but ${where(lost[0])} lost, so the key was set`);
        continue;
      }
      if (won.length === 1 && won[0].value !== value) errors.push(`${at} ${on}, but ${where(won[0])} won`);
      if (setters.some((o) => o.value === value)) continue;
      const tried = elects.filter((o) => o.value === value);
      errors.push(
        `${at} ${on}, ${
          tried.length === 0 ? "not a candidate in this round" : "whose elects all failed or lost"
        }`,
      );
    }
  }

  return checkResult(errors, {
    rounds: rounds.size,
    winners,
    roundsWithoutWinner: rounds.size - winners,
    indeterminate,
    finalReads,
  });
}

/** An elect's candidate id; throws on a malformed one (a broken history, not a store bug). */
function candidate(o: Op): Candidate {
  if (typeof o.value === "string" || typeof o.value === "number") return o.value;
  throw new Error(`${where(o)}: value must be the candidate id, a string or a number`);
}

function where(o: Op): string {
  return o.f === "elect"
    ? `elect ${JSON.stringify(o.value)} by process ${o.process}`
    : `${o.f} on ${o.node} (process ${o.process})`;
}
