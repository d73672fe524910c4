import { createPrivateKey, createPublicKey } from "node:crypto";
export { openEvidenceChain } from "../../src/evidence/index.js";

/** The SPKI PEM public half of a PKCS#8 PEM private key. */
export function publicKeyOf(privatePem: string): string {
  return createPublicKey(createPrivateKey(privatePem))
    .export({ format: "pem", type: "spki" })
    .toString();
}
