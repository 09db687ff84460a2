// Space lookup shared by the routes: authorise first (foreign spaces are 404), then
// require that the space exists, with the same 404 for an unknown one.
import type { FastifyInstance } from "fastify";
import { authorize, type Capability, type Principal } from "./auth/principal.ts";
import { TdsError } from "./errors.ts";

export async function requireSpace(
  app: FastifyInstance,
  principal: Principal,
  space: string,
  capability: Capability,
): Promise<{ closedThrough: Date | null }> {
  authorize(principal, space, capability);
  const { rows } = await app
    .pool()
    .query<{ closed_through: Date | null }>("select closed_through from spaces where space = $1", [space]);
  const row = rows[0];
  if (!row) throw new TdsError("spaceNotFound", `Space ${space} not found`, { field: "space" });
  return { closedThrough: row.closed_through };
}
