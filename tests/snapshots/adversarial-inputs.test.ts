/**
 * Issue 10 items 12, 13 and 15 for snapshots and stack files: bounded inputs with short, clear
 * errors (stack files, exports, `--out`, zod range messages), and the deployment versions
 * `pulumi stack import` accepts (1 and 2, migrated to 3; 4 with known features).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runGoose } from "../helpers/cli.js";
import { toImportable, validateExport } from "../../src/snapshots/index.js";
import { cleanupTempDirs, fixture, tempDir, TEST_KEY } from "./helpers.js";

afterAll(cleanupTempDirs);

const evidenceKey = () => join(tempDir(), "evidence.pem");

async function create(cwd: string, env: NodeJS.ProcessEnv, file: string) {
  const c = await runGoose(
    ["snapshot", "create", "sandbox", "--from-file", file, "--stack", "foo", "--json"],
    { cwd, env },
  );
  expect(c.code, c.stderr).toBe(0);
  return JSON.parse(c.stdout) as { id: string };
}

describe("12/13. bounded inputs and clear errors (stack files, exports, --out)", () => {
  const env = () => ({ GOOSE_SNAPSHOT_KEY: TEST_KEY, GOOSE_EVIDENCE_KEY_FILE: evidenceKey() });

  it("a 3 MB stack file full of unknown keys: exit 2, a short error naming the file and the limit", async () => {
    const cwd = tempDir();
    const lines = ["config:", "  golden-goose:stage: sandbox"];
    for (let i = 0; lines.join("\n").length < 3_000_000; i++) {
      for (let j = 0; j < 1000; j++) lines.push(`  golden-goose:unknownKey${i}x${j}: value-${j}`);
    }
    writeFileSync(join(cwd, "Pulumi.sandbox.yaml"), lines.join("\n") + "\n");
    const r = await runGoose(["snapshot", "prune", "sandbox", "--dry-run"], { cwd, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr.length).toBeLessThan(4000);
    expect(r.stderr).toContain("Pulumi.sandbox.yaml");
    expect(r.stderr).toMatch(/MB|MiB|bytes/);
  });

  it("a stack file with many unknown keys under the size limit: the error lists a few and counts the rest", async () => {
    const cwd = tempDir();
    const lines = ["config:", "  golden-goose:stage: sandbox"];
    for (let j = 0; j < 5000; j++) lines.push(`  golden-goose:k${j}: v`);
    writeFileSync(join(cwd, "Pulumi.sandbox.yaml"), lines.join("\n") + "\n");
    const r = await runGoose(["snapshot", "prune", "sandbox", "--dry-run"], { cwd, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr.length).toBeLessThan(8000);
    expect(r.stderr).toMatch(/and 49\d\d more/);
  });

  it("a 50 MB stack file is refused without being parsed", async () => {
    const cwd = tempDir();
    const big = Buffer.alloc(50 << 20, 0x20);
    big.write("config:\n  golden-goose:stage: sandbox\n");
    writeFileSync(join(cwd, "Pulumi.sandbox.yaml"), big);
    const r = await runGoose(["snapshot", "prune", "sandbox", "--dry-run"], { cwd, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Pulumi.sandbox.yaml");
    expect(r.stderr).toMatch(/larger than/);
  });

  it("an out-of-range number in a stack file names the file, key, the allowed range and the fix", async () => {
    const cwd = tempDir();
    writeFileSync(
      join(cwd, "Pulumi.sandbox.yaml"),
      "config:\n  golden-goose:stage: sandbox\n  golden-goose:snapshots:\n    keepLast: 0\n    maxAgeDays: 14\n",
    );
    const r = await runGoose(["snapshot", "prune", "sandbox", "--dry-run"], { cwd, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/expected Too small|Too small:/);
    expect(r.stderr).toContain("Pulumi.sandbox.yaml");
    expect(r.stderr).toContain("golden-goose:snapshots.keepLast");
    expect(r.stderr).toMatch(/at least 1/);
    expect(r.stderr).toMatch(/got 0/);
  });

  it("an export nested 100,000 levels deep: exit 2 naming the nesting, not 'Maximum call stack size exceeded'", async () => {
    const cwd = tempDir();
    const deep = "[".repeat(100_000) + "1" + "]".repeat(100_000);
    const file = join(cwd, "deep.json");
    writeFileSync(
      file,
      `{"version":3,"deployment":{"manifest":{"time":"2020-01-01T00:00:00Z","magic":"","version":""},"resources":[{"urn":"urn:pulumi:foo::p::t::n","type":"t","custom":false,"inputs":{"a":${deep}}}]}}`,
    );
    const r = await runGoose(["snapshot", "create", "sandbox", "--from-file", file], {
      cwd,
      env: env(),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/Maximum call stack/);
    expect(r.stderr).toMatch(/nested more than \d+ levels/);
    expect(r.stderr.length).toBeLessThan(4000);
  });

  it("an export larger than the configured bound is refused before anything is stored", async () => {
    const cwd = tempDir();
    const r = await runGoose(
      ["snapshot", "create", "sandbox", "--from-file", fixture("checkpoint-v3.json")],
      { cwd, env: { ...env(), GOOSE_SNAPSHOT_MAX_BYTES: "10000" } },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/larger than .*GOOSE_SNAPSHOT_MAX_BYTES/);
    expect(
      existsSync(join(cwd, ".goose", "snapshots", "sandbox"))
        ? readdirSync(join(cwd, ".goose", "snapshots", "sandbox")).filter((f) => !f.startsWith("."))
        : [],
    ).toEqual([]);
  });

  it("--out a directory or under a missing directory: exit 2 naming --out, no EISDIR/ENOENT", async () => {
    const cwd = tempDir();
    const s = await create(cwd, env(), fixture("checkpoint-v3.json"));
    mkdirSync(join(cwd, "adir"));
    for (const out of ["adir", join("missing", "deeper", "x.json")]) {
      const r = await runGoose(["snapshot", "restore", s.id, "--out", out], { cwd, env: env() });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain("--out");
      expect(r.stderr).not.toMatch(/EISDIR|ENOENT/);
    }
  });
});

/** The checkpoint-v3 fixture's deployment, written back as Pulumi's older schema versions. */
function olderVersion(version: 1 | 2, envelope: "export" | "checkpoint"): string {
  const doc = JSON.parse(readFileSync(fixture("checkpoint-v3.json"), "utf8")) as {
    checkpoint: {
      stack: string;
      latest: { manifest: unknown; resources: Array<Record<string, unknown>> };
    };
  };
  const latest = doc.checkpoint.latest;
  const v1Fields = [
    "urn",
    "custom",
    "delete",
    "id",
    "type",
    "inputs",
    "outputs",
    "parent",
    "protect",
    "dependencies",
    "initErrors",
  ];
  const v2Fields = [...v1Fields, "external", "provider"];
  const resources = latest.resources.map((r) => {
    const keep = version === 1 ? v1Fields : v2Fields;
    const out: Record<string, unknown> = {};
    for (const k of keep) if (k in r) out[k] = r[k];
    if (version === 1) {
      out.defaults = { name: String(r.urn).split("::").at(-1) };
      out.dependencies ??= [];
      out.initErrors ??= null;
    }
    return out;
  });
  const deployment = { manifest: latest.manifest, resources };
  const text =
    envelope === "export"
      ? { version, deployment }
      : { version, checkpoint: { stack: doc.checkpoint.stack, latest: deployment } };
  return JSON.stringify(text, null, 4);
}

describe("15. deployments of version 1 and 2 are taken (migrated to 3 as `pulumi stack import` does)", () => {
  for (const version of [1, 2] as const) {
    for (const envelope of ["export", "checkpoint"] as const) {
      it(`version ${version}, ${envelope}: create, verify, restore byte for byte; importable as version 3`, async () => {
        const cwd = tempDir();
        const env = { GOOSE_SNAPSHOT_KEY: TEST_KEY, GOOSE_EVIDENCE_KEY_FILE: evidenceKey() };
        const file = join(cwd, `v${version}.json`);
        writeFileSync(file, olderVersion(version, envelope));
        const c = await runGoose(
          ["snapshot", "create", "sandbox", "--from-file", file, "--stack", "foo", "--json"],
          { cwd, env },
        );
        expect(c.code, c.stderr).toBe(0);
        const m = JSON.parse(c.stdout) as {
          id: string;
          exportVersion: number;
          resourceCount: number;
        };
        expect(m.exportVersion).toBe(version);
        expect(m.resourceCount).toBe(30);
        const r = await runGoose(["snapshot", "restore", m.id, "--out", "back.json"], { cwd, env });
        expect(r.code, r.stderr).toBe(0);
        expect(readFileSync(join(cwd, "back.json")).equals(readFileSync(file))).toBe(true);

        const imp = JSON.parse(toImportable(readFileSync(file, "utf8"))) as {
          version: number;
          deployment: { resources: Array<Record<string, unknown>> };
        };
        expect(imp.version).toBe(3);
        for (const res of imp.deployment.resources) {
          expect(res).not.toHaveProperty("defaults");
          // UpToResourceV3: every input depends on all of the resource's dependencies.
          const inputs = Object.keys((res.inputs ?? {}) as object);
          expect(Object.keys((res.propertyDependencies ?? {}) as object).sort()).toEqual(
            inputs.sort(),
          );
        }
        expect(validateExport(JSON.stringify(imp), { stack: "foo" }).ok).toBe(true);
      });
    }
  }

  it("version 4 with known features is taken; 0, 5 and unknown features are not", async () => {
    expect(validateExport(readFileSync(fixture("checkpoint-v4.json"))).ok).toBe(true);
    expect(validateExport(readFileSync(fixture("checkpoint-v4-unsupported-feature.json"))).ok).toBe(
      false,
    );
    const v3 = JSON.parse(readFileSync(fixture("checkpoint-v3.json"), "utf8"));
    for (const version of [0, 5]) {
      const r = validateExport(JSON.stringify({ ...v3, version }));
      expect(r.ok).toBe(false);
      expect(r.errors[0]!.code).toBe("version");
    }
  });
});
