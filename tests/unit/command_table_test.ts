import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { connect, type Socket } from "node:net";
import {
  allCommands,
  arityError,
  arityOk,
  commandCount,
  commandDocsReply,
  commandHasKeys,
  commandInfoReply,
  commandKeys,
  commandListReply,
  type CommandSpec,
  lookupCommand,
  lookupCommandByName,
} from "../../redis/command_table.ts";
import { ErrorReply, MapReply, type Reply, SetReply, SimpleReply } from "../../redis/reply.ts";
import facts from "../../redis/command_facts.json" with { type: "json" };

function spec(args: string[]): CommandSpec {
  const r = lookupCommand(args);
  if ("error" in r) throw new Error(r.error.s);
  return r.spec;
}

/** The error the dispatcher answers: lookup first, then the arity check. */
function error(args: string[]): string {
  const r = lookupCommand(args);
  if ("error" in r) return r.error.s;
  if (!arityOk(r.spec, args.length)) return arityError(r.spec).s;
  throw new Error(`expected an error for ${args.join(" ")}`);
}

function keys(args: string[]): string[] {
  return commandKeys(spec(args), args).map((i) => args[i]!);
}

/** Converts a reply to its RESP2 shape (strings, numbers, nested arrays). */
function resp2(r: Reply): unknown {
  if (r instanceof SimpleReply) return r.s;
  if (r instanceof ErrorReply) return { error: r.s };
  if (r instanceof SetReply) return r.items.map(resp2);
  if (r instanceof MapReply) return r.entries.map(resp2);
  if (Array.isArray(r)) return r.map(resp2);
  return r;
}

describe("lookup", () => {
  test("case-insensitive, containers resolve to subcommands", () => {
    expect(spec(["GET", "k"]).name).toBe("get");
    expect(spec(["gEt", "k"]).fullName).toBe("GET");
    const cg = spec(["config", "GET", "maxmemory"]);
    expect(cg.name).toBe("config|get");
    expect(cg.container?.name).toBe("config");
    expect(spec(["object", "encoding", "k"]).name).toBe("object|encoding");
    expect(spec(["CLIENT", "id"]).name).toBe("client|id");
    expect(spec(["command", "count"]).name).toBe("command|count");
    expect(spec(["COMMAND"]).name).toBe("command"); // COMMAND alone is arity -1
    expect(lookupCommandByName("CONFIG|get")?.name).toBe("config|get");
    expect(lookupCommandByName("config|nope")).toBeUndefined();
    expect(lookupCommandByName("a|b|c")).toBeUndefined();
  });

  test("arity", () => {
    expect(spec(["get", "k"]).arity).toBe(2);
    expect(spec(["set", "k", "v"]).arity).toBe(-3);
    expect(spec(["set", "k", "v", "NX", "GET"]).arity).toBe(-3);
  });

  test("error texts", () => {
    expect(error(["foo", "a", "b"])).toBe("ERR unknown command 'foo', with args beginning with: 'a' 'b' ");
    expect(error(["FoO"])).toBe("ERR unknown command 'FoO', with args beginning with: ");
    const long = "x".repeat(200);
    expect(error([long, long, "b"])).toBe(
      `ERR unknown command '${"x".repeat(128)}', with args beginning with: '${"x".repeat(128)}' `,
    );
    expect(error(["foo", "a\r\nb"])).toBe("ERR unknown command 'foo', with args beginning with: 'a  b' ");
    expect(error(["config", "nope", "x"])).toBe("ERR unknown subcommand 'nope'. Try CONFIG HELP.");
    expect(error(["Config", "Nope"])).toBe("ERR unknown subcommand 'Nope'. Try CONFIG HELP.");
    expect(error(["CONFIG"])).toBe("ERR wrong number of arguments for 'config' command");
    expect(error(["config", "get"])).toBe("ERR wrong number of arguments for 'config|get' command");
    expect(error(["Config", "Help", "x"])).toBe("ERR wrong number of arguments for 'config|help' command");
    expect(error(["GET"])).toBe("ERR wrong number of arguments for 'get' command");
    expect(error(["get", "a", "b"])).toBe("ERR wrong number of arguments for 'get' command");
    expect(error(["set", "k"])).toBe("ERR wrong number of arguments for 'set' command");
  });
});

describe("keys", () => {
  test("fixed and step ranges", () => {
    expect(keys(["SET", "k", "v", "EX", "10"])).toEqual(["k"]);
    expect(keys(["MSET", "a", "1", "b", "2", "c", "3"])).toEqual(["a", "b", "c"]);
    expect(keys(["DEL", "a", "b", "c"])).toEqual(["a", "b", "c"]);
    expect(keys(["RENAME", "a", "b"])).toEqual(["a", "b"]);
    expect(keys(["object", "encoding", "k"])).toEqual(["k"]);
  });

  test("numkeys", () => {
    expect(keys(["LMPOP", "2", "a", "b", "LEFT", "COUNT", "3"])).toEqual(["a", "b"]);
    expect(keys(["ZUNIONSTORE", "dst", "2", "a", "b", "WEIGHTS", "1", "2"])).toEqual(["dst", "a", "b"]);
    expect(keys(["EVAL", "return 1", "2", "k1", "k2", "arg"])).toEqual(["k1", "k2"]);
    expect(keys(["EVAL", "return 1", "0", "arg"])).toEqual([]);
    expect(keys(["EVAL", "return 1", "5", "k1"])).toEqual([]); // numkeys too big
    expect(keys(["EVAL", "return 1", "x", "k1"])).toEqual([]); // numkeys not a number
    expect(keys(["BLMPOP", "0", "2", "a", "b", "RIGHT"])).toEqual(["a", "b"]);
    expect(keys(["FCALL", "f", "1", "k", "a"])).toEqual(["k"]);
  });

  test("keywords", () => {
    expect(keys(["XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0"])).toEqual(["s1", "s2"]);
    expect(keys(["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s1", ">"])).toEqual(["s1"]);
    expect(keys(["GEORADIUS", "k", "0", "0", "1", "km", "STORE", "dst"])).toEqual(["k", "dst"]);
    expect(keys(["MIGRATE", "h", "6379", "k", "0", "100"])).toEqual(["k"]);
    expect(keys(["MIGRATE", "h", "6379", "", "0", "100", "COPY", "KEYS", "a", "b"])).toEqual(["a", "b"]);
  });

  test("SORT's STORE (native parser, key specs are incomplete)", () => {
    expect(keys(["SORT", "src"])).toEqual(["src"]);
    expect(keys(["SORT", "src", "BY", "w_*", "LIMIT", "0", "5", "STORE", "dst"])).toEqual(["src", "dst"]);
    expect(keys(["SORT", "src", "GET", "store", "ALPHA"])).toEqual(["src"]);
    expect(keys(["SORT_RO", "src", "BY", "x"])).toEqual(["src"]);
  });

  test("no keys", () => {
    expect(keys(["PING"])).toEqual([]);
    expect(commandHasKeys(spec(["PING"]))).toBe(false);
    expect(keys(["SPUBLISH", "ch", "msg"])).toEqual([]); // NOT_KEY
    expect(commandHasKeys(spec(["SPUBLISH", "ch", "m"]))).toBe(false);
    expect(commandHasKeys(spec(["GET", "k"]))).toBe(true);
  });
});

describe("COMMAND replies", () => {
  test("COMMAND COUNT equals the top-level entries", () => {
    const top = (facts as unknown as { container?: string }[]).filter((f) => !f.container).length;
    expect(commandCount()).toBe(top);
    expect(commandCount()).toBe(allCommands().filter((c) => !c.container).length);
    expect(allCommands().some((c) => c.name.startsWith("sentinel"))).toBe(false);
  });

  test("COMMAND INFO shape", () => {
    const info = resp2(commandInfoReply(spec(["get", "k"])));
    expect(info).toEqual([
      "get",
      2,
      ["readonly", "fast"],
      1,
      1,
      1,
      ["@read", "@string", "@fast"],
      [],
      [["flags", ["RO", "access"], "begin_search", ["type", "index", "spec", ["index", 1]], "find_keys", [
        "type",
        "range",
        "spec",
        ["lastkey", 0, "keystep", 1, "limit", 0],
      ]]],
      [],
    ]);
    const cfg = commandInfoReply(spec(["config", "get", "x"])) as Reply[];
    expect(cfg[0]).toBe("config|get");
    const container = commandInfoReply(lookupCommandByName("config")!) as Reply[];
    expect(Array.isArray(container[9])).toBe(true);
    expect((container[9] as Reply[]).length).toBe(lookupCommandByName("config")!.subcommands!.size);
  });

  test("COMMAND DOCS shape", () => {
    const docs = resp2(commandDocsReply(lookupCommandByName("zadd")!)) as unknown[];
    expect(docs.slice(0, 4)).toEqual(["since", "1.2.0", "group", "sorted-set"]);
    expect(docs).toContain("history");
    const geo = resp2(commandDocsReply(lookupCommandByName("georadius")!)) as unknown[];
    expect(geo).toContain("doc_flags");
    expect(geo[geo.indexOf("deprecated_since") + 1]).toBe("6.2.0");
    const cfg = commandDocsReply(lookupCommandByName("config")!) as MapReply;
    expect(cfg.entries).toContain("subcommands");
  });

  test("COMMAND LIST", () => {
    const all = commandListReply() as string[];
    expect(all.length).toBe(allCommands().length);
    expect(all).toContain("config|get");
    expect(commandListReply({ pattern: "CONFIG|*" })).toEqual(
      [...lookupCommandByName("config")!.subcommands!.values()].map((s) => s.name),
    );
    const hash = commandListReply({ aclcat: "hash" }) as string[];
    expect(hash).toContain("hset");
    expect(hash).not.toContain("get");
    expect(commandListReply({ aclcat: "nosuch" })).toEqual([]);
    expect(commandListReply({ module: "x" })).toEqual([]);
  });
});

/** Minimal RESP2 client for the comparison with a live redis-server. */
class Resp2 {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  constructor(private sock: Socket) {
    sock.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  async call(...args: string[]): Promise<unknown> {
    this.sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(""));
    for (;;) {
      const r = this.parse(0);
      if (r) {
        this.buf = this.buf.subarray(r[1]);
        return r[0];
      }
      await new Promise<void>((res) => this.waiters.push(res));
    }
  }
  private parse(at: number): [unknown, number] | null {
    const nl = this.buf.indexOf("\r\n", at);
    if (nl < 0) return null;
    const line = this.buf.toString("latin1", at + 1, nl);
    const t = String.fromCharCode(this.buf[at]!);
    if (t === "+") return [line, nl + 2];
    if (t === "-") return [{ error: line }, nl + 2];
    if (t === ":") return [Number(line), nl + 2];
    const n = Number(line);
    if (t === "$") {
      if (n < 0) return [null, nl + 2];
      if (this.buf.length < nl + 2 + n + 2) return null;
      return [this.buf.toString("latin1", nl + 2, nl + 2 + n), nl + 2 + n + 2];
    }
    if (t === "*") {
      if (n < 0) return [null, nl + 2];
      const items: unknown[] = [];
      let pos = nl + 2;
      for (let i = 0; i < n; i++) {
        const r = this.parse(pos);
        if (!r) return null;
        items.push(r[0]);
        pos = r[1];
      }
      return [items, pos];
    }
    throw new Error(`unexpected RESP type ${t}`);
  }
}

/** Removes the "notes" pair from key-spec maps (our facts carry no notes). */
function stripNotes(keySpecs: unknown): unknown {
  return (keySpecs as unknown[][]).map((m) => {
    const i = m.indexOf("notes");
    return i === 0 ? m.slice(2) : m;
  });
}

const HAVE_REDIS = existsSync("/usr/bin/redis-server");
if (!HAVE_REDIS) console.log("SKIPPED: redis-server not installed");

describe.skipIf(!HAVE_REDIS)("compare with redis-server 7.0", () => {
  const port = 17000 + Math.floor(Math.random() * 2000);
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  let client: Resp2;
  let sock: Socket;

  beforeAll(async () => {
    proc = Bun.spawn(
      [
        "/usr/bin/redis-server",
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
      ],
      { stdout: "ignore", stderr: "ignore" },
    );
    for (let i = 0; i < 100; i++) {
      try {
        sock = await new Promise<Socket>((res, rej) => {
          const s = connect(port, "127.0.0.1", () => res(s));
          s.once("error", rej);
        });
        break;
      } catch {
        await Bun.sleep(50);
      }
    }
    client = new Resp2(sock);
  });

  afterAll(() => {
    sock?.destroy();
    proc?.kill();
  });

  test("COMMAND INFO get set object|encoding lpush", async () => {
    const names = ["get", "set", "object|encoding", "lpush", "mset", "zunionstore", "xread"];
    const live = (await client.call("COMMAND", "INFO", ...names)) as unknown[][];
    for (let n = 0; n < names.length; n++) {
      const theirs = live[n]!;
      const ours = resp2(commandInfoReply(lookupCommandByName(names[n]!)!)) as unknown[];
      expect(ours.slice(0, 8)).toEqual(theirs.slice(0, 8));
      expect(stripNotes(ours[8])).toEqual(stripNotes(theirs[8]));
      expect(ours[9]).toEqual(theirs[9]);
    }
  });

  test("error texts match", async () => {
    const cases = [
      ["foo", "a", "b"],
      ["FoO"],
      ["x".repeat(200), "y".repeat(100), "z".repeat(100), "w"],
      ["config", "nope", "x"],
      ["CONFIG"],
      ["config", "get"],
      ["get"],
    ];
    for (const c of cases) {
      expect(await client.call(...c)).toEqual({ error: error(c) });
    }
  });

  test("COMMAND GETKEYS agrees", async () => {
    const cases = [
      ["MSET", "a", "1", "b", "2"],
      ["LMPOP", "2", "a", "b", "LEFT"],
      ["ZUNIONSTORE", "d", "2", "a", "b"],
      ["EVAL", "s", "2", "k1", "k2", "x"],
      ["XREAD", "COUNT", "1", "STREAMS", "s1", "s2", "0", "0"],
      ["SORT", "a", "LIMIT", "0", "1", "STORE", "d"],
      ["MIGRATE", "h", "1", "", "0", "5", "AUTH", "p", "KEYS", "a", "b"],
      ["GEORADIUS", "k", "0", "0", "1", "km", "STOREDIST", "d"],
    ];
    for (const c of cases) {
      const theirs = await client.call("COMMAND", "GETKEYS", ...c);
      expect(keys(c)).toEqual(theirs as string[]);
    }
  });
});
