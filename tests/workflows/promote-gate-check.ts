import { expect } from "vitest";
import { openEvidenceChain } from "../../src/evidence/index.js";
import { openStore } from "../../src/store/index.js";
import type { PromotionReport } from "../../src/workflows/promote/index.js";
import type { Workspace } from "./promote-fixture.js";

/** Runs a promotion that must stop at `step` (and `gate`), exit 1, and leave a recorded failure. */
export async function expectStopsAt(
  ws: Workspace,
  step: string,
  gate: string | undefined,
  reason: RegExp,
): Promise<PromotionReport> {
  const r = await ws.promote();
  if (!r.out) throw new Error(`no report on stdout (exit ${r.code}): ${r.err}`);
  const report = JSON.parse(r.out) as PromotionReport;
  expect(r.code, r.err).toBe(1);
  expect(report.result).toBe("failed");
  expect(report.failure).toMatchObject({ step, ...(gate ? { gate } : {}) });
  expect(report.failure?.reason).toMatch(reason);
  expect(report.failure?.fix.length).toBeGreaterThan(10);
  expect(report.failure?.resume).toMatch(/goose promote sandbox compliance --offline/);
  expect(r.err).toMatch(new RegExp(`step ${step}`));
  const idx = report.steps.findIndex((s) => s.name === step);
  expect(report.steps[idx]?.status).toBe("failed");
  expect(report.steps.slice(idx + 1).every((s) => s.status === "skipped")).toBe(true);
  if (idx < report.steps.findIndex((s) => s.name === "deploy"))
    expect(report.deployed).toBeUndefined();
  const chain = openEvidenceChain(openStore(ws.storeUrl, ws.env), ws.env);
  const failed = (await chain.list({ kind: "promotion.failed" })).filter(
    (rec) => rec.data.promotion === report.id,
  );
  expect(failed).toHaveLength(1);
  expect(failed[0]?.data).toMatchObject({ step, ...(gate ? { gate } : {}) });
  if (gate) {
    const gateRecs = (await chain.list({ kind: `gate.${gate}` })).filter(
      (rec) => rec.data.promotion === report.id,
    );
    expect(gateRecs.at(-1)?.data.verdict).toBe("fail");
  }
  expect((await chain.verify()).ok).toBe(true);
  return report;
}
