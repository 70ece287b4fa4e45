/** Election checker on golden histories: one winner per round, and every node names it after heal. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { checkElection } from "./election.ts";
import { parseHistory } from "./history.ts";

const golden = (name: string) =>
  parseHistory(readFileSync(new URL(`golden/${name}`, import.meta.url), "utf8"));

/** Final reads of round r on the given nodes, all after time 2000. */
const finals = (values: Record<string, unknown>, round = "r") =>
  Object.entries(values).map(([node, v], i) =>
    `{"type":"invoke","process":${100 + i},"node":"${node}","time":2000,"f":"final-read","key":"${round}"}
{"type":"ok","process":${100 + i},"node":"${node}","time":2001,"f":"final-read","key":"${round}","value":${
      JSON.stringify(v)
    }}`
  ).join("\n");

/** One elect of round r by `process` for `candidate` at `time`, completed with `type` and `value`. */
const elect = (process: number, time: number, candidate: unknown, type: string, value: unknown) =>
  `{"type":"invoke","process":${process},"node":"n1","time":${time},"f":"elect","key":"r","value":${
    JSON.stringify(candidate)
  }}
{"type":"${type}","process":${process},"node":"n1","time":${time + 1},"f":"elect","key":"r","value":${
    JSON.stringify(value)
  }}
`;

describe("valid", () => {
  test("golden: a won round, a round an indeterminate elect took, a round nobody won", () => {
    expect(checkElection(golden("election_valid.jsonl"))).toEqual({
      valid: true,
      errors: [],
      stats: { rounds: 3, winners: 1, roundsWithoutWinner: 2, indeterminate: 2, finalReads: 9 },
    });
  });

  test("numeric candidates; an indeterminate elect that did not take; keyless dumps are skipped", () => {
    const dump = `{"type":"invoke","process":9,"node":"n1","time":2000,"f":"final-read"}
{"type":"ok","process":9,"node":"n1","time":2001,"f":"final-read","value":{"r":"string:7"}}
`;
    const h = parseHistory(
      elect(1, 0, 7, "ok", true) + elect(2, 2, 8, "info", "timeout") + dump + finals({ n1: 7, n2: 7 }),
    );
    expect(checkElection(h).errors).toEqual([]);
    const none = parseHistory(elect(2, 0, 8, "info", "timeout") + finals({ n1: null, n2: null }));
    expect(checkElection(none).errors).toEqual([]);
  });
});

describe("invalid", () => {
  test("golden: split brain, two candidates both told they won", () => {
    const r = checkElection(golden("election_split_brain.jsonl"));
    expect(r.valid).toBe(false);
    expect(r.errors).toEqual([
      'round round-17: 2 elects won: elect "a" by process 1, elect "b" by process 2',
    ]);
    expect(r.stats).toMatchObject({ rounds: 1, winners: 1 });
  });

  test("golden: the winner overwritten by a candidate who was told it lost", () => {
    const r = checkElection(golden("election_overwritten_winner.jsonl"));
    expect(r.valid).toBe(false);
    expect(r.errors).toEqual([
      'round round-7: final read on n1, n2 holds "b", but elect "a" by process 1 won',
      'round round-7: final read on n1, n2 holds "b", whose elects all failed or lost',
    ]);
  });

  test("final reads that diverge, or lose the winner", () => {
    const h = parseHistory(elect(1, 0, "a", "ok", true) + finals({ n1: "a", n2: null, n3: "a" }));
    expect(checkElection(h).errors).toEqual([
      'round r: final reads diverge: "a" on n1, n3; null on n2',
      'round r: final read on n2 holds null, but elect "a" by process 1 won: the winner was lost',
    ]);
  });

  test("a lost elect with nobody who could have won before it, and a null final read after it", () => {
    const h = parseHistory(
      elect(1, 0, "a", "ok", false) + elect(2, 5, "b", "info", "timeout") + elect(3, 6, "c", "fail", "ERR") +
        finals({ n1: null }),
    );
    expect(checkElection(h).errors).toEqual([
      'round r: elect "a" by process 1 lost, but no elect that could have won was invoked before it returned',
      'round r: final read on n1 holds null, but elect "a" by process 1 lost, so the key was set',
    ]);
  });

  test("a final value nobody ran for, or only a failed candidate", () => {
    const s = `{"type":"invoke","process":7,"node":"n1","time":0,"f":"elect","key":"s","value":"a"}
{"type":"fail","process":7,"node":"n1","time":1,"f":"elect","key":"s","value":"ERR"}
`;
    const r = checkElection(
      parseHistory(
        s + elect(1, 0, "b", "fail", "ERR") + finals({ n1: "a" }, "s") + "\n" + finals({ n1: "z" }),
      ),
    );
    expect(r.errors).toEqual([
      'round s: final read on n1 holds "a", whose elects all failed or lost',
      'round r: final read on n1 holds "z", not a candidate in this round',
    ]);
    expect(r.stats).toMatchObject({ rounds: 2, winners: 0, roundsWithoutWinner: 2 });
  });

  test("no final reads, a malformed reply, an elect after the final reads began", () => {
    expect(checkElection(parseHistory(elect(1, 0, "a", "ok", true))).errors).toEqual(["no final reads"]);
    const late = `{"type":"invoke","process":5,"node":"n1","time":3000,"f":"elect","key":"r","value":"c"}`;
    const h = parseHistory(
      elect(1, 0, "a", "ok", true) + elect(2, 2, "b", "ok", "OK") + finals({ n1: "a", n2: { id: "a" } }) +
        "\n" + late,
    );
    expect(checkElection(h).errors).toEqual([
      'round r: elect "b" by process 2 returned "OK", not true or false',
      'round r: elect "c" by process 5 invoked after final reads began at 2000',
      'round r: final-read on n2 (process 101) returned {"id":"a"}, not a candidate or null',
    ]);
    expect(() => checkElection(parseHistory(elect(1, 0, null, "ok", true)))).toThrow(
      "elect null by process 1: value must be the candidate id",
    );
  });
});
