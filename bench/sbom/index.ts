/**
 * bench/sbom: storing a stage's SBOM history as compressed deltas, against plain JSON.
 *
 * Input: N successive SBOMs (canonical CycloneDX JSON) built from this repository's
 * package-lock.json, each release bumping every 40th component and adding/removing one
 * (tests/sbom/series.ts). Reference: each SBOM stored as plain JSON (one put; read = get +
 * JSON.parse). Measured on the same file store: the delta archive (src/sbom/delta.ts: a delta
 * against the previous SBOM when smaller, gzip -9, checked by digest on write and read) and, for
 * scale, gzip of each full SBOM. Figures are ratios to the reference of the same run.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { archiveSbom, readArchivedSbom } from "../../src/sbom/delta.js";
import { openStore } from "../../src/store/index.js";
import { sbomSeries } from "../../tests/sbom/series.js";

const N = Number(process.env.BENCH_SBOM_VERSIONS ?? 30);
const repoRoot = path.resolve(import.meta.dirname, "../..");
const series = sbomSeries(repoRoot, N);
const dir = mkdtempSync(path.join(tmpdir(), "goose-bench-sbom-"));
const store = openStore(`file://${dir}`, {});
const sha = (s: string) => createHash("sha256").update(s).digest("hex");

const time = async (fn: () => Promise<void>) => {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
};

try {
  // Warm-up (module loading, file system caches).
  await store.put("warm/x.json", series[0]!);
  let plainBytes = 0;
  const plainWrite = await time(async () => {
    for (const s of series) {
      await store.put(`plain/${sha(s)}.json`, s);
      plainBytes += Buffer.byteLength(s);
    }
  });
  let gzipBytes = 0;
  const gzipWrite = await time(async () => {
    for (const s of series) {
      const z = gzipSync(s, { level: 9 });
      gzipBytes += z.length;
      await store.put(`gzip/${sha(s)}.json.gz`, z);
    }
  });
  let deltaBytes = 0;
  let deltas = 0;
  const deltaWrite = await time(async () => {
    for (const s of series) {
      const e = await archiveSbom(store, "production", s);
      deltaBytes += e.bytes;
      if (e.kind === "delta") deltas++;
    }
  });
  const last = series[series.length - 1]!;
  const reads = 10;
  const plainRead = await time(async () => {
    for (let i = 0; i < reads; i++)
      JSON.parse((await store.get(`plain/${sha(last)}.json`))!.body.toString());
  });
  const deltaRead = await time(async () => {
    for (let i = 0; i < reads; i++) {
      const t = await readArchivedSbom(store, "production", sha(last));
      if (t !== last) throw new Error("reconstruction differs");
    }
  });
  const r = (x: number, ref: number) => (x / ref).toFixed(3);
  console.log(
    `${N} SBOMs of ${JSON.parse(last).components.length} components, ${(plainBytes / N / 1024).toFixed(0)} KiB each as plain JSON; ${deltas} stored as deltas`,
  );
  console.log(
    `size   plain JSON 1.000 (${plainBytes} B) | gzip -9 per SBOM ${r(gzipBytes, plainBytes)} | delta archive ${r(deltaBytes, plainBytes)} (${deltaBytes} B)`,
  );
  console.log(
    `write  plain JSON 1.000 (${plainWrite.toFixed(1)} ms) | gzip -9 ${r(gzipWrite, plainWrite)} | delta archive ${r(deltaWrite, plainWrite)} (${deltaWrite.toFixed(1)} ms, incl. rebuilding the base and verifying)`,
  );
  console.log(
    `read   plain JSON 1.000 (${(plainRead / reads).toFixed(2)} ms) | delta archive, newest (longest chain) ${r(deltaRead, plainRead)} (${(deltaRead / reads).toFixed(2)} ms)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
