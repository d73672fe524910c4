import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  applySbomDelta,
  archiveSbom,
  diffSbom,
  listSbomArchive,
  pruneSbomArchive,
  readArchivedSbom,
  type SbomDelta,
} from "../../src/sbom/delta.js";
import { openStore } from "../../src/store/index.js";
import { sbomSeries } from "./series.js";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const sha = (s: string) => createHash("sha256").update(s).digest("hex");

describe("SBOM deltas", () => {
  const series = sbomSeries(repoRoot, 6);

  it("a delta names added, removed and changed components and rebuilds the SBOM byte for byte", () => {
    const d = diffSbom(series[0]!, series[1]!);
    expect(d.summary.added).toBe(1);
    expect(d.summary.removed).toBeGreaterThanOrEqual(1);
    expect(d.summary.changed).toBeGreaterThan(5);
    expect(applySbomDelta(series[0]!, d)).toBe(series[1]);
    // An edited delta or the wrong base is caught by digest.
    const edited = JSON.parse(JSON.stringify(d)) as SbomDelta;
    const add = edited.components.find((op) => "add" in op) as { add: { version: string } };
    add.add.version = "6.6.6";
    expect(() => applySbomDelta(series[0]!, edited)).toThrow(/the delta was edited/);
    expect(() => applySbomDelta(series[2]!, d)).toThrow(/expects base/);
  });

  it("archives a stage's SBOMs as compressed deltas, reads each back by digest, prunes whole chains", async () => {
    const store = openStore(`file://${mkdtempSync(path.join(tmpdir(), "goose-sbom-"))}`, {});
    const kinds: string[] = [];
    for (const s of series) {
      const e = await archiveSbom(store, "compliance", s);
      kinds.push(e.kind);
      expect(e.bytes).toBeLessThan(gzipSync(s).length);
    }
    expect(kinds).toEqual(["full", "delta", "delta", "delta", "delta", "delta"]);
    // Idempotent by digest.
    expect((await archiveSbom(store, "compliance", series[3]!)).seq).toBe(4);
    for (const s of series) expect(await readArchivedSbom(store, "compliance", sha(s))).toBe(s);
    // A delta entry is much smaller than the plain JSON.
    const entries = await listSbomArchive(store, "compliance");
    const delta = (await store.get(entries[2]!.key))!.body;
    expect(delta.length * 20).toBeLessThan(series[2]!.length);
    expect(JSON.parse(gunzipSync(delta).toString("utf8")).format).toBe("goose.sbom-delta/v1");
    // Keeping the last 2 keeps their chain back to the full entry: nothing can go yet.
    expect(await pruneSbomArchive(store, "compliance", 2)).toEqual([]);
    // Another full entry (a different stage's history starts full) and retention per stage.
    expect((await archiveSbom(store, "production", series[5]!)).kind).toBe("full");
    expect(await readArchivedSbom(store, "production", sha(series[5]!))).toBe(series[5]);
    // A tampered entry is refused on read.
    await store.put(
      entries[3]!.key,
      gzipSync(JSON.stringify({ ...JSON.parse(gunzipSync(delta).toString()), doc: {} })),
    );
    await expect(readArchivedSbom(store, "compliance", sha(series[4]!))).rejects.toThrow(/SBOM/);
  });
});
