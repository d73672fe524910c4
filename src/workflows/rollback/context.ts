/**
 * One rollback run as its steps see it: options, ports (engine, store, evidence, locks, clock),
 * the result so far and what one step hands the next; the subject every record names, and the
 * stage's health wait (the health step and each stage of a staged update use it).
 */
import { prometheusAuthHeaders } from "../../monitoring/prometheus-credentials.js";
import type { Lease } from "../../locks/index.js";
import type { SnapshotManifest } from "../../snapshots/index.js";
import { waitHealthy, type HealthCheck, type StepReport, type WorkflowPorts } from "../steps.js";
import type { MetricsSink } from "../transition-metrics.js";
import type { StagedCheckpoint } from "./staged.js";
import type { RollbackOptions, RollbackResult, RollbackStep } from "./types.js";

/** One rollback run: its options, ports, result so far and what the steps hand on. */
export interface RollbackContext {
  opts: RollbackOptions;
  ports: WorkflowPorts;
  stack: string;
  result: RollbackResult;
  /** Transition and snapshot metrics go here. */
  sink: MetricsSink & { textfileDir: string };
  /** The reports of the steps so far (the evidence step lists them). */
  reports: StepReport<RollbackStep>[];
  /** The target's manifest as listed, until `verify` reads it verified into `manifest`. */
  listed: SnapshotManifest;
  manifest?: SnapshotManifest;
  exportText: string;
  /** The stack's state before the rollback, as `verify` exported it. */
  current: string;
  recoveryDigest: string;
  lease?: Lease;
  /** A staged rollback's checkpoint (read when resuming, written from the import on). */
  checkpoint?: StagedCheckpoint;
}

/** The subject of every record: the target snapshot (verified once `verify` passed). */
export function subjectOf(ctx: RollbackContext) {
  return [
    {
      name: `snapshot:${ctx.opts.to}`,
      digest: { sha256: (ctx.manifest ?? ctx.listed).plaintext.sha256 },
    },
  ];
}

/** The health URLs of the rollback: Prometheus `/-/ready`, Grafana `/api/health`. */
export function healthTargets(ctx: RollbackContext): string[] {
  const h = ctx.opts.health ?? {};
  return [
    ...(h.prometheusUrl ? [`${h.prometheusUrl.replace(/\/$/, "")}/-/ready`] : []),
    ...(h.grafanaUrl ? [`${h.grafanaUrl.replace(/\/$/, "")}/api/health`] : []),
  ];
}

/**
 * Waits for every health URL of the rollback at once (none given: no checks). The Prometheus
 * one gets Prometheus' basic auth (GOOSE_PROMETHEUS_PASSWORD(_FILE)); Grafana's health
 * endpoint needs none and gets none.
 */
export function waitStageHealthy(ctx: RollbackContext): Promise<HealthCheck[]> {
  const h = ctx.opts.health ?? {};
  const prometheus = h.prometheusUrl ? healthTargets(ctx)[0] : undefined;
  const auth = prometheus ? prometheusAuthHeaders(ctx.opts.env) : {};
  return Promise.all(
    healthTargets(ctx).map((t) =>
      waitHealthy(t, {
        timeoutMs: h.timeoutMs ?? 30_000,
        clock: ctx.ports.clock,
        ...(h.probe ? { probe: h.probe } : {}),
        ...(t === prometheus ? { headers: auth } : {}),
      }),
    ),
  );
}
