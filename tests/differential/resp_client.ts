/**
 * A tiny raw RESP2/RESP3 client for the differential tests: sends one command as a RESP array of
 * bulk strings and parses exactly one reply into a tagged structure, keeping every type marker so
 * that two servers can be compared reply by reply (a `+OK` and a `$2 OK` are different replies).
 */
import * as net from "node:net";

/** A parsed reply. `t` is the RESP type byte; attributes (`|`) are kept in `attr`. */
export type Resp =
  | { t: "+" | "-" | "," | "("; v: string }
  | { t: ":"; v: bigint }
  | { t: "$" | "!" | "="; v: Buffer | null }
  | { t: "*" | "~" | ">"; v: Resp[] | null }
  | { t: "%"; v: [Resp, Resp][] }
  | { t: "_" }
  | { t: "#"; v: boolean };

class Incomplete extends Error {}

/** Parses one reply at `pos`; throws Incomplete when more bytes are needed. */
function parseAt(buf: Buffer, pos: number): [Resp, number] {
  const eol = buf.indexOf("\r\n", pos);
  if (eol < 0) throw new Incomplete();
  const type = String.fromCharCode(buf[pos]!);
  const line = buf.toString("latin1", pos + 1, eol);
  let next = eol + 2;
  switch (type) {
    case "+":
    case "-":
    case ",":
    case "(":
      return [{ t: type, v: buf.toString("utf8", pos + 1, eol) }, next];
    case ":":
      return [{ t: ":", v: BigInt(line) }, next];
    case "_":
      return [{ t: "_" }, next];
    case "#":
      return [{ t: "#", v: line === "t" }, next];
    case "$":
    case "!":
    case "=": {
      const n = Number(line);
      if (n < 0) return [{ t: type, v: null }, next];
      if (buf.length < next + n + 2) throw new Incomplete();
      return [{ t: type, v: Buffer.from(buf.subarray(next, next + n)) }, next + n + 2];
    }
    case "*":
    case "~":
    case ">": {
      const n = Number(line);
      if (n < 0) return [{ t: type, v: null }, next];
      const items: Resp[] = [];
      for (let i = 0; i < n; i++) {
        const [r, p] = parseAt(buf, next);
        items.push(r);
        next = p;
      }
      return [{ t: type, v: items }, next];
    }
    case "%": {
      const n = Number(line);
      const items: [Resp, Resp][] = [];
      for (let i = 0; i < n; i++) {
        const [k, p] = parseAt(buf, next);
        const [v, q] = parseAt(buf, p);
        items.push([k, v]);
        next = q;
      }
      return [{ t: "%", v: items }, next];
    }
    case "|": {
      // Attribute: skip it and return the reply that follows.
      const n = Number(line);
      for (let i = 0; i < 2 * n; i++) next = parseAt(buf, next)[1];
      return parseAt(buf, next);
    }
    default:
      throw new Error(
        `bad RESP type byte ${JSON.stringify(type)} in ${JSON.stringify(buf.toString("latin1"))}`,
      );
  }
}

/** Encodes a command as a RESP array of bulk strings. */
export function encodeCommand(args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === "string" ? Buffer.from(a, "utf8") : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
  }
  return Buffer.concat(parts);
}

/** One TCP connection; `call` sends a command and resolves with its single reply. */
export class RespConn {
  #sock: net.Socket;
  #buf: Buffer = Buffer.alloc(0);
  #waiters: { resolve: (r: Resp) => void; reject: (e: Error) => void }[] = [];
  #closed: Error | null = null;

  private constructor(sock: net.Socket) {
    this.#sock = sock;
    sock.on("data", (d: Buffer) => {
      this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
      this.#drain();
    });
    const onEnd = (e?: Error) => {
      this.#closed = e ?? new Error("connection closed");
      for (const w of this.#waiters.splice(0)) w.reject(this.#closed);
    };
    sock.on("error", onEnd);
    sock.on("close", () => onEnd());
  }

  static async connect(port: number): Promise<RespConn> {
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => resolve(s));
      s.once("error", reject);
    });
    sock.setNoDelay(true);
    return new RespConn(sock);
  }

  #drain(): void {
    while (this.#waiters.length > 0 && this.#buf.length > 0) {
      let parsed: [Resp, number];
      try {
        parsed = parseAt(this.#buf, 0);
      } catch (e) {
        if (e instanceof Incomplete) return;
        throw e;
      }
      this.#buf = this.#buf.subarray(parsed[1]);
      const r = parsed[0];
      // Out-of-band pushes are not replies to the command.
      if (r.t === ">") continue;
      this.#waiters.shift()!.resolve(r);
    }
  }

  async call(args: (string | Buffer)[], timeoutMs = 5000): Promise<Resp> {
    if (this.#closed) throw this.#closed;
    const p = new Promise<Resp>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.#sock.write(encodeCommand(args));
    this.#drain();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timeout waiting for reply to ${args.join(" ")}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([p, t]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.#sock.destroy();
  }
}

/** A compact, unambiguous rendering of a reply (used for comparison and in known_diffs.json). */
export function render(r: Resp): string {
  switch (r.t) {
    case "+":
    case "-":
    case ",":
    case "(":
      return `${r.t}${r.v}`;
    case ":":
      return `:${r.v}`;
    case "_":
      return "_";
    case "#":
      return r.v ? "#t" : "#f";
    case "$":
    case "!":
    case "=":
      return r.v === null ? `${r.t}nil` : `${r.t}${JSON.stringify(r.v.toString("latin1"))}`;
    case "*":
    case "~":
    case ">":
      return r.v === null ? `${r.t}nil` : `${r.t}[${r.v.map(render).join(",")}]`;
    case "%":
      return `%{${r.v.map(([k, v]) => `${render(k)}=>${render(v)}`).join(",")}}`;
  }
}
