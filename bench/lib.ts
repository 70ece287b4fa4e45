/** Helpers the benchmarks share: ports, waiting, progress lines, INFO, redis-server's command line and BENCHMARKS.md sections. */
import { readFileSync, writeFileSync } from "node:fs";
import type Redis from "ioredis";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A progress line prefixed with the seconds since the benchmark started. */
export function logger(): (m: string) => void {
  const t0 = Date.now();
  return (m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${m}`);
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}

/** Waits until `fn` holds (errors count as not yet); returns the ms it took, throws after `ms`. */
export async function until(what: string, fn: () => Promise<boolean>, ms = 60_000): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < ms) {
    if (await fn().catch(() => false)) return performance.now() - start;
    await sleep(20);
  }
  throw new Error(`${what}: not reached in ${ms} ms`);
}

/** INFO cluster as a record. */
export async function clusterInfo(c: Redis): Promise<Record<string, string>> {
  const t = await c.info("cluster");
  return Object.fromEntries(t.split("\r\n").filter((l) => l.includes(":")).map((l) => l.split(":", 2)));
}

/** Replaces the section of `file` that starts with `header` (up to the next `## `), or appends it. */
export function writeSection(file: string, header: string, section: string): void {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    text = "# Benchmarks\n";
  }
  const at = text.indexOf(header);
  if (at >= 0) {
    const next = text.indexOf("\n## ", at + header.length);
    text = text.slice(0, at) + section + (next >= 0 ? "\n" + text.slice(next + 1) : "");
  } else text = text.trimEnd() + "\n\n" + section;
  writeFileSync(file, text);
}

/** A redis-server on 127.0.0.1:`port` keeping its files in `dir`, with the durability the benchmarks
 * compare at: an append-only log fsynced every second, no snapshots. */
export function redisServerCmd(port: number, dir: string, ...extra: string[]): string[] {
  return [
    "redis-server",
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--appendonly",
    "yes",
    "--appendfsync",
    "everysec",
    "--save",
    "",
    "--dir",
    dir,
    ...extra,
  ];
}
