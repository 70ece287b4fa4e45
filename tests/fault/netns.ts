/**
 * A private network for the fault harness: one bridge in the root namespace and one network
 * namespace per node, joined to the bridge by a veth pair.
 *
 *   root namespace   bridge <prefix>b: 10.77.X.1/24 (clients' source address) and 10.77.X.2/24
 *                    (the link proxies listen there, see proxy.ts)
 *   node i (0-based) namespace <prefix>-n<i>, 10.77.X.(10+i)/24 on its veth, loopback up
 *
 * Partitions are nftables rules inside the node namespaces (one table named after the prefix per
 * namespace, replaced atomically on every change). Everything created is recorded and removed by
 * `teardown`, which is synchronous so it can run from an exit or signal handler; nothing else on
 * the machine is touched.
 */
import { spawn, spawnSync } from "node:child_process";

/** Runs a command synchronously; throws with its stderr when it fails. */
export function runSync(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", input, timeout: 20_000 });
  if (r.error !== undefined) throw new Error(`${cmd} ${args.join(" ")}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${(r.stderr ?? "").trim()}`);
  }
  return r.stdout ?? "";
}

/** Runs a command without blocking the event loop (the proxies and clients share it). */
export function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout.on("data", (d) => (out += d.toString()));
    child.stderr.on("data", (d) => (err += d.toString()));
    child.once("error", (e) => reject(new Error(`${cmd} ${args.join(" ")}: ${e.message}`)));
    child.once("close", (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: ${err.trim()}`));
    });
    child.stdin.end(input ?? "");
  });
}

/** One direction of traffic to drop: packets sent by node `from` to node `to` (indices). */
export interface Block {
  from: number;
  to: number;
}

/** Where a node's peer traffic goes: its proxied cluster port (see proxy.ts). */
export interface PeerEndpoint {
  /** The address the proxies listen on. */
  proxyIp: string;
  /** Proxy port of each node, by index. */
  proxyPorts: number[];
}

export class NetLab {
  readonly prefix: string;
  readonly nodes: number;
  /** The third octet: 10.77.<subnet>.0/24. */
  readonly subnet: number;
  readonly bridge: string;
  readonly gatewayIp: string;
  readonly proxyIp: string;
  readonly #namespaces: string[] = [];
  #bridgeCreated = false;
  #tornDown = false;
  #rules = new Map<number, string>();

  private constructor(prefix: string, nodes: number, subnet: number, readonly nft: boolean) {
    this.prefix = prefix;
    this.nodes = nodes;
    this.subnet = subnet;
    this.bridge = `${prefix}b`;
    this.gatewayIp = `10.77.${subnet}.1`;
    this.proxyIp = `10.77.${subnet}.2`;
  }

  /** Namespace of node i. */
  ns(i: number): string {
    return `${this.prefix}-n${i}`;
  }

  /** Address of node i. */
  ip(i: number): string {
    return `10.77.${this.subnet}.${10 + i}`;
  }

  /** The nft table name used in every node namespace. */
  get table(): string {
    return this.prefix;
  }

  /**
   * Builds the network for `nodes` nodes. On any failure it removes what it made and throws.
   * `prefix` must be unique to this process (default swf<pid>) and short (interface names are at
   * most 15 characters).
   */
  static create(nodes: number, opts: { nft: boolean; prefix?: string }): NetLab {
    const prefix = opts.prefix ?? `swf${process.pid}`;
    if (nodes < 1 || nodes > 50) throw new Error(`nodes must be 1..50, got ${nodes}`);
    if (`${prefix}h${nodes - 1}`.length > 15) throw new Error(`prefix ${prefix} is too long`);
    const lab = new NetLab(prefix, nodes, pickSubnet(process.pid), opts.nft);
    try {
      lab.#build();
    } catch (e) {
      lab.teardown();
      throw e;
    }
    return lab;
  }

  #build(): void {
    runSync("ip", ["link", "add", this.bridge, "type", "bridge"]);
    this.#bridgeCreated = true;
    runSync("ip", ["addr", "add", `${this.gatewayIp}/24`, "dev", this.bridge]);
    runSync("ip", ["addr", "add", `${this.proxyIp}/24`, "dev", this.bridge]);
    runSync("ip", ["link", "set", this.bridge, "up"]);
    for (let i = 0; i < this.nodes; i++) {
      const ns = this.ns(i);
      const host = `${this.prefix}h${i}`, peer = `${this.prefix}p${i}`;
      runSync("ip", ["netns", "add", ns]);
      this.#namespaces.push(ns);
      runSync("ip", ["link", "add", host, "type", "veth", "peer", "name", peer]);
      // The peer end moves first: deleting the namespace then removes the pair.
      runSync("ip", ["link", "set", peer, "netns", ns]);
      runSync("ip", ["link", "set", host, "master", this.bridge]);
      runSync("ip", ["link", "set", host, "up"]);
      runSync("ip", ["-n", ns, "addr", "add", `${this.ip(i)}/24`, "dev", peer]);
      runSync("ip", ["-n", ns, "link", "set", peer, "up"]);
      runSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
      // An empty table now, so a partition later only replaces rules.
      if (this.nft) runSync("ip", ["netns", "exec", ns, "nft", "-f", "-"], this.#ruleset(i, [], null));
      this.#rules.set(i, this.#ruleset(i, [], null));
    }
  }

  /** The argv prefix that runs a command inside node i's namespace. */
  execArgs(i: number): string[] {
    return ["ip", "netns", "exec", this.ns(i)];
  }

  /**
   * Makes `blocks` the complete set of dropped directions (an empty list heals everything). Each
   * namespace's table is replaced in one nft transaction.
   */
  async setBlocks(blocks: readonly Block[], peers: PeerEndpoint): Promise<void> {
    if (!this.nft && blocks.length > 0) throw new Error("partitions need nft, which this lab does not use");
    if (!this.nft) return;
    await Promise.all(Array.from({ length: this.nodes }, async (_, i) => {
      const text = this.#ruleset(i, blocks, peers);
      if (this.#rules.get(i) === text) return;
      await run("ip", ["netns", "exec", this.ns(i), "nft", "-f", "-"], text);
      this.#rules.set(i, text);
    }));
  }

  /** The nft rules currently installed in node i's namespace (for the report and debugging). */
  async listRules(i: number): Promise<string> {
    return await run("ip", ["netns", "exec", this.ns(i), "nft", "list", "table", "inet", this.table]);
  }

  /**
   * Node i's table. Peer links run through the proxies (node j dials proxyIp:proxyPorts[k] to
   * reach node k, and the proxy dials k from the gateway address), so a packet from `from` to
   * `to` is one of:
   * - in from's namespace, output to proxyIp:port(to) (from dialed to), or to to's own address;
   * - in to's namespace, input from proxyIp:port(from) (to dialed from), or from from's address.
   * Dropping all four drops that direction whichever node dialed. Client traffic (from the
   * gateway address, to port 6379) never matches.
   */
  #ruleset(i: number, blocks: readonly Block[], peers: PeerEndpoint | null): string {
    const out: string[] = [], inp: string[] = [];
    for (const b of blocks) {
      if (b.from === i) {
        out.push(`ip daddr ${this.ip(b.to)} drop`);
        if (peers !== null) out.push(`ip daddr ${peers.proxyIp} tcp dport ${peers.proxyPorts[b.to]} drop`);
      }
      if (b.to === i) {
        inp.push(`ip saddr ${this.ip(b.from)} drop`);
        if (peers !== null) inp.push(`ip saddr ${peers.proxyIp} tcp sport ${peers.proxyPorts[b.from]} drop`);
      }
    }
    const t = this.table;
    return [
      `table inet ${t}`,
      `delete table inet ${t}`,
      `table inet ${t} {`,
      `  chain input {`,
      `    type filter hook input priority 0; policy accept;`,
      ...inp.map((r) => `    ${r}`),
      `  }`,
      `  chain output {`,
      `    type filter hook output priority 0; policy accept;`,
      ...out.map((r) => `    ${r}`),
      `  }`,
      `}`,
      "",
    ].join("\n");
  }

  /** Removes every namespace and the bridge this lab created (idempotent, synchronous). */
  teardown(): string[] {
    if (this.#tornDown) return [];
    this.#tornDown = true;
    const problems: string[] = [];
    for (const ns of this.#namespaces.splice(0).reverse()) {
      // Deleting the namespace takes its veth end, the pair's root end, and its nft table.
      try {
        runSync("ip", ["netns", "del", ns]);
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    if (this.#bridgeCreated) {
      this.#bridgeCreated = false;
      try {
        runSync("ip", ["link", "del", this.bridge]);
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    // A root-side veth left over when its namespace could not be deleted.
    for (let i = 0; i < this.nodes; i++) {
      const host = `${this.prefix}h${i}`;
      if (spawnSync("ip", ["link", "show", host], { stdio: "ignore" }).status === 0) {
        try {
          runSync("ip", ["link", "del", host]);
        } catch (e) {
          problems.push((e as Error).message);
        }
      }
    }
    return problems;
  }
}

/** A 10.77.X.0/24 no address or route on this machine uses yet, starting from one derived from `seed`. */
function pickSubnet(seed: number): number {
  const used = runSync("ip", ["-o", "-4", "addr", "show"]) + runSync("ip", ["-o", "-4", "route", "show"]);
  for (let k = 0; k < 150; k++) {
    const x = 100 + (seed + k) % 150;
    if (!used.includes(`10.77.${x}.`)) return x;
  }
  throw new Error("no free 10.77.X.0/24 subnet");
}
