/**
 * The dashboards: Grafana JSON model essentials, every query valid PromQL (promtool), every
 * recording-rule metric a panel uses exists, and a real Prometheus on loopback, loaded with the
 * rule files, reports every group healthy and answers every dashboard query.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { loadMonitoringFiles, MONITORING_PATHS } from "../../src/monitoring/files.js";
import { THRESHOLD_SERIES } from "../../src/monitoring/rules.js";
import {
  freePort,
  PROM_DIR,
  readYaml,
  REPO_ROOT,
  run,
  startServer,
  tempDir,
  tool,
  type RuleFile,
} from "./tools.js";

const DASH_DIR = path.join(REPO_ROOT, MONITORING_PATHS.dashboards);
const FILES = readdirSync(DASH_DIR)
  .filter((f) => f.endsWith(".json"))
  .sort();

interface Target {
  refId?: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  type: string;
  title: string;
  targets?: Target[];
  datasource?: { type?: string; uid?: string };
  panels?: Panel[];
}
interface DashboardJson {
  id: unknown;
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: unknown }> };
}

const dashboards = FILES.map(
  (f) => [f, JSON.parse(readFileSync(path.join(DASH_DIR, f), "utf8")) as DashboardJson] as const,
);
const panelsOf = (d: DashboardJson) => d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queries = dashboards.flatMap(([file, d]) =>
  panelsOf(d).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ file, panel: p.title, refId: t.refId, expr: t.expr ?? "" })),
  ),
);

/** Grafana variables replaced as Grafana would, for one stage or for "All" (`.*`). */
function substitute(expr: string, stage = "production"): string {
  return expr
    .replaceAll("$__rate_interval", "5m")
    .replaceAll("$__interval", "1m")
    .replaceAll("$__range_s", "3600")
    .replaceAll("$__range", "1h")
    .replaceAll("$stage", stage)
    .replaceAll("$scenario", ".*");
}

const recordingNames = new Set([
  ...readYaml<RuleFile>(path.join(PROM_DIR, "recording.yaml")).groups.flatMap((g) =>
    g.rules.map((r) => r.record),
  ),
  ...Object.values(THRESHOLD_SERIES),
  // every threshold series a stage records (the DR group's included)
  ...readYaml<RuleFile>(path.join(PROM_DIR, "thresholds/production.yaml")).groups.flatMap((g) =>
    g.rules.map((r) => r.record),
  ),
]);

describe("dashboard JSON", () => {
  it("has the five dashboards", () => {
    expect(FILES).toEqual([
      "backups.json",
      "load-test.json",
      "prometheus.json",
      "security.json",
      "stage-overview.json",
    ]);
  });

  it("gives each a unique stable uid and a null id", () => {
    const uids = dashboards.map(([, d]) => d.uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const [file, d] of dashboards) {
      expect(d.id, file).toBeNull();
      expect(d.uid, file).toMatch(/^[a-z0-9-]{8,40}$/);
    }
  });

  it.each(dashboards)("%s has datasource and stage variables", (_f, d) => {
    const vars = Object.fromEntries(d.templating.list.map((v) => [v.name, v]));
    expect(vars["datasource"]?.type).toBe("datasource");
    expect(vars["datasource"]?.query).toBe("prometheus");
    expect(vars["stage"]?.type).toBe("query");
  });

  it.each(dashboards)(
    "%s: every query has an explicit unique refId, an expr and the datasource variable",
    (file, d) => {
      for (const p of panelsOf(d)) {
        if (p.type === "row") continue;
        expect(p.targets?.length, `${file} ${p.title}`).toBeGreaterThan(0);
        expect(p.datasource?.uid).toBe("${datasource}");
        const refIds = p.targets!.map((t) => t.refId);
        expect(new Set(refIds).size, `${file} ${p.title}`).toBe(refIds.length);
        for (const t of p.targets!) {
          expect(t.refId, `${file} ${p.title}`).toMatch(/^[A-Z]$/);
          expect(t.expr?.trim(), `${file} ${p.title}`).toBeTruthy();
          expect(t.datasource).toEqual({ type: "prometheus", uid: "${datasource}" });
        }
      }
    },
  );

  it("uses only recording-rule metrics that the rule files record", () => {
    const missing = queries.flatMap((q) =>
      (q.expr.match(/[a-z_]+:[a-z0-9_]+:[a-z0-9_]+/g) ?? [])
        .filter((m) => !recordingNames.has(m))
        .map((m) => `${q.file} "${q.panel}" ${q.refId}: ${m}`),
    );
    expect(missing).toEqual([]);
  });

  it("filters every query by the stage variable", () => {
    for (const q of queries) expect(q.expr, `${q.file} ${q.panel}`).toContain('stage=~"$stage"');
  });
});

describe("dashboard PromQL", () => {
  it("parses with promtool (as a throw-away rule file)", async () => {
    const dir = tempDir("dashq");
    const file = path.join(dir, "dashboard-queries.yaml");
    const rules = queries.map((q, i) => ({
      record: `dashboard:q${i}:expr`,
      expr: substitute(q.expr),
    }));
    writeFileSync(file, stringify({ groups: [{ name: "dashboards", rules }] }));
    const res = await run(tool("promtool"), ["check", "rules", file]);
    expect(res.stdout + res.stderr).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(res.code).toBe(0);
  });
});

describe("a real Prometheus on loopback with the rule files", () => {
  let base = "";
  let server: Awaited<ReturnType<typeof startServer>> | undefined;

  beforeAll(async () => {
    const prometheus = tool("prometheus");
    const dir = tempDir("prom");
    const rules = path.join(dir, "rules");
    mkdirSync(rules);
    for (const [name, content] of Object.entries(
      loadMonitoringFiles("production", REPO_ROOT).rules,
    )) {
      // The history groups run once per hour / day; evaluate them with the rest so the test does
      // not wait a day (their rules are unchanged).
      const doc = parse(content) as { groups: { interval?: string }[] };
      for (const g of doc.groups) delete g.interval;
      writeFileSync(path.join(rules, name), stringify(doc));
    }
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    writeFileSync(
      path.join(dir, "prometheus.yml"),
      stringify({
        global: {
          scrape_interval: "1s",
          evaluation_interval: "1s",
          external_labels: { stage: "production" },
        },
        rule_files: [`${rules}/*.yaml`],
        scrape_configs: [
          { job_name: "prometheus", static_configs: [{ targets: [`127.0.0.1:${port}`] }] },
        ],
      }),
    );
    server = await startServer(
      prometheus,
      [
        `--config.file=${path.join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${path.join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      `${base}/-/ready`,
    );
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("reports every rule group loaded, evaluated and healthy", async () => {
    const expected = ["recording.yaml", "alerts.yaml", "thresholds.yaml"].flatMap((f) =>
      readYaml<RuleFile>(
        path.join(PROM_DIR, f === "thresholds.yaml" ? "thresholds/production.yaml" : f),
      ).groups.map((g) => g.name),
    );
    type Rule = { name: string; health: string; lastError?: string; lastEvaluation: string };
    type Group = { name: string; rules: Rule[] };
    let groups: Group[] = [];
    for (let i = 0; i < 150; i++) {
      const body = (await (await fetch(`${base}/api/v1/rules`)).json()) as {
        data: { groups: Group[] };
      };
      groups = body.data.groups;
      const evaluated = groups.every((g) =>
        g.rules.every((r) => !r.lastEvaluation.startsWith("0001")),
      );
      if (groups.length === expected.length && evaluated) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(groups.map((g) => g.name).sort()).toEqual(expected.sort());
    const unhealthy = groups.flatMap((g) =>
      g.rules
        .filter((r) => r.health !== "ok")
        .map((r) => `${g.name}/${r.name}: ${r.health} ${r.lastError ?? ""}`),
    );
    expect(unhealthy, server?.log()).toEqual([]);
  });

  it("answers every dashboard query without error", async () => {
    const failures: string[] = [];
    await Promise.all(
      queries.map(async (q) => {
        const url = `${base}/api/v1/query?query=${encodeURIComponent(substitute(q.expr))}`;
        const body = (await (await fetch(url)).json()) as { status: string; error?: string };
        if (body.status !== "success")
          failures.push(`${q.file} "${q.panel}" ${q.refId}: ${body.error}`);
      }),
    );
    expect(failures).toEqual([]);
  });

  it("returns data for the self-monitoring panels once Prometheus has scraped itself", async () => {
    const self = queries.filter(
      (q) => q.file === "prometheus.json" && /job:up:avg|head_series/.test(q.expr),
    );
    expect(self.length).toBeGreaterThan(0);
    for (const q of self) {
      let result: unknown[] = [];
      for (let i = 0; i < 150 && result.length === 0; i++) {
        const url = `${base}/api/v1/query?query=${encodeURIComponent(substitute(q.expr, ".*"))}`;
        result = ((await (await fetch(url)).json()) as { data: { result: unknown[] } }).data.result;
        if (result.length === 0) await new Promise((r) => setTimeout(r, 200));
      }
      expect(result.length, `${q.panel}: ${q.expr}`).toBeGreaterThan(0);
    }
  });

  it("answers the stage variable's label_values query and the threshold series", async () => {
    const res = (await (await fetch(`${base}/api/v1/label/stage/values?match[]=up`)).json()) as {
      status: string;
    };
    expect(res.status).toBe("success");
    const q = encodeURIComponent(THRESHOLD_SERIES.availabilityObjective);
    const body = (await (await fetch(`${base}/api/v1/query?query=${q}`)).json()) as {
      data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
    };
    expect(body.data.result).toHaveLength(1);
    expect(body.data.result[0]!.metric["stage"]).toBe("production");
    expect(Number(body.data.result[0]!.value[1])).toBe(0.999);
  });
});
