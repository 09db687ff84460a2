// How the gateway answers a Refusal (grants.ts), on its contract routes and its
// sandbox routes alike: a problem document, and on a 401 an RFC 6750 challenge
// for the gateway's own tokens (contract and sandbox tokens, not API tokens).
import type { FastifyReply, FastifyRequest } from "fastify";
import { bearerChallenge, sendProblem } from "@tds/dashboard-api/errors";
import type { Refusal } from "./grants.ts";

/** The realm of the gateway's Bearer challenges. */
export const GATEWAY_REALM = "tds-gateway";

export function refuse(reply: FastifyReply, request: FastifyRequest, r: Refusal): FastifyReply {
  if (r.status === 401 && !reply.hasHeader("www-authenticate"))
    void reply.header("www-authenticate", bearerChallenge(request.headers.authorization, GATEWAY_REALM));
  return sendProblem(reply, request, r.status, r.code, r.message);
}
