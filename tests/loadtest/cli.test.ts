import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, type DefaultTreeAdapterMap } from "parse5";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openLocks } from "../../src/locks/index.js";
import { LOADTEST_METRICS } from "../../src/loadtest/index.js";
import { runLoadTest } from "../../src/workflows/loadtest/index.js";
import { openStore } from "../../src/store/index.js";
import {
  goose,
  ROBUST_CONFIG,
  ROBUST_DELAY_MS,
  startServer,
  tempDir,
  testConfig,
  type TestServer,
} from "./helpers.js";

type Node = DefaultTreeAdapterMap["node"];
type Element = DefaultTreeAdapterMap["element"];

let server: TestServer;
let work: { dir: string; cleanup: () => void };

beforeAll(async () => {
  server = await startServer();
  work = tempDir();
  writeFileSync(join(work.dir, "cfg.yaml"), testConfig(ROBUST_CONFIG));
});
afterAll(async () => {
  await server.close();
  work.cleanup();
});

const run = (...extra: string[]) =>
  goose(
    [
      "loadtest",
      "run",
      "sandbox",
      "--scenario",
      "quick",
      "--target",
      server.url,
      "--config",
      "cfg.yaml",
      "--json",
      ...extra,
    ],
    work.dir,
  );

function served(): number {
  return [...server.paths.values()].reduce((a, b) => a + b, 0);
}

function reportsOf(r: { json: () => Record<string, unknown> }): Record<string, string> {
  return r.json().reports as Record<string, string>;
}

function elements(node: Node, tag: string, out: Element[] = []): Element[] {
  if ("tagName" in node && node.tagName === tag) out.push(node);
  if ("childNodes" in node) for (const c of node.childNodes) elements(c, tag, out);
  if ("content" in node && node.content) elements(node.content, tag, out);
  return out;
}
const attr = (e: Element, name: string) => e.attrs.find((a) => a.name === name)?.value;

describe("goose loadtest run against loopback servers", () => {
  let fastReport = "";
  let slowReport = "";

  it("records a baseline from a fast server (warn: nothing to compare yet)", async () => {
    const r = await run("--save-baseline", "--note", "loopback test server");
    expect(r.code).toBe(0);
    // --json: one JSON document on stdout, the human summary on stderr.
    expect(r.stdout.trim().startsWith("{")).toBe(true);
    expect(r.stderr).toContain("loadtest quick on sandbox");
    const j = r.json();
    expect(j).toMatchObject({ verdict: "warn", baseline: { compared: false, saved: true } });
    const file = JSON.parse(
      readFileSync(join(work.dir, "load-test/baseline/sandbox.json"), "utf8"),
    );
    expect(file.stage).toBe("sandbox");
    expect(file.scenarios.quick.parameters.phases).toEqual([
      { connections: 2, durationSeconds: 2 },
    ]);
    expect(file.scenarios.quick.note).toBe("loopback test server");
    expect(file.scenarios.quick.metrics.requests).toBeGreaterThan(0);
  });

  it("a fast server passes against its baseline; piped, progress comes as plain lines on stderr", async () => {
    const r = await goose(
      [
        "loadtest",
        "run",
        "sandbox",
        "--scenario",
        "quick",
        "--target",
        server.url,
        "--config",
        "cfg.yaml",
        "--json",
      ],
      work.dir,
      // Every update (default: one line per 10 s, none for a 2-second run).
      { GOOSE_PROGRESS_SECONDS: "0" },
    );
    expect(r.code).toBe(0);
    const ESC = String.fromCharCode(27);
    expect(r.stderr).toMatch(/^quick phase 1\/1 \d+\/2s +\d+ responses .*$/m);
    expect(r.stderr).not.toContain("\r");
    expect(r.stderr).not.toContain(ESC);
    expect(r.stdout).not.toContain("phase 1/1");
    const j = r.json();
    expect(j).toMatchObject({
      verdict: "pass",
      score: 100,
      baseline: { compared: true, saved: false },
    });
    const criteria = j.criteria as Array<{ kind: string; status: string }>;
    expect(criteria.filter((c) => c.kind === "tolerance")).toHaveLength(3);
    fastReport = reportsOf(r).json!;
  });

  it("the stage is an argument; the old --stage still works with a note naming the new spelling", async () => {
    const args = ["--scenario", "quick", "--target", server.url, "--config", "cfg.yaml"];
    const old = await goose(["loadtest", "run", "--stage", "sandbox", ...args, "--json"], work.dir);
    expect(old.code, old.stderr).toBe(0);
    expect(old.json()).toMatchObject({ stage: "sandbox", verdict: "pass" });
    expect(old.stderr).toContain(
      `--stage is deprecated for loadtest run; the stage is an argument, as everywhere: \`goose loadtest run sandbox --scenario quick --target ${server.url} --config cfg.yaml\``,
    );
    const twice = await goose(
      ["loadtest", "run", "sandbox", "--stage", "compliance", ...args],
      work.dir,
    );
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('two stages: "sandbox" and --stage "compliance"');
    const none = await goose(["loadtest", "run", ...args], work.dir);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(
      `fix: name it first: \`goose loadtest run sandbox --scenario quick --target ${server.url} --config cfg.yaml\``,
    );
    const typo = await goose(["loadtest", "run", "sandbx", ...args], work.dir);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('did you mean "sandbox"');
  });

  it("injected latency fails against the baseline with exit 1", async () => {
    server.setDelay(ROBUST_DELAY_MS);
    try {
      const r = await run();
      expect(r.code).toBe(1);
      const j = r.json();
      expect(j.verdict).toBe("fail");
      const p99 = (j.criteria as Array<Record<string, unknown>>).find(
        (c) => c.kind === "tolerance" && c.metric === "p99",
      );
      expect(p99).toMatchObject({ status: "fail", key: true });
      expect((j.reasons as string[]).join("\n")).toMatch(/p99 .* vs baseline .*\(key criterion\)/);
      slowReport = reportsOf(r).json!;
    } finally {
      server.setDelay(0);
    }
  });

  it("injected errors fail with exit 1", async () => {
    server.setErrorEvery(5);
    try {
      // As on a terminal: a live progress line on stderr.
      const r = await goose(
        [
          "loadtest",
          "run",
          "sandbox",
          "--scenario",
          "quick",
          "--target",
          server.url,
          "--config",
          "cfg.yaml",
          "--json",
        ],
        work.dir,
        {},
        true,
      );
      const ESC = String.fromCharCode(27);
      expect(r.stderr).toContain(`\r${ESC}[2Kquick phase 1/1 `);
      expect(r.stderr).toMatch(/quick phase 1\/1 \d+\/2s +\d+ responses/);
      expect(r.code).toBe(1);
      const j = r.json();
      expect(j.verdict).toBe("fail");
      expect((j.metrics as { errorRate: number }).errorRate).toBeCloseTo(0.2, 1);
      expect((j.reasons as string[]).join("\n")).toContain('threshold "errors < 1%" failed');
    } finally {
      server.setErrorEvery(0);
    }
  });

  it("a changed load parameter refuses the comparison (exit 2) before sending a request", async () => {
    writeFileSync(join(work.dir, "cfg3.yaml"), testConfig({ ...ROBUST_CONFIG, connections: 3 }));
    const before = served();
    const r = await goose(
      [
        "loadtest",
        "run",
        "sandbox",
        "--scenario",
        "quick",
        "--target",
        server.url,
        "--config",
        "cfg3.yaml",
      ],
      work.dir,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("refusing to compare");
    expect(r.stderr).toContain("phases[0].connections: baseline 2, this run 3");
    expect(r.stderr).toContain("--save-baseline");
    expect(served()).toBe(before);
  });

  it("writes a well-formed, self-contained HTML report with the latency chart and comparison table", () => {
    const htmlPath = fastReport.replace(/\.json$/, ".html");
    const html = readFileSync(htmlPath, "utf8");
    const errors: string[] = [];
    const doc = parse(html, {
      onParseError: (e) => errors.push(`${e.code} at line ${e.startLine}`),
    });
    expect(errors).toEqual([]);
    const svgs = elements(doc, "svg");
    const chart = svgs.find((s) => attr(s, "id") === "latency-chart");
    expect(chart).toBeDefined();
    const lines = elements(chart!, "polyline").map((p) => attr(p, "data-series"));
    expect(lines).toEqual(["p50", "p90", "p99"]);
    for (const p of elements(chart!, "polyline"))
      expect(attr(p, "points")).toMatch(/^\d+(\.\d+)?,\d+(\.\d+)?/);
    const table = elements(doc, "table").find((t) => attr(t, "id") === "comparison");
    expect(elements(table!, "tr").length).toBeGreaterThan(3);
    expect(html).toContain("PASS");
    // No external assets: no scripts, stylesheets or images fetched from anywhere.
    expect(elements(doc, "script")).toEqual([]);
    expect(elements(doc, "link")).toEqual([]);
    expect(elements(doc, "img")).toEqual([]);
    expect(html).not.toMatch(/(src|href)=/);
  });

  it("writes the Markdown summary and Prometheus metrics that promtool accepts", () => {
    const md = readFileSync(fastReport.replace(/\.json$/, ".md"), "utf8");
    expect(md).toMatch(/^# Load test quick on sandbox: PASS \(score 100\)/);
    expect(md).toContain("| tolerance | p99 <= +25% (floor 250ms) |");
    const prom = readFileSync(fastReport.replace(/\.json$/, ".prom"), "utf8");
    expect(prom).toContain(
      `${LOADTEST_METRICS.verdict}{stage="sandbox",scenario="quick",verdict="pass"} 1`,
    );
    expect(prom).toMatch(
      new RegExp(
        `${LOADTEST_METRICS.latency}\\{stage="sandbox",scenario="quick",quantile="0.99"\\} \\d`,
      ),
    );
    const check = spawnSync("promtool", ["check", "metrics"], { input: prom, encoding: "utf8" });
    if (check.error) throw new Error("promtool is missing: apt-get install prometheus");
    expect(check.stdout + check.stderr).toBe("");
    expect(check.status).toBe(0);
  });

  it("goose loadtest compare A B: the same figures pass, a slower candidate fails, exit codes follow", async () => {
    const same = await goose(
      ["loadtest", "compare", fastReport, fastReport, "--config", "cfg.yaml", "--json"],
      work.dir,
    );
    expect(same.code).toBe(0);
    expect(same.json()).toMatchObject({ verdict: "pass", stage: "sandbox", scenario: "quick" });
    const worse = await goose(
      ["loadtest", "compare", fastReport, slowReport, "--config", "cfg.yaml"],
      work.dir,
    );
    expect(worse.code).toBe(1);
    expect(worse.stdout).toContain("compare quick on sandbox: FAIL");
    const vsBaseline = await goose(
      [
        "loadtest",
        "compare",
        "load-test/baseline/sandbox.json",
        fastReport,
        "--config",
        "cfg.yaml",
        "--json",
      ],
      work.dir,
    );
    expect(vsBaseline.code).toBe(0);
  });

  it("goose loadtest compare refuses reports with different parameters (exit 2)", async () => {
    writeFileSync(join(work.dir, "cfg-r.yaml"), testConfig({ duration: "500ms" }));
    const r = await goose(
      [
        "loadtest",
        "run",
        "sandbox",
        "--scenario",
        "quick",
        "--target",
        server.url,
        "--config",
        "cfg-r.yaml",
        "--baseline",
        "other.json",
        "--json",
      ],
      work.dir,
    );
    expect(r.code).toBe(0);
    const other = reportsOf(r).json!;
    const c = await goose(
      ["loadtest", "compare", fastReport, other, "--config", "cfg.yaml"],
      work.dir,
    );
    expect(c.code).toBe(2);
    // A is the reference, B the candidate: each value is named with its own file.
    expect(c.stderr).toContain(
      `phases[0].durationSeconds: reference (A, ${fastReport}) 2, candidate (B, ${other}) 0.5`,
    );
  });
});

describe("load test and stage leases", () => {
  it("refuses to run while a promotion holds the stage (exit 1), and sends nothing", async () => {
    const t = tempDir();
    const s = await startServer();
    try {
      writeFileSync(join(t.dir, "cfg.yaml"), testConfig());
      const locks = openLocks(openStore("file://store", {}, { cwd: t.dir }));
      await locks.acquire("compliance", "promotion", {
        ttlSeconds: 300,
        holder: "release-bot",
        reason: "promote 1.2",
      });
      const r = await goose(
        [
          "loadtest",
          "run",
          "compliance",
          "--scenario",
          "quick",
          "--target",
          s.url,
          "--config",
          "cfg.yaml",
          "--store",
          "file://store",
        ],
        t.dir,
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("held by a promotion lease of release-bot");
      expect(s.paths.size).toBe(0);
      expect(existsSync(join(t.dir, "load-test/reports"))).toBe(false);
    } finally {
      await s.close();
      t.cleanup();
    }
  });

  it("holds a load-test lease while running and releases it afterwards", async () => {
    const t = tempDir();
    const s = await startServer();
    try {
      writeFileSync(join(t.dir, "cfg.yaml"), testConfig());
      const store = openStore("file://store", {}, { cwd: t.dir });
      const locks = openLocks(store);
      const seen: string[] = [];
      const checks: Array<Promise<void>> = [];
      const outcome = await runLoadTest({
        cwd: t.dir,
        env: {},
        stage: "production",
        scenario: "quick",
        target: s.url,
        configPath: "cfg.yaml",
        store,
        holder: "tester@ci",
        onProgress: () => {
          checks.push(
            locks
              .status("production")
              .then((ls) => void seen.push(...ls.map((l) => `${l.kind}:${l.holder}`))),
          );
        },
      });
      await Promise.all(checks);
      expect(seen).toContain("load-test:tester@ci");
      // While it held the stage, a promotion could not start; now it can.
      expect(await locks.status("production")).toEqual([]);
      expect(outcome.verdict.verdict).toBe("warn");
      expect(readdirSync(join(t.dir, "load-test/reports")).length).toBe(4);
    } finally {
      await s.close();
      t.cleanup();
    }
  });
});
