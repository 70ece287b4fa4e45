/**
 * What a socket did not take yet. Bun's `write` may take part of a buffer; the rest waits here,
 * in order, until the socket drains. Callers bound `queued` themselves.
 */

/** The unsent bytes of one socket. */
export interface OutQueue {
  queue: Uint8Array[];
  queued: number;
}

interface Writable {
  write(bytes: Uint8Array): number;
}

/** Writes `bytes` now, or queues them (and what the socket did not take) behind what waits. */
export function writeOrQueue(socket: Writable, q: OutQueue, bytes: Uint8Array): void {
  if (q.queue.length > 0) {
    q.queue.push(bytes);
    q.queued += bytes.length;
    return;
  }
  const n = Math.max(socket.write(bytes), 0);
  if (n < bytes.length) {
    q.queue.push(bytes.subarray(n));
    q.queued += bytes.length - n;
  }
}

/** On drain: writes what waits, in order; true once nothing waits. */
export function drainQueue(socket: Writable, q: OutQueue): boolean {
  while (q.queue.length > 0) {
    const head = q.queue[0];
    const n = Math.max(socket.write(head), 0);
    if (n < head.length) {
      q.queue[0] = head.subarray(n);
      q.queued -= n;
      return false;
    }
    q.queue.shift();
    q.queued -= head.length;
  }
  return true;
}
