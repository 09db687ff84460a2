// The DSP TCK's fixtures in a space of their own (dsp-tck, never the demo
// space): the catalog offers it asks for, the agreements it transfers under,
// and the script that makes this connector take, for each fixture id, the
// steps the TCK's test for that id expects (the TCK assumes a connector whose
// behaviour is scripted per id; EDC's TCK extension does the same). Everything
// the connector does on receiving a message (state checks, refusals, storage,
// evidence) is the product's; only the choice of its own next steps is
// scripted here. Ids and sequences: ../shared/tools/dsp-tck/README.md §5-7.
import type { Pool } from "pg";
import { CatalogStore } from "../../dashboard-api/src/catalog/store.ts";
import type { DspBehaviour, NegotiationAction, TransferAction } from "../../dashboard-api/src/dsp/engine.ts";
import { offerIdOf, datasetIdOf } from "../../dashboard-api/src/dsp/odrl.ts";
import { DspStore } from "@tds/dashboard-api/dsp-store";
import type { CatalogEntry } from "@tds/wire";

export const TCK_SPACE = "dsp-tck";
export const TCK_PARTICIPANT = "TCK_PARTICIPANT";
export const PROVIDER_NS = `${TCK_SPACE}--provider`;
const range = (prefix: string, groups: Record<string, number>): string[] =>
  Object.entries(groups).flatMap(([g, n]) =>
    Array.from({ length: n }, (_, i) => `${prefix}${g}${String(i + 1).padStart(2, "0")}`),
  );

/** Offer names (lowercase, as Kubernetes names are): the catalog and CN provider fixtures. */
export const CAT_OFFERS = ["cat0101", "cat0102"];
export const CN_OFFERS = range("acn", { "01": 4, "02": 7, "03": 4 });
export const CN_C_DATASETS = range("ACNC", { "01": 4, "02": 6, "03": 6 });
export const TP_AGREEMENTS = range("ATP", { "01": 5, "02": 5, "03": 6 });
export const TP_C_AGREEMENTS = range("ATPC", { "01": 5, "02": 5, "03": 6 });

const entry = (name: string): CatalogEntry => ({
  space: TCK_SPACE,
  namespace: PROVIDER_NS,
  name,
  uid: `tck-${name}`,
  provider: "provider",
  providerName: "TCK fixture provider",
  title: `TCK fixture ${name}`,
  description: "",
  keywords: [],
  classification: "public",
  dataCategory: "test",
  regionOfOrigin: "CN",
  accessMode: "download",
  contractApproval: "Automatic",
  purposes: ["conformance-testing"],
  format: "application/octet-stream",
  contentId: `sha256:${"0".repeat(64)}`,
  byteSize: 0,
  objects: 1,
  currency: "CNY",
  price: {},
  publishedAt: "2026-01-01T00:00:00Z",
});

export const datasetId = (name: string) => datasetIdOf({ space: TCK_SPACE, namespace: PROVIDER_NS, name });

/** Writes the fixtures (idempotent). */
export async function seed(pool: Pool, participantId: string): Promise<void> {
  const catalog = new CatalogStore(pool);
  for (const name of [...CAT_OFFERS, ...CN_OFFERS]) await catalog.upsert(entry(name));
  await pool.query(
    "delete from dsp_negotiations where space = $1 and agreement_id is not null and contract_ref = 'tck-seed'",
    [TCK_SPACE],
  );
  const store = new DspStore(pool);
  const target = datasetId("cat0101");
  for (const [role, ids] of [
    ["provider", TP_AGREEMENTS],
    ["consumer", TP_C_AGREEMENTS],
  ] as const) {
    for (const id of ids) {
      await store.insertNegotiation({
        pid: `tck-seed-${id}`,
        space: TCK_SPACE,
        role,
        state: "FINALIZED",
        peerPid: `tck-seed-peer-${id}`,
        counterparty: TCK_PARTICIPANT,
        peerAddress: "http://localhost:8083",
        datasetId: target,
        offerId: `${target}:policy`,
        offer: { "@id": `${target}:policy`, "@type": "Offer", permission: [{ action: "use" }] },
        agreementId: id,
        agreement: {
          "@id": id,
          "@type": "Agreement",
          target,
          assigner: role === "provider" ? participantId : TCK_PARTICIPANT,
          assignee: role === "provider" ? TCK_PARTICIPANT : participantId,
        },
        contractRef: "tck-seed",
        counterOffers: 0,
      });
    }
  }
}

/** The TCK settings that name these fixtures (fixture key = test method upper-cased + field). */
export function fixtureSettings(): Record<string, string> {
  const s: Record<string, string> = {
    CAT_01_01_DATASETID: datasetId("cat0101"),
    CAT_01_02_DATASETID: datasetId("cat0102"),
  };
  for (const name of CN_OFFERS) {
    const key = `CN_${name.slice(3, 5)}_${name.slice(5, 7)}`;
    s[`${key}_DATASETID`] = datasetId(name);
    s[`${key}_OFFERID`] = offerIdOf({ space: TCK_SPACE, namespace: PROVIDER_NS, name } as never);
  }
  for (const id of CN_C_DATASETS) s[`CN_C_${id.slice(4, 6)}_${id.slice(6, 8)}_DATASETID`] = id;
  for (const id of TP_AGREEMENTS) {
    const key = `TP_${id.slice(3, 5)}_${id.slice(5, 7)}`;
    s[`${key}_AGREEMENTID`] = id;
    s[`${key}_FORMAT`] = "HttpData-PULL";
  }
  for (const id of TP_C_AGREEMENTS) {
    const key = `TP_C_${id.slice(4, 6)}_${id.slice(6, 8)}`;
    s[`${key}_AGREEMENTID`] = id;
    s[`${key}_FORMAT`] = "HttpData-PULL";
  }
  return s;
}

const terminate = (reason: string): NegotiationAction => ({ do: "terminate", reason });
type Steps = Partial<Record<string, NegotiationAction[]>>;
/** CN (this connector is provider), by offer name: the steps after each event. */
const provider: Record<string, Steps> = {
  acn0101: { requested: [{ do: "offer" }] },
  acn0102: {
    requested: [{ do: "offer" }],
    "counter-offered": [terminate("Counter-offers are not accepted")],
  },
  acn0103: { requested: [{ do: "offer" }], accepted: [{ do: "agree" }], verified: [{ do: "finalize" }] },
  acn0104: { requested: [{ do: "agree" }], verified: [{ do: "finalize" }] },
  acn0201: { requested: [terminate("Refused by the fixture")] },
  acn0202: {},
  acn0203: { requested: [{ do: "agree" }] },
  acn0204: { requested: [{ do: "offer" }] },
  acn0205: { requested: [{ do: "offer" }, terminate("Withdrawn by the fixture")] },
  acn0206: { requested: [{ do: "offer" }], accepted: [terminate("Refused by the fixture")] },
  acn0207: { requested: [{ do: "agree" }], verified: [terminate("Refused by the fixture")] },
  acn0301: { requested: [{ do: "agree" }], verified: [{ do: "finalize" }] },
  acn0302: { requested: [{ do: "offer" }] },
  acn0303: { requested: [{ do: "offer" }] },
  acn0304: { requested: [{ do: "offer" }] },
};
/** CN_C (this connector is consumer), by the TCK's dataset id. */
const consumer: Record<string, Steps> = {
  ACNC0101: { offered: [{ do: "accept" }], agreed: [{ do: "verify" }] },
  ACNC0102: { offered: [{ do: "counter" }] },
  ACNC0103: { offered: [terminate("Refused by the fixture")] },
  ACNC0104: { agreed: [{ do: "verify" }] },
  ACNC0202: { "request-answered": [terminate("Withdrawn by the fixture")] },
  ACNC0203: { agreed: [terminate("Refused by the fixture")] },
  ACNC0205: { offered: [{ do: "accept" }] },
  ACNC0206: { agreed: [{ do: "verify" }] },
  ACNC0304: { offered: [{ do: "accept" }] },
  ACNC0305: { offered: [{ do: "accept" }] },
  ACNC0306: { offered: [{ do: "accept" }] },
};
const t = {
  start: { do: "start" } as TransferAction,
  suspend: { do: "suspend", reason: "Suspended by the fixture" } as TransferAction,
  complete: { do: "complete" } as TransferAction,
  terminate: { do: "terminate", reason: "Terminated by the fixture" } as TransferAction,
};
/** TP (provider) after the request, and TP_C (consumer) after the start or the answer, by agreement id. */
const transfers: Record<string, Partial<Record<string, TransferAction[]>>> = {
  ATP0101: { requested: [t.start, t.terminate] },
  ATP0102: { requested: [t.start, t.complete] },
  ATP0103: { requested: [t.start, t.suspend, t.terminate] },
  ATP0104: { requested: [t.start, t.suspend, t.start, t.complete] },
  ATP0105: { requested: [t.terminate] },
  ATP0201: { requested: [t.start] },
  ATP0202: { requested: [t.start] },
  ATP0203: { requested: [t.start] },
  ATP0204: { requested: [t.start] },
  ATP0303: { requested: [t.start] },
  ATP0304: { requested: [t.start] },
  ATP0305: { requested: [t.start] },
  ATP0306: { requested: [t.start] },
  ATPC0201: { started: [t.terminate] },
  ATPC0202: { started: [t.complete] },
  ATPC0203: { started: [t.suspend, t.terminate] },
  ATPC0205: { "request-answered": [t.terminate] },
};

export const tckBehaviour: DspBehaviour = {
  negotiation(event, n) {
    const key = n.role === "provider" ? (n.datasetId.split(":").pop() ?? "") : n.datasetId;
    const table = n.role === "provider" ? provider : consumer;
    return Promise.resolve(table[key]?.[event] ?? []);
  },
  transfer(event, tr) {
    return Promise.resolve(transfers[tr.agreementId]?.[event] ?? []);
  },
};
