// Authentication for every /v1 request: a bearer token verified by the configured
// verifier, or else a verified client certificate, becomes `request.principal`. Routes opt out only with config.public.
import fp from "fastify-plugin";
import type { FastifyRequest } from "fastify";
import type { Principal } from "../auth/principal.ts";
import { bearerToken, type TokenVerifier } from "../auth/tokens.ts";
import { TdsError } from "../errors.ts";
import { certificatePrincipal } from "./client-certificates.ts";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Served without authentication: probes, metrics, docs, the page shell. */
    public?: boolean;
  }
}

export interface AuthPluginOptions {
  readonly verify: TokenVerifier;
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new TdsError("unauthenticated", "Authentication required");
  return request.principal;
}

export const authPlugin = fp<AuthPluginOptions>(
  (app, opts, done) => {
    app.decorateRequest("principal", null);
    app.addHook("onRequest", async (request) => {
      if (request.routeOptions.config.public === true) return;
      // An unknown route is a 404 with or without a token: the route table is public in /openapi.json.
      if (request.is404) return;
      // A client certificate verified by plugins/client-certificates.ts, when no bearer token is given.
      if (request.certificate && request.headers.authorization === undefined) {
        request.principal = certificatePrincipal(request.certificate);
        return;
      }
      request.principal = await opts.verify(bearerToken(request.headers.authorization));
    });
    done();
  },
  { name: "tds-auth" },
);
