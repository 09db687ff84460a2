// A real OpenID provider for the tests: the certified `oidc-provider` package,
// run as its own process over HTTPS on loopback. It reads everything from the
// JSON file named by OIDC_PROVIDER_CONFIG (written by oidc-provider.ts): the
// issuer, the port, the TLS key and certificate, the signing keys (a private
// JWKS: rotating keys is rewriting the file and restarting), the
// client_credentials clients and the resource indicators it issues JWT access
// tokens for. Nothing here makes or checks a token itself.
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import Provider, { errors } from "oidc-provider";

export interface OidcProviderConfig {
  readonly issuer: string;
  readonly port: number;
  readonly tls: { readonly keyPem: string; readonly certPem: string };
  /** Private signing keys (RS256), each with a kid. */
  readonly jwks: { readonly keys: readonly Record<string, unknown>[] };
  readonly clients: readonly { readonly clientId: string; readonly clientSecret: string }[];
  /** The resource indicators (token audiences) it issues access tokens for; the first is the default. */
  readonly resources: readonly string[];
  /** Lifetime of an access token, seconds; a token requested with scope `short` lives `shortTtlSeconds`. */
  readonly ttlSeconds: number;
  readonly shortTtlSeconds: number;
}

const file = process.env.OIDC_PROVIDER_CONFIG;
if (!file) throw new Error("OIDC_PROVIDER_CONFIG must name the provider's configuration file");
const config = JSON.parse(readFileSync(file, "utf8")) as OidcProviderConfig;

const provider = new Provider(config.issuer, {
  clients: config.clients.map((c) => ({
    client_id: c.clientId,
    client_secret: c.clientSecret,
    grant_types: ["client_credentials"],
    response_types: [],
    redirect_uris: [],
    scope: "api short",
  })),
  jwks: { keys: config.jwks.keys.map((k) => ({ ...k })) },
  scopes: ["api", "short"],
  cookies: { keys: ["tds-test-oidc-provider"] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, _client, oneOf) => oneOf ?? config.resources[0] ?? "",
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        if (!config.resources.includes(resourceIndicator)) throw new errors.InvalidTarget();
        const requested = (ctx.oidc.params as { scope?: unknown } | undefined)?.scope;
        const scope = typeof requested === "string" ? requested : "";
        return {
          scope: "api short",
          audience: resourceIndicator,
          accessTokenFormat: "jwt",
          accessTokenTTL: scope.split(" ").includes("short") ? config.shortTtlSeconds : config.ttlSeconds,
          jwt: { sign: { alg: "RS256" } },
        };
      },
    },
  },
});

const handle = provider.callback();
const server = createServer({ key: config.tls.keyPem, cert: config.tls.certPem }, (req, res) => {
  void handle(req, res);
});
server.listen(config.port, "127.0.0.1", () => {
  console.log(`oidc-provider ${config.issuer} listening on https://127.0.0.1:${String(config.port)}`);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
