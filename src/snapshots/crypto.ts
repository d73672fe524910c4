/**
 * Snapshot payload crypto: the export is gzip-compressed then sealed with AES-256-GCM under a
 * fresh 32-byte data key (streamed; the 16-byte tag is appended to the ciphertext). A MAC over
 * the canonical manifest (HMAC-SHA256 under a key derived from the data key) makes any edit of
 * the manifest visible. How the data key is wrapped, and which wrapping keys are trusted, is
 * keyring.ts.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

export const TAG_BYTES = 16;

export function newDataKey(): { dataKey: Buffer; iv: Buffer } {
  return { dataKey: randomBytes(32), iv: randomBytes(12) };
}

/** AES-256-GCM sealing transform: ciphertext, then the 16-byte tag at the end. */
export function encryptStream(dataKey: Buffer, iv: Buffer, aad: string): Transform {
  const c = createCipheriv("aes-256-gcm", dataKey, iv);
  c.setAAD(Buffer.from(aad));
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      cb(null, c.update(chunk));
    },
    flush(cb: TransformCallback) {
      try {
        const last = c.final();
        this.push(last);
        this.push(c.getAuthTag());
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
}

/** The GCM tag did not verify: the ciphertext (or iv, or aad) was changed. */
export class AuthenticationError extends Error {
  constructor() {
    super("the payload does not authenticate (AES-GCM tag mismatch): its bytes were changed");
    this.name = "AuthenticationError";
  }
}

/** Opening transform: holds back the last 16 bytes (the tag) until the end. */
export function decryptStream(dataKey: Buffer, iv: Buffer, aad: string): Transform {
  const d = createDecipheriv("aes-256-gcm", dataKey, iv);
  d.setAAD(Buffer.from(aad));
  let tail = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      const all = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk;
      if (all.length <= TAG_BYTES) {
        tail = Buffer.from(all);
        cb();
        return;
      }
      tail = Buffer.from(all.subarray(all.length - TAG_BYTES));
      cb(null, d.update(all.subarray(0, all.length - TAG_BYTES)));
    },
    flush(cb: TransformCallback) {
      if (tail.length < TAG_BYTES) {
        cb(new AuthenticationError());
        return;
      }
      try {
        d.setAuthTag(tail);
        this.push(d.final());
        cb();
      } catch {
        cb(new AuthenticationError());
      }
    },
  });
}

/** HMAC key for the manifest, derived from the data key. */
export function manifestMacKey(dataKey: Buffer): Buffer {
  return Buffer.from(
    hkdfSync("sha256", dataKey, Buffer.alloc(0), "goose-snapshot-manifest-mac-v1", 32),
  );
}

export function mac(key: Buffer, text: string): string {
  return createHmac("sha256", key).update(text).digest("hex");
}

export function macEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
