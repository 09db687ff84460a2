// The gateway against the real API server, S3 server and PostgreSQL. The
// contracts' decisions are written through the status subresource, as the
// operator's DataContract reconciler does (testing.ts).
import assert from "node:assert/strict";
import { randomBytes, createHash } from "node:crypto";
import { after, before, test } from "node:test";
import { eventually, kubectl, readRest } from "@tds/test/testkit";
import { EvidenceStore } from "@tds/dashboard-api/evidence-store";
import { Ledger } from "@tds/dashboard-api/ledger";
import { gatewayWorld, meteredFor, type GatewayWorld } from "@tds/test/gateway-world";

let w: GatewayWorld;
const small = Buffer.from("ts,temp\n".repeat(200));
const medium = randomBytes(4 * 1024 * 1024);
const big = randomBytes(64 * 1024 * 1024);
const active = { state: "Active" };
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

before(async () => {
  w = await gatewayWorld({ monitorIntervalMs: 200 });
  await w.put("data/small.csv", small);
  await w.put("data/medium.bin", medium);
  await w.put("data/big.bin", big);
  await w.put("private/other.csv", "not offered");
  w.offer("telemetry", { prefix: "data/" }, { accessMode: "download" });
  w.offer("one-file", { key: "data/small.csv" });
  w.offer("sealed", { prefix: "data/" }, { accessMode: "computeOnly" });
});
after(async () => {
  await w.close();
});

function get(
  agreementId: string,
  token: string | undefined,
  key: string,
  headers: Record<string, string> = {},
) {
  return fetch(`${w.url}/v1/data/${agreementId}/${key}`, {
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
  });
}

function readerOf(res: Response): ReadableStreamDefaultReader<Uint8Array> {
  const body = res.body as ReadableStream<Uint8Array> | null;
  assert.ok(body);
  return body.getReader();
}

async function code(res: Response): Promise<string> {
  return ((await res.json()) as { code: string }).code;
}

test("a download is allowed and streamed with ETag, Content-Length and Range; it is metered and evidenced", async () => {
  const { agreementId, token } = w.contract("allowed", "telemetry", active);
  const res = await get(agreementId, token, "data/small.csv");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-length"), String(small.length));
  assert.match(res.headers.get("etag") ?? "", /^"[^"]+"$/);
  assert.equal(res.headers.get("accept-ranges"), "bytes");
  const transfer = res.headers.get("tds-transfer-id");
  assert.ok(transfer);
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), small);

  const part = await get(agreementId, token, "data/medium.bin", { range: "bytes=100-1099" });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get("content-range"), `bytes 100-1099/${medium.length}`);
  assert.equal(part.headers.get("content-length"), "1000");
  assert.deepEqual(Buffer.from(await part.arrayBuffer()), medium.subarray(100, 1100));

  const whole = await get(agreementId, token, "data/big.bin");
  assert.equal(sha(Buffer.from(await whole.arrayBuffer())), sha(big));

  const m = await eventually("the transfers to be metered", async () => {
    const got = await meteredFor(w.pool, agreementId);
    return got.bytes === small.length + 1000 + big.length ? got : undefined;
  });
  assert.equal(m.accesses, 3);
  const evidence = await w.pool.query<{ n: string }>(
    "select count(*)::text as n from evidence_entries where space = $1 and object_name = 'allowed'",
    [w.space],
  );
  assert.equal(Number(evidence.rows[0]?.n), 3);

  // Wrong token, no token, unknown agreement: one answer, 401.
  const wrong = await get(agreementId, "nope", "data/small.csv");
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.get("www-authenticate"), 'Bearer realm="tds-gateway", error="invalid_token"');
  assert.equal(wrong.headers.get("content-type"), "application/problem+json; charset=utf-8");
  const none = await get(agreementId, undefined, "data/small.csv");
  assert.equal(none.status, 401);
  assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="tds-gateway"');
  assert.equal((await get(`agr-${w.run}-unknown`, token, "data/small.csv")).status, 401);
  // Outside the asset; a key offer serves only its key.
  const outside = await get(agreementId, token, "private/other.csv");
  assert.equal(outside.status, 403);
  assert.equal(await code(outside), "TDS_ERR_OUTSIDE_ASSET");
  const one = w.contract("one-file", "one-file", active);
  assert.equal((await get(one.agreementId, one.token, "data/small.csv")).status, 200);
  assert.equal((await get(one.agreementId, one.token, "data/medium.bin")).status, 403);
  // A missing object is 404 and costs no access.
  const missing = await get(agreementId, token, "data/nothing.csv");
  assert.equal(missing.status, 404);
  assert.equal(await code(missing), "TDS_ERR_OBJECT_NOT_FOUND");
});

test("refused after expiry (state or validity window), after revocation, and for a computeOnly offer", async () => {
  const expired = w.contract("expired", "telemetry", { state: "Expired" });
  const r1 = await get(expired.agreementId, expired.token, "data/small.csv");
  assert.equal(r1.status, 403);
  assert.equal(await code(r1), "TDS_ERR_CONTRACT_EXPIRED");

  const lapsed = w.contract("lapsed", "telemetry", {
    state: "Active",
    validity: { notAfter: new Date(Date.now() - 1000).toISOString().replace(/\.\d+Z$/, "Z") },
  });
  const r2 = await get(lapsed.agreementId, lapsed.token, "data/small.csv");
  assert.equal(r2.status, 403);
  assert.equal(await code(r2), "TDS_ERR_CONTRACT_EXPIRED");

  const revoked = w.contract("revoked", "telemetry", active);
  assert.equal((await get(revoked.agreementId, revoked.token, "data/small.csv")).status, 200);
  w.setContractStatus("revoked", {
    state: "Revoked",
    revocation: { revokedBy: "provider", reason: "test", revokedAt: new Date().toISOString() },
  });
  // The gateway learns of the revocation through its watch (milliseconds, not at once after kubectl returns).
  const r3 = await eventually("the revocation to reach the gateway", async () => {
    const r = await get(revoked.agreementId, revoked.token, "data/small.csv");
    if (r.status === 200) {
      await r.arrayBuffer();
      return undefined;
    }
    return r;
  });
  assert.equal(r3.status, 403);
  assert.equal(await code(r3), "TDS_ERR_CONTRACT_REVOKED");

  const sealed = w.contract("sealed", "sealed", active);
  const r4 = await get(sealed.agreementId, sealed.token, "data/small.csv");
  assert.equal(r4.status, 403);
  assert.equal(await code(r4), "TDS_ERR_ACCESS_MODE");
  const m = await meteredFor(w.pool, sealed.agreementId);
  assert.equal(m.events, 0);
});

test("the access count stops at the agreed maximum, also under concurrent requests", async () => {
  const { agreementId, token } = w.contract("limited", "telemetry", active, { requestedAccesses: 3 });
  const answers = await Promise.all(
    Array.from({ length: 8 }, async () => {
      const r = await get(agreementId, token, "data/small.csv");
      if (r.ok) await r.arrayBuffer();
      else assert.equal(await code(r), "TDS_ERR_ACCESS_LIMIT");
      return r.status;
    }),
  );
  assert.equal(answers.filter((s) => s === 200).length, 3);
  assert.equal(answers.filter((s) => s === 403).length, 5);
  const m = await eventually("the accesses to be metered", async () => {
    const got = await meteredFor(w.pool, agreementId);
    return got.bytes === 3 * small.length ? got : undefined;
  });
  assert.equal(m.accesses, 3);
});

test("the gateway enforces the agreed terms in status, not the consumer's spec or a later offer edit", async () => {
  // Requested 5, but agreement fixed 1 (status.terms is the operator's record).
  const { agreementId, token } = w.contract(
    "frozen",
    "telemetry",
    { ...active, terms: { maxAccesses: 1 } },
    { requestedAccesses: 5 },
  );
  const first = await get(agreementId, token, "data/small.csv");
  assert.equal(first.status, 200);
  await first.arrayBuffer();
  const second = await get(agreementId, token, "data/small.csv");
  assert.equal(second.status, 403);
  assert.equal(await code(second), "TDS_ERR_ACCESS_LIMIT");
  // Once agreed, the spec cannot be raised at all: the API server refuses it.
  assert.throws(
    () =>
      kubectl([
        "patch",
        "datacontract",
        "frozen",
        "-n",
        w.consumerNs,
        "--type=merge",
        "-p",
        JSON.stringify({ spec: { requestedAccesses: 9 } }),
      ]),
    /spec is frozen once the contract is agreed/,
  );
  // A contract with an agreement id but no recorded terms gets no grant (fails closed).
  const bare = w.contract("no-terms", "telemetry", active);
  w.setContractStatus("no-terms", { terms: null });
  const refused = await eventually("the grant without terms to be refused", async () => {
    const r = await get(bare.agreementId, bare.token, "data/small.csv");
    await r.arrayBuffer();
    return r.status === 200 ? undefined : r;
  });
  assert.ok(
    refused.status === 401 || refused.status === 403 || refused.status === 404,
    String(refused.status),
  );
});

test("retries with one Idempotency-Key are one access and each byte is metered exactly once", async () => {
  const { agreementId, token } = w.contract("retries", "telemetry", active, { requestedAccesses: 2 });
  const key = { "idempotency-key": `dl-${w.run}-1` };

  // First attempt: the client drops the connection after about a third of the object.
  const ac = new AbortController();
  const first = await fetch(`${w.url}/v1/data/${agreementId}/data/medium.bin`, {
    headers: { authorization: `Bearer ${token}`, ...key },
    signal: ac.signal,
  });
  assert.equal(first.status, 200);
  const tid = first.headers.get("tds-transfer-id");
  const reader = readerOf(first);
  const got: Buffer[] = [];
  let received = 0;
  while (received < medium.length / 3) {
    const { value, done } = await reader.read();
    if (done) break;
    got.push(Buffer.from(value));
    received += value.length;
  }
  ac.abort();
  await reader.cancel().catch(() => undefined);

  // Second attempt resumes where the client got to; third repeats the whole download.
  const rest = await get(agreementId, token, "data/medium.bin", { ...key, range: `bytes=${received}-` });
  assert.equal(rest.status, 206);
  assert.equal(rest.headers.get("tds-transfer-id"), tid);
  got.push(Buffer.from(await rest.arrayBuffer()));
  assert.deepEqual(Buffer.concat(got), medium);
  const again = await get(agreementId, token, "data/medium.bin", key);
  assert.equal(again.status, 200);
  assert.deepEqual(Buffer.from(await again.arrayBuffer()), medium);

  const m = await eventually("the three attempts to be metered", async () => {
    const r = await w.pool.query<{ attempts: number }>(
      "select attempts from gateway_transfers where transfer_id = $1",
      [tid],
    );
    return r.rows[0]?.attempts === 3 ? meteredFor(w.pool, agreementId) : undefined;
  });
  assert.equal(m.bytes, medium.length, "every byte once, though about 1.33x were sent");
  assert.equal(m.accesses, 1);

  // The key for another object conflicts; a new key is a new access and meters the bytes again.
  const conflict = await get(agreementId, token, "data/small.csv", key);
  assert.equal(conflict.status, 409);
  assert.equal(await code(conflict), "TDS_ERR_IDEMPOTENCY_CONFLICT");
  const other = await get(agreementId, token, "data/small.csv", { "idempotency-key": `dl-${w.run}-2` });
  await other.arrayBuffer();
  const m2 = await eventually("the second transfer to be metered", async () => {
    const r = await meteredFor(w.pool, agreementId);
    return r.bytes === medium.length + small.length ? r : undefined;
  });
  assert.equal(m2.accesses, 2);
  // The limit (2) is reached, but a retry of a known transfer still works.
  assert.equal((await get(agreementId, token, "data/small.csv", { "idempotency-key": "new" })).status, 403);
  const retry = await get(agreementId, token, "data/small.csv", { "idempotency-key": `dl-${w.run}-2` });
  assert.equal(retry.status, 200);
  await retry.arrayBuffer();
});

test("revocation cuts an open stream within one monitor interval; backpressure holds the rest in S3", async () => {
  const { agreementId, token } = w.contract("cut", "telemetry", active);
  const res = await get(agreementId, token, "data/big.bin");
  assert.equal(res.status, 200);
  const reader = readerOf(res);
  let received = (await reader.read()).value?.length ?? 0;
  // The client stops reading: the server must not read the whole object meanwhile.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(w.monitor?.openStreams, 1);

  const revokedAt = Date.now();
  w.setContractStatus("cut", {
    state: "Revoked",
    revocation: { revokedBy: "space-operator", reason: "test", revokedAt: new Date().toISOString() },
  });
  await eventually("the stream to be cut", () => w.monitor?.openStreams === 0, 5_000, 20);
  const cutAfter = Date.now() - revokedAt;
  const rest = await readRest(reader);
  received += rest.bytes;
  const failed = rest.cut;
  assert.ok(failed, "the client sees a truncated body, not a clean end");
  assert.ok(received < big.length / 2, `the client got ${received} of ${big.length} bytes`);
  // kubectl's own latency is part of cutAfter; the monitor interval is 200 ms. The bound leaves room
  // for a loaded CI machine; the point is "a monitor pass later", not "at the end of the object".
  assert.ok(cutAfter < 200 + 3000, `cut after ${cutAfter} ms`);

  const m = await eventually("the cut transfer to be metered", async () => {
    const r = await meteredFor(w.pool, agreementId);
    return r.bytes > 0 ? r : undefined;
  });
  assert.ok(m.bytes < big.length / 2, `metered ${m.bytes}: only what left before the cut`);
  // The evidence entry is appended after the stream has closed: wait for it, then check there is exactly one.
  const interrupted = async () => {
    const ev = await w.pool.query<{ n: string }>(
      `select count(*)::text as n from evidence_entries
        where space = $1 and object_name = 'cut' and convert_from(entry, 'UTF8') like '%data.transfer-interrupted%'`,
      [w.space],
    );
    return Number(ev.rows[0]?.n);
  };
  await eventually("the interrupted transfer's evidence entry", async () => (await interrupted()) > 0);
  assert.equal(await interrupted(), 1);
});

test("a transfer whose first attempt never ended has its access metered by the sweep, exactly once", async () => {
  const { agreementId } = w.contract("lost", "telemetry", active);
  const ledger = new Ledger(w.pool, new EvidenceStore(w.pool));
  const grant = await eventually("the grant", () => w.source.resolve(agreementId));
  // The gateway claimed the access and then died mid-stream: no attempt ever ended.
  const claimed = await ledger.claim(grant, {
    transferId: `lost-${w.run}`,
    objectKey: "data/small.csv",
    etag: undefined,
    idempotencyKey: undefined,
  });
  assert.equal(claimed.first, true);
  assert.equal((await meteredFor(w.pool, agreementId)).accesses, 0);
  // Not yet old enough: nothing happens.
  assert.equal(await ledger.sweep(new Date(claimed.createdAt.getTime() - 1000)), 0);
  // Still streaming here: left alone.
  assert.equal(await ledger.sweep(new Date(Date.now() + 1000), new Set([claimed.transferId])), 0);
  assert.ok((await ledger.sweep(new Date(Date.now() + 1000))) >= 1);
  assert.equal(await ledger.sweep(new Date(Date.now() + 1000)), 0);
  assert.deepEqual(await meteredFor(w.pool, agreementId), { bytes: 0, accesses: 1, events: 1 });
  // The attempt reports its end after all (a slow stream on another replica): still one access, no conflict.
  await ledger.delivered(grant, claimed, 0, 100, "complete");
  assert.deepEqual(await meteredFor(w.pool, agreementId), { bytes: 100, accesses: 1, events: 2 });
  const conflicts = await w.pool.query(
    "select 1 from usage_conflicts where source = 'tds-gateway' and id like $1",
    [`lost-${w.run}/%`],
  );
  assert.equal(conflicts.rowCount, 0);
  const swept = await w.pool.query(
    `select 1 from evidence_entries where space = $1 and convert_from(entry, 'UTF8') like $2`,
    [w.space, `%gateway/lost-${w.run}/swept%`],
  );
  assert.equal(swept.rowCount, 1);
});
