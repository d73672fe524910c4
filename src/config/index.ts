export * from "./stages.js";
export * from "./schema.js";
export * from "./defaults.js";
export * from "./load.js";
export * from "./metrics.js";
export { stageConfigFromPulumi } from "./pulumi.js";
export * from "./progression.js";
