/**
 * `goose preview` end to end, in-process through `main(argv, io)`: the real stage program rendered
 * under mocks with the real stack files, the real policy pack (policy-pack/, built on demand)
 * started as the Pulumi CLI starts it. Exit codes and JSON shape per DESIGN.md.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runGoose } from "../helpers/cli.js";
import { formatPreview } from "../../src/cli/commands/preview.js";
import type { PreviewResult } from "../../src/engine/types.js";
import { makePack, removePacks, repoRoot } from "../engine/packs.js";

afterAll(() => removePacks());

function goose(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return runGoose(args, { cwd: repoRoot, env });
}

const tmp = mkdtempSync(join(tmpdir(), "goose-preview-"));

/** A copy of a shipped stack file with `edit` applied to its text. */
function stackFile(stage: string, edit: (text: string) => string): string {
  const dir = mkdtempSync(join(tmp, `${stage}-`));
  const f = join(dir, `Pulumi.${stage}.yaml`);
  writeFileSync(f, edit(readFileSync(join(repoRoot, `Pulumi.${stage}.yaml`), "utf8")));
  return f;
}

describe("goose preview: usage errors exit 2", () => {
  it("unknown stage", async () => {
    const r = await goose(["preview", "staging", "--offline"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /unknown stage "staging": expected one of sandbox, compliance, production/,
    );
  });
  it("no stage and no --all; both", async () => {
    expect((await goose(["preview", "--offline"])).code).toBe(2);
    const both = await goose(["preview", "sandbox", "--all", "--offline"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/a stage or --all, not both/);
  });
  it("missing stack file, policy config or pack", async () => {
    const r = await goose([
      "preview",
      "sandbox",
      "--offline",
      "--config-file",
      join(tmp, "nope.yaml"),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("nope.yaml");
    const c = await goose([
      "preview",
      "sandbox",
      "--offline",
      "--policy-pack-config",
      join(tmp, "nope.json"),
    ]);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/nope.json: ENOENT/);
    const p = await goose([
      "preview",
      "sandbox",
      "--offline",
      "--policy-pack",
      join(tmp, "nopack"),
    ]);
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/no policy pack at .*nopack/);
  });
  it("without --offline and no Pulumi CLI on PATH: the fix is named", async () => {
    const r = await goose(["preview", "sandbox"], {
      ...process.env,
      PATH: mkdtempSync(join(tmp, "path-")),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/install the Pulumi CLI, or use --offline/);
  });
  it("a bad --policy-timeout", async () => {
    const r = await goose(["preview", "sandbox", "--offline", "--policy-timeout", "soon"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--policy-timeout must be a number of seconds/);
  });
});

describe("goose preview --offline on the shipped stages", () => {
  it("--all: every stage is clean at its own enforcement; JSON per the contract", async () => {
    const r = await goose(["preview", "--all", "--offline", "--json"]);
    expect(r.stderr).toContain("all stages: passed");
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      stages: PreviewResult[];
      summary: Record<string, number>;
    };
    expect(doc.stages.map((s) => s.stage)).toEqual(["sandbox", "compliance", "production"]);
    for (const s of doc.stages) {
      expect(Object.keys(s).sort()).toEqual([
        "mode",
        "resources",
        "stage",
        "summary",
        "violations",
      ]);
      expect(s.mode).toBe("offline");
      // Sandbox ships without receiver credentials: preview says so, as an advisory.
      const advisories = s.stage === "sandbox" ? ["alertmanager-receivers-configured"] : [];
      expect(s.violations.map((v: { policy: string }) => v.policy)).toEqual(advisories);
      expect(s.summary).toEqual({
        resources: s.resources.length,
        mandatory: 0,
        advisory: advisories.length,
      });
      for (const res of s.resources) {
        expect(res.urn).toMatch(new RegExp(`^urn:pulumi:${s.stage}::golden-goose::`));
        expect(typeof res.type).toBe("string");
        expect(typeof res.name).toBe("string");
      }
      const types = s.resources.map((x) => x.type);
      expect(types[0]).toBe("pulumi:pulumi:Stack");
      expect(types).toContain("kubernetes:apps/v1:StatefulSet");
    }
    expect(doc.summary.mandatory).toBe(0);
  });

  it("production backing up to an in-cluster volume: mandatory violation, exit 1", async () => {
    const file = stackFile("production", (t) =>
      t
        .replace("target: s3", "target: volume")
        .replace("objectLockDays: 30", "objectLockDays: 0")
        // A backup volume serves one Prometheus replica (the schema refuses more).
        .replace("    replicas: 2\n", "    replicas: 1\n"),
    );
    const r = await goose(["preview", "production", "--offline", "--config-file", file, "--json"]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as PreviewResult;
    const v = doc.violations.find((x) => x.policy === "stack-backup-encrypted-s3");
    expect(v?.enforcementLevel).toBe("mandatory");
    expect(v?.message).toMatch(/S3/);
    expect(doc.summary.mandatory).toBeGreaterThan(0);
    // Human report on stderr under --json: grouped by policy with its level, then the summary.
    expect(r.stderr).toMatch(/\[mandatory\] {2}stack-backup-encrypted-s3 {2}\(golden-goose/);
    expect(r.stderr).toMatch(/production: FAILED: \d+ resources, \d+ mandatory/);
  });

  it("production requiring image digests (policy config): every workload flagged, exit 1", async () => {
    const cfg = JSON.parse(
      readFileSync(join(repoRoot, "policy-pack/config/production.json"), "utf8"),
    );
    cfg["k8s-image-pinned"] = { requireDigest: true };
    const f = join(tmp, "production-digest.json");
    writeFileSync(f, JSON.stringify(cfg));
    const r = await goose([
      "preview",
      "production",
      "--offline",
      "--policy-pack-config",
      f,
      "--json",
    ]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as PreviewResult;
    expect(doc.violations.filter((v) => v.policy === "k8s-image-pinned").length).toBeGreaterThan(0);
  });

  it("production with an image at `latest`: mandatory k8s-image-pinned violation, exit 1", async () => {
    const file = stackFile("production", (t) =>
      t.replace(/grafana\/grafana:[\w.]+/, "grafana/grafana:latest"),
    );
    const r = await goose(["preview", "production", "--offline", "--config-file", file, "--json"]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as PreviewResult;
    const v = doc.violations.filter((x) => x.policy === "k8s-image-pinned");
    // Grafana's container and its admin-password init container run that image.
    expect(v).toHaveLength(2);
    expect(v[0]?.enforcementLevel).toBe("mandatory");
    expect(v[0]?.message).toMatch(/grafana:latest/);
  });

  it("production with a container without limits: mandatory violation, exit 1", async () => {
    const file = stackFile("production", (t) =>
      t.replace(
        /(golden-goose:grafana:[\s\S]*?)\n {6}limits:\n {8}cpu: "?[\w.]+"?\n {8}memory: \w+/,
        "$1\n      limits: null",
      ),
    );
    expect(readFileSync(file, "utf8")).not.toEqual(
      readFileSync(join(repoRoot, "Pulumi.production.yaml"), "utf8"),
    );
    const r = await goose(["preview", "production", "--offline", "--config-file", file, "--json"]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as PreviewResult;
    const v = doc.violations.filter((x) => x.policy === "k8s-resources-requests-limits");
    expect(v.length).toBeGreaterThan(0);
    expect(v.every((x) => x.enforcementLevel === "mandatory")).toBe(true);
    expect(v.some((x) => /grafana/.test(x.urn ?? "") && /limits/.test(x.message))).toBe(true);
  });

  it("sandbox with an image at `latest`: the same rule is advisory, exit 0", async () => {
    const file = stackFile("sandbox", (t) =>
      t.replace(/grafana\/grafana:[\w.]+/, "grafana/grafana:latest"),
    );
    const r = await goose(["preview", "sandbox", "--offline", "--config-file", file, "--json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as PreviewResult;
    const v = doc.violations.filter((x) => x.policy === "k8s-image-pinned");
    // Grafana's container and its admin-password init container run that image.
    expect(v).toHaveLength(2);
    expect(v[0]?.enforcementLevel).toBe("advisory");
    expect(doc.summary.mandatory).toBe(0);
  });

  it("a malformed stack file never reaches the pack (exit 2, naming the key)", async () => {
    const bad = stackFile("sandbox", (t) => t.replace(/grafana\/grafana:[\w.]+/, "Grafana Image!"));
    const r = await goose(["preview", "sandbox", "--offline", "--config-file", bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/golden-goose:grafana\.image: expected an image reference/);
  });
});

describe("goose preview fails closed", () => {
  it("a pack that crashes: exit 2 with the pack's own message", async () => {
    const pack = makePack("crash", `throw new Error("policy bundle checksum mismatch");`, {
      "config/sandbox.json": "{}",
    });
    const r = await goose(["preview", "sandbox", "--offline", "--policy-pack", pack]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("policy bundle checksum mismatch");
  });

  it("a pack that hangs: exit 2 after --policy-timeout", async () => {
    const pack = makePack(
      "hang",
      `import { PolicyPack } from "@pulumi/policy";
new PolicyPack("hang", { policies: [{ name: "forever", description: "d",
  validateResource: () => new Promise<void>(() => undefined) }] });`,
    );
    writeFileSync(join(pack, "empty.json"), "{}");
    const r = await goose([
      "preview",
      "sandbox",
      "--offline",
      "--policy-pack",
      pack,
      "--policy-pack-config",
      join(pack, "empty.json"),
      "--policy-timeout",
      "2",
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/did not answer Analyze\(.*\) within 2 s/);
  });
});

describe("formatPreview", () => {
  it("groups by policy, mandatory first, with the level and a summary line", () => {
    const urn = (n: string) => `urn:pulumi:sandbox::golden-goose::a:b:C$aws:s3/bucket:Bucket::${n}`;
    const lines = formatPreview({
      stage: "sandbox",
      mode: "offline",
      resources: [],
      violations: [
        {
          policy: "s3-versioning",
          pack: "gg@v1",
          enforcementLevel: "advisory",
          urn: urn("a"),
          message: "turn it on",
        },
        {
          policy: "s3-kms",
          pack: "gg@v1",
          enforcementLevel: "mandatory",
          urn: urn("a"),
          message: "use KMS\nset sse",
        },
        {
          policy: "s3-versioning",
          pack: "gg@v1",
          enforcementLevel: "advisory",
          urn: urn("b"),
          message: "turn it on",
        },
        { policy: "quota", pack: "gg@v1", enforcementLevel: "advisory", message: "too many" },
      ],
      summary: { resources: 9, mandatory: 1, advisory: 3 },
    });
    expect(lines).toEqual([
      "Policy preview of sandbox (offline): 9 resources",
      "  [mandatory]  s3-kms  (gg@v1, 1 violation)",
      "    - aws:s3/bucket:Bucket: a: use KMS",
      "      set sse",
      "  [advisory]  quota  (gg@v1, 1 violation)",
      "    - (stack): too many",
      "  [advisory]  s3-versioning  (gg@v1, 2 violations)",
      "    - aws:s3/bucket:Bucket: a: turn it on",
      "    - aws:s3/bucket:Bucket: b: turn it on",
      "sandbox: FAILED: 9 resources, 1 mandatory, 3 advisory violations",
    ]);
  });
});
