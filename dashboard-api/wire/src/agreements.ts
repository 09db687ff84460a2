// What the gateway's ledger counted of a contract's agreement and of a
// SandboxJob's input reads, as the API answers the operator
// (GET /v1/spaces/{space}/agreements/{agreementId}, GET
// /v1/spaces/{space}/sandboxjobs/{uid}/reads).
import { Type, type Static } from "@sinclair/typebox";

const count = (description: string) => Type.Integer({ minimum: 0, description });

export const AgreementUseSchema = Type.Object({
  agreementId: Type.String(),
  space: Type.String(),
  accesses: count("Accesses counted against the agreed maximum"),
  transfers: count("Transfers (a transfer's retries are one)"),
  bytes: count("Distinct bytes delivered, summed over transfers"),
});
export type AgreementUse = Static<typeof AgreementUseSchema>;

export const SandboxReadsSchema = Type.Object({
  space: Type.String(),
  job: Type.String(),
  inputs: Type.Array(
    Type.Object({
      agreementId: Type.String(),
      reads: count("Input reads (a read's retries are one)"),
      bytes: count("Distinct bytes delivered, summed over reads"),
    }),
  ),
});
export type SandboxReadsAnswer = Static<typeof SandboxReadsSchema>;
