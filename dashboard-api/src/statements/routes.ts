// Price sheets and statements: read, close a period, add a correction.
import { createHash } from "node:crypto";
import { EvidenceStore } from "../evidence/store.ts";
import type { FastifyPluginCallback } from "fastify";
import { authorize, type Principal } from "../auth/principal.ts";
import { wantsCsv } from "../csv.ts";
import { problemResponse, TdsError } from "../errors.ts";
import { principalOf } from "../plugins/auth.ts";
import { accountsStart, isParticipantOf, mayRegisterSpaces, registerSpace, requireSpace } from "../spaces.ts";
import { isCurrency, moneyNumberRefusal, parseDecimal } from "./money.ts";
import { statementCsv, statementCsvColumns } from "./csv.ts";
import { lineAmountMinor, roundingRule, settle } from "./settlement.ts";
import { currencyOf, priceSheetSchema, upsertPriceSheet, type PriceSheetInput } from "./prices.ts";
import {
  closedLines,
  closePeriod,
  draftLines,
  nextClosablePeriod,
  parsePeriod,
  periodOf,
  summarize,
  type StatementLine,
} from "./statement.ts";

const spaceParams = {
  type: "object",
  required: ["space"],
  properties: { space: { type: "string" } },
} as const;
const periodParams = {
  type: "object",
  required: ["space", "period"],
  properties: {
    space: { type: "string" },
    period: { type: "string", pattern: "^[0-9]{4}-(0[1-9]|1[0-2])$" },
  },
} as const;
/** How far ahead a price sheet may be declared. */
const maxSheetLeadMs = 366 * 86_400_000;
const err4xx = { "4xx": problemResponse } as const;
const lineSchema = {
  type: "object",
  properties: {
    lineNo: { type: "integer" },
    kind: { type: "string", enum: ["usage", "late_usage", "adjustment"] },
    participant: { type: "string" },
    provider: { type: "string" },
    offer: { type: "string" },
    contract: { type: "string", description: "The DataContract the use was made under; empty when none" },
    meter: { type: "string" },
    unit: { type: "string" },
    quantity: { type: "string", description: "Exact integer in the meter's base unit (unit)" },
    pricedQuantity: {
      type: "string",
      nullable: true,
      description: "The quantity in priceUnit, half-even to 6 places (display; amount uses quantity)",
    },
    unitPrice: { type: "string", nullable: true },
    priceUnit: { type: "string", nullable: true },
    priceSource: {
      type: "string",
      nullable: true,
      enum: ["platform", "offer", null],
      description: "platform: the space's price sheet (the platform's charge); offer: the offer's own price",
    },
    amount: { type: "string", description: "Exact, in micro-units of the currency (6 places)" },
    amountMinor: {
      type: "string",
      nullable: true,
      description:
        "The amount half-even to the currency's minor unit, for reading (invoices round their sum)",
    },
    currency: { type: "string", nullable: true },
    platformFee: { type: "string", description: "What the platform receives of the amount" },
    providerShare: {
      type: "string",
      description: "What the provider receives: amount - platformFee, exactly",
    },
    sheetId: { type: "string", nullable: true },
    description: { type: "string" },
  },
} as const;
const moneyRows = (key: string) =>
  ({
    type: "array",
    items: {
      type: "object",
      properties: { [key]: { type: "string" }, currency: { type: "string" }, amount: { type: "string" } },
    },
  }) as const;
const statementSchema = {
  type: "object",
  properties: {
    space: { type: "string" },
    period: { type: "string" },
    status: { type: "string", enum: ["open", "closed"] },
    closedAt: { type: "string", nullable: true },
    closedBy: { type: "string", nullable: true },
    totals: {
      type: "array",
      items: {
        type: "object",
        properties: {
          currency: { type: "string" },
          subtotal: { type: "string" },
          platformFee: { type: "string" },
          providerShare: { type: "string" },
        },
      },
    },
    charges: moneyRows("participant"),
    revenueShare: moneyRows("provider"),
    settlement: {
      type: "array",
      description: `Per currency, in its minor units. Rounding: ${roundingRule}`,
      items: {
        type: "object",
        properties: {
          currency: { type: "string" },
          minorDigits: { type: "integer" },
          subtotal: { type: "string" },
          platformFee: { type: "string" },
          providerShare: { type: "string" },
          charges: {
            type: "array",
            items: {
              type: "object",
              properties: { participant: { type: "string" }, amount: { type: "string" } },
            },
          },
          revenueShare: {
            type: "array",
            items: {
              type: "object",
              properties: {
                provider: { type: "string" },
                basis: { type: "string", description: "What consumers paid at the provider's offer prices" },
                platformFee: { type: "string", description: "The platform's fee on the basis" },
                amount: { type: "string", description: "The provider's payout" },
              },
            },
          },
        },
      },
    },
    lines: { type: "array", items: lineSchema },
    audit: {
      type: "array",
      items: {
        type: "object",
        properties: { action: { type: "string" }, actor: { type: "string" }, at: { type: "string" } },
      },
    },
  },
} as const;

/** Participants see the lines they pay and the lines of their offers; nothing else. */
function visibleLines(p: Principal, lines: StatementLine[]): StatementLine[] {
  if (p.role !== "participant") return lines;
  return lines.filter((l) => l.participant === p.participant || l.provider === p.participant);
}

export const statementRoutes: FastifyPluginCallback<{ now: () => Date }> = (app, opts, done) => {
  app.addSchema(priceSheetSchema);

  app.put<{ Params: { space: string }; Body: PriceSheetInput }>(
    "/v1/spaces/:space/price-sheets",
    {
      schema: {
        operationId: "putPriceSheet",
        tags: ["prices"],
        summary: "Create or replace the price sheet taking effect at effectiveFrom",
        params: spaceParams,
        body: { $ref: "PriceSheet#" },
        response: {
          200: {
            type: "object",
            properties: {
              sheetId: { type: "string" },
              repriced: {
                type: "array",
                items: { type: "string" },
                description: "Periods with usage that this correction repriced",
              },
            },
          },
          ...err4xx,
        },
      },
      preValidation: (request, _reply, next) => {
        next(moneyNumberRefusal(request.body, ["prices/*/unitPrice"]));
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { space } = request.params;
      const declaredAt = opts.now();
      // Only a cluster-wide role may register a space by its first sheet (spaces.ts).
      if (mayRegisterSpaces(principal)) authorize(principal, space, "prices:write");
      else await requireSpace(app, principal, space, "prices:write");
      const { correction, ...sheet } = request.body;
      const result = await app.tx(async (c) => {
        if (mayRegisterSpaces(principal)) await registerSpace(c, space);
        const start = await accountsStart(c, space, declaredAt);
        const from = new Date(sheet.effectiveFrom);
        const latest = new Date(declaredAt.getTime() + maxSheetLeadMs);
        if (from < start || from > latest)
          throw new TdsError(
            "validation",
            `body/effectiveFrom: must be between ${start.toISOString()} (the oldest usage the space can have) ` +
              `and ${latest.toISOString()} (one year ahead)`,
            { field: "body/effectiveFrom" },
          );
        return upsertPriceSheet(c, space, sheet, principal.subject, "api", {
          declaredAt,
          ...(correction ? { correction } : {}),
        });
      });
      if (result.repriced.length > 0 && correction) {
        // A correction that reprices metered periods is evidence, like a closed statement.
        await new EvidenceStore(app.pool()).append(space, [
          {
            space,
            eventId: `price-sheet/${result.sheetId}/correction/${declaredAt.toISOString()}`,
            actor: principal.subject,
            action: "price-sheet.corrected",
            time: declaredAt.toISOString(),
            object: {
              kind: "PriceSheet",
              name: result.sheetId,
              uid: `${space}/price-sheet/${result.sheetId}`,
            },
            payloadHash: createHash("sha256")
              .update(JSON.stringify({ sheet: request.body, repriced: result.repriced }))
              .digest("hex"),
          },
        ]);
      }
      return { sheetId: result.sheetId, repriced: [...result.repriced] };
    },
  );

  app.get<{ Params: { space: string } }>(
    "/v1/spaces/:space/price-sheets",
    {
      schema: {
        operationId: "listPriceSheets",
        tags: ["prices"],
        summary: "Price sheets of a space, newest first",
        params: spaceParams,
        response: {
          200: {
            type: "object",
            properties: {
              sheets: {
                type: "array",
                items: {
                  type: "object",
                  properties: {
                    sheetId: { type: "string" },
                    effectiveFrom: { type: "string" },
                    currency: { type: "string" },
                    platformFeeBps: { type: "integer" },
                    providerShareBps: { type: "integer" },
                    origin: { type: "string" },
                    prices: {
                      type: "array",
                      items: {
                        type: "object",
                        properties: {
                          meter: { type: "string" },
                          unit: { type: "string" },
                          unitPrice: { type: "string" },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
          ...err4xx,
        },
      },
    },
    async (request) => {
      await requireSpace(app, principalOf(request), request.params.space, "prices:read");
      const { rows } = await app.pool().query<{
        sheet_id: string;
        effective_from: Date;
        currency: string;
        platform_fee_bps: number;
        provider_share_bps: number;
        origin: string;
        prices: { meter: string; unit: string; unitPrice: string }[] | null;
      }>(
        `select s.sheet_id::text as sheet_id, s.effective_from, s.currency, s.platform_fee_bps, s.provider_share_bps, s.origin,
                (select json_agg(json_build_object('meter', p.meter, 'unit', p.unit, 'unitPrice', p.unit_price::text) order by p.meter)
                 from price_sheet_prices p where p.sheet_id = s.sheet_id) as prices
         from price_sheets s where s.space = $1 order by s.effective_from desc`,
        [request.params.space],
      );
      return {
        sheets: rows.map((r) => ({
          sheetId: r.sheet_id,
          effectiveFrom: r.effective_from.toISOString(),
          currency: r.currency,
          platformFeeBps: r.platform_fee_bps,
          providerShareBps: r.provider_share_bps,
          origin: r.origin,
          prices: r.prices ?? [],
        })),
      };
    },
  );

  app.get<{ Params: { space: string } }>(
    "/v1/spaces/:space/statements",
    {
      schema: {
        operationId: "listStatements",
        tags: ["statements"],
        summary: "Closed statements and the open periods' drafts, newest first",
        params: spaceParams,
        response: {
          200: {
            type: "object",
            properties: {
              statements: {
                type: "array",
                items: {
                  type: "object",
                  properties: {
                    period: { type: "string" },
                    status: { type: "string" },
                    closedAt: { type: "string", nullable: true },
                    closedBy: { type: "string", nullable: true },
                    totals: statementSchema.properties.totals,
                  },
                },
              },
            },
          },
          ...err4xx,
        },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { space } = request.params;
      const { closedThrough } = await requireSpace(app, principal, space, "statements:read");
      const client = await app.pool().connect();
      try {
        const closed = await client.query<{ period: string; closed_at: Date; closed_by: string }>(
          "select to_char(period, 'YYYY-MM') as period, closed_at, closed_by from statements where space = $1 order by period desc",
          [space],
        );
        const out = [];
        const first = await nextClosablePeriod(client, space, closedThrough);
        const current = periodOf(opts.now());
        if (first) {
          for (let p = first, n = 0; p.start <= current.start && n < 24; p = periodOf(p.end), n++) {
            const lines = visibleLines(principal, await draftLines(client, space, p));
            out.unshift({
              period: p.id,
              status: "open",
              closedAt: null,
              closedBy: null,
              totals: summarize(lines).totals,
            });
          }
        }
        for (const s of closed.rows) {
          const lines = visibleLines(principal, await closedLines(client, space, parsePeriod(s.period)));
          out.push({
            period: s.period,
            status: "closed",
            closedAt: s.closed_at.toISOString(),
            closedBy: s.closed_by,
            totals: summarize(lines).totals,
          });
        }
        return { statements: out };
      } finally {
        client.release();
      }
    },
  );

  app.get<{ Params: { space: string; period: string }; Querystring: { format?: "json" | "csv" } }>(
    "/v1/spaces/:space/statements/:period",
    {
      schema: {
        operationId: "getStatement",
        tags: ["statements"],
        summary: "A statement: lines, totals, platform fee and revenue share",
        description:
          "JSON by default; CSV with Accept: text/csv or format=csv, one row per line " +
          `(columns: ${statementCsvColumns.join(",")}).`,
        params: periodParams,
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: { format: { type: "string", enum: ["json", "csv"] } },
        },
        response: {
          200: {
            description: "The statement",
            content: {
              "application/json": { schema: statementSchema },
              "text/csv": { schema: { type: "string" } },
            },
          },
          ...err4xx,
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { space } = request.params;
      await requireSpace(app, principal, space, "statements:read");
      const period = parsePeriod(request.params.period);
      const csv = wantsCsv(request.headers.accept, request.query.format);
      const client = await app.pool().connect();
      try {
        const st = await client.query<{ closed_at: Date; closed_by: string }>(
          "select closed_at, closed_by from statements where space = $1 and period = $2",
          [space, period.date],
        );
        const closed = st.rows[0];
        const lines = visibleLines(
          principal,
          closed ? await closedLines(client, space, period) : await draftLines(client, space, period),
        );
        const status = closed ? "closed" : "open";
        if (csv)
          return await reply
            .type("text/csv; charset=utf-8")
            .header("content-disposition", `attachment; filename="statement-${space}-${period.id}.csv"`)
            .send(statementCsv(space, period.id, status, lines));
        const audit = await client.query<{ action: string; actor: string; at: Date }>(
          "select action, actor, at from statement_audit where space = $1 and period = $2 order by audit_id",
          [space, period.date],
        );
        return {
          space,
          period: period.id,
          status,
          closedAt: closed ? closed.closed_at.toISOString() : null,
          closedBy: closed ? closed.closed_by : null,
          ...summarize(lines),
          settlement: settle(lines),
          lines: lines.map((l) => ({ ...l, amountMinor: lineAmountMinor(l) })),
          audit:
            principal.role === "participant" ? [] : audit.rows.map((a) => ({ ...a, at: a.at.toISOString() })),
        };
      } finally {
        client.release();
      }
    },
  );

  app.post<{ Params: { space: string; period: string } }>(
    "/v1/spaces/:space/statements/:period/close",
    {
      schema: {
        operationId: "closeStatement",
        tags: ["statements"],
        summary: "Close a period: its statement becomes immutable; later usage becomes adjustment lines",
        params: periodParams,
        response: {
          200: { type: "object", properties: { period: { type: "string" }, lines: { type: "integer" } } },
          ...err4xx,
        },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { space } = request.params;
      await requireSpace(app, principal, space, "statements:write");
      const period = parsePeriod(request.params.period);
      const closedAt = opts.now();
      const lines = await app.tx((c) => closePeriod(c, space, period, principal.subject, closedAt));
      // Every closed statement is evidence: who closed which period, and a hash of its lines.
      await new EvidenceStore(app.pool()).append(space, [
        {
          space,
          eventId: `statement/${period.id}/closed`,
          actor: principal.subject,
          action: "statement.closed",
          time: closedAt.toISOString(),
          object: { kind: "Statement", name: period.id, uid: `${space}/statement/${period.id}` },
          payloadHash: createHash("sha256").update(JSON.stringify(lines)).digest("hex"),
        },
      ]);
      request.log.info(
        { space, period: period.id, lines: lines.length, actor: principal.subject },
        "period closed",
      );
      return { period: period.id, lines: lines.length };
    },
  );

  app.post<{
    Params: { space: string; period: string };
    Body: { participant: string; description: string; amount: string; currency: string };
  }>(
    "/v1/spaces/:space/statements/:period/adjustments",
    {
      schema: {
        operationId: "addStatementAdjustment",
        tags: ["statements"],
        summary: "Add a correction line to an open period (closed statements never change)",
        params: periodParams,
        body: {
          type: "object",
          additionalProperties: false,
          required: ["participant", "description", "amount", "currency"],
          properties: {
            participant: {
              type: "string",
              minLength: 1,
              maxLength: 253,
              description: "A participant of the space (in the cluster, or with usage in the space)",
            },
            description: { type: "string", minLength: 1, maxLength: 500 },
            amount: {
              type: "string",
              pattern: "^-?(0|[1-9][0-9]{0,17})(\\.[0-9]{1,6})?$",
              description: "A non-zero decimal string (never a JSON number), negative for a credit",
            },
            currency: { type: "string", pattern: "^[A-Z]{3}$", description: "The space's currency" },
          },
        },
        response: { 201: { type: "object", properties: { adjustmentId: { type: "string" } } }, ...err4xx },
      },
      // Money is never a JSON number: refuse it before the schema's coercion turns 400.5 into "400.5".
      preValidation: (request, _reply, next) => {
        next(moneyNumberRefusal(request.body, ["amount"]));
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { space } = request.params;
      const { closedThrough } = await requireSpace(app, principal, space, "statements:write");
      const period = parsePeriod(request.params.period);
      if (closedThrough && period.start < closedThrough)
        throw new TdsError(
          "periodClosed",
          `Period ${period.id} is closed; add the correction to an open period`,
        );
      const { participant, amount, currency } = request.body;
      if (parseDecimal(amount).units === 0n)
        throw new TdsError("validation", "body/amount: an adjustment of zero changes nothing", {
          field: "body/amount",
        });
      if (!isCurrency(currency))
        throw new TdsError(
          "validation",
          `body/currency: ${currency} is not an ISO 4217 currency code in use`,
          {
            field: "body/currency",
          },
        );
      const id = await app.tx(async (c) => {
        const now = opts.now();
        const first = periodOf(await accountsStart(c, space, now));
        const current = periodOf(now);
        if (period.start < first.start || period.start > current.start)
          throw new TdsError(
            "validation",
            `params/period: must be between ${first.id} (the oldest the space's accounts can hold) and ${current.id} (the current period)`,
            { field: "params/period" },
          );
        const spaceCurrency = await currencyOf(c, space);
        if (spaceCurrency !== undefined && spaceCurrency !== currency)
          throw new TdsError(
            "validation",
            `body/currency: space ${space} settles in ${spaceCurrency}, not ${currency}`,
            {
              field: "body/currency",
            },
          );
        if (!(await isParticipantOf(c, space, participant)))
          throw new TdsError(
            "participantNotFound",
            `body/participant: ${participant} is not a participant of space ${space}`,
            {
              field: "body/participant",
            },
          );
        const { rows } = await c.query<{ adjustment_id: string }>(
          `insert into statement_adjustments (space, period, participant, description, amount, currency, created_by)
           values ($1, $2, $3, $4, $5, $6, $7) returning adjustment_id::text`,
          [
            space,
            period.date,
            request.body.participant,
            request.body.description,
            request.body.amount,
            request.body.currency,
            principal.subject,
          ],
        );
        await c.query(
          "insert into statement_audit (space, period, action, actor, detail) values ($1, $2, 'adjust', $3, $4)",
          [space, period.date, principal.subject, JSON.stringify(request.body)],
        );
        return rows[0]?.adjustment_id ?? "";
      });
      return reply.status(201).send({ adjustmentId: id });
    },
  );
  done();
};
