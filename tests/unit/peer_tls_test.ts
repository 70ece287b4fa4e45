/**
 * Peer identities: the CA key is a pure function of the passphrase, and real Bun TLS sockets on
 * loopback accept a peer with the same passphrase and refuse one with another, which then
 * delivers nothing.
 */
import { expect, test } from "bun:test";
import * as crypto from "node:crypto";
import {
  clusterCaKeys,
  makePeerIdentity,
  newPassphrase,
  peerClientTls,
  type PeerIdentity,
  peerServerTls,
} from "../../net/peer_tls.ts";

test("the cluster CA key is derived from the passphrase alone", () => {
  const a = clusterCaKeys("correct horse battery staple");
  const b = clusterCaKeys("correct horse battery staple");
  const c = clusterCaKeys("correct horse battery stapler");
  const jwk = (k: crypto.KeyObject) => JSON.stringify(k.export({ format: "jwk" }));
  expect(jwk(a.publicKey)).toBe(jwk(b.publicKey));
  expect(jwk(a.publicKey)).not.toBe(jwk(c.publicKey));
  // The derived pair is a working P-256 key pair.
  const sig = crypto.sign("sha256", Buffer.from("x"), a.privateKey);
  expect(crypto.verify("sha256", Buffer.from("x"), b.publicKey, sig)).toBe(true);
  expect(() => clusterCaKeys("")).toThrow();
});

test("generated passphrases are long and distinct", () => {
  const a = newPassphrase(), b = newPassphrase();
  expect(a.length).toBeGreaterThanOrEqual(43);
  expect(a).not.toBe(b);
});

test("each node's leaf chains to the shared CA; another passphrase's does not", async () => {
  const a = await makePeerIdentity("pass-one", "node-a");
  const b = await makePeerIdentity("pass-one", "node-b");
  const evil = await makePeerIdentity("pass-two", "node-evil");
  const leafB = new crypto.X509Certificate(b.cert);
  expect(leafB.checkIssued(new crypto.X509Certificate(a.ca))).toBe(true);
  expect(leafB.verify(new crypto.X509Certificate(a.ca).publicKey)).toBe(true);
  expect(new crypto.X509Certificate(evil.cert).verify(new crypto.X509Certificate(a.ca).publicKey)).toBe(
    false,
  );
});

/** Dials `server` with identity `id`; resolves with what came back, or how it failed. */
function dial(
  port: number,
  id: PeerIdentity | null,
  hello: string,
  ca = "",
): Promise<{ reply: string; tls: string | null }> {
  return new Promise((resolve) => {
    let reply = "", tls: string | null = null;
    const timer = setTimeout(() => resolve({ reply: `timeout:${reply}`, tls }), 5000);
    const done = () => {
      clearTimeout(timer);
      resolve({ reply, tls });
    };
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      tls: id !== null ? peerClientTls(id) : { ca, serverName: "swytch-peer", rejectUnauthorized: true },
      socket: {
        open(s) {
          tls = (s as unknown as { getTLSVersion?: () => string }).getTLSVersion?.() ?? null;
          s.write(hello);
        },
        data(s, d) {
          reply += d.toString();
          s.end();
        },
        close: done,
        error: done,
        connectError: done,
      },
    }).catch(done);
  });
}

test("mutual TLS on loopback: same passphrase talks, another passphrase is refused and sends nothing", async () => {
  const a = await makePeerIdentity("shared-secret", "a");
  const b = await makePeerIdentity("shared-secret", "b");
  const evil = await makePeerIdentity("not-the-secret", "evil");
  const received: string[] = [];
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: peerServerTls(a),
    socket: {
      data(s, d) {
        received.push(d.toString());
        s.write("welcome");
      },
      error() {},
    },
  });
  try {
    const good = await dial(server.port, b, "hello from b");
    expect(good.reply).toBe("welcome");
    expect(good.tls).toBe("TLSv1.3");
    const bad = await dial(server.port, evil, "hello from evil");
    expect(bad.reply).toBe("");
    // No client certificate at all: refused too.
    const anonymous = await dial(server.port, null, "hello from nobody", b.ca);
    expect(anonymous.reply).toBe("");
    expect(received).toEqual(["hello from b"]);
  } finally {
    server.stop(true);
  }
});

test("mutual TLS: a node refuses a server whose certificate another passphrase signed", async () => {
  const good = await makePeerIdentity("shared-secret", "good");
  const evil = await makePeerIdentity("not-the-secret", "evil");
  const received: string[] = [];
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    // The evil server accepts anyone, to show that the client side checks on its own.
    tls: { ...peerServerTls(evil), requestCert: false, rejectUnauthorized: false },
    socket: {
      data(s, d) {
        received.push(d.toString());
        s.write("gotcha");
      },
      error() {},
    },
  });
  try {
    const r = await dial(server.port, good, "secret data");
    expect(r.reply).toBe("");
    expect(received).toEqual([]);
  } finally {
    server.stop(true);
  }
});
