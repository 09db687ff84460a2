// Negotiation and transfer process state in PostgreSQL (migrations/0000000000010_dsp.sql),
// so a restart of the API loses no process. A state change is a compare-and-set
// on the state it was decided from: two messages racing for one process cannot
// both move it.
import type { Pool, QueryResultRow } from "pg";
import type { NegotiationState, Role, TransferState } from "./machine.ts";
import type { Json } from "./messages.ts";

export interface Negotiation {
  pid: string;
  space: string;
  role: Role;
  state: NegotiationState;
  peerPid: string | null;
  counterparty: string;
  peerAddress: string;
  datasetId: string;
  offerId: string;
  offer: Json;
  agreementId: string | null;
  agreement: Json | null;
  contractRef: string | null;
  counterOffers: number;
}

export interface Transfer {
  pid: string;
  space: string;
  role: Role;
  state: TransferState;
  peerPid: string | null;
  counterparty: string;
  peerAddress: string;
  agreementId: string;
  format: string;
  dataAddress: Json | null;
}

interface NegotiationRow {
  pid: string;
  space: string;
  role: Role;
  state: NegotiationState;
  peer_pid: string | null;
  counterparty: string;
  peer_address: string;
  dataset_id: string;
  offer_id: string;
  offer: Json;
  agreement_id: string | null;
  agreement: Json | null;
  contract_ref: string | null;
  counter_offers: number;
}

interface TransferRow {
  pid: string;
  space: string;
  role: Role;
  state: TransferState;
  peer_pid: string | null;
  counterparty: string;
  peer_address: string;
  agreement_id: string;
  format: string;
  data_address: Json | null;
}

const negotiation = (r: NegotiationRow): Negotiation => ({
  pid: r.pid,
  space: r.space,
  role: r.role,
  state: r.state,
  peerPid: r.peer_pid,
  counterparty: r.counterparty,
  peerAddress: r.peer_address,
  datasetId: r.dataset_id,
  offerId: r.offer_id,
  offer: r.offer,
  agreementId: r.agreement_id,
  agreement: r.agreement,
  contractRef: r.contract_ref,
  counterOffers: r.counter_offers,
});

const transfer = (r: TransferRow): Transfer => ({
  pid: r.pid,
  space: r.space,
  role: r.role,
  state: r.state,
  peerPid: r.peer_pid,
  counterparty: r.counterparty,
  peerAddress: r.peer_address,
  agreementId: r.agreement_id,
  format: r.format,
  dataAddress: r.data_address,
});

export type NegotiationPatch = Partial<
  Pick<Negotiation, "peerPid" | "agreementId" | "agreement" | "contractRef" | "counterOffers" | "offer">
>;
export type TransferPatch = Partial<Pick<Transfer, "peerPid" | "dataAddress">>;

const negotiationColumns: Record<keyof NegotiationPatch, string> = {
  peerPid: "peer_pid",
  agreementId: "agreement_id",
  agreement: "agreement",
  contractRef: "contract_ref",
  counterOffers: "counter_offers",
  offer: "offer",
};
const transferColumns: Record<keyof TransferPatch, string> = {
  peerPid: "peer_pid",
  dataAddress: "data_address",
};

function sets(patch: Record<string, unknown>, columns: Record<string, string>, params: unknown[]): string {
  const out = ["state = $3", "updated_at = now()"];
  for (const [k, v] of Object.entries(patch)) {
    const col = columns[k];
    if (!col || v === undefined) continue;
    params.push(typeof v === "object" && v !== null ? JSON.stringify(v) : v);
    out.push(`${col} = $${params.length}`);
  }
  return out.join(", ");
}

export class DspStore {
  constructor(private readonly pool: Pool) {}

  async insertNegotiation(n: Negotiation): Promise<void> {
    await this.pool.query(
      `insert into dsp_negotiations (pid, space, role, state, peer_pid, counterparty, peer_address, dataset_id,
         offer_id, offer, agreement_id, agreement, contract_ref, counter_offers)
       values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)`,
      [
        n.pid,
        n.space,
        n.role,
        n.state,
        n.peerPid,
        n.counterparty,
        n.peerAddress,
        n.datasetId,
        n.offerId,
        JSON.stringify(n.offer),
        n.agreementId,
        n.agreement === null ? null : JSON.stringify(n.agreement),
        n.contractRef,
        n.counterOffers,
      ],
    );
  }

  async negotiation(space: string, pid: string): Promise<Negotiation | undefined> {
    const r = await this.pool.query<NegotiationRow>(
      "select * from dsp_negotiations where space = $1 and pid = $2",
      [space, pid],
    );
    return r.rows[0] ? negotiation(r.rows[0]) : undefined;
  }

  /** The finalized negotiation whose agreement has this id, on this side. */
  async agreement(space: string, role: Role, agreementId: string): Promise<Negotiation | undefined> {
    const r = await this.pool.query<NegotiationRow>(
      "select * from dsp_negotiations where space = $1 and role = $2 and agreement_id = $3 and state = 'FINALIZED'",
      [space, role, agreementId],
    );
    return r.rows[0] ? negotiation(r.rows[0]) : undefined;
  }

  /** Moves a negotiation from `from` to `to`; undefined when its state was no longer `from`. */
  async moveNegotiation(
    pid: string,
    from: NegotiationState,
    to: NegotiationState,
    patch: NegotiationPatch = {},
  ): Promise<Negotiation | undefined> {
    const row = await this.move("dsp_negotiations", negotiationColumns, pid, from, to, patch);
    return row ? negotiation(row as NegotiationRow) : undefined;
  }

  async insertTransfer(t: Transfer): Promise<void> {
    await this.pool.query(
      `insert into dsp_transfers (pid, space, role, state, peer_pid, counterparty, peer_address, agreement_id, format,
         data_address) values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
      [
        t.pid,
        t.space,
        t.role,
        t.state,
        t.peerPid,
        t.counterparty,
        t.peerAddress,
        t.agreementId,
        t.format,
        t.dataAddress === null ? null : JSON.stringify(t.dataAddress),
      ],
    );
  }

  async transfer(space: string, pid: string): Promise<Transfer | undefined> {
    const r = await this.pool.query<TransferRow>(
      "select * from dsp_transfers where space = $1 and pid = $2",
      [space, pid],
    );
    return r.rows[0] ? transfer(r.rows[0]) : undefined;
  }

  async moveTransfer(
    pid: string,
    from: TransferState,
    to: TransferState,
    patch: TransferPatch = {},
  ): Promise<Transfer | undefined> {
    const row = await this.move("dsp_transfers", transferColumns, pid, from, to, patch);
    return row ? transfer(row as TransferRow) : undefined;
  }

  /** Moves a process of `table` from `from` to `to` with the patch's columns: its row, none when its state was no longer `from`. */
  private async move(
    table: "dsp_negotiations" | "dsp_transfers",
    columns: Record<string, string>,
    pid: string,
    from: string,
    to: string,
    patch: Record<string, unknown>,
  ): Promise<QueryResultRow | undefined> {
    const params: unknown[] = [pid, from, to];
    const r = await this.pool.query<QueryResultRow>(
      `update ${table} set ${sets(patch, columns, params)} where pid = $1 and state = $2 returning *`,
      params,
    );
    return r.rows[0];
  }

  /** Records the counterparty's process id once it is known (it never changes after). */
  async setPeer(kind: "negotiation" | "transfer", pid: string, peerPid: string): Promise<void> {
    const table = kind === "negotiation" ? "dsp_negotiations" : "dsp_transfers";
    await this.pool.query(`update ${table} set peer_pid = $2 where pid = $1 and peer_pid is null`, [
      pid,
      peerPid,
    ]);
  }

  async setContract(pid: string, ref: string): Promise<void> {
    await this.pool.query("update dsp_negotiations set contract_ref = $2 where pid = $1", [pid, ref]);
  }

  /** Stores the digest of a transfer's gateway token (the token itself is handed out once). */
  async setTransferToken(pid: string, digest: string): Promise<void> {
    await this.pool.query("update dsp_transfers set token_sha256 = $2 where pid = $1", [pid, digest]);
  }

  /** A transfer by its process id alone (the gateway's view: tds_dsp_transfer notifications carry the pid). */
  async transferByPid(pid: string): Promise<Transfer | undefined> {
    const r = await this.pool.query<TransferRow>("select * from dsp_transfers where pid = $1", [pid]);
    return r.rows[0] ? transfer(r.rows[0]) : undefined;
  }

  /** The transfer a gateway token was issued for, with its agreement and state. */
  async transferByToken(digest: string): Promise<Transfer | undefined> {
    const r = await this.pool.query<TransferRow>("select * from dsp_transfers where token_sha256 = $1", [
      digest,
    ]);
    return r.rows[0] ? transfer(r.rows[0]) : undefined;
  }
}
