export * from "./stages.js";
export * from "./schema.js";
export * from "./defaults.js";
export * from "./load.js";
export * from "./metrics.js";
export { stageConfigFromPulumi, stageSecretsFromPulumi, type StageSecrets } from "./pulumi.js";
export * from "./progression.js";
