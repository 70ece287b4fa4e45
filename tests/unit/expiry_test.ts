import { describe, expect, test } from "bun:test";
import { keyCommands } from "../../redis/keys.ts";
import { listCommands, listType } from "../../redis/types/list.ts";
import { commandNode } from "./fake_env.ts";

describe("active expiry in a cluster", () => {
  test("a due key that was not settled yet is freed later without a read", () => {
    const { engine, clock, run } = commandNode(7, listType, { ...listCommands, ...keyCommands }, ["peer"]);
    expect(run("RPUSH", "l", "a")).toBe(1);
    expect(run("PEXPIRE", "l", "100")).toBe(1);
    clock.ms += 200;
    // Its effects are not stable (the peer has not acknowledged them): it cannot be freed yet.
    expect(engine.expireCycle()).toBe(0);
    expect(engine.dbsize(0)).toBe(1);
    engine.setStable(engine.have());
    clock.ms += 1100;
    // Looked at again a second later, with no client reading it meanwhile.
    expect(engine.expireCycle()).toBe(1);
    expect(engine.dbsize(0)).toBe(0);
  });
});
