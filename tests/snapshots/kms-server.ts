/**
 * A small KMS-compatible HTTP server for tests. It is ours, not AWS's and not an emulator
 * project: no KMS emulator can be installed here (no PyPI, no Go binaries), so this speaks KMS's
 * wire protocol, the AWS JSON 1.1 protocol that @aws-sdk/client-kms uses, closely enough for the
 * real SDK client to talk to it through GOOSE_KMS_ENDPOINT:
 *
 * - `POST /` with `Content-Type: application/x-amz-json-1.1` and
 *   `X-Amz-Target: TrentService.Encrypt | TrentService.Decrypt | TrentService.GenerateDataKey`;
 *   JSON bodies, blobs (Plaintext, CiphertextBlob) in base64.
 * - Every request must carry a valid SigV4 signature (service `kms`) from the one access key the
 *   server was started with: an unknown key id is `UnrecognizedClientException`, a wrong secret
 *   `InvalidSignatureException`.
 * - Per-key AES-256-GCM keys in memory; key ids are UUIDs, also accepted as key ARNs
 *   (`arn:aws:kms:<region>:<account>:key/<id>`) and `alias/<name>`. An unknown key is
 *   `NotFoundException`.
 * - The ciphertext blob names its key (as KMS's does) and binds the encryption context as
 *   authenticated data: Decrypt with a different context, or a modified blob, is
 *   `InvalidCiphertextException` with no message, as KMS answers. Decrypt naming a KeyId other than
 *   the blob's key is `IncorrectKeyException`.
 * - Errors are HTTP 400 with `{"__type": "<Name>", "message": …}` and `x-amzn-ErrorType`.
 *
 * It is not KMS: no grants, key policies, rotation, asymmetric keys or multi-Region keys.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  randomUUID,
  timingSafeEqual,
} from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface KmsServerOptions {
  accessKeyId: string;
  secretAccessKey: string;
  region?: string;
  account?: string;
}

export interface KmsExchange {
  target: string;
  status: number;
  request: Record<string, unknown>;
  response: Record<string, unknown>;
}

export interface KmsServer {
  url: string;
  region: string;
  /** Creates a symmetric key; returns its key id (a UUID). */
  createKey(alias?: string): string;
  keyArn(keyId: string): string;
  /** Every request and answer, in order (blobs left as the base64 text that went over the wire). */
  exchanges: KmsExchange[];
  close(): Promise<void>;
}

class KmsError extends Error {
  constructor(
    readonly type: string,
    message: string | undefined,
    readonly status = 400,
  ) {
    super(message ?? "");
  }
}

const BLOB_VERSION = 1;

export async function startKmsServer(opts: KmsServerOptions): Promise<KmsServer> {
  const region = opts.region ?? "us-east-1";
  const account = opts.account ?? "111122223333";
  const keys = new Map<string, Buffer>();
  const aliases = new Map<string, string>();
  const exchanges: KmsExchange[] = [];
  const keyArn = (id: string) => `arn:aws:kms:${region}:${account}:key/${id}`;

  const resolveKey = (keyId: unknown): string => {
    if (typeof keyId !== "string" || keyId === "") {
      throw new KmsError("ValidationException", "1 validation error detected: KeyId is required");
    }
    let id = keyId;
    const arn = /^arn:aws:kms:([^:]+):(\d+):(key|alias)\/(.+)$/.exec(keyId);
    if (arn) {
      if (arn[1] !== region || arn[2] !== account) {
        throw new KmsError("NotFoundException", `Key '${keyId}' does not exist`);
      }
      id = arn[3] === "alias" ? (aliases.get(`alias/${arn[4]}`) ?? "") : arn[4]!;
    } else if (keyId.startsWith("alias/")) {
      id = aliases.get(keyId) ?? "";
      if (!id) throw new KmsError("NotFoundException", `Alias ${keyArn(keyId)} is not found.`);
    }
    if (!keys.has(id)) {
      throw new KmsError(
        "NotFoundException",
        /^[0-9a-f-]{36}$/.test(id)
          ? `Key '${keyArn(id)}' does not exist`
          : `Invalid keyId '${keyId}'`,
      );
    }
    return id;
  };

  /** The encryption context as authenticated data: order-independent, as in KMS. */
  const contextAad = (keyId: string, ctx: unknown): Buffer => {
    if (ctx !== undefined && (typeof ctx !== "object" || ctx === null || Array.isArray(ctx))) {
      throw new KmsError("ValidationException", "EncryptionContext must be a map of strings");
    }
    const entries = Object.entries((ctx ?? {}) as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    for (const [, v] of entries) {
      if (typeof v !== "string") {
        throw new KmsError("ValidationException", "EncryptionContext values must be strings");
      }
    }
    return Buffer.from(JSON.stringify([keyId, entries]), "utf8");
  };

  const blob = (field: string, v: unknown, max: number): Buffer => {
    if (typeof v !== "string") {
      throw new KmsError(
        "ValidationException",
        `1 validation error detected: ${field} is required`,
      );
    }
    const b = Buffer.from(v, "base64");
    if (b.length === 0 || b.length > max) {
      throw new KmsError(
        "ValidationException",
        `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length between 1 and ${max}`,
      );
    }
    return b;
  };

  const seal = (keyId: string, plaintext: Buffer, ctx: unknown): Buffer => {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", keys.get(keyId)!, iv);
    c.setAAD(contextAad(keyId, ctx));
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    const id = Buffer.from(keyId, "utf8");
    return Buffer.concat([Buffer.from([BLOB_VERSION, id.length]), id, iv, ct, c.getAuthTag()]);
  };

  const ops: Record<string, (req: Record<string, unknown>) => Record<string, unknown>> = {
    Encrypt(req) {
      const keyId = resolveKey(req.KeyId);
      const plaintext = blob("plaintext", req.Plaintext, 4096);
      return {
        CiphertextBlob: seal(keyId, plaintext, req.EncryptionContext).toString("base64"),
        KeyId: keyArn(keyId),
        EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
      };
    },
    GenerateDataKey(req) {
      const keyId = resolveKey(req.KeyId);
      const n =
        typeof req.NumberOfBytes === "number"
          ? req.NumberOfBytes
          : req.KeySpec === "AES_128"
            ? 16
            : req.KeySpec === "AES_256"
              ? 32
              : 0;
      if (!Number.isInteger(n) || n < 1 || n > 1024) {
        throw new KmsError(
          "ValidationException",
          "Please specify either number of bytes or key spec.",
        );
      }
      const plaintext = randomBytes(n);
      return {
        CiphertextBlob: seal(keyId, plaintext, req.EncryptionContext).toString("base64"),
        Plaintext: plaintext.toString("base64"),
        KeyId: keyArn(keyId),
      };
    },
    Decrypt(req) {
      const b = blob("ciphertextBlob", req.CiphertextBlob, 6144);
      const idLen = b[1] ?? 0;
      if (b[0] !== BLOB_VERSION || b.length < 2 + idLen + 12 + 16) {
        throw new KmsError("InvalidCiphertextException", undefined);
      }
      const blobKey = b.subarray(2, 2 + idLen).toString("utf8");
      if (!keys.has(blobKey)) throw new KmsError("InvalidCiphertextException", undefined);
      if (req.KeyId !== undefined && resolveKey(req.KeyId) !== blobKey) {
        throw new KmsError(
          "IncorrectKeyException",
          "The key ID in the request does not identify a CMK that can perform this operation.",
        );
      }
      const iv = b.subarray(2 + idLen, 2 + idLen + 12);
      const ct = b.subarray(2 + idLen + 12, b.length - 16);
      try {
        const d = createDecipheriv("aes-256-gcm", keys.get(blobKey)!, iv);
        d.setAAD(contextAad(blobKey, req.EncryptionContext));
        d.setAuthTag(b.subarray(b.length - 16));
        const plaintext = Buffer.concat([d.update(ct), d.final()]);
        return {
          KeyId: keyArn(blobKey),
          Plaintext: plaintext.toString("base64"),
          EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
        };
      } catch (err) {
        if (err instanceof KmsError) throw err;
        throw new KmsError("InvalidCiphertextException", undefined);
      }
    },
  };

  /** SigV4 (AWS4-HMAC-SHA256, service kms) as the SDK signs: header-based, signed payload. */
  const checkSignature = (req: IncomingMessage, body: Buffer): void => {
    const auth = req.headers.authorization ?? "";
    const m =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
        auth,
      );
    if (!m) {
      throw new KmsError(
        "MissingAuthenticationTokenException",
        "Request is missing Authentication Token",
      );
    }
    const [, akid, date, reqRegion, service, signed, signature] = m as unknown as string[];
    if (akid !== opts.accessKeyId) {
      throw new KmsError(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
      );
    }
    const amzDate = String(req.headers["x-amz-date"] ?? "");
    const names = signed!.split(";");
    const canonicalHeaders = names
      .map(
        (n) =>
          `${n}:${String(req.headers[n] ?? "")
            .trim()
            .replace(/\s+/g, " ")}\n`,
      )
      .join("");
    const [path, query = ""] = (req.url ?? "/").split("?");
    const canonicalRequest = [
      req.method,
      path,
      query,
      canonicalHeaders,
      signed,
      createHash("sha256").update(body).digest("hex"),
    ].join("\n");
    const scope = `${date}/${reqRegion}/${service}/aws4_request`;
    const toSign = [
      "AWS4-HMAC-SHA256",
      amzDate,
      scope,
      createHash("sha256").update(canonicalRequest).digest("hex"),
    ].join("\n");
    let k: Buffer = createHmac("sha256", `AWS4${opts.secretAccessKey}`).update(date!).digest();
    for (const part of [reqRegion!, service!, "aws4_request"]) {
      k = createHmac("sha256", k).update(part).digest();
    }
    const expected = createHmac("sha256", k).update(toSign).digest();
    const given = Buffer.from(signature!, "hex");
    if (
      service !== "kms" ||
      reqRegion !== region ||
      !names.includes("host") ||
      !names.includes("x-amz-date") ||
      !timingSafeEqual(expected, given)
    ) {
      throw new KmsError(
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
      );
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    const target = String(req.headers["x-amz-target"] ?? "");
    let request: Record<string, unknown> = {};
    const reply = (status: number, response: Record<string, unknown>, errorType?: string) => {
      exchanges.push({ target, status, request, response });
      res.writeHead(status, {
        "content-type": "application/x-amz-json-1.1",
        "x-amzn-requestid": randomUUID(),
        ...(errorType ? { "x-amzn-errortype": errorType } : {}),
      });
      res.end(JSON.stringify(response));
    };
    try {
      if (req.method !== "POST" || (req.url ?? "/").split("?")[0] !== "/") {
        throw new KmsError("UnknownOperationException", undefined, 404);
      }
      checkSignature(req, body);
      if (!String(req.headers["content-type"] ?? "").startsWith("application/x-amz-json-1.1")) {
        throw new KmsError(
          "SerializationException",
          "Content-Type must be application/x-amz-json-1.1",
        );
      }
      const op = /^TrentService\.(\w+)$/.exec(target)?.[1];
      const fn = op ? ops[op] : undefined;
      if (!fn) throw new KmsError("UnknownOperationException", undefined);
      try {
        request = JSON.parse(body.toString("utf8") || "{}") as Record<string, unknown>;
      } catch {
        throw new KmsError(
          "SerializationException",
          "Start of structure or map found where not expected.",
        );
      }
      reply(200, fn(request));
    } catch (err) {
      const e =
        err instanceof KmsError ? err : new KmsError("KMSInternalException", String(err), 500);
      reply(e.status, { __type: e.type, ...(e.message ? { message: e.message } : {}) }, e.type);
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handle(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    region,
    createKey(alias) {
      const id = randomUUID();
      keys.set(id, randomBytes(32));
      if (alias) aliases.set(`alias/${alias}`, id);
      return id;
    },
    keyArn,
    exchanges,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
