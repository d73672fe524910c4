/**
 * Runs the stage program under `pulumi.runtime.setMocks` and records every resource it registers,
 * with what the engine would know: URN, type, name, parent, provider reference, dependencies,
 * property dependencies, inputs and outputs (in gRPC property form, secrets as signature objects)
 * and options (protect, ignoreChanges, deleteBeforeReplace, additionalSecretOutputs, aliases,
 * customTimeouts…). The options `MockResourceArgs` lacks are read by wrapping the mock monitor's
 * `registerResource` (../shared/notes/pulumi.md §1; pinned SDK 3.270.0).
 *
 * The mock world lacks the engine's own resources, so `completeStack` adds them as a real preview
 * and export have them: the root `pulumi:pulumi:Stack` (parent of top-level resources) and one
 * default provider per package (`pulumi:providers:<pkg>::default_<version>`).
 *
 * Several stages render in one process, one after another (`renderStage` serialises itself): each
 * render installs fresh mocks and config and waits until every RPC has drained.
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT, type StageName } from "../../config/stages.js";
import type { PolicyResource } from "../../policy/policy-run.js";
import { rememberStruct } from "../../policy/struct-cache.js";
import { isSecretValue, SECRET_SIG, SECRET_SIG_KEY } from "../../pulumi-export/index.js";

export { isSecretValue, SECRET_SIG, SECRET_SIG_KEY };

export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** A resource as registered under mocks: what the policy run needs, plus what an export keeps. */
export interface RecordedResource extends PolicyResource {
  /** SDK package version that registered it (selects the default provider). */
  version: string;
  retainOnDelete?: boolean;
  deletedWith?: string;
  replaceOnChanges: string[];
}

export interface RenderedStack {
  stage: StageName;
  project: string;
  /** Root stack first, then default providers, then the program's resources in registration order. */
  resources: RecordedResource[];
  /** The stack outputs (resolved values). */
  outputs: Record<string, unknown>;
}

export interface RenderInput {
  stage: StageName;
  /** Stack config as Pulumi holds it: `namespace:key` → string value (objects as JSON). */
  config: Record<string, string>;
  /** Keys of `config` that are secret. */
  secretKeys: string[];
  /** `true` for a preview (missing outputs are unknown), `false` for an update. */
  dryRun: boolean;
  /** Builds the program's resources; returns the stack outputs (Outputs or plain values). */
  program: () => Record<string, unknown> | Promise<Record<string, unknown>>;
}

/** Placeholder text of an offline secret (never a real value). */
export function secretPlaceholder(what: string): string {
  return `[secret:${what}]`;
}

function durationSeconds(s: string): number {
  if (!s) return 0;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(h|m|s|ms)/g)) {
    const n = Number(m[1]);
    total += m[2] === "h" ? n * 3600 : m[2] === "m" ? n * 60 : m[2] === "s" ? n : n / 1000;
  }
  return total;
}

/** Computed outputs a provider would add, so programs that read them see plausible values. */
function mockState(args: pulumi.runtime.MockResourceArgs): {
  id: string | undefined;
  state: Record<string, unknown>;
} {
  const inputs = (args.inputs ?? {}) as Record<string, unknown>;
  const state: Record<string, unknown> = { ...inputs };
  const [pkg, mod] = args.type.split(":");
  const id = args.custom === false ? undefined : `${args.name}-id`;
  if (pkg === "aws") {
    const service = (mod ?? "").split("/")[0] ?? "";
    state.arn ??= `arn:aws:${service}:us-east-1:123456789012:${args.name}`;
    if (args.type === "aws:s3/bucket:Bucket" || args.type.startsWith("aws:s3/bucketV2")) {
      state.bucket ??= args.name;
      state.bucketDomainName ??= `${String(state.bucket)}.s3.amazonaws.com`;
    }
    if (args.type === "aws:kms/key:Key") state.keyId ??= `${args.name}-key-id`;
  }
  if (pkg === "random" && /Random(Password|String)$/.test(args.type)) {
    state.result = pulumi.secret(secretPlaceholder(args.name));
    // Simulated: shaped like the bcrypt hash the provider computes (no hash of anything).
    if (args.type.endsWith("RandomPassword"))
      state.bcryptHash = pulumi.secret(`$2b$10$${"o".repeat(53)}`);
  }
  if (pkg === "kubernetes" && inputs.metadata && typeof inputs.metadata === "object") {
    const md = inputs.metadata as Record<string, unknown>;
    state.metadata = { ...md, name: md.name ?? args.name };
  }
  return { id, state };
}

function mockCall(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
  switch (args.token) {
    case "aws:index/getCallerIdentity:getCallerIdentity":
      return {
        accountId: "123456789012",
        arn: "arn:aws:iam::123456789012:user/offline",
        userId: "offline",
      };
    case "aws:index/getRegion:getRegion":
      return { name: "us-east-1", id: "us-east-1" };
    case "aws:index/getPartition:getPartition":
      return { partition: "aws", dnsSuffix: "amazonaws.com" };
    // The backup role's preflight (src/components/backup.ts): an EKS cluster with an OIDC provider.
    case "aws:eks/getCluster:getCluster":
      return {
        name: (args.inputs as { name?: string }).name ?? "offline",
        version: "1.33",
        identities: [
          { oidcs: [{ issuer: "https://oidc.eks.us-east-1.amazonaws.com/id/OFFLINE" }] },
        ],
      };
    case "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider":
      return {
        arn: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/OFFLINE",
        url: "oidc.eks.us-east-1.amazonaws.com/id/OFFLINE",
      };
    case "kubernetes:helm:template":
      return { result: [] };
    default:
      return { ...(args.inputs as Record<string, unknown>) };
  }
}

type Req = {
  getType(): string;
  getName(): string;
  getCustom(): boolean;
  getParent(): string;
  getProvider(): string;
  getVersion(): string;
  getProtect(): boolean | undefined;
  getDependenciesList(): string[];
  getPropertydependenciesMap(): {
    forEach(cb: (v: { getUrnsList(): string[] }, k: string) => void): void;
  };
  getObject(): { toJavaScript(): unknown } | undefined;
  getIgnorechangesList(): string[];
  getDeletebeforereplace(): boolean;
  getDeletebeforereplacedefined(): boolean;
  getAdditionalsecretoutputsList(): string[];
  getAliasesList(): Array<{ getUrn?(): string }>;
  getCustomtimeouts():
    { getCreate(): string; getUpdate(): string; getDelete(): string } | undefined;
  getRetainondelete?(): boolean | undefined;
  getDeletedwith(): string;
  getReplaceonchangesList(): string[];
};
type Resp = {
  getUrn(): string;
  getId(): string;
  getObject(): { toJavaScript(): unknown } | undefined;
};
type Monitor = {
  registerResource(req: Req, cb: (err: unknown, resp: Resp) => void): void;
  registerResourceOutputs(
    req: { getUrn(): string; getOutputs(): { toJavaScript(): unknown } | undefined },
    cb: (err: unknown, resp: unknown) => void,
  ): void;
};

let chain: Promise<unknown> = Promise.resolve();

/** Renders one stage; calls are queued so that only one runs at a time in a process. */
export function renderStage(input: RenderInput): Promise<RenderedStack> {
  const run = chain.then(() => renderNow(input));
  chain = run.catch(() => undefined);
  return run;
}

async function renderNow(input: RenderInput): Promise<RenderedStack> {
  pulumi.runtime.setAllConfig(input.config, input.secretKeys);
  await pulumi.runtime.setMocks(
    { newResource: mockState, call: mockCall },
    PROJECT,
    input.stage,
    input.dryRun,
  );
  const recorded = new Map<string, RecordedResource>();
  const mon = pulumi.runtime.getMonitor() as unknown as Monitor;
  const origRegister = mon.registerResource.bind(mon);
  mon.registerResource = (req, cb) =>
    origRegister(req, (err, resp) => {
      if (!err && resp) recorded.set(resp.getUrn(), fromRequest(req, resp));
      cb(err, resp);
    });
  const origOutputs = mon.registerResourceOutputs.bind(mon);
  mon.registerResourceOutputs = (req, cb) =>
    origOutputs(req, (err, resp) => {
      const r = recorded.get(req.getUrn());
      if (!err && r) r.outputs = plainOf(req.getOutputs());
      cb(err, resp);
    });

  const exported = await input.program();
  const outputs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(exported)) {
    const out = pulumi.output(v as pulumi.Input<string>) as pulumi.Output<unknown>;
    const value = await new Promise<unknown>((resolve) => out.apply(resolve));
    if (value === undefined) continue;
    const plain = JSON.parse(JSON.stringify(value)) as unknown;
    outputs[k] = (await pulumi.isSecret(out))
      ? { [SECRET_SIG_KEY]: SECRET_SIG, value: plain }
      : plain;
  }
  const runtime = pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> };
  await runtime.waitForRPCs?.();
  return completeStack(input.stage, PROJECT, [...recorded.values()], outputs, input.config);
}

/** A property bag as a plain object; the policy run sends the Struct it came as (struct-cache.ts). */
function plainOf(struct: { toJavaScript(): unknown } | undefined): Record<string, unknown> {
  if (!struct) return {};
  const bag = struct.toJavaScript() as Record<string, unknown>;
  rememberStruct(bag, struct);
  return bag;
}

function fromRequest(req: Req, resp: Resp): RecordedResource {
  const propertyDependencies: Record<string, string[]> = {};
  req.getPropertydependenciesMap().forEach((v, k) => {
    propertyDependencies[k] = v.getUrnsList();
  });
  const t = req.getCustomtimeouts();
  const r: RecordedResource = {
    urn: resp.getUrn(),
    type: req.getType(),
    name: req.getName(),
    custom: req.getCustom(),
    id: req.getCustom() ? resp.getId() : "",
    parent: req.getParent(),
    provider: req.getProvider(),
    version: req.getVersion(),
    dependencies: [...new Set(req.getDependenciesList())],
    propertyDependencies,
    inputs: plainOf(req.getObject()),
    outputs: plainOf(resp.getObject()),
    protect: req.getProtect() ?? false,
    ignoreChanges: req.getIgnorechangesList(),
    additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
    aliases: req
      .getAliasesList()
      .map((a) => a.getUrn?.() ?? "")
      .filter((u) => u !== ""),
    customTimeouts: {
      create: durationSeconds(t?.getCreate() ?? ""),
      update: durationSeconds(t?.getUpdate() ?? ""),
      delete: durationSeconds(t?.getDelete() ?? ""),
    },
    replaceOnChanges: req.getReplaceonchangesList(),
  };
  if (req.getDeletebeforereplacedefined()) r.deleteBeforeReplace = req.getDeletebeforereplace();
  const retain = req.getRetainondelete?.();
  if (retain) r.retainOnDelete = true;
  if (req.getDeletedwith()) r.deletedWith = req.getDeletedwith();
  return r;
}

/** A UUID derived from text, so default-provider IDs are stable between runs. */
function stableUuid(text: string): string {
  const h = createHash("sha256").update(text).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Adds the root Stack and default providers as the engine would, points top-level resources at
 * the Stack and resources without an explicit provider at their package's default provider.
 */
export function completeStack(
  stage: StageName,
  project: string,
  resources: RecordedResource[],
  outputs: Record<string, unknown>,
  config: Record<string, string> = {},
): RenderedStack {
  const base = (type: string, name: string): string =>
    `urn:pulumi:${stage}::${project}::${type}::${name}`;
  const stackUrn = base("pulumi:pulumi:Stack", `${project}-${stage}`);
  const empty = {
    dependencies: [],
    propertyDependencies: {},
    protect: false,
    ignoreChanges: [],
    additionalSecretOutputs: [],
    aliases: [],
    customTimeouts: { create: 0, update: 0, delete: 0 },
    replaceOnChanges: [],
  };
  const root: RecordedResource = {
    ...empty,
    urn: stackUrn,
    type: "pulumi:pulumi:Stack",
    name: `${project}-${stage}`,
    custom: false,
    id: "",
    parent: "",
    provider: "",
    version: "",
    inputs: {},
    outputs,
  };
  const providers = new Map<string, RecordedResource>();
  const program: RecordedResource[] = [];
  for (const r0 of resources) {
    const r = { ...r0 };
    if (!r.parent) r.parent = stackUrn;
    const pkg = r.type.split(":")[0] ?? "";
    if (r.custom && !r.provider && pkg !== "pulumi") {
      const version = r.version || "0.0.0";
      const name = `default_${version.replace(/[.-]/g, "_")}`;
      const key = `${pkg}::${name}`;
      let p = providers.get(key);
      if (!p) {
        const inputs: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(config)) {
          if (k.startsWith(`${pkg}:`)) inputs[k.slice(pkg.length + 1)] = v;
        }
        inputs.version = version;
        const urn = base(`pulumi:providers:${pkg}`, name);
        p = {
          ...empty,
          urn,
          type: `pulumi:providers:${pkg}`,
          name,
          custom: true,
          id: stableUuid(urn),
          parent: "",
          provider: "",
          version,
          inputs,
          outputs: { ...inputs },
        };
        providers.set(key, p);
      }
      r.provider = `${p.urn}::${p.id}`;
    }
    program.push(r);
  }
  return { stage, project, resources: [root, ...providers.values(), ...program], outputs };
}
