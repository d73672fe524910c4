/**
 * The fields each resource type cannot change in place, as data: a change to one of them makes
 * the provider delete and recreate the resource (Pulumi's `replace`). Each entry names where the
 * fact comes from. Paths are input property paths (`spec.selector`, `spec.containers[*].image`);
 * `[*]` matches every element of a list. `when: "decrease"` entries replace only when a quantity
 * shrinks (a claim can grow in place, never shrink).
 *
 * Sources, read for this table:
 * - pulumi-kubernetes `provider/pkg/provider/diff.go` (commit cafe8c4): the `forceNew` map per
 *   group/version/kind, plus `.metadata.name`/`.metadata.namespace` for every kind.
 * - terraform-provider-aws `internal/service/<svc>/<resource>.go`: fields marked `ForceNew: true`;
 *   pulumi-aws bridges these providers and replaces on exactly those fields.
 * - Kubernetes documentation, "Expanding Persistent Volumes Claims": a claim's size can only grow.
 */

export interface ReplaceField {
  /** Input property path; `[*]` matches any list element. */
  path: string;
  /** `change` (default): any difference replaces; `decrease`: only a smaller quantity does. */
  when?: "change" | "decrease";
}

export interface ReplaceRule {
  /** Pulumi type tokens the rule applies to; a trailing `*` matches a prefix (`kubernetes:*`). */
  types: string[];
  fields: ReplaceField[];
  /** Where the fact comes from (file and commit, or documentation page). */
  source: string;
  /** A caveat when the rule depends on provider configuration. */
  note?: string;
}

const K8S_DIFF = "pulumi-kubernetes provider/pkg/provider/diff.go @ cafe8c4 (forceNew)";

const f = (...paths: string[]): ReplaceField[] => paths.map((path) => ({ path }));

export const REPLACE_RULES: ReplaceRule[] = [
  {
    types: ["kubernetes:*"],
    fields: f("metadata.name", "metadata.namespace"),
    source: `${K8S_DIFF}: metadataForceNewProperties, every kind`,
  },
  {
    types: ["kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1beta2:StatefulSet"],
    fields: [
      ...f("spec.podManagementPolicy", "spec.revisionHistoryLimit", "spec.serviceName"),
      ...f("spec.selector"),
      ...f("spec.volumeClaimTemplates"),
    ],
    source: `${K8S_DIFF}: statefulSet`,
  },
  {
    types: [
      "kubernetes:apps/v1:Deployment",
      "kubernetes:apps/v1beta2:Deployment",
      "kubernetes:apps/v1:DaemonSet",
      "kubernetes:apps/v1beta2:DaemonSet",
    ],
    fields: f("spec.selector"),
    source: `${K8S_DIFF}: deployment, daemonset`,
  },
  {
    types: ["kubernetes:batch/v1:Job"],
    fields: [
      ...f("spec.completions", "spec.parallelism"),
      ...f("spec.selector"),
      ...f("spec.template"),
    ],
    source: `${K8S_DIFF}: job`,
  },
  {
    types: ["kubernetes:core/v1:Service"],
    fields: f("spec.clusterIP"),
    source: `${K8S_DIFF}: core/v1 Service`,
  },
  {
    types: ["kubernetes:core/v1:PersistentVolumeClaim"],
    fields: [
      ...f("spec.accessModes"),
      ...f("spec.selector"),
      ...f("spec.storageClassName", "spec.volumeName"),
    ],
    source: `${K8S_DIFF}: core/v1 PersistentVolumeClaim`,
  },
  {
    types: ["kubernetes:core/v1:PersistentVolumeClaim"],
    fields: [{ path: "spec.resources.requests.storage", when: "decrease" }],
    source:
      "Kubernetes docs, Persistent Volumes: Expanding Persistent Volumes Claims (a claim can only grow; shrinking is refused)",
  },
  {
    types: ["kubernetes:core/v1:PersistentVolume"],
    fields: f(
      "spec.awsElasticBlockStore",
      "spec.azureDisk",
      "spec.azureFile",
      "spec.cephfs",
      "spec.cinder",
      "spec.csi",
      "spec.fc",
      "spec.flexVolume",
      "spec.flocker",
      "spec.gcePersistentDisk",
      "spec.glusterfs",
      "spec.hostPath",
      "spec.iscsi",
      "spec.local",
      "spec.nfs",
      "spec.photonPersistentDisk",
      "spec.portworxVolume",
      "spec.quobyte",
      "spec.rbd",
      "spec.scaleIO",
      "spec.storageos",
      "spec.vsphereVolume",
    ),
    source: `${K8S_DIFF}: core/v1 PersistentVolume`,
  },
  {
    types: ["kubernetes:core/v1:ConfigMap"],
    fields: f("binaryData", "data"),
    source: `${K8S_DIFF}: forceNewProperties (ConfigMap unless enableConfigMapMutable)`,
    note: "replaced unless the Kubernetes provider sets enableConfigMapMutable",
  },
  {
    types: ["kubernetes:core/v1:Secret"],
    fields: f("type", "data", "stringData"),
    source: `${K8S_DIFF}: forceNewProperties (Secret: type always, data/stringData unless enableSecretMutable)`,
    note: "data and stringData replace unless the Kubernetes provider sets enableSecretMutable",
  },
  {
    types: ["kubernetes:core/v1:ResourceQuota"],
    fields: f("spec.scopes"),
    source: `${K8S_DIFF}: core/v1 ResourceQuota`,
  },
  {
    types: [
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
      "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
    ],
    fields: f("roleRef"),
    source: `${K8S_DIFF}: roleBinding`,
  },
  {
    types: ["kubernetes:storage.k8s.io/v1:StorageClass"],
    fields: f("parameters", "provisioner"),
    source: `${K8S_DIFF}: storage.k8s.io/v1 StorageClass`,
  },
  {
    types: ["aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"],
    fields: f("bucket", "bucketPrefix", "objectLockEnabled"),
    source:
      "terraform-provider-aws internal/service/s3/bucket.go (bucket, bucket_prefix, object_lock_enabled: ForceNew)",
  },
  {
    types: ["aws:kms/key:Key"],
    fields: f("customerMasterKeySpec", "keyUsage", "multiRegion", "customKeyStoreId", "xksKeyId"),
    source:
      "terraform-provider-aws internal/service/kms/key.go (customer_master_key_spec, key_usage, multi_region, custom_key_store_id, xks_key_id: ForceNew)",
  },
  {
    types: ["aws:kms/alias:Alias"],
    fields: f("name", "namePrefix"),
    source: "terraform-provider-aws internal/service/kms/alias.go (name, name_prefix: ForceNew)",
  },
  {
    types: ["aws:iam/role:Role"],
    fields: f("name", "namePrefix", "path"),
    source:
      "terraform-provider-aws internal/service/iam/role.go (name, name_prefix, path: ForceNew)",
  },
  {
    types: [
      "aws:s3/bucketVersioning:BucketVersioning",
      "aws:s3/bucketVersioningV2:BucketVersioningV2",
    ],
    fields: f("bucket", "expectedBucketOwner"),
    source:
      "terraform-provider-aws internal/service/s3/bucket_versioning.go (bucket, expected_bucket_owner: ForceNew)",
  },
];

/** The rules that apply to a type token, in table order. */
export function replaceRulesFor(type: string, rules: ReplaceRule[] = REPLACE_RULES): ReplaceRule[] {
  return rules.filter((r) =>
    r.types.some((t) => (t.endsWith("*") ? type.startsWith(t.slice(0, -1)) : t === type)),
  );
}
