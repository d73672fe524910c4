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

/** A ~7 MB export (the secrets fixture's resources repeated under new names): restore takes a while. */
function biggerExport(dir: string): string {
  const doc = JSON.parse(readFileSync(fixture("checkpoint-secrets.json"), "utf8"));
  const base = doc.checkpoint.latest.resources as Array<Record<string, unknown>>;
  const resources: unknown[] = [];
  for (let i = 0; i < 150; i++) {
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
/** How long one whole restore process takes here (ms), measured once: kills land inside it. */
let fullRun = 0;

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
  const full = await restoreAndKill(good, tempDir("goose-restore-full-"), 600_000);
  expect(full.outcome).toMatch(/^exit 0/);
  fullRun = full.ms;
}, 900_000);

/** A random moment of the restore work (from ready to a bit past the measured end). */
const killAt = () => Math.floor(fullRun * Math.random() * 1.2);

/**
 * Restores in its own process (restore-child.ts, the code `goose snapshot restore` runs) and
 * SIGKILLs it `delayMs` after it is ready (modules loaded). Resolves to "SIGKILL", or
 * "exit <code>: <first stderr line>", and the ms from ready to exit.
 */
function restoreAndKill(
  id: string,
  outDir: string,
  delayMs: number,
): Promise<{ outcome: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        join(repoRoot, "tests/snapshots/restore-child.ts"),
        join(cwd, ".goose"),
        id,
        join(outDir, "out.json"),
      ],
      { cwd: repoRoot, env: { ...process.env, ...env() }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let err = "";
    let readyAt = 0;
    let timer: NodeJS.Timeout | undefined;
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.stdout.on("data", (d: Buffer) => {
      if (!readyAt && d.toString().includes("ready")) {
        readyAt = Date.now();
        timer = setTimeout(() => child.kill("SIGKILL"), delayMs);
      }
    });
    // Never leave a child behind.
    const guard = setTimeout(() => child.kill("SIGKILL"), 600_000);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(guard);
      const problem = /failed verification \(([a-z-]+)\)/.exec(err)?.[1] ?? err.slice(0, 300);
      resolve({
        outcome: signal ?? `exit ${code}: ${problem}`,
        ms: readyAt ? Date.now() - readyAt : 0,
      });
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
      const results = await Promise.all(dirs.map((d) => restoreAndKill(good, d, killAt())));
      outcomes.push(...results.map((r) => r.outcome));
      for (const d of dirs) assertNoPartialPlaintext(d, true);
    }
    // At least some runs were killed mid-way (else the trial proves nothing).
    expect(outcomes.filter((o) => o === "SIGKILL").length).toBeGreaterThan(0);
  }, 900_000);

  it("a tampered snapshot: 20 kills at random moments, and never a byte of it on disk", async () => {
    const outcomes: string[] = [];
    for (let t = 0; t < 20; t += 4) {
      const dirs = Array.from({ length: 4 }, () => tempDir("goose-restore-kill-"));
      const results = await Promise.all(dirs.map((d) => restoreAndKill(tampered, d, killAt())));
      outcomes.push(...results.map((r) => r.outcome));
      for (const d of dirs) expect(assertNoPartialPlaintext(d, false)).toEqual([]);
    }
    expect(outcomes.filter((o) => o === "SIGKILL").length).toBeGreaterThan(0);
    for (const o of outcomes) if (o !== "SIGKILL") expect(o).toMatch(/^exit 1: tampered$/);
  }, 900_000);

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

describe("8. SIGKILL during create: the store's temp files do not outlive the next command", () => {
  /** create-child.ts creates snapshots in a loop; killed `delayMs` after it is ready. */
  function createAndKill(storeDir: string, file: string, delayMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", join(repoRoot, "tests/snapshots/create-child.ts"), storeDir, file],
        { cwd: repoRoot, env: { ...process.env, ...env() }, stdio: ["ignore", "pipe", "pipe"] },
      );
      let err = "";
      let timer: NodeJS.Timeout | undefined;
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      child.stdout.on("data", (d: Buffer) => {
        if (!timer && d.toString().includes("ready"))
          timer = setTimeout(() => child.kill("SIGKILL"), delayMs);
      });
      const guard = setTimeout(() => child.kill("SIGKILL"), 600_000);
      child.on("error", reject);
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        clearTimeout(guard);
        resolve(signal ?? `exit ${code}: ${err.slice(0, 300)}`);
      });
    });
  }

  it("20 kills at random moments, then prune: no .goose-tmp-* left, every listed snapshot verifies", async () => {
    const storeDir = tempDir();
    const outcomes: string[] = [];
    for (let t = 0; t < 20; t += 4) {
      outcomes.push(
        ...(await Promise.all(
          Array.from({ length: 4 }, () =>
            createAndKill(storeDir, exportPath, 200 + Math.floor(Math.random() * 2500)),
          ),
        )),
      );
    }
    expect(
      outcomes.every((o) => o === "SIGKILL"),
      outcomes.join("; "),
    ).toBe(true);
    const dir = join(storeDir, "snapshots", "sandbox");
    const p = await runGoose(
      [
        "snapshot",
        "prune",
        "sandbox",
        "--keep-last",
        "1000",
        "--max-age-days",
        "3650",
        "--store",
        `file://${storeDir}`,
        "--json",
      ],
      { cwd, env: env() },
    );
    expect(p.code, p.stderr).toBe(0);
    expect(readdirSync(dir).filter((n) => n.startsWith(".goose-tmp-"))).toEqual([]);
    const listed = await runGoose(
      ["snapshot", "list", "sandbox", "--store", `file://${storeDir}`, "--json"],
      { cwd, env: env() },
    );
    for (const s of JSON.parse(listed.stdout).snapshots as Array<{ id: string }>) {
      const v = await runGoose(["snapshot", "verify", s.id, "--store", `file://${storeDir}`], {
        cwd,
        env: env(),
      });
      expect(v.code, v.stderr).toBe(0);
    }
  }, 900_000);
});
