// The embedded S3-compatible store: versitygw (Apache-2.0) with its POSIX
// backend, built from its Go module by test/localcluster/build.sh. Its internal
// IAM gives each participant its own account; its admin API creates them.
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { freePort, startProcess, waitUntil, type ManagedProcess } from "./processes.ts";

export interface ObjectStore {
  readonly endpoint: string;
  readonly adminEndpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly process: ManagedProcess;
  readonly stop: () => Promise<void>;
}

export async function startObjectStore(dirIn: string, versitygwBin: string): Promise<ObjectStore> {
  const dir = resolve(dirIn);
  const dataDir = join(dir, "data");
  const iamDir = join(dir, "iam");
  const logs = join(dir, "..", "logs");
  for (const d of [dataDir, iamDir, logs]) mkdirSync(d, { recursive: true });
  const port = await freePort();
  const adminPort = await freePort();
  const accessKeyId = `tdsroot${randomBytes(4).toString("hex")}`;
  const secretAccessKey = randomBytes(24).toString("base64url");
  const region = "us-east-1";
  const proc = startProcess({
    name: "versitygw",
    command: versitygwBin,
    args: [
      "--port",
      `127.0.0.1:${port}`,
      "--admin-port",
      `127.0.0.1:${adminPort}`,
      "--iam-dir",
      iamDir,
      "--region",
      region,
      "posix",
      dataDir,
    ],
    env: { ...process.env, ROOT_ACCESS_KEY: accessKeyId, ROOT_SECRET_KEY: secretAccessKey },
    logFile: join(logs, "versitygw.log"),
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = () => proc.stop();
  try {
    // Any HTTP answer (even 403 to an anonymous request) means it is serving.
    await waitUntil(
      "versitygw serving",
      proc,
      () =>
        fetch(endpoint, { signal: AbortSignal.timeout(2000) }).then(
          () => true,
          () => false,
        ),
      60_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    endpoint,
    adminEndpoint: `http://127.0.0.1:${adminPort}`,
    region,
    accessKeyId,
    secretAccessKey,
    process: proc,
    stop,
  };
}
