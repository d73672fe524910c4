/**
 * Every policy of the Golden Goose pack, by domain. Importing this module starts nothing: only
 * policy-pack/index.ts constructs the PolicyPack (which starts the analyzer's gRPC server).
 */
import type { Policies } from "@pulumi/policy";
import { metricsAuthPolicies } from "./metrics-auth.js";
import { monitoringPolicies } from "./monitoring.js";
import { platformResourcePolicies, platformStackPolicies } from "./platform.js";
import { secretPolicies } from "./secrets.js";
import { stackPolicies } from "./stack.js";
import { storagePolicies } from "./storage.js";
import { workloadPolicies } from "./workloads.js";

/** The pack's name, as `new PolicyPack` gets it and violations report it. */
export const PACK_NAME = "golden-goose";

export const policies: Policies = [
  ...storagePolicies,
  ...workloadPolicies,
  ...secretPolicies,
  ...monitoringPolicies,
  ...platformResourcePolicies,
  ...stackPolicies,
  ...platformStackPolicies,
  ...metricsAuthPolicies,
];

/** Policy names, in pack order. */
export const policyNames: string[] = policies.map((p) => p.name);
