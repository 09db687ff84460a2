// The catalog entry: a Ready DataOffer as the operator publishes it
// (PUT /v1/spaces/{space}/catalog/offers/{namespace}/{name}) and the API
// indexes it for search, prices it and serves it back.
import { Type, type Static } from "@sinclair/typebox";
import { ACCESS_MODES, CONTRACT_APPROVAL, CURRENCY_CODE, DECIMAL_AMOUNT, StringEnum } from "@tds/crds";

/** RFC 3339 date-time, as the operator writes it (upper-case T and Z). */
export const RFC3339 = "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})$";

const str = (maxLength: number) => Type.String({ maxLength });
const list = (maxLength: number) => Type.Array(Type.String({ minLength: 1, maxLength }), { maxItems: 50 });

export const CatalogEntrySchema = Type.Object(
  {
    space: str(63),
    namespace: str(63),
    name: str(253),
    uid: str(100),
    provider: str(63),
    providerName: str(256),
    title: Type.String({ minLength: 1, maxLength: 200 }),
    description: str(8192),
    keywords: list(64),
    classification: str(63),
    dataCategory: str(63),
    regionOfOrigin: str(16),
    accessMode: StringEnum("The offer's effective access mode", ACCESS_MODES),
    contractApproval: StringEnum("The offer's effective contract approval", CONTRACT_APPROVAL),
    purposes: list(63),
    format: str(127),
    contentId: Type.String({ pattern: "^sha256:[0-9a-f]{64}$" }),
    byteSize: Type.Integer({ minimum: 0 }),
    objects: Type.Integer({ minimum: 0 }),
    currency: Type.String({ pattern: CURRENCY_CODE }),
    /** Per pricing dimension, an exact decimal amount (the DataOffer's own pattern). */
    price: Type.Unsafe<Record<string, string>>({
      type: "object",
      additionalProperties: { type: "string", pattern: DECIMAL_AMOUNT },
    }),
    publishedAt: Type.String({ pattern: RFC3339 }),
    validity: Type.Optional(
      Type.Object(
        {
          notBefore: Type.Optional(Type.String({ pattern: RFC3339 })),
          notAfter: Type.Optional(Type.String({ pattern: RFC3339 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type CatalogEntry = Static<typeof CatalogEntrySchema>;
