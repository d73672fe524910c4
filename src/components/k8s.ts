/**
 * `@pulumi/kubernetes`, loaded with require instead of an ESM import: its index and each API
 * group define their members as getters that load on first read, and an ESM import of a CommonJS
 * module reads every export to build its namespace (and scans the module's text for them), which
 * loads far more of the package than a stage uses. The components import `k8s` from here for
 * values and `import type * as K8s from "@pulumi/kubernetes"` for types.
 */
import { createRequire } from "node:module";
import type * as K8s from "@pulumi/kubernetes";

export const k8s = createRequire(import.meta.url)("@pulumi/kubernetes") as typeof K8s;
