import type * as pulumi from "@pulumi/pulumi";
import type * as k8s from "@pulumi/kubernetes";
import { createHash } from "node:crypto";
import type { ResourcesConfig, StageConfig } from "../config/schema.js";

type Labels = Record<string, string>;

/** Labels every object of a stage carries (ownership, cost and compliance reporting). */
export function commonLabels(cfg: StageConfig): Labels {
  return {
    "app.kubernetes.io/part-of": "golden-goose",
    "app.kubernetes.io/managed-by": "pulumi",
    "goldengoose.io/stage": cfg.stage,
    "goldengoose.io/owner": cfg.labels.owner,
    "goldengoose.io/cost-centre": cfg.labels.costCentre,
    "goldengoose.io/compliance-tier": cfg.labels.complianceTier,
  };
}

/** The labels that select one workload's pods. */
export function selectorLabels(name: string, component: string): Labels {
  return { "app.kubernetes.io/name": name, "app.kubernetes.io/component": component };
}

/** Metadata of an object: fixed name, the stage namespace, common plus own labels. */
export function meta(
  name: string,
  namespace: pulumi.Input<string>,
  labels: Labels,
  extra: { annotations?: Record<string, pulumi.Input<string>>; labels?: Labels } = {},
): k8s.types.input.meta.v1.ObjectMeta {
  return {
    name,
    namespace,
    labels: { ...labels, ...extra.labels },
    ...(extra.annotations && Object.keys(extra.annotations).length > 0
      ? { annotations: extra.annotations }
      : {}),
  };
}

/** Requests and limits exactly as configured. */
export function containerResources(
  r: ResourcesConfig,
): k8s.types.input.core.v1.ResourceRequirements {
  return {
    requests: { cpu: r.requests.cpu, memory: r.requests.memory },
    ...(r.limits ? { limits: { cpu: r.limits.cpu, memory: r.limits.memory } } : {}),
  };
}

/**
 * The hardened container security context every container gets: non-root, no privilege
 * escalation, every capability dropped, read-only root filesystem (writable paths are volumes).
 */
export function containerSecurity(
  opts: { readOnlyRootFilesystem?: boolean } = {},
): k8s.types.input.core.v1.SecurityContext {
  return {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: opts.readOnlyRootFilesystem ?? true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** Pod-level security context: a fixed non-root user and group owning the volumes. */
export function podSecurity(uid: number): k8s.types.input.core.v1.PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    fsGroup: uid,
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** HTTP liveness and readiness probes on one port. */
export function httpProbes(
  port: number,
  livePath: string,
  readyPath: string = livePath,
): Pick<k8s.types.input.core.v1.Container, "livenessProbe" | "readinessProbe"> {
  return {
    livenessProbe: {
      httpGet: { path: livePath, port },
      initialDelaySeconds: 30,
      periodSeconds: 15,
      timeoutSeconds: 5,
      failureThreshold: 4,
    },
    readinessProbe: {
      httpGet: { path: readyPath, port },
      initialDelaySeconds: 5,
      periodSeconds: 10,
      timeoutSeconds: 5,
      failureThreshold: 3,
    },
  };
}

/** Required anti-affinity across nodes, so replicas of one workload never share a node. */
export function spreadAcrossNodes(
  selector: Labels,
  replicas: number,
): k8s.types.input.core.v1.Affinity | undefined {
  if (replicas <= 1) return undefined;
  return {
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { labelSelector: { matchLabels: selector }, topologyKey: "kubernetes.io/hostname" },
      ],
    },
  };
}

/** In-cluster DNS name of a Service in the stage namespace. */
export function serviceHost(name: string, namespace: string): string {
  return `${name}.${namespace}.svc`;
}

/** Short content hash, put on pod templates so a config change rolls the pods. */
export function contentHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}
