/**
 * Capability probe: what this machine lets the fault harness do. Synchronous (a test decides to
 * skip at load time), and it cleans up what it creates (a namespace, a bridge, a veth pair and an
 * nft table, all named after this process).
 *
 * The harness itself needs root and `ip netns` (every node runs in its own namespace, behind a
 * bridge and veth pairs). Partitions additionally need nft inside a namespace. The clock nemesis
 * needs the node to accept --debug-clock-offset-ms.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { have, ROOT } from "../helpers.ts";
import { runSync } from "./netns.ts";

/** Every nemesis the harness knows. */
export const NEMESES = [
  "isolate",
  "majority-minority",
  "bridge",
  "asymmetric",
  "kill",
  "pause",
  "delay",
  "reset",
  "clock",
] as const;
export type NemesisKind = typeof NEMESES[number];

/** The partition nemeses (nftables). */
export const PARTITIONS: ReadonlySet<NemesisKind> = new Set([
  "isolate",
  "majority-minority",
  "bridge",
  "asymmetric",
]);

export interface Capabilities {
  root: boolean;
  ipNetns: boolean;
  nft: boolean;
  clockFlag: boolean;
  /** Null when the harness can run; else why not. */
  harnessSkip: string | null;
  /** Why each nemesis cannot run (absent: it can). */
  skipped: Partial<Record<NemesisKind, string>>;
  notes: string[];
}

let cached: Capabilities | null = null;

/** Probes once per process. */
export function probeCapabilities(): Capabilities {
  cached ??= probe();
  return cached;
}

function probe(): Capabilities {
  const notes: string[] = [];
  const root = process.platform === "linux" && process.getuid?.() === 0;
  let ipNetns = false, nft = false;
  if (!root) notes.push(process.platform === "linux" ? "not root" : `not linux (${process.platform})`);
  else if (!have("ip")) notes.push("the ip command is missing");
  else {
    const tag = `swf${process.pid}`;
    const ns = `${tag}-probe`, br = `${tag}pb`, a = `${tag}pa`, b = `${tag}pv`;
    let nsMade = false, brMade = false, vethMade = false;
    try {
      runSync("ip", ["netns", "add", ns]);
      nsMade = true;
      runSync("ip", ["link", "add", br, "type", "bridge"]);
      brMade = true;
      runSync("ip", ["link", "add", a, "type", "veth", "peer", "name", b]);
      vethMade = true;
      runSync("ip", ["link", "set", b, "netns", ns]);
      runSync("ip", ["link", "set", a, "master", br]);
      runSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
      ipNetns = true;
    } catch (e) {
      notes.push(`ip netns/bridge/veth unusable: ${(e as Error).message}`);
    }
    if (ipNetns) {
      if (!have("nft")) notes.push("the nft command is missing");
      else {
        try {
          runSync(
            "ip",
            ["netns", "exec", ns, "nft", "-f", "-"],
            [
              `table inet ${tag} {`,
              `  chain output { type filter hook output priority 0; policy accept; ip daddr 10.77.0.9 tcp dport 7 drop; }`,
              `}`,
              "",
            ].join("\n"),
          );
          const listed = runSync("ip", ["netns", "exec", ns, "nft", "list", "table", "inet", tag]);
          if (!listed.includes("drop")) throw new Error("rule not listed back");
          nft = true;
        } catch (e) {
          notes.push(`nft in a namespace unusable: ${(e as Error).message}`);
        }
      }
    }
    const quiet = (args: string[]) => spawnSync("ip", args, { stdio: "ignore" });
    if (nsMade) quiet(["netns", "del", ns]);
    if (vethMade) quiet(["link", "del", a]);
    if (brMade) quiet(["link", "del", br]);
  }
  // The flag is test-only; a parse error names it when it exists and calls it unknown otherwise.
  const r = spawnSync(process.execPath, [
    path.join(ROOT, "cli/main.ts"),
    "redis",
    "--debug-clock-offset-ms",
    "x",
  ], {
    encoding: "utf8",
    timeout: 20_000,
  });
  const clockFlag = (r.stderr ?? "").includes("invalid value for --debug-clock-offset-ms");
  if (!clockFlag) notes.push("swytch does not accept --debug-clock-offset-ms");

  const harnessSkip = root && ipNetns ? null : notes[0];
  const skipped: Partial<Record<NemesisKind, string>> = {};
  for (const k of NEMESES) {
    if (harnessSkip !== null) skipped[k] = harnessSkip;
    else if (PARTITIONS.has(k) && !nft) skipped[k] = notes.find((n) => n.includes("nft")) ?? "nft unusable";
    else if (k === "clock" && !clockFlag) skipped[k] = "swytch does not accept --debug-clock-offset-ms";
  }
  return { root, ipNetns, nft, clockFlag, harnessSkip, skipped, notes };
}
