/**
 * `analyzeExport(exportJson, stage, opts?)`: runs a stack export's resources through the policy
 * pack over the Analyzer protocol, as `pulumi policy analyze --file <export>` does (CLI 3.249+):
 * no program, `Analyze` with each resource's inputs, `AnalyzeStack` with the outputs. Resources
 * marked `delete: true` are skipped. Secrets the export carries as `plaintext` are shown to the pack;
 * `b64` ciphertext is decoded; other ciphertext (passphrase, KMS…) becomes "[secret]", as the CLI
 * does for secrets it cannot decrypt.
 *
 * Fails closed: a pack crash, hang or RPC error throws PolicyPackError (exit 2).
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PROJECT, type StageName } from "../config/stages.js";
import { InputError } from "../errors.js";
import type { PolicyViolation } from "./types.js";
import { runPolicies, startPack, type PolicyResource } from "./policy-run.js";
import type { PolicyPackProcess } from "./analyzer.js";
import {
  SECRET_SIG,
  SECRET_SIG_KEY,
  urnName,
  type ExportResource,
  type StackExport,
} from "../pulumi-export/index.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

function fromExportValue(v: unknown, b64: boolean): unknown {
  if (Array.isArray(v)) return v.map((x) => fromExportValue(x, b64));
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o[SECRET_SIG_KEY] === SECRET_SIG) {
      let value: unknown = "[secret]";
      if (typeof o.plaintext === "string") value = JSON.parse(o.plaintext);
      else if (b64 && typeof o.ciphertext === "string") {
        value = JSON.parse(Buffer.from(o.ciphertext, "base64").toString("utf8"));
      }
      return { [SECRET_SIG_KEY]: SECRET_SIG, value: fromExportValue(value, b64) };
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) out[k] = fromExportValue(x, b64);
    return out;
  }
  return v;
}

/** Converts export resources to what the policy run sends. */
export function exportResources(doc: StackExport): PolicyResource[] {
  const b64 = doc.deployment.secrets_providers?.type === "b64";
  const props = (p: Record<string, unknown> | undefined) =>
    fromExportValue(p ?? {}, b64) as Record<string, unknown>;
  return (doc.deployment.resources ?? [])
    .filter((r: ExportResource) => !r.delete)
    .map((r: ExportResource) => {
      const t = r.customTimeouts ?? {};
      const pr: PolicyResource = {
        urn: r.urn,
        type: r.type,
        name: urnName(r.urn),
        custom: r.custom,
        id: r.id ?? "",
        parent: r.parent ?? "",
        provider: r.provider ?? "",
        dependencies: r.dependencies ?? [],
        // real exports may carry `"prop": null`
        propertyDependencies: Object.fromEntries(
          Object.entries(r.propertyDependencies ?? {}).map(([k, v]) => [k, v ?? []]),
        ),
        inputs: props(r.inputs),
        outputs: props(r.outputs),
        protect: r.protect ?? false,
        ignoreChanges: r.ignoreChanges ?? [],
        additionalSecretOutputs: r.additionalSecretOutputs ?? [],
        aliases: r.aliases ?? [],
        customTimeouts: { create: t.create ?? 0, update: t.update ?? 0, delete: t.delete ?? 0 },
      };
      if (r.deleteBeforeReplace !== undefined) pr.deleteBeforeReplace = r.deleteBeforeReplace;
      return pr;
    });
}

export interface ExportAnalyzerOptions {
  policyPackDir?: string;
  policyPackConfigFile?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** One analysis of an export (`analyzeExport` with the stage and options bound). */
export interface ExportAnalyzer {
  analyze(exportJson: unknown): Promise<{ violations: PolicyViolation[] }>;
  close(): Promise<void>;
}

/**
 * An analyzer that starts the pack once and analyzes several exports with it (a staged rollback
 * checks the state after each stage): the same answers as `analyzeExport`, one pack start.
 */
export async function startExportAnalyzer(
  stage: StageName,
  opts: ExportAnalyzerOptions = {},
): Promise<ExportAnalyzer> {
  const packDir = resolve(opts.policyPackDir ?? join(REPO_ROOT, "policy-pack"));
  const pack = await startPack({
    packDir,
    project: PROJECT,
    stack: stage,
    dryRun: false,
    timeoutMs: opts.timeoutMs,
    env: opts.env,
  });
  return {
    analyze: (exportJson) => analyzeExport(exportJson, stage, { ...opts, pack }),
    close: () => pack.close(),
  };
}

export async function analyzeExport(
  exportJson: unknown,
  stage: StageName,
  opts: {
    policyPackDir?: string;
    policyPackConfigFile?: string;
    timeoutMs?: number;
    env?: NodeJS.ProcessEnv;
    /** A started pack (startExportAnalyzer) instead of starting one. */
    pack?: PolicyPackProcess;
  } = {},
): Promise<{ violations: PolicyViolation[] }> {
  const doc = (typeof exportJson === "string" ? JSON.parse(exportJson) : exportJson) as StackExport;
  if (!doc || typeof doc !== "object" || !doc.deployment) {
    throw new InputError(
      `not a stack export: expected {"version": 3, "deployment": {...}} as \`pulumi stack export\` prints`,
    );
  }
  const packDir = resolve(opts.policyPackDir ?? join(REPO_ROOT, "policy-pack"));
  const violations = await runPolicies(exportResources(doc), {
    packDir,
    configFile: opts.policyPackConfigFile ?? join(packDir, "config", `${stage}.json`),
    project: PROJECT,
    stack: stage,
    dryRun: false,
    timeoutMs: opts.timeoutMs,
    env: opts.env,
    ...(opts.pack ? { pack: opts.pack } : {}),
  });
  return { violations };
}
