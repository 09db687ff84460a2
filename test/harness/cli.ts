// Command line for the local environment:
//   up            start everything and wait for SIGINT/SIGTERM (make cluster-up runs it detached)
//   down          stop an environment started by `up` (make cluster-down)
//   run -- CMD    start everything, run CMD with the environment's variables, stop, exit with CMD's code
//   env           print `export NAME=value` lines for the running environment (eval "$(... env)")
// TDS_STATE_DIR selects the state folder (default .tds/), so environments can run side by side.
import { spawn } from "node:child_process";
import { readEnvironment, startEnvironment, stopEnvironment, type Environment } from "./environment.ts";

function onSignal(handler: (signal: NodeJS.Signals) => void): void {
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(s, handler);
}

async function up(): Promise<void> {
  const env = await startEnvironment();
  console.log(`local environment ready: KUBECONFIG=${env.info.KUBECONFIG}`);
  await new Promise<void>((resolve) => {
    onSignal(() => {
      resolve();
    });
  });
  await env.stop();
}

async function run(cmd: readonly string[]): Promise<number> {
  const [command, ...args] = cmd;
  if (command === undefined) throw new Error("usage: run -- COMMAND [ARGS...]");
  let env: Environment | undefined;
  const interrupted = { value: false };
  onSignal(() => {
    interrupted.value = true;
  });
  try {
    env = await startEnvironment();
    if (interrupted.value) return 130;
    const child = spawn(command, args, { stdio: "inherit", env: { ...process.env, ...env.info } });
    onSignal((signal) => {
      child.kill(signal);
    });
    return await new Promise<number>((resolve) => {
      child.on("exit", (code, signal) => {
        resolve(code ?? (signal ? 128 : 1));
      });
    });
  } finally {
    await env?.stop();
  }
}

async function main(): Promise<number> {
  const [verb, ...rest] = process.argv.slice(2);
  switch (verb) {
    case "up":
      await up();
      return 0;
    case "down":
      console.log(
        (await stopEnvironment()) ? "local environment stopped" : "no local environment was running",
      );
      return 0;
    case "env": {
      const state = readEnvironment();
      if (!state) {
        console.error("no local environment is running: start one with `make cluster-up`");
        return 1;
      }
      for (const [k, v] of Object.entries(state.info)) console.log(`export ${k}='${v}'`);
      return 0;
    }
    case "run":
      return run(rest[0] === "--" ? rest.slice(1) : rest);
    default:
      console.error("usage: cli.ts up | down | env | run -- COMMAND [ARGS...]");
      return 2;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  },
);
