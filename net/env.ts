/** The real `Env`: the machine's clocks, randomness, timers and log, and a real disk. */
import type { Env, LogLevel, Storage } from "../core/env.ts";

export interface RealEnvOptions {
  storage: Storage;
  logFormat: "text" | "json";
  verbose: boolean;
  /** Milliseconds added to the wall clock (tests of clock skew). */
  clockOffsetMs?: number;
}

const LEVELS: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Builds the production Env. */
export function realEnv(opts: RealEnvOptions): Env {
  const offset = opts.clockOffsetMs ?? 0;
  const min = opts.verbose ? 0 : 1;
  return {
    monotonicMs: () => performance.now(),
    wallMs: () => Date.now() + offset,
    random: () => Math.random(),
    setTimer: (ms, fn) => setTimeout(fn, ms),
    clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
    storage: opts.storage,
    buggify: () => false,
    log(level, msg, fields) {
      if (LEVELS[level] < min) return;
      const time = new Date().toISOString();
      const line = opts.logFormat === "json"
        ? JSON.stringify({ time, level, msg, ...fields })
        : `${time} ${level.toUpperCase()} ${msg}${
          fields === undefined ? "" : " " +
            Object.entries(fields).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
              .join(" ")
        }`;
      process.stderr.write(line + "\n");
    },
  };
}
