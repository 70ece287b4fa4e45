/**
 * Peer identities for the cluster's mutual TLS (DESIGN.md section 5).
 *
 * Every node derives the same cluster CA key from `--cluster-passphrase` with HKDF, and makes its
 * own leaf certificate at start, signed by that key. A peer whose certificate another CA key
 * signed fails the TLS handshake, so a node with another passphrase is refused and receives
 * nothing. The CA's private key never leaves memory and is never written anywhere.
 */
import * as crypto from "node:crypto";

type X509 = typeof import("@peculiar/x509");
let x509Module: X509 | null = null;

/**
 * @peculiar/x509 needs the reflect-metadata polyfill evaluated before it; importing both
 * dynamically, in that order, keeps the order in the compiled binary too (static imports may be
 * reordered by the bundler), and keeps the library off the start-up path of nodes without peers.
 */
async function x509(): Promise<X509> {
  if (x509Module === null) {
    await import("reflect-metadata");
    const m = await import("@peculiar/x509");
    m.cryptoProvider.set(crypto.webcrypto as unknown as Crypto);
    x509Module = m;
  }
  return x509Module;
}

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
/** Order of the P-256 group: a private scalar must be in [1, N-1]. */
const P256_N = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
/** The TLS name every peer certificate carries and every peer checks. */
export const PEER_SERVER_NAME = "swytch-peer";
const CA_NAME = "CN=swytch cluster CA";

/** PEM material for one node's TLS endpoint (server and client sides alike). */
export interface PeerIdentity {
  /** The cluster CA certificate: the only issuer this node trusts. */
  ca: string;
  /** This node's leaf certificate, signed by the cluster CA. */
  cert: string;
  /** This node's leaf private key (PKCS#8). */
  key: string;
}

/** A new random passphrase for `--cluster-passphrase` (256 bits, base64url). */
export function newPassphrase(): string {
  return crypto.randomBytes(32).toString("base64url");
}

/**
 * The cluster CA key pair derived from the passphrase: HKDF-SHA256 to a P-256 scalar (drawing
 * again in the rare case it falls outside the group order), wrapped as PKCS#8 so the runtime
 * computes the public point.
 */
export function clusterCaKeys(
  passphrase: string,
): { privateKey: crypto.KeyObject; publicKey: crypto.KeyObject } {
  if (passphrase.length === 0) throw new Error("the cluster passphrase must not be empty");
  for (let attempt = 0; attempt < 64; attempt++) {
    const d = Buffer.from(
      crypto.hkdfSync(
        "sha256",
        Buffer.from(passphrase, "utf8"),
        "swytch cluster ca",
        `p256 scalar ${attempt}`,
        32,
      ),
    );
    const scalar = BigInt("0x" + d.toString("hex"));
    if (scalar === 0n || scalar >= P256_N) continue;
    const privateKey = crypto.createPrivateKey({ key: p256Pkcs8(d), format: "der", type: "pkcs8" });
    return { privateKey, publicKey: crypto.createPublicKey(privateKey) };
  }
  throw new Error("could not derive a cluster CA key"); // probability ~2^-2048
}

/** PKCS#8 (RFC 5208) around an RFC 5915 ECPrivateKey holding only the scalar. */
function p256Pkcs8(d: Buffer): Buffer {
  const ecPrivateKey = Buffer.concat([Buffer.from("30250201010420", "hex"), d]);
  const algorithm = Buffer.from("301306072a8648ce3d020106082a8648ce3d030107", "hex"); // id-ecPublicKey, P-256
  const body = Buffer.concat([
    Buffer.from("020100", "hex"),
    algorithm,
    Buffer.from([0x04, ecPrivateKey.length]),
    ecPrivateKey,
  ]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

async function toCryptoKeys(keys: { privateKey: crypto.KeyObject; publicKey: crypto.KeyObject }) {
  const subtle = crypto.webcrypto.subtle;
  return {
    privateKey: await subtle.importKey(
      "pkcs8",
      keys.privateKey.export({ format: "der", type: "pkcs8" }),
      ALG,
      true,
      [
        "sign",
      ],
    ),
    publicKey: await subtle.importKey(
      "spki",
      keys.publicKey.export({ format: "der", type: "spki" }),
      ALG,
      true,
      [
        "verify",
      ],
    ),
  } as CryptoKeyPair;
}

/**
 * Makes this node's TLS identity: the cluster CA certificate (self-signed with the derived key)
 * and a fresh leaf key and certificate for `nodeId`, valid for a year.
 */
export async function makePeerIdentity(
  passphrase: string,
  nodeId: string,
  nowMs = Date.now(),
): Promise<PeerIdentity> {
  const x = await x509();
  const caKeys = await toCryptoKeys(clusterCaKeys(passphrase));
  const caCert = await x.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: CA_NAME,
    notBefore: new Date("2020-01-01T00:00:00Z"),
    notAfter: new Date("2120-01-01T00:00:00Z"),
    keys: caKeys,
    signingAlgorithm: ALG,
    extensions: [
      new x.BasicConstraintsExtension(true, 0, true),
      new x.KeyUsagesExtension(x.KeyUsageFlags.keyCertSign | x.KeyUsageFlags.cRLSign, true),
    ],
  });
  const leafKeys = await crypto.webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as CryptoKeyPair;
  const leaf = await x.X509CertificateGenerator.create({
    serialNumber: crypto.randomBytes(16).toString("hex"),
    subject: `CN=swytch node ${nodeId}`,
    issuer: caCert.subject,
    notBefore: new Date(nowMs - 3600_000),
    notAfter: new Date(nowMs + 365 * 86400_000),
    signingKey: caKeys.privateKey,
    publicKey: leafKeys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x.BasicConstraintsExtension(false, undefined, true),
      new x.ExtendedKeyUsageExtension([x.ExtendedKeyUsage.serverAuth, x.ExtendedKeyUsage.clientAuth]),
      new x.SubjectAlternativeNameExtension([{ type: "dns", value: PEER_SERVER_NAME }]),
    ],
  });
  const key = crypto.KeyObject.from(leafKeys.privateKey).export({ format: "pem", type: "pkcs8" }) as string;
  return { ca: caCert.toString("pem"), cert: leaf.toString("pem"), key };
}

/** TLS options for the peer listener: client certificates required and checked against the CA. */
export function peerServerTls(id: PeerIdentity) {
  return { key: id.key, cert: id.cert, ca: id.ca, requestCert: true, rejectUnauthorized: true };
}

/** TLS options for dialing a peer: its certificate must chain to the CA and name the peer role. */
export function peerClientTls(id: PeerIdentity) {
  return { key: id.key, cert: id.cert, ca: id.ca, serverName: PEER_SERVER_NAME, rejectUnauthorized: true };
}
