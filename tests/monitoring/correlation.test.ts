/**
 * Alert correlation (monitoring/config/correlation.yaml → alertmanager.yml) with a real
 * Alertmanager on loopback and a webhook receiver: which alerts collapse into one notification and
 * which are silenced. The rendered grouping and inhibition rules are used as they are; only the
 * receivers point at the test webhook and the group waits are short so the test does not wait.
 */
import { createServer, type Server } from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { loadCorrelationFile } from "../../src/monitoring/correlation.js";
import { freePort, REPO_ROOT, run, startServer, tempDir, tool } from "./tools.js";

const CONFIG = path.join(REPO_ROOT, "monitoring/alertmanager/alertmanager.yml");

interface Notification {
  receiver: string;
  groupLabels: Record<string, string>;
  alerts: { labels: Record<string, string> }[];
}

let base = "";
let webhook: Server | undefined;
const received: Notification[] = [];
let am: Awaited<ReturnType<typeof startServer>> | undefined;

beforeAll(async () => {
  webhook = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      received.push(JSON.parse(body) as Notification);
      res.end("ok");
    });
  });
  await new Promise<void>((r) => webhook!.listen(0, "127.0.0.1", r));
  const addr = webhook.address();
  const hook = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;

  const cfg = parse(readFileSync(CONFIG, "utf8")) as {
    route: Record<string, unknown> & { routes: Record<string, unknown>[] };
    receivers: { name: string }[];
  };
  cfg.route["group_wait"] = "1s";
  cfg.route["group_interval"] = "1s";
  for (const r of cfg.route.routes) if (r["group_wait"]) r["group_wait"] = "1s";
  cfg.receivers = cfg.receivers.map((r) =>
    r.name === "null" ? r : { name: r.name, webhook_configs: [{ url: `${hook}/${r.name}` }] },
  );
  const dir = tempDir("am-corr");
  const file = path.join(dir, "alertmanager.yml");
  writeFileSync(file, stringify(cfg));
  const check = await run(tool("amtool"), ["check-config", file]);
  expect(check.code, check.stdout + check.stderr).toBe(0);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  am = await startServer(
    tool("prometheus-alertmanager"),
    [
      `--config.file=${file}`,
      `--storage.path=${path.join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--cluster.listen-address=",
    ],
    `${base}/-/ready`,
  );
});

afterAll(async () => {
  await am?.stop();
  webhook?.close();
});

// startsAt is set when posting: an alert that started more than group_wait ago is flushed at once.
const alert = (labels: Record<string, string>) => ({
  labels,
  annotations: { summary: labels["alertname"] ?? "" },
});

async function post(alerts: ReturnType<typeof alert>[]): Promise<void> {
  const res = await fetch(`${base}/api/v2/alerts`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(alerts.map((a) => ({ ...a, startsAt: new Date().toISOString() }))),
  });
  expect(res.status).toBe(200);
}

type AmAlert = {
  labels: Record<string, string>;
  status: { state: string; inhibitedBy: string[] };
};

/** Alertmanager's view of the stage's alerts, once every one of them has been processed. */
async function statesOf(stage: string, count: number): Promise<AmAlert[]> {
  for (;;) {
    const list = (await (await fetch(`${base}/api/v2/alerts`)).json()) as AmAlert[];
    const mine = list.filter((a) => a.labels["stage"] === stage);
    if (mine.length === count && mine.every((a) => a.status.state !== "unprocessed")) return mine;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits for the notifications of `stage` until `done` says they are complete. */
async function notificationsOf(
  stage: string,
  done: (n: Notification[]) => boolean,
): Promise<Notification[]> {
  for (;;) {
    const mine = received.filter((n) => n.groupLabels["stage"] === stage);
    if (done(mine)) return mine;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const names = (n: Notification) =>
  n.alerts
    .map(
      (a) =>
        `${a.labels["alertname"]}${a.labels["component"] ? `/${a.labels["component"]}` : ""}${a.labels["level"] ? `/${a.labels["level"]}` : ""}`,
    )
    .sort();

describe("correlation with a real Alertmanager", () => {
  it("the rules come from correlation.yaml", () => {
    const c = loadCorrelationFile(path.join(REPO_ROOT, "monitoring/config/correlation.yaml"));
    const rendered = parse(readFileSync(CONFIG, "utf8")) as {
      route: { group_by: string[] };
      inhibit_rules: { source_matchers: string[]; target_matchers: string[]; equal: string[] }[];
    };
    expect(rendered.route.group_by).toEqual(c.groupBy);
    expect(rendered.inhibit_rules).toEqual(
      c.inhibitions.map((i) => ({
        source_matchers: i.source,
        target_matchers: i.target,
        equal: i.equal,
      })),
    );
  });

  it("a stage down silences its component alerts: one page for the stage", async () => {
    const p = { stage: "production" };
    await post([
      alert({ alertname: "GoldenGooseStageDown", severity: "critical", ...p }),
      alert({
        alertname: "GoldenGooseTargetDown",
        severity: "warning",
        job: "service",
        instance: "svc-0",
        level: "critical",
        ...p,
      }),
      alert({
        alertname: "GoldenGooseTargetDown",
        severity: "warning",
        job: "service",
        instance: "svc-0",
        level: "standard",
        ...p,
      }),
      alert({ alertname: "GoldenGooseGrafanaDown", severity: "warning", job: "grafana", ...p }),
      alert({
        alertname: "GoldenGooseBackupStale",
        severity: "critical",
        component: "prometheus",
        ...p,
      }),
      alert({
        alertname: "GoldenGoosePushgatewayGroupStale",
        severity: "warning",
        job: "goldengoose-scanner",
        ...p,
      }),
    ]);
    const states = await statesOf("production", 6);
    for (const a of states) {
      if (a.labels["alertname"] === "GoldenGooseStageDown") {
        expect(a.status.state).toBe("active");
      } else {
        expect(a.status.state, a.labels["alertname"]).toBe("suppressed");
        expect(a.status.inhibitedBy).toHaveLength(1);
      }
    }
    const sent = await notificationsOf("production", (n) => n.length >= 1);
    expect(sent.map((n) => [n.receiver, names(n)])).toEqual([["pager", ["GoldenGooseStageDown"]]]);
  });

  it("a target down at every metric level is one notification; another stage is not silenced", async () => {
    const c = { stage: "compliance", job: "service", instance: "svc-0", severity: "warning" };
    await post(
      ["critical", "standard", "debug"].map((level) =>
        alert({ alertname: "GoldenGooseTargetDown", level, ...c }),
      ),
    );
    const states = await statesOf("compliance", 3);
    expect(states.map((a) => a.status.state)).toEqual(["active", "active", "active"]);
    // Every notification is for the one group, and the latest carries all three alerts.
    const sent = await notificationsOf("compliance", (n) => n.some((x) => x.alerts.length === 3));
    for (const n of sent) {
      expect(n.receiver).toBe("ticket");
      expect(n.groupLabels).toEqual({
        alertname: "GoldenGooseTargetDown",
        stage: "compliance",
        job: "service",
      });
    }
    expect(names(sent[sent.length - 1]!)).toEqual([
      "GoldenGooseTargetDown/critical",
      "GoldenGooseTargetDown/debug",
      "GoldenGooseTargetDown/standard",
    ]);
  });

  it("a backup failure and its stale alert do not both go out; the stale group alert is silenced", async () => {
    const s = { stage: "sandbox" };
    await post([
      alert({
        alertname: "GoldenGooseBackupStale",
        severity: "critical",
        component: "prometheus",
        ...s,
      }),
      alert({
        alertname: "GoldenGooseBackupFailed",
        severity: "warning",
        component: "prometheus",
        ...s,
      }),
      alert({
        alertname: "GoldenGooseBackupFailed",
        severity: "warning",
        component: "grafana",
        ...s,
      }),
      alert({
        alertname: "GoldenGoosePushgatewayGroupStale",
        severity: "warning",
        job: "goldengoose-backup",
        component: "prometheus",
        ...s,
      }),
    ]);
    const states = await statesOf("sandbox", 4);
    const state = (name: string, component: string) =>
      states.find((a) => a.labels["alertname"] === name && a.labels["component"] === component)
        ?.status.state;
    expect(state("GoldenGooseBackupStale", "prometheus")).toBe("active");
    expect(state("GoldenGooseBackupFailed", "prometheus")).toBe("suppressed");
    expect(state("GoldenGooseBackupFailed", "grafana")).toBe("active");
    expect(state("GoldenGoosePushgatewayGroupStale", "prometheus")).toBe("suppressed");
    const sent = await notificationsOf("sandbox", (n) => n.length >= 2);
    // Sandbox criticals open a ticket instead of paging (alertmanager-routes.yaml).
    expect(sent.map((n) => [n.receiver, names(n)]).sort()).toEqual([
      ["ticket", ["GoldenGooseBackupFailed/grafana"]],
      ["ticket", ["GoldenGooseBackupStale/prometheus"]],
    ]);
  });
});
