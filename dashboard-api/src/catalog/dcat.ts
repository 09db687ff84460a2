// The catalog as DCAT 3 in JSON-LD (https://www.w3.org/TR/vocab-dcat-3/):
// a dcat:Catalog whose dcat:dataset entries are the offers, each with a
// dcat:Distribution (media type, byte size, checksum = the content
// identifier) and its usage policy as an ODRL offer (odrl:hasPolicy, as DCAT
// 3 and the Dataspace Protocol use it). The context is inline, so a
// consumer needs no network to expand it. Pure.
import type { CatalogOffer } from "./store.ts";

export const DCAT_CONTEXT = {
  dcat: "http://www.w3.org/ns/dcat#",
  dcterms: "http://purl.org/dc/terms/",
  foaf: "http://xmlns.com/foaf/0.1/",
  odrl: "http://www.w3.org/ns/odrl/2/",
  spdx: "http://spdx.org/rdf/terms#",
  xsd: "http://www.w3.org/2001/XMLSchema#",
  tds: "https://tds.dev/ns/v1alpha1#",
} as const;

const typed = (value: string, type: string) => ({ "@value": value, "@type": type });

export function offerIri(o: { space: string; namespace: string; name: string }): string {
  return `urn:tds:${o.space}:offer:${o.namespace}:${o.name}`;
}

function dataset(o: CatalogOffer): Record<string, unknown> {
  const id = offerIri(o);
  const [algorithm, digest] = o.contentId.split(":");
  return {
    "@id": id,
    "@type": "dcat:Dataset",
    "dcterms:identifier": o.id,
    "dcterms:title": o.title,
    ...(o.description ? { "dcterms:description": o.description } : {}),
    "dcat:keyword": o.keywords,
    "dcterms:publisher": {
      "@id": `urn:tds:${o.space}:participant:${o.provider}`,
      "@type": "foaf:Agent",
      "foaf:name": o.providerName,
    },
    "dcterms:issued": typed(o.publishedAt, "xsd:dateTime"),
    "dcterms:spatial": { "@id": `urn:iso:std:iso:3166:-2:${o.regionOfOrigin}` },
    "dcat:theme": { "@id": `urn:tds:${o.space}:category:${o.dataCategory}` },
    "tds:classification": o.classification,
    "tds:accessMode": o.accessMode,
    ...(o.validity
      ? {
          "dcterms:temporal": {
            "@type": "dcterms:PeriodOfTime",
            ...(o.validity.notBefore
              ? { "dcat:startDate": typed(o.validity.notBefore, "xsd:dateTime") }
              : {}),
            ...(o.validity.notAfter ? { "dcat:endDate": typed(o.validity.notAfter, "xsd:dateTime") } : {}),
          },
        }
      : {}),
    "odrl:hasPolicy": {
      "@id": `${id}:policy`,
      "@type": "odrl:Offer",
      "odrl:assigner": { "@id": `urn:tds:${o.space}:participant:${o.provider}` },
      "odrl:target": { "@id": id },
      "odrl:permission": [
        {
          "odrl:action": { "@id": o.accessMode === "computeOnly" ? "odrl:execute" : "odrl:use" },
          "odrl:constraint": [
            {
              "odrl:leftOperand": { "@id": "odrl:purpose" },
              "odrl:operator": { "@id": "odrl:isAnyOf" },
              "odrl:rightOperand": o.purposes,
            },
          ],
        },
      ],
    },
    "dcat:distribution": [
      {
        "@id": `${id}:distribution`,
        "@type": "dcat:Distribution",
        "dcat:mediaType": { "@id": `https://www.iana.org/assignments/media-types/${o.format}` },
        "dcat:byteSize": typed(String(o.byteSize), "xsd:nonNegativeInteger"),
        "spdx:checksum": {
          "@type": "spdx:Checksum",
          "spdx:algorithm": { "@id": `spdx:checksumAlgorithm_${algorithm ?? "sha256"}` },
          "spdx:checksumValue": typed(digest ?? "", "xsd:hexBinary"),
        },
      },
    ],
  };
}

export function dcatCatalog(
  space: string,
  title: string,
  offers: readonly CatalogOffer[],
): Record<string, unknown> {
  return {
    "@context": DCAT_CONTEXT,
    "@id": `urn:tds:${space}:catalog`,
    "@type": "dcat:Catalog",
    "dcterms:title": title,
    "dcat:dataset": offers.map(dataset),
  };
}
