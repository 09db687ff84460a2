// Server configuration from the environment, read in one place.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { JSONWebKeySet } from "jose";
import { REFUSALS_LOOKBACK_HOURS } from "./risk/rules.ts";

export interface ServerConfig {
  readonly port: number;
  readonly host: string;
  /** Prometheus /metrics, on its own port (TDS_METRICS_PORT, default 9464; 0 picks a free one). */
  readonly metricsPort: number;
  readonly databaseUrl: string;
  readonly kubeconfig: string | undefined;
  /** Public keys to verify bearer tokens; undefined means use the dev key file. */
  readonly jwks: JSONWebKeySet | undefined;
  readonly devKeyFile: string;
  readonly audience: string | undefined;
  readonly issuer: string | undefined;
  readonly rateLimitPerMinute: number;
  readonly shutdownGraceMs: number;
  readonly logLevel: string;
  /** How often each space's evidence log is signed when it grew (TDS_EVIDENCE_CHECKPOINT_INTERVAL_MS). */
  readonly checkpointIntervalMs: number;
  /** How often DataSpaces are read for price sheet changes. */
  readonly priceSyncIntervalMs: number;
  /** Between risk passes (risk/evaluator.ts). */
  readonly riskIntervalMs: number;
  /** How long the gateway's refusals are kept (TDS_RISK_REFUSAL_RETENTION_HOURS); pruned by the risk loop. */
  readonly refusalRetentionHours: number;
}

export function devKeyFile(env: NodeJS.ProcessEnv): string {
  return (
    env.TDS_AUTH_DEV_KEY_FILE ??
    join(resolve(env.TDS_STATE_DIR ?? ".tds"), "dashboard-api-dev-signing-key.json")
  );
}

export function envInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${v}`);
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv): ServerConfig {
  const databaseUrl = env.DATABASE_URL;
  if (!databaseUrl) throw new Error("DATABASE_URL is required");
  let jwks: JSONWebKeySet | undefined;
  if (env.TDS_AUTH_JWKS) jwks = JSON.parse(env.TDS_AUTH_JWKS) as JSONWebKeySet;
  else if (env.TDS_AUTH_JWKS_FILE)
    jwks = JSON.parse(readFileSync(env.TDS_AUTH_JWKS_FILE, "utf8")) as JSONWebKeySet;
  return {
    port: envInt(env, "PORT", 8080),
    host: env.HOST ?? "0.0.0.0",
    metricsPort: envInt(env, "TDS_METRICS_PORT", 9464),
    databaseUrl,
    kubeconfig: env.KUBECONFIG,
    jwks,
    devKeyFile: devKeyFile(env),
    audience: env.TDS_AUTH_AUDIENCE,
    issuer: env.TDS_AUTH_ISSUER,
    rateLimitPerMinute: envInt(env, "TDS_RATE_LIMIT_PER_MINUTE", 6000),
    shutdownGraceMs: envInt(env, "TDS_SHUTDOWN_GRACE_MS", 10_000),
    logLevel: env.LOG_LEVEL ?? "info",
    checkpointIntervalMs: envInt(env, "TDS_EVIDENCE_CHECKPOINT_INTERVAL_MS", 60_000),
    priceSyncIntervalMs: envInt(env, "TDS_PRICE_SYNC_INTERVAL_MS", 30_000),
    riskIntervalMs: envInt(env, "TDS_RISK_INTERVAL_MS", 60_000),
    refusalRetentionHours: refusalRetention(env),
  };
}

/** Default 7 days; never shorter than a risk pass reads back (REFUSALS_LOOKBACK_HOURS, 48). */
function refusalRetention(env: NodeJS.ProcessEnv): number {
  const hours = envInt(env, "TDS_RISK_REFUSAL_RETENTION_HOURS", 168);
  if (hours < REFUSALS_LOOKBACK_HOURS)
    throw new Error(
      `TDS_RISK_REFUSAL_RETENTION_HOURS must be at least ${String(REFUSALS_LOOKBACK_HOURS)} (the refusedAccesses rule reads the refusals of its window and the one before, up to ${String(REFUSALS_LOOKBACK_HOURS)} hours back), got ${String(hours)}`,
    );
  return hours;
}
