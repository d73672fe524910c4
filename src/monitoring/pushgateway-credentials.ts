/**
 * goose's credentials for a stage's Pushgateway, which asks for basic auth
 * (src/components/pushgateway-auth.ts): GOOSE_PUSHGATEWAY_PASSWORD_FILE,
 * GOOSE_PUSHGATEWAY_PASSWORD, GOOSE_PUSHGATEWAY_USER (env-credentials.ts). Neither password set:
 * no Authorization header (a Pushgateway without auth, or a textfile).
 */
import { authHeaders, type CredentialSource, unauthorizedHintFor } from "./env-credentials.js";

const PUSHGATEWAY: CredentialSource = {
  what: "the Pushgateway",
  password: "the Pushgateway password",
  prefix: "GOOSE_PUSHGATEWAY",
  secret: "pushgateway-auth",
  file: "~/.goose-pushgateway",
  code: "pushgateway-credentials",
};

/** The Authorization header for the Pushgateway, or none. */
export function pushgatewayAuthHeaders(
  env: NodeJS.ProcessEnv = process.env,
  where: { stage?: string } = {},
): Record<string, string> {
  return authHeaders(PUSHGATEWAY, env, where);
}

/**
 * The hint for an HTTP 401 from a Pushgateway: which credentials goose sent, and the fix (with
 * the stage's namespace when the caller knows the stage).
 */
export function unauthorizedHint(
  env: NodeJS.ProcessEnv = process.env,
  where: { stage?: string } = {},
): string {
  return unauthorizedHintFor(PUSHGATEWAY, env, where);
}
