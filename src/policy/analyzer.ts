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
import { createRequire } from "node:module";
import * as grpc from "@grpc/grpc-js";
import type * as AnalyzerPb from "@pulumi/pulumi/proto/analyzer_pb.js";
import type * as AnalyzerGrpc from "@pulumi/pulumi/proto/analyzer_grpc_pb.js";
import { PolicyPackError } from "./errors.js";
import { PackLaunch, type LaunchOptions } from "./pack-launch.js";
import { rememberedStruct, rememberStruct } from "./struct-cache.js";

export { packEnv, PackLaunch, PULUMI_STARTUP, RUN_POLICY_PACK } from "./pack-launch.js";

const require = createRequire(import.meta.url);
const pulumiMain = require.resolve("@pulumi/pulumi");
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
interface BinaryReader {
  nextField(): boolean;
  isEndGroup(): boolean;
  getFieldNumber(): number;
  readMessage<M>(msg: M, read: (msg: M, reader: BinaryReader) => unknown): void;
  readBytes(): Uint8Array;
  readEnum(): number;
  skipField(): void;
}
const jspb = requireFromPulumi("google-protobuf") as {
  BinaryReader: new (bytes: Uint8Array) => BinaryReader;
  // The package's namespace object: BinaryDecoder is not among its top-level exports.
  jspb: { BinaryDecoder: new (bytes: Uint8Array) => { readString(length: number): string } };
};

/** AnalyzeResponse's `diagnostics` field number (pulumi's analyzer.proto). */
const DIAGNOSTICS_FIELD = 2;

/**
 * An AnalyzeResponse decoded with its diagnostics only (issue 18: the analyzer). goose reads
 * nothing else of it, and the rest — the not-applicable list, most (resource, policy) pairs of a
 * stack, the same few policy names and reasons over and over — was most of what goose decoded
 * per Analyze call (~0.6 s of goose's CPU for the bench's 5,000 resources). The diagnostics are
 * decoded by the generated code, as before.
 */
export function decodeDiagnosticsOnly(bytes: Uint8Array): AnalyzerPb.AnalyzeResponse {
  const msg = new pb.AnalyzeResponse();
  const reader = new jspb.BinaryReader(bytes);
  while (reader.nextField()) {
    if (reader.isEndGroup()) break;
    if (reader.getFieldNumber() === DIAGNOSTICS_FIELD) {
      const d = new pb.AnalyzeDiagnostic();
      reader.readMessage(d, readDiagnostic);
      msg.addDiagnostics(d);
    } else {
      reader.skipField();
    }
  }
  return msg;
}

type Diag = AnalyzerPb.AnalyzeDiagnostic;
/** AnalyzeDiagnostic's string fields by number, as its generated decoder sets them. */
const DIAGNOSTIC_STRINGS: Record<number, (d: Diag, v: string) => void> = {
  1: (d, v) => d.setPolicyname(v),
  2: (d, v) => d.setPolicypackname(v),
  3: (d, v) => d.setPolicypackversion(v),
  4: (d, v) => d.setDescription(v),
  5: (d, v) => d.setMessage(v),
  8: (d, v) => d.setUrn(v),
};
/** Its enum fields. */
const DIAGNOSTIC_ENUMS: Record<number, (d: Diag, v: number) => void> = {
  7: (d, v) => d.setEnforcementlevel(v as AnalyzerPb.EnforcementLevel),
  9: (d, v) => d.setSeverity(v as AnalyzerPb.PolicySeverity),
};

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * One AnalyzeDiagnostic, as its generated decoder reads it (the same fields, setters and skipped
 * unknown fields), except that its strings are decoded from UTF-8 by Node rather than byte by
 * byte: the 13,754 diagnostics of the bench's AnalyzeStack cost goose ~0.13 s in google-protobuf's
 * decoder. Valid UTF-8 decodes to one string either way; bytes that are not valid UTF-8 (what
 * google-protobuf's encoder writes for a lone surrogate) go to google-protobuf's own decoder, as
 * before — given only the string's bytes, so a sequence truncated at its end is not completed
 * with the next field's bytes, as the generated decoder would.
 */
function readDiagnostic(d: Diag, reader: BinaryReader): void {
  while (reader.nextField()) {
    if (reader.isEndGroup()) break;
    const field = reader.getFieldNumber();
    const setString = DIAGNOSTIC_STRINGS[field];
    const setEnum = DIAGNOSTIC_ENUMS[field];
    if (setString) {
      const bytes = reader.readBytes();
      let text: string;
      try {
        text = utf8.decode(bytes);
      } catch {
        text = new jspb.jspb.BinaryDecoder(bytes).readString(bytes.length);
      }
      setString(d, text);
    } else if (setEnum) {
      setEnum(d, reader.readEnum());
    } else {
      reader.skipField();
    }
  }
}

/** The generated Analyzer client, with Analyze and AnalyzeStack responses decoded as above. */
const AnalyzerClient = (
  requireFromPulumi("@grpc/grpc-js") as typeof grpc
).makeGenericClientConstructor(
  {
    ...rpc.AnalyzerService,
    analyze: { ...rpc.AnalyzerService.analyze, responseDeserialize: decodeDiagnosticsOnly },
    analyzeStack: {
      ...rpc.AnalyzerService.analyzeStack,
      responseDeserialize: decodeDiagnosticsOnly,
    },
  } as unknown as grpc.ServiceDefinition,
  "Analyzer",
) as unknown as typeof rpc.AnalyzerClient;

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

export interface StartOptions extends LaunchOptions {
  /** Milliseconds each RPC may take before the pack is declared hung (default 30 s). */
  rpcTimeoutMs?: number;
}

/** A running policy pack. Always `close()` it (idempotent). */
export class PolicyPackProcess {
  private closed = false;
  private info: Promise<AnalyzerInfo> | undefined;
  private answers = 0;

  /** How many of this process's calls the pack has answered (or failed) so far. */
  get answered(): number {
    return this.answers;
  }

  private constructor(
    readonly packDir: string,
    private readonly launch: PackLaunch,
    private readonly client: AnalyzerGrpc.AnalyzerClient,
    private readonly rpcTimeoutMs: number,
  ) {}

  /** Starts the pack and waits until it prints its port. */
  static start(packDir: string, opts: StartOptions = {}): Promise<PolicyPackProcess> {
    return PolicyPackProcess.attach(new PackLaunch(packDir, opts), opts);
  }

  /**
   * Waits for a started pack (`new PackLaunch(…)`, possibly spawned before this module loaded) to
   * print its port and connects to it. On a failed start the launch is closed and the error thrown.
   */
  static async attach(
    launch: PackLaunch,
    opts: { rpcTimeoutMs?: number } = {},
  ): Promise<PolicyPackProcess> {
    let port: number;
    try {
      port = await launch.port;
    } catch (err) {
      await launch.close();
      throw err;
    }
    const client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": 400 * 1024 * 1024,
      "grpc.max_send_message_length": 400 * 1024 * 1024,
    });
    const pack = new PolicyPackProcess(launch.packDir, launch, client, opts.rpcTimeoutMs ?? 30_000);
    // Asked now, while the caller still renders: the connection and the pack's first call are
    // made off the critical path, and the answer is there when the policy run asks for it. A
    // failure is the caller's when it asks (the same promise).
    pack.getAnalyzerInfo().catch(() => undefined);
    return pack;
  }

  /** What the pack wrote to stderr so far. */
  get stderr(): string {
    return this.launch.stderr;
  }

  /** The pack's process id (bench/preview reads its CPU time). */
  get pid(): number | undefined {
    return this.launch.pid;
  }

  /**
   * GetAnalyzerInfo, asked once per process (what a pack declares does not change while it runs;
   * `goose preview --all` runs a policy run per stage on one pack). Callers only read the result.
   */
  getAnalyzerInfo(): Promise<AnalyzerInfo> {
    this.info ??= this.fetchAnalyzerInfo();
    return this.info;
  }

  private async fetchAnalyzerInfo(): Promise<AnalyzerInfo> {
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
    const req = analyzeRequest(r);
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
  async analyzeStack(
    resources: AnalyzerResourceInput[] | AnalyzeStackRequest,
  ): Promise<Diagnostic[]> {
    const req = Array.isArray(resources) ? analyzeStackRequest(resources) : resources;
    const resp = await this.call<AnalyzerPb.AnalyzeResponse>("AnalyzeStack", (c, cb) =>
      c.analyzeStack(req.message as AnalyzerPb.AnalyzeStackRequest, cb),
    );
    return fromPbDiagnostics(resp);
  }

  /** Stops the pack (the CLI kills its plugins the same way). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
    await this.launch.close();
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
    if (this.launch.exited) {
      return Promise.reject(
        new PolicyPackError(
          `policy pack ${this.packDir}: ${what} failed: ${this.launch.describeExit()}`,
        ),
      );
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | undefined, value?: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        offExit();
        if (err) reject(err);
        else resolve(value as T);
      };
      const timer = setTimeout(() => {
        finish(
          new PolicyPackError(
            `policy pack ${this.packDir} did not answer ${what} within ${this.rpcTimeoutMs / 1000} s ` +
              `(raise it with --policy-timeout)` +
              this.launch.stderrSuffix(),
          ),
        );
        this.launch.kill();
      }, this.rpcTimeoutMs);
      const offExit = this.launch.onExit((why) =>
        finish(new PolicyPackError(`policy pack ${this.packDir}: ${what} failed: ${why}`)),
      );
      invoke(client, (err, resp) => {
        this.answers++;
        if (err) {
          // A dead pack shows up as UNAVAILABLE first; prefer the exit message when it comes.
          if (err.code === grpc.status.UNAVAILABLE && !this.launch.exited) {
            setTimeout(
              () =>
                finish(
                  new PolicyPackError(
                    `policy pack ${this.packDir}: ${what} failed: ${err.details || err.message}` +
                      this.launch.stderrSuffix(),
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
                this.launch.stderrSuffix(),
            ),
          );
        } else finish(undefined, resp);
      });
    });
  }
}

/** The Analyze request of one resource (its inputs), as the CLI sends it. */
export function analyzeRequest(r: AnalyzerResourceInput): AnalyzerPb.AnalyzeRequest {
  const req = new pb.AnalyzeRequest();
  req.setUrn(r.urn);
  req.setType(r.type);
  req.setName(r.name);
  req.setProperties(structOf(r.properties));
  req.setOptions(toPbOptions(r.options));
  if (r.provider) req.setProvider(toPbProvider(r.provider));
  return req;
}

/** An AnalyzeStack request, built ahead of the call (`runPolicies` builds it while Analyze runs). */
export interface AnalyzeStackRequest {
  readonly message: unknown;
}

/** Builds the AnalyzeStack request of `resources` (their outputs, parents and dependencies). */
export function analyzeStackRequest(resources: AnalyzerResourceInput[]): AnalyzeStackRequest {
  const req = new pb.AnalyzeStackRequest();
  req.setResourcesList(
    resources.map((r) => {
      const a = new pb.AnalyzerResource();
      a.setUrn(r.urn);
      a.setType(r.type);
      a.setName(r.name);
      a.setProperties(structOf(r.properties));
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
  return { message: req };
}

/**
 * The protobuf Struct of a property bag, converted once per object (or the one the render received
 * it as: struct-cache.ts): a stage's provider's inputs go with every resource it serves, and the
 * same bag can be both a resource's Analyze inputs and its AnalyzeStack outputs. A message only
 * serialises its fields, so one Struct can sit in several requests. Property bags are the render's
 * results and are not changed after it.
 */
function structOf(properties: Record<string, unknown>): never {
  let s = rememberedStruct(properties);
  if (s === undefined) {
    s = structPb.Struct.fromJavaScript(properties);
    rememberStruct(properties, s);
  }
  return s as never;
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
  r.setProperties(structOf(p.properties));
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
