import type { StageName } from "./stages.js";
import type { StageConfig, ResourcesConfig } from "./schema.js";

/**
 * Pinned images, each from its publisher's own registry (see docs/platform.md, "Images"). The
 * tags were chosen from the publishers' release pages and registries as known at writing; they
 * were NOT pulled from this machine (no registry access here). Digests are added in the stack
 * files once the registry digest is verified (`crane digest <image>`).
 */
export const IMAGES = {
  /** Prometheus 3.5 LTS, published by the Prometheus project on quay.io/prometheus. */
  prometheus: "quay.io/prometheus/prometheus:v3.5.0",
  /** Alertmanager release v0.28.1, quay.io/prometheus. */
  alertmanager: "quay.io/prometheus/alertmanager:v0.28.1",
  /** Pushgateway release v1.11.1, quay.io/prometheus. */
  pushgateway: "quay.io/prometheus/pushgateway:v1.11.1",
  /** NGINX's own unprivileged image (nginxinc on Docker Hub), stable 1.28 line. */
  proxy: "docker.io/nginxinc/nginx-unprivileged:1.28.0-alpine",
  /** Grafana Labs publishes on Docker Hub (docker.io/grafana). */
  grafana: "docker.io/grafana/grafana:12.1.1",
  /** AWS publishes the CLI v2 image on ECR Public (public.ecr.aws/aws-cli). */
  backup: "public.ecr.aws/aws-cli/aws-cli:2.27.60",
  /** Aqua Security publishes Trivy on GitHub's registry (ghcr.io/aquasecurity). */
  trivy: "ghcr.io/aquasecurity/trivy:0.65.0",
} as const;

const small: ResourcesConfig = {
  requests: { cpu: "100m", memory: "128Mi" },
  limits: { cpu: "500m", memory: "512Mi" },
};

/**
 * Stage defaults, one typed table. A stack file (Pulumi.<stage>.yaml) overrides any of these;
 * objects merge key by key, arrays and scalars replace.
 */
export const STAGE_DEFAULTS: { readonly [S in StageName]: Omit<StageConfig, "stage"> } = {
  sandbox: {
    namespace: "goose-sandbox",
    labels: { owner: "platform", costCentre: "engineering", complianceTier: "none" },
    prometheus: {
      image: IMAGES.prometheus,
      alertmanagerImage: IMAGES.alertmanager,
      pushgatewayImage: IMAGES.pushgateway,
      proxyImage: IMAGES.proxy,
      resources: {
        requests: { cpu: "250m", memory: "512Mi" },
        limits: { cpu: "1", memory: "2Gi" },
      },
      replicas: 1,
      alertmanagerReplicas: 1,
      retentionDays: 7,
      storageSize: "10Gi",
      retainVolumes: false,
      scrapeInterval: "30s",
      dropMetrics: ["go_gc_.*", "go_memstats_.*_bucket"],
      serviceTargets: ["service.goose-sandbox.svc:8080"],
    },
    grafana: {
      image: IMAGES.grafana,
      resources: small,
      replicas: 1,
      adminUser: "admin",
      anonymousAccess: false,
      allowSignUp: false,
      disableLoginForm: false,
    },
    backup: {
      target: "volume",
      intervalHours: 12,
      timeoutMinutes: 60,
      retentionDays: 7,
      volumeSize: "20Gi",
      versioning: false,
      kms: false,
      objectLockDays: 0,
      image: IMAGES.backup,
      resources: small,
    },
    scanner: {
      image: IMAGES.trivy,
      schedule: "30 3 * * *",
      fullScanSchedule: "0 2 * * 0",
      parallelism: 2,
      cacheMaxAgeHours: 48,
      severityThreshold: "CRITICAL",
      resources: {
        requests: { cpu: "200m", memory: "512Mi" },
        limits: { cpu: "1", memory: "2Gi" },
      },
    },
    storageClass: "gp3",
    alerting: { receivers: "stack" },
    snapshots: { keepLast: 10, maxAgeDays: 14 },
    recovery: {
      rpoSeconds: 3600,
      rtoSeconds: 1800,
      drillMaxAgeHours: 336,
      drillRequiredToPromote: false,
    },
    secrets: { rotationDays: 90 },
  },
  compliance: {
    namespace: "goose-compliance",
    labels: { owner: "platform", costCentre: "engineering", complianceTier: "standard" },
    prometheus: {
      image: IMAGES.prometheus,
      alertmanagerImage: IMAGES.alertmanager,
      pushgatewayImage: IMAGES.pushgateway,
      proxyImage: IMAGES.proxy,
      resources: { requests: { cpu: "500m", memory: "2Gi" }, limits: { cpu: "2", memory: "4Gi" } },
      replicas: 2,
      alertmanagerReplicas: 2,
      retentionDays: 30,
      storageSize: "50Gi",
      retainVolumes: true,
      scrapeInterval: "30s",
      dropMetrics: ["go_gc_.*"],
      serviceTargets: ["service.goose-compliance.svc:8080"],
    },
    grafana: {
      image: IMAGES.grafana,
      resources: {
        requests: { cpu: "200m", memory: "256Mi" },
        limits: { cpu: "1", memory: "1Gi" },
      },
      replicas: 1,
      adminUser: "admin",
      anonymousAccess: false,
      allowSignUp: false,
      disableLoginForm: false,
    },
    backup: {
      target: "s3",
      intervalHours: 6,
      timeoutMinutes: 60,
      retentionDays: 30,
      volumeSize: "20Gi",
      versioning: true,
      kms: true,
      objectLockDays: 0,
      image: IMAGES.backup,
      resources: small,
    },
    scanner: {
      image: IMAGES.trivy,
      schedule: "30 */12 * * *",
      fullScanSchedule: "0 2 * * *",
      parallelism: 3,
      cacheMaxAgeHours: 24,
      severityThreshold: "HIGH",
      resources: {
        requests: { cpu: "200m", memory: "512Mi" },
        limits: { cpu: "1", memory: "2Gi" },
      },
    },
    storageClass: "gp3",
    alerting: { receivers: "stack" },
    snapshots: { keepLast: 30, maxAgeDays: 90 },
    recovery: {
      rpoSeconds: 1800,
      rtoSeconds: 1200,
      drillMaxAgeHours: 168,
      drillRequiredToPromote: true,
    },
    secrets: { rotationDays: 60 },
  },
  production: {
    namespace: "goose-production",
    labels: { owner: "platform", costCentre: "engineering", complianceTier: "regulated" },
    prometheus: {
      image: IMAGES.prometheus,
      alertmanagerImage: IMAGES.alertmanager,
      pushgatewayImage: IMAGES.pushgateway,
      proxyImage: IMAGES.proxy,
      resources: { requests: { cpu: "1", memory: "4Gi" }, limits: { cpu: "4", memory: "8Gi" } },
      replicas: 2,
      alertmanagerReplicas: 2,
      retentionDays: 90,
      storageSize: "200Gi",
      retainVolumes: true,
      scrapeInterval: "15s",
      dropMetrics: [],
      serviceTargets: ["service.goose-production.svc:8080"],
    },
    grafana: {
      image: IMAGES.grafana,
      resources: {
        requests: { cpu: "250m", memory: "512Mi" },
        limits: { cpu: "1", memory: "1Gi" },
      },
      replicas: 1,
      adminUser: "admin",
      anonymousAccess: false,
      allowSignUp: false,
      disableLoginForm: false,
    },
    backup: {
      target: "s3",
      intervalHours: 4,
      timeoutMinutes: 60,
      retentionDays: 90,
      volumeSize: "20Gi",
      versioning: true,
      kms: true,
      objectLockDays: 30,
      image: IMAGES.backup,
      resources: small,
    },
    scanner: {
      image: IMAGES.trivy,
      schedule: "0 */6 * * *",
      fullScanSchedule: "0 2 * * *",
      parallelism: 4,
      cacheMaxAgeHours: 20,
      severityThreshold: "MEDIUM",
      resources: { requests: { cpu: "500m", memory: "1Gi" }, limits: { cpu: "2", memory: "2Gi" } },
    },
    storageClass: "gp3",
    alerting: { receivers: "stack" },
    snapshots: { keepLast: 90, maxAgeDays: 400 },
    recovery: {
      rpoSeconds: 900,
      rtoSeconds: 900,
      drillMaxAgeHours: 48,
      drillRequiredToPromote: true,
    },
    secrets: { rotationDays: 30 },
  },
};
