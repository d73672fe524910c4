/**
 * Container image references (`registry[:port]/repo[:tag][@sha256:<digest>]`): whether one is
 * well formed, and its parts. The one parser of image references: the stage config schema, the
 * SBOM gate and the policy pack (which bundles this file, so it imports nothing) all use it.
 */

/** A well-formed reference: lower-case repository path, optional tag and sha256 digest. */
export const IMAGE_REF_PATTERN =
  /^[a-z0-9]+(?:[._\-/][a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

export interface ImageRef {
  /** Everything before the tag and digest, registry included (`quay.io/prometheus/prometheus`). */
  repository: string;
  /** The last path segment of the repository, lower-cased (`prometheus`). */
  name: string;
  tag?: string;
  /** `sha256:<hex>`, without the `@`. */
  digest?: string;
}

/** Whether `ref` is a well-formed image reference (IMAGE_REF_PATTERN). */
export function isImageRef(ref: string): boolean {
  return IMAGE_REF_PATTERN.test(ref);
}

/**
 * Splits a reference into its parts. It does not check the reference: a colon after the last
 * slash starts the tag (so a registry port is not a tag), the first `@` starts the digest.
 */
export function parseImageRef(ref: string): ImageRef {
  const at = ref.indexOf("@");
  const digest = at >= 0 ? ref.slice(at + 1) : undefined;
  const rest = at >= 0 ? ref.slice(0, at) : ref;
  const colon = rest.lastIndexOf(":");
  const hasTag = colon > rest.lastIndexOf("/");
  const repository = hasTag ? rest.slice(0, colon) : rest;
  const tag = hasTag ? rest.slice(colon + 1) : undefined;
  const name = repository.slice(repository.lastIndexOf("/") + 1).toLowerCase();
  return { repository, name, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}
