/**
 * The backup gate: the source stage's last successful backup is recent enough. The backup
 * CronJob pushes `goldengoose_backup_last_success_timestamp_seconds{stage, component}` to the
 * Pushgateway; when a metrics URL is given (the Pushgateway's /metrics, or a Prometheus federate
 * URL) the oldest component's value is used; it is asked with the Pushgateway's credentials
 * (GOOSE_PUSHGATEWAY_PASSWORD(_FILE), src/monitoring/pushgateway-credentials.ts) when set. Otherwise the newest stack snapshot of the stage in
 * the store stands in. Older than the stage's backup interval warns; older than twice it fails.
 */
import { createHash } from "node:crypto";
import type { StageName } from "../config/stages.js";
import { BACKUP_METRICS } from "../config/metrics.js";
import { listSnapshots } from "../snapshots/index.js";
import type { ObjectStore } from "../store/types.js";
import { timed, type GateResult } from "./types.js";
import { pushgatewayAuthHeaders, unauthorizedHint } from "../monitoring/pushgateway-credentials.js";
import { DEFAULT_HINTS, HINTS, type HintContext } from "./hints.js";

export interface BackupGateInput {
  stage: StageName;
  store: ObjectStore;
  /** Hours between backups (StageConfig backup.intervalHours). */
  intervalHours: number;
  /** A Prometheus text-format endpoint with the backup metrics. */
  metricsUrl?: string;
  now?: Date;
  /** The flags the promotion ran with, so the fix's command runs as printed. */
  hints?: HintContext;
}

/** Values of `metric` for `stage` in Prometheus text exposition format, by component label. */
export function parseBackupTimestamps(
  text: string,
  metric: string,
  stage: StageName,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(metric)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== metric) continue;
    const labels = new Map<string, string>();
    for (const l of (m[3] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels.set(l[1] ?? "", l[2] ?? "");
    if (labels.get("stage") !== stage) continue;
    const v = Number(m[4]);
    if (Number.isFinite(v)) out.set(labels.get("component") ?? "", v);
  }
  return out;
}

export async function backupGate(input: BackupGateInput): Promise<GateResult> {
  return timed("backup", async () => {
    const now = input.now ?? new Date();
    let lastAt: Date | undefined;
    let source: string;
    let subjects: GateResult["subjects"] = [];
    const details: Record<string, unknown> = { intervalHours: input.intervalHours };
    if (input.metricsUrl) {
      source = input.metricsUrl;
      let text: string;
      try {
        const res = await fetch(input.metricsUrl, {
          headers: pushgatewayAuthHeaders(process.env, { stage: input.stage }),
          signal: AbortSignal.timeout(10_000),
        });
        if (res.status === 401)
          throw new Error(`HTTP 401: ${unauthorizedHint(process.env, { stage: input.stage })}`);
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        text = await res.text();
      } catch (err) {
        return {
          verdict: "fail" as const,
          summary: `cannot read the backup metrics at ${input.metricsUrl}: ${(err as Error).message}`,
          fix: "check --backup-metrics (the Pushgateway's /metrics URL) or omit it to use the newest snapshot",
          details: { ...details, source },
          subjects,
        };
      }
      const ts = parseBackupTimestamps(text, BACKUP_METRICS.lastSuccess, input.stage);
      details.components = Object.fromEntries(
        [...ts].map(([c, v]) => [c, new Date(v * 1000).toISOString()]),
      );
      if (ts.size) lastAt = new Date(Math.min(...ts.values()) * 1000);
      subjects = [
        {
          name: input.metricsUrl,
          digest: { sha256: createHash("sha256").update(text).digest("hex") },
        },
      ];
    } else {
      source = `snapshots in ${input.store.url}`;
      const newest = (await listSnapshots(input.store, input.stage)).find((s) => s.readable);
      if (newest?.manifest) {
        lastAt = new Date(newest.createdAt);
        details.snapshot = newest.id;
        subjects = [
          { name: `snapshot:${newest.id}`, digest: { sha256: newest.manifest.ciphertext.sha256 } },
        ];
      }
    }
    details.source = source;
    if (!lastAt) {
      return {
        verdict: "fail" as const,
        summary: `no backup of ${input.stage} found (${source})`,
        fix: `run a backup of ${input.stage} (${HINTS.snapshotCreate(input.stage, input.hints ?? DEFAULT_HINTS)}, or the backup CronJob) and retry`,
        details,
        subjects,
      };
    }
    const ageHours = (now.getTime() - lastAt.getTime()) / 3_600_000;
    details.lastBackupAt = lastAt.toISOString();
    details.ageHours = Math.round(ageHours * 100) / 100;
    const age = `${details.ageHours}h old (interval ${input.intervalHours}h)`;
    if (ageHours > 2 * input.intervalHours) {
      return {
        verdict: "fail" as const,
        summary: `the last backup of ${input.stage} is ${age}: more than twice the interval`,
        fix: `run a backup of ${input.stage} now and check why scheduled backups stopped (alert GoldenGooseBackupStale)`,
        details,
        subjects,
      };
    }
    return {
      verdict: ageHours > input.intervalHours ? ("warn" as const) : ("pass" as const),
      summary: `the last backup of ${input.stage} is ${age}`,
      ...(ageHours > input.intervalHours
        ? { fix: "a scheduled backup was missed; check the backup CronJob" }
        : {}),
      details,
      subjects,
    };
  });
}
