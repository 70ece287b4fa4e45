/**
 * Queue checker: an exactly-once work queue on one list. Pushes add unique elements, pops take them
 * off, and after heal every node's list holds exactly what was pushed and not taken.
 */
import { type CheckResult, checkResult, type Event, type Op, pairOps, selectOps } from "./history.ts";

/** Options for checkQueue. */
export interface QueueOptions {
  /** The list's key; required when the history touches several keys. */
  key?: string;
}

const FS: ReadonlySet<string> = new Set(["push", "pop", "final-read"]);

/** Missing elements listed in one error before the rest is summarised. */
const SHOWN = 10;

/**
 * Checks one queue's history.
 *
 * Pushes are `push` ops (RPUSH or LPUSH) whose invoke value is the element, or an array of elements;
 * the workload pushes every element at most once. Pops are `pop` ops whose ok value is the element
 * taken, null when the list was empty, or an array of elements for a multi-pop. Final reads are
 * `final-read` ok ops whose value is the whole list on the op's node after heal (one per node).
 *
 * Rules (valid iff none is broken):
 * - the workload pushes no element twice (a "workload error": the rules below need unique elements);
 * - there is at least one final read, all final reads list the same elements in the same order, and no
 *   push or pop is invoked after the first final read is (the final state must be the workload's end);
 * - every element an ok pop returns or a final read lists was pushed by a push that did not fail, invoked
 *   by the time that pop or read returned;
 * - no element is delivered twice: popped by two ok pops, popped by an ok pop and still in a final read
 *   ("popped and still present"), or listed twice in a final read;
 * - every element of an ok push, and of an indeterminate push that shows up in any pop or final read,
 *   that no ok pop took is in the final read, with an allowance: an indeterminate pop (info, or never
 *   completed) may have taken elements nobody saw, as many as it asked for (its invoke value when that
 *   is a positive integer count, else one). Only missing elements beyond the total allowance are lost.
 *
 * stats: acknowledgedPushes, okPops, emptyPops (ok pops that got nothing), indeterminatePops,
 * duplicates (elements delivered twice), unexpected (elements that should not exist), lost (missing
 * beyond the allowance), unaccounted (missing but within the allowance).
 */
export function checkQueue(events: readonly Event[], options: QueueOptions = {}): CheckResult {
  const ops = selectOps(pairOps(events), FS, options.key);
  const pushes = ops.filter((o) => o.f === "push");
  const pops = ops.filter((o) => o.f === "pop");
  const finals = ops.filter((o) => o.f === "final-read" && o.status === "ok");
  const errors: string[] = [];

  if (finals.length === 0) errors.push("no final reads");
  const finalStart = Math.min(...finals.map((o) => o.start));
  for (const o of [...pushes, ...pops]) {
    if (o.start > finalStart) errors.push(`${where(o)} invoked after final reads began at ${finalStart}`);
  }

  // Element -> its one push. A second push of the same element makes every later rule ambiguous.
  const pushOf = new Map<string, Op>();
  for (const o of pushes) {
    for (const e of pushed(o)) {
      const first = pushOf.get(e);
      if (first === undefined) pushOf.set(e, o);
      else errors.push(`workload error: ${q(e)} pushed twice (${where(first)} and ${where(o)})`);
    }
  }

  const unexpected = new Set<string>();
  /** Why a pop or read returning `e` at time `end` cannot be right, or undefined when it can be. */
  const phantom = (e: string, end: number): string | undefined => {
    const p = pushOf.get(e);
    if (p === undefined) return "never pushed";
    if (p.status === "fail") return `pushed by ${where(p)}, which failed`;
    if (p.start > end) return `pushed only after it returned (${where(p)})`;
    return undefined;
  };

  const poppedBy = new Map<string, Op[]>();
  let okPops = 0, emptyPops = 0, indeterminatePops = 0, allowance = 0;
  for (const o of pops) {
    if (o.status === "fail") continue;
    if (o.status === "info") {
      indeterminatePops++;
      allowance += asked(o);
      continue;
    }
    okPops++;
    const got = popped(o, errors);
    if (got.length === 0) emptyPops++;
    for (const e of got) {
      poppedBy.set(e, [...(poppedBy.get(e) ?? []), o]);
      const why = phantom(e, o.end);
      if (why !== undefined) {
        unexpected.add(e);
        errors.push(`${where(o)} returned ${q(e)}, ${why}`);
      }
    }
  }
  const duplicates = new Set<string>();
  for (const [e, by] of poppedBy) {
    if (by.length < 2) continue;
    duplicates.add(e);
    errors.push(`${q(e)} popped ${by.length} times (${by.map(where).join(", ")})`);
  }

  // Nodes whose final lists are identical are judged once, so an error names every node it applies to.
  const groups = new Map<string, { list: string[]; reads: Op[] }>();
  for (const r of finals) {
    const list = finalList(r, errors);
    if (list === undefined) continue;
    const text = JSON.stringify(list);
    const g = groups.get(text);
    if (g === undefined) groups.set(text, { list, reads: [r] });
    else g.reads.push(r);
  }
  if (groups.size > 1) {
    const shown = [...groups].map(([text, g]) => `${text} on ${nodes(g.reads)}`);
    errors.push(`final reads diverge: ${shown.join("; ")}`);
  }

  // What must still be queued: acknowledged, or indeterminate but seen (so it did take effect); not popped.
  const seen = new Set([...poppedBy.keys(), ...[...groups.values()].flatMap((g) => g.list)]);
  const expected = [...pushOf].filter(([e, p]) =>
    !poppedBy.has(e) && (p.status === "ok" || (p.status === "info" && seen.has(e)))
  ).map(([e]) => e);

  let lost = 0, unaccounted = 0;
  for (const { list, reads } of groups.values()) {
    const on = `final read on ${nodes(reads)}`;
    const end = Math.max(...reads.map((r) => r.end));
    const present = new Set<string>();
    for (const e of list) {
      if (present.has(e)) {
        duplicates.add(e);
        errors.push(`${on} lists ${q(e)} twice`);
        continue;
      }
      present.add(e);
      const why = phantom(e, end);
      if (why !== undefined) {
        unexpected.add(e);
        errors.push(`${on} holds ${q(e)}, ${why}`);
      }
      const by = poppedBy.get(e);
      if (by !== undefined) {
        duplicates.add(e);
        errors.push(
          `${q(e)} popped and still present: taken by ${by.map(where).join(", ")}, listed by ${on}`,
        );
      }
    }
    const missing = expected.filter((e) => !present.has(e));
    unaccounted = Math.max(unaccounted, Math.min(missing.length, allowance));
    if (missing.length <= allowance) continue;
    lost = Math.max(lost, missing.length - allowance);
    const names = missing.slice(0, SHOWN).map(q).join(", ") + (missing.length > SHOWN ? ", ..." : "");
    errors.push(
      `${on}: ${missing.length} pushed element(s) neither popped by an ok pop nor present (${names}); ` +
        `${indeterminatePops} indeterminate pop(s) may account for ${allowance}, so ${
          missing.length - allowance
        } lost`,
    );
  }

  return checkResult(errors, {
    acknowledgedPushes: pushes.filter((o) => o.status === "ok").length,
    okPops,
    emptyPops,
    indeterminatePops,
    duplicates: duplicates.size,
    unexpected: unexpected.size,
    lost,
    unaccounted,
  });
}

/** The elements a push names; throws on a malformed argument (a broken history, not a store bug). */
function pushed(o: Op): string[] {
  const v = o.value;
  if (typeof v === "string") return [v];
  if (Array.isArray(v) && v.every((e) => typeof e === "string")) return v;
  throw new Error(`${where(o)}: value must be a string or an array of strings`);
}

/** How many elements an indeterminate pop may have taken: its requested count, else one. */
function asked(o: Op): number {
  return Number.isSafeInteger(o.value) && (o.value as number) > 0 ? o.value as number : 1;
}

/** The elements an ok pop took; a malformed reply is the store's fault, so it is an error. */
function popped(o: Op, errors: string[]): string[] {
  const v = o.result;
  if (v === null) return [];
  if (typeof v === "string") return [v];
  if (Array.isArray(v) && v.every((e) => typeof e === "string")) return v;
  errors.push(`${where(o)} returned ${JSON.stringify(v)}, not an element, an array of elements or null`);
  return [];
}

/** A final read's list, or undefined (and an error) when the reply is not an array of strings. */
function finalList(r: Op, errors: string[]): string[] | undefined {
  const v = r.result;
  if (Array.isArray(v) && v.every((e) => typeof e === "string")) return v;
  errors.push(`${where(r)} returned ${JSON.stringify(v)}, not an array of strings`);
  return undefined;
}

function where(o: Op): string {
  return `${o.f} by process ${o.process} at ${o.start}`;
}

function nodes(reads: readonly Op[]): string {
  return reads.map((r) => r.node).join(", ");
}

function q(e: string): string {
  return JSON.stringify(e);
}
