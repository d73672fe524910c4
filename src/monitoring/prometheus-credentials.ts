/**
 * goose's credentials for a stage's Prometheus, which asks for basic auth on every endpoint
 * (src/components/metrics-auth.ts), its health endpoints included: the promotion's health check
 * of the Prometheus it deployed and the rollback's. From the environment only, never a flag and
 * never printed, as for the Pushgateway (pushgateway-credentials.ts):
 *
 * - GOOSE_PROMETHEUS_PASSWORD_FILE: a file holding the password (a trailing newline is ignored);
 * - GOOSE_PROMETHEUS_PASSWORD: the password itself (for CI secrets);
 * - GOOSE_PROMETHEUS_USER: the user, default `goose`.
 * Neither set: no Authorization header. The password rotates (golden-goose:secrets.rotationDays):
 * a refusal after a rotation is fixed by reading the Secret again.
 */
import { readFileSync } from "node:fs";
import { InputError } from "../errors.js";

const DEFAULT_USER = "goose";

/**
 * What to run to get the password of a stage's Prometheus (shown when it refuses goose): the
 * namespace as known, else the stage's `namespace` stack output.
 */
export function prometheusPasswordFix(where: { namespace?: string; stage?: string } = {}): string {
  const ns = where.namespace
    ? where.namespace
    : where.stage
      ? `"$(pulumi stack output namespace -s ${where.stage})"`
      : "<the stage's namespace>";
  return (
    "put the stage's Prometheus password in a file and point GOOSE_PROMETHEUS_PASSWORD_FILE at it (again after each rotation): " +
    `kubectl get secret prometheus-basic-auth -n ${ns} -o jsonpath='{.data.password}' | base64 -d > ~/.goose-prometheus && ` +
    "export GOOSE_PROMETHEUS_PASSWORD_FILE=~/.goose-prometheus"
  );
}

/** The Authorization header for a stage's Prometheus, or none. */
export function prometheusAuthHeaders(
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const file = env.GOOSE_PROMETHEUS_PASSWORD_FILE;
  const inline = env.GOOSE_PROMETHEUS_PASSWORD;
  if (file && inline)
    throw new InputError(
      "both GOOSE_PROMETHEUS_PASSWORD and GOOSE_PROMETHEUS_PASSWORD_FILE are set; goose would not know which password to send",
      { code: "prometheus-credentials", fix: "unset one of them" },
    );
  let password = inline;
  if (file) {
    try {
      password = readFileSync(file, "utf8").replace(/\r?\n$/, "");
    } catch (err) {
      throw new InputError(
        `cannot read the Prometheus password from ${file} (GOOSE_PROMETHEUS_PASSWORD_FILE): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        {
          code: "prometheus-credentials",
          fix: "write the password to that file (docs/security.md, Protected metrics) or unset GOOSE_PROMETHEUS_PASSWORD_FILE",
        },
      );
    }
    if (!password)
      throw new InputError(`${file} (GOOSE_PROMETHEUS_PASSWORD_FILE) is empty`, {
        code: "prometheus-credentials",
        fix: "write the password to that file (docs/security.md, Protected metrics) or unset GOOSE_PROMETHEUS_PASSWORD_FILE",
      });
  }
  if (!password) return {};
  const user = env.GOOSE_PROMETHEUS_USER || DEFAULT_USER;
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
}

/** The hint for an HTTP 401 from a stage's Prometheus: which credentials goose sent, and the fix. */
export function prometheusUnauthorizedHint(
  env: NodeJS.ProcessEnv,
  where: { namespace?: string; stage?: string },
): string {
  const sent = env.GOOSE_PROMETHEUS_PASSWORD_FILE
    ? "the password from GOOSE_PROMETHEUS_PASSWORD_FILE was refused (rotated since it was read?)"
    : env.GOOSE_PROMETHEUS_PASSWORD
      ? "the password from GOOSE_PROMETHEUS_PASSWORD was refused (rotated since it was read?)"
      : "goose sent no credentials";
  return `Prometheus asks for basic auth and ${sent}; ${prometheusPasswordFix(where)}`;
}
