// The DSP endpoints' configuration from the environment (server.ts):
// TDS_DSP_SPACES or TDS_DSP_SPACES_FILE (identity.ts) switches them on for the
// spaces it names; TDS_PUBLIC_URL is the origin counterparties reach this API at.
import { defaultBehaviour, noDecider } from "./behaviour.ts";
import { dspConfigFromEnv } from "./identity.ts";
import type { DspRoutesOptions } from "./routes.ts";

export function dspFromEnv(
  env: NodeJS.ProcessEnv,
  port: number,
): { dsp?: Omit<DspRoutesOptions, "verifyToken"> } {
  const config = dspConfigFromEnv(env);
  if (Object.keys(config).length === 0) return {};
  const publicUrl = (env.TDS_PUBLIC_URL ?? `http://localhost:${port.toString()}`).replace(/\/+$/, "");
  return { dsp: { config, behaviour: defaultBehaviour(noDecider), publicUrl } };
}
