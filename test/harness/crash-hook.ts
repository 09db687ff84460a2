// Preloaded into an operator process (node --import, operator-process.ts) for
// crash-consistency tests; it watches the operator's write points on the
// diagnostics channel tds.operator.write (operator/src/runtime/write-points.ts).
// TDS_CRASH_BEFORE_WRITE=N SIGKILLs the process just before its Nth write;
// TDS_LOG_WRITE_POINTS=1 logs every write point as a JSON line on stdout
// ({"msg":"write point","write":N,"what":…}). Without either it subscribes to nothing.
import { subscribe } from "node:diagnostics_channel";
import { WRITE_CHANNEL, type WritePoint } from "../../operator/src/runtime/write-points.ts";

const crashAt = Number(process.env.TDS_CRASH_BEFORE_WRITE ?? 0);
const logPoints = process.env.TDS_LOG_WRITE_POINTS === "1";

const log = (level: "info" | "warn", msg: string, fields: Record<string, unknown>): void => {
  process.stdout.write(
    JSON.stringify({ time: new Date().toISOString(), level, msg, component: "crash-hook", ...fields }) + "\n",
  );
};

if (crashAt || logPoints) {
  let count = 0;
  subscribe(WRITE_CHANNEL, (message) => {
    const { what } = message as WritePoint;
    count++;
    if (logPoints) log("info", "write point", { write: count, what });
    if (count === crashAt) {
      log("warn", "crash hook: killing the operator before a write", { write: count, what });
      process.kill(process.pid, "SIGKILL");
    }
  });
}
