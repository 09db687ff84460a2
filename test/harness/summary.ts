// Prints the suite's closing line, "N passed, N failed", from the TAP results.
import { readFileSync, existsSync } from "node:fs";

const file = process.argv[2];
if (!file || !existsSync(file)) {
  console.log("0 passed, 1 failed (no test results were written)");
  process.exit(0);
}
const tap = readFileSync(file, "utf8");
const count = (key: string): number => Number(new RegExp(`^# ${key} (\\d+)$`, "m").exec(tap)?.[1] ?? 0);
const skipped = count("skipped") + count("todo");
console.log(`${count("pass")} passed, ${count("fail")} failed${skipped ? `, ${skipped} skipped` : ""}`);
