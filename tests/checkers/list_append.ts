/**
 * List-append checker: transactions append unique values to lists and read whole lists. Because a list
 * only grows at its end, the longest read of a key reveals that key's version order, and every read
 * pins down which write it saw and which it missed. From that we build the dependency graph between
 * committed transactions and look for cycles: a history is serializable only if the graph is acyclic.
 * Real time is not used (serializability, not strict serializability).
 */
import { type CheckResult, checkResult, type Event, type Op, pairOps } from "./history.ts";

/** Dependency edge types, as bits so one edge can carry several. */
const WW = 1, WR = 2, RW = 4;
const ALL = WW | WR | RW;
/** Edge names, weakest first: a cycle is described with each edge's weakest type. */
const TYPES = [[WW, "ww"], [WR, "wr"], [RW, "rw"]] as const;

/** Edge visits the search for a single-rw cycle may spend across one strongly connected component. */
const G_SINGLE_BUDGET = 1_000_000;

/** Elements of a list shown in an error before the rest is summarised. */
const SHOWN = 10;

/** A key or an appended value. Maps keep 1 and "1" apart, as the store does not confuse them either. */
type Atom = string | number;

/** A micro-op. */
type Mop =
  | { f: "append"; key: Atom; value: Atom }
  /** `values` is undefined when the read's result is unknown (the txn did not commit, or a bad reply). */
  | { f: "r"; key: Atom; values: Atom[] | undefined };

interface Txn {
  /** 1-based position among the history's txns, in invoke order: errors call it T<n>. */
  n: number;
  op: Op;
  mops: Mop[];
}

/** A read a committed txn made: the whole list. */
interface Read {
  txn: Txn;
  key: Atom;
  values: Atom[];
}

/** What a committed txn saw of other txns' appends to a key: the first `length` versions. */
interface Seen {
  txn: Txn;
  key: Atom;
  length: number;
}

/** An edge to one successor: its types, and per type the key that gave it (for the report). */
interface Edge {
  mask: number;
  keys: Map<number, Atom>;
}

/**
 * Checks a list-append transaction history for serializability (Adya's G0, G1a, G1c, G2 anomalies).
 *
 * Every op is f `txn`. Its invoke value is an array of micro-ops `["append", key, value]` and
 * `["r", key, null]`; its ok value is the same array with each read's list filled in (`["r", key,
 * [v1, v2, ...]]`, null meaning empty). Keys and values are JSON strings or numbers; the workload
 * appends every value to a key at most once. An ok txn committed, a fail one did not; an info (or never
 * completed) one may have: it counts as committed once any of its appends is read.
 *
 * Reported (valid iff none occurs):
 * - workload error: a value appended to a key twice;
 * - internal: within a txn, a read of a key does not end with the txn's own appends to it so far, or
 *   disagrees with the txn's earlier read of it plus its appends since;
 * - G1a (aborted read): a read holds a value appended by a failed txn; garbage read: by no txn at all;
 * - duplicate elements: a read holds a value twice;
 * - incompatible read orders: two reads of a key where neither is a prefix of the other. Such a key
 *   has no version order, so it adds no edges (the other keys are still analysed);
 * - cycles in the dependency graph of committed txns, one per strongly connected component, each shown
 *   with its edges. With V the key's version order (its longest read) and W(v) the txn appending v:
 *   ww: W(V[i]) -> W(V[i+1]); wr: a txn that read V[0..i] (not counting its own appends) depends on
 *   W(V[i]); rw: that reader precedes W(V[i+1]), the write it missed. A cycle of only ww edges is G0,
 *   of ww and wr G1c, with one rw G-single, with more G2. For each component the weakest class is
 *   searched for first (G0, then G1c, then G-single within an effort budget, then G2), so the report
 *   names the most telling cycle.
 *
 * Cost is linear in the history's size plus the reads' lengths, apart from the bounded G-single search.
 *
 * stats: txns, committed, failed, indeterminate, observedIndeterminate (info txns whose appends were
 * read), keys, edges (txn pairs), cycles, and one count per anomaly: G0, G1c, G-single, G2, G1a,
 * garbage, internal, incompatibleOrder, duplicateElements.
 */
export function checkListAppend(events: readonly Event[]): CheckResult {
  const errors: string[] = [];
  const txns = pairOps(events).filter((o) => o.f === "txn").map((o, i) => parseTxn(o, i + 1, errors));
  const count = {
    G0: 0,
    G1c: 0,
    "G-single": 0,
    G2: 0,
    G1a: 0,
    garbage: 0,
    internal: 0,
    incompatibleOrder: 0,
    duplicateElements: 0,
  };

  // Who appended what.
  const writers = new Map<Atom, Map<Atom, Txn>>();
  for (const t of txns) {
    for (const m of t.mops) {
      if (m.f !== "append") continue;
      const w = writers.get(m.key) ?? writers.set(m.key, new Map()).get(m.key)!;
      const first = w.get(m.value);
      if (first === undefined) w.set(m.value, t);
      else {
        errors.push(
          `workload error: ${show(m.value)} appended to key ${
            showKey(m.key)
          } twice (T${first.n} and T${t.n})`,
        );
      }
    }
  }

  const { reads, seen } = readsOf(txns, errors, count);
  const orders = versionOrders(reads, errors, count);
  const observed = provenance(reads, orders, writers, errors, count);

  // The dependency graph over committed txns, indexed by n - 1.
  const committed = (t: Txn | undefined): t is Txn =>
    t !== undefined && (t.op.status === "ok" || observed.has(t));
  const graph: Map<number, Edge>[] = txns.map(() => new Map());
  let edges = 0;
  const link = (a: Txn | undefined, b: Txn | undefined, type: number, key: Atom) => {
    if (!committed(a) || !committed(b) || a === b) return;
    const out = graph[a.n - 1];
    let e = out.get(b.n - 1);
    if (e === undefined) {
      out.set(b.n - 1, e = { mask: 0, keys: new Map() });
      edges++;
    }
    if ((e.mask & type) === 0) e.keys.set(type, key);
    e.mask |= type;
  };
  const none = new Map<Atom, Txn>();
  for (const [key, order] of orders) {
    const w = writers.get(key) ?? none;
    for (let i = 0; i + 1 < order.length; i++) link(w.get(order[i]), w.get(order[i + 1]), WW, key);
  }
  for (const { txn, key, length } of seen) {
    const order = orders.get(key);
    if (order === undefined) continue;
    const w = writers.get(key) ?? none;
    if (length > 0) link(w.get(order[length - 1]), txn, WR, key);
    if (length < order.length) link(txn, w.get(order[length]), RW, key);
  }

  const nodes = txns.filter(committed).map((t) => t.n - 1);
  const components = stronglyConnected(nodes, (v) => [...graph[v].keys()]);
  for (const component of components) {
    // Start at the lowest txn, so a report reads the same however the search happened to enter it.
    const found = findCycle(component, graph);
    const first = found.indexOf(Math.min(...found));
    const cycle = [...found.slice(first), ...found.slice(0, first)];
    const kind = classify(cycle, graph);
    count[kind]++;
    const legend = cycle.slice(0, SHOWN).map((v) => {
      const o = txns[v].op;
      return `T${v + 1} = process ${o.process} on ${o.node} at ${o.start}..${o.end}`;
    });
    const more = cycle.length > SHOWN ? "; ..." : "";
    errors.push(
      `${kind} cycle among ${component.length} txns: ${describeCycle(cycle, graph)} (${
        legend.join("; ")
      }${more})`,
    );
  }

  const status = (s: Op["status"]) => txns.filter((t) => t.op.status === s).length;
  return checkResult(errors, {
    txns: txns.length,
    committed: status("ok"),
    failed: status("fail"),
    indeterminate: status("info"),
    observedIndeterminate: observed.size,
    keys: new Set(txns.flatMap((t) => t.mops.map((m) => m.key))).size,
    edges,
    cycles: components.length,
    ...count,
  });
}

/**
 * A txn's micro-ops: from its ok reply (reads filled in), else from its invoke (reads unknown). A
 * malformed invoke is a broken history and throws; an ok reply that does not mirror the invoke is the
 * store's fault, so it is an error and the txn's reads are taken as unknown.
 */
function parseTxn(o: Op, n: number, errors: string[]): Txn {
  const bad = (why: string) => new Error(`T${n} (process ${o.process}): invoke value ${why}`);
  if (!Array.isArray(o.value)) throw bad("must be an array of micro-ops");
  const mops: Mop[] = o.value.map((m, i) => {
    const at = `micro-op ${i + 1}`;
    if (!Array.isArray(m) || (m[0] !== "append" && m[0] !== "r")) {
      throw bad(`${at}: must be ["append"|"r", key, value]`);
    }
    if (!isAtom(m[1])) throw bad(`${at}: key must be a string or a number`);
    if (m[0] === "r") return { f: "r", key: m[1], values: undefined };
    if (!isAtom(m[2])) throw bad(`${at}: appended value must be a string or a number`);
    return { f: "append", key: m[1], value: m[2] };
  });
  if (o.status !== "ok") return { n, op: o, mops };

  const reply = o.result;
  const mismatch = (why: string) => {
    errors.push(`T${n} (process ${o.process}) replied ${JSON.stringify(reply)}: ${why}`);
    return { n, op: o, mops };
  };
  if (!Array.isArray(reply) || reply.length !== mops.length) return mismatch("not one entry per micro-op");
  const filled: Mop[] = [];
  for (let i = 0; i < mops.length; i++) {
    const m = mops[i], r: unknown = reply[i];
    if (!Array.isArray(r) || r[0] !== m.f || r[1] !== m.key) {
      return mismatch(`micro-op ${i + 1} does not match the invoke`);
    }
    if (m.f === "append") {
      if (r[2] !== m.value) return mismatch(`micro-op ${i + 1} appends another value`);
      filled.push(m);
      continue;
    }
    const values: unknown = r[2] === null ? [] : r[2];
    if (!Array.isArray(values) || !values.every(isAtom)) {
      return mismatch(`micro-op ${i + 1} reads no list of strings or numbers`);
    }
    filled.push({ f: "r", key: m.key, values });
  }
  return { n, op: o, mops: filled };
}

/**
 * The reads of committed txns, checking each txn's reads against its own appends. `reads` holds every
 * read (whole lists, for version orders and provenance); `seen` one entry per txn and key: how much of
 * the list its first read showed apart from its own appends, which is what wr and rw edges are made of.
 */
function readsOf(
  txns: readonly Txn[],
  errors: string[],
  count: { internal: number },
): { reads: Read[]; seen: Seen[] } {
  const reads: Read[] = [], seen: Seen[] = [];
  for (const t of txns) {
    if (t.op.status !== "ok") continue;
    /** Per key: the txn's first consistent read and how much of it others wrote; its own appends so far. */
    const state = new Map<Atom, { first?: Atom[]; external: number; own: Atom[] }>();
    for (const m of t.mops) {
      const s = state.get(m.key) ?? state.set(m.key, { external: 0, own: [] }).get(m.key)!;
      if (m.f === "append") {
        s.own.push(m.value);
        continue;
      }
      const list = m.values;
      if (list === undefined) continue;
      reads.push({ txn: t, key: m.key, values: list });
      const at = `internal: T${t.n} read key ${showKey(m.key)} as ${showList(list)}`;
      // Compared in place, without building the expected list: reads can be long and many.
      const { first, external, own } = s;
      if (first !== undefined) {
        const fits = list.length === external + own.length &&
          own.every((v, j) => list[external + j] === v) && matches(list, first, external);
        if (!fits) {
          count.internal++;
          errors.push(
            `${at}, but its earlier read and own appends make it ${
              showList([...first.slice(0, external), ...own])
            }`,
          );
        }
        continue;
      }
      const rest = list.length - own.length;
      if (rest < 0 || !own.every((v, j) => list[rest + j] === v)) {
        count.internal++;
        errors.push(`${at}, which does not end with its own appends ${showList(own)}`);
        continue;
      }
      s.first = list;
      s.external = rest;
      seen.push({ txn: t, key: m.key, length: rest });
    }
  }
  return { reads, seen };
}

/**
 * Per key, the version order: its longest read, provided it lists no value twice and every read of the
 * key is a prefix of it. Keys that fail are reported and left out.
 */
function versionOrders(
  reads: readonly Read[],
  errors: string[],
  count: { incompatibleOrder: number; duplicateElements: number },
): Map<Atom, Atom[]> {
  const orders = new Map<Atom, Atom[]>();
  for (const [key, rs] of byKey(reads)) {
    const longest = rs.reduce((a, b) => b.values.length > a.values.length ? b : a);
    if (new Set(longest.values).size !== longest.values.length) {
      count.duplicateElements++;
      errors.push(
        `duplicate elements: T${longest.txn.n} read key ${showKey(key)} as ${showList(longest.values)}`,
      );
      continue;
    }
    const other = rs.find((r) => !matches(r.values, longest.values, r.values.length));
    if (other === undefined) {
      orders.set(key, longest.values);
      continue;
    }
    const i = other.values.findIndex((v, j) => v !== longest.values[j]);
    count.incompatibleOrder++;
    errors.push(
      `incompatible read orders on key ${showKey(key)}: T${other.txn.n} read ${showList(other.values)} and ` +
        `T${longest.txn.n} read ${showList(longest.values)}, which differ at index ${i} ` +
        `(${show(other.values[i])} vs ${show(longest.values[i])})`,
    );
  }
  return orders;
}

/**
 * Checks that every value read was appended by a txn that may have committed (else G1a or a garbage
 * read, reported once per value with its first reader), and returns the indeterminate txns that were
 * read, which therefore committed. On a key with a version order each position is checked once, at
 * the first read that reaches it; on other keys every value of every read is.
 */
function provenance(
  reads: readonly Read[],
  orders: ReadonlyMap<Atom, Atom[]>,
  writers: ReadonlyMap<Atom, ReadonlyMap<Atom, Txn>>,
  errors: string[],
  count: { G1a: number; garbage: number },
): Set<Txn> {
  const observed = new Set<Txn>();
  for (const [key, rs] of byKey(reads)) {
    const w = writers.get(key);
    const reported = new Set<Atom>();
    let checked = 0;
    for (const r of rs) {
      for (let i = orders.has(key) ? checked : 0; i < r.values.length; i++) {
        const v = r.values[i], writer = w?.get(v);
        if (writer !== undefined && writer.op.status === "info") observed.add(writer);
        if ((writer !== undefined && writer.op.status !== "fail") || reported.has(v)) continue;
        reported.add(v);
        const what = `T${r.txn.n} read ${show(v)} in key ${showKey(key)}`;
        if (writer === undefined) {
          count.garbage++;
          errors.push(`garbage read: ${what}, which no txn appended`);
        } else {
          count.G1a++;
          errors.push(`G1a (aborted read): ${what}, appended by T${writer.n}, which failed`);
        }
      }
      checked = Math.max(checked, r.values.length);
    }
  }
  return observed;
}

/**
 * One cycle inside a strongly connected component, the weakest kind there is: a ww-only cycle if any,
 * else a ww/wr one, else one closing a single rw edge with ww/wr edges (searched within a budget),
 * else the shortest path back across any rw edge. Returned as the txns in order, the last leading back
 * to the first.
 */
function findCycle(component: readonly number[], graph: readonly Map<number, Edge>[]): number[] {
  const inside = new Set(component);
  const next = (mask: number, within: ReadonlySet<number>) => (v: number) =>
    [...graph[v]].filter(([w, e]) => (e.mask & mask) !== 0 && within.has(w)).map(([w]) => w);

  for (const mask of [WW, WW | WR]) {
    const sub = stronglyConnected(component, next(mask, inside))[0];
    if (sub === undefined) continue;
    const within = new Set(sub);
    const step = next(mask, within);
    return closeCycle(sub[0], step(sub[0])[0], step)!;
  }
  // Every cycle left has an rw edge. A ww/wr path back from an rw edge's target makes it G-single.
  const rw = component.flatMap((u) =>
    [...graph[u]].filter(([w, e]) => e.mask & RW && inside.has(w)).map(([w]) => [u, w])
  );
  const budget = { left: G_SINGLE_BUDGET };
  for (const [u, v] of rw) {
    const cycle = closeCycle(u, v, next(WW | WR, inside), budget);
    if (cycle !== undefined) return cycle;
    if (budget.left <= 0) break;
  }
  const [u, v] = rw[0];
  return closeCycle(u, v, next(ALL, inside))!;
}

/** The cycle u -> v -> ... -> u, with the path back from v found breadth first; undefined if none. */
function closeCycle(
  u: number,
  v: number,
  next: (v: number) => number[],
  budget?: { left: number },
): number[] | undefined {
  const parent = new Map<number, number>([[v, v]]);
  const queue = [v];
  for (let head = 0; head < queue.length; head++) {
    const x = queue[head];
    if (x === u) {
      const back = [u]; // u, ..., v: the path walked backwards
      for (let y = u; y !== v;) back.push(y = parent.get(y)!);
      return [u, ...back.reverse().slice(0, -1)];
    }
    for (const y of next(x)) {
      if (budget !== undefined && --budget.left < 0) return undefined;
      if (!parent.has(y)) {
        parent.set(y, x);
        queue.push(y);
      }
    }
  }
  return undefined;
}

/** The weakest type of the edge a -> b. */
function weakest(graph: readonly Map<number, Edge>[], a: number, b: number): number {
  const mask = graph[a].get(b)!.mask;
  return TYPES.find(([t]) => mask & t)![0];
}

/** A cycle's anomaly class from its edges' weakest types. */
function classify(
  cycle: readonly number[],
  graph: readonly Map<number, Edge>[],
): "G0" | "G1c" | "G-single" | "G2" {
  const types = cycle.map((v, i) => weakest(graph, v, cycle[(i + 1) % cycle.length]));
  const rw = types.filter((t) => t === RW).length;
  if (rw === 1) return "G-single";
  if (rw > 1) return "G2";
  return types.every((t) => t === WW) ? "G0" : "G1c";
}

/**
 * "T1 -ww x-> T2 -wr y-> T1": each edge with its weakest type and the key behind it. Of a cycle longer
 * than SHOWN edges, the first SHOWN and how many more there are.
 */
function describeCycle(cycle: readonly number[], graph: readonly Map<number, Edge>[]): string {
  const steps: string[] = [];
  for (let i = 0; i < Math.min(cycle.length, SHOWN); i++) {
    const v = cycle[i], w = cycle[(i + 1) % cycle.length];
    const type = weakest(graph, v, w);
    const name = TYPES.find(([t]) => t === type)![1];
    steps.push(`T${v + 1} -${name} ${showKey(graph[v].get(w)!.keys.get(type)!)}->`);
  }
  const end = cycle.length > SHOWN
    ? `T${cycle[SHOWN] + 1} ... (${cycle.length - SHOWN} more edges back to T${cycle[0] + 1})`
    : `T${cycle[0] + 1}`;
  return `${steps.join(" ")} ${end}`;
}

/**
 * Tarjan's strongly connected components over `nodes` (iterative: histories are long enough to
 * overflow the call stack), keeping only components of more than one node. `next` must stay in `nodes`.
 */
function stronglyConnected(nodes: readonly number[], next: (v: number) => number[]): number[][] {
  const index = new Map<number, number>(), low = new Map<number, number>();
  const stack: number[] = [], onStack = new Set<number>(), found: number[][] = [];
  const visit = (v: number) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    return { v, succ: next(v), i: 0 };
  };
  for (const root of nodes) {
    if (index.has(root)) continue;
    const frames = [visit(root)];
    while (frames.length > 0) {
      const f = frames[frames.length - 1];
      if (f.i < f.succ.length) {
        const w = f.succ[f.i++];
        if (!index.has(w)) frames.push(visit(w));
        else if (onStack.has(w)) low.set(f.v, Math.min(low.get(f.v)!, index.get(w)!));
        continue;
      }
      frames.pop();
      if (frames.length > 0) {
        const parent = frames[frames.length - 1].v;
        low.set(parent, Math.min(low.get(parent)!, low.get(f.v)!));
      }
      if (low.get(f.v) !== index.get(f.v)) continue;
      const component: number[] = [];
      let w: number;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== f.v);
      if (component.length > 1) found.push(component.reverse());
    }
  }
  return found;
}

function isAtom(x: unknown): x is Atom {
  return typeof x === "string" || (typeof x === "number" && Number.isFinite(x));
}

/** Reads grouped by key, in history order. */
function byKey(reads: readonly Read[]): Map<Atom, Read[]> {
  const groups = new Map<Atom, Read[]>();
  for (const r of reads) (groups.get(r.key) ?? groups.set(r.key, []).get(r.key)!).push(r);
  return groups;
}

/** Whether the first `n` values of `a` and `b` agree (both must have at least `n`). */
function matches(a: readonly Atom[], b: readonly Atom[], n: number): boolean {
  if (a.length < n || b.length < n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A key as the workload wrote it. */
function showKey(key: Atom): string {
  return String(key);
}

function show(v: Atom): string {
  return JSON.stringify(v);
}

function showList(values: readonly Atom[]): string {
  const shown = values.slice(0, SHOWN).map(show).join(",");
  return values.length > SHOWN ? `[${shown},...] (${values.length} elements)` : `[${shown}]`;
}
