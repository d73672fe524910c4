/**
 * Resource types that hold data, as data: deleting or replacing one of them can lose what it holds.
 * A plan flags such steps `dataLoss` (unless the resource is `retainOnDelete`, which leaves the
 * cloud resource in place). `when` narrows a type to resources whose inputs have a field (a
 * StatefulSet only holds data through its volume claim templates).
 */

export interface DataBearingRule {
  types: string[];
  /** Only when this input path is present and non-empty. */
  when?: string;
  /** What is lost, for the reviewer. */
  reason: string;
}

export const DATA_BEARING: DataBearingRule[] = [
  {
    types: ["aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"],
    reason: "the bucket's objects (and their versions) go with the bucket",
  },
  {
    types: ["aws:kms/key:Key"],
    reason:
      "data encrypted under the key (snapshots, backups, state) cannot be decrypted once the key's deletion window ends",
  },
  {
    types: ["aws:ebs/volume:Volume", "aws:efs/fileSystem:FileSystem"],
    reason: "the volume's contents",
  },
  {
    types: ["aws:rds/instance:Instance", "aws:rds/cluster:Cluster", "aws:dynamodb/table:Table"],
    reason: "the database's data",
  },
  {
    types: ["kubernetes:core/v1:PersistentVolumeClaim"],
    reason:
      "the claim's volume: dynamically provisioned volumes default to reclaimPolicy Delete and go with the claim",
  },
  {
    types: ["kubernetes:core/v1:PersistentVolume"],
    reason: "the volume and, with reclaimPolicy Delete, its storage",
  },
  {
    types: ["kubernetes:apps/v1:StatefulSet"],
    when: "spec.volumeClaimTemplates",
    reason:
      "the pods' claims from volumeClaimTemplates: new templates mean new, empty claims (and the old ones are deleted with persistentVolumeClaimRetentionPolicy Delete)",
  },
  {
    types: ["kubernetes:core/v1:Namespace"],
    reason: "deleting a namespace deletes everything in it, persistent volume claims included",
  },
];

/** The data-bearing rule that applies to a resource, if any. */
export function dataBearingRule(
  type: string,
  inputs: Record<string, unknown> | undefined,
  rules: DataBearingRule[] = DATA_BEARING,
): DataBearingRule | undefined {
  return rules.find((r) => {
    if (!r.types.includes(type)) return false;
    if (!r.when) return true;
    let v: unknown = inputs;
    for (const seg of r.when.split(".")) {
      v = v && typeof v === "object" ? (v as Record<string, unknown>)[seg] : undefined;
    }
    return Array.isArray(v) ? v.length > 0 : v !== undefined && v !== null;
  });
}
