/**
 * goose's basic-auth credentials for a stage's metrics servers (Prometheus, Alertmanager share one;
 * the Pushgateway has its own), from the environment only: never a flag (a command line is visible
 * to every process on the machine and lands in shell history) and never printed.
 *
 * - `<PREFIX>_PASSWORD_FILE`: a file holding the password (a trailing newline is ignored);
 * - `<PREFIX>_PASSWORD`: the password itself (for CI secrets);
 * - `<PREFIX>_USER`: the user, default `goose`.
 * Neither set: no Authorization header. The passwords rotate (golden-goose:secrets.rotationDays):
 * a refusal after a rotation is fixed by reading the Secret again, which the fix prints.
 */
import { readFileSync } from "node:fs";
import { InputError } from "../errors.js";

/** One server's credentials: its name in messages, its variables, its Secret and local file. */
export interface CredentialSource {
  /** In messages: "Prometheus", "the Pushgateway". */
  what: string;
  /** In messages: "the Prometheus password". */
  password: string;
  /** Variable prefix: GOOSE_PROMETHEUS, GOOSE_PUSHGATEWAY. */
  prefix: string;
  /** The stack's Kubernetes Secret holding the password (key `password`). */
  secret: string;
  /** Where the printed fix saves it. */
  file: string;
  /** InputError code. */
  code: string;
}

/** The user the stack's servers know (src/components/metrics-auth.ts, pushgateway-auth.ts). */
const DEFAULT_USER = "goose";

/**
 * What to run to get the password (shown when a server refuses goose, or its file is unusable):
 * the namespace as known, else the stage's `namespace` stack output.
 */
export function passwordFix(
  src: CredentialSource,
  where: { namespace?: string; stage?: string } = {},
): string {
  const ns = where.namespace
    ? where.namespace
    : where.stage
      ? `"$(pulumi stack output namespace -s ${where.stage})"`
      : "<the stage's namespace>";
  return (
    `put ${src.password} in a file and point ${src.prefix}_PASSWORD_FILE at it (again after each rotation): ` +
    `kubectl get secret ${src.secret} -n ${ns} -o jsonpath='{.data.password}' | base64 -d > ${src.file} && ` +
    `export ${src.prefix}_PASSWORD_FILE=${src.file}`
  );
}

/** The Authorization header for the server, or none. */
export function authHeaders(
  src: CredentialSource,
  env: NodeJS.ProcessEnv,
  where: { namespace?: string; stage?: string } = {},
): Record<string, string> {
  const fileVar = `${src.prefix}_PASSWORD_FILE`;
  const inlineVar = `${src.prefix}_PASSWORD`;
  const file = env[fileVar];
  const inline = env[inlineVar];
  if (file && inline)
    throw new InputError(
      `both ${inlineVar} and ${fileVar} are set; goose would not know which password to send`,
      { code: src.code, fix: "unset one of them" },
    );
  let password = inline;
  if (file) {
    try {
      password = readFileSync(file, "utf8").replace(/\r?\n$/, "");
    } catch (err) {
      throw new InputError(
        `cannot read ${src.password} from ${file} (${fileVar}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        { code: src.code, fix: passwordFix(src, where) },
      );
    }
    if (!password)
      throw new InputError(`${file} (${fileVar}) is empty`, {
        code: src.code,
        fix: passwordFix(src, where),
      });
  }
  if (!password) return {};
  const user = env[`${src.prefix}_USER`] || DEFAULT_USER;
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
}

/** The hint for an HTTP 401: which credentials goose sent, and the fix. */
export function unauthorizedHintFor(
  src: CredentialSource,
  env: NodeJS.ProcessEnv,
  where: { namespace?: string; stage?: string } = {},
): string {
  const sent = env[`${src.prefix}_PASSWORD_FILE`]
    ? `the password from ${src.prefix}_PASSWORD_FILE was refused (rotated since it was read?)`
    : env[`${src.prefix}_PASSWORD`]
      ? `the password from ${src.prefix}_PASSWORD was refused (rotated since it was read?)`
      : "goose sent no credentials";
  return `${src.what} asks for basic auth and ${sent}; ${passwordFix(src, where)}`;
}
