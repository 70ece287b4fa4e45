/**
 * A TCP link proxy that delays traffic: it listens on one address, dials a target for every
 * connection it accepts, and forwards bytes both ways, holding each chunk for the delay in force
 * for its direction when it arrived. Chunks of one direction leave in the order they came (a
 * smaller delay never overtakes a larger one), so the stream stays a valid TCP stream; only its
 * timing changes. A side closing is forwarded after the data before it.
 *
 * The harness puts one proxy in front of every node's cluster port and has each node advertise
 * (and the joiners --join) the proxy's address, so every peer link crosses exactly one proxy: the
 * one of the node that was dialed. The proxy tells the dialer from its source address, so delays
 * are per ordered pair of nodes.
 */
import type { Socket, TCPSocketListener } from "bun";

/** Delay in ms for bytes from node `from` to node `to` right now. */
export type DelayFn = (from: number, to: number) => number;

export interface ProxyStats {
  connections: number;
  /** Chunks forwarded with a delay > 0, and their total delay. */
  delayedChunks: number;
  delayedMs: number;
  bytes: number;
  /** Connections whose target could not be reached. */
  connectFailures: number;
}

interface Chunk {
  due: number;
  /** null: end the target side. */
  bytes: Uint8Array | null;
}

/** One direction of one proxied connection. */
class Pipe {
  readonly #queue: Chunk[] = [];
  #lastDue = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** Bytes the target socket did not take yet (waiting for drain). */
  #unsent: Uint8Array | null = null;
  #target: Socket<unknown> | null = null;
  #ended = false;
  #endQueued = false;
  #closed = false;

  constructor(readonly stats: ProxyStats) {}

  setTarget(s: Socket<unknown>): void {
    this.#target = s;
    this.#pump();
  }

  push(bytes: Uint8Array | null, delayMs: number): void {
    if (this.#closed || this.#endQueued) return;
    if (bytes === null) this.#endQueued = true;
    const now = performance.now();
    const due = Math.max(now + delayMs, this.#lastDue);
    this.#lastDue = due;
    if (bytes !== null) {
      this.stats.bytes += bytes.length;
      if (delayMs > 0) {
        this.stats.delayedChunks++;
        this.stats.delayedMs += delayMs;
      }
    }
    this.#queue.push({ due, bytes });
    this.#pump();
  }

  drain(): void {
    this.#pump();
  }

  /** Drops everything: the connection is gone. */
  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.#unsent = null;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #pump(): void {
    const t = this.#target;
    if (t === null || this.#closed || this.#ended) return;
    if (this.#unsent !== null) {
      const n = Math.max(t.write(this.#unsent), 0);
      if (n < this.#unsent.length) {
        this.#unsent = this.#unsent.subarray(n);
        return;
      }
      this.#unsent = null;
    }
    const now = performance.now();
    while (this.#queue.length > 0 && this.#queue[0].due <= now) {
      const c = this.#queue.shift()!;
      if (c.bytes === null) {
        this.#ended = true;
        t.end();
        return;
      }
      const n = Math.max(t.write(c.bytes), 0);
      if (n < c.bytes.length) {
        this.#unsent = c.bytes.subarray(n);
        return;
      }
    }
    if (this.#queue.length > 0 && this.#timer === null) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#pump();
      }, Math.max(0, this.#queue[0].due - now));
    }
  }
}

interface Conn {
  from: number;
  up: Pipe;
  down: Pipe;
  client: Socket<Conn>;
  server: Socket<Conn> | null;
  clientGone: boolean;
  serverGone: boolean;
  closed: boolean;
}

export class LinkProxy {
  readonly stats: ProxyStats = {
    connections: 0,
    delayedChunks: 0,
    delayedMs: 0,
    bytes: 0,
    connectFailures: 0,
  };
  readonly #conns = new Set<Conn>();
  #listener: TCPSocketListener<Conn> | null = null;

  /**
   * `to` is the index of the node behind the proxy; `nodeOf` maps a dialer's address to its node
   * index (-1 when unknown: no delay); `delay` gives the delay for each direction.
   */
  constructor(
    readonly listenHost: string,
    readonly listenPort: number,
    readonly targetHost: string,
    readonly targetPort: number,
    readonly to: number,
    readonly nodeOf: (address: string) => number,
    readonly delay: DelayFn,
  ) {}

  /** Listens (no-op when already listening). */
  start(): void {
    if (this.#listener !== null) return;
    const closeBoth = (c: Conn) => {
      if (c.closed) return;
      c.closed = true;
      this.#conns.delete(c);
      c.up.close();
      c.down.close();
      c.client.end();
      c.server?.end();
    };
    this.#listener = Bun.listen<Conn>({
      hostname: this.listenHost,
      port: this.listenPort,
      socket: {
        open: (client) => {
          // Forward every chunk at once: a Nagle delay would add to the delay being simulated.
          client.setNoDelay(true);
          const from = this.nodeOf(client.remoteAddress);
          const c: Conn = {
            from,
            up: new Pipe(this.stats),
            down: new Pipe(this.stats),
            client,
            server: null,
            clientGone: false,
            serverGone: false,
            closed: false,
          };
          client.data = c;
          this.#conns.add(c);
          this.stats.connections++;
          c.down.setTarget(client as Socket<unknown>);
          Bun.connect<Conn>({
            hostname: this.targetHost,
            port: this.targetPort,
            data: c,
            socket: {
              open: (server) => {
                if (c.closed) {
                  server.end();
                  return;
                }
                c.server = server;
                server.setNoDelay(true);
                c.up.setTarget(server as Socket<unknown>);
              },
              data: (_server, chunk) => {
                c.down.push(new Uint8Array(chunk), this.#delay(this.to, c.from));
              },
              drain: () => {
                c.up.drain();
              },
              end: () => {
                // The node closed its side: pass that on after the data before it.
                c.down.push(null, this.#delay(this.to, c.from));
              },
              close: () => {
                c.serverGone = true;
                if (c.clientGone) closeBoth(c);
                else c.down.push(null, this.#delay(this.to, c.from));
              },
              error: () => {
                closeBoth(c);
              },
              connectError: () => {
                closeBoth(c);
              },
            },
          }).catch(() => {
            this.stats.connectFailures++;
            closeBoth(c);
          });
        },
        data: (client, chunk) => {
          const c = client.data;
          c.up.push(new Uint8Array(chunk), this.#delay(c.from, this.to));
        },
        drain: (client) => {
          client.data.down.drain();
        },
        end: (client) => {
          const c = client.data;
          c.up.push(null, this.#delay(c.from, this.to));
        },
        close: (client) => {
          const c = client.data;
          c.clientGone = true;
          if (c.serverGone) closeBoth(c);
          else c.up.push(null, this.#delay(c.from, this.to));
        },
        error: (client) => {
          closeBoth(client.data);
        },
      },
    });
  }

  #delay(from: number, to: number): number {
    if (from < 0 || to < 0) return 0;
    return Math.max(0, this.delay(from, to));
  }

  /** Closes the listener and every connection, abruptly (its node is gone, or the test is over). */
  stop(): void {
    this.#listener?.stop(true);
    this.#listener = null;
    for (const c of this.#conns) {
      c.closed = true;
      c.up.close();
      c.down.close();
      c.client.terminate();
      c.server?.terminate();
    }
    this.#conns.clear();
  }

  /**
   * Cuts every open connection whose dialer satisfies `which` (by node index), abruptly on both
   * sides, as a middlebox reset would: the nodes see their links drop and dial again. Returns how
   * many were cut.
   */
  reset(which: (from: number) => boolean): number {
    let n = 0;
    for (const c of [...this.#conns]) {
      if (!which(c.from)) continue;
      n++;
      c.closed = true;
      this.#conns.delete(c);
      c.up.close();
      c.down.close();
      c.client.terminate();
      c.server?.terminate();
    }
    return n;
  }

  /** Open connections. */
  get open(): number {
    return this.#conns.size;
  }
}
