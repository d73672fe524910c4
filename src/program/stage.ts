import * as pulumi from "@pulumi/pulumi";
import { SECRET_SETTINGS, type StageConfig } from "../config/schema.js";
import { stageSecretsFromPulumi } from "../config/pulumi.js";
import type { MonitoringFiles } from "../monitoring/files.js";
import { Stage } from "../components/stage.js";

/** The stack outputs every stage exports. */
export interface StageOutputs {
  stage: string;
  namespace: pulumi.Output<string>;
  prometheusUrl: pulumi.Output<string>;
  alertmanagerUrl: pulumi.Output<string>;
  pushgatewayUrl: pulumi.Output<string>;
  grafanaUrl: pulumi.Output<string>;
  grafanaAdminSecret: pulumi.Output<string>;
  grafanaAdminPassword: pulumi.Output<string>;
  backupTarget: string;
  backupBucket: pulumi.Output<string | undefined>;
  backupKmsKeyArn: pulumi.Output<string | undefined>;
  scannedImages: pulumi.Output<string[]>;
}

/**
 * Builds the stage's resources from a validated config. Credentials are read here, at the edge,
 * as Pulumi secrets (`pulumi config set --secret`), and handed to the components.
 */
export function createStage(
  cfg: StageConfig,
  monitoring: MonitoringFiles,
  opts: { now?: number } = {},
): { stage: Stage; outputs: StageOutputs } {
  const receiverSecrets: Record<string, pulumi.Output<string>> = {};
  for (const [key, value] of Object.entries(stageSecretsFromPulumi())) {
    receiverSecrets[SECRET_SETTINGS[key as keyof typeof SECRET_SETTINGS]] = value;
  }
  const stage = new Stage(`goose-${cfg.stage}`, {
    config: cfg,
    monitoring,
    now: opts.now,
    receiverSecrets,
  });
  return {
    stage,
    outputs: {
      stage: cfg.stage,
      namespace: stage.namespace,
      prometheusUrl: stage.prometheus.url,
      alertmanagerUrl: stage.prometheus.alertmanagerUrl,
      pushgatewayUrl: stage.prometheus.pushgatewayUrl,
      grafanaUrl: stage.grafana.url,
      grafanaAdminSecret: stage.grafana.adminSecretName,
      grafanaAdminPassword: stage.grafana.adminPassword,
      backupTarget: cfg.backup.target,
      backupBucket: stage.backup.bucketName,
      backupKmsKeyArn: stage.backup.kmsKeyArn,
      scannedImages: stage.scanner.images,
    },
  };
}
