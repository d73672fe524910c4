import { describe, expect, it } from "vitest";
import {
  backupId,
  backupIdTime,
  checkBackupSet,
  completeSetIds,
  manifestKey,
  parseBackupManifest,
  BackupLayoutError,
  GRAFANA_DB_PATH,
} from "../../src/backup/archive-layout.js";

const sha = "a".repeat(64);
function manifest(over: Record<string, unknown> = {}) {
  return JSON.stringify({
    kind: "goldengoose.backup",
    version: 1,
    stage: "compliance",
    component: "prometheus",
    id: "20261130T001500Z",
    createdAt: "2026-11-30T00:15:03Z",
    prometheusSnapshotDir: "snapshot",
    files: [{ path: "snapshot/01ABC/index", bytes: 10, sha256: sha }],
    ...over,
  });
}

describe("backup archive layout", () => {
  it("ids are the UTC start time and round-trip", () => {
    const at = new Date("2026-11-30T00:15:00.123Z");
    expect(backupId(at)).toBe("20261130T001500Z");
    expect(backupIdTime("20261130T001500Z").toISOString()).toBe("2026-11-30T00:15:00.000Z");
    expect(() => backupIdTime("2026-11-30")).toThrow(BackupLayoutError);
    expect(manifestKey("grafana", "20261130T001500Z")).toBe(
      "grafana/20261130T001500Z/manifest.json",
    );
  });

  it("only sets with a manifest count, newest first", () => {
    const keys = [
      "prometheus/20261129T000000Z/manifest.json",
      "prometheus/20261130T000000Z/snapshot/01A/index", // no manifest: incomplete
      "prometheus/20261128T000000Z/manifest.json",
      "grafana/20261131T000000Z/manifest.json",
    ];
    expect(completeSetIds("prometheus", keys)).toEqual(["20261129T000000Z", "20261128T000000Z"]);
  });

  it("parses a valid manifest and names the wrong field otherwise", () => {
    expect(parseBackupManifest(manifest()).files).toHaveLength(1);
    expect(() => parseBackupManifest(manifest({ version: 2 }), "x/manifest.json")).toThrow(
      /x\/manifest.json: field version/,
    );
    expect(() =>
      parseBackupManifest(manifest({ files: [{ path: "../etc", bytes: 1, sha256: sha }] })),
    ).toThrow(/files\[0\].path/);
    expect(() =>
      parseBackupManifest(manifest({ component: "grafana", prometheusSnapshotDir: undefined })),
    ).toThrow(/grafanaDb/);
    expect(
      parseBackupManifest(
        manifest({
          component: "grafana",
          grafanaDb: GRAFANA_DB_PATH,
          files: [{ path: GRAFANA_DB_PATH, bytes: 1, sha256: sha }],
        }),
      ).grafanaDb,
    ).toBe(GRAFANA_DB_PATH);
    expect(() => parseBackupManifest("{")).toThrow(/not JSON/);
  });

  it("finds missing, truncated, changed and unlisted files", () => {
    const m = parseBackupManifest(
      manifest({
        files: [
          { path: "snapshot/a", bytes: 3, sha256: sha },
          { path: "snapshot/b", bytes: 3, sha256: sha },
          { path: "snapshot/c", bytes: 3, sha256: sha },
        ],
      }),
    );
    const found = new Map([
      ["snapshot/a", { bytes: 3, sha256: sha }],
      ["snapshot/b", { bytes: 2, sha256: sha }],
      ["snapshot/d", { bytes: 1, sha256: sha }],
      ["manifest.json", { bytes: 1, sha256: sha }],
    ]);
    expect(checkBackupSet(m, found)).toEqual([
      "snapshot/b has 2 bytes, the manifest says 3",
      "snapshot/c is missing",
      "snapshot/d is not in the manifest",
    ]);
    expect(
      checkBackupSet(
        m,
        new Map([
          ["snapshot/a", { bytes: 3, sha256: sha }],
          ["snapshot/b", { bytes: 3, sha256: "b".repeat(64) }],
          ["snapshot/c", { bytes: 3, sha256: sha }],
        ]),
      ),
    ).toEqual(["snapshot/b does not match its SHA-256"]);
  });
});
