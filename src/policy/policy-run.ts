/**
 * One policy run over a set of resources, the way the CLI drives a pack during a preview:
 * GetAnalyzerInfo → ConfigureStack → Configure (resolved, validated config) → Analyze for each
 * resource (inputs, options, provider) → AnalyzeStack once (outputs, parents, dependencies).
 * Used by the offline preview (resources from the mocked program) and by `analyzeExport`
 * (resources from a stack export, like `pulumi policy analyze --file`).
 */
import type { EnforcementLevel, PolicyViolation } from "./types.js";
import {
  analyzeStackRequest,
  emptyOptions,
  packEnv,
  PolicyPackProcess,
  type AnalyzerProvider,
  type AnalyzerResourceInput,
  type Diagnostic,
} from "./analyzer.js";
import { ensurePolicyPackBuilt } from "./pack-build.js";
import { packStartTimeoutMs } from "./pack-launch.js";
import { readPolicyPackConfigFile, resolvePolicyPackConfig } from "./policy-config.js";

/** A resource as the policy run needs it (export-like: inputs, outputs, refs). */
export interface PolicyResource {
  urn: string;
  type: string;
  name: string;
  custom: boolean;
  /** Provider ID for custom resources; "" for components. */
  id: string;
  /** Parent URN, "" for none. */
  parent: string;
  /** `<providerURN>::<providerID>`, "" for the default provider. */
  provider: string;
  dependencies: string[];
  propertyDependencies: Record<string, string[]>;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  protect: boolean;
  ignoreChanges: string[];
  deleteBeforeReplace?: boolean;
  additionalSecretOutputs: string[];
  aliases: string[];
  customTimeouts: { create: number; update: number; delete: number };
}

export interface PolicyRunOptions {
  packDir: string;
  /** `--policy-pack-config` file; none means the pack's own levels. */
  configFile?: string;
  project: string;
  stack: string;
  dryRun: boolean;
  /** Stack config handed to the pack (`new pulumi.Config()` inside it). */
  stackConfig?: Record<string, string>;
  secretKeys?: string[];
  /** Timeout for each RPC, in ms (default 60 s). */
  timeoutMs?: number;
  /** Timeout for the pack to start serving, in ms (default max(timeoutMs, 60 s)). */
  startTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** A started pack to use instead of starting one (the caller closes it). */
  pack?: PolicyPackProcess;
  /**
   * Told `true` when the pack has been given the long part of the run (the Analyze calls, then
   * AnalyzeStack) and `false` when that part has answered: `previewMany` renders the next stage
   * while the pack works, instead of keeping it waiting.
   */
  onPackWork?: (busy: boolean) => void;
}

/** The environment `startPack` gives the pack: the CLI's per-stack environment (`packEnv`). */
export function packEnvOf(opts: PolicyRunOptions): NodeJS.ProcessEnv {
  return packEnv(opts.env ?? process.env, {
    project: opts.project,
    stack: opts.stack,
    dryRun: opts.dryRun,
    config: opts.stackConfig ?? {},
    secretKeys: opts.secretKeys ?? [],
  });
}

/** Builds (if stale) and starts the pack for one stack, with the CLI's per-stack environment. */
export async function startPack(opts: PolicyRunOptions): Promise<PolicyPackProcess> {
  await ensurePolicyPackBuilt(opts.packDir);
  return PolicyPackProcess.start(opts.packDir, {
    // Starting may take long on a busy machine (a TypeScript pack type-checks): never under 60 s.
    startTimeoutMs: opts.startTimeoutMs ?? packStartTimeoutMs(opts.timeoutMs ?? 60_000),
    rpcTimeoutMs: opts.timeoutMs ?? 60_000,
    env: packEnvOf(opts),
  });
}

function providerOf(
  r: PolicyResource,
  byUrn: Map<string, PolicyResource>,
): AnalyzerProvider | undefined {
  if (!r.provider) return undefined;
  const i = r.provider.lastIndexOf("::");
  const urn = i > 0 ? r.provider.slice(0, i) : r.provider;
  const p = byUrn.get(urn);
  if (!p) return undefined;
  return { urn: p.urn, type: p.type, name: p.name, properties: p.inputs };
}

function optionsOf(r: PolicyResource) {
  const o = emptyOptions(r.parent || undefined);
  o.protect = r.protect;
  o.ignoreChanges = r.ignoreChanges;
  o.additionalSecretOutputs = r.additionalSecretOutputs;
  o.aliases = r.aliases;
  o.customTimeouts = r.customTimeouts;
  if (r.deleteBeforeReplace !== undefined) o.deleteBeforeReplace = r.deleteBeforeReplace;
  return o;
}

/** Maps pack diagnostics to the CLI contract's violations. */
export function toViolation(d: Diagnostic, fallbackUrn?: string): PolicyViolation {
  let message = d.message;
  if (d.description && message.startsWith(d.description)) {
    message = message.slice(d.description.length).replace(/^\n/, "");
  }
  const v: PolicyViolation = {
    policy: d.policyName,
    pack: `${d.policyPackName}@v${d.policyPackVersion}`,
    enforcementLevel: d.enforcementLevel as EnforcementLevel,
    message: message || d.description,
  };
  const urn = d.urn || fallbackUrn;
  if (urn) v.urn = urn;
  return v;
}

/** Runs the pack over `resources`; fails closed (PolicyPackError) on any pack failure. */
export async function runPolicies(
  resources: PolicyResource[],
  opts: PolicyRunOptions,
): Promise<PolicyViolation[]> {
  const pack = opts.pack ?? (await startPack(opts));
  try {
    const info = await pack.getAnalyzerInfo();
    const file = opts.configFile ? readPolicyPackConfigFile(opts.configFile) : undefined;
    const config = resolvePolicyPackConfig(info, file, opts.configFile);
    await pack.configureStack(opts.stack, opts.project, opts.dryRun);
    await pack.configure(config);
    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    const inputs: AnalyzerResourceInput[] = resources.map((r) => {
      const a: AnalyzerResourceInput = {
        urn: r.urn,
        type: r.type,
        name: r.name,
        properties: r.inputs,
        options: optionsOf(r),
        dependencies: r.dependencies,
        propertyDependencies: r.propertyDependencies,
      };
      const p = providerOf(r, byUrn);
      if (p) a.provider = p;
      if (r.parent) a.parent = r.parent;
      return a;
    });
    const analyses = pack.analyzeAll(inputs);
    analyses.catch(() => undefined); // awaited below; a failure there is thrown there
    opts.onPackWork?.(true);
    // The first Analyze calls are on their way: build the AnalyzeStack request meanwhile, so the
    // pack does not wait for it after its last Analyze answer.
    const stackRequest = analyzeStackRequest(
      inputs.map((a, i) => ({ ...a, properties: resources[i]!.outputs })),
    );
    const perResource = await analyses;
    opts.onPackWork?.(false);
    const violations: PolicyViolation[] = [];
    perResource.forEach((ds, i) => {
      for (const d of ds) violations.push(toViolation(d, inputs[i]!.urn));
    });
    const stack = pack.analyzeStack(stackRequest);
    opts.onPackWork?.(true);
    const stackDiags = await stack;
    for (const d of stackDiags) violations.push(toViolation(d));
    return violations;
  } finally {
    opts.onPackWork?.(false);
    if (!opts.pack) await pack.close();
  }
}
