// Gateway tokens scoped to one DSP transfer process. A PULL transfer's start
// message carries a fresh random token (only its SHA-256 is stored, in
// dsp_transfers); the gateway accepts it for that transfer's agreement while
// the transfer is STARTED, in place of the contract's own token. When the
// transfer is suspended, completed or terminated, this process cuts the
// streams opened with it at once (as revocation cuts a contract's streams),
// and every later request with it is refused. A gateway in another process
// learns the change from PostgreSQL (channel tds_dsp_transfer, migration 0000000000015;
// listen()). The gateway sees only the TransferTokenGate interface
// (ledger/grant.ts).
import { createHash, randomBytes } from "node:crypto";
import type { Pool, PoolClient } from "pg";
import type { Refusal, TransferTokenGate } from "../ledger/grant.ts";
import type { DspStore, Transfer } from "./store.ts";

const digest = (token: string) => createHash("sha256").update(token, "utf8").digest("hex");

export class TransferTokens implements TransferTokenGate {
  private readonly open = new Map<string, Set<(why: Refusal) => void>>();
  constructor(private readonly store: DspStore) {}

  async issue(pid: string): Promise<string> {
    const token = `dsp.${randomBytes(32).toString("base64url")}`;
    await this.store.setTransferToken(pid, digest(token));
    return token;
  }

  async authorize(agreementId: string, token: string): Promise<{ pid: string } | Refusal | undefined> {
    if (!token.startsWith("dsp.")) return undefined;
    const t = await this.store.transferByToken(digest(token));
    if (!t || t.role !== "provider" || t.agreementId !== agreementId) return undefined;
    if (t.state !== "STARTED")
      return {
        status: 403,
        code: "TDS_ERR_DSP_TRANSFER_NOT_STARTED",
        message: `Transfer ${t.pid} is ${t.state}`,
      };
    return { pid: t.pid };
  }

  watch(pid: string, cut: (why: Refusal) => void): () => void {
    let set = this.open.get(pid);
    if (!set) {
      set = new Set();
      this.open.set(pid, set);
    }
    set.add(cut);
    return () => {
      const s = this.open.get(pid);
      s?.delete(cut);
      if (s?.size === 0) this.open.delete(pid);
    };
  }

  /**
   * Follows transfer state changes made by other processes (the DSP endpoints
   * of the API) on a connection of its own; returns the function that stops.
   * A change while the connection was down is caught by the next request,
   * which authorizes against the stored state.
   */
  async listen(pool: Pool, onError: (err: unknown) => void): Promise<() => Promise<void>> {
    const client: PoolClient = await pool.connect();
    const onNotify = (msg: { channel: string; payload?: string }) => {
      if (msg.channel !== "tds_dsp_transfer" || !msg.payload || !this.open.has(msg.payload)) return;
      this.store.transferByPid(msg.payload).then((t) => {
        if (t) this.changed(t);
      }, onError);
    };
    client.on("notification", onNotify);
    client.on("error", onError);
    await client.query("listen tds_dsp_transfer");
    return async () => {
      client.off("notification", onNotify);
      try {
        await client.query("unlisten tds_dsp_transfer");
      } finally {
        client.release();
      }
    };
  }

  /** Called on every state change of a transfer: anything but STARTED cuts its open streams. */
  changed(t: Transfer): void {
    if (t.state === "STARTED") return;
    const why: Refusal = {
      status: 403,
      code: "TDS_ERR_DSP_TRANSFER_NOT_STARTED",
      message: `Transfer ${t.pid} is ${t.state}`,
    };
    for (const cut of [...(this.open.get(t.pid) ?? [])]) cut(why);
  }
}
