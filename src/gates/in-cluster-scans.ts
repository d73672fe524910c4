/**
 * The in-cluster half of the vulnerability gate: the latest Trivy results of the promotion's
 * source stage, as the scanner CronJob leaves them (src/components/scanner.ts, SCAN_LAYOUT) on its
 * reports volume or in a bucket with the same layout:
 *
 *   scans/<stage>/latest.json                 the newest run (goldengoose.scan.run/v1)
 *   scans/<stage>/results/<digest>.json       when that digest was scanned, at which depth
 *   scans/<stage>/reports/<digest>.trivy.json Trivy's own JSON report (SchemaVersion 2)
 *
 * Rules from security/policies/compliance-rules.yaml of the target stage: findings
 * (vulnerabilities, secrets, misconfigurations) at or above `scan.failOn` fail; an image of the
 * release with no result, a failed scan, a result older than `scan.maxResultAgeHours` or of a
 * shallower depth than `scan.depth` counts as missing, which fails where the stage's `level` is
 * mandatory and warns where it is advisory. A simulated (offline) source stage has no scanner:
 * with no results at all that is a warning, not a failure. Allow-list entries apply by id.
 */
import { createHash } from "node:crypto";
import type { ComplianceRules } from "../audit/schemas.js";
import type { StageName } from "../config/stages.js";
import type { EvidenceSubject } from "../evidence/index.js";
import type { ObjectStore } from "../store/types.js";
import type { Verdict } from "./types.js";
import { SEVERITIES, type AllowList, type Severity } from "./vuln-shared.js";

export interface InClusterScanInput {
  /** Where the scanner's results are (the reports volume copied locally, or the bucket). */
  results: ObjectStore;
  /** The stage whose cluster ran the scans (the promotion's source). */
  source: StageName;
  /** The stage the release goes into: its compliance rules apply. */
  target: StageName;
  /** The images the release deploys. */
  images: readonly string[];
  rules: ComplianceRules;
  allow?: AllowList;
  /** The source stage's namespace (for the command in the fix). */
  namespace?: string;
  /** The source stage is simulated (offline engine): no scanner runs there. */
  simulated?: boolean;
  now: Date;
}

export interface InClusterImage {
  image: string;
  digest?: string;
  status: "ok" | "findings" | "missing" | "stale" | "failed" | "shallow";
  scannedAt?: string;
  ageHours?: number;
  blocking: Array<{ id: string; package: string; severity: Severity; kind: string }>;
  allowed: string[];
}

export interface InClusterAssessment {
  verdict: Verdict;
  summary: string;
  fix?: string;
  details: Record<string, unknown>;
  subjects: EvidenceSubject[];
}

interface RunIndex {
  kind: string;
  mode?: string;
  images?: Array<{ image: string; digest?: string; key: string; result: string }>;
}

interface TrivyFinding {
  VulnerabilityID?: string;
  RuleID?: string;
  ID?: string;
  AVDID?: string;
  PkgName?: string;
  Severity?: string;
}
interface TrivyReport {
  SchemaVersion?: number;
  Results?: Array<{
    Target?: string;
    Vulnerabilities?: TrivyFinding[] | null;
    Secrets?: TrivyFinding[] | null;
    Misconfigurations?: TrivyFinding[] | null;
  }>;
}

const rank = (s: string) => SEVERITIES.indexOf(s as Severity);

async function readJson<T>(
  store: ObjectStore,
  key: string,
): Promise<{ doc: T; sha256: string } | undefined> {
  const o = await store.get(key);
  if (!o) return undefined;
  try {
    return {
      doc: JSON.parse(o.body.toString("utf8")) as T,
      sha256: createHash("sha256").update(o.body).digest("hex"),
    };
  } catch {
    return undefined;
  }
}

/** The findings of one Trivy JSON report at or above `failOn`. */
export function trivyFindings(
  report: TrivyReport,
  failOn: Severity,
): Array<{ id: string; package: string; severity: Severity; kind: string }> {
  const out: Array<{ id: string; package: string; severity: Severity; kind: string }> = [];
  for (const r of report.Results ?? []) {
    const groups: Array<[string, TrivyFinding[] | null | undefined]> = [
      ["vulnerability", r.Vulnerabilities],
      ["secret", r.Secrets],
      ["misconfiguration", r.Misconfigurations],
    ];
    for (const [kind, list] of groups) {
      for (const f of list ?? []) {
        const sev = String(f.Severity ?? "").toUpperCase();
        if (rank(sev) < 0 || rank(sev) < rank(failOn)) continue;
        out.push({
          id: f.VulnerabilityID ?? f.RuleID ?? f.AVDID ?? f.ID ?? "unknown",
          package: f.PkgName ?? r.Target ?? "",
          severity: sev as Severity,
          kind,
        });
      }
    }
  }
  return out;
}

export async function assessInClusterScans(
  input: InClusterScanInput,
): Promise<InClusterAssessment> {
  const rules = input.rules.stages[input.target];
  const { failOn, maxResultAgeHours, depth } = rules.scan;
  const where = `${input.results.url} scans/${input.source}/`;
  const latestKey = `scans/${input.source}/latest.json`;
  const latest = await readJson<RunIndex>(input.results, latestKey);
  const subjects: EvidenceSubject[] = [];
  if (latest)
    subjects.push({ name: `${input.results.url}/${latestKey}`, digest: { sha256: latest.sha256 } });
  const byImage = new Map((latest?.doc.images ?? []).map((e) => [e.image, e]));
  const today = input.now.toISOString().slice(0, 10);
  const active = (input.allow?.entries ?? []).filter((e) => e.expires >= today);
  const rows: InClusterImage[] = [];
  for (const image of input.images) {
    const e = byImage.get(image);
    if (!e) {
      rows.push({ image, status: "missing", blocking: [], allowed: [] });
      continue;
    }
    const row: InClusterImage = {
      image,
      ...(e.digest ? { digest: e.digest } : {}),
      status: "ok",
      blocking: [],
      allowed: [],
    };
    rows.push(row);
    if (e.result === "failed") {
      row.status = "failed";
      continue;
    }
    const result = await readJson<{ scannedAt?: number; depth?: string }>(
      input.results,
      `scans/${input.source}/results/${e.key}.json`,
    );
    const report = await readJson<TrivyReport>(
      input.results,
      `scans/${input.source}/reports/${e.key}.trivy.json`,
    );
    if (!result || !report || typeof result.doc.scannedAt !== "number") {
      row.status = "missing";
      continue;
    }
    subjects.push({ name: `trivy:${image}`, digest: { sha256: report.sha256 } });
    row.scannedAt = new Date(result.doc.scannedAt * 1000).toISOString();
    row.ageHours = Math.floor((input.now.getTime() / 1000 - result.doc.scannedAt) / 3600);
    const scanned = (result.doc.depth ?? "").split("+");
    if (depth.some((d) => !scanned.includes(d))) {
      row.status = "shallow";
      continue;
    }
    if (row.ageHours > maxResultAgeHours) {
      row.status = "stale";
      continue;
    }
    for (const f of trivyFindings(report.doc, failOn)) {
      if (active.some((a) => a.id === f.id && (!a.package || a.package === f.package)))
        row.allowed.push(f.id);
      else row.blocking.push(f);
    }
    if (row.blocking.length) row.status = "findings";
  }
  const findings = rows.filter((r) => r.status === "findings");
  const missing = rows.filter((r) => !["ok", "findings"].includes(r.status));
  const details = {
    source: input.source,
    location: where,
    failOn,
    maxResultAgeHours,
    depth,
    level: rules.level,
    ...(latest?.doc.mode ? { lastRunMode: latest.doc.mode } : {}),
    images: rows,
  };
  const missingText = missing
    .map(
      (r) => `${r.image} (${r.status}${r.ageHours !== undefined ? `, ${r.ageHours} h old` : ""})`,
    )
    .join(", ");
  if (findings.length) {
    return {
      verdict: "fail",
      summary: `in-cluster scans of ${input.source}: ${findings
        .map(
          (r) =>
            `${r.image}: ${r.blocking.map((b) => `${b.id} in ${b.package} (${b.severity})`).join(", ")}`,
        )
        .join("; ")} at or above ${failOn}`,
      fix: `update the images to versions without these findings and let the ${input.source} scanner run again, or add allow-list entries (id, reason, approver, expires)`,
      details,
      subjects,
    };
  }
  if (missing.length) {
    const noScanner = input.simulated && !latest;
    const verdict: Verdict = noScanner || rules.level === "advisory" ? "warn" : "fail";
    return {
      verdict,
      summary: noScanner
        ? `no in-cluster scan results for ${input.source} (a simulated stage has no scanner)`
        : `in-cluster scan results of ${input.source} missing or unusable for ${missing.length} image(s): ${missingText} (${input.target} needs results at most ${maxResultAgeHours} h old, depth ${depth.join(", ")})`,
      fix: `run the ${input.source} scanner (kubectl -n ${input.namespace ?? `goose-${input.source}`} create job --from=cronjob/scanner-full scan-now) and pass its results with --scan-results <file://dir | s3://bucket/prefix>`,
      details,
      subjects,
    };
  }
  return {
    verdict: "pass",
    summary: `in-cluster scans of ${input.source}: ${rows.length} image(s), none at or above ${failOn}`,
    details,
    subjects,
  };
}
