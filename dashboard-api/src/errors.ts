// Stable API error codes (TDS_ERR_*) and the one error handler that renders them.
import type { FastifyError, FastifyInstance } from "fastify";

export const ErrorCodes = {
  validation: { code: "TDS_ERR_VALIDATION", status: 400 },
  unauthenticated: { code: "TDS_ERR_UNAUTHENTICATED", status: 401 },
  forbidden: { code: "TDS_ERR_FORBIDDEN", status: 403 },
  notFound: { code: "TDS_ERR_NOT_FOUND", status: 404 },
  spaceNotFound: { code: "TDS_ERR_SPACE_NOT_FOUND", status: 404 },
  participantNotFound: { code: "TDS_ERR_PARTICIPANT_NOT_FOUND", status: 404 },
  statementNotFound: { code: "TDS_ERR_STATEMENT_NOT_FOUND", status: 404 },
  notAcceptable: { code: "TDS_ERR_NOT_ACCEPTABLE", status: 406 },
  periodClosed: { code: "TDS_ERR_PERIOD_CLOSED", status: 409 },
  conflict: { code: "TDS_ERR_CONFLICT", status: 409 },
  periodNotClosable: { code: "TDS_ERR_PERIOD_NOT_CLOSABLE", status: 409 },
  retroactivePrice: { code: "TDS_ERR_RETROACTIVE_PRICE", status: 409 },
  unsupportedMediaType: { code: "TDS_ERR_UNSUPPORTED_MEDIA_TYPE", status: 415 },
  payloadTooLarge: { code: "TDS_ERR_PAYLOAD_TOO_LARGE", status: 413 },
  rateLimited: { code: "TDS_ERR_RATE_LIMITED", status: 429 },
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

function fastifyCodeToKind(err: FastifyError): ErrorKind | undefined {
  switch (err.code) {
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return "unsupportedMediaType";
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return "payloadTooLarge";
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return "validation";
    default:
      return undefined;
  }
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    let body: ErrorBody;
    let status: number;
    if (err instanceof TdsError) {
      status = err.statusCode;
      body = { code: err.code, message: err.message, requestId: request.id };
      if (err.field !== undefined) body.field = err.field;
    } else if (err.validation) {
      const field = validationField(err);
      status = 400;
      body = {
        code: ErrorCodes.validation.code,
        message: `${field ?? "request"}: ${err.validation[0]?.message ?? err.message}`,
        requestId: request.id,
      };
      if (field !== undefined) body.field = field;
    } else if (err.statusCode === 429) {
      status = 429;
      body = { code: ErrorCodes.rateLimited.code, message: err.message, requestId: request.id };
    } else {
      const kind = fastifyCodeToKind(err);
      if (kind) {
        status = ErrorCodes[kind].status;
        body = { code: ErrorCodes[kind].code, message: err.message, requestId: request.id };
        if (kind === "validation") body.field = "body";
      } else {
        request.log.error({ err }, "unhandled error");
        status = 500;
        body = { code: ErrorCodes.internal.code, message: "Internal error", requestId: request.id };
      }
    }
    return reply.status(status).type("application/json").send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    return reply.status(404).send({
      code: ErrorCodes.notFound.code,
      message: `No route ${request.method} ${request.url.split("?")[0] ?? ""}`,
      requestId: request.id,
    } satisfies ErrorBody);
  });
}
