import { mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openStore } from "../../src/store/index.js";
import { markTransitionStart, recordTransition } from "../../src/workflows/transition-metrics.js";
import { checkTransition } from "../../src/workflows/promote/index.js";
import { renderPromotionMarkdown } from "../../src/workflows/promote/markdown.js";

describe("transition metrics", () => {
  it("accumulate counts in the store and go to a textfile without a Pushgateway", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "goose-tm-"));
    const store = openStore(`file://${dir}/store`, {});
    const sink = { textfileDir: path.join(dir, "metrics") };
    const at = new Date("2026-11-21T12:00:00Z");
    await recordTransition(store, sink, {
      kind: "promotion",
      stage: "compliance",
      from: "sandbox",
      result: "success",
      durationSeconds: 12.5,
      at,
    });
    const { published } = await recordTransition(store, sink, {
      kind: "promotion",
      stage: "compliance",
      from: "sandbox",
      result: "success",
      durationSeconds: 7.5,
      at,
    });
    const text = readFileSync(published, "utf8");
    expect(text).toMatch(
      /goldengoose_transitions_total\{from="sandbox",kind="promotion",result="success",stage="compliance"\} 2/,
    );
    expect(text).toMatch(/goldengoose_transition_duration_seconds_sum\{.*\} 20/);
    expect(text).toMatch(/goldengoose_transition_last_duration_seconds\{.*\} 7.5/);
    expect(text).toMatch(/goldengoose_transition_last_timestamp_seconds\{.*\} 1795262400/);
  });

  it("are pushed to a Pushgateway (PUT, grouping by kind and stage) when one is configured", async () => {
    const got: Array<{ method?: string; url?: string; body: string }> = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        got.push({ method: req.method, url: req.url, body });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const store = openStore(`file://${mkdtempSync(path.join(tmpdir(), "goose-tm-"))}`, {});
      await markTransitionStart(store, { pushgatewayUrl: url }, "promotion", "production");
      await recordTransition(
        store,
        { pushgatewayUrl: url },
        {
          kind: "promotion",
          stage: "production",
          from: "compliance",
          result: "failed",
          durationSeconds: 3,
          at: new Date(),
        },
      );
      expect(got.map((g) => `${g.method} ${g.url}`)).toEqual([
        "PUT /metrics/job/goldengoose-transitions/kind/promotion/stage/production",
        "PUT /metrics/job/goldengoose-transitions/kind/promotion/stage/production",
      ]);
      expect(got[0]?.body).toMatch(
        /goldengoose_transition_in_progress\{kind="promotion",stage="production"\} 1/,
      );
      expect(got[1]?.body).toMatch(
        /goldengoose_transition_in_progress\{kind="promotion",stage="production"\} 0/,
      );
      expect(got[1]?.body).toMatch(
        /goldengoose_transitions_total\{from="compliance",kind="promotion",result="failed",stage="production"\} 1/,
      );
    } finally {
      server.close();
    }
  });
});

describe("promotion rules and summary", () => {
  it("allows only the next stage", () => {
    expect(() => checkTransition("sandbox", "compliance")).not.toThrow();
    expect(() => checkTransition("compliance", "production")).not.toThrow();
    expect(() => checkTransition("sandbox", "production")).toThrow(
      /one stage forward only, to compliance/,
    );
    expect(() => checkTransition("production", "sandbox")).toThrow(
      /production: it is the last stage/,
    );
    expect(() => checkTransition("compliance", "compliance")).toThrow(/to production/);
  });

  it("renders a Markdown summary that says what failed and how to resume", () => {
    const md = renderPromotionMarkdown({
      kind: "goldengoose.promotion.report/v1",
      id: "promo-x",
      from: "compliance",
      to: "production",
      mode: "offline",
      actor: "bot",
      startedAt: "2026-11-21T12:00:00.000Z",
      finishedAt: "2026-11-21T12:00:05.000Z",
      durationMs: 5000,
      result: "failed",
      failure: {
        step: "supply-chain",
        gate: "vulnerabilities",
        reason: "1 finding | CRITICAL",
        fix: "upgrade",
        resume: "rerun",
      },
      steps: [
        {
          name: "supply-chain",
          status: "failed",
          durationMs: 1200,
          gates: [
            {
              gate: "vulnerabilities",
              verdict: "fail",
              summary: "a|b",
              details: {},
              subjects: [],
              durationMs: 3,
            },
          ],
          evidence: [],
          notes: [],
        },
      ],
      evidence: { records: 3 },
    });
    expect(md).toMatch(/## ❌ Promotion compliance → production failed/);
    expect(md).toMatch(/\*\*supply-chain \/ vulnerabilities\*\*: 1 finding \| CRITICAL/);
    expect(md).toMatch(/- resume: rerun/);
    expect(md).toMatch(/\| vulnerabilities \| ❌ fail \| a\\\|b \|/);
  });
});
