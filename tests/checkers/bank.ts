/**
 * Bank checker: money moves between accounts (keys) by transfers and is never created or destroyed, so
 * every atomic read of all accounts sums to the bank's total and the final balances are what the
 * transfers that took effect produce.
 */
import { type CheckResult, checkResult, type Event, type Op, pairOps } from "./history.ts";

/** Options for checkBank. */
export interface BankOptions {
  /** The money in the bank: every read must sum to it. */
  total: number;
  /** The accounts. Default: the keys of `initial`, else every account a transfer or read names. */
  accounts?: readonly string[];
  /**
   * Opening balances (an account left out starts at 0); must sum to `total`. Default: `total` split
   * evenly over the accounts.
   */
  initial?: Readonly<Record<string, number>>;
}

/** Above this many indeterminate transfers the exact subset search (2^n steps) gives way to bounds. */
export const MAX_SUBSET_SEARCH = 20;

const FS: ReadonlySet<string> = new Set(["transfer", "read", "final-read"]);

/** A transfer's argument, accounts as indices. */
interface Move {
  from: number;
  to: number;
  amount: number;
}

/**
 * Checks a bank history.
 *
 * Transfers are `transfer` ops whose invoke value is `{from, to, amount}` (a positive integer): ok took
 * effect, fail did not, info or uncompleted may have. Reads are `read` and `final-read` (one per node,
 * after heal) ok ops whose value is `{account: balance}` read atomically (e.g. one MULTI/EXEC of GETs);
 * a balance is an integer, a decimal string as GET returns it, or null, and a missing account is 0.
 *
 * Rules (valid iff none is broken):
 * - every read and final read sums to `total`, holds no negative balance and names no unknown account;
 * - there is at least one final read, all final reads agree, and no transfer is invoked after the first
 *   final read is (the final state must be the workload's end);
 * - the final balances are reachable: final = initial + the ok transfers + some subset of the
 *   indeterminate ones. With at most MAX_SUBSET_SEARCH indeterminate transfers the subset is searched
 *   for exactly; above that only a necessary condition is checked, per account: the difference between
 *   final and initial + ok transfers lies between minus what indeterminate transfers could take out of
 *   it and plus what they could put in.
 *
 * stats: acknowledged, failed, indeterminate (transfers), reads, finalReads, badSums (reads not summing
 * to total), negative (reads with a negative balance), exactReachability (1 when the subset search
 * ran), boundedReachability (1 when only the bounds were checked).
 */
export function checkBank(events: readonly Event[], options: BankOptions): CheckResult {
  const ops = pairOps(events).filter((o) => FS.has(o.f));
  const transfers = ops.filter((o) => o.f === "transfer");
  const reads = ops.filter((o) => o.f === "read" && o.status === "ok");
  const finals = ops.filter((o) => o.f === "final-read" && o.status === "ok");
  const { total } = options;
  if (!Number.isSafeInteger(total)) throw new Error("total must be an integer");
  const accounts = [...(options.accounts ?? accountsOf(transfers, [...reads, ...finals], options.initial))];
  const index = new Map(accounts.map((a, i) => [a, i]));
  if (index.size !== accounts.length) throw new Error("accounts must be distinct");
  const initial = opening(accounts, total, options.initial);
  const errors: string[] = [];

  const moves = new Map<Op, Move>(transfers.map((o) => [o, move(o, index)]));
  if (finals.length === 0) errors.push("no final reads");
  const finalStart = Math.min(...finals.map((o) => o.start));
  for (const o of transfers) {
    if (o.start > finalStart) errors.push(`${where(o)} invoked after final reads began at ${finalStart}`);
  }

  let badSums = 0, negative = 0;
  const finalBalances = new Map<Op, number[]>();
  for (const r of [...reads, ...finals]) {
    const b = balances(r, index, errors);
    if (b === undefined) continue;
    if (r.f === "final-read") finalBalances.set(r, b);
    const sum = b.reduce((x, y) => x + y, 0);
    if (sum !== total) {
      badSums++;
      errors.push(`${where(r)} sums to ${sum}, not ${total}`);
    }
    const below = accounts.filter((_, i) => b[i] < 0);
    if (below.length > 0) {
      negative++;
      errors.push(
        `${where(r)} has negative balances: ${below.map((a) => `${q(a)} = ${b[index.get(a)!]}`).join(", ")}`,
      );
    }
  }

  // Identical final states are judged once, so an error names every node it applies to.
  const groups = new Map<string, { balances: number[]; nodes: string[] }>();
  for (const [r, b] of finalBalances) {
    const text = show(accounts, b);
    const g = groups.get(text);
    if (g === undefined) groups.set(text, { balances: b, nodes: [r.node] });
    else g.nodes.push(r.node);
  }
  if (groups.size > 1) {
    errors.push(
      `final reads diverge: ${[...groups].map(([text, g]) => `${text} on ${g.nodes.join(", ")}`).join("; ")}`,
    );
  }

  // The final state minus what certainly happened; indeterminate transfers must explain the rest.
  const base = [...initial];
  const unknown: Move[] = [];
  for (const o of transfers) {
    const m = moves.get(o)!;
    if (o.status === "ok") {
      base[m.from] -= m.amount;
      base[m.to] += m.amount;
    } else if (o.status === "info") unknown.push(m);
  }
  // Per account, the most indeterminate transfers could take out of it and put into it.
  const out = accounts.map(() => 0), into = accounts.map(() => 0);
  for (const m of unknown) {
    if (m.from === m.to) continue;
    out[m.from] += m.amount;
    into[m.to] += m.amount;
  }
  const exact = unknown.length <= MAX_SUBSET_SEARCH;
  for (const { balances: b, nodes } of groups.values()) {
    const on = nodes.join(", ");
    const diff = b.map((v, i) => v - base[i]);
    let bounded = true;
    accounts.forEach((a, i) => {
      if (-out[i] <= diff[i] && diff[i] <= into[i]) return;
      bounded = false;
      errors.push(
        `final balance of ${q(a)} on ${on} is ${b[i]}, initial + acknowledged transfers give ${base[i]}: ` +
          `the ${unknown.length} indeterminate transfer(s) can only move it within [${-out[i]}, +${into[i]}]`,
      );
    });
    if (bounded && exact && !explainable(diff, unknown)) {
      const delta = accounts.flatMap((a, i) =>
        diff[i] === 0 ? [] : [`${q(a)} ${diff[i] > 0 ? "+" : ""}${diff[i]}`]
      );
      errors.push(
        `final balances on ${on} are unreachable: no subset of the ${unknown.length} indeterminate ` +
          `transfer(s) explains their difference from initial + acknowledged transfers (${delta.join(", ")})`,
      );
    }
  }

  const ran = groups.size > 0;
  return checkResult(errors, {
    acknowledged: transfers.filter((o) => o.status === "ok").length,
    failed: transfers.filter((o) => o.status === "fail").length,
    indeterminate: unknown.length,
    reads: reads.length,
    finalReads: finals.length,
    badSums,
    negative,
    exactReachability: ran && exact ? 1 : 0,
    boundedReachability: ran && !exact ? 1 : 0,
  });
}

/**
 * Whether some subset of `moves` changes the balances by exactly `diff`. Walks all 2^n subsets in Gray
 * code order, so each step adds or removes one transfer and only two accounts need re-comparing.
 */
function explainable(diff: readonly number[], moves: readonly Move[]): boolean {
  const cur = diff.map(() => 0);
  let off = diff.filter((d) => d !== 0).length;
  const shift = (account: number, by: number) => {
    const was = cur[account] !== diff[account];
    cur[account] += by;
    off += (cur[account] !== diff[account] ? 1 : 0) - (was ? 1 : 0);
  };
  for (let step = 1; off !== 0 && step < 2 ** moves.length; step++) {
    const bit = 31 - Math.clz32(step & -step);
    const m = moves[bit];
    const sign = ((step ^ (step >> 1)) >> bit) & 1 ? 1 : -1;
    shift(m.from, -sign * m.amount);
    shift(m.to, sign * m.amount);
  }
  return off === 0;
}

/** Accounts when none are given: those of `initial`, else every account the history names, sorted. */
function accountsOf(
  transfers: readonly Op[],
  reads: readonly Op[],
  initial: BankOptions["initial"],
): string[] {
  if (initial !== undefined) return Object.keys(initial);
  const names = new Set<string>();
  for (const o of transfers) {
    const v = o.value as Partial<Record<string, unknown>> | undefined;
    for (const a of [v?.from, v?.to]) if (typeof a === "string") names.add(a);
  }
  for (const r of reads) {
    if (typeof r.result === "object" && r.result !== null) {
      for (const a of Object.keys(r.result)) names.add(a);
    }
  }
  return [...names].sort();
}

/** Opening balances as a vector; throws when they are not integers summing to `total`. */
function opening(accounts: readonly string[], total: number, initial: BankOptions["initial"]): number[] {
  if (accounts.length === 0) throw new Error("no accounts");
  if (initial === undefined) {
    if (total % accounts.length !== 0) {
      throw new Error(`total ${total} does not split evenly over ${accounts.length} accounts; pass initial`);
    }
    return accounts.map(() => total / accounts.length);
  }
  for (const [a, v] of Object.entries(initial)) {
    if (!accounts.includes(a)) throw new Error(`initial names ${q(a)}, which is not an account`);
    if (!Number.isSafeInteger(v)) throw new Error(`initial balance of ${q(a)} must be an integer`);
  }
  const b = accounts.map((a) => initial[a] ?? 0);
  const sum = b.reduce((x, y) => x + y, 0);
  if (sum !== total) throw new Error(`initial balances sum to ${sum}, not total ${total}`);
  return b;
}

/** A transfer's argument; throws on a malformed one (a broken history, not a store bug). */
function move(o: Op, index: ReadonlyMap<string, number>): Move {
  const v = o.value as Partial<Record<string, unknown>> | undefined;
  const from = typeof v?.from === "string" ? index.get(v.from) : undefined;
  const to = typeof v?.to === "string" ? index.get(v.to) : undefined;
  const amount = v?.amount;
  if (from === undefined || to === undefined || !Number.isSafeInteger(amount) || (amount as number) <= 0) {
    throw new Error(
      `${where(o)}: value must be {from, to, amount} with known accounts and a positive integer`,
    );
  }
  return { from, to, amount: amount as number };
}

/** A read's balances per account, or undefined (and an error) when the reply is malformed. */
function balances(r: Op, index: ReadonlyMap<string, number>, errors: string[]): number[] | undefined {
  const v = r.result;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    errors.push(`${where(r)} returned ${JSON.stringify(v)}, not an object of account -> balance`);
    return undefined;
  }
  const b = [...index.keys()].map(() => 0);
  let ok = true;
  for (const [a, raw] of Object.entries(v)) {
    const i = index.get(a);
    const n = raw === null
      ? 0
      : Number.isSafeInteger(raw)
      ? raw as number
      : typeof raw === "string" && /^-?\d+$/.test(raw) && Number.isSafeInteger(Number(raw))
      ? Number(raw)
      : undefined;
    if (i === undefined) errors.push(`${where(r)} holds ${q(a)}, which is not an account`);
    else if (n === undefined) {
      errors.push(`${where(r)} holds ${q(a)} = ${JSON.stringify(raw)}, not an integer`);
    } else {
      b[i] = n;
      continue;
    }
    ok = false;
  }
  return ok ? b : undefined;
}

function show(accounts: readonly string[], b: readonly number[]): string {
  return `{${accounts.map((a, i) => `${q(a)}: ${b[i]}`).join(", ")}}`;
}

function where(o: Op): string {
  return o.f === "transfer"
    ? `transfer ${JSON.stringify(o.value)} by process ${o.process}`
    : `${o.f} on ${o.node} (process ${o.process})`;
}

function q(a: string): string {
  return JSON.stringify(a);
}
