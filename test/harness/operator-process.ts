// Runs the operator as a separate process (operator/src/main.ts), for tests
// that kill it: leader failover and crash consistency. The process preloads
// crash-hook.ts, which kills it at a write point when the test asks
// (TDS_CRASH_BEFORE_WRITE) and otherwise does nothing.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { join, resolve } from "node:path";

const mainTs = resolve(import.meta.dirname, "../../operator/src/main.ts");
const crashHook = resolve(import.meta.dirname, "crash-hook.ts");

export interface OperatorProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function spawnOperator(env: Record<string, string>, logDir: string, logName: string): OperatorProcess {
  const log = createWriteStream(join(logDir, `${logName}.log`), { flags: "a" });
  const child = spawn(process.execPath, ["--import", "tsx", "--import", crashHook, mainTs], {
    env: { ...process.env, TDS_OPERATOR_PORT: "0", TDS_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => {
    child.once("exit", (code, signal) => {
      r({ code, signal });
    });
  });
  return {
    child,
    exited,
    kill: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
