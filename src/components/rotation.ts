/**
 * Rotation of the passwords the stack generates (issue 15): the Grafana admin password and
 * Prometheus' basic-auth password are random.RandomPassword resources whose `keepers.rotation`
 * moves once every `golden-goose:secrets.rotationDays`, so the next `pulumi up` after it moves
 * replaces them. Their clients must then pick up the new value:
 * - a client reading the password from a mounted Secret volume (no subPath) gets the new file
 *   when the kubelet next syncs the pod, and must re-read it per use (Prometheus' web config and
 *   password_file, the probes, the backup agent: tests/components/metrics-auth-rotation.test.ts);
 * - a client reading it from the environment (`secretKeyRef`) sees it only at pod start, so its
 *   pod template carries `secretHash` of the Secret as an annotation: a new password changes the
 *   template and the workload rolls.
 */
import * as pulumi from "@pulumi/pulumi";
import { contentHash } from "./common.js";

/**
 * The rotation keeper: a new value every `rotationDays`, so a generated password is replaced
 * once a period (random.RandomPassword is recreated when a keeper changes).
 */
export function rotationKeeper(now: number, rotationDays: number): string {
  const period = Math.floor(now / (rotationDays * 86_400_000));
  return `every-${rotationDays}d-period-${period}`;
}

/**
 * A pod-template annotation value for a Secret's content: a hash that changes whenever the
 * content does. Computed from secret outputs but deliberately not a Pulumi secret itself: a secret
 * anywhere in a pod template makes Pulumi treat the workload's whole `spec` as one secret value
 * (every diff shows only "[secret]", the policy pack cannot read the pod). The value discloses
 * nothing: 64 bits of SHA-256 over a generated password of about 190 bits. `name` separates the
 * hashes of different Secrets.
 */
export function secretHash(
  name: string,
  data: Record<string, pulumi.Input<string>>,
): pulumi.Output<string> {
  return pulumi.unsecret(
    pulumi
      .all(data)
      .apply((d) =>
        contentHash(JSON.stringify([name, Object.entries(d).sort(([a], [b]) => (a < b ? -1 : 1))])),
      ),
  );
}
