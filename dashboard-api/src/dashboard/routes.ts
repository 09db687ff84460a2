// GET /dashboard: the finance page, plain HTML and inline script, no build step.
import { Type } from "@sinclair/typebox";
import type { FastifyPluginCallback } from "fastify";
import { dashboardHtml } from "./page.ts";

export const dashboardRoutes: FastifyPluginCallback = (app, _opts, done) => {
  app.get(
    "/dashboard",
    {
      config: { public: true },
      schema: {
        operationId: "getFinancePage",
        tags: ["dashboard"],
        summary: "The finance page (the shell is public; its data calls need a token)",
        security: [],
        response: {
          200: { description: "The page", content: { "text/html": { schema: Type.String() } } },
        },
      },
    },
    async (_request, reply) =>
      reply
        .type("text/html; charset=utf-8")
        .header(
          "content-security-policy",
          "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:",
        )
        .send(dashboardHtml),
  );
  done();
};
