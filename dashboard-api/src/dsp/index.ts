// The DSP endpoints' configuration from the environment (server.ts):
// TDS_DSP_SPACES or TDS_DSP_SPACES_FILE (identity.ts) switches them on for the
// spaces it names; TDS_PUBLIC_URL is the origin counterparties reach this API
// (and its gateway) at. With Kubernetes access, negotiations are decided as
// DataContracts (contracts.ts); without it, every request is refused.
import type { Pool } from "pg";
import type { ContractsKube } from "../contracts/kube.ts";
import { defaultBehaviour, noDecider } from "./behaviour.ts";
import { contractDecider } from "./contracts.ts";
import { dspConfigFromEnv, type DspConfig } from "./identity.ts";
import type { DspRoutesOptions } from "./routes.ts";
import { DspStore } from "./store.ts";
import { TransferTokens } from "./transfer-tokens.ts";

export type DspOptions = Omit<DspRoutesOptions, "verifyToken">;

/** The participant of a space that stands for a counterparty: a participant caller is itself. */
export function participantOf(config: DspConfig) {
  return (space: string, counterparty: string): string | undefined => {
    const declared = config[space]?.counterparties.find((c) => c.id === counterparty);
    return declared ? declared.participant : counterparty;
  };
}

export function dspOptions(opts: {
  config: DspConfig;
  pool: Pool;
  publicUrl: string;
  kube?: ContractsKube | undefined;
}): DspOptions & { transferTokens: TransferTokens } {
  const store = new DspStore(opts.pool);
  const transferTokens = new TransferTokens(store);
  const decider = opts.kube
    ? contractDecider({
        kube: opts.kube,
        store,
        participantOf: participantOf(opts.config),
        gatewayUrl: opts.publicUrl,
        tokens: transferTokens,
      })
    : noDecider;
  return {
    config: opts.config,
    behaviour: defaultBehaviour(decider),
    publicUrl: opts.publicUrl,
    transferTokens,
  };
}

export function dspFromEnv(
  env: NodeJS.ProcessEnv,
  port: number,
  pool: Pool,
  kube: ContractsKube | undefined,
): (DspOptions & { transferTokens: TransferTokens }) | undefined {
  const config = dspConfigFromEnv(env);
  if (Object.keys(config).length === 0) return undefined;
  const publicUrl = (env.TDS_PUBLIC_URL ?? `http://localhost:${port.toString()}`).replace(/\/+$/, "");
  return dspOptions({ config, pool, publicUrl, kube });
}
