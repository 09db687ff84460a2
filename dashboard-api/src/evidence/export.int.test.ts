// The streamed export against a real PostgreSQL: a 20,000-entry log is
// exported byte for byte as the in-memory implementation answered (for a
// member who sees everything and for a participant who sees a third), the
// offline verifier accepts it, and the stream reads a page from the database
// only when the reader has taken the previous ones.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { signerFromPem } from "./checkpoint.ts";
import type { EvidenceEntry } from "@tds/wire";
import { type EvidenceExport, exportChunks, exportStream } from "./export.ts";
import { evidenceRoutes } from "./routes.ts";
import { EvidenceStore } from "./store.ts";
import { type TestDatabase, createTestDatabase } from "@tds/test/database";
import { inMemoryExportBytes } from "@tds/test/evidence";
import { verifyExport } from "./verifier.ts";
import { main as verifyMain } from "./verify-cli.ts";

const SPACE = "export";
const N = 20_000;
const participantFilter = { namespaces: [`${SPACE}--p1`] };
let db: TestDatabase;
let store: EvidenceStore;
let app: FastifyInstance;
let publicPem: string;
let publicKey: Uint8Array;
let trusted = "";
let dir: string;

// Strings that JSON escapes in different ways, so the byte comparison means something.
const ODD = ['quote " and \\ backslash', "tab\tnewline\n\u0001", "汉字 and 😀", "line\u2028sep\u2029", "/"];

function entry(i: number): EvidenceEntry {
  const p = `p${i % 3}`;
  return {
    space: SPACE,
    eventId: `e-${i}`,
    actor: i % 7 === 0 ? `system:${ODD[i % ODD.length] ?? ""}` : "system:tds-operator",
    action: i % 2 ? "offer.published" : "contract.agreed",
    time: new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString(),
    object:
      i % 11 === 0
        ? { kind: "Participant", name: p, uid: `pu-${i}` }
        : {
            kind: "DataOffer",
            namespace: `${SPACE}--${p}`,
            name: `o-${i}`,
            uid: `u-${i}`,
            ...(i % 5 ? { generation: i % 9 } : {}),
          },
    ...(i % 4 ? { payloadHash: (i % 16).toString(16).repeat(64) } : {}),
  };
}

before(async () => {
  db = await createTestDatabase("evidence_export", { migrate: true, maxConnections: 60 });
  store = new EvidenceStore(db.pool);
  const keys = generateKeyPairSync("ed25519");
  const signer = signerFromPem(
    store.origin(SPACE),
    keys.privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
  );
  publicPem = keys.publicKey.export({ format: "pem", type: "spki" }).toString();
  publicKey = signer.publicKey;
  for (let i = 0; i < N; i += 1000) {
    await store.append(
      SPACE,
      Array.from({ length: 1000 }, (_, k) => entry(i + k)),
    );
    // Checkpoints at several sizes, the first kept as the verifier's trusted one.
    if (i % 6000 === 0) {
      const cp = await store.checkpoint(SPACE, signer);
      if (!trusted) trusted = cp.note;
    }
  }
  await store.checkpoint(SPACE, signer);
  app = Fastify();
  await app.register(evidenceRoutes, {
    prefix: "/v1/spaces/:space/evidence",
    store,
    authorize: (request) =>
      Promise.resolve(
        request.headers["x-role"] === "participant"
          ? { canSeeAllEntries: false as const, filter: participantFilter }
          : { canSeeAllEntries: true as const },
      ),
    authorizeAppend: () => Promise.resolve(false),
  });
  dir = await mkdtemp(join(tmpdir(), "evidence-export-"));
});

after(async () => {
  await app.close();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

test("the streamed export of 20,000 entries is byte for byte the in-memory one, and the verifier accepts it", async () => {
  for (const role of ["admin", "participant"]) {
    const res = await app.inject({
      url: `/v1/spaces/${SPACE}/evidence/export`,
      headers: { "x-role": role },
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers["content-type"], "application/json; charset=utf-8");
    const previous = await inMemoryExportBytes(
      store,
      SPACE,
      role === "participant" ? participantFilter : undefined,
    );
    assert.ok(res.rawPayload.equals(previous), `${role}: the streamed export differs from the in-memory one`);

    const exported = res.json<EvidenceExport>();
    assert.equal(exported.entries.length, N);
    assert.equal(exported.checkpoints.length, 5);
    const mine = Array.from({ length: N }, (_, i) => entry(i)).filter(
      (e) => role === "admin" || e.object.namespace === participantFilter.namespaces[0],
    );
    assert.deepEqual(
      exported.entries.flatMap((e) => (e.entry ? [e.entry.eventId] : [])),
      mine.map((e) => e.eventId),
    );
    const checks = verifyExport({ export: exported, publicKey, trustedCheckpoint: trusted });
    assert.deepEqual(
      checks.filter((c) => !c.ok),
      [],
    );

    const file = join(dir, `${role}.json`);
    await writeFile(file, res.rawPayload);
    await writeFile(join(dir, "key.pem"), publicPem);
    await writeFile(join(dir, "trusted.txt"), trusted);
    const log = console.log;
    const lines: string[] = [];
    console.log = (...a: unknown[]) => lines.push(a.join(" "));
    let code: number;
    try {
      code = await verifyMain([
        "--export",
        file,
        "--public-key",
        join(dir, "key.pem"),
        "--trusted-checkpoint",
        join(dir, "trusted.txt"),
      ]);
    } finally {
      console.log = log;
    }
    assert.equal(code, 0, lines.join("\n"));
    assert.match(lines.join("\n"), new RegExp(`${N} leaves numbered 0 to ${N - 1} without gaps`));
  }
});

test("any page size gives the same bytes", async () => {
  const previous = await inMemoryExportBytes(store, SPACE);
  const { treeSize } = await store.head(SPACE);
  for (const opts of [
    { pageSize: 7, checkpointPageSize: 2 },
    { pageSize: N, checkpointPageSize: 1 },
  ]) {
    const chunks: Buffer[] = [];
    for await (const c of exportChunks(store, SPACE, treeSize, undefined, opts)) chunks.push(c);
    assert.ok(Buffer.concat(chunks).equals(previous), `page size ${String(opts.pageSize)}`);
  }
});

test("the stream reads the next page only when the reader has taken the previous ones", async () => {
  const { treeSize } = await store.head(SPACE);
  let pagesRead = 0;
  const counting = Object.create(store) as EvidenceStore;
  counting.leafTexts = (...args) => {
    pagesRead++;
    return store.leafTexts(...args);
  };
  const stream = exportStream(counting, SPACE, treeSize, undefined, { pageSize: 100 });
  // Take one chunk, then stop reading.
  await new Promise<void>((resolve) => {
    stream.once("readable", () => {
      resolve();
    });
  });
  stream.read(1);
  await new Promise((r) => setTimeout(r, 300));
  const paused = pagesRead;
  assert.ok(paused <= 3, `a paused reader let the stream read ${String(paused)} pages ahead`);
  // Reading on drains the rest: every page, each once.
  let bytes = 0;
  for await (const c of stream) bytes += (c as Buffer).length;
  assert.ok(bytes > 0);
  assert.equal(pagesRead, treeSize / 100);
});
