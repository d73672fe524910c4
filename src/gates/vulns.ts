/**
 * The vulnerability gate: the SBOM's npm components matched against OSV records
 * (security/vulnerability-db.json) by the OSV evaluation rules, a severity threshold per stage
 * (security/vulnerability-policy.yaml), and an allow-list whose entries carry an approver and an
 * expiry (security/allow-list.yaml). Raw matches are cached in the store under
 * `cache/vulns/<sbom sha256>-<db sha256>.json`; the threshold and allow-list are applied afresh
 * every time (an allow-list entry can expire between two runs).
 *
 * OSV evaluation (ossf/osv-schema, "Evaluation"): a version is affected when it is listed in
 * `versions`, or when a SEMVER or ECOSYSTEM range (npm versions are SemVer) has it at or after an
 * `introduced` event and not at or after the following `fixed`, not after a `last_affected`, and
 * (if any `limit` exists) below some limit. An event version that is not SemVer makes the match
 * conservative (affected) and is reported.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import semver from "semver";
import { z } from "zod";
import type { StageName } from "../config/stages.js";
import type { ObjectStore } from "../store/types.js";
import { GateInputError, timed, worst, type GateResult } from "./types.js";
import { formatProblem, loadYamlFile } from "../config/file.js";
import { assessInClusterScans, type InClusterScanInput } from "./in-cluster-scans.js";
import { allowSchema, SEVERITIES, type AllowList, type Severity } from "./vuln-shared.js";

export { SEVERITIES, type AllowList, type Severity } from "./vuln-shared.js";
const rank = (s: Severity) => SEVERITIES.indexOf(s);

interface OsvEvent {
  introduced?: string;
  fixed?: string;
  last_affected?: string;
  limit?: string;
}
interface OsvRange {
  type: string;
  events: OsvEvent[];
}
interface OsvAffected {
  package?: { ecosystem?: string; name?: string; purl?: string };
  ranges?: OsvRange[];
  versions?: string[];
  severity?: Array<{ type: string; score: string }>;
  database_specific?: Record<string, unknown>;
}
export interface OsvRecord {
  id: string;
  modified: string;
  aliases?: string[];
  summary?: string;
  withdrawn?: string;
  severity?: Array<{ type: string; score: string }>;
  affected?: OsvAffected[];
  database_specific?: { severity?: string } & Record<string, unknown>;
}

export interface Finding {
  id: string;
  aliases: string[];
  summary: string;
  package: string;
  version: string;
  purl: string;
  severity: Severity | "UNKNOWN";
  /** Versions that fix it on some branch, from the matching ranges. */
  fixedIn: string[];
  /** Reasons the match is conservative (unparseable events). */
  notes: string[];
}

function cmp(a: string, b: string): number {
  if (a === "0") return b === "0" ? 0 : -1;
  if (b === "0") return 1;
  return semver.compare(a, b);
}

/** Whether `version` is affected by one OSV range; `notes` collects why a match is conservative. */
export function rangeAffects(version: string, range: OsvRange, notes: string[]): boolean {
  if (range.type !== "SEMVER" && range.type !== "ECOSYSTEM") return false;
  const bad = range.events
    .flatMap((e) => Object.values(e) as string[])
    .filter((v) => v !== "0" && v !== "*" && !semver.valid(v));
  if (bad.length) {
    notes.push(
      `event version(s) ${bad.map((b) => JSON.stringify(b)).join(", ")} are not SemVer; counted as affected`,
    );
    return range.events.some((e) => e.introduced !== undefined);
  }
  const limits = range.events
    .map((e) => e.limit)
    .filter((l): l is string => l !== undefined && l !== "*");
  if (limits.length && !limits.some((l) => semver.lt(version, l))) return false;
  const events = range.events
    .map((e) => {
      const [kind, v] = Object.entries(e)[0] as [keyof OsvEvent, string];
      return { kind, v };
    })
    .filter((e) => e.kind !== "limit")
    .sort((a, b) => cmp(a.v, b.v));
  let affected = false;
  for (const e of events) {
    if (e.kind === "introduced" && (e.v === "0" || semver.gte(version, e.v))) affected = true;
    else if (e.kind === "fixed" && semver.gte(version, e.v)) affected = false;
    else if (e.kind === "last_affected" && semver.gt(version, e.v)) affected = false;
  }
  return affected;
}

const GHSA_SEVERITY: Record<string, Severity> = {
  LOW: "LOW",
  MODERATE: "MEDIUM",
  MEDIUM: "MEDIUM",
  HIGH: "HIGH",
  CRITICAL: "CRITICAL",
};

function severityOf(rec: OsvRecord, aff: OsvAffected): Severity | "UNKNOWN" {
  const s =
    (aff.database_specific?.severity as string | undefined) ?? rec.database_specific?.severity;
  return (s && GHSA_SEVERITY[s.toUpperCase()]) || "UNKNOWN";
}

/** All findings of the npm components in `bom` against `vulns`. */
export function matchSbom(
  bom: { components?: Array<Record<string, unknown>> },
  vulns: OsvRecord[],
): Finding[] {
  const byName = new Map<string, OsvRecord[]>();
  for (const v of vulns) {
    if (v.withdrawn) continue;
    for (const a of v.affected ?? []) {
      if (a.package?.ecosystem !== "npm" || !a.package.name) continue;
      const list = byName.get(a.package.name) ?? [];
      if (!list.includes(v)) list.push(v);
      byName.set(a.package.name, list);
    }
  }
  const findings: Finding[] = [];
  for (const c of bom.components ?? []) {
    const purl = String(c.purl ?? "");
    if (!purl.startsWith("pkg:npm/")) continue;
    const name = c.group ? `${String(c.group)}/${String(c.name)}` : String(c.name);
    const version = String(c.version ?? "");
    if (!semver.valid(version)) continue;
    for (const rec of byName.get(name) ?? []) {
      const notes: string[] = [];
      const fixedIn: string[] = [];
      let hit: OsvAffected | undefined;
      for (const a of rec.affected ?? []) {
        if (a.package?.ecosystem !== "npm" || a.package.name !== name) continue;
        const listed = (a.versions ?? []).includes(version);
        const inRange = (a.ranges ?? []).some((r) => rangeAffects(version, r, notes));
        for (const r of a.ranges ?? [])
          for (const e of r.events) if (e.fixed) fixedIn.push(e.fixed);
        if (listed || inRange) hit ??= a;
      }
      if (!hit) continue;
      findings.push({
        id: rec.id,
        aliases: rec.aliases ?? [],
        summary: rec.summary ?? "",
        package: name,
        version,
        purl,
        severity: severityOf(rec, hit),
        fixedIn: [...new Set(fixedIn)],
        notes: [...new Set(notes)],
      });
    }
  }
  return findings.sort((a, b) => a.id.localeCompare(b.id) || a.purl.localeCompare(b.purl));
}

const policySchema = z.strictObject({
  failAt: z.strictObject({
    sandbox: z.enum(SEVERITIES),
    compliance: z.enum(SEVERITIES),
    production: z.enum(SEVERITIES),
  }),
  unknownAs: z.enum(SEVERITIES),
});
export type VulnPolicy = z.infer<typeof policySchema>;

function loadYaml<T>(file: string, schema: z.ZodType<T>): T {
  return loadYamlFile(schema, file, {
    error: (problems) => new GateInputError(problems.map(formatProblem).join("\n")),
    missingFix: "pass the right path, or restore it from the repository",
  }).value;
}

export const loadVulnPolicy = (file: string) => loadYaml(file, policySchema);
export const loadAllowList = (file: string) => loadYaml(file, allowSchema);

export function loadVulnDb(file: string): { vulns: OsvRecord[]; digest: string; updated?: string } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new GateInputError(
      `${file}: cannot read the vulnerability database (${(err as Error).message})`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new GateInputError(`${file}: not JSON (${(err as Error).message})`);
  }
  const vulns = Array.isArray(parsed) ? parsed : (parsed as { vulns?: unknown }).vulns;
  if (!Array.isArray(vulns))
    throw new GateInputError(
      `${file}: expected {"vulns": [OSV records]} or an array of OSV records`,
    );
  vulns.forEach((v: { id?: unknown; modified?: unknown }, i) => {
    if (typeof v.id !== "string" || typeof v.modified !== "string") {
      throw new GateInputError(
        `${file}: vulns[${i}] lacks the required OSV fields "id" and "modified"`,
      );
    }
  });
  return {
    vulns: vulns as OsvRecord[],
    digest: createHash("sha256").update(text).digest("hex"),
    ...((parsed as { updated?: string }).updated
      ? { updated: (parsed as { updated: string }).updated }
      : {}),
  };
}

export interface Assessed extends Finding {
  effectiveSeverity: Severity;
  status: "blocking" | "below-threshold" | "allowed";
  allowedBy?: { approver: string; expires: string; reason: string };
}

/** Applies the stage threshold and the allow-list (entries valid through their expiry date). */
export function assess(
  findings: Finding[],
  stage: StageName,
  policy: VulnPolicy,
  allow: AllowList,
  now: Date,
): { assessed: Assessed[]; expiredEntries: AllowList["entries"] } {
  const today = now.toISOString().slice(0, 10);
  const active = allow.entries.filter((e) => e.expires >= today);
  const expiredEntries = allow.entries.filter((e) => e.expires < today);
  const threshold = policy.failAt[stage];
  const assessed = findings.map((f): Assessed => {
    const effectiveSeverity = f.severity === "UNKNOWN" ? policy.unknownAs : f.severity;
    const entry = active.find(
      (e) => (e.id === f.id || f.aliases.includes(e.id)) && (!e.package || e.package === f.package),
    );
    if (entry) {
      return {
        ...f,
        effectiveSeverity,
        status: "allowed",
        allowedBy: { approver: entry.approver, expires: entry.expires, reason: entry.reason },
      };
    }
    return {
      ...f,
      effectiveSeverity,
      status: rank(effectiveSeverity) >= rank(threshold) ? "blocking" : "below-threshold",
    };
  });
  return { assessed, expiredEntries };
}

export interface VulnGateInput {
  store: ObjectStore;
  /** The stage the release goes into: its threshold applies. */
  stage: StageName;
  sbom: { json: string; digest: string };
  dbFile: string;
  policyFile: string;
  allowListFile: string;
  repoRoot: string;
  now?: Date;
  /** The source stage's in-cluster Trivy results, combined with the SBOM match (in-cluster-scans.ts). */
  inCluster?: Omit<InClusterScanInput, "allow" | "now">;
}

export async function vulnGate(input: VulnGateInput): Promise<GateResult> {
  const osv = await osvGate(input);
  if (!input.inCluster) return osv;
  const t0 = performance.now();
  const ic = await assessInClusterScans({
    ...input.inCluster,
    allow: loadAllowList(input.allowListFile),
    now: input.now ?? new Date(),
  });
  const verdict = worst([osv.verdict, ic.verdict]);
  const fixes = [osv.verdict !== "pass" ? osv.fix : undefined, ic.fix].filter(Boolean);
  return {
    ...osv,
    verdict,
    summary: `${osv.summary}; ${ic.summary}`,
    ...(verdict !== "pass" && fixes.length ? { fix: fixes.join("; ") } : {}),
    details: { ...osv.details, inCluster: ic.details },
    subjects: [...osv.subjects, ...ic.subjects],
    durationMs: osv.durationMs + Math.round(performance.now() - t0),
  };
}

/** The OSV match of the SBOM against the database, threshold and allow-list. */
async function osvGate(input: VulnGateInput): Promise<GateResult> {
  return timed("vulnerabilities", async () => {
    const db = loadVulnDb(input.dbFile);
    const policy = loadVulnPolicy(input.policyFile);
    const allow = loadAllowList(input.allowListFile);
    const cacheKey = `cache/vulns/${input.sbom.digest}-${db.digest}.json`;
    let findings: Finding[];
    let cached = false;
    const hit = await input.store.get(cacheKey);
    if (hit) {
      findings = JSON.parse(hit.body.toString("utf8")) as Finding[];
      cached = true;
    } else {
      findings = matchSbom(
        JSON.parse(input.sbom.json) as { components?: Array<Record<string, unknown>> },
        db.vulns,
      );
      await input.store.put(cacheKey, JSON.stringify(findings), {
        contentType: "application/json",
      });
    }
    const { assessed, expiredEntries } = assess(
      findings,
      input.stage,
      policy,
      allow,
      input.now ?? new Date(),
    );
    const blocking = assessed.filter((a) => a.status === "blocking");
    const below = assessed.filter((a) => a.status === "below-threshold");
    const allowed = assessed.filter((a) => a.status === "allowed");
    const rel = (f: string) => path.relative(input.repoRoot, f);
    const allowedAllText = readFileSync(input.allowListFile);
    const subjects = [
      { name: `sbom:${input.sbom.digest.slice(0, 12)}`, digest: { sha256: input.sbom.digest } },
      { name: rel(input.dbFile), digest: { sha256: db.digest } },
      {
        name: rel(input.allowListFile),
        digest: { sha256: createHash("sha256").update(allowedAllText).digest("hex") },
      },
    ];
    const details = {
      threshold: policy.failAt[input.stage],
      database: {
        file: rel(input.dbFile),
        records: db.vulns.length,
        ...(db.updated ? { updated: db.updated } : {}),
      },
      cached,
      cacheKey,
      counts: { blocking: blocking.length, belowThreshold: below.length, allowed: allowed.length },
      findings: assessed.map((a) => ({
        id: a.id,
        package: a.package,
        version: a.version,
        severity: a.effectiveSeverity,
        status: a.status,
        fixedIn: a.fixedIn,
        ...(a.notes.length ? { notes: a.notes } : {}),
        ...(a.allowedBy ? { allowedBy: a.allowedBy } : {}),
      })),
      expiredAllowListEntries: expiredEntries.map((e) => ({
        id: e.id,
        expires: e.expires,
        approver: e.approver,
      })),
    };
    if (blocking.length) {
      const first = blocking[0] as Assessed;
      return {
        verdict: "fail" as const,
        summary: `${blocking.length} finding(s) at or above ${policy.failAt[input.stage]} for ${input.stage}: ${blocking
          .map((b) => `${b.id} in ${b.package}@${b.version} (${b.effectiveSeverity})`)
          .join(", ")}`,
        fix:
          `upgrade ${first.package} to a fixed version (${first.fixedIn.join(" / ") || "none published"}), or add an ` +
          `entry with id, reason, approver and expires to ${rel(input.allowListFile)}`,
        details,
        subjects,
      };
    }
    const warnings: string[] = [];
    if (below.length)
      warnings.push(`${below.length} finding(s) below the ${policy.failAt[input.stage]} threshold`);
    if (expiredEntries.length)
      warnings.push(
        `${expiredEntries.length} expired allow-list entr${expiredEntries.length === 1 ? "y" : "ies"}`,
      );
    return {
      verdict: warnings.length ? ("warn" as const) : ("pass" as const),
      summary:
        `no finding at or above ${policy.failAt[input.stage]} (${findings.length} match(es), ${allowed.length} allowed)` +
        (warnings.length ? `; ${warnings.join(", ")}` : "") +
        (cached ? " [cached]" : ""),
      ...(warnings.length ? { fix: `review the findings and ${rel(input.allowListFile)}` } : {}),
      details,
      subjects,
    };
  });
}
