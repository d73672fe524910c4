/**
 * Helpers shared by the policies: safe reads of analyzer props (which arrive wrapped in the
 * policy SDK's unknown-checking proxy), config with schema defaults, Kubernetes pod-spec access
 * and the relations a stack policy needs (which companion resource belongs to which bucket).
 *
 * Nothing here starts the policy-pack server; every module under policies/ is importable in tests.
 */
import type {
  PolicyConfigSchema,
  PolicyResource,
  ReportViolation,
  ResourceValidation,
  ResourceValidationArgs,
} from "@pulumi/policy";

/** The engine's sentinels for values that are not known during a preview (policy SDK proxy.ts). */
export const UNKNOWN_SENTINELS: ReadonlySet<string> = new Set([
  "04da6b54-80e4-46f7-96ec-b56ff0331ba9", // string (also the engine's computed placeholder)
  "3eeb2bf0-c639-47a8-9e75-3b44932eb421", // number
  "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7", // boolean
  "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2", // array
  "030794c1-ac77-496b-92df-f27374a8bd58", // asset
  "e48ece36-62e2-4504-bad9-02848725956a", // archive
  "dd056dcd-154b-4c76-9bd3-c8f88648b5ff", // object
]);

/** Key and value that mark a secret in serialized property values (sdk/go/common/resource/sig). */
export const SPECIAL_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** The type token of a resource class (`aws:s3/bucket:Bucket`), as the policy runtime's isType reads it. */
export function typeOf(cls: object): string {
  const t = (cls as { __pulumiType?: unknown }).__pulumiType;
  if (typeof t !== "string") throw new Error("not a Pulumi resource class (no __pulumiType)");
  return t;
}

/**
 * Tags a validation function with the one resource type it needs, as the SDK's
 * validateResourceOfType / validateStackResourcesOfType do: the policy server then skips the
 * policy (reporting it not applicable) without deserializing anything when a resource (or, for a
 * stack policy, every resource) is of another type.
 */
export function onlyFor<F extends object>(type: string, fn: F): F {
  (fn as { __pulumiType?: string }).__pulumiType = type;
  return fn;
}

/**
 * The error each `args.notApplicable` function threw for each reason, thrown again instead of a
 * new one (see `notApplicable`). Keyed on the function, so a caller with its own
 * `notApplicable` (a test harness) only ever gets its own errors back.
 */
const thrownFor = new WeakMap<object, Map<string, unknown>>();

/**
 * `args.notApplicable(reason)`, the SDK's error thrown once per reason and then rethrown.
 *
 * Most (resource, policy) pairs of a stack are not applicable (a bucket to each of the workload
 * policies), and building the SDK's `NotApplicableError` for each — with its stack trace, ~0.8 s
 * of a 5,000-resource Analyze run — was a large share of the pack's own work. The SDK's handler
 * only checks `instanceof NotApplicableError` and reads `reason` (server.js `makeAnalyzeRpcFun`,
 * `makeAnalyzeStackRpcFun`); neither changes the error, so throwing the same instance again
 * reports exactly what a new one would. The first error is built without a stack trace.
 */
export function notApplicable(
  args: { notApplicable: (reason?: string) => never },
  reason: string,
): never {
  const fn = args.notApplicable;
  let byReason = thrownFor.get(fn);
  const seen = byReason?.get(reason);
  if (seen !== undefined) throw seen;
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return fn.call(args, reason);
  } catch (e) {
    if (typeof e === "object" && e !== null && (e as { reason?: unknown }).reason === reason) {
      if (!byReason) thrownFor.set(fn, (byReason = new Map()));
      byReason.set(reason, e);
    }
    throw e;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * The key of a validation function's not-applicable-by-type test (src/pulumi-startup-policy.mjs,
 * `NOT_APPLICABLE_BY_TYPE_KEY`): the resource type → the reason it is not applicable, or undefined.
 */
export const NOT_APPLICABLE_BY_TYPE: unique symbol = Symbol.for(
  "golden-goose.notApplicableByType",
) as never;

/**
 * The key of a validation's variant that returns its not-applicable reason instead of throwing it
 * (src/pulumi-startup-policy.mjs, `NOT_APPLICABLE_BY_RETURN_KEY`).
 */
export const NOT_APPLICABLE_BY_RETURN: unique symbol = Symbol.for(
  "golden-goose.notApplicableByReturn",
) as never;

/** A validation body: reports violations, and returns a reason when it is not applicable. */
export type ValidationBody = (
  args: ResourceValidationArgs,
  report: ReportViolation,
) => string | undefined | void;

/** A resource validation carrying its not-applicable-by-type test and its returning variant. */
export type TypedValidation = ResourceValidation & {
  [NOT_APPLICABLE_BY_TYPE]: (type: string) => string | undefined;
  [NOT_APPLICABLE_BY_RETURN]: (args: ResourceValidationArgs, report: ReportViolation) => unknown;
};

/**
 * A resource validation for the types `applies` accepts; any other type is not applicable with
 * `reason` (through `args.notApplicable`, before anything else). `body` returns a reason when the
 * resource is not applicable for another cause, and the validation reports it through
 * `args.notApplicable` (which throws, as the SDK's protocol wants).
 *
 * The function carries both decisions, so the policy server goose starts
 * (src/pulumi-startup-policy.mjs) reports the same not-applicable reasons without building and
 * throwing an error: it skips the call for resources of other types, and runs `body` through the
 * returning variant. Elsewhere (the Pulumi CLI's own start of the pack, the test harness) the
 * function is called and throws, with the same result.
 */
export function onlyForTypes(
  applies: (type: string) => boolean,
  reason: string,
  body: ValidationBody,
): TypedValidation {
  const validation = (args: ResourceValidationArgs, report: ReportViolation): void => {
    if (!applies(args.type)) notApplicable(args, reason);
    const other = body(args, report);
    if (typeof other === "string") notApplicable(args, other);
  };
  return Object.assign(validation, {
    [NOT_APPLICABLE_BY_TYPE]: (type: string) => (applies(type) ? undefined : reason),
    [NOT_APPLICABLE_BY_RETURN]: (args: ResourceValidationArgs, report: ReportViolation) =>
      applies(args.type) ? (body(args, report) ?? undefined) : reason,
  });
}

/** True for an engine "unknown during preview" sentinel. */
export function isUnknown(value: unknown): boolean {
  return typeof value === "string" && UNKNOWN_SENTINELS.has(value);
}

/** True for a value still in its serialized secret form (`{4dabf…: 1b47…, value | ciphertext | plaintext}`). */
export function isSecretMarked(value: unknown): boolean {
  return isObject(value) && value[SPECIAL_SIG_KEY] === SECRET_SIG;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The plain object behind the SDK's unknown-checking proxy: reading it never throws, unknown
 * values show up as their sentinel strings. Use it where an unknown value is itself an answer
 * (a bucket name computed by the provider, a secret generated by another resource).
 */
export function raw<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    const target = (value as Record<string, unknown>)["__getSpecialProxyTarget"];
    if (target !== undefined && target !== null && typeof target === "object") return target as T;
  }
  return value;
}

/** `obj[a][b]…` on plain (raw) data; undefined as soon as a step is missing or not an object. */
export function dig(obj: unknown, ...path: (string | number)[]): unknown {
  let cur: unknown = obj;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[key];
  }
  return cur;
}

/**
 * The policy's config with the configSchema defaults filled in for missing properties. The CLI
 * fills defaults before it sends `Configure`; doing it again here keeps a policy correct when a
 * client sends no properties at all.
 */
export function configWithDefaults<T extends object>(
  schema: PolicyConfigSchema,
  given: Record<string, unknown>,
): T {
  const out: Record<string, unknown> = {};
  for (const [key, prop] of Object.entries(schema.properties)) {
    if (prop.default !== undefined) out[key] = prop.default;
  }
  for (const [key, value] of Object.entries(given)) {
    if (value !== undefined) out[key] = value;
  }
  return out as T;
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

/** Type tokens of the workload kinds whose pod specs the workload policies inspect. */
export const WORKLOAD_TYPES = {
  deployment: "kubernetes:apps/v1:Deployment",
  statefulSet: "kubernetes:apps/v1:StatefulSet",
  daemonSet: "kubernetes:apps/v1:DaemonSet",
  job: "kubernetes:batch/v1:Job",
  cronJob: "kubernetes:batch/v1:CronJob",
  pod: "kubernetes:core/v1:Pod",
} as const;

const WORKLOAD_TYPE_SET: ReadonlySet<string> = new Set(Object.values(WORKLOAD_TYPES));

export function isWorkloadType(type: string): boolean {
  return WORKLOAD_TYPE_SET.has(type);
}

/** Long-running kinds: their containers need probes. A bare Pod counts unless it runs to completion. */
export function isLongRunning(type: string, podSpec: Record<string, unknown> | undefined): boolean {
  if (type === WORKLOAD_TYPES.job || type === WORKLOAD_TYPES.cronJob) return false;
  if (type === WORKLOAD_TYPES.pod) {
    const policy = podSpec?.["restartPolicy"];
    return policy === undefined || policy === "Always";
  }
  return true;
}

/** Where the pod spec sits in each workload kind, e.g. `spec.template.spec` for a Deployment. */
export function podSpecPath(type: string): string[] {
  switch (type) {
    case WORKLOAD_TYPES.pod:
      return ["spec"];
    case WORKLOAD_TYPES.cronJob:
      return ["spec", "jobTemplate", "spec", "template", "spec"];
    default:
      return ["spec", "template", "spec"];
  }
}

/** Where the pod template's metadata sits (undefined for a bare Pod, whose metadata is its own). */
export function podTemplateMetadataPath(type: string): string[] | undefined {
  switch (type) {
    case WORKLOAD_TYPES.pod:
      return undefined;
    case WORKLOAD_TYPES.cronJob:
      return ["spec", "jobTemplate", "spec", "template", "metadata"];
    default:
      return ["spec", "template", "metadata"];
  }
}

export interface ContainerRef {
  /** `containers` or `initContainers`. */
  list: "containers" | "initContainers";
  index: number;
  name: string;
  /** Field path of this container in the resource, for messages: `spec.template.spec.containers[0]`. */
  path: string;
  container: Record<string, unknown>;
}

/** The pod spec of a workload's props, or undefined when the props carry none. */
export function podSpecOf(type: string, props: unknown): Record<string, unknown> | undefined {
  const spec = dig(props, ...podSpecPath(type));
  return isObject(spec) ? spec : undefined;
}

/**
 * `containersOf` results per props object and type. Within one request every policy reads the
 * same props proxy (the pack's server shares it), so the workload policies find the containers
 * once instead of once each. Only a result is kept: a read that threw (an unknown value) throws
 * again for the next policy, as before. Callers do not modify the list or its entries.
 */
const containersSeen = new WeakMap<object, { type: string; refs: readonly ContainerRef[] }>();

/** Every container and init container of a workload, with the field path for messages. */
export function containersOf(type: string, props: unknown): readonly ContainerRef[] {
  if (props === null || typeof props !== "object") return findContainers(type, props);
  const seen = containersSeen.get(props);
  if (seen !== undefined && seen.type === type) return seen.refs;
  const refs = findContainers(type, props);
  containersSeen.set(props, { type, refs });
  return refs;
}

function findContainers(type: string, props: unknown): ContainerRef[] {
  const base = podSpecPath(type).join(".");
  const spec = podSpecOf(type, props);
  const out: ContainerRef[] = [];
  if (!spec) return out;
  for (const list of ["containers", "initContainers"] as const) {
    const items = spec[list];
    if (!Array.isArray(items)) continue;
    items.forEach((c: unknown, index) => {
      if (!isObject(c)) return;
      const name = typeof c["name"] === "string" ? c["name"] : `#${index}`;
      out.push({ list, index, name, path: `${base}.${list}[${index}]`, container: c });
    });
  }
  return out;
}

const kinds = new Map<string, string>();

/** The short resource description used in messages: `Deployment "grafana"`. */
export function kindOf(type: string): string {
  let kind = kinds.get(type);
  if (kind === undefined) {
    kind = type.split(":").pop() ?? type;
    if (kinds.size < 1024) kinds.set(type, kind);
  }
  return kind;
}

// ---------------------------------------------------------------------------------------------
// Stack relations

/** Does `resource` depend on `target`, directly or through the given property? */
export function dependsOn(
  resource: PolicyResource,
  target: PolicyResource,
  prop?: string,
): boolean {
  const byProp = prop ? (resource.propertyDependencies?.[prop] ?? []) : [];
  if (byProp.some((r) => r.urn === target.urn)) return true;
  return (resource.dependencies ?? []).some((r) => r.urn === target.urn);
}

/** Names a bucket is referred to by: its `bucket` and `id` props (when known). */
function bucketNames(bucket: PolicyResource): Set<string> {
  const props = raw(bucket.props) as Record<string, unknown>;
  const names = new Set<string>();
  for (const key of ["bucket", "id"]) {
    const v = props[key];
    if (typeof v === "string" && v !== "" && !isUnknown(v)) names.add(v);
  }
  return names;
}

/** Type tokens of S3 buckets: the current class and its deprecated alias (still checked). */
export const BUCKET_TYPES: readonly string[] = ["aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"];

/** Deprecated `…V2` aliases of the bucket companion resources, by current type. */
const COMPANION_ALIASES: Record<string, string> = {
  "aws:s3/bucketVersioning:BucketVersioning": "aws:s3/bucketVersioningV2:BucketVersioningV2",
  "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
  "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration":
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
  "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration":
    "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2",
};

/** Resources of a companion type, counting its deprecated `…V2` alias as the same type. */
export function ofCompanionType(type: string, resources: PolicyResource[]): PolicyResource[] {
  const alias = COMPANION_ALIASES[type];
  return resources.filter((r) => r.type === type || (alias !== undefined && r.type === alias));
}

/**
 * Among `candidates` (companions of one type, e.g. from `ofCompanionType`), those configuring
 * `bucket`: their `bucket` prop equals the bucket's name, or they depend on the bucket (through
 * their `bucket` property or at all) when the name is not known yet.
 */
export function companionsOf(
  bucket: PolicyResource,
  candidates: PolicyResource[],
): PolicyResource[] {
  const names = bucketNames(bucket);
  return candidates.filter((r) => {
    const ref = (raw(r.props) as Record<string, unknown>)["bucket"];
    if (typeof ref === "string" && names.has(ref)) return true;
    return dependsOn(r, bucket, "bucket");
  });
}

/** Is `ancestor` on `resource`'s parent chain? */
export function isDescendantOf(resource: PolicyResource, ancestor: PolicyResource): boolean {
  const seen = new Set<string>();
  let cur = resource.parent;
  while (cur && !seen.has(cur.urn)) {
    if (cur.urn === ancestor.urn) return true;
    seen.add(cur.urn);
    cur = cur.parent;
  }
  return false;
}

/** Days in a Prometheus duration (`15d`, `2w`, `1y`, `720h`, `1w3d`); undefined when malformed. */
export function durationDays(text: string): number | undefined {
  const unitDays: Record<string, number> = {
    y: 365,
    w: 7,
    d: 1,
    h: 1 / 24,
    m: 1 / 1440,
    s: 1 / 86400,
    ms: 1 / 86_400_000,
  };
  const re = /(\d+)(ms|y|w|d|h|m|s)/y;
  let total = 0;
  let pos = 0;
  if (text === "") return undefined;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m || m[1] === undefined || m[2] === undefined) return undefined;
    total += Number(m[1]) * (unitDays[m[2]] ?? 0);
    pos = re.lastIndex;
  }
  return total;
}
