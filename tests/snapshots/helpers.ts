import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const fixturesDir = resolve(repoRoot, "../shared/fixtures/pulumi");
export const FIXTURES = ["checkpoint-v3.json", "checkpoint-v4.json", "checkpoint-secrets.json"];
export const UNSUPPORTED = "checkpoint-v4-unsupported-feature.json";
/** 32 bytes, base64: a test key, generated for these tests only. */
export const TEST_KEY = Buffer.alloc(32, 7).toString("base64");
export const OTHER_KEY = Buffer.alloc(32, 9).toString("base64");

export function fixture(name: string): string {
  return join(fixturesDir, name);
}

const made: string[] = [];
export function tempDir(prefix = "goose-snap-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}
export function cleanupTempDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Every file under a directory (recursively), as buffers. */
export function allFiles(dir: string): Array<{ path: string; body: Buffer }> {
  const out: Array<{ path: string; body: Buffer }> = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push({ path: p, body: readFileSync(p) });
    }
  };
  walk(dir);
  return out;
}

/** The plaintext secret values of the secrets fixture (b64 provider: ciphertext = base64(JSON)). */
export function fixtureSecrets(): string[] {
  const text = readFileSync(fixture("checkpoint-secrets.json"), "utf8");
  const out = new Set<string>();
  for (const m of text.matchAll(/"ciphertext":\s*"([^"]+)"/g)) {
    const b64 = m[1]!;
    out.add(b64);
    const decoded = JSON.parse(Buffer.from(b64, "base64").toString("utf8")) as unknown;
    const s = typeof decoded === "string" ? decoded : JSON.stringify(decoded);
    out.add(s);
  }
  return [...out].filter((s) => s.length >= 8);
}
