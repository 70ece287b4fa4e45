/** Convergence checker on golden histories: same key set and same value per key on every node after heal. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { checkConvergence, convergenceFromHistory, type NodeReads } from "./convergence.ts";
import { parseHistory } from "./history.ts";

const golden = (name: string) =>
  parseHistory(readFileSync(new URL(`golden/${name}`, import.meta.url), "utf8"));

const reads = (dumps: Record<string, Record<string, string | null>>): NodeReads =>
  new Map(Object.entries(dumps).map(([node, d]) => [node, new Map(Object.entries(d))]));

describe("valid", () => {
  test("golden: three nodes with the same keys (nil values included) in different orders", () => {
    expect(checkConvergence(convergenceFromHistory(golden("convergence_valid.jsonl")))).toEqual({
      valid: true,
      errors: [],
      stats: { nodes: 3, keys: 3, missingKeys: 0, divergentKeys: 0 },
    });
  });

  test("empty keyspaces agree; counter and set final reads (with a key) are not dumps", () => {
    const h = parseHistory(`
{"type":"invoke","process":1,"node":"n1","time":0,"f":"final-read"}
{"type":"ok","process":1,"node":"n1","time":1,"f":"final-read","value":{}}
{"type":"invoke","process":2,"node":"n2","time":0,"f":"final-read"}
{"type":"ok","process":2,"node":"n2","time":1,"f":"final-read","value":{}}
{"type":"invoke","process":3,"node":"n2","time":2,"f":"final-read","key":"c"}
{"type":"ok","process":3,"node":"n2","time":3,"f":"final-read","key":"c","value":5}
{"type":"invoke","process":4,"node":"n3","time":2,"f":"final-read"}
{"type":"info","process":4,"node":"n3","time":3,"f":"final-read","value":"timeout"}
`);
    expect(checkConvergence(convergenceFromHistory(h))).toMatchObject({
      valid: true,
      stats: { nodes: 2, keys: 0 },
    });
  });
});

describe("invalid", () => {
  test("golden: a divergent value and a key missing on one node", () => {
    const r = checkConvergence(convergenceFromHistory(golden("convergence_divergent.jsonl")));
    expect(r.valid).toBe(false);
    expect(r.errors).toEqual(['key "b" missing on n3 (present on n1, n2)']);
    expect(r.stats).toEqual({ nodes: 3, keys: 2, missingKeys: 1, divergentKeys: 0 });
  });

  test("a three-way split is reported as groups of nodes", () => {
    const r = checkConvergence(reads({
      n1: { k: "string:1" },
      n2: { k: "string:2" },
      n3: { k: "string:1" },
      n4: { k: null },
    }));
    expect(r.errors).toEqual(['key "k" diverges: "string:1" on n1, n3; "string:2" on n2; null on n4']);
    expect(r.stats.divergentKeys).toBe(1);
  });

  test("mismatched key sets in both directions", () => {
    const r = checkConvergence(reads({ n1: { a: "x", b: "y" }, n2: { a: "x", c: "z" } }));
    expect(r.errors).toEqual([
      'key "b" missing on n2 (present on n1)',
      'key "c" missing on n1 (present on n2)',
    ]);
  });

  test("no final reads at all", () => {
    expect(checkConvergence(new Map()).errors).toEqual(["no final reads"]);
  });

  test("many divergent keys are capped", () => {
    const n1: Record<string, string> = {}, n2: Record<string, string> = {};
    for (let i = 0; i < 25; i++) {
      n1[`k${String(i).padStart(2, "0")}`] = "a";
      n2[`k${String(i).padStart(2, "0")}`] = "b";
    }
    const r = checkConvergence(reads({ n1, n2 }));
    expect(r.errors.length).toBe(21);
    expect(r.errors[0]).toBe('key "k00" diverges: "a" on n1; "b" on n2');
    expect(r.errors[20]).toBe("... and 5 more");
    expect(r.stats.divergentKeys).toBe(25);
  });

  test("malformed dumps are rejected, not guessed at", () => {
    const dump = (node: string, p: number, value: string) =>
      `{"type":"invoke","process":${p},"node":"${node}","time":0,"f":"final-read"}
{"type":"ok","process":${p},"node":"${node}","time":1,"f":"final-read","value":${value}}`;
    expect(() => convergenceFromHistory(parseHistory(dump("n1", 1, "{}") + "\n" + dump("n1", 2, "{}"))))
      .toThrow("two final-reads from node n1");
    expect(() => convergenceFromHistory(parseHistory(dump("n1", 1, "[]")))).toThrow("must be an object");
    expect(() => convergenceFromHistory(parseHistory(dump("n1", 1, '{"a":1}')))).toThrow(
      'key "a" has a non-string value',
    );
  });
});
