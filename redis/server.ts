/**
 * Server commands: INFO, CONFIG, COMMAND, TIME, LASTSAVE, SAVE, BGSAVE, SHUTDOWN, FLUSHDB,
 * FLUSHALL, SWAPDB.
 */
import { type Ctx, Deferred, fail, type Handler, parseInt64, upper } from "./command.ts";
import {
  allCommands,
  commandCount,
  commandDocsReply,
  commandHasKeys,
  commandInfoReply,
  commandKeys,
  commandListReply,
  globMatch,
  lookupCommand,
  lookupCommandByName,
  topLevelCommands,
} from "./command_table.ts";
import { KEY_OVERHEAD_BYTES } from "../core/engine.ts";
import { ENCODING_ALIASES, ENCODING_RANGES, type EncodingLimits } from "./encodings.ts";
import { E, err, MapReply, OK, type Reply, SimpleReply, VerbatimReply } from "./reply.ts";
import { type FaceConfig, RESERVED_PREFIX } from "./face.ts";

// ------------------------------------------------------------------ INFO

function section(title: string, fields: [string, string | number][]): string {
  return `# ${title}\r\n` + fields.map(([k, v]) => `${k}:${v}\r\n`).join("");
}

function humanBytes(n: number): string {
  if (n < 1024) return `${n}B`;
  const units = ["K", "M", "G", "T"];
  let v = n, u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(2)}${units[u]}`;
}

/** The text of INFO for the given (lowercase) section names; empty = default sections. */
export function infoText(ctx: Ctx, wanted: string[]): string {
  const f = ctx.face, e = ctx.engine;
  const all = wanted.includes("all") || wanted.includes("everything");
  const dflt = wanted.length === 0 || wanted.includes("default");
  const want = (s: string) => all || dflt || wanted.includes(s);
  const nowMono = e.env.monotonicMs();
  const uptime = Math.floor((nowMono - f.stats.startMonotonicMs) / 1000);
  const ps = f.host.processStats();
  const out: string[] = [];
  if (want("server")) {
    out.push(section("Server", [
      ["redis_version", f.version],
      ["redis_git_sha1", "00000000"],
      ["redis_git_dirty", 0],
      ["redis_build_id", "0"],
      ["redis_mode", "standalone"],
      ["swytch_mode", "leaderless"],
      ["os", f.host.os],
      ["arch_bits", 64],
      ["multiplexing_api", "epoll"],
      ["process_id", f.host.pid],
      ["process_supervised", "no"],
      ["run_id", f.host.runId],
      ["tcp_port", f.config.port],
      ["server_time_usec", Math.floor(e.env.wallMs() * 1000)],
      ["uptime_in_seconds", uptime],
      ["uptime_in_days", Math.floor(uptime / 86400)],
      ["hz", f.config.hz],
      ["configured_hz", f.config.hz],
      ["executable", f.host.executable],
      ["config_file", ""],
    ]));
  }
  if (want("clients")) {
    let watching = 0;
    for (const c of f.clients.values()) {
      if (c.watched.size > 0) watching++;
    }
    out.push(section("Clients", [
      ["connected_clients", f.clients.size],
      ["cluster_connections", 0],
      ["maxclients", f.config.maxclients],
      ["client_recent_max_input_buffer", 0],
      ["client_recent_max_output_buffer", 0],
      ["blocked_clients", f.blockedClients()],
      ["tracking_clients", 0],
      ["pubsub_clients", 0],
      ["watching_clients", watching],
      ["clients_in_timeout_table", 0],
      ["total_watched_keys", f.watchedKeys()],
      ["total_blocking_keys", f.blockingKeys()],
      ["total_blocking_keys_on_nokey", f.blockingKeysOnNokey()],
    ]));
  }
  if (want("memory")) {
    const used = f.usedMemory();
    const scripts = f.scriptStats();
    out.push(section("Memory", [
      ["used_memory", used],
      ["used_memory_human", humanBytes(used)],
      ["used_memory_rss", ps.rssBytes],
      ["used_memory_rss_human", humanBytes(ps.rssBytes)],
      ["used_memory_peak", used],
      ["used_memory_peak_human", humanBytes(used)],
      ["used_memory_dataset", e.usedBytes()],
      ["used_memory_startup", f.startupMemory],
      ["used_memory_heap", ps.heapBytes],
      ["used_memory_lua", scripts.memoryBytes],
      ["used_memory_lua_human", humanBytes(scripts.memoryBytes)],
      ["used_memory_scripts", scripts.memoryBytes],
      ["number_of_cached_scripts", scripts.scripts],
      ["maxmemory", f.config.maxmemory],
      ["maxmemory_human", humanBytes(f.config.maxmemory)],
      ["maxmemory_policy", "noeviction"],
      ["mem_fragmentation_ratio", used > 0 ? (ps.rssBytes / used).toFixed(2) : "0.00"],
      ["mem_allocator", "bun"],
      ["lazyfree_pending_objects", 0],
    ]));
  }
  if (want("persistence")) {
    const durable = e.env.storage.durable;
    out.push(section("Persistence", [
      ["loading", 0],
      ["async_loading", 0],
      ["current_cow_peak", 0],
      ["current_cow_size", 0],
      ["current_save_keys_processed", 0],
      ["current_save_keys_total", 0],
      ["rdb_changes_since_last_save", e.changesSinceSave()],
      ["rdb_bgsave_in_progress", e.saving() ? 1 : 0],
      ["rdb_last_save_time", e.lastSave()],
      ["rdb_last_bgsave_status", "ok"],
      ["rdb_last_bgsave_time_sec", -1],
      ["rdb_current_bgsave_time_sec", -1],
      ["aof_enabled", durable ? 1 : 0],
      ["aof_rewrite_in_progress", 0],
      ["aof_rewrite_scheduled", 0],
      ["aof_last_rewrite_time_sec", -1],
      ["aof_current_rewrite_time_sec", -1],
      ["aof_last_bgrewrite_status", "ok"],
      ["aof_last_write_status", "ok"],
      ["aof_current_size", e.env.storage.logBytes()],
      ["appendfsync", e.appendfsync],
      ["effect_log_records", e.stats.logRecords],
      ["effect_log_fsyncs", e.stats.fsyncs],
    ]));
  }
  if (want("stats")) {
    out.push(section("Stats", [
      ["total_connections_received", f.stats.totalConnections],
      ["total_commands_processed", f.stats.totalCommands],
      ["instantaneous_ops_per_sec", 0],
      ["total_net_input_bytes", f.stats.netInputBytes],
      ["total_net_output_bytes", f.stats.netOutputBytes],
      ["rejected_connections", f.stats.rejectedConnections],
      ["expired_keys", e.stats.expiredKeys],
      ["migrate_cached_sockets", 0],
      ["evicted_keys", 0],
      ["keyspace_hits", e.stats.keyspaceHits],
      ["keyspace_misses", e.stats.keyspaceMisses],
      ["pubsub_channels", 0],
      ["pubsub_patterns", 0],
      ["total_error_replies", f.stats.errorReplies],
      ["unexpected_error_replies", 0],
      ["total_reads_processed", f.stats.totalCommands],
      ["effects_applied", e.stats.effectsApplied],
      ["effects_received", e.stats.effectsReceived],
      ["effects_reordered", e.stats.reorders],
    ]));
  }
  if (want("replication")) {
    out.push(section("Replication", [
      ["role", "master"],
      ["connected_slaves", 0],
      ["master_failover_state", "no-failover"],
      ["master_replid", f.host.runId],
      ["master_replid2", "0000000000000000000000000000000000000000"],
      ["master_repl_offset", 0],
      ["second_repl_offset", -1],
      ["repl_backlog_active", 0],
      ["repl_backlog_size", 0],
      ["repl_backlog_first_byte_offset", 0],
      ["repl_backlog_histlen", 0],
    ]));
  }
  if (want("cpu")) {
    out.push(section("CPU", [
      ["used_cpu_sys", ps.sysCpuSec.toFixed(6)],
      ["used_cpu_user", ps.userCpuSec.toFixed(6)],
      ["used_cpu_sys_children", "0.000000"],
      ["used_cpu_user_children", "0.000000"],
    ]));
  }
  if (all || wanted.includes("commandstats")) {
    const fields: [string, string][] = [];
    for (const [name, st] of [...f.commandStats].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const per = st.calls === 0 ? 0 : st.usec / st.calls;
      fields.push([
        `cmdstat_${name}`,
        `calls=${st.calls},usec=${Math.round(st.usec)},usec_per_call=${per.toFixed(2)},` +
        `rejected_calls=${st.rejected},failed_calls=${st.failed}`,
      ]);
    }
    out.push(section("Commandstats", fields));
  }
  if (want("errorstats")) {
    const fields: [string, string][] = [...f.errorStats].sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([code, n]) => [`errorstat_${code}`, `count=${n}`]);
    out.push(section("Errorstats", fields));
  }
  if (want("cluster")) {
    // Redis Cluster's slot protocol is not spoken (cluster_enabled:0, as clients expect from a
    // standalone server); Swytch's own replication reports below it.
    const fields: [string, string | number][] = [["cluster_enabled", 0]];
    if (f.cluster !== null) {
      for (const [k, v] of Object.entries(f.cluster.info())) fields.push([`swytch_${k}`, v]);
    }
    out.push(section("Cluster", fields));
  }
  if (want("keyspace")) {
    const fields: [string, string][] = [];
    e.dbs.forEach((_d, i) => {
      const n = e.dbsize(i);
      if (n > 0) fields.push([`db${i}`, `keys=${n},expires=${e.expiringKeys(i)},avg_ttl=0,subexpiry=0`]);
    });
    out.push(section("Keyspace", fields));
  }
  return out.join("\r\n");
}

// ------------------------------------------------------------------ CONFIG

interface Param {
  get(c: FaceConfig): string;
  set?(c: FaceConfig, v: string): string | null;
}

function intParam(key: "maxclients" | "timeout" | "hz", min: number, max: number): Param {
  return {
    get: (c) => String(c[key]),
    set(c, v) {
      const n = parseInt64(v);
      if (n === null || n < min || n > max) return `argument must be between ${min} and ${max} inclusive`;
      c[key] = Number(n);
      return null;
    },
  };
}

function memParam(key: "protoMaxBulkLen" | "clientQueryBufferLimit" | "maxmemory"): Param {
  return {
    get: (c) => String(c[key]),
    set(c, v) {
      const n = parseMemory(v);
      if (n === null) return "argument must be a memory value";
      c[key] = n;
      return null;
    },
  };
}

function parseMemory(v: string): number | null {
  const m = /^(\d+)(b|k|kb|m|mb|g|gb)?$/i.exec(v);
  if (m === null) return null;
  const mult: Record<string, number> = { b: 1, k: 1000, kb: 1024, m: 1e6, mb: 1 << 20, g: 1e9, gb: 1 << 30 };
  return Number(m[1]) * (m[2] === undefined ? 1 : mult[m[2].toLowerCase()]);
}

const fixed = (v: (c: FaceConfig) => string): Param => ({ get: v });

/** Redis's eviction policies (CONFIG SET maxmemory-policy accepts them; Swytch evicts nothing). */
const MAXMEMORY_POLICIES = [
  "volatile-lru",
  "volatile-lfu",
  "volatile-random",
  "volatile-ttl",
  "allkeys-lru",
  "allkeys-lfu",
  "allkeys-random",
  "noeviction",
];

/** Parameters the node honours or reports; unknown ones are refused in Redis's words. */
const PARAMS: Record<string, Param> = {
  requirepass: {
    get: (c) => c.requirepass,
    set(c, v) {
      c.requirepass = v;
      return null;
    },
  },
  maxclients: intParam("maxclients", 1, 1_000_000),
  timeout: intParam("timeout", 0, 2_147_483_647),
  hz: intParam("hz", 1, 500),
  "proto-max-bulk-len": memParam("protoMaxBulkLen"),
  "client-query-buffer-limit": memParam("clientQueryBufferLimit"),
  databases: fixed((c) => String(c.databases)),
  port: fixed((c) => String(c.port)),
  bind: fixed((c) => c.bind),
  unixsocket: fixed((c) => c.unixsocket),
  unixsocketperm: fixed((c) => c.unixsocketperm.toString(8)),
  dir: fixed((c) => c.dir),
  appendfsync: fixed((c) => c.appendfsync),
  appendonly: fixed((c) => (c.appendonly ? "yes" : "no")),
  maxmemory: memParam("maxmemory"),
  "maxmemory-policy": {
    get: (c) => c.maxmemoryPolicy,
    set(c, v) {
      const policy = v.toLowerCase();
      if (!MAXMEMORY_POLICIES.includes(policy)) {
        return "argument(s) must be one of the following: " + MAXMEMORY_POLICIES.join(", ");
      }
      c.maxmemoryPolicy = policy;
      return null;
    },
  },
  "busy-reply-threshold": {
    get: (c) => String(c.busyReplyThresholdMs),
    set(c, v) {
      const n = parseInt64(v);
      if (n === null || n < 0 || n > Number.MAX_SAFE_INTEGER) {
        return "argument must be between 0 and 9223372036854775807 inclusive";
      }
      c.busyReplyThresholdMs = Number(n);
      return null;
    },
  },
  save: {
    get: (c) => c.save,
    set(c, v) {
      if (v !== "" && !/^(\d+ \d+)( \d+ \d+)*$/.test(v.trim())) return "Invalid save parameters";
      c.save = v.trim();
      return null;
    },
  },
};

/** The encoding thresholds (redis/encodings.ts), under their names and their old aliases. */
function encodingParam(name: keyof EncodingLimits): Param {
  const [min, max] = ENCODING_RANGES[name];
  return {
    get: (c) => String(c.encodings[name]),
    set(c, v) {
      const n = name.endsWith("-bytes") || name.endsWith("-value") ? parseMemory(v) : parseInt64(v);
      if (n === null || n < min || n > max) return `argument must be between ${min} and ${max} inclusive`;
      c.encodings[name] = Number(n);
      return null;
    },
  };
}
for (const name of Object.keys(ENCODING_RANGES) as (keyof EncodingLimits)[]) {
  PARAMS[name] = encodingParam(name);
}
for (const [alias, name] of Object.entries(ENCODING_ALIASES)) PARAMS[alias] = encodingParam(name);
PARAMS["lua-time-limit"] = PARAMS["busy-reply-threshold"];

function config(ctx: Ctx, args: string[]): Reply {
  const sub = upper(args[1]);
  const c = ctx.face.config;
  if (sub === "GET") {
    const out: Reply[] = [];
    const seen = new Set<string>();
    for (const pattern of args.slice(2)) {
      for (const [name, p] of Object.entries(PARAMS)) {
        if (!seen.has(name) && globMatch(pattern, name, true)) {
          seen.add(name);
          out.push(name, p.get(c));
        }
      }
    }
    return new MapReply(out);
  }
  if (sub === "SET") {
    if (args.length < 4 || args.length % 2 !== 0) fail(E.arity("config|set"));
    const pairs: [string, Param, string][] = [];
    for (let i = 2; i < args.length; i += 2) {
      const name = args[i].toLowerCase();
      const p = PARAMS[name];
      if (p === undefined) {
        fail(err(`ERR Unknown option or number of arguments for CONFIG SET - '${args[i]}'`));
      }
      if (p.set === undefined) {
        fail(
          err(
            `ERR CONFIG SET failed (possibly related to argument '${args[i]}') - can't set immutable config`,
          ),
        );
      }
      if (pairs.some(([n]) => n === name)) {
        fail(err(`ERR CONFIG SET failed (possibly related to argument '${args[i]}') - duplicate parameter`));
      }
      pairs.push([name, p, args[i + 1]]);
    }
    const before = { ...c, encodings: { ...c.encodings } };
    for (const [name, p, v] of pairs) {
      const problem = p.set!(c, v);
      if (problem !== null) {
        Object.assign(c, before);
        fail(err(`ERR CONFIG SET failed (possibly related to argument '${name}') - ${problem}`));
      }
    }
    return OK;
  }
  if (sub === "RESETSTAT") {
    const e = ctx.engine.stats, f = ctx.face.stats;
    e.keyspaceHits = e.keyspaceMisses = e.expiredKeys = 0;
    f.totalCommands =
      f.totalConnections =
      f.rejectedConnections =
      f.errorReplies =
      f.protocolErrors =
        0;
    ctx.face.commandStats.clear();
    ctx.face.errorStats.clear();
    return OK;
  }
  if (sub === "REWRITE") fail(err("ERR The server is running without a config file"));
  if (sub === "HELP") {
    return [
      "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "GET <pattern>",
      "    Return parameters matching the glob-like <pattern> and their values.",
      "SET <directive> <value>",
      "    Set the configuration <directive> to <value>.",
      "RESETSTAT",
      "    Reset statistics reported by the INFO command.",
      "REWRITE",
      "    Rewrite the configuration file.",
      "HELP",
      "    Print this help.",
    ].map((s) => new SimpleReply(s));
  }
  fail(err(`ERR unknown subcommand '${args[1]}'. Try CONFIG HELP.`));
}

// ------------------------------------------------------------------ COMMAND

function command(_ctx: Ctx, args: string[]): Reply {
  if (args.length === 1) return topLevelCommands().map(commandInfoReply);
  const sub = upper(args[1]);
  switch (sub) {
    case "COUNT":
      return commandCount();
    case "INFO":
      if (args.length === 2) return topLevelCommands().map(commandInfoReply);
      return args.slice(2).map((n) => {
        const spec = lookupCommandByName(n);
        return spec === undefined ? null : commandInfoReply(spec);
      });
    case "DOCS": {
      const specs = args.length === 2
        ? topLevelCommands()
        : args.slice(2).map((n) => lookupCommandByName(n)).filter((s) => s !== undefined);
      const out: Reply[] = [];
      for (const s of specs) out.push(s!.name, commandDocsReply(s!));
      return new MapReply(out);
    }
    case "LIST": {
      if (args.length === 2) return commandListReply();
      if (args.length !== 5 || upper(args[2]) !== "FILTERBY") fail(E.syntax);
      const kind = upper(args[3]);
      if (kind === "MODULE") return commandListReply({ module: args[4] });
      if (kind === "ACLCAT") return commandListReply({ aclcat: args[4] });
      if (kind === "PATTERN") return commandListReply({ pattern: args[4] });
      fail(E.syntax);
      break;
    }
    case "GETKEYS":
    case "GETKEYSANDFLAGS": {
      const target = args.slice(2);
      const found = lookupCommand(target);
      if ("error" in found) fail(err("ERR Invalid command specified"));
      const spec = found.spec;
      if ((spec.arity > 0 && target.length !== spec.arity) || target.length < -spec.arity) {
        fail(err("ERR Invalid number of arguments specified for command"));
      }
      if (!commandHasKeys(spec)) fail(err("ERR The command has no key arguments"));
      const idx = commandKeys(spec, target);
      if (idx.length === 0) fail(err("ERR Invalid arguments specified for command"));
      if (sub === "GETKEYS") return idx.map((i) => target[i]);
      return idx.map((i) => [target[i], [new SimpleReply("RW")]]);
    }
    case "HELP":
      return [
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "HELP",
        "    Print this help.",
      ].map((s) => new SimpleReply(s));
  }
  fail(err(`ERR unknown subcommand '${args[1]}'. Try COMMAND HELP.`));
}

// ------------------------------------------------------------------ persistence and keyspace-wide

function save(ctx: Ctx, background: boolean): Reply | Deferred {
  if (ctx.engine.saving()) fail(err("ERR Background save already in progress"));
  if (background) {
    ctx.engine.checkpoint((error) => {
      if (error !== undefined) ctx.engine.env.log("error", "background save failed", { error });
    });
    return new SimpleReply("Background saving started");
  }
  return new Deferred((reply) => {
    ctx.engine.checkpoint((error) => reply(error === undefined ? OK : err(`ERR ${error}`)));
  });
}

/**
 * FLUSHDB and FLUSHALL on a node of a cluster: one delete per live key, as one group, so the
 * flush merges like any write (a write made concurrently on another node survives it).
 * Membership (reserved keys) is not the client's to flush.
 */
function deleteAll(ctx: Ctx, dbs: number[]): void {
  for (const db of dbs) {
    for (const [key, ks] of ctx.engine.dbs[db].map) {
      if (ks.type === null || key.startsWith(RESERVED_PREFIX)) continue;
      ctx.batch.write(db, key, ["del"]);
    }
  }
}

function flushMode(args: string[]): void {
  if (args.length > 2) fail(E.syntax);
  if (args.length === 2) {
    const m = upper(args[1]);
    if (m !== "ASYNC" && m !== "SYNC") fail(E.syntax);
  }
}

function memory(ctx: Ctx, args: string[]): Reply {
  const sub = upper(args[1]);
  if (sub === "PURGE") {
    ctx.face.host.purge();
    return OK;
  }
  if (sub === "USAGE") {
    if (args.length !== 3 && !(args.length === 5 && upper(args[3]) === "SAMPLES")) fail(E.syntax);
    if (args.length === 5 && parseInt64(args[4]) === null) fail(E.notInt);
    const ks = ctx.batch.get(ctx.db, args[2]);
    return ks === undefined ? null : args[2].length + ks.bytes + KEY_OVERHEAD_BYTES;
  }
  if (sub === "HELP") {
    return [
      "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "USAGE <key> [SAMPLES <count>]",
      "    Return memory in bytes used by <key> and its value.",
      "PURGE",
      "    Attempt to purge dirty pages for reclamation by the allocator.",
      "HELP",
      "    Print this help.",
    ].map((s) => new SimpleReply(s));
  }
  fail(err(`ERR command 'memory|${args[1].toLowerCase()}' is not supported by this node yet`));
}

export const serverCommands: Record<string, Handler> = {
  memory,
  /** Functions arrive with scripting; until then there are none, so FLUSH has nothing to remove. */
  "function|flush"(_ctx, args) {
    if (args.length > 3 || (args.length === 3 && !["ASYNC", "SYNC"].includes(upper(args[2])))) fail(E.syntax);
    return OK;
  },
  info(ctx, args) {
    const text = infoText(ctx, args.slice(1).map((s) => s.toLowerCase()));
    return ctx.client.resp === 3 ? new VerbatimReply("txt", text) : text;
  },
  config,
  command,
  time(ctx) {
    const us = Math.floor(ctx.engine.env.wallMs() * 1000);
    return [String(Math.floor(us / 1e6)), String(us % 1e6)];
  },
  lastsave: (ctx) => ctx.engine.lastSave(),
  save: (ctx) => save(ctx, false),
  bgsave(ctx, args) {
    if (args.length > 2 || (args.length === 2 && upper(args[1]) !== "SCHEDULE")) fail(E.syntax);
    return save(ctx, true);
  },
  shutdown(ctx, args) {
    let mode: boolean | null = null;
    for (const a of args.slice(1)) {
      const u = upper(a);
      if (u === "NOSAVE") mode = false;
      else if (u === "SAVE") mode = true;
      else if (u !== "NOW" && u !== "FORCE" && u !== "ABORT") fail(E.syntax);
      else if (u === "ABORT") fail(err("ERR No shutdown in progress."));
    }
    return new Deferred((reply) => {
      ctx.face.shutdown(mode, (error) => {
        if (error !== undefined) reply(err(`ERR Errors trying to SHUTDOWN. Check logs. ${error}`));
      });
    });
  },
  flushdb(ctx, args) {
    flushMode(args);
    ctx.face.touchedDbs([ctx.db]);
    if (ctx.engine.clustered) deleteAll(ctx, [ctx.db]);
    else ctx.batch.epoch(["flushdb", ctx.db]);
    return OK;
  },
  flushall(ctx, args) {
    flushMode(args);
    const dbs = ctx.engine.dbs.map((_d, i) => i);
    ctx.face.touchedDbs(dbs);
    if (ctx.engine.clustered) deleteAll(ctx, dbs);
    else ctx.batch.epoch(["flushall"]);
    return OK;
  },
  swapdb(ctx, args) {
    const a = parseInt64(args[1]), b = parseInt64(args[2]);
    if (a === null) fail(err("ERR invalid first DB index"));
    if (b === null) fail(err("ERR invalid second DB index"));
    const n = ctx.engine.dbs.length;
    if (a < 0 || a >= n || b < 0 || b >= n) fail(E.dbIndex);
    if (a === b) return OK;
    if (ctx.engine.clustered) fail(err("ERR SWAPDB is not supported by a node of a cluster yet"));
    ctx.face.touchedDbs([Number(a), Number(b)], true);
    ctx.batch.epoch(["swapdb", Number(a), Number(b)]);
    return OK;
  },
};

export { allCommands };
