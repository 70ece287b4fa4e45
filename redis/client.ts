/**
 * One client connection, sans-IO: bytes in through `feed`, bytes out through the transport.
 *
 * Replies leave in command order through a bounded queue: a reply waiting for its durability
 * (appendfsync always) holds back the replies behind it, so a pipeline never reads ahead of a
 * write that is not yet durable, and a client always reads its own writes.
 */
import { ProtocolError, RespParser } from "./resp_parse.ts";
import { ReplyEncoder } from "./resp_encode.ts";
import { CountedError, err, ErrorReply, type Reply } from "./reply.ts";
import type { Face } from "./face.ts";
import type { Batch } from "../core/engine.ts";
import type { Writer } from "../core/effect.ts";

/** What the shell gives a client to talk back. */
export interface Transport {
  write(bytes: Uint8Array): void;
  /** Closes: after what was written is sent when `flush`, else at once, dropping it. */
  close(flush: boolean): void;
  /** Bytes written but not yet accepted by the socket. */
  backlog(): number;
}

/** Limits per connection. */
export const LIMITS = {
  /** Replies waiting behind an undecided one; past it the connection is closed. */
  maxPendingReplies: 1_000_000,
  /** Queued commands in one MULTI. */
  maxQueuedCommands: 1_000_000,
};

interface Slot {
  bytes: Uint8Array | null;
  close: boolean;
}

export class Client {
  readonly id: number;
  readonly addr: string;
  readonly laddr: string;
  readonly kind: "tcp" | "unix";
  readonly createdMs: number;
  lastInteractionMs: number;
  name = "";
  libName = "";
  libVer = "";
  db = 0;
  resp: 2 | 3 = 2;
  authenticated: boolean;
  /** Commands queued by MULTI, or null outside a transaction. */
  multi: string[][] | null = null;
  /** A command failed to queue: EXEC must abort. */
  multiError = false;
  /** Watched keys as `${db}\0${key}`. */
  readonly watched = new Set<string>();
  /** A watched key was touched: EXEC must fail. */
  watchDirty = false;
  /** In a cluster: each watched key's version at WATCH time (EXEC's envelope checks it). */
  readonly watchedVersions = new Map<string, unknown>();
  noEvict = false;
  noTouch = false;
  lastCommand = "NULL";
  /** The command being run (CLIENT LIST counts it in the query buffer, as Redis does). */
  currentArgs: readonly string[] = [];
  closed = false;
  /** The last effect this client's commands wrote on the local path (WAIT, WAITAOF), or null. */
  lastWrite: { readonly w: Writer; readonly seq: number } | null = null;
  readonly #parser: RespParser;
  readonly #encoder = new ReplyEncoder();
  readonly #transport: Transport;
  readonly #face: Face;
  /** Replies not yet sendable (their command, or one before it, awaits durability). */
  readonly #pending: Slot[] = [];
  #closing = false;
  #quitAfterReply = false;
  /** Set while a command waits for its envelope: the commands behind it wait (read your writes). */
  #suspended = false;

  constructor(
    face: Face,
    transport: Transport,
    info: { id: number; addr: string; laddr: string; kind: "tcp" | "unix"; nowMs: number },
  ) {
    this.#face = face;
    this.#transport = transport;
    this.id = info.id;
    this.addr = info.addr;
    this.laddr = info.laddr;
    this.kind = info.kind;
    this.createdMs = info.nowMs;
    this.lastInteractionMs = info.nowMs;
    this.authenticated = face.config.requirepass === "";
    this.#parser = new RespParser({ maxBulkLen: face.config.protoMaxBulkLen });
  }

  /** Bytes from the socket: parses and runs every complete command, then writes the replies. */
  feed(chunk: Uint8Array): void {
    if (this.closed || this.#closing) return;
    this.lastInteractionMs = this.#face.engine.env.monotonicMs();
    this.#parser.feed(chunk);
    this.#process();
  }

  /** Runs the buffered commands until the buffer is empty or a command suspends the client. */
  #process(): void {
    for (;;) {
      if (this.#suspended) break;
      this.#parser.unauthenticated = !this.authenticated;
      const cmd = this.#parser.next();
      if (cmd === null) break;
      if (cmd instanceof ProtocolError) {
        this.#face.stats.protocolErrors++;
        this.reply(err(`ERR ${cmd.message}`));
        this.#closeAfterReplies();
        break;
      }
      this.currentArgs = cmd;
      this.#face.execute(this, cmd);
      if (this.#quitAfterReply) {
        this.#quitAfterReply = false;
        this.#closeAfterReplies();
      }
      if (this.#closing || this.closed) break;
    }
    if (!this.#closing && this.#parser.bytesBuffered() > this.#face.config.clientQueryBufferLimit) {
      this.#face.env.log("warn", "closing client: query buffer limit", { id: this.id });
      this.#closeAfterReplies();
    }
    this.flush();
  }

  /** Remembers the last effect of a batch this client is about to commit (WAIT counts its acks). */
  noteWrite(batch: Batch): void {
    const last = batch.entries.at(-1);
    if (last !== undefined) this.lastWrite = { w: last.e.w, seq: last.e.seq };
  }

  /** Stops running commands until `resume` (an envelope is deciding this client's command). */
  suspend(): void {
    this.#suspended = true;
  }

  /** Runs the commands that arrived meanwhile. */
  resume(): void {
    this.#suspended = false;
    if (!this.closed && !this.#closing) this.#process();
  }

  /** Counts the error replies in `r` (itself, or the replies of an EXEC) for INFO errorstats. */
  #countErrors(r: Reply): void {
    if (r instanceof ErrorReply) {
      if (!(r instanceof CountedError)) this.#face.noteError(r);
    } else if (Array.isArray(r)) {
      for (const x of r) if (x instanceof ErrorReply && !(x instanceof CountedError)) this.#face.noteError(x);
    }
  }

  /** Queues a reply that is ready now. */
  reply(r: Reply): void {
    this.#countErrors(r);
    if (this.#pending.length === 0) {
      this.#encoder.write(r, this.resp);
      return;
    }
    this.#encoder.write(r, this.resp);
    this.#pending.push({ bytes: this.#encoder.take(), close: false });
  }

  /**
   * Reserves the next reply's place; it leaves (after everything before it) once the returned
   * function is called with it, e.g. when its write is durable.
   */
  replyLater(): (r: Reply) => void {
    if (this.#pending.length >= LIMITS.maxPendingReplies) {
      this.#face.env.log("warn", "closing client: pending reply limit", { id: this.id });
      this.#closeAfterReplies();
    }
    // Bytes already encoded go first, in order.
    if (this.#encoder.size() > 0) this.#pending.push({ bytes: this.#encoder.take(), close: false });
    const slot: Slot = { bytes: null, close: false };
    this.#pending.push(slot);
    const resp = this.resp; // the protocol in force when the command ran, not when it finishes
    return (r) => {
      this.#countErrors(r);
      const enc = new ReplyEncoder();
      enc.write(r, resp);
      slot.bytes = enc.take();
      this.#drainPending();
    };
  }

  #drainPending(): void {
    while (this.#pending.length > 0 && this.#pending[0].bytes !== null) {
      const s = this.#pending.shift()!;
      if (!this.closed) this.#transport.write(s.bytes!);
      if (s.close) this.#doClose(true);
    }
    if (this.#pending.length === 0) this.flush();
  }

  /** Sends what is ready. */
  flush(): void {
    if (this.closed) return;
    if (this.#pending.length > 0) {
      if (this.#encoder.size() > 0) this.#pending.push({ bytes: this.#encoder.take(), close: false });
      // Replies ready ahead of the first one still waiting go out now (a blocked BLPOP must not hold
      // back the reply of the LPUSH pipelined before it).
      if (this.#pending[0].bytes !== null) this.#drainPending();
      return;
    }
    if (this.#encoder.size() > 0) {
      this.#transport.write(this.#encoder.take());
      if (this.#transport.backlog() > this.#face.config.clientOutputBufferLimit) {
        this.#face.env.log("warn", "closing client: output buffer limit", { id: this.id });
        this.#doClose(false);
      }
    }
    if (this.#closing && this.#pending.length === 0) this.#doClose(true);
  }

  /** Closes once every queued reply is out (QUIT, protocol errors). */
  #closeAfterReplies(): void {
    this.#closing = true;
    if (this.#pending.length > 0) this.#pending.push({ bytes: new Uint8Array(0), close: true });
  }

  /** QUIT (or CLIENT KILL of itself): close once this command's reply is out. */
  quit(): void {
    this.#quitAfterReply = true;
  }

  /** Closes now (CLIENT KILL, timeouts, shutdown). */
  kill(): void {
    this.#doClose(false);
  }

  /** Closes; with `flush`, what is encoded goes out first, else it is dropped. */
  #doClose(flush: boolean): void {
    if (this.closed) return;
    if (flush && this.#encoder.size() > 0 && this.#pending.length === 0) {
      this.#transport.write(this.#encoder.take());
    }
    this.closed = true;
    this.#face.disconnected(this);
    this.#transport.close(flush);
  }

  /** The transport went away (socket closed by the peer). */
  transportClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.#face.disconnected(this);
  }

  /** Query buffer bytes (CLIENT LIST qbuf). */
  queryBufferBytes(): number {
    return this.#parser.bytesBuffered();
  }

  /** Output bytes waiting (CLIENT LIST omem). */
  outputBytes(): number {
    let n = this.#encoder.size() + this.#transport.backlog();
    for (const s of this.#pending) n += s.bytes?.length ?? 0;
    return n;
  }

  /** True while some reply waits for durability. */
  hasPending(): boolean {
    return this.#pending.length > 0;
  }
}
