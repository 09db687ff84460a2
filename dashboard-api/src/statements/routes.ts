// Price sheets and statements: read, close a period, add a correction.
import { createHash } from "node:crypto";
import { EvidenceStore } from "../evidence/store.ts";
import { Type } from "@sinclair/typebox";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { CURRENCY_CODE, REVENUE_SHARING_RULES, StringEnum } from "@tds/crds";
import type { FastifyPluginCallback } from "fastify";
import { authorize, type Principal } from "../auth/principal.ts";
import { wantsCsv } from "../csv.ts";
import { problemResponse, TdsError } from "../errors.ts";
import { principalOf } from "../plugins/auth.ts";
import { nullable } from "../validation.ts";
import { accountsStart, isParticipantOf, mayRegisterSpaces, registerSpace, requireSpace } from "../spaces.ts";
import { isCurrency, moneyNumberRefusal, parseDecimal } from "./money.ts";
import { statementCsv, statementCsvColumns, statementSharesCsv, statementSharesCsvColumns } from "./csv.ts";
import { statementShares } from "./shares.ts";
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

const str = (description?: string) => Type.String(description ? { description } : {});
const opt = (description?: string) => Type.Optional(str(description));
const spaceParams = Type.Object({ space: Type.String() });
const periodParams = Type.Object({
  space: Type.String(),
  period: Type.String({ pattern: "^[0-9]{4}-(0[1-9]|1[0-2])$" }),
});
/** How far ahead a price sheet may be declared. */
const maxSheetLeadMs = 366 * 86_400_000;
const err4xx = { "4xx": problemResponse } as const;
const lineSchema = Type.Object({
  lineNo: Type.Optional(Type.Integer()),
  kind: Type.Optional(
    Type.Unsafe<StatementLine["kind"]>({ type: "string", enum: ["usage", "late_usage", "adjustment"] }),
  ),
  participant: opt(),
  provider: opt(),
  offer: opt(),
  contract: opt("The DataContract the use was made under; empty when none"),
  meter: opt(),
  unit: opt(),
  quantity: opt("Exact integer in the meter's base unit (unit)"),
  pricedQuantity: Type.Optional(
    nullable(str("The quantity in priceUnit, half-even to 6 places (display; amount uses quantity)")),
  ),
  unitPrice: Type.Optional(nullable(Type.String())),
  priceUnit: Type.Optional(nullable(Type.String())),
  priceSource: Type.Optional(
    Type.Unsafe<"platform" | "offer" | null>({
      type: "string",
      nullable: true,
      enum: ["platform", "offer", null],
      description: "platform: the space's price sheet (the platform's charge); offer: the offer's own price",
    }),
  ),
  amount: opt("Exact, in micro-units of the currency (6 places)"),
  amountMinor: Type.Optional(
    nullable(
      str("The amount half-even to the currency's minor unit, for reading (invoices round their sum)"),
    ),
  ),
  currency: Type.Optional(nullable(Type.String())),
  platformFee: opt("What the platform receives of the amount"),
  providerShare: opt("What the provider receives: amount - platformFee, exactly"),
  sheetId: Type.Optional(nullable(Type.String())),
  description: opt(),
});
const shareSchema = Type.Object({
  kind: Type.Optional(
    Type.Unsafe<"usage" | "late_usage">({
      type: "string",
      enum: ["usage", "late_usage"],
      description: "Which lines it is part of: the period's usage, or late usage of a closed period",
    }),
  ),
  job: opt("The SandboxJob's uid"),
  input: opt("The job's input (main for spec.contractRef)"),
  participant: opt("Who ran the job (and pays)"),
  provider: opt(),
  offer: opt(),
  contract: opt("The input's DataContract"),
  meter: opt(),
  quantity: opt("The input's part of the job's usage, exact, in the meter's base unit"),
  total: opt("The job's whole usage on the meter"),
  basis: Type.Optional(
    StringEnum(
      "What the split was weighed by: the space's revenueSharing, or Equal when the job read nothing",
      REVENUE_SHARING_RULES,
    ),
  ),
  weight: opt("The input's weight among its provider's inputs (bytes read, reads, or 1)"),
  inputsWeight: opt("The sum of the weights of the provider's inputs"),
  providerWeight: opt("The provider's weight among the job's providers"),
  providersWeight: opt("The sum of the providers' weights"),
  time: opt("When the usage happened"),
});
const moneyRows = (key: string) => Type.Array(Type.Object({ [key]: opt(), currency: opt(), amount: opt() }));
const totalsSchema = Type.Array(
  Type.Object({ currency: opt(), subtotal: opt(), platformFee: opt(), providerShare: opt() }),
);
const statementSchema = Type.Object({
  space: opt(),
  period: opt(),
  status: Type.Optional(Type.Unsafe<"open" | "closed">({ type: "string", enum: ["open", "closed"] })),
  closedAt: Type.Optional(nullable(Type.String())),
  closedBy: Type.Optional(nullable(Type.String())),
  totals: Type.Optional(totalsSchema),
  charges: Type.Optional(moneyRows("participant")),
  revenueShare: Type.Optional(moneyRows("provider")),
  settlement: Type.Optional(
    Type.Array(
      Type.Object({
        currency: opt(),
        minorDigits: Type.Optional(Type.Integer()),
        subtotal: opt(),
        platformFee: opt(),
        providerShare: opt(),
        charges: Type.Optional(Type.Array(Type.Object({ participant: opt(), amount: opt() }))),
        revenueShare: Type.Optional(
          Type.Array(
            Type.Object({
              provider: opt(),
              basis: opt("What consumers paid at the provider's offer prices"),
              platformFee: opt("The platform's fee on the basis"),
              amount: opt("The provider's payout"),
            }),
          ),
        ),
      }),
      { description: `Per currency, in its minor units. Rounding: ${roundingRule}` },
    ),
  ),
  lines: Type.Optional(Type.Array(lineSchema)),
  shares: Type.Optional(
    Type.Array(shareSchema, {
      description:
        "Each input's share of a SandboxJob's usage behind the lines (revenue by contribution): the job's total " +
        "on the meter is split among its providers by providerWeight of providersWeight, then each provider's " +
        "part among its inputs by weight of inputsWeight; floors, the remainder whole to the largest weight",
    }),
  ),
  audit: Type.Optional(Type.Array(Type.Object({ action: opt(), actor: opt(), at: opt() }))),
});

/** Participants see the lines they pay and the lines of their offers (and those lines' shares); nothing else. */
function visibleLines<L extends { participant: string; provider: string }>(p: Principal, lines: L[]): L[] {
  if (p.role !== "participant") return lines;
  return lines.filter((l) => l.participant === p.participant || l.provider === p.participant);
}

export const statementRoutes: FastifyPluginCallback<{ now: () => Date }> = (plugin, opts, done) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  app.addSchema(priceSheetSchema);

  app.put(
    "/v1/spaces/:space/price-sheets",
    {
      schema: {
        operationId: "putPriceSheet",
        tags: ["prices"],
        summary: "Create or replace the price sheet taking effect at effectiveFrom",
        params: spaceParams,
        body: Type.Unsafe<PriceSheetInput>({ $ref: "PriceSheet#" }),
        response: {
          200: Type.Object({
            sheetId: opt(),
            repriced: Type.Optional(
              Type.Array(Type.String(), { description: "Periods with usage that this correction repriced" }),
            ),
          }),
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

  app.get(
    "/v1/spaces/:space/price-sheets",
    {
      schema: {
        operationId: "listPriceSheets",
        tags: ["prices"],
        summary: "Price sheets of a space, newest first",
        params: spaceParams,
        response: {
          200: Type.Object({
            sheets: Type.Optional(
              Type.Array(
                Type.Object({
                  sheetId: opt(),
                  effectiveFrom: opt(),
                  currency: opt(),
                  platformFeeBps: Type.Optional(Type.Integer()),
                  providerShareBps: Type.Optional(Type.Integer()),
                  origin: opt(),
                  prices: Type.Optional(
                    Type.Array(Type.Object({ meter: opt(), unit: opt(), unitPrice: opt() })),
                  ),
                }),
              ),
            ),
          }),
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

  app.get(
    "/v1/spaces/:space/statements",
    {
      schema: {
        operationId: "listStatements",
        tags: ["statements"],
        summary: "Closed statements and the open periods' drafts, newest first",
        params: spaceParams,
        response: {
          200: Type.Object({
            statements: Type.Optional(
              Type.Array(
                Type.Object({
                  period: opt(),
                  status: opt(),
                  closedAt: Type.Optional(nullable(Type.String())),
                  closedBy: Type.Optional(nullable(Type.String())),
                  totals: Type.Optional(totalsSchema),
                }),
              ),
            ),
          }),
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

  app.get(
    "/v1/spaces/:space/statements/:period",
    {
      schema: {
        operationId: "getStatement",
        tags: ["statements"],
        summary: "A statement: lines, totals, platform fee and revenue share",
        description:
          "JSON by default; CSV with Accept: text/csv or format=csv, one row per line " +
          `(columns: ${statementCsvColumns.join(",")}); with section=shares, one row per share of a ` +
          `SandboxJob's usage (columns: ${statementSharesCsvColumns.join(",")}). JSON carries both.`,
        params: periodParams,
        querystring: Type.Object(
          {
            format: Type.Optional(Type.Unsafe<"json" | "csv">({ type: "string", enum: ["json", "csv"] })),
            section: Type.Optional(
              Type.Unsafe<"lines" | "shares">({
                type: "string",
                enum: ["lines", "shares"],
                description: "Which table the CSV holds: the lines (the default) or the shares",
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: {
            description: "The statement",
            content: {
              "application/json": { schema: statementSchema },
              "text/csv": { schema: Type.String() },
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
        const shares = visibleLines(principal, await statementShares(client, space, period));
        const status = closed ? "closed" : "open";
        if (csv) {
          const section = request.query.section ?? "lines";
          const suffix = section === "shares" ? "-shares" : "";
          return await reply
            .type("text/csv; charset=utf-8")
            .header(
              "content-disposition",
              `attachment; filename="statement-${space}-${period.id}${suffix}.csv"`,
            )
            .send(
              section === "shares"
                ? statementSharesCsv(space, period.id, status, shares)
                : statementCsv(space, period.id, status, lines),
            );
        }
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
          shares,
          audit:
            principal.role === "participant" ? [] : audit.rows.map((a) => ({ ...a, at: a.at.toISOString() })),
        };
      } finally {
        client.release();
      }
    },
  );

  app.post(
    "/v1/spaces/:space/statements/:period/close",
    {
      schema: {
        operationId: "closeStatement",
        tags: ["statements"],
        summary: "Close a period: its statement becomes immutable; later usage becomes adjustment lines",
        params: periodParams,
        response: {
          200: Type.Object({ period: opt(), lines: Type.Optional(Type.Integer()) }),
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

  app.post(
    "/v1/spaces/:space/statements/:period/adjustments",
    {
      schema: {
        operationId: "addStatementAdjustment",
        tags: ["statements"],
        summary: "Add a correction line to an open period (closed statements never change)",
        params: periodParams,
        body: Type.Object(
          {
            participant: Type.String({
              minLength: 1,
              maxLength: 253,
              description: "A participant of the space (in the cluster, or with usage in the space)",
            }),
            description: Type.String({ minLength: 1, maxLength: 500 }),
            amount: Type.String({
              pattern: "^-?(0|[1-9][0-9]{0,17})(\\.[0-9]{1,6})?$",
              description: "A non-zero decimal string (never a JSON number), negative for a credit",
            }),
            currency: Type.String({ pattern: CURRENCY_CODE, description: "The space's currency" }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ adjustmentId: opt() }), ...err4xx },
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
