/**
 * Kubernetes workload policies: every Deployment, StatefulSet, DaemonSet, Job, CronJob and Pod the
 * stage creates. Each policy finds the pod spec where the kind keeps it (`spec.template.spec`,
 * `spec.jobTemplate.spec.template.spec`, `spec`) and checks every container and init container.
 * Required labels also apply to the other Kubernetes objects (Secret, ConfigMap, Service, …).
 */
import type {
  ReportViolation,
  ResourceValidation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
} from "@pulumi/policy";
import { parseImageRef } from "../../src/images/ref.js";
import {
  configWithDefaults,
  containersOf,
  dig,
  isLongRunning,
  isObject,
  isWorkloadType,
  kindOf,
  podSpecOf,
  podSpecPath,
  podTemplateMetadataPath,
  WORKLOAD_TYPES,
  type ContainerRef,
  onlyForTypes,
} from "./util.js";

const WORKLOAD_LIST = Object.values(WORKLOAD_TYPES).map(kindOf).join(", ");

/**
 * A validation for the six workload kinds; any other type is not applicable (reported through
 * `args.notApplicable`, as `validateResourceOfType` does for one type).
 */
export function onWorkloads(
  fn: (args: ResourceValidationArgs, report: ReportViolation, what: string) => string | void,
): ResourceValidation {
  return onlyForTypes(
    isWorkloadType,
    `Policy only applies to workloads (${WORKLOAD_LIST})`,
    (args, report) => fn(args, report, `${kindOf(args.type)} "${args.name}"`),
  );
}

function forEachContainer(
  args: ResourceValidationArgs,
  fn: (c: ContainerRef) => void,
  lists: ContainerRef["list"][] = ["containers", "initContainers"],
): void {
  for (const c of containersOf(args.type, args.props)) {
    if (lists.includes(c.list)) fn(c);
  }
}

interface RequestsLimitsConfig {
  requireCpuLimit: boolean;
}
const requestsLimitsSchema = {
  properties: {
    requireCpuLimit: {
      type: "boolean",
      default: true,
      description: "Require limits.cpu as well as limits.memory.",
    },
  },
} satisfies ResourceValidationPolicy["configSchema"];

export const k8sResourcesRequestsLimits: ResourceValidationPolicy = {
  name: "k8s-resources-requests-limits",
  description: "Every container declares CPU and memory requests and limits.",
  severity: "medium",
  configSchema: requestsLimitsSchema,
  validateResource: onWorkloads((args, report, what) => {
    const cfg = configWithDefaults<RequestsLimitsConfig>(requestsLimitsSchema, args.getConfig());
    const needed = [
      ["requests", "cpu"],
      ["requests", "memory"],
      ["limits", "memory"],
      ...(cfg.requireCpuLimit ? [["limits", "cpu"]] : []),
    ] as const;
    forEachContainer(args, (c) => {
      const missing = needed
        .filter(([kind, res]) => {
          const v = dig(c.container, "resources", kind, res);
          return v === undefined || v === null || v === "";
        })
        .map(([kind, res]) => `resources.${kind}.${res}`);
      if (missing.length > 0) {
        report(
          `${what}: container "${c.name}" (${c.path}) has no ${missing.join(", ")}. Set ` +
            `resources: { requests: { cpu, memory }, limits: { cpu, memory } } on it.`,
        );
      }
    });
  }),
};

/**
 * Splits an image reference into name (the repository, registry included), tag and digest
 * (`registry:5000/repo:tag@sha256:…`), with goose's one parser (src/images/ref.ts, bundled).
 */
export function parseImage(ref: string): { name: string; tag?: string; digest?: string } {
  const { repository, tag, digest } = parseImageRef(ref);
  return { name: repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

interface ImageConfig {
  requireDigest: boolean;
}
const imageSchema = {
  properties: {
    requireDigest: {
      type: "boolean",
      default: false,
      description: "Require every image to be pinned by digest (@sha256:…) as well as by tag.",
    },
  },
} satisfies ResourceValidationPolicy["configSchema"];

export const k8sImagePinned: ResourceValidationPolicy = {
  name: "k8s-image-pinned",
  description:
    "Container images are pinned: an exact tag (never `latest`), and a digest where the stage asks.",
  severity: "high",
  configSchema: imageSchema,
  validateResource: onWorkloads((args, report, what) => {
    const cfg = configWithDefaults<ImageConfig>(imageSchema, args.getConfig());
    forEachContainer(args, (c) => {
      const image = c.container["image"];
      const at = `${what}: container "${c.name}" (${c.path}.image)`;
      if (typeof image !== "string" || image === "") {
        report(
          `${at} has no image. Set image to an exact reference like quay.io/prometheus/prometheus:v3.5.0.`,
        );
        return;
      }
      const { name, tag, digest } = parseImage(image);
      if (tag === "latest") {
        report(
          `${at} uses "${image}": the tag "latest" moves. Pin an exact version, like ${name}:v1.2.3.`,
        );
      } else if (tag === undefined && digest === undefined) {
        report(
          `${at} uses "${image}" with no tag, which means "latest". Pin an exact version, like ${name}:v1.2.3.`,
        );
      }
      if (cfg.requireDigest && (digest === undefined || !/^sha256:[a-f0-9]{64}$/.test(digest))) {
        report(
          `${at} uses "${image}" without a digest; this stage requires ${name}:<tag>@sha256:<digest>.`,
        );
      }
    });
  }),
};

export const k8sRunAsNonRoot: ResourceValidationPolicy = {
  name: "k8s-run-as-non-root",
  description: "Containers run as a non-root user (runAsNonRoot: true, never runAsUser: 0).",
  severity: "high",
  validateResource: onWorkloads((args, report, what) => {
    const pod = podSpecOf(args.type, args.props);
    const podCtx = isObject(pod?.["securityContext"]) ? pod["securityContext"] : {};
    const base = podSpecPath(args.type).join(".");
    forEachContainer(args, (c) => {
      const ctx = isObject(c.container["securityContext"]) ? c.container["securityContext"] : {};
      const nonRoot = ctx["runAsNonRoot"] ?? podCtx["runAsNonRoot"];
      const user = ctx["runAsUser"] ?? podCtx["runAsUser"];
      if (user === 0) {
        report(
          `${what}: container "${c.name}" runs as user 0 (root). Set runAsUser to a non-zero UID in ` +
            `${c.path}.securityContext or ${base}.securityContext.`,
        );
      } else if (nonRoot !== true) {
        report(
          `${what}: container "${c.name}" may run as root. Set runAsNonRoot: true in ` +
            `${base}.securityContext (or ${c.path}.securityContext).`,
        );
      }
    });
  }),
};

export const k8sNoPrivilegeEscalation: ResourceValidationPolicy = {
  name: "k8s-no-privilege-escalation",
  description:
    "Containers cannot gain more privileges than their parent process (allowPrivilegeEscalation: false).",
  severity: "high",
  validateResource: onWorkloads((args, report, what) => {
    forEachContainer(args, (c) => {
      if (dig(c.container, "securityContext", "allowPrivilegeEscalation") !== false) {
        report(
          `${what}: container "${c.name}" allows privilege escalation. Set ` +
            `${c.path}.securityContext.allowPrivilegeEscalation: false.`,
        );
      }
    });
  }),
};

export const k8sNoPrivileged: ResourceValidationPolicy = {
  name: "k8s-no-privileged",
  description: "No container runs privileged.",
  severity: "critical",
  validateResource: onWorkloads((args, report, what) => {
    forEachContainer(args, (c) => {
      if (dig(c.container, "securityContext", "privileged") === true) {
        report(
          `${what}: container "${c.name}" is privileged (full access to the node). Remove ` +
            `${c.path}.securityContext.privileged or set it to false.`,
        );
      }
    });
  }),
};

export const k8sNoHostPath: ResourceValidationPolicy = {
  name: "k8s-no-host-path",
  description: "Pods mount no hostPath volumes.",
  severity: "high",
  validateResource: onWorkloads((args, report, what) => {
    const pod = podSpecOf(args.type, args.props);
    const volumes: unknown[] = Array.isArray(pod?.["volumes"]) ? pod["volumes"] : [];
    volumes.forEach((v, i) => {
      if (isObject(v) && v["hostPath"] !== undefined) {
        report(
          `${what}: volume "${String(v["name"] ?? i)}" (${podSpecPath(args.type).join(".")}.volumes[${i}]) ` +
            `is a hostPath. Use a PersistentVolumeClaim, emptyDir, ConfigMap or Secret volume instead.`,
        );
      }
    });
  }),
};

export const k8sNoHostNamespaces: ResourceValidationPolicy = {
  name: "k8s-no-host-namespaces",
  description: "Pods do not share the node's network, PID or IPC namespace.",
  severity: "high",
  validateResource: onWorkloads((args, report, what) => {
    const pod = podSpecOf(args.type, args.props);
    const base = podSpecPath(args.type).join(".");
    for (const field of ["hostNetwork", "hostPID", "hostIPC"]) {
      if (pod?.[field] === true) {
        report(`${what} sets ${base}.${field}: true. Remove it (or set it to false).`);
      }
    }
  }),
};

export const k8sProbes: ResourceValidationPolicy = {
  name: "k8s-probes",
  description: "Long-running containers (not Jobs or CronJobs) have readiness and liveness probes.",
  severity: "medium",
  validateResource: onWorkloads((args, report, what) => {
    if (!isLongRunning(args.type, podSpecOf(args.type, args.props))) {
      return "runs to completion (Job, CronJob or a Pod with restartPolicy other than Always)";
    }
    forEachContainer(
      args,
      (c) => {
        const missing = ["readinessProbe", "livenessProbe"].filter(
          (p) => !isObject(c.container[p]),
        );
        if (missing.length > 0) {
          report(
            `${what}: container "${c.name}" has no ${missing.join(" or ")}. Add ` +
              `${missing.map((p) => `${c.path}.${p}`).join(" and ")} (e.g. an httpGet on its health endpoint).`,
          );
        }
      },
      ["containers"],
    );
  }),
};

/** Kubernetes types that are not objects with their own metadata (Helm releases, YAML groups, patches, lists). */
function carriesLabels(type: string): boolean {
  if (!type.startsWith("kubernetes:")) return false;
  if (
    type.startsWith("kubernetes:helm") ||
    type.startsWith("kubernetes:yaml") ||
    type.startsWith("kubernetes:kustomize")
  ) {
    return false;
  }
  return !/(Patch|List)$/.test(type);
}

export const DEFAULT_REQUIRED_LABELS = [
  "app.kubernetes.io/name",
  "app.kubernetes.io/part-of",
  "app.kubernetes.io/managed-by",
  "goldengoose.io/stage",
  "goldengoose.io/owner",
  "goldengoose.io/cost-centre",
  "goldengoose.io/compliance-tier",
];

interface LabelsConfig {
  labels: string[];
  stage: string;
  checkPodTemplates: boolean;
}
const labelsSchema = {
  properties: {
    labels: {
      type: "array",
      items: { type: "string", minLength: 1 },
      default: DEFAULT_REQUIRED_LABELS,
      description: "Labels every Kubernetes object must carry in metadata.labels.",
    },
    stage: {
      type: "string",
      default: "",
      description:
        "When set, the value goldengoose.io/stage must have (the stage being previewed).",
    },
    checkPodTemplates: {
      type: "boolean",
      default: true,
      description: "Also require the labels on workloads' pod templates (so the pods carry them).",
    },
  },
} satisfies ResourceValidationPolicy["configSchema"];

export const k8sRequiredLabels: ResourceValidationPolicy = {
  name: "k8s-required-labels",
  description: "Kubernetes objects carry the ownership, cost and compliance labels.",
  severity: "low",
  configSchema: labelsSchema,
  validateResource: onlyForTypes(
    carriesLabels,
    "not a Kubernetes object with metadata",
    (args, report) => {
      const cfg = configWithDefaults<LabelsConfig>(labelsSchema, args.getConfig());
      const what = `${kindOf(args.type)} "${args.name}"`;
      const places: [string, unknown][] = [
        ["metadata.labels", dig(args.props, "metadata", "labels")],
      ];
      const tpl = podTemplateMetadataPath(args.type);
      if (cfg.checkPodTemplates && tpl && isWorkloadType(args.type)) {
        places.push([`${tpl.join(".")}.labels`, dig(args.props, ...tpl, "labels")]);
      }
      for (const [path, labels] of places) {
        const have = isObject(labels) ? labels : {};
        const missing = cfg.labels.filter((l) => typeof have[l] !== "string" || have[l] === "");
        if (missing.length > 0) {
          report(
            `${what} has no ${missing.map((l) => `"${l}"`).join(", ")} in ${path}. Add them (the stage's labels).`,
          );
        }
        const stage = have["goldengoose.io/stage"];
        if (cfg.stage !== "" && typeof stage === "string" && stage !== "" && stage !== cfg.stage) {
          report(
            `${what} has ${path}["goldengoose.io/stage"] = "${stage}" but this is stage "${cfg.stage}". Fix the label.`,
          );
        }
      }
    },
  ),
};

export const workloadPolicies = [
  k8sResourcesRequestsLimits,
  k8sImagePinned,
  k8sRunAsNonRoot,
  k8sNoPrivilegeEscalation,
  k8sNoPrivileged,
  k8sNoHostPath,
  k8sNoHostNamespaces,
  k8sProbes,
  k8sRequiredLabels,
];
