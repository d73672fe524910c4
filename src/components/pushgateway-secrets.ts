/** The Pushgateway's basic-auth password and its two Secrets (see pushgateway-auth.ts). */
import * as pulumi from "@pulumi/pulumi";
import { k8s } from "./k8s.js";
import * as random from "@pulumi/random";
import type { StageConfig } from "../config/schema.js";
import { meta, selectorLabels } from "./common.js";
import { rotationKeeper } from "./rotation.js";
import { PUSHGATEWAY_SECRETS, PUSHGATEWAY_USER, pushgatewayWebConfig } from "./pushgateway-auth.js";

export interface PushgatewayAuthArgs {
  config: StageConfig;
  namespace: pulumi.Input<string>;
  labels: Record<string, string>;
  /** Current time in ms (default Date.now()); the rotation keeper is derived from it. */
  now?: number;
}

/**
 * The password (rotated every `secrets.rotationDays`), the web config Secret the Pushgateway
 * mounts and the password Secret its clients mount.
 */
export class PushgatewayAuth extends pulumi.ComponentResource {
  public readonly webConfigSecretName: pulumi.Output<string>;
  public readonly passwordSecretName: pulumi.Output<string>;

  constructor(name: string, args: PushgatewayAuthArgs, opts?: pulumi.ComponentResourceOptions) {
    super("goldengoose:monitoring:PushgatewayAuth", name, {}, opts);
    const child = { parent: this };
    const labels = { ...args.labels, ...selectorLabels("pushgateway", "pushgateway") };
    const password = new random.RandomPassword(
      `${name}-password`,
      {
        length: 32,
        special: false,
        minLower: 2,
        minUpper: 2,
        minNumeric: 2,
        keepers: {
          rotation: rotationKeeper(args.now ?? Date.now(), args.config.secrets.rotationDays),
        },
      },
      child,
    );
    const webConfig = new k8s.core.v1.Secret(
      `${name}-web-config`,
      {
        metadata: meta(PUSHGATEWAY_SECRETS.webConfig, args.namespace, labels),
        type: "Opaque",
        stringData: { "web.yml": pulumi.secret(password.bcryptHash).apply(pushgatewayWebConfig) },
      },
      child,
    );
    const secret = new k8s.core.v1.Secret(
      `${name}-password`,
      {
        metadata: meta(PUSHGATEWAY_SECRETS.password, args.namespace, labels),
        type: "Opaque",
        stringData: { username: PUSHGATEWAY_USER, password: pulumi.secret(password.result) },
      },
      child,
    );
    this.webConfigSecretName = webConfig.metadata.name;
    this.passwordSecretName = secret.metadata.name;
    this.registerOutputs({
      webConfigSecretName: this.webConfigSecretName,
      passwordSecretName: this.passwordSecretName,
    });
  }
}
