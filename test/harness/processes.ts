// Child processes of the local environment: each runs in its own process group
// with its output in a log file, and is stopped with SIGTERM, then SIGKILL.
import { spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<number | null>;
  readonly stop: (graceMs?: number) => Promise<void>;
}

export interface StartOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly uid?: number;
  readonly gid?: number;
}

/** Finds a free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      if (addr === null || typeof addr === "string") {
        reject(new Error("cannot determine a free port"));
        return;
      }
      srv.close(() => {
        resolve(addr.port);
      });
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sends a signal to a whole process group, ignoring groups that are already gone. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Stops a process group by pid: SIGTERM, then SIGKILL after the grace period. */
export async function stopPid(pid: number, graceMs = 10_000): Promise<void> {
  signalGroup(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(50);
  if (isAlive(pid)) signalGroup(pid, "SIGKILL");
  while (isAlive(pid)) await sleep(20);
}

export function startProcess(opts: StartOptions): ManagedProcess {
  const fd = openSync(opts.logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(opts.command, opts.args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ["ignore", fd, fd],
      ...(opts.uid === undefined ? {} : { uid: opts.uid }),
      ...(opts.gid === undefined ? {} : { gid: opts.gid }),
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${opts.name} (${opts.command})`);
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      resolve(code);
    });
    child.once("error", () => {
      resolve(null);
    });
  });
  return {
    name: opts.name,
    pid,
    logFile: opts.logFile,
    exited,
    stop: async (graceMs = 10_000) => {
      await stopPid(pid, graceMs);
      await exited;
    },
  };
}

/** Polls `probe` until it returns true, failing early if the process exits. */
export async function waitUntil(
  what: string,
  proc: ManagedProcess | undefined,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  let exitCode: number | null | undefined;
  void proc?.exited.then((c) => {
    exitCode = c;
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exitCode !== undefined && proc) {
      throw new Error(
        `${proc.name} exited with code ${String(exitCode)} before ${what}; see ${proc.logFile}`,
      );
    }
    try {
      if (await probe()) return;
    } catch {
      // not ready yet
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs}ms waiting for ${what}${proc ? `; see ${proc.logFile}` : ""}`,
      );
    }
    await sleep(100);
  }
}
