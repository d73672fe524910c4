import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openEvidenceChain } from "../../src/evidence/index.js";
import { openStore } from "../../src/store/index.js";
import type { EvidenceCheckReport } from "../../src/audit/index.js";
import type { PromotionReport } from "../../src/workflows/promote/index.js";
import { createWorkspace, type Workspace } from "../workflows/promote-fixture.js";

/**
 * The audit files drive a real promotion (offline engine, file store, loopback target): the
 * template redacts and checks every record, the collection rules fail a step that skips a
 * required record, and `goose evidence check` reports the gaps of a stage.
 */
describe("audit as data in a promotion", () => {
  let ws: Workspace;
  const rulesFile = () => path.join(ws.dir, "security/audit/collection-rules.yaml");
  let original = "";
  beforeAll(async () => {
    ws = await createWorkspace();
    original = readFileSync(rulesFile(), "utf8");
  });
  afterAll(async () => {
    await ws?.close();
  });

  it("a step that skips a record collection-rules.yaml requires fails the promotion", async () => {
    // The snapshot step must now also produce an SBOM gate record, which it does not.
    writeFileSync(
      rulesFile(),
      original.replace("snapshot: [snapshot]", "snapshot: [snapshot, gate.sbom]"),
    );
    const r = await ws.promote();
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out) as PromotionReport;
    expect(report.result).toBe("failed");
    expect(report.failure).toMatchObject({
      step: "snapshot",
      reason:
        "step snapshot produced no gate.sbom evidence, which security/audit/collection-rules.yaml requires of it",
    });
    expect(report.steps.find((s) => s.name === "deploy")?.status).toBe("skipped");
    // Its failure is itself recorded; the run up to the failed step is complete.
    const check = await ws.run(["evidence", "check", "compliance", "--json"]);
    const c = JSON.parse(check.out) as EvidenceCheckReport;
    expect(c.kind).toBe("goldengoose.evidence.check/v1");
    expect(c.runs).toEqual([
      {
        workflow: "promotion",
        run: report.id,
        outcome: "failed",
        failedStep: "snapshot",
        missing: [],
      },
    ]);
  });

  it("records fit the template (host redacted); evidence check passes, then reports a gap under a stricter rule", async () => {
    writeFileSync(rulesFile(), original);
    const r = await ws.promote();
    const report = JSON.parse(r.out) as PromotionReport;
    if (r.code !== 0)
      throw new Error(`promotion failed: ${JSON.stringify(report.failure)}\n${r.err}`);
    const chain = openEvidenceChain(openStore(ws.storeUrl, ws.env), ws.env);
    const started = (await chain.list({ kind: "promotion.started" })).find(
      (x) => x.data.promotion === report.id,
    );
    expect(started?.data.host).toBe("[redacted]");
    expect(started?.data.actor).toMatch(/^release-bot/);

    let check = await ws.run(["evidence", "check", "compliance"]);
    expect(check.code, check.out + check.err).toBe(0);
    expect(check.out).toContain(`ok    promotion ${report.id} (completed)`);
    expect(check.out).toMatch(/compliance: 2 run\(s\), \d+ record\(s\) checked .*: no gaps/);

    // A rule added after the fact: every completed run now lacks the new record.
    writeFileSync(
      rulesFile(),
      original.replace(
        "verify: [promotion.verify]",
        "verify: [promotion.verify, promotion.verify]",
      ),
    );
    check = await ws.run(["evidence", "check", "compliance", "--json"]);
    expect(check.code).toBe(1);
    const c = JSON.parse(check.out) as EvidenceCheckReport;
    expect(c.ok).toBe(false);
    expect(c.runs.find((x) => x.run === report.id)?.missing).toEqual(["verify: promotion.verify"]);
    expect(check.err).toContain(
      `GAP   promotion ${report.id} (completed): missing verify: promotion.verify`,
    );

    // A broken rules file is exit 2 naming file and line.
    writeFileSync(rulesFile(), original.replace("deploy: []", "deploy: {}"));
    check = await ws.run(["evidence", "check", "compliance"]);
    expect(check.code).toBe(2);
    expect(check.err).toMatch(
      /security\/audit\/collection-rules\.yaml:\d+: workflows\.promotion\.steps\.deploy: /,
    );
    expect((await ws.run(["evidence", "check", "staging"])).code).toBe(2);
    writeFileSync(rulesFile(), original);
  });
});
