// Every workspace package's exports point at files that exist (operator's "."
// once named a src/index.ts that did not), and each one loads.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");
const { workspaces } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  workspaces: string[];
};

for (const ws of workspaces) {
  const pkg = JSON.parse(readFileSync(join(root, ws, "package.json"), "utf8")) as {
    name: string;
    exports?: Record<string, string>;
  };
  for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
    test(`${pkg.name} exports ${subpath} (${target})`, async () => {
      const file = join(root, ws, target);
      assert.ok(existsSync(file), `${ws}/package.json exports ${subpath} as ${target}, which does not exist`);
      await import(join(pkg.name, subpath));
    });
  }
}
