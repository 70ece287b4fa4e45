/** Connection commands: PING, ECHO, HELLO, AUTH, QUIT, RESET, SELECT, CLIENT. */
import { type Ctx, fail, type Handler, parseInt64, upper } from "./command.ts";
import type { Client } from "./client.ts";
import { E, err, MapReply, OK, PONG, type Reply, SimpleReply, VerbatimReply } from "./reply.ts";

const WRONGPASS = err("WRONGPASS invalid username-password pair or user is disabled.");

function checkPassword(ctx: Ctx, user: string, pass: string): boolean {
  const want = ctx.face.config.requirepass;
  if (user !== "default") return false;
  return want === "" ? true : pass === want;
}

/** Redis rejects names with spaces, newlines and other non-printable characters. */
function validName(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126) return false;
  }
  return true;
}

function helloReply(ctx: Ctx): Reply {
  return new MapReply([
    "server",
    "redis",
    "version",
    ctx.face.version,
    "proto",
    ctx.client.resp,
    "id",
    ctx.client.id,
    "mode",
    "standalone",
    "role",
    "master",
    "modules",
    [],
  ]);
}

/** One line of CLIENT LIST / CLIENT INFO for `c`. */
export function clientLine(ctx: Ctx, c: Client): string {
  const now = ctx.engine.env.monotonicMs();
  const flags = (c.multi !== null ? "x" : "") + (c.noEvict ? "e" : "") + (c.noTouch ? "T" : "") || "N";
  // Like Redis, the running command still counts in its client's query buffer.
  const qbuf = c.queryBufferBytes() + (c === ctx.client ? respSize(c.currentArgs) : 0);
  return [
    `id=${c.id}`,
    `addr=${c.addr}`,
    `laddr=${c.laddr}`,
    `fd=${c.id + 7}`,
    `name=${c.name}`,
    `age=${Math.floor((now - c.createdMs) / 1000)}`,
    `idle=${Math.floor((now - c.lastInteractionMs) / 1000)}`,
    `flags=${flags}`,
    `db=${c.db}`,
    `sub=0`,
    `psub=0`,
    `ssub=0`,
    `multi=${c.multi === null ? -1 : c.multi.length}`,
    `watch=${c.watched.size}`,
    `qbuf=${qbuf}`,
    `qbuf-free=0`,
    `argv-mem=0`,
    `multi-mem=0`,
    `rbs=1024`,
    `rbp=0`,
    `obl=0`,
    `oll=0`,
    `omem=${c.outputBytes()}`,
    `tot-mem=${qbuf + c.outputBytes() + 1024}`,
    `events=r`,
    `cmd=${c.lastCommand}`,
    `user=default`,
    `redir=-1`,
    `resp=${c.resp}`,
    `lib-name=${c.libName}`,
    `lib-ver=${c.libVer}`,
  ].join(" ");
}

/** Bytes of `args` as a RESP multibulk request. */
function respSize(args: readonly string[]): number {
  let n = 3 + String(args.length).length;
  for (const a of args) n += 5 + String(a.length).length + a.length;
  return n;
}

function onOff(s: string): boolean {
  const u = upper(s);
  if (u === "ON") return true;
  if (u === "OFF") return false;
  fail(E.syntax);
}

function clientKill(ctx: Ctx, args: string[]): Reply {
  // Old form: CLIENT KILL addr:port
  if (args.length === 3) {
    const target = [...ctx.face.clients.values()].find((c) => c.addr === args[2]);
    if (target === undefined) fail(err("ERR No such client"));
    if (target === ctx.client) ctx.client.quit();
    else target.kill();
    return OK;
  }
  if ((args.length - 2) % 2 !== 0) fail(E.syntax);
  const filters: ((c: Client) => boolean)[] = [];
  let skipMe = true;
  for (let i = 2; i < args.length; i += 2) {
    const opt = upper(args[i]), v = args[i + 1];
    switch (opt) {
      case "ID": {
        const ids = v.split(/\s+/).map((x) => parseInt64(x));
        if (ids.some((x) => x === null || Number(x) <= 0)) {
          fail(err("ERR client-id should be greater than 0"));
        }
        filters.push((c) => ids.some((x) => Number(x) === c.id));
        break;
      }
      case "ADDR":
        filters.push((c) => c.addr === v);
        break;
      case "LADDR":
        filters.push((c) => c.laddr === v);
        break;
      case "TYPE": {
        const t = v.toLowerCase();
        if (!["normal", "master", "replica", "slave", "pubsub"].includes(t)) {
          fail(err(`ERR Unknown client type '${v}'`));
        }
        filters.push(() => t === "normal");
        break;
      }
      case "USER":
        if (v !== "default") fail(err(`ERR No such user '${v}'`));
        break;
      case "SKIPME": {
        const u = upper(v);
        if (u !== "YES" && u !== "NO") fail(E.syntax);
        skipMe = u === "YES";
        break;
      }
      case "MAXAGE": {
        const age = parseInt64(v);
        if (age === null) fail(E.notInt);
        if (age <= 0) fail(err("ERR maxage should be greater than 0"));
        const now = ctx.engine.env.monotonicMs();
        filters.push((c) => (now - c.createdMs) / 1000 >= Number(age));
        break;
      }
      default:
        fail(E.syntax);
    }
  }
  let n = 0;
  for (const c of [...ctx.face.clients.values()]) {
    if (skipMe && c === ctx.client) continue;
    if (!filters.every((f) => f(c))) continue;
    if (c === ctx.client) ctx.client.quit();
    else c.kill();
    n++;
  }
  return n;
}

function client(ctx: Ctx, args: string[]): Reply {
  const sub = upper(args[1]);
  const c = ctx.client;
  switch (sub) {
    case "ID":
      return c.id;
    case "GETNAME":
      return c.name === "" ? null : c.name;
    case "SETNAME":
      if (!validName(args[2])) {
        fail(err("ERR Client names cannot contain spaces, newlines or special characters."));
      }
      c.name = args[2];
      return OK;
    case "SETINFO": {
      const attr = upper(args[2]);
      if (attr !== "LIB-NAME" && attr !== "LIB-VER") fail(err(`ERR Unrecognized option '${args[2]}'`));
      if (!validName(args[3])) {
        fail(
          err(
            `ERR ${
              attr === "LIB-NAME" ? "lib-name" : "lib-ver"
            } cannot contain spaces, newlines or special characters.`,
          ),
        );
      }
      if (attr === "LIB-NAME") c.libName = args[3];
      else c.libVer = args[3];
      return OK;
    }
    case "INFO":
      return new VerbatimReply("txt", clientLine(ctx, c) + "\n");
    case "LIST": {
      let clients = [...ctx.face.clients.values()];
      for (let i = 2; i < args.length; i++) {
        const opt = upper(args[i]);
        if (opt === "TYPE" && i + 1 < args.length) {
          const t = args[++i].toLowerCase();
          if (!["normal", "master", "replica", "slave", "pubsub"].includes(t)) {
            fail(err(`ERR Unknown client type '${args[i]}'`));
          }
          if (t !== "normal") clients = [];
        } else if (opt === "ID" && i + 1 < args.length) {
          const ids = new Set<number>();
          for (i++; i < args.length; i++) {
            const id = parseInt64(args[i]);
            if (id === null || Number(id) <= 0) fail(err("ERR Invalid client ID"));
            ids.add(Number(id));
          }
          clients = clients.filter((x) => ids.has(x.id));
        } else {
          fail(E.syntax);
        }
      }
      return new VerbatimReply("txt", clients.map((x) => clientLine(ctx, x) + "\n").join(""));
    }
    case "KILL":
      return clientKill(ctx, args);
    case "UNBLOCK": {
      if (args.length > 4) fail(E.syntax);
      const id = parseInt64(args[2]);
      if (id === null) fail(E.notInt);
      let withError = false;
      if (args.length === 4) {
        const how = upper(args[3]);
        if (how === "ERROR") withError = true;
        else if (how !== "TIMEOUT") fail(err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"));
      }
      const target = ctx.face.clients.get(Number(id));
      return target !== undefined && ctx.face.unblock(target, withError) ? 1 : 0;
    }
    case "NO-EVICT":
      c.noEvict = onOff(args[2]);
      return OK;
    case "NO-TOUCH":
      c.noTouch = onOff(args[2]);
      return OK;
    case "HELP":
      return [
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ID",
        "    Return the ID of the current connection.",
        "GETNAME",
        "    Return the name of the current connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "LIST [options ...]",
        "    Return information about client connections.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "SETINFO <option> <value>",
        "    Set client meta attr.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
        "NO-TOUCH (ON|OFF)",
        "    Will not touch LRU/LFU stats when this mode is on.",
        "HELP",
        "    Print this help.",
      ].map((s) => new SimpleReply(s));
  }
  fail(err(`ERR unknown subcommand '${args[1]}'. Try CLIENT HELP.`));
}

export const connectionCommands: Record<string, Handler> = {
  ping(_ctx, args) {
    if (args.length > 2) fail(E.arity("ping"));
    return args.length === 2 ? args[1] : PONG;
  },
  echo: (_ctx, args) => args[1],
  hello(ctx, args) {
    let proto = ctx.client.resp as number;
    let i = 1;
    if (args.length > 1) {
      const v = parseInt64(args[1]);
      if (v === null) fail(err("ERR Protocol version is not an integer or out of range"));
      if (v !== 2 && v !== 3) fail(err("NOPROTO unsupported protocol version"));
      proto = v;
      i = 2;
    }
    let name: string | null = null;
    for (; i < args.length; i++) {
      const opt = upper(args[i]);
      if (opt === "AUTH" && i + 2 < args.length) {
        if (!checkPassword(ctx, args[i + 1], args[i + 2])) fail(WRONGPASS);
        ctx.client.authenticated = true;
        i += 2;
      } else if (opt === "SETNAME" && i + 1 < args.length) {
        name = args[++i];
        if (!validName(name)) {
          fail(err("ERR Client names cannot contain spaces, newlines or special characters."));
        }
      } else {
        fail(err(`ERR Syntax error in HELLO option '${args[i]}'`));
      }
    }
    if (!ctx.client.authenticated) {
      fail(
        err(
          "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ),
      );
    }
    if (name !== null) ctx.client.name = name;
    ctx.client.resp = proto as 2 | 3;
    return helloReply(ctx);
  },
  auth(ctx, args) {
    if (args.length > 3) fail(E.syntax);
    const user = args.length === 3 ? args[1] : "default";
    const pass = args[args.length - 1];
    if (args.length === 2 && ctx.face.config.requirepass === "") {
      fail(
        err(
          "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ),
      );
    }
    if (!checkPassword(ctx, user, pass)) fail(WRONGPASS);
    ctx.client.authenticated = true;
    return OK;
  },
  unwatch(ctx) {
    ctx.face.unwatchAll(ctx.client);
    return OK;
  },
  quit(ctx) {
    ctx.client.quit();
    return OK;
  },
  reset(ctx) {
    const c = ctx.client;
    c.multi = null;
    c.multiError = false;
    ctx.face.unwatchAll(c);
    c.db = 0;
    c.resp = 2;
    c.name = "";
    c.noEvict = false;
    c.noTouch = false;
    c.authenticated = ctx.face.config.requirepass === "";
    return new SimpleReply("RESET");
  },
  select(ctx, args) {
    const n = parseInt64(args[1]);
    if (n === null) fail(E.notInt);
    if (n < 0 || n >= ctx.engine.dbs.length) fail(E.dbIndex);
    ctx.client.db = Number(n);
    return OK;
  },
  client,
};
