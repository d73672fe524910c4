/**
 * The Golden Goose CrossGuard policy pack. Constructing the PolicyPack starts the analyzer's gRPC
 * server, so this file does nothing else; the policies live in ./policies/ (importable in tests).
 * The pack's own default is advisory; policy-pack/config/<stage>.json sets each stage's level.
 */
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, policies } from "./policies/index.js";
import { shareDeserialization, shareNotApplicableEncoding } from "./sdk-speed.js";

// Each resource of a request is converted once for all policies, not once per policy.
shareDeserialization();
// Each (policy, reason) of the not-applicable lists is encoded once, not once per resource.
shareNotApplicableEncoding();
new PolicyPack(PACK_NAME, { policies, enforcementLevel: "advisory" });
