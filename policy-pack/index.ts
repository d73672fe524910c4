/**
 * The Golden Goose CrossGuard policy pack. Constructing the PolicyPack starts the analyzer's gRPC
 * server, so this file does nothing else; the policies live in ./policies/ (importable in tests).
 * The pack's own default is advisory; policy-pack/config/<stage>.json sets each stage's level.
 */
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, policies } from "./policies/index.js";
import { installSdkSpeedups } from "./sdk-speed.js";

// The SDK's per-request work done once, not once per policy or per resource (sdk-speed.ts).
installSdkSpeedups();
new PolicyPack(PACK_NAME, { policies, enforcementLevel: "advisory" });
