// The record the gateway writes for each SandboxJob output it stores, and the
// operator reads to review it: a wire format between the two (JSON, in the
// outbox's manifest folder), so it is defined once, here. Also the job's credential
// id, which both compute from the job's uid.
import { createHash } from "node:crypto";

/**
 * How an output matched an input object (offsets are byte offsets in the
 * output): a copy of it (identical), containing its bytes [inputOffset,
 * inputOffset + length) at offset (embedded), or naming its SHA-256 as hex or
 * base64 text at offset (digest).
 */
export type InputMatch =
  | { readonly key: string; readonly sha256: string; readonly match: "identical" }
  | {
      readonly key: string;
      readonly sha256: string;
      readonly match: "embedded";
      readonly offset: number;
      readonly inputOffset: number;
      readonly length: number;
    }
  | {
      readonly key: string;
      readonly sha256: string;
      readonly match: "digest";
      readonly offset: number;
      readonly encoding: "hex" | "base64";
    };

export interface OutputManifest {
  readonly name: string;
  readonly key: string;
  readonly bytes: number;
  /** Empty when the output was refused for its size and not stored. */
  readonly sha256: string;
  /** The inputs the output copies whole, embeds or names by SHA-256. */
  readonly inputMatches?: readonly InputMatch[];
  /** False when the gateway could not finish scanning the output for its inputs. */
  readonly scanComplete?: boolean;
  /** Written by gateways before inputMatches: input objects whose SHA-256 equals the output's. */
  readonly inputHashes?: readonly string[];
}

/** A SandboxJob's credential id: in its environment, the gateway's /v1/sandbox URLs and status.credential.id. */
export function sandboxCredentialId(jobUid: string): string {
  return createHash("sha256").update(`credential/${jobUid}`).digest("hex").slice(0, 32);
}
