/** The shapes of `pulumi stack export` output (apitype.UntypedDeployment / DeploymentV3). */

/** One resource of a deployment (apitype.ResourceV3). */
export interface ExportResource {
  urn: string;
  custom: boolean;
  id?: string;
  type: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  parent?: string;
  protect?: boolean;
  provider?: string;
  dependencies?: string[];
  propertyDependencies?: Record<string, string[]>;
  additionalSecretOutputs?: string[];
  aliases?: string[];
  customTimeouts?: { create?: number; update?: number; delete?: number };
  ignoreChanges?: string[];
  replaceOnChanges?: string[];
  retainOnDelete?: boolean;
  deletedWith?: string;
  deleteBeforeReplace?: boolean;
  delete?: boolean;
  created?: string;
  modified?: string;
  [k: string]: unknown;
}

/** What `pulumi stack export` prints: `{ version, features?, deployment }`. */
export interface StackExport {
  version: number;
  features?: string[];
  deployment: {
    manifest: { time: string; magic: string; version: string; plugins?: unknown[] };
    secrets_providers?: { type: string; state?: unknown };
    resources?: ExportResource[];
    pending_operations?: unknown[];
    [k: string]: unknown;
  };
}

/**
 * The secrets provider type (`b64`, `passphrase`, `awskms`, `service`…) of an export or of a DIY
 * checkpoint (`{ checkpoint: { latest } }`); undefined when the text is not JSON or names none.
 */
export function secretsProviderOf(text: string): string | undefined {
  try {
    const doc = JSON.parse(text) as {
      deployment?: { secrets_providers?: { type?: string } };
      checkpoint?: { latest?: { secrets_providers?: { type?: string } } };
    };
    return (doc.deployment ?? doc.checkpoint?.latest)?.secrets_providers?.type;
  } catch {
    return undefined;
  }
}
