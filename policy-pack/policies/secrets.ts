/**
 * Secret-handling policies.
 *
 * - No container environment variable whose name looks secret carries a literal `value`: it has to
 *   come from `valueFrom.secretKeyRef`. Names that refer to a secret rather than hold it
 *   (`*_FILE`, `*_ARN`, `*_ID`, …) are exempt.
 * - A Kubernetes Secret's `data`/`stringData` comes from Pulumi secrets, never from literals in the
 *   program. The policy SDK unwraps secret-marked values before a policy sees them (it deserializes
 *   analyzer props without keeping secrets), so secretness itself is not visible to a policy. What
 *   is visible, and what this stack policy checks, is where a value came from: a value still in its
 *   secret-marked form, a value not known yet (computed by another resource during preview), or a
 *   property that depends on a resource that produces secrets (a resource with
 *   `additionalSecretOutputs`, such as random.RandomPassword, or one of `secretSourceTypes`).
 *   A property with none of these is a literal written in the program.
 */
import type {
  PolicyResource,
  ReportViolation,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import {
  configWithDefaults,
  containersOf,
  isObject,
  isSecretMarked,
  isUnknown,
  kindOf,
  onlyFor,
  raw,
  notApplicable,
} from "./util.js";
import { onWorkloads } from "./workloads.js";

interface SecretEnvConfig {
  namePattern: string;
  referenceSuffixPattern: string;
  allowedNames: string[];
}
const secretEnvSchema = {
  properties: {
    namePattern: {
      type: "string",
      minLength: 1,
      default: "(^|_)(PASSWORD|PASSWD|PASS|TOKEN|SECRET|KEY|APIKEY|CREDENTIALS?|PRIVATE_?KEY)(_|$)",
      description:
        "Case-insensitive regular expression for environment variable names that hold secrets.",
    },
    referenceSuffixPattern: {
      type: "string",
      minLength: 1,
      default: "_(FILE|PATH|ARN|ID|NAME|REF)$",
      description:
        "Case-insensitive regular expression for names that refer to a secret rather than hold it " +
        "(KMS_KEY_ARN, PASSWORD_FILE).",
    },
    allowedNames: {
      type: "array",
      items: { type: "string" },
      default: [],
      description: "Names that match the pattern but hold no secret (e.g. KEY_ROTATION_DAYS).",
    },
  },
} satisfies ResourceValidationPolicy["configSchema"];

export const noLiteralSecretEnv: ResourceValidationPolicy = {
  name: "no-literal-secret-env",
  description:
    "No environment variable whose name looks secret (password, token, secret, key) has a literal value.",
  severity: "critical",
  configSchema: secretEnvSchema,
  validateResource: onWorkloads((args, report, what) => {
    const cfg = configWithDefaults<SecretEnvConfig>(secretEnvSchema, args.getConfig());
    const pattern = new RegExp(cfg.namePattern, "i");
    const reference = new RegExp(cfg.referenceSuffixPattern, "i");
    for (const c of containersOf(args.type, args.props)) {
      // Read the env list without the unknown-checking proxy: a value computed by another resource
      // is still a value written into the pod spec in plain text.
      const env = raw(c.container)["env"];
      if (!Array.isArray(env)) continue;
      env.forEach((e: unknown, i) => {
        if (!isObject(e) || typeof e["name"] !== "string") return;
        const name = e["name"];
        if (!pattern.test(name) || reference.test(name) || cfg.allowedNames.includes(name)) return;
        const value = raw(e)["value"];
        if (value === undefined || value === null || value === "") return;
        report(
          `${what}: container "${c.name}" sets ${name} (${c.path}.env[${i}]) to a literal value, which ` +
            `puts a secret in plain text into the pod spec. Use valueFrom: { secretKeyRef: { name, key } } ` +
            `pointing at a Kubernetes Secret filled from a Pulumi secret.`,
        );
      });
    }
  }),
};

/** Resource types whose outputs are secrets even without additionalSecretOutputs in the options. */
export const DEFAULT_SECRET_SOURCE_TYPES = [
  "random:index/randomPassword:RandomPassword",
  "random:index/randomString:RandomString",
  "random:index/randomBytes:RandomBytes",
  "tls:index/privateKey:PrivateKey",
  "aws:secretsmanager/secretVersion:SecretVersion",
  "aws:iam/accessKey:AccessKey",
];

interface SecretSourceConfig {
  secretSourceTypes: string[];
  configSecretNames: string[];
}
const secretSourceSchema = {
  properties: {
    secretSourceTypes: {
      type: "array",
      items: { type: "string", minLength: 1 },
      default: DEFAULT_SECRET_SOURCE_TYPES,
      description: "Resource types that produce secrets, besides any with additionalSecretOutputs.",
    },
    configSecretNames: {
      type: "array",
      items: { type: "string", minLength: 1 },
      default: ["alertmanager-receivers"],
      description:
        "Names of Secrets filled from encrypted stack config (`pulumi config set --secret`). The " +
        "analyzer cannot see that a value came from an encrypted config key (the SDK unwraps " +
        "secrets), so these are declared here; the config loader refuses such keys in plaintext.",
    },
  },
} satisfies StackValidationPolicy["configSchema"];

const K8S_SECRET = "kubernetes:core/v1:Secret";

export const k8sSecretFromPulumiSecret: StackValidationPolicy = {
  name: "k8s-secret-from-pulumi-secret",
  description:
    "Kubernetes Secrets are filled from Pulumi secrets, never from literals in the program.",
  severity: "critical",
  configSchema: secretSourceSchema,
  validateStack: onlyFor(K8S_SECRET, (args: StackValidationArgs, report: ReportViolation) => {
    const secrets = args.resources.filter((r) => r.type === K8S_SECRET);
    if (secrets.length === 0) notApplicable(args, "the stack has no Kubernetes Secret");
    const cfg = configWithDefaults<SecretSourceConfig>(secretSourceSchema, args.getConfig());
    const producesSecrets = (r: PolicyResource) =>
      cfg.secretSourceTypes.includes(r.type) ||
      (r.type !== K8S_SECRET && (r.opts?.additionalSecretOutputs ?? []).length > 0);
    for (const secret of secrets) {
      const props = raw(secret.props) as Record<string, unknown>;
      const name = (props["metadata"] as { name?: unknown } | undefined)?.name;
      if (typeof name === "string" && cfg.configSecretNames.includes(name)) continue;
      for (const prop of ["stringData", "data"]) {
        const entries = props[prop];
        if (isUnknown(entries) || isSecretMarked(entries) || !isObject(entries)) continue;
        const literal = Object.entries(entries)
          .filter(([, v]) => !isUnknown(v) && !isSecretMarked(v))
          .map(([k]) => k);
        if (literal.length === 0) continue;
        const deps = secret.propertyDependencies?.[prop] ?? [];
        const sources = deps.length > 0 ? deps : (secret.dependencies ?? []);
        if (sources.some(producesSecrets)) continue;
        report(
          `${kindOf(secret.type)} "${secret.name}" has literal values in ${prop} ` +
            `(${literal.map((k) => `"${k}"`).join(", ")}): they are written in the program, not taken ` +
            `from a Pulumi secret. Fill them from a secret-producing resource's output (a ` +
            `random.RandomPassword's result, or a type listed in secretSourceTypes).`,
          secret.urn,
        );
      }
    }
  }),
};

export const secretPolicies = [noLiteralSecretEnv, k8sSecretFromPulumiSecret];
