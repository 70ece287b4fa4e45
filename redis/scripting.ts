/**
 * Lua scripts: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT, with Redis's sandbox, its
 * `redis.*` library and its conversions between replies and Lua values.
 *
 * A script runs on its command's batch like the body of MULTI/EXEC: every `redis.call` is a
 * command on that batch, so the script's writes are one group, and on a cluster a script that may
 * write runs as one envelope (the face re-runs it when the envelope loses a conflict). A script
 * that runs past `busy-reply-threshold` (`lua-time-limit`) without having touched the data
 * pauses between slices: other clients are answered -BUSY and SCRIPT KILL can stop it. One that
 * has written (or, inside an envelope, read) runs to its end, since its plan must stay whole.
 */
import { createHash } from "node:crypto";
import * as lua from "./lua.ts";
import { LIBS } from "./lua_libs.ts";
import { type Ctx, fail, type Handler, parseInt64, Running, upper } from "./command.ts";
import {
  BoolReply,
  CountedError,
  DoubleReply,
  E,
  err,
  ErrorReply,
  MapReply,
  NullArrayReply,
  OK,
  PushReply,
  type Reply,
  SetReply,
  SimpleReply,
  VerbatimReply,
} from "./reply.ts";
import { formatDouble } from "./resp_encode.ts";
import type { Face } from "./face.ts";

/** Instructions between two looks at the clock while a script runs. */
const HOOK_EVERY = 20_000;
/** How long a script past the busy threshold runs before letting other clients in again. */
const SLICE_MS = 20;
/** Nesting past which a reply or a returned table is refused (Lua's C stack is bounded too). */
const MAX_DEPTH = 500;
/** Scripts between two incremental collection steps. */
const GC_EVERY = 50;
/** Scripts kept by SHA (EVAL caches every body it runs, as Redis does). */
const MAX_SCRIPTS = 100_000;

const E_NOSCRIPT = err("NOSCRIPT No matching script. Please use EVAL.");
const E_BUSY = err("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");
const E_BAD_ARG = "ERR Lua redis lib command arguments must be strings or integers";

export function sha1hex(s: string): string {
  return createHash("sha1").update(Buffer.from(s, "latin1")).digest("hex");
}

/**
 * The prelude: run once per Lua state, before any script. It builds the `redis` library on the
 * host functions, closes what a script must not reach, and returns the sandbox scripts run in,
 * the compiler and the runner.
 */
const PRELUDE = `
local host_call, host_pcall, host_log, host_setresp, host_sha1, seed = ...
-- math.random draws from the node's source of randomness (the simulator's, under test).
math.randomseed(seed)
local G = _G
local error, type, tostring, select, getinfo = error, type, tostring, select, debug.getinfo
local gsub = string.gsub
local rawset, rawget, setmetatable, xpcall = rawset, rawget, setmetatable, xpcall

local readonly = function() error("Attempt to modify a readonly table", 2) end
local next = next
-- Tables a script may read but not change, nor change the metatable of.
local protected = setmetatable({}, { __mode = "k" })
local sealed = setmetatable({}, { __newindex = readonly, __metatable = false })
protected[sealed] = true
local function locked(t)
  local proxy = setmetatable({}, {
    __index = t,
    __newindex = readonly,
    __pairs = function() return next, t, nil end,
    __len = function() return #t end,
    __metatable = sealed,
  })
  protected[proxy] = true
  return proxy
end

local redis = {}
-- Host functions, not Lua wrappers: a tail call (return redis.call(...)) keeps the script's
-- frame under a C function, so an error still knows the script line it came from.
redis.call = host_call
redis.pcall = host_pcall
redis.error_reply = function(e)
  if type(e) ~= "string" then error("wrong number or type of arguments", 2) end
  return { err = e }
end
redis.status_reply = function(s)
  if type(s) ~= "string" then error("wrong number or type of arguments", 2) end
  return { ok = s }
end
redis.sha1hex = function(...)
  if select("#", ...) ~= 1 then error("wrong number of arguments", 2) end
  return host_sha1(tostring((...)))
end
redis.log = function(level, ...)
  if select("#", ...) == 0 then error("redis.log() requires two arguments or more.", 2) end
  if type(level) ~= "number" then error("First argument must be a number (log level).", 2) end
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  host_log(level, table.concat(parts, " "))
end
redis.setresp = function(v)
  if v ~= 2 and v ~= 3 then error("RESP version must be 2 or 3.", 2) end
  host_setresp(v)
end
redis.set_repl = function(v)
  if type(v) ~= "number" or v < 0 or v > 3 then error("Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.", 2) end
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3

-- What Lua 5.1 scripts (Redis's dialect) expect to find.
unpack = table.unpack
math.pow = function(x, y) return x ^ y end
math.mod = math.fmod
table.getn = function(t) return #t end
local rawload = load

-- What a script must not reach: the file system, processes, the registry.
local clock = os.clock
for _, name in ipairs({ "io", "os", "package", "debug", "coroutine", "utf8" }) do
  package.loaded[name] = nil
end
io, package, require, dofile, loadfile, print, collectgarbage = nil, nil, nil, nil, nil, nil, nil
os = { clock = clock }
debug = { traceback = debug.traceback }

for _, name in ipairs({ "string", "table", "math", "os", "debug", "coroutine", "utf8", "bit", "cjson", "cmsgpack", "struct" }) do
  if G[name] then G[name] = locked(G[name]) end
end
G.redis = locked(redis)

-- Scripts see the globals through a read-only view that refuses unknown names.
local env = setmetatable({}, {
  __index = function(_, k)
    local v = rawget(G, k)
    if v == nil then error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2) end
    return v
  end,
  __newindex = readonly,
  __metatable = sealed,
})
protected[env] = true
G._G = env
-- Chunks a script loads see what the script sees, and are never bytecode.
G.load = function(chunk, name, _, e)
  if e == nil then e = env end
  return rawload(chunk, name, "t", e)
end
G.loadstring = G.load
rawset = function(t, k, v)
  if protected[t] or t == G then readonly() end
  return rawset(t, k, v)
end
G.setmetatable = function(t, mt)
  if protected[t] or t == G then readonly() end
  -- A finalizer would run inside whichever script next collects garbage.
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("__gc metamethods are not allowed in scripts", 2)
  end
  return setmetatable(t, mt)
end
-- Strings share one metatable: scripts may not change it (nor what "x":upper() finds).
do
  local smt = getmetatable("")
  smt.__metatable = sealed
end
setmetatable(G, { __metatable = false })

local function compile(src)
  return rawload(src, "@user_script", "t", env)
end

-- The line of the script an error came from, and the error as {err=...}.
local function handler(e)
  local line
  for level = 2, 64 do
    local i = getinfo(level, "Sl")
    if i == nil then break end
    if i.source == "@user_script" then line = i.currentline break end
  end
  if type(e) == "table" and type(rawget(e, "err")) == "string" then
    return { err = rawget(e, "err"), line = line, ignore_error_stats_update = rawget(e, "ignore_error_stats_update") }
  end
  e = tostring(e)
  -- Lua 5.1's wording, which Redis users see: "attempt to call field 'x' (a nil value)".
  e = gsub(e, "attempt to (%a+) a (%a+) value %((%a+) '([^']*)'%)", "attempt to %1 %3 '%4' (a %2 value)")
  return { err = "ERR " .. e, line = line }
end

local function run(f)
  return xpcall(f, handler)
end

return compile, run
`;

/** The libraries of redis/lua_libs.ts, in the order that chunk returns them. */
const LIBRARIES = ["bit", "cjson", "cmsgpack", "struct"];

const HOST_FUNCTIONS = ["__host_call", "__host_pcall", "__host_log", "__host_setresp", "__host_sha1"];

/** One script being run (possibly paused between slices). */
interface Run {
  readonly sha: string;
  readonly thread: lua.State;
  readonly ref: number;
  readonly startedMs: number;
  readonly readOnly: boolean;
  /** Past maxmemory, writes that may grow memory go through (shebang allow-oom). */
  readonly allowOom: boolean;
  /** The db the client had selected when the script started (SELECT in a script is its own). */
  readonly callerDb: number;
  /** The command's context of the current slice. */
  ctx: Ctx;
  sliceStartMs: number;
  /** The count hook asked the thread to pause. */
  pausedByHook: boolean;
  /** Pausing is allowed in this run (a top-level EVAL, not one inside EXEC). */
  mayPause: boolean;
  killed: boolean;
  /** The run is being torn down: the hook stops any code still running in it. */
  ending: boolean;
}

/** The Lua state of a node and its script cache. */
export class Scripting {
  readonly L: lua.State;
  readonly #compileRef: number;
  readonly #runRef: number;
  /** Lua's collectgarbage (the sandbox removes the global). */
  readonly #gcRef: number;
  /** SHA1 of the body -> registry reference of its compiled function, and its shebang flags. */
  readonly #scripts = new Map<string, { ref: number; flags: ScriptFlags }>();
  /** The script running now, or paused past the busy threshold. */
  current: Run | null = null;
  #resp: 2 | 3 = 2;
  /** The count hook every script thread runs (one function-table slot for the node's life). */
  readonly #hookFn = lua.makeHook((T) => this.#hook(T));
  /** Function-table slots of the host functions and the hook (freed by `close`). */
  readonly #functions: number[] = [];
  /** Scripts run since the last incremental collection step. */
  #sinceGc = 0;
  /** A reset thread waiting for the next script. */
  #idle: { thread: lua.State; ref: number } | null = null;

  constructor(readonly face: Face) {
    const L = this.L = lua.newState();
    this.#functions.push(
      lua.setFunction(L, "__host_call", (T) => this.#hostCall(T, true)),
      lua.setFunction(L, "__host_pcall", (T) => this.#hostCall(T, false)),
      lua.setFunction(L, "__host_log", (T) => this.#hostLog(T)),
      lua.setFunction(L, "__host_setresp", (T) => {
        this.#resp = lua.toInteger(T, 1) === 3 ? 3 : 2;
        return 0;
      }),
      lua.setFunction(L, "__host_sha1", (T) => {
        lua.pushString(T, sha1hex(lua.toString(T, 1) ?? ""));
        return 1;
      }),
      this.#hookFn,
    );
    lua.getGlobal(L, "collectgarbage");
    this.#gcRef = lua.ref(L);
    const libsError = lua.load(L, LIBS, "=libs");
    if (libsError !== null) throw new Error(`Lua libraries: ${libsError}`);
    lua.pushLightNull(L);
    const libsFailed = lua.pcall(L, 1, LIBRARIES.length);
    if (libsFailed !== null) throw new Error(`Lua libraries: ${libsFailed}`);
    for (let i = LIBRARIES.length - 1; i >= 0; i--) lua.rawSetGlobal(L, LIBRARIES[i]);
    const e = lua.load(L, PRELUDE, "=prelude");
    if (e !== null) throw new Error(`Lua prelude: ${e}`);
    for (const name of HOST_FUNCTIONS) lua.getGlobal(L, name);
    lua.pushInteger(L, Math.floor(face.env.random() * 2 ** 52));
    const failed = lua.pcall(L, HOST_FUNCTIONS.length + 1, 2);
    if (failed !== null) throw new Error(`Lua prelude: ${failed}`);
    this.#runRef = lua.ref(L);
    this.#compileRef = lua.ref(L);
    for (const name of HOST_FUNCTIONS) {
      lua.pushNil(L);
      lua.rawSetGlobal(L, name);
    }
  }

  /** Number of cached scripts (INFO number_of_cached_scripts). */
  get cached(): number {
    return this.#scripts.size;
  }

  memoryBytes(): number {
    return lua.memoryBytes(this.L, this.#gcRef);
  }

  /** Compiles and caches `body`; returns its SHA, or the error reply. */
  load(body: string): { sha: string } | { error: ErrorReply } {
    const sha = sha1hex(body);
    if (this.#scripts.has(sha)) return { sha };
    const parsed = shebang(body);
    if ("error" in parsed) return parsed;
    if (this.#scripts.size >= MAX_SCRIPTS) {
      for (const s of this.#scripts.values()) lua.unref(this.L, s.ref);
      this.#scripts.clear();
    }
    const L = this.L;
    lua.pushRef(L, this.#compileRef);
    lua.pushString(L, parsed.source);
    const e = lua.pcall(L, 1, 2);
    if (e !== null) return { error: err(`ERR Error compiling script (new function): ${e}`) };
    if (lua.type(L, -2) !== lua.T.FUNCTION) {
      const msg = lua.toString(L, -1) ?? "unknown error";
      lua.pop(L, 2);
      return { error: err(`ERR Error compiling script (new function): ${msg}`) };
    }
    lua.pop(L);
    this.#scripts.set(sha, { ref: lua.ref(L), flags: parsed.flags });
    return { sha };
  }

  exists(sha: string): boolean {
    return this.#scripts.has(sha.toLowerCase());
  }

  /** Frees the Lua state and everything in it (SCRIPT FLUSH makes a new one, as Redis does). */
  close(): void {
    lua.close(this.L);
    for (const ptr of this.#functions) lua.freeFunction(ptr);
    this.#scripts.clear();
    this.#idle = null;
    this.current = null;
  }

  /**
   * Starts script `sha` with its keys and arguments; runs it until it ends or pauses. `readOnly`
   * for EVAL_RO/EVALSHA_RO (and scripts flagged no-writes).
   */
  start(ctx: Ctx, sha: string, keys: string[], argv: string[], readOnly: boolean): Reply | Running {
    const script = this.#scripts.get(sha);
    if (script === undefined) return E_NOSCRIPT;
    // One script at a time holds the Lua state (a paused one answers everyone else -BUSY).
    if (this.current !== null) return E_BUSY;
    const flags = script.flags;
    if (readOnly && flags.shebang && !flags.noWrites) {
      return err("ERR Can not run script with write flag on readonly command");
    }
    // A script that declares its flags is refused whole past maxmemory unless it may not write
    // or allows it; one without a shebang is judged command by command.
    if (flags.shebang && !flags.noWrites && !flags.allowOom && this.face.overMaxmemory()) {
      return err("OOM command not allowed when used memory > 'maxmemory'.");
    }
    const L = this.L;
    setArray(L, "KEYS", keys);
    setArray(L, "ARGV", argv);
    // A finished thread is reset and kept for the next script: making one per call costs garbage.
    const { thread, ref } = this.#idle ?? lua.newThread(L);
    this.#idle = null;
    lua.pushRef(L, this.#runRef);
    lua.pushRef(L, script.ref);
    lua.xmove(L, thread, 2);
    const now = this.face.env.monotonicMs();
    const run: Run = {
      sha,
      thread,
      ref,
      startedMs: now,
      readOnly: readOnly || flags.noWrites,
      allowOom: flags.allowOom || flags.noWrites,
      callerDb: ctx.client.db,
      ctx,
      sliceStartMs: now,
      pausedByHook: false,
      mayPause: ctx.mayPause === true,
      killed: false,
      ending: false,
    };
    lua.setCountHook(thread, this.#hookFn, HOOK_EVERY);
    this.#resp = 2;
    return this.#slice(run, 1);
  }

  /** Asks the paused script to stop (SCRIPT KILL); the face resumes it to collect the error. */
  kill(): void {
    if (this.current !== null) this.current.killed = true;
  }

  #hook(T: lua.State): void {
    const run = this.current;
    if (run === null) return;
    // A run being torn down (killed, failed, its client gone) stops whatever still runs: a
    // __close handler of a to-be-closed variable, say.
    if (run.ending) {
      lua.pushString(T, "ERR Script killed");
      lua.raise(T);
    }
    // A coroutine the script made is never paused (that would look like its own yield), nor code
    // inside a C call (a sort comparator, a gsub callback), which Lua cannot suspend.
    if (!run.mayPause || T !== run.thread || !lua.isYieldable(T)) return;
    const now = this.face.env.monotonicMs();
    if (now - run.startedMs < this.face.config.busyReplyThresholdMs) return;
    if (now - run.sliceStartMs < SLICE_MS && this.current === run) return;
    const batch = run.ctx.batch;
    if (!batch.readOnly() || (batch.reads !== null && batch.reads.length > 0)) return;
    run.pausedByHook = true;
    lua.yieldFromHook(T);
  }

  /** Runs (or resumes) `run`; `nargs` values wait on its stack. */
  #slice(run: Run, nargs: number): Reply | Running {
    this.current = run;
    run.sliceStartMs = this.face.env.monotonicMs();
    run.pausedByHook = false;
    const { status, nres } = lua.resume(run.thread, this.L, nargs);
    if (status === lua.LUA_YIELD && run.pausedByHook) {
      return new Running((ctx) => {
        run.ctx = ctx;
        if (run.killed) {
          this.#end(run);
          return err("ERR Script killed by user with SCRIPT KILL...");
        }
        return this.#slice(run, 0);
      }, () => this.#end(run));
    }
    try {
      return this.#result(run, status, nres);
    } finally {
      this.#end(run);
    }
  }

  /** The reply of a run that ended with `status`, its `nres` results on its stack. */
  #result(run: Run, status: number, nres: number): Reply {
    let reply: Reply;
    const T = run.thread;
    if (status === lua.LUA_YIELD) {
      reply = err("ERR attempt to yield across a C-call boundary");
    } else if (status !== lua.LUA_OK) {
      // Out of memory, or an error inside the error handler: the value is Lua's message.
      reply = err(`ERR Error running script: ${lua.toString(T, -1) ?? "unknown error"}`);
    } else {
      // The runner returns xpcall's results: true and the script's value, or false and {err, line}
      // (a string when the handler itself could not run, out of memory say).
      const base = lua.top(T) - nres + 1;
      if (lua.toBoolean(T, base)) {
        reply = nres >= 2 ? toReply(T, base + 1, this.#resp, 0) : null;
      } else if (lua.type(T, base + 1) !== lua.T.TABLE) {
        reply = err(`ERR Error running script: ${lua.toString(T, base + 1) ?? "unknown error"}`);
      } else {
        lua.rawGetField(T, base + 1, "err");
        const msg = lua.toString(T, -1) ?? "ERR unknown error";
        lua.pop(T);
        lua.rawGetField(T, base + 1, "line");
        const line = lua.type(T, -1) === lua.T.NUMBER ? lua.toInteger(T, -1) : null;
        lua.pop(T);
        const text = (msg === "" ? "ERR" : msg) +
          (line !== null ? ` script: ${run.sha}, on @user_script:${line}.` : "");
        reply = counted(T, base + 1) ? new CountedError(text) : err(text);
      }
    }
    return reply;
  }

  /** Lets go of a run (ended, killed, or its client gone). */
  #end(run: Run): void {
    if (run.ending) return;
    run.ending = true;
    run.ctx.client.db = run.callerDb;
    // Closing runs pending __close handlers; the hook (still on) stops them.
    this.current = run;
    lua.closeThread(run.thread);
    lua.setCountHook(run.thread, 0, 0);
    this.current = null;
    if (this.#idle === null) this.#idle = { thread: run.thread, ref: run.ref };
    else lua.unref(this.L, run.ref);
    // Every so many scripts, some collection work, so garbage does not wait for the next
    // allocation-driven step (what Redis does too).
    if (++this.#sinceGc >= GC_EVERY) {
      this.#sinceGc = 0;
      lua.collectStep(this.L, this.#gcRef, GC_EVERY);
    }
  }

  /** redis.call (`raises`: an error reply is raised as {err=...}) and redis.pcall (it is returned). */
  #hostCall(T: lua.State, raises: boolean): number {
    const run = this.current;
    const n = lua.top(T);
    let error: string | null = null;
    let reply: Reply = null;
    if (run === null || run.ending) {
      error = "ERR redis.call is only available inside a running script";
    } else if (n === 0) {
      error = "ERR Please specify at least one argument for this redis lib call";
    } else {
      const args: string[] = [];
      for (let i = 1; i <= n && error === null; i++) {
        const t = lua.type(T, i);
        if (t === lua.T.STRING) args.push(lua.toString(T, i)!);
        else if (t === lua.T.NUMBER) args.push(numberArg(T, i));
        else error = E_BAD_ARG;
      }
      if (error === null) {
        try {
          reply = this.face.callFromScript(run.ctx, args, run.readOnly, run.allowOom);
        } catch (e) {
          reply = err(`ERR ${(e as Error)?.message ?? String(e)}`);
        }
        if (reply instanceof ErrorReply) error = reply.s;
      }
    }
    lua.setTop(T, 0);
    let pushed = false;
    if (error === null) {
      try {
        pushed = pushReply(T, reply, this.#resp, 0);
      } catch (e) {
        this.face.env.log("error", "script reply conversion failed", { error: String(e) });
      }
      if (!pushed) {
        lua.setTop(T, 0);
        error = "ERR reached lua stack limit";
      }
    }
    if (error === null) return 1;
    lua.newTable(T, 0, 2);
    lua.pushString(T, error);
    lua.setField(T, -2, "err");
    // The face counted this error when the command failed (INFO errorstats counts it once).
    lua.pushBoolean(T, true);
    lua.setField(T, -2, "ignore_error_stats_update");
    if (raises) lua.raise(T);
    return 1;
  }

  #hostLog(T: lua.State): number {
    const level = lua.toInteger(T, 1);
    const msg = lua.toString(T, 2) ?? "";
    const name = level === 3 ? "warn" : level === 2 ? "info" : "debug";
    this.face.env.log(name, msg, { source: "script" });
    return 0;
  }
}

/** KEYS / ARGV: a fresh table of strings, set without the sandbox's guard. */
function setArray(L: lua.State, name: string, values: string[]): void {
  lua.newTable(L, values.length, 0);
  for (let i = 0; i < values.length; i++) {
    lua.pushString(L, values[i]);
    lua.rawSetI(L, -2, i + 1);
  }
  lua.rawSetGlobal(L, name);
}

/** A number passed to redis.call, written as Lua 5.1 wrote it (%.17g, integral values bare). */
function numberArg(T: lua.State, i: number): string {
  if (lua.isInteger(T, i)) return String(lua.toInteger(T, i));
  const n = lua.toNumber(T, i);
  if (Number.isInteger(n) && Math.abs(n) < 1e15) return String(n);
  if (!Number.isFinite(n)) return Number.isNaN(n) ? "nan" : n > 0 ? "inf" : "-inf";
  return String(Number(n.toPrecision(17)));
}

/** What a script's shebang line declares (`#!lua flags=no-writes,allow-oom`). */
interface ScriptFlags {
  /** The script has a shebang line: its flags replace the legacy defaults. */
  readonly shebang: boolean;
  readonly noWrites: boolean;
  readonly allowOom: boolean;
}

/** The shebang line: the body to compile and its flags. */
function shebang(body: string): { source: string; flags: ScriptFlags } | { error: ErrorReply } {
  if (!body.startsWith("#!")) {
    return { source: body, flags: { shebang: false, noWrites: false, allowOom: false } };
  }
  const eol = body.indexOf("\n");
  const line = eol < 0 ? body.slice(2) : body.slice(2, eol);
  const parts = line.split(" ").filter((p) => p !== "");
  if (parts[0] !== "lua") {
    return { error: err(`ERR Unexpected engine in script shebang: ${parts[0] ?? ""}`) };
  }
  let noWrites = false, allowOom = false;
  for (const part of parts.slice(1)) {
    if (!part.startsWith("flags=")) return { error: err(`ERR Unknown lua shebang option: ${part}`) };
    for (const flag of part.slice(6).split(",")) {
      if (flag === "") continue;
      if (flag === "no-writes") noWrites = true;
      else if (flag === "allow-oom") allowOom = true;
      else if (!["allow-stale", "no-cluster", "allow-cross-slot-keys"].includes(flag)) {
        return { error: err(`ERR Unexpected flag in script shebang: ${flag}`) };
      }
    }
  }
  // The shebang line stays a comment for Lua, so line numbers match the body's.
  return { source: "--" + body.slice(2), flags: { shebang: true, noWrites, allowOom } };
}

/** A command's reply as a Lua value, the way a RESP2 (or, after redis.setresp(3), RESP3) client sees it. */
function pushReply(T: lua.State, r: Reply, resp: 2 | 3, depth: number): boolean {
  if (depth > MAX_DEPTH) return false;
  if (typeof r === "string") lua.pushString(T, r);
  else if (typeof r === "number" || typeof r === "bigint") lua.pushInteger(T, r);
  else if (r === null || r instanceof NullArrayReply) {
    if (resp === 2) lua.pushBoolean(T, false);
    else lua.pushNil(T);
  } else if (Array.isArray(r) || r instanceof PushReply || (resp === 2 && r instanceof SetReply)) {
    const items = Array.isArray(r) ? r : (r as PushReply | SetReply).items;
    if (!pushArray(T, items, resp, depth)) return false;
  } else if (r instanceof SimpleReply) {
    pushField(T, "ok", () => lua.pushString(T, r.s));
  } else if (r instanceof ErrorReply) {
    pushField(T, "err", () => lua.pushString(T, r.s));
  } else if (r instanceof MapReply) {
    if (resp === 2) return pushArray(T, r.entries, resp, depth);
    lua.checkStack(T, 6);
    lua.newTable(T, 0, 1);
    lua.newTable(T, 0, r.entries.length / 2);
    for (let i = 0; i < r.entries.length; i += 2) {
      if (!pushReply(T, r.entries[i], resp, depth + 1)) return false;
      if (!pushReply(T, r.entries[i + 1], resp, depth + 1)) return false;
      lua.rawSet(T, -3);
    }
    lua.setField(T, -2, "map");
  } else if (r instanceof SetReply) {
    lua.checkStack(T, 6);
    lua.newTable(T, 0, 1);
    lua.newTable(T, 0, r.items.length);
    for (const item of r.items) {
      if (!pushReply(T, item, resp, depth + 1)) return false;
      lua.pushBoolean(T, true);
      lua.rawSet(T, -3);
    }
    lua.setField(T, -2, "set");
  } else if (r instanceof DoubleReply) {
    if (resp === 2) lua.pushString(T, r.text ?? formatDouble(r.n));
    else pushField(T, "double", () => lua.pushNumber(T, r.n));
  } else if (r instanceof BoolReply) {
    if (resp === 2) lua.pushInteger(T, r.b ? 1 : 0);
    else lua.pushBoolean(T, r.b);
  } else if (r instanceof VerbatimReply) {
    if (resp === 2) lua.pushString(T, r.s);
    else {
      lua.newTable(T, 0, 1);
      lua.newTable(T, 0, 2);
      lua.pushString(T, r.s);
      lua.setField(T, -2, "string");
      lua.pushString(T, r.format);
      lua.setField(T, -2, "format");
      lua.setField(T, -2, "verbatim_string");
    }
  } else lua.pushNil(T);
  return true;
}

function pushArray(T: lua.State, items: Reply[], resp: 2 | 3, depth: number): boolean {
  lua.checkStack(T, 4);
  lua.newTable(T, items.length, 0);
  for (let i = 0; i < items.length; i++) {
    if (!pushReply(T, items[i], resp, depth + 1)) return false;
    lua.rawSetI(T, -2, i + 1);
  }
  return true;
}

/** The keys (with `values`, keys and values) of the table on top, as replies; pops the table. */
function entries(T: lua.State, resp: 2 | 3, depth: number, values: boolean): Reply[] {
  const out: Reply[] = [];
  const t = lua.top(T);
  lua.pushNil(T);
  while (lua.next(T, t)) {
    out.push(toReply(T, -2, resp, depth + 1));
    if (values) out.push(toReply(T, -1, resp, depth + 1));
    lua.pop(T);
  }
  lua.pop(T);
  return out;
}

/** True when the error table at `i` comes from a command the face already counted. */
function counted(T: lua.State, i: number): boolean {
  lua.rawGetField(T, i, "ignore_error_stats_update");
  const b = lua.toBoolean(T, -1);
  lua.pop(T);
  return b;
}

/** Pushes `{[name] = value}`, the value pushed by `value`. */
function pushField(T: lua.State, name: string, value: () => void): void {
  lua.newTable(T, 0, 1);
  value();
  lua.setField(T, -2, name);
}

/**
 * The script's value at `i` as a reply: numbers become integers (truncated), strings bulk strings,
 * true 1 and false nil (RESP3: booleans), tables arrays up to their first nil, and the tables
 * `{err=}`, `{ok=}`, `{double=}`, `{map=}`, `{set=}`, `{big_number=}`, `{verbatim_string=}`
 * the matching replies.
 */
function toReply(T: lua.State, i: number, resp: 2 | 3, depth: number): Reply {
  const idx = i < 0 ? lua.top(T) + i + 1 : i;
  switch (lua.type(T, idx)) {
    case lua.T.STRING:
      return lua.toString(T, idx)!;
    case lua.T.NUMBER: {
      if (lua.isInteger(T, idx)) return lua.toInteger(T, idx);
      const n = Math.trunc(lua.toNumber(T, idx));
      return Number.isFinite(n) ? n : 0;
    }
    case lua.T.BOOLEAN: {
      const b = lua.toBoolean(T, idx);
      if (resp === 3) return new BoolReply(b);
      return b ? 1 : null;
    }
    case lua.T.TABLE:
      break;
    default:
      return null;
  }
  if (depth > MAX_DEPTH) return err("ERR reached lua stack limit");
  lua.checkStack(T, 4);
  const field = (name: string): number => lua.rawGetField(T, idx, name);
  if (field("err") === lua.T.STRING) {
    const s = lua.toString(T, -1)!;
    lua.pop(T);
    const text = s === "" ? "ERR" : s.replace(/[\r\n]/g, " ");
    return counted(T, idx) ? new CountedError(text) : err(text);
  }
  lua.pop(T);
  if (field("ok") === lua.T.STRING) {
    const s = lua.toString(T, -1)!;
    lua.pop(T);
    return new SimpleReply(s.replace(/[\r\n]/g, " "));
  }
  lua.pop(T);
  if (field("double") === lua.T.NUMBER) {
    const n = lua.toNumber(T, -1);
    lua.pop(T);
    return new DoubleReply(n);
  }
  lua.pop(T);
  if (field("big_number") === lua.T.STRING) {
    const s = lua.toString(T, -1)!;
    lua.pop(T);
    return s;
  }
  lua.pop(T);
  if (field("map") === lua.T.TABLE) return new MapReply(entries(T, resp, depth, true));
  lua.pop(T);
  if (field("set") === lua.T.TABLE) return new SetReply(entries(T, resp, depth, false));
  lua.pop(T);
  if (field("verbatim_string") === lua.T.TABLE) {
    const v = lua.top(T);
    lua.rawGetField(T, v, "format");
    const format = lua.toString(T, -1) ?? "txt";
    lua.rawGetField(T, v, "string");
    const s = lua.toString(T, -1) ?? "";
    lua.pop(T, 3);
    return new VerbatimReply(format, s);
  }
  lua.pop(T);
  const out: Reply[] = [];
  for (let n = 1;; n++) {
    if (lua.rawGetI(T, idx, n) === lua.T.NIL) {
      lua.pop(T);
      break;
    }
    out.push(toReply(T, -1, resp, depth + 1));
    lua.pop(T);
  }
  return out;
}

// ------------------------------------------------------------------ commands

/** EVAL script numkeys key... arg... (and its forms): the keys and arguments, or an error. */
function splitArgs(args: string[]): { keys: string[]; argv: string[] } {
  const n = parseInt64(args[2]);
  if (n === null) fail(E.notInt);
  if (n < 0) fail(err("ERR Number of keys can't be negative"));
  if (n > args.length - 3) fail(err("ERR Number of keys can't be greater than number of args"));
  const k = Number(n);
  return { keys: args.slice(3, 3 + k), argv: args.slice(3 + k) };
}

function evalBody(readOnly: boolean): Handler {
  return (ctx, args) => {
    const { keys, argv } = splitArgs(args);
    const s = ctx.face.scripting();
    const loaded = s.load(args[1]);
    if ("error" in loaded) return loaded.error;
    return s.start(ctx, loaded.sha, keys, argv, readOnly);
  };
}

function evalSha(readOnly: boolean): Handler {
  return (ctx, args) => {
    const { keys, argv } = splitArgs(args);
    const s = ctx.face.scripting();
    const sha = args[1].toLowerCase();
    if (!s.exists(sha)) return E_NOSCRIPT;
    return s.start(ctx, sha, keys, argv, readOnly);
  };
}

const SCRIPT_HELP = [
  "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "EXISTS <sha1> [<sha1> ...]",
  "    Return information about the existence of the scripts in the script cache.",
  "FLUSH [ASYNC|SYNC]",
  "    Flush the Lua scripts cache. Very dangerous on replicas.",
  "    When called without the optional mode argument, the behavior is determined by the",
  "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
  "    * ASYNC: Asynchronously flush the scripts cache.",
  "    * SYNC: Synchronously flush the scripts cache.",
  "KILL",
  "    Kill the currently executing Lua script.",
  "LOAD <script>",
  "    Load a script into the scripts cache without executing it.",
  "HELP",
  "    Print this help.",
].map((s) => new SimpleReply(s));

const script: Handler = (ctx, args) => {
  switch (upper(args[1])) {
    case "LOAD": {
      const loaded = ctx.face.scripting().load(args[2]);
      return "error" in loaded ? loaded.error : loaded.sha;
    }
    case "EXISTS": {
      const s = ctx.face.scripting();
      return args.slice(2).map((sha) => (s.exists(sha) ? 1 : 0));
    }
    case "FLUSH":
      if (args.length > 3 || (args.length === 3 && !["ASYNC", "SYNC"].includes(upper(args[2])))) {
        return err("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
      }
      ctx.face.flushScripts();
      return OK;
    case "KILL":
      return ctx.face.killScript();
    case "HELP":
      return SCRIPT_HELP;
    case "DEBUG":
      // There is no Lua debugger (LDB).
      return fail(err("ERR command 'script|debug' is not supported by this node yet"));
  }
  return err(`ERR unknown subcommand '${args[1]}'. Try SCRIPT HELP.`);
};

export const scriptingCommands: Record<string, Handler> = {
  eval: evalBody(false),
  eval_ro: evalBody(true),
  evalsha: evalSha(false),
  evalsha_ro: evalSha(true),
  script,
};
