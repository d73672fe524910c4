/**
 * Pulumi's secret signature: a property value that is an object whose `SECRET_SIG_KEY` equals
 * `SECRET_SIG` is a secret (sdk/go/common/resource/sig). In gRPC property form it carries `value`;
 * in an export, `ciphertext` (or `plaintext` when decrypted with `--show-secrets`).
 */
export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** True when `v` is a secret in gRPC property form (`{ <sig>: <secret sig>, value }`). */
export function isSecretValue(v: unknown): v is { value: unknown } {
  return (
    typeof v === "object" &&
    v !== null &&
    (v as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG
  );
}
