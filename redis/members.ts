/**
 * Membership as data (DESIGN.md section 5): the hash `__swytch:members` in db 0, one field per
 * node id. A member's value is `<redis host:port> <cluster host:port>`; a removed node's is
 * `removed`. Clients read it with HGETALL; only the replicator writes it, with committed changes.
 */
import type { Engine } from "../core/engine.ts";
import type { EnvelopeBody } from "../core/envelope.ts";
import type { Member, MemberChange, MembershipStore } from "../core/replicator.ts";
import type { HashState } from "./types/hash.ts";

export const MEMBERS_KEY = "__swytch:members";

function opOf(change: MemberChange): ["hset", string, string] {
  return change[0] === "add"
    ? ["hset", change[1].node, `${change[1].redis} ${change[1].cluster}`]
    : ["hset", change[1], "removed"];
}

/** The store the replicator reads and writes membership through. */
export function membershipStore(engine: Engine): MembershipStore {
  return {
    read() {
      const members: Member[] = [];
      const removed: string[] = [];
      const ks = engine.lookup(0, MEMBERS_KEY, engine.hlc.nowMs());
      if (ks === undefined || ks.type?.type !== "hash") return { members, removed };
      const h = ks.value as HashState;
      for (const node of h.fields()) {
        const value = h.get(node)!;
        if (value === "removed") {
          removed.push(node);
          continue;
        }
        const [redis, cluster] = value.split(" ");
        if (redis !== undefined && cluster !== undefined) members.push({ node, redis, cluster });
      }
      return { members, removed };
    },
    version() {
      const ks = engine.dbs[0].map.get(MEMBERS_KEY);
      if (ks === undefined) return "";
      return `${ks.tipW?.key}:${ks.tipSeq}:${ks.moreTips?.length ?? 0}:${ks.log?.length ?? 0}:${
        ks.type === null
      }`;
    },
    write(change: MemberChange) {
      const batch = engine.begin();
      batch.write(0, MEMBERS_KEY, opOf(change));
      batch.commit(() => {});
    },
    changeOf(body: EnvelopeBody): MemberChange | null {
      if (body.keys.length !== 1 || body.keys[0].db !== 0 || body.keys[0].key !== MEMBERS_KEY) return null;
      const op = body.keys[0].ops?.[0] as unknown[] | undefined;
      if (op === undefined || op[0] !== "hset") return null;
      const [node, value] = [op[1] as string, op[2] as string];
      if (value === "removed") return ["remove", node];
      const [redis, cluster] = value.split(" ");
      return ["add", { node, redis, cluster }];
    },
    plan(change: MemberChange) {
      const batch = engine.begin();
      batch.reads = [];
      batch.write(0, MEMBERS_KEY, opOf(change));
      return engine.planEnvelope(batch);
    },
  };
}
