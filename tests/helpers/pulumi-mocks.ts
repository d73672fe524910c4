import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { loadStageConfigFile, PROJECT, type StageName } from "../../src/config/index.js";

export interface Registered {
  type: string;
  name: string;
  urn: string;
  inputs: Record<string, unknown>;
  /** The parent URN recorded by the mock monitor. */
  parent?: string;
}

/**
 * Mocks that answer like the providers would: inputs come back as state, plus the computed
 * outputs our program reads (ARNs, bucket names, key ids, the random password as a secret).
 */
export function installMocks(
  stage: StageName,
  opts: {
    /**
     * Model the random provider's replacement: a password derived from the resource's keepers,
     * so the same keepers give the same password (the provider keeps it in state) and a moved
     * keeper a new one (the provider replaces the resource). Default: one fixed password.
     */
    passwordFromKeepers?: boolean;
  } = {},
): { resources: Registered[] } {
  const resources: Registered[] = [];
  void pulumi.runtime.setMocks(
    {
      newResource(args) {
        const state: Record<string, unknown> = { ...args.inputs };
        const id = `${args.name}-id`;
        if (args.type.startsWith("aws:")) state["arn"] = `arn:aws:mock:::${args.name}`;
        if (args.type === "aws:s3/bucket:Bucket")
          state["bucket"] = `${String(args.inputs["bucketPrefix"] ?? "")}mock`;
        if (args.type === "aws:kms/key:Key") state["keyId"] = `key-${args.name}`;
        if (args.type === "random:index/randomPassword:RandomPassword") {
          const salt = opts.passwordFromKeepers
            ? createHash("sha256")
                .update(`${args.name}\0${JSON.stringify(args.inputs["keepers"] ?? {})}`)
                .digest("base64url")
                .slice(0, 24)
            : "";
          state["result"] = pulumi.secret(`mock-generated-password${salt}`);
          // Shaped like a bcrypt hash (the provider computes a real one).
          state["bcryptHash"] = pulumi.secret(
            `$2b$10$${(salt.replace(/[^A-Za-z0-9]/g, ".") + "m".repeat(53)).slice(0, 53)}`,
          );
        }
        if (args.type.startsWith("kubernetes:")) {
          const md = (args.inputs["metadata"] ?? {}) as Record<string, unknown>;
          state["metadata"] = { ...md, name: md["name"] ?? args.name };
        }
        resources.push({
          type: args.type,
          name: args.name,
          urn: `urn:pulumi:${stage}::${PROJECT}::${args.type}::${args.name}`,
          inputs: args.inputs as Record<string, unknown>,
        });
        return { id, state };
      },
      call(args) {
        // The backup role's preflight: the cluster and its IAM OIDC provider exist.
        if (args.token === "aws:eks/getCluster:getCluster") {
          return {
            name: args.inputs["name"],
            version: "1.33",
            identities: [
              { oidcs: [{ issuer: "https://oidc.eks.eu-west-1.amazonaws.com/id/MOCK" }] },
            ],
          };
        }
        if (args.token === "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider") {
          return {
            arn: "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/MOCK",
          };
        }
        return args.inputs;
      },
    },
    PROJECT,
    stage,
    false,
  );
  return { resources };
}

/** Sets the stack's config from its stack file, as `pulumi up -s <stage>` would. */
export function setStackConfig(stage: StageName, file = `Pulumi.${stage}.yaml`): void {
  void loadStageConfigFile(file); // fail early with the loader's own message
  const raw = readStackConfig(file);
  pulumi.runtime.setAllConfig(raw, []);
}

import { readStackFile } from "../../src/config/load.js";
function readStackConfig(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(readStackFile(file).config)) {
    out[k] = typeof v === "string" ? v : JSON.stringify(v);
  }
  return out;
}

/** Resolves an Output (or plain value) to its value. */
export function unwrap<T>(value: pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(value).apply((v) => resolve(v as T)));
}

/** Lets every registration in flight reach the mock monitor. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}
