/**
 * Issue 10 item 8: no plaintext on disk. `goose snapshot restore` runs as its own process
 * (bin/goose.js) and is SIGKILLed at random moments; afterwards the output directory holds
 * either nothing or the complete, exact export at --out: never a partial file, never a temp
 * file with plaintext. A tampered payload is never written anywhere, whenever the kill comes.
 * Stale temporaries left by older versions or by killed processes go on the next command.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runGoose } from "../helpers/cli.js";
import { cleanupTempDirs, fixture, repoRoot, tempDir, TEST_KEY } from "./helpers.js";

afterAll(cleanupTempDirs);

/** A ~3 MB export (the v3 fixture's resources repeated under new names), so restore takes a while. */
function biggerExport(dir: string): string {
  const doc = JSON.parse(readFileSync(fixture("checkpoint-secrets.json"), "utf8"));
  const base = doc.checkpoint.latest.resources as Array<Record<string, unknown>>;
  const resources: unknown[] = [];
  for (let i = 0; i < 60; i++) {
    for (const r of base) {
      resources.push({
        ...r,
        urn: `${String(r.urn)}-${i}`,
        parent: undefined,
        dependencies: [],
        propertyDependencies: {},
      });
    }
  }
  const p = join(dir, "big-export.json");
  writeFileSync(
    p,
    JSON.stringify({ version: 3, deployment: { ...doc.checkpoint.latest, resources } }, null, 2),
  );
  return p;
}

const env = () => ({
  GOOSE_SNAPSHOT_KEY: TEST_KEY,
  GOOSE_EVIDENCE_KEY_FILE: join(evidenceDir, "evidence.pem"),
});
let evidenceDir: string;
let cwd: string;
let exportPath: string;
let original: Buffer;
let good: string;
let tampered: string;

beforeAll(async () => {
  evidenceDir = tempDir();
  cwd = tempDir();
  exportPath = biggerExport(tempDir());
  original = readFileSync(exportPath);
  const make = async () => {
    const c = await runGoose(
      ["snapshot", "create", "sandbox", "--from-file", exportPath, "--json"],
      { cwd, env: env() },
    );
    expect(c.code, c.stderr).toBe(0);
    return (JSON.parse(c.stdout) as { id: string }).id;
  };
  good = await make();
  tampered = await make();
  // Flip one byte near the end of the payload: only the GCM tag at the very end can tell.
  const payload = join(cwd, ".goose", "snapshots", "sandbox", `${tampered}.payload`);
  const bytes = readFileSync(payload);
  bytes[bytes.length - 40]! ^= 0x01;
  writeFileSync(payload, bytes);
}, 60_000);

/** Runs `goose snapshot restore` in its own process and SIGKILLs it after `delayMs` (or lets it end). */
function restoreAndKill(id: string, outDir: string, delayMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, "bin/goose.js"),
        "snapshot",
        "restore",
        id,
        "--out",
        join(outDir, "out.json"),
        "--store",
        `file://${join(cwd, ".goose")}`,
      ],
      { cwd: outDir, env: { ...process.env, ...env() }, stdio: ["ignore", "ignore", "pipe"] },
    );
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), delayMs);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve(signal ?? `exit ${code}: ${err.split("\n")[0]}`);
    });
  });
}

/** The plaintext secrets of the export must not be anywhere but a complete out.json. */
function assertNoPartialPlaintext(outDir: string, allowComplete: boolean): string[] {
  const names = readdirSync(outDir);
  for (const name of names) {
    const body = readFileSync(join(outDir, name));
    if (allowComplete && name === "out.json") {
      expect(body.equals(original), "out.json is complete and exact").toBe(true);
      continue;
    }
    throw new Error(`unexpected file ${name} (${body.length} bytes) left in the output directory`);
  }
  return names;
}

describe("8. SIGKILL during restore leaves no plaintext file and nothing partial", () => {
  it("a good snapshot: 20 kills at random moments leave nothing, or the complete export", async () => {
    const outcomes: string[] = [];
    for (let t = 0; t < 20; t += 4) {
      const dirs = Array.from({ length: 4 }, () => tempDir("goose-restore-kill-"));
      const results = await Promise.all(
        dirs.map((d) => restoreAndKill(good, d, 300 + Math.floor(Math.random() * 1700))),
      );
      outcomes.push(...results);
      for (const d of dirs) assertNoPartialPlaintext(d, true);
    }
    // At least some runs were killed mid-way (else the trial proves nothing).
    expect(outcomes.filter((o) => o === "SIGKILL").length).toBeGreaterThan(0);
  }, 120_000);

  it("a tampered snapshot: 20 kills at random moments, and never a byte of it on disk", async () => {
    const outcomes: string[] = [];
    for (let t = 0; t < 20; t += 4) {
      const dirs = Array.from({ length: 4 }, () => tempDir("goose-restore-kill-"));
      const results = await Promise.all(
        dirs.map((d) => restoreAndKill(tampered, d, 300 + Math.floor(Math.random() * 1700))),
      );
      outcomes.push(...results);
      for (const d of dirs) expect(assertNoPartialPlaintext(d, false)).toEqual([]);
    }
    expect(outcomes.filter((o) => o === "SIGKILL").length).toBeGreaterThan(0);
    for (const o of outcomes) if (o !== "SIGKILL") expect(o).toMatch(/^exit 1: .*tampered/);
  }, 120_000);

  it("stale restore temporaries of killed runs (ours, by name) go on the next restore; other files stay", async () => {
    const outDir = tempDir();
    const stale = [
      ".out.json.goose-restore-1a2b3c4d", // the old naming, no pid: removed once old
      ".out.json.goose-restore-999999999-0a0b0c0d", // a pid that is not running
    ];
    for (const n of stale) writeFileSync(join(outDir, n), "partial plaintext");
    const old = new Date(Date.now() - 2 * 3600_000);
    utimesSync(join(outDir, stale[0]!), old, old);
    writeFileSync(join(outDir, "notes.txt"), "mine");
    const r = await runGoose(["snapshot", "restore", good, "--out", join(outDir, "out.json")], {
      cwd,
      env: env(),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(outDir).sort()).toEqual(["notes.txt", "out.json"]);
    expect(statSync(join(outDir, "out.json")).mode & 0o077).toBe(0);
  });
});
