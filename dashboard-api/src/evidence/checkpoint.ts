// Signed checkpoints: the tree size, root hash and time of a space's log,
// written as a C2SP tlog-checkpoint inside a C2SP signed note and signed with
// Ed25519. The text is small enough to read by eye:
//
//   tds.dev/evidence/acme          origin: names the log
//   1042                           tree size
//   3pXf...base64 root hash...=    RFC 9162 root hash
//   time 2025-05-01T10:00:00.000Z  extension line: when it was signed
//                                  blank line ends the body
//   — tds.dev/evidence/acme AbCd...base64(key id || signature)
//
// The key id is the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || public key),
// as signed notes define it for Ed25519. Pure functions apart from the key loading.
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { HASH_SIZE, type Hash } from "./merkle.ts";

export interface Checkpoint {
  origin: string;
  treeSize: number;
  rootHash: Hash;
  /** RFC 3339, UTC. */
  time: string;
}

export interface SignedCheckpoint extends Checkpoint {
  /** The whole signed note, byte for byte what was signed plus its signature line. */
  note: string;
}

/**
 * Signs checkpoint bodies for one space. In production the key is an Ed25519
 * PKCS#8 PEM in a Kubernetes Secret the operator creates per space (see
 * docs/evidence.md); anything that can sign (a KMS, an HSM) can implement it.
 */
export interface CheckpointSigner {
  /** The name in the signature line; by convention the log's origin. */
  readonly keyName: string;
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

export class CheckpointError extends Error {
  override name = "CheckpointError";
}

export function originFor(space: string, prefix = "tds.dev/evidence"): string {
  return `${prefix}/${space}`;
}

const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

function rawPublicKey(key: KeyObject): Uint8Array {
  if (key.asymmetricKeyType !== "ed25519") throw new CheckpointError("checkpoint keys must be Ed25519");
  const der = key.export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(ED25519_SPKI_PREFIX.length));
}

export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new CheckpointError("an Ed25519 public key has 32 bytes");
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: "der", type: "spki" });
}

/** Reads an Ed25519 public key from PEM (SPKI), or from the private key PEM. */
export function publicKeyFromPem(pem: string): Uint8Array {
  return rawPublicKey(createPublicKey(pem));
}

export function keyId(keyName: string, publicKey: Uint8Array): Uint8Array {
  return new Uint8Array(
    createHash("sha256")
      .update(keyName)
      .update(new Uint8Array([0x0a, 0x01]))
      .update(publicKey)
      .digest(),
  ).subarray(0, 4);
}

/** The signed-note verifier key string: name+hex(key id)+base64(0x01 || public key). */
export function verifierKey(keyName: string, publicKey: Uint8Array): string {
  const id = Buffer.from(keyId(keyName, publicKey)).toString("hex");
  return `${keyName}+${id}+${Buffer.concat([Buffer.from([0x01]), publicKey]).toString("base64")}`;
}

/** A signer from an Ed25519 private key in PKCS#8 PEM, the form the Secret holds. */
export function signerFromPem(keyName: string, pem: string): CheckpointSigner {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw new CheckpointError(`the checkpoint key for ${keyName} is not an Ed25519 key`);
  }
  const publicKey = rawPublicKey(createPublicKey(privateKey));
  return {
    keyName,
    publicKey,
    sign: (message) => Promise.resolve(new Uint8Array(sign(null, message, privateKey))),
  };
}

function checkKeyName(name: string): void {
  if (name.length === 0 || /[\s+]/u.test(name))
    throw new CheckpointError(`invalid key name ${JSON.stringify(name)}`);
}

/** The checkpoint body that is signed. */
export function checkpointBody(c: Checkpoint): string {
  if (c.origin.length === 0 || c.origin.includes("\n")) throw new CheckpointError("invalid origin");
  if (!Number.isSafeInteger(c.treeSize) || c.treeSize < 0) throw new CheckpointError("invalid tree size");
  if (c.rootHash.length !== HASH_SIZE) throw new CheckpointError("root hash must be 32 bytes");
  if (Number.isNaN(Date.parse(c.time))) throw new CheckpointError("invalid checkpoint time");
  return `${c.origin}\n${c.treeSize}\n${Buffer.from(c.rootHash).toString("base64")}\ntime ${c.time}\n`;
}

/**
 * A C2SP signed note of any body (text ending with a newline): the checkpoint
 * and the filing record (filing/record.ts) are signed by the space's key this one way.
 */
export async function signNote(body: string, signer: CheckpointSigner): Promise<string> {
  checkKeyName(signer.keyName);
  if (!body.endsWith("\n") || body.includes("\n\n")) throw new CheckpointError("invalid note body");
  const signature = await signer.sign(Buffer.from(body, "utf8"));
  const blob = Buffer.concat([keyId(signer.keyName, signer.publicKey), signature]).toString("base64");
  return `${body}\n\u2014 ${signer.keyName} ${blob}\n`;
}

export async function signCheckpoint(c: Checkpoint, signer: CheckpointSigner): Promise<SignedCheckpoint> {
  return { ...c, note: await signNote(checkpointBody(c), signer) };
}

/** Parses a checkpoint body (without signatures). */
export function parseCheckpointBody(body: string): Checkpoint {
  const lines = body.split("\n");
  if (lines.at(-1) !== "") throw new CheckpointError("checkpoint body must end with a newline");
  const [origin, size, root, ...ext] = lines.slice(0, -1);
  if (origin === undefined || origin === "") throw new CheckpointError("checkpoint has no origin line");
  if (size === undefined || !/^(0|[1-9][0-9]{0,15})$/u.test(size)) {
    throw new CheckpointError("checkpoint tree size is not a decimal number");
  }
  const treeSize = Number(size);
  if (!Number.isSafeInteger(treeSize)) throw new CheckpointError("checkpoint tree size is too large");
  const rootHash = new Uint8Array(Buffer.from(root ?? "", "base64"));
  if (rootHash.length !== HASH_SIZE || Buffer.from(rootHash).toString("base64") !== root) {
    throw new CheckpointError("checkpoint root hash is not 32 bytes of base64");
  }
  const timeLine = ext.find((l) => l.startsWith("time "));
  const time = timeLine?.slice("time ".length) ?? "";
  if (Number.isNaN(Date.parse(time))) throw new CheckpointError("checkpoint has no valid time line");
  return { origin, treeSize, rootHash, time };
}

/**
 * Verifies a signed note against one public key and returns its body. Throws
 * CheckpointError when the note is malformed, carries no signature by this
 * key, or the signature does not verify. Other signers' lines are ignored.
 */
export function openNote(note: string, keyName: string, publicKey: Uint8Array): string {
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new CheckpointError("not a signed note");
  const body = note.slice(0, split + 1);
  const sigLines = note.slice(split + 2, -1).split("\n");
  const wantId = Buffer.from(keyId(keyName, publicKey));
  const key = publicKeyFromRaw(publicKey);
  let found = false;
  for (const line of sigLines) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/u.exec(line);
    if (!m) throw new CheckpointError(`malformed signature line ${JSON.stringify(line)}`);
    if (m[1] !== keyName) continue;
    const blob = Buffer.from(m[2] ?? "", "base64");
    if (blob.length !== 4 + 64 || !blob.subarray(0, 4).equals(wantId)) continue;
    if (!verify(null, Buffer.from(body, "utf8"), key, blob.subarray(4))) {
      throw new CheckpointError(`the signature by ${keyName} does not verify`);
    }
    found = true;
  }
  if (!found) throw new CheckpointError(`the note carries no signature by ${keyName} with this key`);
  return body;
}

/** Verifies a signed note against one public key (openNote) and returns its checkpoint. */
export function verifyCheckpoint(
  note: string,
  keyName: string,
  publicKey: Uint8Array,
  expectedOrigin?: string,
): SignedCheckpoint {
  const checkpoint = parseCheckpointBody(openNote(note, keyName, publicKey));
  if (expectedOrigin !== undefined && checkpoint.origin !== expectedOrigin) {
    throw new CheckpointError(`checkpoint origin ${checkpoint.origin} is not ${expectedOrigin}`);
  }
  return { ...checkpoint, note };
}

/** The key name a note was signed with (its first signature line), for tools that only hold the key. */
export function noteKeyName(note: string): string | undefined {
  const m = /\n\n\u2014 (\S+) /u.exec(note);
  return m?.[1];
}
