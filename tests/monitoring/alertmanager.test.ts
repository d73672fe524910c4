/**
 * monitoring/alertmanager/alertmanager.yml with the real amtool (config check, routing) and a real
 * Alertmanager on loopback (inhibition of warnings by criticals).
 */
import { copyFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, REPO_ROOT, run, startServer, tempDir, tool } from "./tools.js";

const CONFIG = path.join(REPO_ROOT, "monitoring/alertmanager/alertmanager.yml");

async function route(labels: string[]): Promise<string> {
  const res = await run(tool("amtool"), [
    "config",
    "routes",
    "test",
    `--config.file=${CONFIG}`,
    ...labels,
  ]);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.trim();
}

describe("amtool", () => {
  it("check-config accepts the configuration", async () => {
    const res = await run(tool("amtool"), ["check-config", CONFIG]);
    expect(res.stdout).toContain("SUCCESS");
    expect(res.stdout).toMatch(/3 receivers/);
    expect(res.code).toBe(0);
  });

  it("routes a critical alert to the pager", async () => {
    const args = [
      "config",
      "routes",
      "test",
      `--config.file=${CONFIG}`,
      "--verify.receivers=pager",
      "alertname=GoldenGooseBackupStale",
      "severity=critical",
      "stage=production",
    ];
    const res = await run(tool("amtool"), args);
    expect(res.stdout.trim()).toBe("pager");
    expect(res.code).toBe(0);
  });

  it("routes a warning alert to the ticket queue, and refuses the pager for it", async () => {
    const labels = ["alertname=GoldenGooseScannerStale", "severity=warning", "stage=production"];
    expect(await route(labels)).toBe("ticket");
    const res = await run(tool("amtool"), [
      "config",
      "routes",
      "test",
      `--config.file=${CONFIG}`,
      "--verify.receivers=pager",
      ...labels,
    ]);
    expect(res.code).toBe(1);
  });

  it("opens only a ticket for a critical alert in sandbox, and drops info alerts", async () => {
    expect(await route(["severity=critical", "stage=sandbox"])).toBe("ticket");
    expect(await route(["severity=critical", "stage=compliance"])).toBe("pager");
    expect(await route(["severity=info", "stage=production"])).toBe("null");
  });
});

describe("a real Alertmanager on loopback", () => {
  let base = "";
  let server: Awaited<ReturnType<typeof startServer>> | undefined;

  beforeAll(async () => {
    const dir = tempDir("am");
    copyFileSync(CONFIG, path.join(dir, "alertmanager.yml"));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = await startServer(
      tool("prometheus-alertmanager"),
      [
        `--config.file=${path.join(dir, "alertmanager.yml")}`,
        `--storage.path=${path.join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--cluster.listen-address=",
      ],
      `${base}/-/ready`,
    );
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("inhibits the slow burn of an SLO while its fast burn fires, not other warnings", async () => {
    const now = new Date().toISOString();
    const alert = (name: string, labels: Record<string, string>) => ({
      labels: { alertname: name, stage: "production", job: "service", ...labels },
      annotations: { summary: name },
      startsAt: now,
    });
    const post = await fetch(`${base}/api/v2/alerts`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([
        alert("GoldenGooseAvailabilityBudgetFastBurn", {
          severity: "critical",
          slo: "availability",
        }),
        alert("GoldenGooseAvailabilityBudgetSlowBurn", {
          severity: "warning",
          slo: "availability",
        }),
        alert("GoldenGooseLatencyBudgetSlowBurn", { severity: "warning", slo: "latency" }),
        alert("GoldenGooseScannerStale", { severity: "warning", job: "pushgateway" }),
      ]),
    });
    expect(post.status).toBe(200);
    type Am = { labels: Record<string, string>; status: { state: string; inhibitedBy: string[] } };
    let states: Record<string, string> = {};
    for (let i = 0; i < 150; i++) {
      const list = (await (await fetch(`${base}/api/v2/alerts`)).json()) as Am[];
      states = Object.fromEntries(list.map((a) => [a.labels["alertname"]!, a.status.state]));
      if (
        Object.keys(states).length === 4 &&
        Object.values(states).every((s) => s !== "unprocessed")
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(states).toEqual({
      GoldenGooseAvailabilityBudgetFastBurn: "active",
      GoldenGooseAvailabilityBudgetSlowBurn: "suppressed",
      GoldenGooseLatencyBudgetSlowBurn: "active",
      GoldenGooseScannerStale: "active",
    });
  });
});
