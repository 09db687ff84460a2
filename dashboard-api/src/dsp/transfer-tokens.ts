// Gateway tokens scoped to one DSP transfer process. A PULL transfer's start
// message carries a fresh random token (only its SHA-256 is stored, in
// dsp_transfers); the gateway accepts it for that transfer's agreement while
// the transfer is STARTED, in place of the contract's own token. When the
// transfer is suspended, completed or terminated, this process cuts the
// streams opened with it at once (as revocation cuts a contract's streams),
// and every later request with it is refused. The gateway sees only the
// TransferTokenGate interface (gateway/grants.ts).
import { createHash, randomBytes } from "node:crypto";
import type { Refusal, TransferTokenGate } from "../gateway/grants.ts";
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
