// A SandboxJob's inputs: spec.contractRef as the main input, then
// spec.inputs, each with the DataContract it names (in the job's namespace:
// one consumer). A job runs only while every contract is Active and every
// offer is computeOnly; the first input that is not decides what happens.
import { jobInputs, type DataContract, type DataOffer } from "@tds/crds";
import { type KubeObject, kinds } from "@tds/kube";
import type { Context } from "../../runtime/reconcile.ts";
import { offerAccessMode } from "../../policy/offer-rules.ts";
import type { JobObject } from "./sandboxjob.status.ts";

export interface JobInput {
  readonly input: ReturnType<typeof jobInputs>[number];
  readonly contract: (DataContract & KubeObject) | undefined;
}

/** Each input of the job with its contract, if found. */
export async function inputsOf(ctx: Context, job: JobObject): Promise<JobInput[]> {
  const out = [];
  for (const input of jobInputs(job.spec))
    out.push({
      input,
      contract: await ctx.client.find<DataContract & KubeObject>(
        kinds.dataContract,
        input.contract,
        job.metadata.namespace,
      ),
    });
  return out;
}

/**
 * What an input whose contract is not Active does to the job: a started job
 * stops (Failed), one not started waits while the contract may still become
 * Active, and is Rejected otherwise. Undefined when every contract is Active.
 */
export function inactiveContract(
  inputs: readonly JobInput[],
  started: boolean,
):
  | { readonly outcome: "stop" | "wait" | "reject"; readonly reason: string; readonly message: string }
  | undefined {
  for (const { input, contract } of inputs) {
    const state = contract?.status?.state;
    if (contract && state === "Active") continue;
    const reason =
      state === "Revoked" ? "ContractRevoked" : state === "Expired" ? "ContractExpired" : "ContractNotActive";
    const message = `${input.field}: DataContract ${input.contract} is ${state ?? "missing"}, and a SandboxJob runs only under Active contracts`;
    if (started) return { outcome: "stop", reason, message };
    if (state === undefined || state === "Requested" || state === "Agreed")
      return { outcome: "wait", reason, message };
    return { outcome: "reject", reason, message };
  }
  return undefined;
}

/** Why the job cannot run on its inputs' offers (one is not computeOnly), or undefined. */
export async function notComputeOnly(ctx: Context, inputs: readonly JobInput[]): Promise<string | undefined> {
  for (const { input, contract: c } of inputs) {
    const ref = c?.spec.offerRef;
    const offer =
      ref && (await ctx.client.find<DataOffer & KubeObject>(kinds.dataOffer, ref.name, ref.namespace));
    const mode = offer ? offerAccessMode(offer) : "download";
    if (!offer || mode !== "computeOnly")
      return `${input.field}: offer ${ref?.namespace ?? ""}/${ref?.name ?? ""} has access mode ${mode}; a SandboxJob needs computeOnly offers`;
  }
  return undefined;
}
