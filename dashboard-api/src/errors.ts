// Stable API error codes (TDS_ERR_*) and the one error shape every answer >= 400
// has, fastify's and Node's own included: an RFC 9457 problem document
// (application/problem+json) with the TDS code, the request id and, for bad
// input, the field as extension members. The error handler, the not-found
// handler, fastify's router errors (frameworkErrors), the HTTP parser's
// (clientErrorHandler) and every route that answers an error itself
// (sendProblem) render it; a 401 also carries an RFC 6750 Bearer challenge.
import { randomUUID } from "node:crypto";
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifyServerOptions,
} from "fastify";

export const ErrorCodes = {
  validation: { code: "TDS_ERR_VALIDATION", status: 400, title: "Invalid request" },
  unauthenticated: { code: "TDS_ERR_UNAUTHENTICATED", status: 401, title: "Authentication required" },
  forbidden: { code: "TDS_ERR_FORBIDDEN", status: 403, title: "Forbidden" },
  notFound: { code: "TDS_ERR_NOT_FOUND", status: 404, title: "Not found" },
  spaceNotFound: { code: "TDS_ERR_SPACE_NOT_FOUND", status: 404, title: "Data space not found" },
  participantNotFound: {
    code: "TDS_ERR_PARTICIPANT_NOT_FOUND",
    status: 404,
    title: "Participant not found",
  },
  statementNotFound: { code: "TDS_ERR_STATEMENT_NOT_FOUND", status: 404, title: "Statement not found" },
  methodNotAllowed: { code: "TDS_ERR_METHOD_NOT_ALLOWED", status: 405, title: "Method not allowed" },
  notAcceptable: { code: "TDS_ERR_NOT_ACCEPTABLE", status: 406, title: "Not acceptable" },
  periodClosed: { code: "TDS_ERR_PERIOD_CLOSED", status: 409, title: "Period closed" },
  conflict: { code: "TDS_ERR_CONFLICT", status: 409, title: "Conflict" },
  periodNotClosable: { code: "TDS_ERR_PERIOD_NOT_CLOSABLE", status: 409, title: "Period not closable" },
  retroactivePrice: { code: "TDS_ERR_RETROACTIVE_PRICE", status: 409, title: "Retroactive price" },
  lengthRequired: { code: "TDS_ERR_LENGTH_REQUIRED", status: 411, title: "Length required" },
  payloadTooLarge: { code: "TDS_ERR_PAYLOAD_TOO_LARGE", status: 413, title: "Content too large" },
  uriTooLong: { code: "TDS_ERR_URI_TOO_LONG", status: 414, title: "URI too long" },
  unsupportedMediaType: {
    code: "TDS_ERR_UNSUPPORTED_MEDIA_TYPE",
    status: 415,
    title: "Unsupported media type",
  },
  rateLimited: { code: "TDS_ERR_RATE_LIMITED", status: 429, title: "Rate limit exceeded" },
  headersTooLarge: { code: "TDS_ERR_HEADERS_TOO_LARGE", status: 431, title: "Request headers too large" },
  /** Any other 4xx of fastify or a plugin, with its own status. */
  badRequest: { code: "TDS_ERR_BAD_REQUEST", status: 400, title: "Bad request" },
  unavailable: { code: "TDS_ERR_UNAVAILABLE", status: 503, title: "Service unavailable" },
  internal: { code: "TDS_ERR_INTERNAL", status: 500, title: "Internal error" },
} as const;

export type ErrorKind = keyof typeof ErrorCodes;

export class TdsError extends Error {
  readonly code: string;
  readonly statusCode: number;
  readonly field: string | undefined;

  constructor(kind: ErrorKind, message: string, options?: { field?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = ErrorCodes[kind].code;
    this.statusCode = ErrorCodes[kind].status;
    this.field = options?.field;
  }
}

/** The media type of every error answer (RFC 9457). */
export const PROBLEM_MEDIA_TYPE = "application/problem+json";

/**
 * A problem type is named by its code: TDS_ERR_SPACE_NOT_FOUND is
 * https://tds.dev/problems/space-not-found, in the project's tds.dev
 * namespace (the CRDs' API group). It identifies the type; docs/api.md lists them.
 */
export const PROBLEM_TYPE_BASE = "https://tds.dev/problems/";

export function problemType(code: string): string {
  return (
    PROBLEM_TYPE_BASE +
    code
      .replace(/^TDS_ERR_/, "")
      .toLowerCase()
      .replaceAll("_", "-")
  );
}

const titleOfCode = new Map<string, string>(Object.values(ErrorCodes).map((e) => [e.code, e.title]));

export const problemSchema = {
  $id: "Problem",
  type: "object",
  description:
    "An RFC 9457 problem document (application/problem+json), with the TDS error code, the request id and, " +
    "for bad input, the offending field as extension members.",
  required: ["type", "title", "status", "detail", "code", "requestId"],
  properties: {
    type: {
      type: "string",
      format: "uri",
      description: "The problem type: https://tds.dev/problems/<code without TDS_ERR_, in kebab case>",
    },
    title: {
      type: "string",
      description: "A short summary of the problem type; the same for every occurrence",
    },
    status: { type: "integer", minimum: 400, maximum: 599, description: "The HTTP status code" },
    detail: { type: "string", description: "What went wrong in this occurrence" },
    instance: { type: "string", description: "The path of the request that failed" },
    code: { type: "string", description: "Stable error code, TDS_ERR_*" },
    field: {
      type: "string",
      description: "Path of the offending field, for validation errors (e.g. body/0/data/quantity)",
    },
    requestId: { type: "string", description: "The request's id (X-Request-Id), also in the server's log" },
  },
} as const;

/** A documented error answer: the Problem schema as application/problem+json. */
export const problemResponse = {
  description: "An RFC 9457 problem document",
  content: { [PROBLEM_MEDIA_TYPE]: { schema: { $ref: "Problem#" } } },
} as const;

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: string;
  field?: string;
  requestId: string;
}

/** The request a problem is about: its id and the path it asked for. */
export interface ProblemSource {
  readonly id: string;
  readonly url?: string;
}

/** The problem document for a status and code, about a request. */
export function problem(
  status: number,
  code: string,
  detail: string,
  request: ProblemSource,
  field?: string,
): Problem {
  const body: Problem = {
    type: problemType(code),
    title: titleOfCode.get(code) ?? STATUS_CODES[status] ?? "Error",
    status,
    detail,
    ...(request.url === undefined ? {} : { instance: request.url.split("?")[0] ?? request.url }),
    code,
    requestId: request.id,
  };
  // The router's name for a trailing wildcard is `*`; the document's is `key` (openapi.ts).
  if (field !== undefined) body.field = field.replace(/^params\/\*$/, "params/key");
  return body;
}

/** A realm for the Bearer challenges of this API (RFC 6750 section 3). */
export const BEARER_REALM = "tds-dashboard-api";

/**
 * The RFC 6750 challenge for a 401 to this request: no error code when it
 * sent no credentials, invalid_request when they are not a Bearer token,
 * invalid_token otherwise.
 */
export function bearerChallenge(authorization: string | undefined, realm = BEARER_REALM): string {
  const base = `Bearer realm="${realm}"`;
  if (authorization === undefined || authorization.trim() === "") return base;
  if (!/^Bearer\s/i.test(authorization.trim())) return `${base}, error="invalid_request"`;
  return `${base}, error="invalid_token"`;
}

/** Sends a problem document; a 401 gets the Bearer challenge unless the route set its own. */
export function sendProblem(
  reply: FastifyReply,
  request: FastifyRequest,
  status: number,
  code: string,
  detail: string,
  field?: string,
): FastifyReply {
  if (status === 401 && !reply.hasHeader("www-authenticate"))
    void reply.header("www-authenticate", bearerChallenge(request.headers.authorization));
  return reply
    .status(status)
    .type(PROBLEM_MEDIA_TYPE)
    .send(problem(status, code, detail, request, field));
}

/** The JSON path of the field a fastify/ajv validation error points at, e.g. `body/0/time`. */
export function validationField(err: FastifyError): string | undefined {
  const first = err.validation?.[0];
  if (!first) return undefined;
  const context = err.validationContext ?? "body";
  let path = first.instancePath.replace(/^\//, "");
  const params = first.params as { missingProperty?: unknown; additionalProperty?: unknown };
  if (typeof params.missingProperty === "string")
    path = path ? `${path}/${params.missingProperty}` : params.missingProperty;
  if (typeof params.additionalProperty === "string")
    path = path ? `${path}/${params.additionalProperty}` : params.additionalProperty;
  return path ? `${context}/${path}` : context;
}

/** The kind of a status, for errors that carry only a status (fastify's, plugins'). */
const kindOfStatus: Partial<Record<number, ErrorKind>> = {
  400: "validation",
  401: "unauthenticated",
  403: "forbidden",
  404: "notFound",
  405: "methodNotAllowed",
  406: "notAcceptable",
  409: "conflict",
  411: "lengthRequired",
  413: "payloadTooLarge",
  414: "uriTooLong",
  415: "unsupportedMediaType",
  429: "rateLimited",
  431: "headersTooLarge",
};

/** What fastify's own errors were about: the body's media type or content, or the header that names it. */
const fieldOfFastifyCode: Record<string, string> = {
  FST_ERR_CTP_EMPTY_JSON_BODY: "body",
  FST_ERR_CTP_INVALID_JSON_BODY: "body",
  FST_ERR_CTP_BODY_TOO_LARGE: "body",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "headers/content-length",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "headers/content-type",
  FST_ERR_ROUTE_MISSING_CONTENT_TYPE: "headers/content-type",
  FST_ERR_BAD_URL: "url",
  FST_ERR_MAX_PARAM_LENGTH: "url",
};

/** What any error is as a problem: ours, a validation error, fastify's or a plugin's, or a bug (500). */
export interface ErrorAnswer {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly field?: string;
}

export function errorAnswer(err: FastifyError): ErrorAnswer {
  if (err instanceof TdsError) {
    return { status: err.statusCode, code: err.code, detail: err.message, ...fieldOf(err.field) };
  }
  if (err.validation) {
    const field = validationField(err);
    return {
      status: 400,
      code: ErrorCodes.validation.code,
      detail: `${field ?? "request"}: ${err.validation[0]?.message ?? err.message}`,
      ...fieldOf(field),
    };
  }
  // fastify's own and its plugins' client errors keep their status and get our shape.
  const status = err.code === "FST_ERR_MAX_PARAM_LENGTH" ? 414 : err.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    const kind = kindOfStatus[status] ?? "badRequest";
    return {
      status,
      code: ErrorCodes[kind].code,
      detail: err.message,
      ...fieldOf(fieldOfFastifyCode[err.code]),
    };
  }
  return { status: 500, code: ErrorCodes.internal.code, detail: "Internal error" };
}

const fieldOf = (field: string | undefined): { field?: string } => (field === undefined ? {} : { field });

function sendError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const a = errorAnswer(err);
  if (a.status >= 500) request.log.error({ err }, "unhandled error");
  return sendProblem(reply, request, a.status, a.code, a.detail, a.field);
}

/** fastify's router errors (bad percent-encoding, over-long parameters), for Fastify({ frameworkErrors }). */
export const frameworkErrors: NonNullable<FastifyServerOptions["frameworkErrors"]> = (
  err,
  request,
  reply,
) => {
  void sendError(err, request, reply);
};

/**
 * Errors of Node's HTTP parser, before there is a request (header section over
 * the limit, a malformed request line), for Fastify({ clientErrorHandler }):
 * the same shape (without `instance`: there is no parsed request), written to
 * the socket, which is then closed.
 */
export function clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const [status, kind, message] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? [431, "headersTooLarge" as const, "The request line and headers are over the size limit"]
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "badRequest" as const, "The request did not arrive in time"]
        : [400, "badRequest" as const, `Malformed HTTP request (${err.code ?? "parse error"})`];
  const requestId = randomUUID();
  this.log.info({ err, requestId }, "refused a malformed HTTP request");
  if (!socket.writable) {
    socket.destroy(err);
    return;
  }
  const payload = JSON.stringify(problem(status, ErrorCodes[kind].code, message, { id: requestId }));
  socket.write(
    `HTTP/1.1 ${String(status)} ${STATUS_CODES[status] ?? ""}\r\n` +
      `Content-Type: ${PROBLEM_MEDIA_TYPE}\r\nContent-Length: ${String(Buffer.byteLength(payload))}\r\n` +
      `Connection: close\r\n\r\n${payload}`,
  );
  socket.destroy();
}

export function registerErrorHandling(app: FastifyInstance): void {
  // Every route documents (and serializes) its errors as Problem, beside any specific status it names.
  app.addHook("onRoute", (route) => {
    const response = (route.schema?.response ?? {}) as Record<string, unknown>;
    route.schema = {
      ...(route.schema ?? {}),
      response: { "4xx": problemResponse, "5xx": problemResponse, ...response },
    };
  });
  app.setErrorHandler((err: FastifyError, request, reply) => sendError(err, request, reply));
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      request,
      404,
      ErrorCodes.notFound.code,
      `No route ${request.method} ${request.url.split("?")[0] ?? ""}`,
    ),
  );
}
