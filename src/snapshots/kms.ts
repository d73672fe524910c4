/**
 * AWS KMS for snapshot keys: the client (the SDK loaded on first use), what is missing before KMS
 * can be used (exit 2 with the fix), and what a failed unwrap means (exit 1, wrong key).
 */
import type { KMSClient } from "@aws-sdk/client-kms";
import { InputError } from "../errors.js";
import { KeyMissingError, WrongKeyError } from "./key-errors.js";

/**
 * The KMS SDK is loaded only when a KMS key is used (it costs ~15 MB of memory). Credentials
 * come from the environment goose was given (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN) when set there, else from the SDK's default chain (profiles, SSO, web
 * identity, container and instance roles).
 */
export async function kmsClient(env: NodeJS.ProcessEnv): Promise<{
  client: KMSClient;
  kms: typeof import("@aws-sdk/client-kms");
}> {
  const kms = await import("@aws-sdk/client-kms");
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  const client = new kms.KMSClient({
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1",
    ...(env.GOOSE_KMS_ENDPOINT ? { endpoint: env.GOOSE_KMS_ENDPOINT } : {}),
    ...(accessKeyId && secretAccessKey
      ? {
          credentials: {
            accessKeyId,
            secretAccessKey,
            ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
          },
        }
      : {}),
  });
  return { client, kms };
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/**
 * A KMS failure that is a missing prerequisite (credentials, endpoint, a key that does not
 * exist on create): KeyMissingError / InputError, exit 2, naming the fix. Undefined for the
 * rest (the caller decides).
 */
export function kmsPrerequisiteError(
  err: unknown,
  keyId: string,
  env: NodeJS.ProcessEnv,
  action: "wrap" | "unwrap",
): InputError | undefined {
  const e = err as { name?: string; code?: string; message?: string };
  const name = e.name ?? "";
  const where = env.GOOSE_KMS_ENDPOINT
    ? `the KMS endpoint ${env.GOOSE_KMS_ENDPOINT} (GOOSE_KMS_ENDPOINT)`
    : `AWS KMS in ${env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1"} (AWS_REGION)`;
  const what =
    action === "wrap"
      ? `cannot wrap the data key with KMS key ${keyId}`
      : `this snapshot's data key is wrapped by AWS KMS key ${keyId}`;
  if (name === "CredentialsProviderError") {
    return new KeyMissingError(
      `${what}: no AWS credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and AWS_REGION`,
    );
  }
  if (
    name === "UnrecognizedClientException" ||
    name === "InvalidSignatureException" ||
    name === "ExpiredTokenException" ||
    name === "AccessDeniedException"
  ) {
    return new KeyMissingError(
      `${what}: ${where} refused the AWS credentials (${name}); check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (or AWS_PROFILE) and that they may use the key`,
    );
  }
  const code = e.code ?? /\b(E[A-Z_]+)\b/.exec(e.message ?? "")?.[1] ?? "";
  if (NETWORK_CODES.has(code) || name === "TimeoutError") {
    return new KeyMissingError(
      `${what}: cannot reach ${where} (${code || name}); set GOOSE_KMS_ENDPOINT to a reachable KMS-compatible endpoint, or unset it and set AWS_REGION for AWS KMS`,
    );
  }
  if (action === "wrap" && name === "NotFoundException") {
    return new InputError(
      `${what}: ${where} has no such key (NotFoundException); check --kms-key (a key id, key ARN or alias/NAME)`,
    );
  }
  return undefined;
}

/** Why KMS would not unwrap a data key, in words: the verification report's message. */
export function kmsUnwrapFailure(err: unknown, keyId: string): WrongKeyError {
  const name = (err as { name?: string }).name ?? "";
  switch (name) {
    case "IncorrectKeyException":
      return new WrongKeyError(
        `wrong key: the data key was not wrapped by KMS key ${keyId} (IncorrectKeyException); the manifest's key id was edited, or the snapshot was sealed under another key`,
      );
    case "InvalidCiphertextException":
      return new WrongKeyError(
        "KMS refused the wrapped data key (InvalidCiphertextException): the manifest's wrapped key or the snapshot id (its encryption context) was edited",
      );
    case "NotFoundException":
      return new WrongKeyError(
        `KMS key ${keyId} does not exist there (NotFoundException): point GOOSE_KMS_ENDPOINT/AWS_REGION at the KMS holding it, or the manifest's key id was edited`,
      );
    case "DisabledException":
    case "KMSInvalidStateException":
      return new WrongKeyError(`KMS key ${keyId} cannot decrypt now (${name}): enable the key`);
    default:
      return new WrongKeyError(
        `AWS KMS could not unwrap the data key with ${keyId}: ${name ? `${name}: ` : ""}${(err as Error).message}`,
      );
  }
}
