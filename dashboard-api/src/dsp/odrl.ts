// A published offer's usage policy as an ODRL offer in the compact DSP
// 2025-1 form, and the DSP catalog (Catalog, Dataset, Distribution) built
// from the TDS catalog. A term of the catalog entry that has no ODRL
// translation here makes the whole offer untranslatable: it is left out of
// the DSP catalog and cannot be negotiated over DSP (fails closed), rather
// than be offered without that term. Pure.
import { offerIri } from "../catalog/dcat.ts";
import type { CatalogOffer } from "../catalog/store.ts";
import { DSP_CONTEXT, PULL_FORMAT, type Json } from "./messages.ts";

const TDS = "https://tds.dev/ns/v1alpha1#";
/** The ODRL action of each access mode; the type makes a new mode a compile error here. */
const ODRL_ACTIONS: Readonly<Record<CatalogOffer["accessMode"], string>> = {
  download: "use",
  computeOnly: "execute",
};

/** Price components and the ODRL leftOperand each one is stated with (a compensate duty). */
const PRICE_OPERANDS: Readonly<Record<string, string>> = {
  perContract: "payAmount",
  perAccess: `${TDS}perAccess`,
  perGBDownloaded: `${TDS}perGBDownloaded`,
  perSandboxCPUHour: `${TDS}perSandboxCPUHour`,
};

/** The DSP dataset id of a catalog offer: the offer's IRI, as in the DCAT export. */
export const datasetIdOf = offerIri;
export const offerIdOf = (o: CatalogOffer): string => `${offerIri(o)}:policy`;

/** The catalog entry an id names, if it is one of this space's offer IRIs. */
export function parseDatasetId(space: string, id: string): { namespace: string; name: string } | undefined {
  const prefix = `urn:tds:${space}:offer:`;
  if (!id.startsWith(prefix)) return undefined;
  const [namespace, name, ...rest] = id.slice(prefix.length).split(":");
  return namespace && name && rest.length === 0 ? { namespace, name } : undefined;
}

export type Translation = { ok: true; offer: Json } | { ok: false; reason: string };

/** The offer's usage policy in ODRL, without `target` (as a catalog lists it). */
export function usagePolicy(o: CatalogOffer): Translation {
  const constraint: Json[] = [{ leftOperand: "purpose", operator: "isAnyOf", rightOperand: [...o.purposes] }];
  if (o.validity?.notBefore)
    constraint.push({ leftOperand: "dateTime", operator: "gteq", rightOperand: o.validity.notBefore });
  if (o.validity?.notAfter)
    constraint.push({ leftOperand: "dateTime", operator: "lteq", rightOperand: o.validity.notAfter });
  const action = ODRL_ACTIONS[o.accessMode];
  const duty: Json[] = [];
  for (const [key, amount] of Object.entries(o.price)) {
    const operand = PRICE_OPERANDS[key];
    if (!operand) return { ok: false, reason: `price component ${key} has no ODRL translation` };
    duty.push({
      action: "compensate",
      constraint: [{ leftOperand: operand, operator: "eq", rightOperand: amount, unit: o.currency }],
    });
  }
  return {
    ok: true,
    offer: {
      "@id": offerIdOf(o),
      "@type": "Offer",
      permission: [{ action, constraint, ...(duty.length > 0 ? { duty } : {}) }],
    },
  };
}

export interface CatalogService {
  /** This space's DSP endpoint (…/dsp/<space>/2025-1). */
  readonly endpointURL: string;
  /** This connector's participant id as counterparties see it. */
  readonly participantId: string;
}

export function dataset(o: CatalogOffer, service: CatalogService): Json | undefined {
  const policy = usagePolicy(o);
  if (!policy.ok) return undefined;
  return {
    "@id": datasetIdOf(o),
    "@type": "Dataset",
    title: o.title,
    ...(o.description ? { description: o.description } : {}),
    ...(o.keywords.length > 0 ? { keyword: o.keywords } : {}),
    hasPolicy: [policy.offer],
    distribution: [
      {
        "@type": "Distribution",
        format: PULL_FORMAT,
        accessService: {
          "@id": `${service.endpointURL}#service`,
          "@type": "DataService",
          endpointURL: service.endpointURL,
        },
      },
    ],
  };
}

export function catalog(space: string, offers: readonly CatalogOffer[], service: CatalogService): Json {
  return {
    "@context": [DSP_CONTEXT],
    "@id": `urn:tds:${space}:catalog`,
    "@type": "Catalog",
    participantId: service.participantId,
    service: [
      { "@id": `${service.endpointURL}#service`, "@type": "DataService", endpointURL: service.endpointURL },
    ],
    dataset: offers.flatMap((o) => dataset(o, service) ?? []),
  };
}
