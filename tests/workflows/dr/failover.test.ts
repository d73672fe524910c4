/**
 * `goose dr failover` end to end with real parts: the compliance stage's rendered prometheus.yml,
 * alertmanager.yml and Alertmanager arguments, two real Prometheus and two real Alertmanager
 * (Debian's) on loopback, a webhook receiver on loopback; one of each killed with SIGKILL. The
 * peer timeout is shortened to 3 s (the stage's is 15 s) so the run stays short; every wait is a
 * bounded poll for the outcome, and the counts, not the durations, are asserted.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runGoose } from "../../helpers/cli.js";
import { REPO_ROOT, tmp } from "./fixtures.js";

interface Report {
  kind: string;
  result: string;
  replicas: { prometheus: number; alertmanager: number };
  killed: { prometheus?: string; alertmanager?: string };
  deliverySeconds?: number;
  failoverSeconds?: number;
  notifications: Array<{ from: string; status: string; alertnames: string[] }>;
  checks: Array<{ name: string; ok: boolean; detail: string }>;
  reports: { json: string; markdown: string };
  evidence: string;
  metrics: string;
}

const work = tmp("dr-failover");
const env = { PATH: process.env.PATH, GOOSE_EVIDENCE_KEY_FILE: path.join(work, "evidence.pem") };
const common = [
  "--store",
  `file://${path.join(work, "store")}`,
  "--report-dir",
  path.join(work, "reports"),
  "--metrics-dir",
  path.join(work, "metrics"),
  "--json",
];

describe("goose dr failover", () => {
  it("kills one Prometheus and one Alertmanager: every alert notified exactly once, the silence survives", async () => {
    const r = await runGoose(["dr", "failover", "compliance", "--peer-timeout", "3s", ...common], {
      cwd: REPO_ROOT,
      env,
    });
    const rep = JSON.parse(r.stdout) as Report;
    expect(
      rep.checks.filter((c) => !c.ok),
      r.stderr,
    ).toEqual([]);
    expect(r.code).toBe(0);
    expect(rep.kind).toBe("goldengoose.dr.failover/v1");
    expect(rep.result).toBe("pass");
    expect(rep.replicas).toEqual({ prometheus: 2, alertmanager: 2 });
    const firing = (name: string) =>
      rep.notifications.filter((n) => n.status === "firing" && n.alertnames.includes(name));
    const before = firing("GoldenGooseFailoverDrillBeforeKill");
    const after = firing("GoldenGooseFailoverDrillAfterKill");
    expect(before).toHaveLength(1);
    expect(after).toHaveLength(1);
    expect(firing("GoldenGooseFailoverDrillSilenced")).toHaveLength(0);
    // The Alertmanager that notified first was killed; the survivor notified after.
    expect(after[0]!.from).not.toBe(before[0]!.from);
    expect(rep.killed.alertmanager).toMatch(/^alertmanager-\d$/);
    expect(rep.killed.prometheus).toBe("prometheus-0");
    expect(rep.failoverSeconds).toBeGreaterThan(0);
    for (const name of [
      // The stage's Alertmanagers ask for basic auth, and Prometheus' alerting block has it.
      "alertmanager-auth",
      "alertmanager-cluster",
      "every-prometheus-sent-to-every-alertmanager",
      "silence-replicated",
      "silence-survives-kill",
      "no-repeat-after-kill",
    ]) {
      expect(rep.checks.find((c) => c.name === name)?.ok, name).toBe(true);
    }
    expect(readFileSync(rep.reports.markdown, "utf8")).toMatch(/^# Failover drill .*: PASS/);
    const metrics = readFileSync(
      path.join(work, "metrics", "goldengoose_dr_compliance_failover.prom"),
      "utf8",
    );
    expect(metrics).toMatch(
      /goldengoose_dr_failover_seconds\{stage="compliance",drill="failover"\} \d/,
    );
    expect(metrics).toMatch(/goldengoose_dr_last_result\{stage="compliance",drill="failover"\} 1/);
    const ev = await runGoose(
      [
        "evidence",
        "show",
        "--kind",
        "dr.failover",
        "--store",
        `file://${path.join(work, "store")}`,
        "--json",
      ],
      { cwd: REPO_ROOT, env },
    );
    expect(ev.code, ev.stderr).toBe(0);
    expect(ev.stdout).toContain(rep.evidence);
  }, 90_000);

  it("refuses a stage with one replica of each (exit 2, naming the settings)", async () => {
    const r = await runGoose(["dr", "failover", "sandbox", ...common], { cwd: REPO_ROOT, env });
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/prometheus\.alertmanagerReplicas/);
  });
});
