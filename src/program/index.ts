/**
 * The Pulumi entry point (Pulumi.yaml `main`): read and validate the stack's config once, build
 * the stage, export its outputs. Nothing else lives here.
 */
import { stageConfigFromPulumi } from "../config/pulumi.js";
import { loadMonitoringFiles } from "../monitoring/files.js";
import { createStage } from "./stage.js";

const config = stageConfigFromPulumi();
const { outputs } = createStage(config, loadMonitoringFiles(config.stage));

export const stage = outputs.stage;
export const namespace = outputs.namespace;
export const prometheusUrl = outputs.prometheusUrl;
export const alertmanagerUrl = outputs.alertmanagerUrl;
export const pushgatewayUrl = outputs.pushgatewayUrl;
export const grafanaUrl = outputs.grafanaUrl;
export const grafanaAdminSecret = outputs.grafanaAdminSecret;
export const grafanaAdminPassword = outputs.grafanaAdminPassword;
export const backupTarget = outputs.backupTarget;
export const backupBucket = outputs.backupBucket;
export const backupKmsKeyArn = outputs.backupKmsKeyArn;
export const scannedImages = outputs.scannedImages;
