/**
 * Turns the simulator's canonical reply strings (tests/sim/resp.ts) back into values, for the
 * workloads whose replies are nested (EXEC, MGET, LRANGE).
 */

/** A reply as a value: strings for bulk and simple strings, numbers, null, arrays, errors. */
export type Value = string | number | null | Value[] | { err: string };

/** Parses one canonical reply; throws on anything malformed. */
export function parseReply(s: string): Value {
  const [v, end] = parseAt(s, 0);
  if (end !== s.length) throw new Error(`trailing text in reply ${s}`);
  return v;
}

function parseAt(s: string, i: number): [Value, number] {
  const c = s[i];
  if (c === "[") {
    const items: Value[] = [];
    i++;
    if (s[i] === "]") return [items, i + 1];
    for (;;) {
      const [v, j] = parseAt(s, i);
      items.push(v);
      if (s[j] === ",") i = j + 1;
      else if (s[j] === "]") return [items, j + 1];
      else throw new Error(`malformed array in reply ${s}`);
    }
  }
  if (c === ":") {
    const m = /^:-?[0-9]+/.exec(s.slice(i))!;
    return [Number(m[0].slice(1)), i + m[0].length];
  }
  if (s.startsWith("$nil", i)) return [null, i + 4];
  if (s.startsWith("*nil", i)) return [null, i + 4];
  if (c === "$") {
    // A JSON string: find its closing quote (escapes skipped).
    let j = i + 2;
    while (s[j] !== '"') j += s[j] === "\\" ? 2 : 1;
    return [JSON.parse(s.slice(i + 1, j + 1)) as string, j + 1];
  }
  if (c === "+" || c === "-") {
    let j = i + 1;
    while (j < s.length && s[j] !== "," && s[j] !== "]") j++;
    const text = s.slice(i + 1, j);
    return [c === "+" ? text : { err: text }, j];
  }
  throw new Error(`unknown reply form at ${i} in ${s}`);
}

/** True when `v` is an error reply. */
export function isErr(v: Value): v is { err: string } {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
