/**
 * The partition contract of envelope-commit on three real nodes (tests/fault/partition.ts): one
 * node cut off answers every exclusive command with -PARTITIONED or -TRYAGAIN within the commit
 * timeout plus 500 ms while coordination-free writes go on on both sides; the majority removes it
 * after the member timeout (6 s here) and commits exclusive commands again; after the heal it
 * starts over under a new node id, rejoins, writes again what it took while cut off, and all three agree. Needs root, `ip netns` and nft; otherwise
 * it is skipped with the reason. FAULT_SEED overrides the seed (which node is cut off).
 */
import { describe, expect } from "bun:test";
import { testIf } from "../helpers.ts";
import { formatPartitionReport, runPartition } from "./partition.ts";
import { probeCapabilities } from "./probe.ts";

const caps = probeCapabilities();
const reason = caps.harnessSkip ?? (caps.nft ? null : caps.skipped.isolate ?? "nft unusable");
const seed = process.env.FAULT_SEED !== undefined ? Number(process.env.FAULT_SEED) : Date.now() % 1_000_000;

describe("partition contract", () => {
  testIf(reason === null, `partition test needs root, ip netns and nft: ${reason}`)(
    "an isolated node refuses exclusive commands in time, the majority removes it and commits, it rejoins",
    async () => {
      console.log(`partition test seed ${seed} (replay: bun tests/fault/main.ts --partition --seed ${seed})`);
      const report = await runPartition({ seed, log: (l) => console.log(l) });
      console.log(formatPartitionReport(report));
      expect(report.skipped).toBeNull();
      expect(report.failures).toEqual([]);
      expect(report.ok).toBe(true);
    },
    240_000,
  );
});
