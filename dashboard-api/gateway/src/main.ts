// The gateway's entry point. Telemetry starts first: its instrumentations
// hook the packages they trace as those load, so the process itself (run.ts)
// is imported only once they are in place (@tds/telemetry).
import { startTelemetry } from "@tds/telemetry";

const telemetry = startTelemetry();
const { run, failed } = await import("./run.ts");
await run(telemetry).catch(failed);
