/**
 * Convergence after heal: once partitions heal and writes stop, every node must hold the same key set
 * and the same value for every key. Values are canonical strings the harness renders per key (type and
 * contents), so any two equal states compare equal as strings.
 */
import { type CheckResult, checkResult, type Event, pairOps } from "./history.ts";

/** Final reads: node -> key -> canonical value. `null` is a value like any other (e.g. "read as nil"). */
export type NodeReads = Map<string, Map<string, string | null>>;

/**
 * Valid iff there is at least one node, every node has the same key set, and every key has the same
 * value on every node. Errors name the key and group the nodes by what they hold.
 * stats: nodes, keys (union), missingKeys (absent on some node), divergentKeys (present everywhere,
 * values differ).
 */
export function checkConvergence(reads: NodeReads): CheckResult {
  const errors: string[] = [];
  const nodes = [...reads.keys()].sort();
  if (nodes.length === 0) errors.push("no final reads");
  const keys = [...new Set([...reads.values()].flatMap((m) => [...m.keys()]))].sort();
  let missingKeys = 0, divergentKeys = 0;
  for (const key of keys) {
    const absent = nodes.filter((n) => !reads.get(n)!.has(key));
    if (absent.length > 0) {
      missingKeys++;
      const present = nodes.filter((n) => !absent.includes(n));
      errors.push(
        `key ${JSON.stringify(key)} missing on ${absent.join(", ")} (present on ${present.join(", ")})`,
      );
      continue;
    }
    // Group nodes by value so a three-way split reads as three groups, not as pairwise noise.
    const byValue = new Map<string | null, string[]>();
    for (const n of nodes) {
      const v = reads.get(n)!.get(key)!;
      byValue.set(v, [...(byValue.get(v) ?? []), n]);
    }
    if (byValue.size > 1) {
      divergentKeys++;
      const groups = [...byValue].map(([v, ns]) => `${JSON.stringify(v)} on ${ns.join(", ")}`);
      errors.push(`key ${JSON.stringify(key)} diverges: ${groups.join("; ")}`);
    }
  }
  return checkResult(errors, { nodes: nodes.length, keys: keys.length, missingKeys, divergentKeys });
}

/**
 * Builds NodeReads from a history's keyless `final-read` ok ops, whose value is a whole-keyspace dump
 * `{ [key]: canonicalValue | null }` of the op's node. (Counter and set final reads carry a key and are
 * not dumps, so they are skipped.) Throws on a malformed dump or on two dumps from one node: which of
 * them is "the" final state would be a guess.
 */
export function convergenceFromHistory(events: readonly Event[]): NodeReads {
  const reads: NodeReads = new Map();
  for (const op of pairOps(events)) {
    if (op.f !== "final-read" || op.status !== "ok" || op.key !== undefined) continue;
    const dump = op.result;
    if (typeof dump !== "object" || dump === null || Array.isArray(dump)) {
      throw new Error(
        `final-read on ${op.node} (process ${op.process}): value must be an object of key -> value`,
      );
    }
    if (reads.has(op.node)) throw new Error(`two final-reads from node ${op.node}`);
    const m = new Map<string, string | null>();
    for (const [k, v] of Object.entries(dump)) {
      if (typeof v !== "string" && v !== null) {
        throw new Error(`final-read on ${op.node}: key ${JSON.stringify(k)} has a non-string value`);
      }
      m.set(k, v);
    }
    reads.set(op.node, m);
  }
  return reads;
}
