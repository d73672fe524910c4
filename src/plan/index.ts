/**
 * Plans: what an update will create, update, replace and delete, computed offline from Pulumi
 * exports. This folder owns the diff of a rendered stage against a baseline export (plan.ts), the
 * property values and secret handling of that diff (values.ts), the replacement table and the
 * data-bearing types as data with their sources (replace-fields.ts, data-bearing.ts), the
 * renderings for people (render.ts) and the mapping from the Pulumi CLI's `preview --json`
 * (pulumi-preview.ts). Pure: it reads no file, runs no engine and loads no Pulumi SDK; the CLI
 * (`goose preview --diff`) and the workflows choose the baseline and hand it the exports.
 */
export * from "./plan.js";
export * from "./values.js";
export * from "./render.js";
export {
  REPLACE_RULES,
  replaceRulesFor,
  type ReplaceRule,
  type ReplaceField,
} from "./replace-fields.js";
export { DATA_BEARING, dataBearingRule, type DataBearingRule } from "./data-bearing.js";
