// Stable API error codes (TDS_ERR_*) and the one error shape every answer >= 400
// has, fastify's and Node's own included: the error handler, the not-found
// handler, fastify's router errors (frameworkErrors) and the HTTP parser's
// (clientErrorHandler) all render ErrorBody.
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
  validation: { code: "TDS_ERR_VALIDATION", status: 400 },
  unauthenticated: { code: "TDS_ERR_UNAUTHENTICATED", status: 401 },
  forbidden: { code: "TDS_ERR_FORBIDDEN", status: 403 },
  notFound: { code: "TDS_ERR_NOT_FOUND", status: 404 },
  spaceNotFound: { code: "TDS_ERR_SPACE_NOT_FOUND", status: 404 },
  participantNotFound: { code: "TDS_ERR_PARTICIPANT_NOT_FOUND", status: 404 },
  statementNotFound: { code: "TDS_ERR_STATEMENT_NOT_FOUND", status: 404 },
  methodNotAllowed: { code: "TDS_ERR_METHOD_NOT_ALLOWED", status: 405 },
  notAcceptable: { code: "TDS_ERR_NOT_ACCEPTABLE", status: 406 },
  periodClosed: { code: "TDS_ERR_PERIOD_CLOSED", status: 409 },
  conflict: { code: "TDS_ERR_CONFLICT", status: 409 },
  periodNotClosable: { code: "TDS_ERR_PERIOD_NOT_CLOSABLE", status: 409 },
  retroactivePrice: { code: "TDS_ERR_RETROACTIVE_PRICE", status: 409 },
  lengthRequired: { code: "TDS_ERR_LENGTH_REQUIRED", status: 411 },
  payloadTooLarge: { code: "TDS_ERR_PAYLOAD_TOO_LARGE", status: 413 },
  uriTooLong: { code: "TDS_ERR_URI_TOO_LONG", status: 414 },
  unsupportedMediaType: { code: "TDS_ERR_UNSUPPORTED_MEDIA_TYPE", status: 415 },
  rateLimited: { code: "TDS_ERR_RATE_LIMITED", status: 429 },
  headersTooLarge: { code: "TDS_ERR_HEADERS_TOO_LARGE", status: 431 },
  /** Any other 4xx of fastify or a plugin, with its own status. */
  badRequest: { code: "TDS_ERR_BAD_REQUEST", status: 400 },
  unavailable: { code: "TDS_ERR_UNAVAILABLE", status: 503 },
  internal: { code: "TDS_ERR_INTERNAL", status: 500 },
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

export const errorResponseSchema = {
  $id: "ErrorResponse",
  type: "object",
  required: ["code", "message"],
  properties: {
    code: { type: "string", description: "Stable error code, TDS_ERR_*" },
    message: { type: "string" },
    field: { type: "string", description: "Path of the offending field, for validation errors" },
    requestId: { type: "string" },
  },
} as const;

export interface ErrorBody {
  code: string;
  message: string;
  field?: string;
  requestId: string;
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

/** The status and body for any error: ours, a validation error, fastify's or a plugin's, or a bug (500). */
export function errorReply(err: FastifyError, requestId: string): { status: number; body: ErrorBody } {
  if (err instanceof TdsError) {
    const body: ErrorBody = { code: err.code, message: err.message, requestId };
    if (err.field !== undefined) body.field = err.field;
    return { status: err.statusCode, body };
  }
  if (err.validation) {
    const field = validationField(err);
    const body: ErrorBody = {
      code: ErrorCodes.validation.code,
      message: `${field ?? "request"}: ${err.validation[0]?.message ?? err.message}`,
      requestId,
    };
    if (field !== undefined) body.field = field;
    return { status: 400, body };
  }
  // fastify's own and its plugins' client errors keep their status and get our shape.
  const status = err.code === "FST_ERR_MAX_PARAM_LENGTH" ? 414 : err.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    const kind = kindOfStatus[status] ?? "badRequest";
    const body: ErrorBody = { code: ErrorCodes[kind].code, message: err.message, requestId };
    const field = fieldOfFastifyCode[err.code];
    if (field !== undefined) body.field = field;
    return { status, body };
  }
  return { status: 500, body: { code: ErrorCodes.internal.code, message: "Internal error", requestId } };
}

function sendError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, body } = errorReply(err, request.id);
  if (status >= 500) request.log.error({ err }, "unhandled error");
  return reply.status(status).type("application/json").send(body);
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
 * the same shape, written to the socket, which is then closed.
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
  const payload = JSON.stringify({ code: ErrorCodes[kind].code, message, requestId } satisfies ErrorBody);
  socket.write(
    `HTTP/1.1 ${String(status)} ${STATUS_CODES[status] ?? ""}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${String(Buffer.byteLength(payload))}\r\n` +
      `Connection: close\r\n\r\n${payload}`,
  );
  socket.destroy();
}

export function registerErrorHandling(app: FastifyInstance): void {
  // Every route documents (and serializes) its errors as ErrorResponse, beside any specific status it names.
  app.addHook("onRoute", (route) => {
    const response = (route.schema?.response ?? {}) as Record<string, unknown>;
    const ref = { $ref: "ErrorResponse#" };
    route.schema = {
      ...(route.schema ?? {}),
      response: { "4xx": ref, "5xx": ref, ...response },
    };
  });
  app.setErrorHandler((err: FastifyError, request, reply) => sendError(err, request, reply));
  app.setNotFoundHandler((request, reply) => {
    return reply.status(404).send({
      code: ErrorCodes.notFound.code,
      message: `No route ${request.method} ${request.url.split("?")[0] ?? ""}`,
      requestId: request.id,
    } satisfies ErrorBody);
  });
}
