/**
 * docs/policies.md is generated from the pack and its stage configs: the checked-in page is what
 * the generator makes now (CI also runs `npm run generate -- --check`), and the page follows a
 * change of a stage config.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { policies } from "../../policy-pack/policies/index.js";
import { generatePolicyDoc, levelIn, renderPolicyDoc } from "../../scripts/policy-doc.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const config = (stage: string) =>
  JSON.parse(
    readFileSync(path.join(ROOT, "policy-pack/config", `${stage}.json`), "utf8"),
  ) as Record<string, unknown>;

describe("docs/policies.md", () => {
  it("is exactly what the generator makes from the pack", async () => {
    const checkedIn = readFileSync(path.join(ROOT, "docs/policies.md"), "utf8");
    expect(checkedIn).toBe(await generatePolicyDoc(ROOT));
  });

  it("lists every policy of the pack with its level in each stage", () => {
    const page = renderPolicyDoc(policies, {
      sandbox: config("sandbox"),
      compliance: config("compliance"),
      production: config("production"),
    });
    for (const p of policies) expect(page).toContain(`### ${p.name}`);
    expect(page).toMatch(
      /\| \[`k8s-image-pinned`\]\(#k8s-image-pinned\) \| high \| advisory \| mandatory \| mandatory \|/,
    );
  });

  it("follows a stage config: a per-policy level and property values", () => {
    const production: Record<string, unknown> = {
      ...config("production"),
      "k8s-probes": "advisory",
      "prometheus-retention": { minRetentionDays: 120 },
    };
    expect(levelIn(production, "k8s-probes")).toBe("advisory");
    expect(levelIn(production, "k8s-image-pinned")).toBe("mandatory");
    const page = renderPolicyDoc(policies, {
      sandbox: config("sandbox"),
      compliance: config("compliance"),
      production,
    });
    expect(page).toMatch(
      /\[`k8s-probes`\]\(#k8s-probes\) \| medium \| advisory \| mandatory \| advisory \|/,
    );
    expect(page).toMatch(/\| `minRetentionDays` \| `7` \| `30` \| `120` \|/);
  });
});
