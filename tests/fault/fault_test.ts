/**
 * The fault harness against a real three-node cluster in network namespaces: about 90 s of
 * partitions (isolate, majority/minority, bridge, one-way), kill -9 and restart, SIGSTOP pauses,
 * delayed peer links and clock offsets under a counter and set workload, then heal and check
 * (tests/fault/harness.ts). Needs root, `ip netns` and nft; otherwise it is skipped with the reason.
 * FAULT_SEED and FAULT_SECONDS override the seed (default: a new one each run, printed) and the
 * length of the fault phase.
 */
import { describe, expect } from "bun:test";
import { testIf } from "../helpers.ts";
import { formatReport, runHarness } from "./harness.ts";
import { probeCapabilities } from "./probe.ts";

const caps = probeCapabilities();
const reason = caps.harnessSkip ?? (caps.nft ? null : caps.skipped.isolate ?? "nft unusable");
const seed = process.env.FAULT_SEED !== undefined ? Number(process.env.FAULT_SEED) : Date.now() % 1_000_000;
const seconds = process.env.FAULT_SECONDS !== undefined ? Number(process.env.FAULT_SECONDS) : 90;

describe("fault injection", () => {
  testIf(reason === null, `fault harness needs root, ip netns and nft: ${reason}`)(
    `three nodes, ${seconds}s of mixed nemeses, counters and sets stay correct and converge`,
    async () => {
      console.log(
        `fault harness seed ${seed} (replay: bun tests/fault/main.ts --seed ${seed} --seconds ${seconds})`,
      );
      const report = await runHarness({ seed, seconds, log: (l) => console.log(l) });
      console.log(formatReport(report));
      expect(report.skipped).toBeNull();
      expect(report.failures).toEqual([]);
      expect(report.ok).toBe(true);
    },
    seconds * 1000 + 300_000,
  );
});
