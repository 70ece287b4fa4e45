/** A deterministic `Env` for unit tests that run a real engine without IO. */
import { type Env, noStorage } from "../../core/env.ts";

/** Wall clock from `clock.ms`, seeded xorshift randomness, no timers, no storage. */
export function fakeEnv(seed: number, clock: { ms: number }): Env {
  let x = seed >>> 0 || 1;
  return {
    monotonicMs: () => clock.ms,
    wallMs: () => clock.ms,
    random: () => {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      return x / 2 ** 32;
    },
    setTimer: () => null,
    clearTimer: () => {},
    storage: noStorage,
    log: () => {},
    buggify: () => false,
  };
}
