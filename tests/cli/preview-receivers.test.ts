/**
 * A stage whose Alertmanager receiver credentials are set as encrypted stack config
 * (`pulumi config set --secret`) previews clean: the credentials become the Secret
 * `alertmanager-receivers`, which the pack accepts as filled from Pulumi secrets, and their
 * placeholders never reach the output.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { runGoose } from "../helpers/cli.js";

const repoRoot = resolve(import.meta.dirname, "../..");

describe("goose preview with encrypted receiver credentials", () => {
  it("renders the receivers Secret and passes the mandatory pack", async () => {
    const dir = mkdtempSync(join(tmpdir(), "goose-receivers-"));
    const file = join(dir, "Pulumi.compliance.yaml");
    writeFileSync(
      file,
      readFileSync(join(repoRoot, "Pulumi.compliance.yaml"), "utf8") +
        "  golden-goose:pagerdutyRoutingKey:\n    secure: v1:c2VjcmV0LXJvdXRpbmcta2V5\n" +
        "  golden-goose:ticketToken:\n    secure: v1:c2VjcmV0LXRpY2tldC10b2tlbg==\n",
    );
    const r = await runGoose(
      ["preview", "compliance", "--offline", "--config-file", file, "--json"],
      {
        cwd: repoRoot,
      },
    );
    expect(r.stderr).not.toContain("c2VjcmV0");
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as {
      resources: { type: string; name: string }[];
      summary: { mandatory: number };
    };
    expect(result.summary.mandatory).toBe(0);
    expect(
      result.resources.some(
        (x) => x.type === "kubernetes:core/v1:Secret" && x.name.endsWith("alertmanager-receivers"),
      ),
    ).toBe(true);
    expect(r.stdout).not.toContain("c2VjcmV0");
  });
});
