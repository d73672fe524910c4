/**
 * goose's credentials for a stage's Pushgateway, which asks for basic auth
 * (src/components/pushgateway-auth.ts): from the environment only, never a flag (a command line
 * is visible to every process on the machine and lands in shell history) and never printed.
 *
 * - GOOSE_PUSHGATEWAY_PASSWORD_FILE: a file holding the password (a trailing newline is ignored);
 * - GOOSE_PUSHGATEWAY_PASSWORD: the password itself (for CI secrets);
 * - GOOSE_PUSHGATEWAY_USER: the user, default `goose`.
 * Neither set: no Authorization header (a Pushgateway without auth, or a textfile).
 */
import { readFileSync } from "node:fs";
import { InputError } from "../errors.js";

/** The user the stack's Pushgateway knows (src/components/pushgateway-auth.ts PUSHGATEWAY_USER). */
const DEFAULT_USER = "goose";

/** What to run to get the password of a stage's Pushgateway (shown when it refuses goose). */
export const PUSHGATEWAY_PASSWORD_FIX =
  "put the Pushgateway's password in a file and point GOOSE_PUSHGATEWAY_PASSWORD_FILE at it: " +
  "kubectl get secret pushgateway-auth -n <namespace> -o jsonpath='{.data.password}' | base64 -d > ~/.goose-pushgateway && " +
  "export GOOSE_PUSHGATEWAY_PASSWORD_FILE=~/.goose-pushgateway";

/** The Authorization header for the Pushgateway, or none. */
export function pushgatewayAuthHeaders(
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const file = env.GOOSE_PUSHGATEWAY_PASSWORD_FILE;
  const inline = env.GOOSE_PUSHGATEWAY_PASSWORD;
  if (file && inline)
    throw new InputError(
      "both GOOSE_PUSHGATEWAY_PASSWORD and GOOSE_PUSHGATEWAY_PASSWORD_FILE are set; goose would not know which password to send",
      { code: "pushgateway-credentials", fix: "unset one of them" },
    );
  let password = inline;
  if (file) {
    try {
      password = readFileSync(file, "utf8").replace(/\r?\n$/, "");
    } catch (err) {
      throw new InputError(
        `cannot read the Pushgateway password from ${file} (GOOSE_PUSHGATEWAY_PASSWORD_FILE): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        { code: "pushgateway-credentials", fix: PUSHGATEWAY_PASSWORD_FIX },
      );
    }
    if (!password)
      throw new InputError(`${file} (GOOSE_PUSHGATEWAY_PASSWORD_FILE) is empty`, {
        code: "pushgateway-credentials",
        fix: PUSHGATEWAY_PASSWORD_FIX,
      });
  }
  if (!password) return {};
  const user = env.GOOSE_PUSHGATEWAY_USER || DEFAULT_USER;
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
}

/** The hint for an HTTP 401 from a Pushgateway: which credentials goose sent, and the fix. */
export function unauthorizedHint(env: NodeJS.ProcessEnv = process.env): string {
  const sent = env.GOOSE_PUSHGATEWAY_PASSWORD_FILE
    ? "the password from GOOSE_PUSHGATEWAY_PASSWORD_FILE was refused"
    : env.GOOSE_PUSHGATEWAY_PASSWORD
      ? "the password from GOOSE_PUSHGATEWAY_PASSWORD was refused"
      : "goose sent no credentials";
  return `the Pushgateway asks for basic auth and ${sent}; ${PUSHGATEWAY_PASSWORD_FIX}`;
}
