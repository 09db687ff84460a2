// Structured JSON logs, one object per line on stdout, with the active trace
// and span ids (trace_id, span_id) inside a span, such as a reconcile's. Fields
// never include secret material: callers pass names and ids, not keys or credentials.
import { traceFields } from "@tds/telemetry/log";

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const levels = { debug: 10, info: 20, warn: 30, error: 40 } as const;
type Level = keyof typeof levels;

export function createLogger(
  base: LogFields = {},
  minLevel: Level = (process.env.TDS_LOG_LEVEL as Level | undefined) ?? "info",
  write: (line: string) => void = (line) => process.stdout.write(line + "\n"),
): Logger {
  const emit = (level: Level, msg: string, fields?: LogFields) => {
    if (levels[level] < levels[minLevel]) return;
    write(
      JSON.stringify({ time: new Date().toISOString(), level, msg, ...traceFields(), ...base, ...fields }),
    );
  };
  return {
    debug: (m, f) => {
      emit("debug", m, f);
    },
    info: (m, f) => {
      emit("info", m, f);
    },
    warn: (m, f) => {
      emit("warn", m, f);
    },
    error: (m, f) => {
      emit("error", m, f);
    },
    child: (fields) => createLogger({ ...base, ...fields }, minLevel, write),
  };
}
