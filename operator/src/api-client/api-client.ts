// The operator's link to the API: an ApiClient (@tds/wire) for evidence
// appends, catalog entries, usage events and the gateway's counts,
// configured by TDS_DASHBOARD_URL and a bearer token (TDS_DASHBOARD_TOKEN, or
// TDS_DASHBOARD_TOKEN_FILE re-read per request so it can rotate). When it is
// not configured the operator still decides; controllers then mark evidence
// as pending in status instead of dropping it.
import { readFile } from "node:fs/promises";
import type { ApiClientOptions } from "@tds/wire";

/** The operator's identity in evidence entries. */
export const OPERATOR_ACTOR = "system:tds-operator";

/** The client's options from the environment, or undefined when TDS_DASHBOARD_URL is not set. */
export function apiClientOptionsFromEnv(env: NodeJS.ProcessEnv): ApiClientOptions | undefined {
  const url = env.TDS_DASHBOARD_URL;
  if (!url) return undefined;
  const file = env.TDS_DASHBOARD_TOKEN_FILE;
  const literal = env.TDS_DASHBOARD_TOKEN;
  const token = file
    ? async () => (await readFile(file, "utf8")).trim()
    : literal
      ? () => Promise.resolve(literal)
      : undefined;
  return { url, ...(token ? { token } : {}) };
}
