import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { runGoose } from "../helpers/cli.js";

const repoRoot = resolve(import.meta.dirname, "../..");

describe("goose preview flags overdue rotations", () => {
  it("Grafana admin and Prometheus passwords older than production allows are mandatory violations", async () => {
    const store = `file://${mkdtempSync(join(tmpdir(), "goose-prevrot-"))}`;
    const env = {
      ...process.env,
      GOOSE_STORE: store,
      GOOSE_EVIDENCE_KEY: Buffer.alloc(32, 41).toString("base64"),
    };
    const at = new Date(Date.now() - 45 * 86_400_000).toISOString();
    for (const secret of ["grafana-admin", "prometheus-basic-auth"]) {
      const rec = await runGoose(["keys", "record", secret, "--stage", "production", "--at", at], {
        cwd: repoRoot,
        env,
      });
      expect(rec.code, rec.stderr).toBe(0);
    }
    const r = await runGoose(["preview", "production", "--offline", "--json"], {
      cwd: repoRoot,
      env,
    });
    const result = JSON.parse(r.stdout) as {
      violations: Array<{ policy: string; enforcementLevel: string; message: string }>;
    };
    const v = result.violations.filter((x) => x.policy === "secret-rotation-overdue");
    expect(v).toEqual([
      expect.objectContaining({
        enforcementLevel: "mandatory",
        message: expect.stringMatching(/^grafana-admin is 45 days old .*production allows 30/),
      }),
      // The Prometheus basic-auth password too, with the fix that runs as printed.
      expect.objectContaining({
        enforcementLevel: "mandatory",
        message: expect.stringMatching(
          /^prometheus-basic-auth is 45 days old .*production allows 30: .*; then run `pulumi up -s production && goose keys record prometheus-basic-auth --stage production`$/,
        ),
      }),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[mandatory\] {2}secret-rotation-overdue/);
  });
});
