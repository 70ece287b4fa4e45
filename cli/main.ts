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
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return {
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
        node.stop().then(() => process.exit(0), (e) => {
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
