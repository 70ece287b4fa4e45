#!/usr/bin/env bun
/**
 * `swytch`: argv -> config, subcommands. The only place that calls process.exit.
 */
import { parseArgs } from "node:util";
import { DEFAULTS, type RedisNodeOptions, startRedisNode, VERSION } from "../net/node.ts";

const SWYTCH_VERSION = "0.1.0";

const USAGE = `Usage: swytch <command> [flags]

Commands:
  redis           start a node that speaks the Redis protocol
  gen-passphrase  print a new random cluster passphrase (for --cluster-passphrase)
  version         print the version
  help            print this help

Flags of 'swytch redis':
  --port N                  TCP port (default 6379)
  --bind ADDR               address to listen on (default 127.0.0.1; "" = no TCP)
  --unixsocket PATH         also listen on a unix socket
  --unixsocketperm OCTAL    permissions of the unix socket (default 700)
  --requirepass PASS        require AUTH with this password
  --data-dir DIR            effect log and checkpoints (default ./swytch-data; "" = memory only)
  --appendfsync POLICY      always | everysec | no (default everysec)
  --maxclients N            most clients at once (default 10000)
  --timeout SECONDS         close clients idle this long (default 0 = never)
  --databases N             number of databases (default 16)
  --log-format FORMAT       text | json (default text)
  -v, --verbose             debug logging

Cluster flags of 'swytch redis':
  --cluster-passphrase P    the cluster's shared secret (swytch gen-passphrase); turns the
                            peer listener on: a node without --join is a cluster of one
                            that others can join
  --join HOST:PORT[,...]    join the cluster through these members' cluster ports
  --cluster-port N          peer port (default: port + 1000)
  --cluster-advertise H:P   address peers reach this node's cluster port at
  --member-timeout DUR      remove a member dead this long (default 30s; bare number = s)
  --max-clock-offset DUR    refuse effects this far ahead of our clock (default 500ms;
                            bare number = ms)
  --commit-timeout DUR      how long an exclusive command waits for its envelope's outcome
                            before -TRYAGAIN; also when stuck envelopes are recovered
                            (default 2s; bare number = ms)
  --max-unstable-bytes SIZE writes to a key keeping more than this of effects not yet on
                            every member are refused with -OOM (default 64mb; 0 = no limit)
`;

class UsageError extends Error {}

function intFlag(
  name: string,
  v: string | undefined,
  dflt: number,
  min: number,
  max: number,
  radix = 10,
): number {
  if (v === undefined) return dflt;
  const n = radix === 10 ? Number(v) : parseInt(v, radix);
  if (!/^[0-9]+$/.test(v) || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`invalid value for --${name}: '${v}' (expected ${min}..${max})`);
  }
  return n;
}

/** A size: `64mb`, `1gb`, `500000` (bytes); 0 = no limit. */
function bytesFlag(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const m = /^([0-9]+)(b|kb|mb|gb)?$/i.exec(v);
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m?.[2] ?? "b").toLowerCase() as "b"];
  const n = m === null ? NaN : Number(m[1]) * unit;
  if (!Number.isSafeInteger(n)) {
    throw new UsageError(`invalid value for --${name}: '${v}' (expected a size such as 64mb)`);
  }
  return n;
}

/** A duration: `30s`, `1500ms`, `2m`, or a bare number in `bareUnitMs` units; returns ms. */
function duration(name: string, v: string | undefined, dfltMs: number, bareUnitMs: number): number {
  if (v === undefined) return dfltMs;
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$/.exec(v);
  const unit = m?.[2] === "ms" ? 1 : m?.[2] === "s" ? 1000 : m?.[2] === "m" ? 60_000 : bareUnitMs;
  const ms = m === null ? NaN : Math.round(Number(m[1]) * unit);
  if (!(ms > 0) || ms > 86_400_000) {
    throw new UsageError(`invalid value for --${name}: '${v}' (expected a duration such as 30s or 500ms)`);
  }
  return ms;
}

function oneOf<T extends string>(name: string, v: string | undefined, dflt: T, allowed: readonly T[]): T {
  if (v === undefined) return dflt;
  if (!allowed.includes(v as T)) {
    throw new UsageError(`invalid value for --${name}: '${v}' (expected ${allowed.join("|")})`);
  }
  return v as T;
}

/** Parses the flags of `swytch redis`. */
export function parseRedisFlags(argv: string[]): RedisNodeOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: "string" },
        bind: { type: "string" },
        unixsocket: { type: "string" },
        unixsocketperm: { type: "string" },
        requirepass: { type: "string" },
        "data-dir": { type: "string" },
        appendfsync: { type: "string" },
        maxclients: { type: "string" },
        timeout: { type: "string" },
        databases: { type: "string" },
        "log-format": { type: "string" },
        verbose: { type: "boolean", short: "v" },
        "planted-bug-reply-before-fsync": { type: "boolean" },
        "cluster-passphrase": { type: "string" },
        join: { type: "string" },
        "cluster-port": { type: "string" },
        "cluster-advertise": { type: "string" },
        "member-timeout": { type: "string" },
        "max-clock-offset": { type: "string" },
        "max-unstable-bytes": { type: "string" },
        "commit-timeout": { type: "string" },
        "planted-bug-accept-not-fsynced": { type: "boolean" },
        "planted-bug-commit-before-chosen": { type: "boolean" },
        // Test-only (the fault harness and the simulator's planted bugs).
        "debug-clock-offset-ms": { type: "string" },
        "debug-heartbeat-ms": { type: "string" },
        "debug-anti-entropy-ms": { type: "string" },
        "planted-bug-ack-before-log": { type: "boolean" },
        "planted-bug-unordered-stability": { type: "boolean" },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const passphrase = values["cluster-passphrase"];
  const join = (values.join ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (join.length > 0 && passphrase === undefined) throw new UsageError("--join needs --cluster-passphrase");
  for (const j of join) {
    if (!/^(\[[^\]]+\]|[^:\s]+):\d+$/.test(j)) throw new UsageError(`invalid --join address '${j}'`);
  }
  const advertise = values["cluster-advertise"] ?? "";
  if (advertise !== "" && !/^(\[[^\]]+\]|[^:\s]+):\d+$/.test(advertise)) {
    throw new UsageError(`invalid --cluster-advertise '${advertise}' (expected host:port)`);
  }
  if (passphrase === "") throw new UsageError("--cluster-passphrase must not be empty");
  const cluster = passphrase === undefined ? undefined : {
    passphrase,
    join,
    port: intFlag("cluster-port", values["cluster-port"], 0, 1, 65535),
    advertise,
    memberTimeoutMs: duration("member-timeout", values["member-timeout"], 30_000, 1000),
    maxClockOffsetMs: duration("max-clock-offset", values["max-clock-offset"], 500, 1),
    maxUnstableBytes: bytesFlag("max-unstable-bytes", values["max-unstable-bytes"], 64 * 1024 * 1024),
    heartbeatMs: values["debug-heartbeat-ms"] === undefined
      ? undefined
      : intFlag("debug-heartbeat-ms", values["debug-heartbeat-ms"], 200, 10, 60_000),
    antiEntropyMs: values["debug-anti-entropy-ms"] === undefined
      ? undefined
      : intFlag("debug-anti-entropy-ms", values["debug-anti-entropy-ms"], 5000, 10, 3_600_000),
    plantedBugAckBeforeLog: values["planted-bug-ack-before-log"] ?? false,
    plantedBugUnorderedStability: values["planted-bug-unordered-stability"] ?? false,
    commitTimeoutMs: duration("commit-timeout", values["commit-timeout"], 2000, 1),
    plantedBugAcceptNotFsynced: values["planted-bug-accept-not-fsynced"] ?? false,
    plantedBugCommitBeforeChosen: values["planted-bug-commit-before-chosen"] ?? false,
  };
  const skew = values["debug-clock-offset-ms"];
  if (skew !== undefined && !/^-?[0-9]+$/.test(skew)) {
    throw new UsageError(`invalid value for --debug-clock-offset-ms: '${skew}'`);
  }
  return {
    cluster,
    debugClockOffsetMs: skew === undefined ? 0 : Number(skew),
    port: intFlag("port", values.port, DEFAULTS.port, 0, 65535),
    bind: values.bind ?? DEFAULTS.bind,
    unixsocket: values.unixsocket ?? "",
    unixsocketperm: intFlag("unixsocketperm", values.unixsocketperm, DEFAULTS.unixsocketperm, 0, 0o777, 8),
    requirepass: values.requirepass ?? "",
    dataDir: values["data-dir"] ?? DEFAULTS.dataDir,
    appendfsync: oneOf("appendfsync", values.appendfsync, "everysec", ["always", "everysec", "no"] as const),
    maxclients: intFlag("maxclients", values.maxclients, DEFAULTS.maxclients, 1, 1_000_000),
    timeout: intFlag("timeout", values.timeout, 0, 0, 2_147_483_647),
    databases: intFlag("databases", values.databases, 16, 1, 1_000_000),
    logFormat: oneOf("log-format", values["log-format"], "text", ["text", "json"] as const),
    verbose: values.verbose ?? false,
    plantedBugReplyBeforeFsync: values["planted-bug-reply-before-fsync"] ?? false,
  };
}

function main(argv: string[]): void {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "redis": {
      let opts: RedisNodeOptions;
      try {
        opts = parseRedisFlags(rest);
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
        process.stderr.write(`swytch: ${e.message}\n\n${USAGE}`);
        process.exit(2);
      }
      let node: ReturnType<typeof startRedisNode>;
      try {
        node = startRedisNode({
          ...opts,
          onShutdown: () => process.exit(0),
          onFatal: () => process.exit(70),
        });
      } catch (e) {
        process.stderr.write(`swytch: cannot start: ${(e as Error).message}\n`);
        process.exit(1);
      }
      const stop = (signal: string) => {
        node.engine.env.log("info", `received ${signal}, shutting down`);
        node.stop({ leave: signal === "SIGTERM" }).then(() => process.exit(0), (e) => {
          process.stderr.write(`swytch: shutdown failed: ${e}\n`);
          process.exit(1);
        });
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
      return;
    }
    case "gen-passphrase":
      import("../net/peer_tls.ts").then(({ newPassphrase }) => process.stdout.write(newPassphrase() + "\n"));
      return;
    case "version":
    case "--version":
      process.stdout.write(`swytch ${SWYTCH_VERSION} (redis ${VERSION})\n`);
      return;
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`swytch: unknown command '${cmd ?? ""}'\n\n${USAGE}`);
      process.exit(2);
  }
}

if (import.meta.main) main(process.argv.slice(2));
