/**
 * Keeps secret values out of evidence records and reports. Two rules: a field whose name says it
 * holds a secret gets "[redacted]", and any string containing the value of a known secret
 * environment variable has that value replaced.
 */
export const REDACTED = "[redacted]";

/** Environment variables whose values are secrets wherever they turn up. */
export const SECRET_ENV_VARS = [
  "GOOSE_EVIDENCE_KEY",
  "GOOSE_SNAPSHOT_KEY",
  "GOOSE_SNAPSHOT_PASSPHRASE",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "PULUMI_ACCESS_TOKEN",
  "PULUMI_CONFIG_PASSPHRASE",
  "GRAFANA_ADMIN_PASSWORD",
] as const;

const SECRET_FIELD =
  /^(password|passwd|passphrase|secret|secrets|token|apikey|api_key|privatekey|private_key|secretaccesskey|sessiontoken|credentials?|ciphertext|plaintext)$|(password|passphrase|secret|token|privatekey)$/i;

/** Secret values present in `env` (at least 6 characters, so "1" never matches everything). */
export function secretValues(env: NodeJS.ProcessEnv): string[] {
  const values: string[] = [];
  for (const name of SECRET_ENV_VARS) {
    const v = env[name];
    if (v && v.length >= 6) values.push(v, v.trim());
  }
  return [...new Set(values)].sort((a, b) => b.length - a.length);
}

/** A deep copy of `value` with secrets replaced by "[redacted]". */
export function redact<T>(value: T, env: NodeJS.ProcessEnv): T {
  const secrets = secretValues(env);
  const walk = (v: unknown, key?: string): unknown => {
    if (key !== undefined && SECRET_FIELD.test(key) && v !== null && typeof v !== "object") {
      return REDACTED;
    }
    if (typeof v === "string") {
      let s = v;
      for (const secret of secrets) if (s.includes(secret)) s = s.split(secret).join(REDACTED);
      return s;
    }
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = walk(x, k);
      return out;
    }
    return v;
  };
  return walk(value) as T;
}
