import * as pulumi from "@pulumi/pulumi";
import { k8s } from "./k8s.js";
import type { StageConfig } from "../config/schema.js";
import type { MonitoringFiles } from "../monitoring/files.js";
import { commonLabels } from "./common.js";
import { Prometheus } from "./prometheus.js";
import { Grafana } from "./grafana.js";
import { Backup } from "./backup.js";
import { Scanner } from "./scanner.js";
import { PushgatewayAuth } from "./pushgateway-secrets.js";
import { createNetworkPolicies } from "./network.js";

export interface StageArgs {
  /** The validated, frozen stage configuration. */
  config: StageConfig;
  /** Rule files, dashboards and Alertmanager config the stage ships (from monitoring/). */
  monitoring: MonitoringFiles;
  /** Current time in ms for the secret-rotation keeper (default Date.now()). */
  now?: number;
  /** Alertmanager receiver credentials (Pulumi secrets) by file name. */
  receiverSecrets?: Record<string, pulumi.Input<string>>;
}

/**
 * One stage of the platform: its namespace and the four components, every object labelled
 * with the stage's common labels.
 */
export class Stage extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  public readonly prometheus: Prometheus;
  public readonly grafana: Grafana;
  public readonly backup: Backup;
  public readonly scanner: Scanner;

  constructor(name: string, args: StageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("goldengoose:platform:Stage", name, {}, opts);
    const cfg = args.config;
    const labels = commonLabels(cfg);
    const ns = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      {
        metadata: {
          name: cfg.namespace,
          labels: {
            ...labels,
            "app.kubernetes.io/name": "golden-goose",
            // Pod Security Admission: every pod of the stage must meet the restricted profile.
            "pod-security.kubernetes.io/enforce": "restricted",
          },
        },
      },
      { parent: this, protect: cfg.stage === "production" },
    );
    const namespace = ns.metadata.name;
    const child = { parent: this };
    // The Pushgateway's password: every client below mounts it.
    const pgAuth = new PushgatewayAuth(
      `${name}-pushgateway-auth`,
      { config: cfg, namespace, labels, now: args.now },
      child,
    );
    // First: it provides the backup agent sidecars of Prometheus and Grafana.
    this.backup = new Backup(
      `${name}-backup`,
      { config: cfg, namespace, labels, pushgatewayAuthSecret: pgAuth.passwordSecretName },
      child,
    );
    this.prometheus = new Prometheus(
      `${name}-prometheus`,
      {
        config: cfg,
        namespace,
        labels,
        rules: args.monitoring.rules,
        alertmanagerConfig: args.monitoring.alertmanager,
        receiverSecrets: args.receiverSecrets,
        backupAgent: this.backup.agents.prometheus,
        now: args.now,
        pushgatewayAuth: {
          webConfigSecret: pgAuth.webConfigSecretName,
          passwordSecret: pgAuth.passwordSecretName,
        },
      },
      child,
    );
    this.grafana = new Grafana(
      `${name}-grafana`,
      {
        config: cfg,
        namespace,
        labels,
        dashboards: args.monitoring.dashboards,
        prometheusUrl: this.prometheus.url,
        prometheusAuthSecret: this.prometheus.basicAuthSecretName,
        prometheusAuthHash: this.prometheus.basicAuthHash,
        now: args.now,
        backupAgent: this.backup.agents.grafana,
      },
      child,
    );
    createNetworkPolicies(`${name}-network`, cfg, namespace, labels, child);
    this.scanner = new Scanner(
      `${name}-scanner`,
      {
        config: cfg,
        namespace,
        labels,
        pushgatewayAuthSecret: pgAuth.passwordSecretName,
        upload: this.backup.scanUpload,
      },
      child,
    );
    this.namespace = namespace;
    this.registerOutputs({ namespace });
  }
}
