/**
 * Platform policies: what makes a rendered stage actually work (and stay safe) after `pulumi up`
 * in a real cluster and account. Each catches a class of problem found in a deployed stage:
 *
 * - `k8s-allowed-registries`: images only from the registries the stage allows (the publishers'
 *   own), so an image that moved off a third-party repository is caught in preview;
 * - `k8s-network-policy-coverage`: a default-deny NetworkPolicy and one selecting every workload;
 * - `prometheus-admin-api-loopback`: Prometheus' admin API (TSDB delete included) only on loopback;
 * - `kms-key-protected`: the KMS key of a protected bucket is protected too;
 * - `alertmanager-receivers-configured`: the receivers Secret Alertmanager mounts is in the stack
 *   (credentials from encrypted stack config) or declared external.
 */
import type {
  PolicyResource,
  ResourceValidationPolicy,
  StackValidationPolicy,
} from "@pulumi/policy";
import {
  BUCKET_TYPES,
  companionsOf,
  configWithDefaults,
  containersOf,
  dependsOn,
  dig,
  isObject,
  isWorkloadType,
  kindOf,
  ofCompanionType,
  podTemplateMetadataPath,
  raw,
  WORKLOAD_TYPES,
} from "./util.js";
import { onWorkloads } from "./workloads.js";

// ---------------------------------------------------------------------------------------------
// Registries

/**
 * The repository an image comes from, as `registry/path` with Docker Hub's implicit parts made
 * explicit: `grafana/grafana:1` → `docker.io/grafana/grafana`, `busybox` → `docker.io/library/busybox`.
 */
export function imageRepository(image: string): string {
  const noDigest = image.split("@")[0] ?? image;
  const slash = noDigest.lastIndexOf("/");
  const colon = noDigest.lastIndexOf(":");
  const name = colon > slash ? noDigest.slice(0, colon) : noDigest;
  const parts = name.split("/");
  const first = parts[0] ?? "";
  const hasRegistry =
    parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost");
  if (hasRegistry) return name;
  return parts.length === 1 ? `docker.io/library/${name}` : `docker.io/${name}`;
}

/** The publishers' own registries of the images the platform runs (docs/platform.md, "Images"). */
export const PUBLISHER_REGISTRIES = [
  "quay.io/prometheus/",
  "docker.io/grafana/",
  "docker.io/nginxinc/",
  "public.ecr.aws/aws-cli/",
  "ghcr.io/aquasecurity/",
  "registry.k8s.io/",
];

interface RegistriesConfig {
  allowed: string[];
}
const registriesSchema = {
  properties: {
    allowed: {
      type: "array",
      items: { type: "string", minLength: 1 },
      default: PUBLISHER_REGISTRIES,
      description:
        "Repository prefixes images may come from (registry/path/), e.g. quay.io/prometheus/.",
    },
  },
} satisfies ResourceValidationPolicy["configSchema"];

export const k8sAllowedRegistries: ResourceValidationPolicy = {
  name: "k8s-allowed-registries",
  description: "Container images come only from the registries the stage allows.",
  severity: "high",
  configSchema: registriesSchema,
  validateResource: onWorkloads((args, report, what) => {
    const cfg = configWithDefaults<RegistriesConfig>(registriesSchema, args.getConfig());
    for (const c of containersOf(args.type, args.props)) {
      const image = c.container["image"];
      if (typeof image !== "string" || image === "") continue; // k8s-image-pinned reports it
      const repo = imageRepository(image);
      if (!cfg.allowed.some((p) => `${repo}/`.startsWith(p.endsWith("/") ? p : `${p}/`))) {
        report(
          `${what}: container "${c.name}" (${c.path}.image) uses "${image}" from ${repo}, which is ` +
            `not an allowed registry (${cfg.allowed.join(", ")}). Use the publisher's own image ` +
            "(docs/platform.md lists them) or add its repository to k8s-allowed-registries.allowed " +
            "in policy-pack/config/<stage>.json.",
        );
      }
    }
  }),
};

// ---------------------------------------------------------------------------------------------
// NetworkPolicies

const NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy";

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Does a label selector select these labels (Kubernetes semantics; `{}` selects everything)? */
export function selects(selector: unknown, labels: Record<string, string>): boolean {
  if (!isObject(selector)) return false;
  const s = selector as Selector;
  for (const [k, v] of Object.entries(s.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of s.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const val = labels[e.key];
    const values = e.values ?? [];
    switch (e.operator) {
      case "In":
        if (!has || !values.includes(val!)) return false;
        break;
      case "NotIn":
        if (has && values.includes(val!)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

function namespaceOf(r: PolicyResource): string | undefined {
  const ns = dig(raw(r.props), "metadata", "namespace");
  return typeof ns === "string" ? ns : undefined;
}

function podLabels(r: PolicyResource): Record<string, string> {
  const path = podTemplateMetadataPath(r.type);
  const labels = path
    ? dig(raw(r.props), ...path, "labels")
    : dig(raw(r.props), "metadata", "labels");
  return isObject(labels) ? (labels as Record<string, string>) : {};
}

export const k8sNetworkPolicyCoverage: StackValidationPolicy = {
  name: "k8s-network-policy-coverage",
  description:
    "Each namespace with workloads has a default-deny NetworkPolicy, and every workload is selected by a NetworkPolicy of its own.",
  severity: "high",
  validateStack: (args, report) => {
    const nps = args.resources.filter((r) => r.type === NETWORK_POLICY);
    const workloads = args.resources.filter((r) => isWorkloadType(r.type));
    const namespaces = new Set(workloads.map(namespaceOf));
    for (const ns of namespaces) {
      const here = nps.filter((np) => namespaceOf(np) === ns || namespaceOf(np) === undefined);
      const denyAll = here.some((np) => {
        const spec = dig(raw(np.props), "spec");
        const types = dig(spec, "policyTypes");
        const sel = dig(spec, "podSelector");
        return (
          isObject(sel) &&
          Object.keys(sel).length === 0 &&
          Array.isArray(types) &&
          types.includes("Ingress") &&
          types.includes("Egress") &&
          (dig(spec, "ingress") === undefined ||
            (dig(spec, "ingress") as unknown[]).length === 0) &&
          (dig(spec, "egress") === undefined || (dig(spec, "egress") as unknown[]).length === 0)
        );
      });
      if (!denyAll) {
        report(
          `Namespace ${ns ?? "(default)"} has workloads but no default-deny NetworkPolicy ` +
            "(podSelector: {}, policyTypes: [Ingress, Egress], no rules). Add one, then allow only " +
            "the flows the workloads need.",
        );
      }
      for (const w of workloads.filter((x) => namespaceOf(x) === ns)) {
        const labels = podLabels(w);
        const own = here.some((np) => {
          const sel = dig(raw(np.props), "spec", "podSelector");
          return isObject(sel) && Object.keys(sel).length > 0 && selects(sel, labels);
        });
        if (!own) {
          report(
            `${kindOf(w.type)} "${w.name}" is selected by no NetworkPolicy of its own (only the ` +
              "namespace-wide ones, if any): its allowed flows are undefined. Add a NetworkPolicy " +
              "whose podSelector matches its pod labels and lists its ingress and egress.",
            w.urn,
          );
        }
      }
    }
  },
};

// ---------------------------------------------------------------------------------------------
// Prometheus admin API

const LOOPBACK = /^(127\.0\.0\.1|localhost|\[::1\]):\d+$/;

export const prometheusAdminApiLoopback: ResourceValidationPolicy = {
  name: "prometheus-admin-api-loopback",
  description:
    "A Prometheus with --web.enable-admin-api listens on loopback only, so the admin API (TSDB snapshot and delete) is not reachable from outside its pod.",
  severity: "critical",
  validateResource: onWorkloads((args, report, what) => {
    for (const c of containersOf(args.type, args.props)) {
      const argv = [
        ...((Array.isArray(c.container["command"]) ? c.container["command"] : []) as unknown[]),
        ...((Array.isArray(c.container["args"]) ? c.container["args"] : []) as unknown[]),
      ].filter((a): a is string => typeof a === "string");
      if (!argv.some((a) => a === "--web.enable-admin-api")) continue;
      const listen = argv
        .filter((a) => a.startsWith("--web.listen-address="))
        .map((a) => a.slice("--web.listen-address=".length));
      if (listen.length === 0 || !listen.every((l) => LOOPBACK.test(l))) {
        report(
          `${what}: container "${c.name}" enables the admin API and listens on ` +
            `${listen.length ? listen.join(", ") : "0.0.0.0:9090 (the default)"}: every pod that ` +
            "can reach it can delete the TSDB. Add --web.listen-address=127.0.0.1:9090 and serve " +
            "the pod's port through a proxy that refuses /api/v1/admin/, or drop --web.enable-admin-api.",
        );
      }
    }
  }),
};

// ---------------------------------------------------------------------------------------------
// KMS keys of protected buckets

const SSE =
  "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration";
const KMS_KEY = "aws:kms/key:Key";

export const kmsKeyProtected: StackValidationPolicy = {
  name: "kms-key-protected",
  description:
    "The KMS key encrypting a protected bucket is protected too: deleting it would make every object in the bucket unreadable.",
  severity: "critical",
  validateStack: (args, report) => {
    const keys = args.resources.filter((r) => r.type === KMS_KEY);
    const sses = ofCompanionType(SSE, args.resources);
    for (const bucket of args.resources.filter((r) => BUCKET_TYPES.includes(r.type))) {
      if (!bucket.opts?.protect) continue;
      for (const sse of companionsOf(bucket, sses)) {
        const rules = dig(raw(sse.props), "rules");
        const ids = (Array.isArray(rules) ? rules : [])
          .map((r) => dig(r, "applyServerSideEncryptionByDefault", "kmsMasterKeyId"))
          .filter((x): x is string => typeof x === "string");
        const used = keys.filter(
          (k) =>
            dependsOn(sse, k, "rules") ||
            ids.includes(String(dig(raw(k.props), "arn"))) ||
            ids.includes(String(dig(raw(k.props), "keyId"))),
        );
        for (const key of used.filter((k) => !k.opts?.protect)) {
          report(
            `KMS key "${key.name}" encrypts the protected bucket "${bucket.name}" but is not ` +
              "protected: deleting it makes every backup in the bucket unreadable. Create it " +
              "with { protect: true } like the bucket.",
            key.urn,
          );
        }
      }
    }
  },
};

// ---------------------------------------------------------------------------------------------
// Alertmanager receivers

/** Pod-template annotation declaring that the receivers Secret comes from outside the stack. */
export const RECEIVERS_EXTERNAL_ANNOTATION = "goldengoose.io/receivers-secret";

interface ReceiversConfig {
  secretNames: string[];
}
const receiversSchema = {
  properties: {
    secretNames: {
      type: "array",
      items: { type: "string", minLength: 1 },
      default: ["alertmanager-receivers"],
      description: "Secrets holding receiver credentials.",
    },
  },
} satisfies StackValidationPolicy["configSchema"];

export const alertmanagerReceiversConfigured: StackValidationPolicy = {
  name: "alertmanager-receivers-configured",
  description:
    "The receiver credentials Alertmanager mounts are in the stack (encrypted stack config) or declared external; otherwise it cannot notify anyone.",
  severity: "high",
  configSchema: receiversSchema,
  validateStack: (args, report) => {
    const cfg = configWithDefaults<ReceiversConfig>(receiversSchema, args.getConfig());
    const secrets = new Set(
      args.resources
        .filter((r) => r.type === "kubernetes:core/v1:Secret")
        .map((r) => dig(raw(r.props), "metadata", "name")),
    );
    for (const w of args.resources.filter((r) => isWorkloadType(r.type))) {
      const spec = dig(
        raw(w.props),
        ...(w.type === WORKLOAD_TYPES.cronJob
          ? ["spec", "jobTemplate", "spec", "template", "spec"]
          : ["spec", "template", "spec"]),
      );
      const volumes = dig(spec, "volumes");
      const path = podTemplateMetadataPath(w.type);
      const external =
        path !== undefined &&
        dig(raw(w.props), ...path, "annotations", RECEIVERS_EXTERNAL_ANNOTATION) === "external";
      for (const v of Array.isArray(volumes) ? volumes : []) {
        const name = dig(v, "secret", "secretName");
        if (typeof name !== "string" || !cfg.secretNames.includes(name)) continue;
        if (secrets.has(name) || external) continue;
        report(
          `${kindOf(w.type)} "${w.name}" mounts the Secret "${name}" with the receivers' ` +
            "credentials, but the stage sets none: Alertmanager will not start (or, with an " +
            "optional mount, fail at send time). Set them encrypted: `pulumi config set --secret " +
            "golden-goose:pagerdutyRoutingKey <key>` and `pulumi config set --secret " +
            "golden-goose:ticketToken <token>`, or set golden-goose:alerting.receivers: external " +
            "when the Secret comes from your secret store.",
          w.urn,
        );
      }
    }
  },
};

export const platformResourcePolicies: ResourceValidationPolicy[] = [
  k8sAllowedRegistries,
  prometheusAdminApiLoopback,
];
export const platformStackPolicies: StackValidationPolicy[] = [
  k8sNetworkPolicyCoverage,
  kmsKeyProtected,
  alertmanagerReceiversConfigured,
];
