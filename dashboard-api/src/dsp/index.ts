// The DSP endpoints' configuration (run.ts): with Kubernetes access, every
// DataSpace's spec.dsp (cluster.ts), live; TDS_DSP_SPACES or
// TDS_DSP_SPACES_FILE (identity.ts) for spaces that have no DataSpace (the TCK
// target). TDS_PUBLIC_URL is the origin counterparties reach this API at, and
// TDS_DSP_GATEWAY_URL the gateway's that data addresses name (default: the same). With Kubernetes access, negotiations are decided as
// DataContracts (contracts.ts); without it, every request is refused.
import type { Pool } from "pg";
import type { KubeClient } from "@tds/kube";
import { contractStore } from "../contracts/contract-store.ts";
import { defaultBehaviour, noDecider } from "./behaviour.ts";
import { contractDecider } from "./contracts.ts";
import type { DspSpacesFromCluster } from "./cluster.ts";
import { currentDspConfig, dspConfigFromEnv, type DspConfigSource } from "./identity.ts";
import type { DspRoutesOptions } from "./routes.ts";
import { DspStore } from "./store.ts";
import { TransferTokens } from "./transfer-tokens.ts";

export type DspOptions = Omit<DspRoutesOptions, "verifyToken">;

/** The participant of a space that stands for a counterparty: a participant caller is itself. */
export function participantOf(config: DspConfigSource) {
  return (space: string, counterparty: string): string | undefined => {
    const declared = currentDspConfig(config)[space]?.counterparties.find((c) => c.id === counterparty);
    return declared ? declared.participant : counterparty;
  };
}

export function dspOptions(opts: {
  config: DspConfigSource;
  pool: Pool;
  publicUrl: string;
  /**
   * Origin of the gateway (@tds/gateway) that data addresses name; default the public URL, for an
   * ingress that routes /v1/data to the gateway on the API's origin.
   */
  gatewayUrl?: string;
  /** The API's Kubernetes access; without it every negotiation is refused. */
  kube?: KubeClient | undefined;
}): DspOptions & { transferTokens: TransferTokens } {
  const store = new DspStore(opts.pool);
  const transferTokens = new TransferTokens(store);
  const decider = opts.kube
    ? contractDecider({
        contracts: contractStore(opts.kube),
        store,
        participantOf: participantOf(opts.config),
        gatewayUrl: opts.gatewayUrl ?? opts.publicUrl,
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

/**
 * The DSP options from the environment and, with Kubernetes access, the
 * cluster's DataSpaces (`cluster`, started by the caller); a space named in
 * TDS_DSP_SPACES is configured by it alone. Undefined when neither names a space.
 */
export function dspFromEnv(
  env: NodeJS.ProcessEnv,
  port: number,
  pool: Pool,
  kube: KubeClient | undefined,
  cluster?: DspSpacesFromCluster,
): (DspOptions & { transferTokens: TransferTokens }) | undefined {
  const fixed = dspConfigFromEnv(env);
  if (Object.keys(fixed).length === 0 && !cluster) return undefined;
  const config: DspConfigSource = cluster ? () => ({ ...cluster.current(), ...fixed }) : fixed;
  const publicUrl = (env.TDS_PUBLIC_URL ?? `http://localhost:${port.toString()}`).replace(/\/+$/, "");
  // Data addresses name the gateway's origin (the chart sets it to gateway.publicUrl).
  const gatewayUrl = env.TDS_DSP_GATEWAY_URL?.replace(/\/+$/, "");
  return dspOptions({ config, pool, publicUrl, ...(gatewayUrl ? { gatewayUrl } : {}), kube });
}
