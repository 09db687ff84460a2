// The Dataspace Protocol 2025-1 HTTP binding of one space, mounted at
// /dsp/<space>: /.well-known/dspace-version and /2025-1/{catalog,negotiations,
// transfers}. The same /2025-1 base is this connector's callback address when
// it is the consumer; a process id names our process and so its side. Also
// POST /v1/spaces/<space>/dsp/{negotiations,transfers}, with which a
// participant starts a negotiation or transfer as consumer. These routes do
// their own authentication (identity.ts) and answer DSP error bodies.
import { Type } from "@sinclair/typebox";
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from "fastify";
import type { TokenVerifier } from "../auth/tokens.ts";
import { CatalogStore } from "../catalog/store.ts";
import { principalOf } from "../plugins/auth.ts";
import { problemResponse, sendProblem, TdsError } from "../errors.ts";
import { DspEngine, DspRefusal, type DspBehaviour } from "./engine.ts";
import { currentDspConfig, DspAuthError, identify, type Caller, type DspConfigSource } from "./identity.ts";
import {
  DSP_CONTEXT,
  DSP_VERSION,
  DspFieldError,
  PULL_FORMAT,
  address,
  errorBody,
  negotiationBody,
  obj,
  optStr,
  requireType,
  str,
  transferBody,
  type ErrorType,
  type Json,
} from "./messages.ts";
import { catalog, dataset, offerIdOf, parseDatasetId } from "./odrl.ts";
import { DspStore, type Negotiation, type Transfer } from "./store.ts";
import { EvidenceStore } from "../evidence/store.ts";
import { randomUUID } from "node:crypto";
import type { TransferTokens } from "./transfer-tokens.ts";
import { requestedPurpose } from "./contracts.ts";

/** Our offer narrowed to the purpose the consumer asked for (the policy engine checks it is one of ours). */
function withPurpose(offer: Json, purpose: string | undefined): Json {
  if (!purpose) return offer;
  const permission = ((offer.permission as Json[] | undefined) ?? []).map((p) => ({
    ...p,
    constraint: ((p.constraint as Json[] | undefined) ?? []).map((c) =>
      c.leftOperand === "purpose" ? { leftOperand: "purpose", operator: "eq", rightOperand: purpose } : c,
    ),
  }));
  return { ...offer, permission };
}

export interface DspRoutesOptions {
  /** The spaces' DSP configuration, fixed or live (the DataSpaces' spec.dsp, cluster.ts). */
  readonly config: DspConfigSource;
  readonly verifyToken: TokenVerifier;
  readonly behaviour: DspBehaviour;
  /** The public origin of this API (scheme://host:port), used in callback addresses and catalogs. */
  readonly publicUrl: string;
  readonly stepDelayMs?: number;
  /** Gateway tokens of single transfers; told of every transfer state change. */
  readonly transferTokens?: TransferTokens;
  /** Serve the TCK's trigger endpoints (/tck/...) for this space, acting for its configured consumer. */
  readonly tckTriggerSpace?: string;
}

/** DSP error bodies (CatalogError, ContractNegotiationError, TransferError), not the API's ErrorResponse. */
const dspError = { type: "object", additionalProperties: true } as const;
const dspErrors = { "4xx": dspError, "5xx": dspError } as const;

declare module "fastify" {
  interface FastifyRequest {
    dspCaller?: Caller;
  }
}

const AREA: Record<string, ErrorType> = {
  catalog: "CatalogError",
  negotiations: "ContractNegotiationError",
  transfers: "TransferError",
};

function areaOf(url: string): ErrorType {
  const m =
    /\/2025-1\/(catalog|negotiations|transfers)/.exec(url) ?? /\/(negotiations|transfers)\b/.exec(url);
  return AREA[m?.[1] ?? "catalog"] ?? "CatalogError";
}

export const dspRoutes: FastifyPluginCallback<DspRoutesOptions> = (app, opts, done) => {
  const store = new DspStore(app.pool());
  const catalogStore = new CatalogStore(app.pool());
  const configOf = (space: string) => currentDspConfig(opts.config)[space];
  const counterpartyOf = (space: string, id: string) =>
    configOf(space)?.counterparties.find((c) => c.id === id);
  const base = (space: string) => `${opts.publicUrl}/dsp/${space}/2025-1`;
  const self = (space: string) => ({
    participantId: configOf(space)?.participantId ?? `urn:tds:${space}`,
    base: base(space),
  });
  const engine = new DspEngine({
    store,
    behaviour: opts.behaviour,
    evidence: new EvidenceStore(app.pool()),
    log: app.log,
    self,
    authorizationFor: (space, id) => counterpartyOf(space, id)?.outgoingAuthorization,
    tlsFor: (space, id) => {
      const c = counterpartyOf(space, id);
      return c?.clientCertificate || c?.serverCa
        ? {
            ...(c.clientCertificate
              ? { cert: c.clientCertificate.certPem, key: c.clientCertificate.keyPem }
              : {}),
            ...(c.serverCa ? { ca: c.serverCa } : {}),
          }
        : undefined;
    },
    ...(opts.stepDelayMs === undefined ? {} : { stepDelayMs: opts.stepDelayMs }),
    ...(opts.transferTokens ? { onTransfer: (t: Transfer) => opts.transferTokens?.changed(t) } : {}),
  });
  app.addHook("onClose", () => engine.close());

  const fail = (request: FastifyRequest, reply: FastifyReply, err: unknown) => {
    const type = areaOf(request.url);
    const p = request.params as { pid?: string };
    if (err instanceof DspAuthError)
      return reply
        .status(err.statusCode)
        .send(errorBody(type, `TDS_ERR_DSP_${err.statusCode.toString()}`, err.message));
    if (err instanceof DspFieldError)
      return reply
        .status(400)
        .send({ ...errorBody(type, "TDS_ERR_VALIDATION", err.message), field: err.field });
    if (err instanceof DspRefusal)
      return reply
        .status(err.statusCode)
        .send(errorBody(type, err.code, err.message, p.pid ? { providerPid: p.pid } : undefined));
    request.log.error({ err }, "dsp request failed");
    return reply.status(500).send(errorBody(type, "TDS_ERR_INTERNAL", "Internal error"));
  };

  type Handler = (
    request: FastifyRequest,
    caller: Caller,
    space: string,
    body: Json,
  ) => Promise<{ status: number; body: Json }>;
  const route = (method: "GET" | "POST", url: string, h: Handler) => {
    app.route({
      method,
      url: `/dsp/:space${url}`,
      config: { public: true },
      schema: { hide: true, response: dspErrors },
      handler: async (request, reply) => {
        try {
          const { space } = request.params as { space: string };
          const caller = await identify(
            configOf(space),
            space,
            request.headers.authorization,
            opts.verifyToken,
            request.certificate ?? null,
          );
          const body = request.body;
          if (method === "POST" && (typeof body !== "object" || body === null || Array.isArray(body)))
            throw new DspFieldError("body", "the body must be a JSON object");
          const r = await h(request, caller, space, (body ?? {}) as Json);
          return await reply.status(r.status).type("application/json").send(r.body);
        } catch (err) {
          return fail(request, reply, err);
        }
      },
    });
  };
  app.addContentTypeParser("application/ld+json", { parseAs: "string" }, (_req, text, doneParse) => {
    try {
      doneParse(null, JSON.parse(text as string));
    } catch (err) {
      doneParse(err as Error);
    }
  });

  route("GET", "/.well-known/dspace-version", (_r, _c, space) =>
    Promise.resolve({
      status: 200,
      body: { protocolVersions: [{ version: DSP_VERSION, path: `/dsp/${space}/2025-1`, binding: "HTTPS" }] },
    }),
  );

  // ---- catalog ----
  route("POST", "/2025-1/catalog/request", async (_r, _c, space, body) => {
    requireType(body, "CatalogRequestMessage");
    return {
      status: 200,
      body: catalog(space, await catalogStore.all(space), {
        endpointURL: base(space),
        participantId: self(space).participantId,
      }),
    };
  });
  const findOffer = async (space: string, id: string) => {
    const ref = parseDatasetId(space, id);
    return ref ? catalogStore.get(space, ref.namespace, ref.name) : undefined;
  };
  route("GET", "/2025-1/catalog/datasets/:id", async (request, _c, space) => {
    const { id } = request.params as { id: string };
    const o = await findOffer(space, id);
    const d = o
      ? dataset(o, { endpointURL: base(space), participantId: self(space).participantId })
      : undefined;
    if (!d) throw new DspRefusal(404, "TDS_ERR_NOT_FOUND", `Dataset ${id} is not in this catalog`);
    return { status: 200, body: { "@context": [DSP_CONTEXT], ...d } };
  });

  // ---- negotiations ----
  const visibleNegotiation = async (space: string, pid: string, caller: Caller): Promise<Negotiation> => {
    const n = await store.negotiation(space, pid);
    if (!n || n.counterparty !== caller.id)
      throw new DspRefusal(404, "TDS_ERR_NOT_FOUND", `Negotiation ${pid} not found`);
    return n;
  };
  route("POST", "/2025-1/negotiations/request", async (_r, caller, space, body) => {
    requireType(body, "ContractRequestMessage");
    const consumerPid = str(body, "consumerPid");
    const callbackAddress = address(body, "callbackAddress");
    const offer = obj(body, "offer");
    const offerId = str(offer, "@id");
    const target = optStr(offer, "target") ?? offerId.replace(/:policy$/, "");
    const o = await findOffer(space, target);
    const d = o
      ? dataset(o, { endpointURL: base(space), participantId: self(space).participantId })
      : undefined;
    if (!o || !d) throw new DspRefusal(404, "TDS_ERR_NOT_FOUND", `Dataset ${target} is not in this catalog`);
    if (offerId !== offerIdOf(o))
      throw new DspRefusal(
        400,
        "TDS_ERR_DSP_UNKNOWN_OFFER",
        `Offer ${offerId} is not the offer of dataset ${target}`,
      );
    const n: Negotiation = {
      pid: `urn:uuid:${randomUUID()}`,
      space,
      role: "provider",
      state: "REQUESTED",
      peerPid: consumerPid,
      counterparty: caller.id,
      peerAddress: callbackAddress,
      datasetId: target,
      offerId,
      offer: withPurpose((d.hasPolicy as Json[])[0] ?? {}, requestedPurpose(offer)),
      agreementId: null,
      agreement: null,
      contractRef: null,
      counterOffers: 0,
    };
    await engine.openNegotiation(n);
    return { status: 201, body: negotiationBody({ providerPid: n.pid, consumerPid, state: n.state }) };
  });
  const nBody = (n: Negotiation) =>
    negotiationBody(
      n.role === "provider"
        ? { providerPid: n.pid, consumerPid: n.peerPid ?? "", state: n.state }
        : { providerPid: n.peerPid ?? "", consumerPid: n.pid, state: n.state },
    );
  route("GET", "/2025-1/negotiations/:pid", async (request, caller, space) => {
    const n = await visibleNegotiation(space, (request.params as { pid: string }).pid, caller);
    return { status: 200, body: nBody(n) };
  });
  const peerPatch = (n: Negotiation, body: Json) => {
    const peer = n.role === "provider" ? optStr(body, "consumerPid") : optStr(body, "providerPid");
    return n.peerPid === null && peer ? { peerPid: peer } : {};
  };
  const negotiationMessage = (
    path: string,
    type: string,
    run: (n: Negotiation, body: Json) => Promise<Negotiation>,
  ) => {
    route("POST", `/2025-1/negotiations/:pid/${path}`, async (request, caller, space, body) => {
      requireType(body, type);
      const n = await visibleNegotiation(space, (request.params as { pid: string }).pid, caller);
      return { status: 200, body: nBody(await run(n, body)) };
    });
  };
  negotiationMessage("request", "ContractRequestMessage", (n, body) =>
    engine.receiveNegotiation(
      n,
      "request",
      { counterOffers: n.counterOffers + 1, ...peerPatch(n, body) },
      "counter-offered",
    ),
  );
  negotiationMessage("offers", "ContractOfferMessage", (n, body) =>
    engine.receiveNegotiation(n, "offer", { offer: obj(body, "offer"), ...peerPatch(n, body) }, "offered"),
  );
  negotiationMessage("events", "ContractNegotiationEventMessage", (n, body) => {
    const e = str(body, "eventType");
    if (e === "ACCEPTED") return engine.receiveNegotiation(n, "accept", peerPatch(n, body), "accepted");
    if (e === "FINALIZED") return engine.receiveNegotiation(n, "finalize", peerPatch(n, body));
    throw new DspFieldError("eventType", "eventType must be ACCEPTED or FINALIZED");
  });
  negotiationMessage("agreement", "ContractAgreementMessage", (n, body) => {
    const agreement = obj(body, "agreement");
    return engine.receiveNegotiation(
      n,
      "agree",
      { agreement, agreementId: str(agreement, "@id"), ...peerPatch(n, body) },
      "agreed",
    );
  });
  negotiationMessage("agreement/verification", "ContractAgreementVerificationMessage", (n, body) =>
    engine.receiveNegotiation(n, "verify", peerPatch(n, body), "verified"),
  );
  negotiationMessage("termination", "ContractNegotiationTerminationMessage", (n, body) =>
    engine.receiveNegotiation(n, "terminate", peerPatch(n, body)),
  );

  // ---- transfers ----
  const visibleTransfer = async (space: string, pid: string, caller: Caller): Promise<Transfer> => {
    const t = await store.transfer(space, pid);
    if (!t || t.counterparty !== caller.id)
      throw new DspRefusal(404, "TDS_ERR_NOT_FOUND", `Transfer process ${pid} not found`);
    return t;
  };
  const tBody = (t: Transfer) =>
    transferBody(
      t.role === "provider"
        ? { providerPid: t.pid, consumerPid: t.peerPid ?? "", state: t.state }
        : { providerPid: t.peerPid ?? "", consumerPid: t.pid, state: t.state },
    );
  route("POST", "/2025-1/transfers/request", async (_r, caller, space, body) => {
    requireType(body, "TransferRequestMessage");
    const consumerPid = str(body, "consumerPid");
    const agreementId = str(body, "agreementId");
    const format = str(body, "format");
    const callbackAddress = address(body, "callbackAddress");
    const agreement = await store.agreement(space, "provider", agreementId);
    if (!agreement || agreement.counterparty !== caller.id)
      throw new DspRefusal(404, "TDS_ERR_NOT_FOUND", `Agreement ${agreementId} not found`);
    if (format !== PULL_FORMAT)
      throw new DspRefusal(400, "TDS_ERR_DSP_FORMAT", `format must be ${PULL_FORMAT}`);
    const t: Transfer = {
      pid: `urn:uuid:${randomUUID()}`,
      space,
      role: "provider",
      state: "REQUESTED",
      peerPid: consumerPid,
      counterparty: caller.id,
      peerAddress: callbackAddress,
      agreementId,
      format,
      dataAddress: null,
    };
    await engine.openTransfer(t);
    return { status: 201, body: tBody(t) };
  });
  route("GET", "/2025-1/transfers/:pid", async (request, caller, space) => {
    const t = await visibleTransfer(space, (request.params as { pid: string }).pid, caller);
    return { status: 200, body: tBody(t) };
  });
  const transferMessage = (
    path: string,
    type: string,
    msg: "start" | "suspend" | "complete" | "terminate",
  ) => {
    route("POST", `/2025-1/transfers/:pid/${path}`, async (request, caller, space, body) => {
      requireType(body, type);
      const t = await visibleTransfer(space, (request.params as { pid: string }).pid, caller);
      const peer = t.role === "provider" ? optStr(body, "consumerPid") : optStr(body, "providerPid");
      const patch = t.peerPid === null && peer ? { peerPid: peer } : {};
      const dataAddress =
        msg === "start" && body.dataAddress !== undefined ? { dataAddress: obj(body, "dataAddress") } : {};
      const event = msg === "start" && t.role === "consumer" ? "started" : undefined;
      return {
        status: 200,
        body: tBody(await engine.receiveTransfer(t, msg, { ...patch, ...dataAddress }, event)),
      };
    });
  };
  transferMessage("start", "TransferStartMessage", "start");
  transferMessage("completion", "TransferCompletionMessage", "complete");
  transferMessage("suspension", "TransferSuspensionMessage", "suspend");
  transferMessage("termination", "TransferTerminationMessage", "terminate");

  // ---- consumer side: start a negotiation or a transfer with a provider ----
  const initiate = {
    negotiation: async (space: string, body: Json) => {
      const providerId = str(body, "providerId");
      if (!counterpartyOf(space, providerId))
        throw new DspRefusal(
          400,
          "TDS_ERR_DSP_UNKNOWN_COUNTERPARTY",
          `providerId ${providerId} is not a declared counterparty of space ${space}`,
        );
      const offerId = str(body, "offerId");
      const n = await engine.startNegotiation({
        space,
        counterparty: providerId,
        providerAddress: address(body, "connectorAddress"),
        datasetId: str(body, "datasetId"),
        offer: { "@id": offerId, "@type": "Offer", assigner: providerId, permission: [{ action: "use" }] },
      });
      return { status: 201, body: { consumerPid: n.pid, state: n.state } };
    },
    transfer: async (space: string, body: Json) => {
      const providerId = str(body, "providerId");
      const agreementId = str(body, "agreementId");
      const agreement = await store.agreement(space, "consumer", agreementId);
      if (!agreement || agreement.counterparty !== providerId)
        throw new DspRefusal(
          404,
          "TDS_ERR_NOT_FOUND",
          `No finalized agreement ${agreementId} with ${providerId}`,
        );
      const t = await engine.startTransfer({
        space,
        counterparty: providerId,
        providerAddress: address(body, "connectorAddress"),
        agreementId,
        format: optStr(body, "format") ?? PULL_FORMAT,
      });
      return { status: 201, body: { consumerPid: t.pid, state: t.state } };
    },
  };
  for (const kind of ["negotiation", "transfer"] as const) {
    app.post(
      `/v1/spaces/:space/dsp/${kind}s`,
      {
        schema: {
          operationId: kind === "negotiation" ? "startDspNegotiation" : "startDspTransfer",
          tags: ["dsp"],
          summary: `Start a DSP ${kind} as consumer`,
          // An API route (not the protocol's): its errors are the API's problem documents.
          response: {
            201: Type.Object(
              { consumerPid: Type.Optional(Type.String()), state: Type.Optional(Type.String()) },
              { description: `The ${kind} started` },
            ),
            "4xx": problemResponse,
            "5xx": problemResponse,
          },
        },
      },
      async (request, reply) => {
        const { space } = request.params as { space: string };
        const p = principalOf(request);
        const consumer = configOf(space)?.consumer;
        if (p.role !== "participant" || p.space !== space || p.participant !== consumer)
          throw new TdsError(
            "forbidden",
            `Only participant ${consumer ?? "(none configured)"} of ${space} starts DSP processes`,
          );
        try {
          const r = await initiate[kind](space, (request.body ?? {}) as Json);
          return await reply.status(r.status).send(r.body);
        } catch (err) {
          if (err instanceof DspFieldError)
            return sendProblem(reply, request, 400, "TDS_ERR_VALIDATION", err.message, err.field);
          if (err instanceof DspRefusal)
            return sendProblem(reply, request, err.statusCode, err.code, err.message);
          throw err;
        }
      },
    );
    if (opts.tckTriggerSpace) {
      const space = opts.tckTriggerSpace;
      app.post(
        `/tck/${kind}s/requests`,
        { config: { public: true }, schema: { hide: true, response: dspErrors } },
        async (request, reply) => {
          try {
            await identify(configOf(space), space, request.headers.authorization, opts.verifyToken);
            const r = await initiate[kind](space, (request.body ?? {}) as Json);
            return await reply.status(r.status).send(r.body);
          } catch (err) {
            return fail(request, reply, err);
          }
        },
      );
    }
  }
  done();
};
