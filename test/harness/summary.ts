// Prints the suite's closing line, "N passed, N failed", from the TAP results of its runs.
import { readFileSync, existsSync } from "node:fs";

const files = process.argv.slice(2);
let pass = 0;
let fail = 0;
let skipped = 0;
for (const file of files) {
  if (!existsSync(file)) {
    fail += 1; // a run that wrote no results failed before any test
    continue;
  }
  const tap = readFileSync(file, "utf8");
  const count = (key: string): number => Number(new RegExp(`^# ${key} (\\d+)$`, "m").exec(tap)?.[1] ?? 0);
  pass += count("pass");
  fail += count("fail");
  skipped += count("skipped") + count("todo");
}
if (!files.length) fail = 1;
console.log(`${String(pass)} passed, ${String(fail)} failed${skipped ? `, ${String(skipped)} skipped` : ""}`);
