import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { createWorkspace, type Workspace } from "./promote-fixture.js";
import { expectStopsAt } from "./promote-gate-check.js";

/** Replaces a workspace file for the duration of `fn`. */
async function withFile(
  ws: Workspace,
  rel: string,
  edit: (text: string) => string,
  fn: () => Promise<unknown>,
) {
  const file = path.join(ws.dir, rel);
  const original = readFileSync(file, "utf8");
  const changed = edit(original);
  if (changed === original) throw new Error(`the edit of ${rel} changed nothing`);
  writeFileSync(file, changed);
  try {
    await fn();
  } finally {
    writeFileSync(file, original);
  }
}

// Gates on what the target stage receives, each failing in turn on one workspace.
describe("promotion stops at a failing target gate", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await createWorkspace();
  });
  afterAll(async () => {
    await ws?.close();
  });

  it("sbom: an enrichment hash that the CycloneDX schema refuses", async () => {
    await withFile(
      ws,
      "security/sbom/enrichment.yaml",
      (t) => t + `  - npm: semver\n    hashes: [{ alg: SHA-256, content: "${"ab".repeat(25)}" }]\n`,
      () => expectStopsAt(ws, "supply-chain", "sbom", /does not validate against CycloneDX 1.6/),
    );
  });

  it("vulnerabilities: a CRITICAL finding at the compliance threshold", async () => {
    // The real form-data record, with its 4.x fix moved past the version we ship (4.0.6).
    await withFile(
      ws,
      "security/vulnerability-db.json",
      (t) => t.replace('"fixed": "4.0.4"', '"fixed": "4.0.99"'),
      () =>
        expectStopsAt(
          ws,
          "supply-chain",
          "vulnerabilities",
          /GHSA-fjxv-7rqg-78g4 in form-data@4\.0\.\d+ \(CRITICAL\)/,
        ),
    );
  });

  it("alerts: an alert without a unit test", async () => {
    await withFile(
      ws,
      "monitoring/prometheus/alerts.yaml",
      (t) =>
        t.replace(
          /(\n\s+rules:\n)/,
          `$1      - alert: GoldenGooseUntestedExample\n        expr: vector(1) > 2\n        labels: { severity: info }\n        annotations: { summary: x, description: x, runbook_url: https://example.org }\n`,
        ),
      () =>
        expectStopsAt(
          ws,
          "readiness",
          "alerts",
          /alert\(s\) without a promtool unit test: GoldenGooseUntestedExample/,
        ),
    );
  });

  it("policy: the target's preview has a mandatory violation", async () => {
    await withFile(
      ws,
      "Pulumi.compliance.yaml",
      (t) => t.replace(/anonymousAccess: false/, "anonymousAccess: true"),
      () =>
        expectStopsAt(
          ws,
          "readiness",
          "policy",
          /mandatory policy violation\(s\) in the compliance preview/,
        ),
    );
  });
});
