/**
 * Metric priority levels (monitoring/config/metric-levels.yaml): the data, the rendered relabelling,
 * and a real Prometheus on loopback scraping a test target with each stage's rendered config:
 * debug metrics are stored in sandbox and absent in production, critical metrics in both.
 */
import { createServer, type Server } from "node:http";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { renderPrometheusConfig } from "../../src/components/prometheus-config.js";
import { loadStageConfigFile } from "../../src/config/index.js";
import type { StageName } from "../../src/config/stages.js";
import {
  keptLevels,
  levelOf,
  levelRelabelling,
  loadMetricLevels,
  loadMetricLevelsFile,
  parseMetricLevels,
} from "../../src/monitoring/levels.js";
import { freePort, REPO_ROOT, run, startServer, tempDir, tool } from "./tools.js";

const levels = loadMetricLevels();

/** What the test target exposes: one family per level, plus one no pattern claims. */
const EXPOSITION = [
  "# TYPE http_requests_total counter",
  'http_requests_total{code="200"} 42',
  "# TYPE goldengoose_backup_last_status gauge",
  'goldengoose_backup_last_status{component="prometheus"} 1',
  "# TYPE go_goroutines gauge",
  "go_goroutines 7",
  "# TYPE process_open_fds gauge",
  "process_open_fds 12",
  "# TYPE prometheus_tsdb_head_series gauge",
  "prometheus_tsdb_head_series 100",
  "# TYPE unlisted_things gauge",
  "unlisted_things 3",
  "",
].join("\n");

describe("metric levels data", () => {
  it("assigns each family to the first level whose patterns match, else the default", () => {
    expect(levelOf(levels, "http_requests_total")).toBe("critical");
    expect(levelOf(levels, "goldengoose_backup_last_status")).toBe("critical");
    expect(levelOf(levels, "push_time_seconds")).toBe("critical");
    // prometheus_.* is standard, but the rule-evaluation counters are claimed by critical first.
    expect(levelOf(levels, "prometheus_rule_evaluation_failures_total")).toBe("critical");
    expect(levelOf(levels, "prometheus_tsdb_head_series")).toBe("standard");
    expect(levelOf(levels, "go_goroutines")).toBe("debug");
    expect(levelOf(levels, "unlisted_things")).toBe(levels.defaultLevel);
  });

  it("keeps debug in sandbox, drops it in production, and never drops critical", () => {
    expect(keptLevels(levels, "sandbox")).toEqual(["critical", "standard", "debug"]);
    expect(keptLevels(levels, "production")).toEqual(["critical", "standard"]);
    const raw = parse(
      stringify({
        ...levels,
        stages: {
          ...levels.stages,
          production: {
            ...levels.stages.production,
            critical: { ...levels.stages.production.critical, keep: false },
          },
        },
      }),
    );
    expect(() => parseMetricLevels(raw)).toThrow(
      /stages\.production\.critical\.keep: true: critical metrics are never dropped/,
    );
  });

  it("relabels so each family is kept by exactly one level's scrape config", () => {
    const keeps = (level: "critical" | "standard" | "debug", name: string) =>
      levelRelabelling(levels, level).every((r) => {
        const hit = new RegExp(`^(?:${r.regex})$`).test(name);
        return r.action === "keep" ? hit : !hit;
      });
    for (const name of [
      "http_requests_total",
      "go_goroutines",
      "prometheus_tsdb_head_series",
      "prometheus_rule_evaluations_total",
      "unlisted_things",
    ]) {
      const by = (["critical", "standard", "debug"] as const).filter((l) => keeps(l, name));
      expect(by, name).toEqual([levelOf(levels, name)]);
    }
  });
});

describe("a real Prometheus scraping a test target with each stage's rendered config", () => {
  let target: Server | undefined;
  const servers: Awaited<ReturnType<typeof startServer>>[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    target?.close();
  });

  let port = 0;
  beforeAll(async () => {
    target = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(EXPOSITION);
    });
    await new Promise<void>((r) => target!.listen(0, "127.0.0.1", r));
    const addr = target.address();
    port = typeof addr === "object" && addr ? addr.port : 0;
  });

  /** Series of job="service" stored by a Prometheus running `stage`'s rendered prometheus.yml. */
  async function scrapeWith(stage: StageName): Promise<{ names: string[]; levels: string[] }> {
    const cfg = loadStageConfigFile(path.join(REPO_ROOT, `Pulumi.${stage}.yaml`));
    const rendered = parse(
      renderPrometheusConfig({
        ...cfg,
        prometheus: { ...cfg.prometheus, serviceTargets: [`127.0.0.1:${port}`] },
      }),
    ) as { rule_files?: string[]; scrape_configs: Record<string, unknown>[] };
    // Only the service target is reachable here; only intervals change (1s instead of up to
    // minutes, so the test does not wait): relabelling, labels and limits are as rendered.
    delete rendered.rule_files;
    rendered.scrape_configs = rendered.scrape_configs
      .filter((sc) => String(sc["job_name"]).startsWith("service-"))
      .map((sc) => ({ ...sc, scrape_interval: "1s", scrape_timeout: "1s" }));
    const dir = tempDir(`levels-${stage}`);
    mkdirSync(path.join(dir, "data"));
    const file = path.join(dir, "prometheus.yml");
    writeFileSync(file, stringify(rendered));
    const check = await run(tool("promtool"), ["check", "config", file]);
    expect(check.code, check.stdout + check.stderr).toBe(0);

    const promPort = await freePort();
    const base = `http://127.0.0.1:${promPort}`;
    const server = await startServer(
      tool("prometheus"),
      [
        `--config.file=${file}`,
        `--storage.tsdb.path=${path.join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      `${base}/-/ready`,
    );
    servers.push(server);
    const expected = keptLevels(levels, stage);
    type Series = Record<string, string>;
    // Wait (no time limit beyond the test's) until every kept level has been scraped.
    for (;;) {
      const up = (await (
        await fetch(`${base}/api/v1/query?query=${encodeURIComponent('up{job="service"} == 1')}`)
      ).json()) as { data: { result: { metric: Series }[] } };
      const scraped = new Set(up.data.result.map((r) => r.metric["level"]));
      if (expected.every((l) => scraped.has(l))) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    // A scrape's samples are committed together with its `up`, so every level's series are in.
    const res = await fetch(
      `${base}/api/v1/series?match[]=${encodeURIComponent('{job="service"}')}`,
    );
    const series = ((await res.json()) as { data: Series[] }).data;
    await server.stop();
    const names = [...new Set(series.map((s) => s["__name__"]!))].sort();
    for (const s of series.filter(
      (x) => !["up"].includes(x["__name__"]!) && !x["__name__"]!.startsWith("scrape_"),
    )) {
      expect(s["level"], s["__name__"]).toBe(levelOf(levels, s["__name__"]!));
      expect(s["stage"]).toBe(stage);
    }
    return { names, levels: [...new Set(series.map((s) => s["level"]!))].sort() };
  }

  it("sandbox stores debug metrics, production does not; both store critical and standard", async () => {
    const [sandbox, production] = await Promise.all([
      scrapeWith("sandbox"),
      scrapeWith("production"),
    ]);
    for (const critical of ["http_requests_total", "goldengoose_backup_last_status"]) {
      expect(sandbox.names).toContain(critical);
      expect(production.names).toContain(critical);
    }
    for (const standard of ["prometheus_tsdb_head_series", "unlisted_things"]) {
      expect(sandbox.names).toContain(standard);
      expect(production.names).toContain(standard);
    }
    expect(sandbox.names).toContain("go_goroutines");
    expect(sandbox.names).toContain("process_open_fds");
    expect(production.names).not.toContain("go_goroutines");
    expect(production.names).not.toContain("process_open_fds");
    expect(sandbox.levels).toEqual(["critical", "debug", "standard"]);
    expect(production.levels).toEqual(["critical", "standard"]);
  });
});

describe("metric levels loaded again in one process", () => {
  it("are parsed once per text; each load gets its own copy; an edited file is read anew", () => {
    const a = loadMetricLevels();
    const b = loadMetricLevels();
    expect(b).toEqual(a);
    expect(b).not.toBe(a);
    a.families.length = 0;
    expect(loadMetricLevels().families.length).toBeGreaterThan(0);
    const dir = tempDir("goose-levels-");
    const file = path.join(dir, "metric-levels.yaml");
    const text = stringify(parse(stringify(loadMetricLevels())));
    writeFileSync(file, text);
    expect(loadMetricLevelsFile(file).defaultLevel).toBe(loadMetricLevels().defaultLevel);
    const other = loadMetricLevels().defaultLevel === "debug" ? "standard" : "debug";
    writeFileSync(file, text.replace(/^defaultLevel: .*$/m, `defaultLevel: ${other}`));
    expect(loadMetricLevelsFile(file).defaultLevel).toBe(other);
  });
});
