/**
 * bench/evidence: the cost of the evidence chain and of leases on a file store.
 *
 * Reference run ("crypto only"): canonical JSON + sha256 + Ed25519 sign (and verify) of the same
 * records in memory, the floor any signed chain pays. Measured: `append` through the store port
 * (read the active segment, compare-and-swap write, signed head), `verify` of the whole chain, and
 * a lease acquire+release cycle against the reference of a bare create-exclusive + delete.
 * Figures are printed as ratios to the reference measured in the same process.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import canonicalize from "canonicalize";
import { openEvidenceChain } from "../../src/evidence/index.js";
import { openLocks } from "../../src/locks/index.js";
import { openStore } from "../../src/store/index.js";

const N = Number(process.env.BENCH_EVIDENCE_RECORDS ?? 1000);
const seed = Buffer.alloc(32, 9);
const env = { GOOSE_EVIDENCE_KEY: seed.toString("base64") };
const privateKey = createPrivateKey({
  key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]),
  format: "der",
  type: "pkcs8",
});
const publicKey = createPublicKey(privateKey);

const input = (i: number) => ({
  kind: "bench.step",
  stage: "sandbox" as const,
  subject: [
    {
      name: `artifact-${i}`,
      digest: { sha256: createHash("sha256").update(String(i)).digest("hex") },
    },
  ],
  data: {
    i,
    summary: "a gate result of typical size ".repeat(8),
    details: { a: 1, b: [1, 2, 3], c: "x".repeat(200) },
  },
});

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

// Reference: crypto only, in memory.
let t0 = process.hrtime.bigint();
const lines: string[] = [];
let prev = "sha256:" + "0".repeat(64);
for (let i = 1; i <= N; i++) {
  const unsigned = { seq: i, time: new Date().toISOString(), ...input(i), prev, keyid: "k" };
  const sig = sign(null, Buffer.from(canonicalize(unsigned) ?? ""), privateKey).toString("base64");
  const line = canonicalize({ ...unsigned, sig }) ?? "";
  prev = "sha256:" + createHash("sha256").update(line).digest("hex");
  lines.push(line);
}
const refAppend = ms(t0);
t0 = process.hrtime.bigint();
for (const line of lines) {
  const rec = JSON.parse(line) as Record<string, unknown>;
  const { sig, ...rest } = rec;
  verify(
    null,
    Buffer.from(canonicalize(rest) ?? ""),
    publicKey,
    Buffer.from(String(sig), "base64"),
  );
  createHash("sha256").update(line).digest("hex");
}
const refVerify = ms(t0);

// Measured: the chain on a file store.
const dir = mkdtempSync(path.join(tmpdir(), "goose-bench-evidence-"));
const store = openStore(`file://${dir}`, env);
const chain = openEvidenceChain(store, env, { segmentMaxRecords: N + 1 });
const perAppend: number[] = [];
t0 = process.hrtime.bigint();
for (let i = 1; i <= N; i++) {
  const t = process.hrtime.bigint();
  await chain.append(input(i));
  perAppend.push(ms(t));
}
const append = ms(t0);
t0 = process.hrtime.bigint();
const v = await chain.verify();
const verifyMs = ms(t0);
if (!v.ok || v.records !== N) throw new Error(`verify failed: ${JSON.stringify(v.firstBad)}`);

// Leases: acquire+release vs bare create-exclusive + delete.
const M = 200;
t0 = process.hrtime.bigint();
for (let i = 0; i < M; i++) {
  await store.put("bench/lock.json", "{}", { ifNoneMatch: true });
  await store.delete("bench/lock.json");
}
const refLease = ms(t0);
const locks = openLocks(store);
t0 = process.hrtime.bigint();
for (let i = 0; i < M; i++) {
  const l = await locks.acquire("sandbox", "scan", { ttlSeconds: 60, holder: "bench" });
  await locks.release("sandbox", "scan", { token: l.token });
}
const lease = ms(t0);
rmSync(dir, { recursive: true, force: true });

const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const first = avg(perAppend.slice(0, 100));
const last = avg(perAppend.slice(-100));
const r = (x: number, ref: number) => `${(x / ref).toFixed(1)}×`;
console.log(
  `records: ${N} (about ${Math.round(lines[0]?.length ?? 0)} bytes each); reference = crypto only, in memory`,
);
console.log(
  `reference sign+hash: ${(refAppend / N).toFixed(3)} ms/record; verify: ${(refVerify / N).toFixed(3)} ms/record`,
);
console.log(
  `append through the file store: ${r(append, refAppend)} the reference (${(append / N).toFixed(2)} ms/record)`,
);
console.log(
  `  first 100 appends ${first.toFixed(2)} ms each, last 100 ${last.toFixed(2)} ms each (${(last / first).toFixed(1)}× ; each append reads and rewrites the active segment and fsyncs it and head.json)`,
);
console.log(
  `verify the whole chain: ${r(verifyMs, refVerify)} the reference (${(verifyMs / N).toFixed(3)} ms/record)`,
);
console.log(
  `lease acquire+release: ${r(lease, refLease)} a bare create-exclusive+delete (${(lease / M).toFixed(2)} ms/cycle)`,
);
