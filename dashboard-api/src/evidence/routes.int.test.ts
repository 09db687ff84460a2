// The evidence API and its client (ApiClient, @tds/wire) against a real PostgreSQL: idempotent appends
// through a lossy network, participant visibility, stable error codes, proofs
// that verify, and the `tds evidence verify` command on a real export.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify, { type FastifyInstance, type InjectOptions } from "fastify";
import { type CheckpointSigner, signerFromPem, verifyCheckpoint } from "./checkpoint.ts";
import { ApiClient, ApiError, type EvidenceEntry } from "@tds/wire";
import { entryLeafHash } from "./entry.ts";
import type { EvidenceExport } from "./export.ts";
import { verifyConsistency, verifyInclusion } from "./merkle.ts";
import { evidenceRoutes } from "./routes.ts";
import { EvidenceStore } from "./store.ts";
import { type TestDatabase, createTestDatabase } from "@tds/test/database";
import { main as verifyMain } from "./verify-cli.ts";

const SPACE = "acme";
let db: TestDatabase;
let app: FastifyInstance;
let baseUrl: string;
let signer: CheckpointSigner;
let publicPem: string;
let dir: string;

before(async () => {
  db = await createTestDatabase("evidence", { migrate: true, maxConnections: 60 });
  const store = new EvidenceStore(db.pool);
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  signer = signerFromPem(store.origin(SPACE), privateKey.export({ format: "pem", type: "pkcs8" }).toString());
  publicPem = publicKey.export({ format: "pem", type: "spki" }).toString();
  app = Fastify();
  // A stand-in for the app's auth plugin: the role comes from a header.
  await app.register(evidenceRoutes, {
    prefix: "/v1/spaces/:space/evidence",
    store,
    authorize: (request) => {
      const role = request.headers["x-role"];
      if (role === "admin" || role === "operator")
        return Promise.resolve({ canSeeAllEntries: true as const });
      if (typeof role === "string" && role.startsWith("participant:")) {
        const p = role.slice("participant:".length);
        return Promise.resolve({
          canSeeAllEntries: false as const,
          filter: { namespaces: [`${SPACE}--${p}`] },
        });
      }
      return Promise.resolve(null);
    },
    authorizeAppend: (request) => Promise.resolve(request.headers["x-role"] === "operator"),
    signerFor: () => Promise.resolve(signer),
  });
  baseUrl = await app.listen({ host: "127.0.0.1", port: 0 });
  dir = await mkdtemp(join(tmpdir(), "evidence-"));
});
after(async () => {
  await app.close();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

function entry(i: number, participant = `p${i % 3}`): EvidenceEntry {
  return {
    space: SPACE,
    eventId: `api-${i}`,
    actor: "system:serviceaccount:tds-system:operator",
    action: "offer.published",
    time: "2025-03-01T12:00:00Z",
    object: {
      kind: "DataOffer",
      namespace: `${SPACE}--${participant}`,
      name: `o${i}`,
      uid: `u${i}`,
      generation: 2,
    },
  };
}

const as = (role: string) => ({ "x-role": role });

test("a retried append whose answer was lost is recorded once", async () => {
  let calls = 0;
  const lossy: typeof fetch = async (input, init) => {
    calls++;
    const res = await fetch(input, {
      ...init,
      headers: { ...(init?.headers as Record<string, string>), ...as("operator") },
    });
    if (calls === 1) throw new TypeError("socket hang up after the server committed");
    return res;
  };
  const client = new ApiClient({ url: baseUrl, fetch: lossy, backoffMs: 1 });
  const results = await client.appendEvidence(SPACE, [entry(0), entry(1)]);
  assert.equal(calls, 2);
  assert.deepEqual(
    results.map((r) => [r.leafIndex, r.duplicate]),
    [
      [0, true],
      [1, true],
    ],
  );
  const more = await client.appendEvidence(
    SPACE,
    Array.from({ length: 28 }, (_, i) => entry(i + 2)),
  );
  assert.equal(more.at(-1)?.leafIndex, 29);
  const page = await app.inject({
    url: `/v1/spaces/${SPACE}/evidence/entries?start=0`,
    headers: as("admin"),
  });
  assert.equal(page.json<{ entries: unknown[] }>().entries.length, 30);
});

test("a conflicting append is refused and says where the event is and what the log holds", async () => {
  const client = new ApiClient({
    url: baseUrl,
    fetch: (input, init) =>
      fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...as("operator") } }),
  });
  // The same event again with a later clock, as after a crash between the append and the status.
  const retried = { ...entry(3), time: "2025-03-01T12:00:07Z" };
  const err = await client.appendEvidence(SPACE, [retried]).then(
    () => assert.fail("a conflicting append must be refused"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApiError);
  assert.equal(err.status, 409);
  assert.equal(err.code, "TDS_ERR_EVIDENCE_EVENT_CONFLICT");
  assert.equal(err.recorded?.leafIndex, 3);
  assert.deepEqual(err.recorded.entry, entry(3));
  assert.deepEqual(Buffer.from(err.recorded.leafHash, "base64"), Buffer.from(entryLeafHash(entry(3))));
});

test("errors carry stable codes and name the field", async () => {
  const bad = { ...entry(100), time: "yesterday" };
  const cases: [string, InjectOptions, number, string, string | undefined][] = [
    [
      "schema",
      {
        method: "POST",
        url: `/v1/spaces/${SPACE}/evidence/entries`,
        headers: as("operator"),
        payload: { entries: [bad] },
      },
      400,
      "TDS_ERR_VALIDATION",
      "body/entries/0/time",
    ],
    [
      "missing",
      {
        method: "POST",
        url: `/v1/spaces/${SPACE}/evidence/entries`,
        headers: as("operator"),
        payload: { entries: [{ ...entry(101), actor: undefined }] },
      },
      400,
      "TDS_ERR_VALIDATION",
      "body/entries/0/actor",
    ],
    [
      "space mismatch",
      {
        method: "POST",
        url: `/v1/spaces/other/evidence/entries`,
        headers: as("operator"),
        payload: { entries: [entry(102)] },
      },
      400,
      "TDS_ERR_EVIDENCE_SPACE_MISMATCH",
      "entries[0].space",
    ],
    [
      "not the operator",
      {
        method: "POST",
        url: `/v1/spaces/${SPACE}/evidence/entries`,
        headers: as("participant:p1"),
        payload: { entries: [entry(103)] },
      },
      403,
      "TDS_ERR_FORBIDDEN",
      undefined,
    ],
    [
      "not a member",
      { url: `/v1/spaces/${SPACE}/evidence/checkpoint` },
      404,
      "TDS_ERR_SPACE_NOT_FOUND",
      "space",
    ],
    [
      "tree too big",
      {
        url: `/v1/spaces/${SPACE}/evidence/proofs/inclusion?leafIndex=0&treeSize=9999`,
        headers: as("admin"),
      },
      400,
      "TDS_ERR_EVIDENCE_TREE_SIZE",
      "querystring/treeSize",
    ],
    [
      "leaf outside",
      { url: `/v1/spaces/${SPACE}/evidence/proofs/inclusion?leafIndex=20&treeSize=10`, headers: as("admin") },
      400,
      "TDS_ERR_EVIDENCE_LEAF_INDEX",
      "querystring/leafIndex",
    ],
    [
      "not a number",
      { url: `/v1/spaces/${SPACE}/evidence/proofs/consistency?first=x&second=3`, headers: as("admin") },
      400,
      "TDS_ERR_VALIDATION",
      "querystring/first",
    ],
    [
      "conflict",
      {
        method: "POST",
        url: `/v1/spaces/${SPACE}/evidence/entries`,
        headers: as("operator"),
        payload: { entries: [{ ...entry(0), action: "changed" }] },
      },
      409,
      "TDS_ERR_EVIDENCE_EVENT_CONFLICT",
      "entries[0].eventId",
    ],
  ];
  for (const [what, req, status, code, field] of cases) {
    const res = await app.inject(req);
    assert.equal(res.statusCode, status, `${what}: ${res.body}`);
    const body = res.json<{ code: string; field?: string }>();
    assert.equal(body.code, code, what);
    assert.equal(body.field, field, what);
  }
});

test("participants see their own entries, and every checkpoint and proof", async () => {
  const cp = await app.inject({
    method: "POST",
    url: `/v1/spaces/${SPACE}/evidence/checkpoint`,
    headers: as("operator"),
  });
  assert.equal(cp.statusCode, 200, cp.body);
  const latest = await app.inject({
    url: `/v1/spaces/${SPACE}/evidence/checkpoint`,
    headers: as("participant:p1"),
  });
  const { note, treeSize } = latest.json<{ note: string; treeSize: number }>();
  assert.equal(treeSize, 30);
  const signed = verifyCheckpoint(note, signer.keyName, signer.publicKey);

  const mine = await app.inject({
    url: `/v1/spaces/${SPACE}/evidence/entries?start=0&end=30`,
    headers: as("participant:p1"),
  });
  const entries = mine.json<{ entries: { leafIndex: number; leafHash: string; entry: EvidenceEntry }[] }>()
    .entries;
  assert.ok(entries.length === 10 && entries.every((e) => e.entry.object.namespace === `${SPACE}--p1`));

  const target = entries[3];
  assert.ok(target);
  const inc = await app.inject({
    url: `/v1/spaces/${SPACE}/evidence/proofs/inclusion?leafIndex=${target.leafIndex}&treeSize=30`,
    headers: as("participant:p1"),
  });
  const proof = inc.json<{ proof: string[]; leafHash: string }>();
  const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "base64"));
  assert.ok(verifyInclusion(target.leafIndex, 30, b(proof.leafHash), proof.proof.map(b), signed.rootHash));
  await writeFile(
    join(dir, "inclusion.json"),
    JSON.stringify({ ...inc.json<object>(), entry: target.entry }),
  );

  const old = await app.inject({
    url: `/v1/spaces/${SPACE}/evidence/proofs/consistency?first=30&second=30`,
    headers: as("participant:p2"),
  });
  assert.deepEqual(old.json<{ proof: string[] }>().proof, []);
  assert.ok(verifyConsistency(30, 30, [], signed.rootHash, signed.rootHash));

  // The participant's export holds every leaf hash but only its own entries.
  const ex = await app.inject({ url: `/v1/spaces/${SPACE}/evidence/export`, headers: as("participant:p1") });
  const exported = ex.json<EvidenceExport>();
  assert.equal(exported.entries.length, 30);
  assert.equal(exported.entries.filter((e) => e.entry).length, 10);
  await writeFile(join(dir, "export.json"), ex.body);
  await writeFile(join(dir, "trusted.txt"), note);
  await writeFile(join(dir, "key.pem"), publicPem);
});

test("`tds evidence verify` passes a good export and fails a tampered one, with and without a server", async () => {
  const quiet = async (args: string[]): Promise<{ code: number; out: string }> => {
    const lines: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => lines.push(a.join(" "));
    try {
      return { code: await verifyMain(args), out: lines.join("\n") };
    } finally {
      console.log = log;
    }
  };
  const common = ["--public-key", join(dir, "key.pem"), "--trusted-checkpoint", join(dir, "trusted.txt")];
  const good = await quiet([
    "--export",
    join(dir, "export.json"),
    ...common,
    "--inclusion",
    join(dir, "inclusion.json"),
  ]);
  assert.equal(good.code, 0, good.out);
  assert.match(good.out, /inclusion of leaf \d+ in tree size 30 against the signed root/);
  assert.match(good.out, /10 entries recomputed/);

  const exported = JSON.parse(await readFile(join(dir, "export.json"), "utf8")) as EvidenceExport;
  const victim = exported.entries.find((e) => e.entry);
  assert.ok(victim?.entry);
  victim.entry.actor = "someone-else";
  await writeFile(join(dir, "tampered.json"), JSON.stringify(exported));
  const bad = await quiet(["--export", join(dir, "tampered.json"), ...common]);
  assert.equal(bad.code, 1, bad.out);
  assert.match(bad.out, new RegExp(`FAIL entries at leaf ${victim.leafIndex} do not match`));

  // Over HTTP the verifier needs the caller's credentials; the stand-in auth takes a header,
  // so this run uses a fetch that adds it.
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => realFetch(input, { ...init, headers: as("participant:p2") });
  try {
    const online = await quiet(["--url", `${baseUrl}/v1/spaces/${SPACE}/evidence`, ...common]);
    assert.equal(online.code, 0, online.out);
  } finally {
    globalThis.fetch = realFetch;
  }
  assert.equal((await quiet(["--export", "x"])).code, 2);
});
