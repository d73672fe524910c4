/**
 * goose's credentials for a stage's Prometheus, which asks for basic auth on every endpoint
 * (src/components/metrics-auth.ts), its health endpoints included: the promotion's health check
 * of the Prometheus it deployed and the rollback's. GOOSE_PROMETHEUS_PASSWORD_FILE,
 * GOOSE_PROMETHEUS_PASSWORD, GOOSE_PROMETHEUS_USER (env-credentials.ts).
 */
import {
  authHeaders,
  type CredentialSource,
  passwordFix,
  unauthorizedHintFor,
} from "./env-credentials.js";

const PROMETHEUS: CredentialSource = {
  what: "Prometheus",
  password: "the stage's Prometheus password",
  prefix: "GOOSE_PROMETHEUS",
  secret: "prometheus-basic-auth",
  file: "~/.goose-prometheus",
  code: "prometheus-credentials",
};

/** What to run to get the password of a stage's Prometheus. */
export function prometheusPasswordFix(where: { namespace?: string; stage?: string } = {}): string {
  return passwordFix(PROMETHEUS, where);
}

/** The Authorization header for a stage's Prometheus, or none. */
export function prometheusAuthHeaders(
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  return authHeaders(PROMETHEUS, env);
}

/** The hint for an HTTP 401 from a stage's Prometheus: which credentials goose sent, and the fix. */
export function prometheusUnauthorizedHint(
  env: NodeJS.ProcessEnv,
  where: { namespace?: string; stage?: string },
): string {
  return unauthorizedHintFor(PROMETHEUS, env, where);
}
