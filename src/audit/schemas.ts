/**
 * Schemas of the security data files: `security/audit/evidence-template.yaml`,
 * `security/audit/collection-rules.yaml`, `security/policies/secret-rotation.yaml` and
 * `security/policies/compliance-rules.yaml`. Each issue carries a fix (params.fix) where the
 * generic one would not help; config/file.ts adds file and line.
 */
import { z } from "zod";
import { STAGES, type StageName } from "../config/stages.js";
import { SECRET_NAMES, type SecretName } from "./names.js";

const KIND_RE = /^[a-z][a-z0-9.-]*(\.\*)?$/;
const kind = z
  .string()
  .regex(KIND_RE, "an evidence kind: lower-case words joined by . or -, e.g. gate.sbom");
const fieldPath = z
  .string()
  .regex(
    /^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)*$/,
    "a data field, e.g. verdict or details.findings",
  );

/** A rule over several stages that must not loosen toward production. */
function perStage<T extends z.ZodType>(value: T) {
  return z.strictObject({ sandbox: value, compliance: value, production: value });
}

const issue = (ctx: z.RefinementCtx, path: PropertyKey[], message: string, fix: string) =>
  ctx.addIssue({ code: "custom", path, message, params: { fix } });

// ---------------------------------------------------------------- evidence-template.yaml

export const kindTemplateSchema = z.strictObject({
  /** What the record says, for reviewers. */
  description: z.string().min(1),
  /** Data fields (dotted paths) every record of the kind carries. */
  required: z.array(fieldPath),
  /** How many subjects the record names (each with the default digests). */
  subjects: z
    .strictObject({
      min: z.number().int().min(0).max(100),
      /**
       * The minimum applies only to records whose data fields hold one of these values (for
       * example `{ verdict: [pass, warn] }`: a failing gate may have found nothing to name).
       */
      when: z.record(z.string(), z.array(z.string()).min(1)).optional(),
    })
    .optional(),
  /** Data fields replaced by "[redacted]" before the record is signed. */
  redact: z.array(fieldPath).optional(),
});

export const evidenceTemplateSchema = z.strictObject({
  version: z.literal(1),
  defaults: z.strictObject({
    /** Digest algorithms every subject must carry. */
    digests: z.array(z.enum(["sha256", "sha512"])).min(1),
  }),
  kinds: z.record(kind, kindTemplateSchema).superRefine((kinds, ctx) => {
    for (const [k, t] of Object.entries(kinds)) {
      for (const r of t.redact ?? []) {
        if (t.required.includes(r))
          issue(
            ctx,
            [k, "redact"],
            `"${r}" is both required and redacted`,
            "a redacted field is replaced by [redacted]; keep it in one list only",
          );
      }
    }
  }),
});
export type EvidenceTemplate = z.infer<typeof evidenceTemplateSchema>;
export type KindTemplate = z.infer<typeof kindTemplateSchema>;

// ---------------------------------------------------------------- collection-rules.yaml

const retentionDays = z.strictObject({ days: z.number().int().min(1).max(36500) });

export const collectionRulesSchema = z.strictObject({
  version: z.literal(1),
  /** workflow → step → evidence kinds the step must produce. */
  workflows: z.strictObject({
    promotion: z.strictObject({ steps: z.record(z.string(), z.array(kind)) }),
    rollback: z.strictObject({ steps: z.record(z.string(), z.array(kind)) }),
  }),
  retention: perStage(retentionDays).superRefine((r, ctx) => {
    for (let i = 1; i < STAGES.length; i++) {
      const a = STAGES[i - 1] as StageName;
      const b = STAGES[i] as StageName;
      if (r[b].days < r[a].days)
        issue(
          ctx,
          [b, "days"],
          `${b} keeps evidence ${r[b].days} days, shorter than ${a} (${r[a].days})`,
          `raise ${b}.days to at least ${r[a].days}: retention never shortens toward production`,
        );
    }
  }),
});
export type CollectionRules = z.infer<typeof collectionRulesSchema>;
export type WorkflowName = keyof CollectionRules["workflows"];

// ---------------------------------------------------------------- secret-rotation.yaml

export { SECRET_NAMES, type SecretName };

const maxAgeDays = z.number().int().min(1).max(3650);

export const secretRotationSchema = z.strictObject({
  version: z.literal(1),
  secrets: z
    .partialRecord(
      z.enum(SECRET_NAMES),
      z.strictObject({
        description: z.string().min(1),
        /**
         * The command that rotates it, printed as the `fix` of an overdue row: it must run as
         * printed once `<stage>` is filled in (no other placeholder); what it needs (environment
         * variables, steps before it) goes in `procedure`.
         */
        rotate: z.string().min(1),
        /** Prose printed before the command: what to do or set first (may name `<stage>`). */
        procedure: z.string().min(1).optional(),
        /** Oldest the secret may be, per stage, in days; never longer toward production. */
        maxAgeDays: perStage(maxAgeDays),
      }),
    )
    .superRefine((secrets, ctx) => {
      for (const name of SECRET_NAMES) {
        const s = secrets[name];
        if (!s) {
          issue(
            ctx,
            [name],
            `secret "${name}" has no rotation rule`,
            `add secrets.${name} with description, rotate and maxAgeDays per stage`,
          );
          continue;
        }
        const placeholder = /…|\.\.\.|<(?!stage>)[^>]*>/.exec(s.rotate);
        if (placeholder)
          issue(
            ctx,
            [name, "rotate"],
            `${name}.rotate has the placeholder "${placeholder[0]}", so the fix goose keys status prints does not run as printed`,
            "make rotate a command that runs once <stage> is filled in, and move what the user must supply (values, files, environment variables) into procedure",
          );
        for (let i = 1; i < STAGES.length; i++) {
          const a = STAGES[i - 1] as StageName;
          const b = STAGES[i] as StageName;
          if (s.maxAgeDays[b] > s.maxAgeDays[a])
            issue(
              ctx,
              [name, "maxAgeDays", b],
              `${name} may be ${s.maxAgeDays[b]} days old in ${b}, older than in ${a} (${s.maxAgeDays[a]})`,
              `lower ${b} to at most ${s.maxAgeDays[a]}: rotation never loosens toward production`,
            );
        }
      }
    }),
});
export type SecretRotationPolicy = z.infer<typeof secretRotationSchema>;

// ---------------------------------------------------------------- compliance-rules.yaml

export const SCAN_DEPTHS = ["vuln-os", "vuln-library", "secret", "misconfig", "license"] as const;
export type ScanDepth = (typeof SCAN_DEPTHS)[number];
const SEVERITIES = ["LOW", "MEDIUM", "HIGH", "CRITICAL"] as const;

const stageCompliance = z.strictObject({
  /** How the stage's policies bite: advisory (reported) or mandatory (blocks). */
  level: z.enum(["advisory", "mandatory"]),
  scan: z.strictObject({
    /** What the in-cluster scanner looks for (Trivy scanners and package types). */
    depth: z.array(z.enum(SCAN_DEPTHS)).min(1),
    /** Lowest severity that fails the vulnerability gate on the in-cluster results. */
    failOn: z.enum(SEVERITIES),
    /** In-cluster results older than this count as missing. */
    maxResultAgeHours: z
      .number()
      .positive()
      .max(24 * 30),
  }),
  metrics: z.strictObject({
    /** Every metrics endpoint reachable outside the namespace must require authentication. */
    requireAuth: z.boolean(),
    /** Label names dropped at scrape time because they may carry secrets or personal data. */
    dropLabels: z.array(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, "a Prometheus label name")),
  }),
});

export const complianceRulesSchema = z.strictObject({
  version: z.literal(1),
  stages: perStage(stageCompliance).superRefine((st, ctx) => {
    const sev = (s: string) => SEVERITIES.indexOf(s as (typeof SEVERITIES)[number]);
    for (let i = 1; i < STAGES.length; i++) {
      const a = STAGES[i - 1] as StageName;
      const b = STAGES[i] as StageName;
      const A = st[a];
      const B = st[b];
      if (A.level === "mandatory" && B.level === "advisory")
        issue(
          ctx,
          [b, "level"],
          `${b} is advisory after a mandatory ${a}`,
          `set ${b}.level: mandatory`,
        );
      const missing = A.scan.depth.filter((d) => !B.scan.depth.includes(d));
      if (missing.length)
        issue(
          ctx,
          [b, "scan", "depth"],
          `${b} scans less than ${a} (missing ${missing.join(", ")})`,
          `add ${missing.join(", ")} to ${b}.scan.depth: scans never get shallower toward production`,
        );
      if (sev(B.scan.failOn) > sev(A.scan.failOn))
        issue(
          ctx,
          [b, "scan", "failOn"],
          `${b} fails only on ${B.scan.failOn}, looser than ${a} (${A.scan.failOn})`,
          `set ${b}.scan.failOn to ${A.scan.failOn} or lower`,
        );
      if (B.scan.maxResultAgeHours > A.scan.maxResultAgeHours)
        issue(
          ctx,
          [b, "scan", "maxResultAgeHours"],
          `${b} accepts scan results ${B.scan.maxResultAgeHours} h old, older than ${a} (${A.scan.maxResultAgeHours} h)`,
          `lower ${b}.scan.maxResultAgeHours to at most ${A.scan.maxResultAgeHours}`,
        );
      if (A.metrics.requireAuth && !B.metrics.requireAuth)
        issue(
          ctx,
          [b, "metrics", "requireAuth"],
          `${b} allows unauthenticated metrics after ${a} requires authentication`,
          `set ${b}.metrics.requireAuth: true`,
        );
      const lost = A.metrics.dropLabels.filter((l) => !B.metrics.dropLabels.includes(l));
      if (lost.length)
        issue(
          ctx,
          [b, "metrics", "dropLabels"],
          `${b} keeps labels ${a} drops (${lost.join(", ")})`,
          `add ${lost.join(", ")} to ${b}.metrics.dropLabels`,
        );
    }
  }),
});
export type ComplianceRules = z.infer<typeof complianceRulesSchema>;
export type StageCompliance = z.infer<typeof stageCompliance>;
