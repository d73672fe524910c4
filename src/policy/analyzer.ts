/**
 * A policy pack as the Pulumi CLI runs it: a child process started with
 * `@pulumi/pulumi/cmd/run-policy-pack <engine-address> <packDir>` (working directory = the pack),
 * which prints its gRPC port on stdout, spoken to over the Analyzer protocol from
 * `@pulumi/pulumi/proto` (GetAnalyzerInfo, ConfigureStack, Configure, Analyze, AnalyzeStack).
 *
 * Fail closed: a pack that exits, does not answer within the timeout, or answers an RPC with an
 * error rejects the call with a PolicyPackError that carries the pack's own stderr; the process is
 * killed. Nothing here returns "no violations" on a failure.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire, getCompileCacheDir } from "node:module";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type * as AnalyzerPb from "@pulumi/pulumi/proto/analyzer_pb.js";
import type * as AnalyzerGrpc from "@pulumi/pulumi/proto/analyzer_grpc_pb.js";
import { PolicyPackError } from "./errors.js";

const require = createRequire(import.meta.url);
const pulumiMain = require.resolve("@pulumi/pulumi");
const pulumiRoot = dirname(pulumiMain);
const requireFromPulumi = createRequire(pulumiMain);
const pb = requireFromPulumi("./proto/analyzer_pb") as typeof AnalyzerPb;
const rpc = requireFromPulumi("./proto/analyzer_grpc_pb") as typeof AnalyzerGrpc;
// The Struct/Empty classes must come from the same google-protobuf copy as the generated code.
const structPb = requireFromPulumi("google-protobuf/google/protobuf/struct_pb") as {
  Struct: { fromJavaScript(v: Record<string, unknown>): unknown };
};
const emptyPb = requireFromPulumi("google-protobuf/google/protobuf/empty_pb") as {
  Empty: new () => unknown;
};

/** Path of the runner the Pulumi CLI uses for a Node.js policy pack. */
export const RUN_POLICY_PACK = join(pulumiRoot, "cmd", "run-policy-pack", "index.js");

export type Level = "advisory" | "mandatory" | "remediate" | "disabled";
const LEVEL_TO_PB: Record<Level, number> = { advisory: 0, mandatory: 1, disabled: 2, remediate: 3 };
const PB_TO_LEVEL: Record<number, Level> = {
  0: "advisory",
  1: "mandatory",
  2: "disabled",
  3: "remediate",
};

export interface PolicyInfo {
  name: string;
  description: string;
  enforcementLevel: Level;
  /** JSON-schema `properties` and `required` of the policy's config, when it declares one. */
  configSchema?: { properties: Record<string, unknown>; required: string[] };
}

export interface AnalyzerInfo {
  name: string;
  version: string;
  supportsConfig: boolean;
  policies: PolicyInfo[];
  /** The pack's `initialConfig` (third PolicyPack argument), as the CLI receives it. */
  initialConfig: Record<string, { enforcementLevel: Level; properties: Record<string, unknown> }>;
}

export interface ResolvedPolicyConfig {
  enforcementLevel: Level;
  properties: Record<string, unknown>;
}

/** `AnalyzerResourceOptions`: what the CLI tells a policy about a resource's options. */
export interface AnalyzerOptions {
  protect: boolean;
  ignoreChanges: string[];
  deleteBeforeReplace?: boolean;
  additionalSecretOutputs: string[];
  aliases: string[];
  customTimeouts: { create: number; update: number; delete: number };
  parent?: string;
}

export interface AnalyzerProvider {
  urn: string;
  type: string;
  name: string;
  properties: Record<string, unknown>;
}

/** One resource as sent to Analyze (inputs) or AnalyzeStack (outputs), in gRPC property form. */
export interface AnalyzerResourceInput {
  urn: string;
  type: string;
  name: string;
  properties: Record<string, unknown>;
  options: AnalyzerOptions;
  provider?: AnalyzerProvider;
  parent?: string;
  dependencies: string[];
  propertyDependencies: Record<string, string[]>;
}

export interface Diagnostic {
  policyName: string;
  policyPackName: string;
  policyPackVersion: string;
  description: string;
  message: string;
  enforcementLevel: Level;
  urn?: string;
}

export interface StartOptions {
  /** Milliseconds the pack may take to print its port (default 60 s: a TypeScript pack type-checks). */
  startTimeoutMs?: number;
  /** Milliseconds each RPC may take before the pack is declared hung (default 30 s). */
  rpcTimeoutMs?: number;
  /** The pack's environment; see `packEnv` for what the CLI adds per stack. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The environment the CLI gives a pack for one stack (analyzer_plugin.go `constructEnv`), so that
 * `pulumi.getStack()`, `getProject()`, `isDryRun()` and `new pulumi.Config()` work inside it.
 */
export function packEnv(
  base: NodeJS.ProcessEnv,
  stack: {
    project: string;
    stack: string;
    dryRun: boolean;
    config: Record<string, string>;
    secretKeys: string[];
  },
): NodeJS.ProcessEnv {
  return {
    ...base,
    PULUMI_NODEJS_PROJECT: stack.project,
    PULUMI_NODEJS_STACK: stack.stack,
    PULUMI_NODEJS_ORGANIZATION: "organization",
    PULUMI_NODEJS_DRY_RUN: String(stack.dryRun),
    PULUMI_CONFIG: JSON.stringify(stack.config),
    PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(stack.secretKeys),
  };
}

const MAX_STDERR = 64 * 1024;

/**
 * Preloaded in the pack process (`--import`): makes @pulumi/pulumi's Automation API and closure
 * serializer load on first use (src/pulumi-startup.mjs), ~0.4 s of CPU less per pack start. The
 * file sits at src/ and at dist/ (scripts/build.mjs copies it), one level above this module.
 */
export const PULUMI_STARTUP = new URL("../pulumi-startup.mjs", import.meta.url).href;

/**
 * The pack process shares goose's on-disk compile cache (bin/goose.js enables it), so a second
 * start skips V8's compilation of @pulumi/policy, @pulumi/pulumi and the pack. An environment
 * that sets NODE_COMPILE_CACHE or NODE_DISABLE_COMPILE_CACHE keeps its choice.
 */
function withCompileCache(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const dir = getCompileCacheDir?.();
  if (dir && env.NODE_COMPILE_CACHE === undefined && env.NODE_DISABLE_COMPILE_CACHE === undefined) {
    env.NODE_COMPILE_CACHE = dir;
  }
  return env;
}

/** A running policy pack. Always `close()` it (idempotent). */
export class PolicyPackProcess {
  private stderrText = "";
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitWaiters = new Set<(why: string) => void>();
  private closed = false;

  private constructor(
    readonly packDir: string,
    private readonly child: ChildProcess,
    private client: AnalyzerGrpc.AnalyzerClient | undefined,
    private readonly rpcTimeoutMs: number,
  ) {}

  /** Starts the pack and waits until it prints its port. */
  static async start(packDir: string, opts: StartOptions = {}): Promise<PolicyPackProcess> {
    const startTimeoutMs = opts.startTimeoutMs ?? 60_000;
    // As the CLI: `<runner> <engine-address> .` with the pack folder as working directory.
    const child = spawn(
      process.execPath,
      ["--import", PULUMI_STARTUP, RUN_POLICY_PACK, "127.0.0.1:0", "."],
      {
        cwd: packDir,
        env: withCompileCache({ ...(opts.env ?? process.env) }),
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const pack = new PolicyPackProcess(packDir, child, undefined, opts.rpcTimeoutMs ?? 30_000);
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (s: string) => {
      if (pack.stderrText.length < MAX_STDERR) pack.stderrText += s;
    });
    child.on("exit", (code, signal) => {
      pack.exited = { code, signal };
      const why = pack.describeExit();
      for (const w of pack.exitWaiters) w(why);
      pack.exitWaiters.clear();
    });
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => {
        pack.kill();
        reject(
          new PolicyPackError(
            `policy pack ${packDir} did not start within ${startTimeoutMs / 1000} s` +
              pack.stderrSuffix(),
          ),
        );
      }, startTimeoutMs);
      const onExit = (why: string) => {
        clearTimeout(timer);
        reject(new PolicyPackError(`policy pack ${packDir} failed to start: ${why}`));
      };
      pack.exitWaiters.add(onExit);
      child.on("error", (err) => {
        clearTimeout(timer);
        reject(new PolicyPackError(`policy pack ${packDir} could not be run: ${err.message}`));
      });
      child.stdout?.setEncoding("utf8");
      child.stdout?.on("data", (s: string) => {
        if (out === undefined) return;
        out += s;
        const nl = out.indexOf("\n");
        if (nl < 0) return;
        const first = out.slice(0, nl).trim();
        clearTimeout(timer);
        pack.exitWaiters.delete(onExit);
        if (/^\d+$/.test(first)) resolve(Number(first));
        else {
          pack.kill();
          reject(
            new PolicyPackError(
              `policy pack ${packDir} printed "${first.slice(0, 200)}" instead of its port` +
                pack.stderrSuffix(),
            ),
          );
        }
        out = "";
        child.stdout?.removeAllListeners("data");
        child.stdout?.resume();
      });
    });
    pack.client = new rpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": 400 * 1024 * 1024,
      "grpc.max_send_message_length": 400 * 1024 * 1024,
    });
    return pack;
  }

  /** What the pack wrote to stderr so far. */
  get stderr(): string {
    return this.stderrText;
  }

  async getAnalyzerInfo(): Promise<AnalyzerInfo> {
    const resp = await this.call<AnalyzerPb.AnalyzerInfo>("GetAnalyzerInfo", (c, cb) =>
      c.getAnalyzerInfo(new emptyPb.Empty() as never, cb),
    );
    const initialConfig: AnalyzerInfo["initialConfig"] = {};
    resp.getInitialconfigMap().forEach((v, k) => {
      initialConfig[k] = {
        enforcementLevel: PB_TO_LEVEL[v.getEnforcementlevel()] ?? "advisory",
        properties: (v.getProperties()?.toJavaScript() ?? {}) as Record<string, unknown>,
      };
    });
    return {
      name: resp.getName(),
      version: resp.getVersion(),
      supportsConfig: resp.getSupportsconfig(),
      initialConfig,
      policies: resp.getPoliciesList().map((p) => {
        const schema = p.getConfigschema();
        const info: PolicyInfo = {
          name: p.getName(),
          description: p.getDescription(),
          enforcementLevel: PB_TO_LEVEL[p.getEnforcementlevel()] ?? "advisory",
        };
        if (schema) {
          info.configSchema = {
            properties: (schema.getProperties()?.toJavaScript() ?? {}) as Record<string, unknown>,
            required: schema.getRequiredList(),
          };
        }
        return info;
      }),
    };
  }

  /** ConfigureStack: the stack the pack is asked about (the pack sees it through pulumi.getStack()). */
  async configureStack(stack: string, project: string, dryRun: boolean): Promise<void> {
    const req = new pb.AnalyzerStackConfigureRequest();
    req.setStack(stack);
    req.setProject(project);
    req.setOrganization("organization");
    req.setDryRun(dryRun);
    try {
      await this.call("ConfigureStack", (c, cb) => c.configureStack(req, cb));
    } catch (err) {
      // The CLI tolerates packs that do not implement it.
      if (!(err instanceof PolicyPackError && /UNIMPLEMENTED/i.test(err.message))) throw err;
    }
  }

  /** Configure: one entry per policy, already resolved and validated (see policy-config.ts). */
  async configure(config: Record<string, ResolvedPolicyConfig>): Promise<void> {
    const req = new pb.ConfigureAnalyzerRequest();
    const map = req.getPolicyconfigMap();
    for (const [name, c] of Object.entries(config)) {
      const pc = new pb.PolicyConfig();
      pc.setEnforcementlevel(LEVEL_TO_PB[c.enforcementLevel] as AnalyzerPb.EnforcementLevel);
      pc.setProperties(structPb.Struct.fromJavaScript(c.properties) as never);
      map.set(name, pc);
    }
    await this.call("Configure", (c, cb) => c.configure(req, cb));
  }

  /** Analyze one resource (its inputs), as the CLI does for every resource it registers. */
  async analyze(r: AnalyzerResourceInput): Promise<Diagnostic[]> {
    const req = new pb.AnalyzeRequest();
    req.setUrn(r.urn);
    req.setType(r.type);
    req.setName(r.name);
    req.setProperties(structPb.Struct.fromJavaScript(r.properties) as never);
    req.setOptions(toPbOptions(r.options));
    if (r.provider) req.setProvider(toPbProvider(r.provider));
    const resp = await this.call<AnalyzerPb.AnalyzeResponse>(`Analyze(${r.urn})`, (c, cb) =>
      c.analyze(req, cb),
    );
    return fromPbDiagnostics(resp);
  }

  /** Analyze many resources with a bounded number of calls in flight; results in input order. */
  async analyzeAll(resources: AnalyzerResourceInput[], concurrency = 32): Promise<Diagnostic[][]> {
    const results: Diagnostic[][] = new Array<Diagnostic[]>(resources.length);
    let next = 0;
    const worker = async () => {
      while (next < resources.length) {
        const i = next++;
        results[i] = await this.analyze(resources[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, resources.length) }, worker));
    return results;
  }

  /** AnalyzeStack once, with every resource's outputs, parents and dependencies. */
  async analyzeStack(resources: AnalyzerResourceInput[]): Promise<Diagnostic[]> {
    const req = new pb.AnalyzeStackRequest();
    req.setResourcesList(
      resources.map((r) => {
        const a = new pb.AnalyzerResource();
        a.setUrn(r.urn);
        a.setType(r.type);
        a.setName(r.name);
        a.setProperties(structPb.Struct.fromJavaScript(r.properties) as never);
        a.setOptions(toPbOptions(r.options));
        if (r.provider) a.setProvider(toPbProvider(r.provider));
        if (r.parent) a.setParent(r.parent);
        a.setDependenciesList(r.dependencies);
        const pd = a.getPropertydependenciesMap();
        for (const [k, urns] of Object.entries(r.propertyDependencies)) {
          if (!urns || urns.length === 0) continue;
          const d = new pb.AnalyzerPropertyDependencies();
          d.setUrnsList(urns);
          pd.set(k, d);
        }
        return a;
      }),
    );
    const resp = await this.call<AnalyzerPb.AnalyzeResponse>("AnalyzeStack", (c, cb) =>
      c.analyzeStack(req, cb),
    );
    return fromPbDiagnostics(resp);
  }

  /** Stops the pack (the CLI kills its plugins the same way). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client?.close();
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.exitWaiters.add(() => resolve()));
    this.kill();
    await done;
  }

  private kill(): void {
    if (!this.exited) this.child.kill("SIGKILL");
  }

  private describeExit(): string {
    const e = this.exited;
    const how = e?.signal ? `was killed by ${e.signal}` : `exited with code ${e?.code}`;
    return `the pack process ${how}` + this.stderrSuffix();
  }

  private stderrSuffix(): string {
    const text = this.stderrText.trim();
    return text ? `; its output:\n${text}` : "";
  }

  private call<T>(
    what: string,
    invoke: (
      c: AnalyzerGrpc.AnalyzerClient,
      cb: (err: grpc.ServiceError | null, resp: T) => void,
    ) => grpc.ClientUnaryCall,
  ): Promise<T> {
    const client = this.client;
    if (!client || this.closed) {
      return Promise.reject(new PolicyPackError(`policy pack ${this.packDir} is not running`));
    }
    if (this.exited) {
      return Promise.reject(
        new PolicyPackError(`policy pack ${this.packDir}: ${what} failed: ${this.describeExit()}`),
      );
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | undefined, value?: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.exitWaiters.delete(onExit);
        if (err) reject(err);
        else resolve(value as T);
      };
      const onExit = (why: string) =>
        finish(new PolicyPackError(`policy pack ${this.packDir}: ${what} failed: ${why}`));
      this.exitWaiters.add(onExit);
      const timer = setTimeout(() => {
        finish(
          new PolicyPackError(
            `policy pack ${this.packDir} did not answer ${what} within ${this.rpcTimeoutMs / 1000} s ` +
              `(raise it with --policy-timeout)` +
              this.stderrSuffix(),
          ),
        );
        this.kill();
      }, this.rpcTimeoutMs);
      invoke(client, (err, resp) => {
        if (err) {
          // A dead pack shows up as UNAVAILABLE first; prefer the exit message when it comes.
          if (err.code === grpc.status.UNAVAILABLE && !this.exited) {
            setTimeout(
              () =>
                finish(
                  new PolicyPackError(
                    `policy pack ${this.packDir}: ${what} failed: ${err.details || err.message}` +
                      this.stderrSuffix(),
                  ),
                ),
              200,
            );
            return;
          }
          const code = grpc.status[err.code] ?? String(err.code);
          finish(
            new PolicyPackError(
              `policy pack ${this.packDir}: ${what} failed (${code}): ${err.details || err.message}` +
                this.stderrSuffix(),
            ),
          );
        } else finish(undefined, resp);
      });
    });
  }
}

function toPbOptions(o: AnalyzerOptions): AnalyzerPb.AnalyzerResourceOptions {
  const opts = new pb.AnalyzerResourceOptions();
  opts.setProtect(o.protect);
  opts.setIgnorechangesList(o.ignoreChanges);
  if (o.deleteBeforeReplace !== undefined) {
    opts.setDeletebeforereplace(o.deleteBeforeReplace);
    opts.setDeletebeforereplacedefined(true);
  }
  opts.setAdditionalsecretoutputsList(o.additionalSecretOutputs);
  opts.setAliasesList(o.aliases);
  const t = new pb.AnalyzerResourceOptions.CustomTimeouts();
  t.setCreate(o.customTimeouts.create);
  t.setUpdate(o.customTimeouts.update);
  t.setDelete(o.customTimeouts.delete);
  opts.setCustomtimeouts(t);
  if (o.parent) opts.setParent(o.parent);
  return opts;
}

function toPbProvider(p: AnalyzerProvider): AnalyzerPb.AnalyzerProviderResource {
  const r = new pb.AnalyzerProviderResource();
  r.setUrn(p.urn);
  r.setType(p.type);
  r.setName(p.name);
  r.setProperties(structPb.Struct.fromJavaScript(p.properties) as never);
  return r;
}

function fromPbDiagnostics(resp: AnalyzerPb.AnalyzeResponse): Diagnostic[] {
  return resp.getDiagnosticsList().map((d) => {
    const diag: Diagnostic = {
      policyName: d.getPolicyname(),
      policyPackName: d.getPolicypackname(),
      policyPackVersion: d.getPolicypackversion(),
      description: d.getDescription(),
      message: d.getMessage(),
      enforcementLevel: PB_TO_LEVEL[d.getEnforcementlevel()] ?? "advisory",
    };
    if (d.getUrn()) diag.urn = d.getUrn();
    return diag;
  });
}

/** Empty resource options, for resources that carry none. */
export function emptyOptions(parent?: string): AnalyzerOptions {
  const o: AnalyzerOptions = {
    protect: false,
    ignoreChanges: [],
    additionalSecretOutputs: [],
    aliases: [],
    customTimeouts: { create: 0, update: 0, delete: 0 },
  };
  if (parent) o.parent = parent;
  return o;
}
