// What of a DataSpace its participants, offers and contracts are re-queued for.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "@tds/kube";
import { spaceRelevance } from "./operator.ts";

const space = (status: Record<string, unknown>, metadata: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: "tds.dev/v1alpha1",
  kind: "DataSpace",
  metadata: { name: "s", generation: 1, resourceVersion: "10", ...metadata },
  spec: { admission: { mode: "Automatic" } },
  status,
});

const ready = { conditions: [{ type: "Ready", status: "True", reason: "Provisioned" }] };

test("a space's counts and resourceVersion are not relevant to its participants", () => {
  const before = spaceRelevance(space({ ...ready, participants: 5, readyParticipants: 2, offers: 0 }));
  const after = spaceRelevance(
    space({ ...ready, participants: 5, readyParticipants: 3, offers: 1 }, { resourceVersion: "11" }),
  );
  assert.equal(after, before);
});

test("its spec, conditions, CA and metadata are", () => {
  const base = spaceRelevance(space(ready));
  const notReady = { conditions: [{ type: "Ready", status: "False", reason: "QuotaNotEnforced" }] };
  assert.notEqual(spaceRelevance(space(notReady)), base);
  assert.notEqual(spaceRelevance(space({ ...ready, certificateAuthority: { serial: "02" } })), base);
  assert.notEqual(spaceRelevance(space(ready, { generation: 2 })), base);
  assert.notEqual(spaceRelevance(space(ready, { deletionTimestamp: "2026-12-03T00:00:00Z" })), base);
  assert.notEqual(spaceRelevance(space(ready, { annotations: { "tds.dev/frozen": "true" } })), base);
});
