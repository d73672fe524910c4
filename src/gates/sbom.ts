/**
 * The SBOM gate: a CycloneDX 1.6 JSON SBOM of the release, built from package-lock.json (the npm
 * dependency tree without dev dependencies) and the container images the stage deploys (as
 * `pkg:oci` components), enriched per security/sbom/enrichment.yaml (supplier, licences, hashes)
 * and validated against the CycloneDX schema with @cyclonedx/cyclonedx-library. The SBOM is
 * deterministic for the same inputs (no timestamp; serial number derived from the content), so its
 * digest keys the vulnerability cache. It is stored apart from snapshots: `sbom/<stage>/<sha256>.cdx.json`.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Spec, Validation } from "@cyclonedx/cyclonedx-library";
import { isSupportedSpdxId } from "@cyclonedx/cyclonedx-library/SPDX";
import { archiveSbom } from "../sbom/delta.js";
import canonicalize from "canonicalize";
import { formatProblem, loadYamlFile } from "../config/file.js";
import { parseImageRef, type ImageRef } from "../images/ref.js";
import { z } from "zod";
import type { StageConfig } from "../config/index.js";
import { stageImages } from "../config/images.js";
import type { StageName } from "../config/stages.js";
import type { ObjectStore } from "../store/types.js";
import { GateInputError, timed, type GateResult } from "./types.js";

const supplierSchema = z.strictObject({
  name: z.string().min(1),
  url: z.array(z.string().url()).optional(),
});
const hashSchema = z.strictObject({
  alg: z.enum(["SHA-256", "SHA-384", "SHA-512", "SHA-1"]),
  content: z.string().regex(/^[a-f0-9]{40,128}$/, "lower-case hex"),
});
const ruleSchema = z
  .strictObject({
    /** Glob on npm package names, e.g. "@pulumi/*". */
    npm: z.string().min(1).optional(),
    /** Glob on image repositories, e.g. "quay.io/prometheus/*". */
    image: z.string().min(1).optional(),
    supplier: supplierSchema.optional(),
    /** SPDX ids or expressions; applied when the component has no licence of its own. */
    licenses: z.array(z.string().min(1)).optional(),
    /** Extra hashes (e.g. the digest of an image pulled by tag). */
    hashes: z.array(hashSchema).optional(),
  })
  .refine(
    (r) => Boolean(r.npm) !== Boolean(r.image),
    "each rule needs exactly one of npm or image",
  );

export const enrichmentSchema = z.strictObject({
  /** Supplier of the release itself (metadata.supplier). */
  supplier: supplierSchema,
  /** Authors or team, for metadata.authors. */
  authors: z
    .array(z.strictObject({ name: z.string().min(1), email: z.string().optional() }))
    .optional(),
  rules: z.array(ruleSchema),
});
export type Enrichment = z.infer<typeof enrichmentSchema>;

export function loadEnrichment(file: string): Enrichment {
  return loadYamlFile(enrichmentSchema, file, {
    error: (problems) => new GateInputError(problems.map(formatProblem).join("\n")),
    missingFix: "pass the right path, or restore it from the repository",
  }).value;
}

/** Every image a stage deploys, by role (the one list: config/images.ts). */
export { stageImages };

export { parseImageRef, type ImageRef };

/** `pkg:oci/<name>@<digest>?repository_url=<repo>&tag=<tag>` (purl spec, oci type). */
export function ociPurl(img: ImageRef): string {
  const q: string[] = [`repository_url=${encodeURIComponent(img.repository).replace(/%2F/g, "/")}`];
  if (img.tag) q.push(`tag=${encodeURIComponent(img.tag)}`);
  const version = img.digest ? "@" + encodeURIComponent(img.digest) : "";
  return `pkg:oci/${img.name}${version}?${q.join("&")}`;
}

export function npmPurl(name: string, version: string): string {
  const n = name.startsWith("@") ? "%40" + name.slice(1) : name;
  return `pkg:npm/${n}@${encodeURIComponent(version)}`;
}

function globToRegExp(glob: string): RegExp {
  const esc = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${esc}$`);
}

function licenseEntry(text: string): Record<string, unknown> {
  if (isSupportedSpdxId(text)) return { license: { id: text } };
  if (/\s(AND|OR|WITH)\s/.test(text)) return { expression: text };
  return { license: { name: text } };
}

function integrityHashes(integrity: string | undefined): Array<{ alg: string; content: string }> {
  if (!integrity) return [];
  const out: Array<{ alg: string; content: string }> = [];
  for (const part of integrity.split(/\s+/)) {
    const m = /^(sha512|sha384|sha256|sha1)-(.+)$/.exec(part);
    if (!m) continue;
    const alg = { sha512: "SHA-512", sha384: "SHA-384", sha256: "SHA-256", sha1: "SHA-1" }[
      m[1] as "sha1"
    ];
    out.push({ alg, content: Buffer.from(m[2] ?? "", "base64").toString("hex") });
  }
  return out;
}

interface LockEntry {
  name?: string;
  version?: string;
  integrity?: string;
  license?: unknown;
  dev?: boolean;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

export interface SbomBuild {
  bom: Record<string, unknown>;
  /** The SBOM as stored: canonical JSON. */
  json: string;
  /** sha256 hex of `json`. */
  digest: string;
  stats: { npm: number; images: number; withoutLicense: string[]; unpinnedImages: string[] };
}

export interface BuildSbomInput {
  repoRoot: string;
  stage: StageName;
  config: StageConfig;
  enrichment: Enrichment;
}

/** Builds the release SBOM (pure apart from reading package.json and package-lock.json). */
export function buildSbom(input: BuildSbomInput): SbomBuild {
  const lockFile = path.join(input.repoRoot, "package-lock.json");
  let lock: { packages?: Record<string, LockEntry>; lockfileVersion?: number };
  let pkg: { name?: string; version?: string; license?: string };
  try {
    lock = JSON.parse(readFileSync(lockFile, "utf8")) as typeof lock;
    pkg = JSON.parse(readFileSync(path.join(input.repoRoot, "package.json"), "utf8")) as typeof pkg;
  } catch (err) {
    throw new GateInputError(
      `cannot read the npm tree: ${(err as Error).message}; run npm install to create package-lock.json`,
    );
  }
  if (!lock.packages || (lock.lockfileVersion ?? 0) < 2) {
    throw new GateInputError(
      `${lockFile}: lockfileVersion ${lock.lockfileVersion} has no "packages" map; regenerate it with npm 7 or later`,
    );
  }
  const packages = lock.packages;
  const rootRef = `pkg:npm/${pkg.name ?? "golden-goose"}@${pkg.version ?? "0.0.0"}`;
  const rules = input.enrichment.rules.map((r) => ({
    ...r,
    re: globToRegExp((r.npm ?? r.image) as string),
  }));

  const components = new Map<string, Record<string, unknown>>();
  const deps = new Map<string, Set<string>>();
  const pathToRef = new Map<string, string>();
  const withoutLicense: string[] = [];

  const nameOf = (p: string, e: LockEntry) =>
    e.name ?? p.slice(p.lastIndexOf("node_modules/") + "node_modules/".length);
  for (const [p, e] of Object.entries(packages)) {
    if (p === "" || e.dev || e.link || !e.version) continue;
    const name = nameOf(p, e);
    const ref = npmPurl(name, e.version);
    pathToRef.set(p, ref);
    if (components.has(ref)) continue;
    const licenseText = typeof e.license === "string" ? e.license : undefined;
    const c: Record<string, unknown> = {
      type: "library",
      "bom-ref": ref,
      name: name.includes("/") ? name.slice(name.indexOf("/") + 1) : name,
      ...(name.startsWith("@") ? { group: name.slice(0, name.indexOf("/")) } : {}),
      version: e.version,
      purl: ref,
      scope: "required",
    };
    const hashes = integrityHashes(e.integrity);
    let licenses = licenseText ? [licenseEntry(licenseText)] : [];
    for (const r of rules) {
      if (!r.npm || !r.re.test(name)) continue;
      if (r.supplier) c.supplier = r.supplier;
      if (r.licenses && licenses.length === 0) licenses = r.licenses.map(licenseEntry);
      if (r.hashes) hashes.push(...r.hashes);
    }
    if (licenses.length)
      c.licenses =
        licenses.length > 1 && licenses.some((l) => "expression" in l) ? [licenses[0]] : licenses;
    else withoutLicense.push(ref);
    if (hashes.length) c.hashes = hashes;
    components.set(ref, c);
  }
  // Resolve each package's dependencies the way Node does: nearest node_modules upward.
  const resolve = (from: string, dep: string): string | undefined => {
    let base = from;
    for (;;) {
      const candidate = (base ? base + "/" : "") + "node_modules/" + dep;
      const ref = pathToRef.get(candidate);
      if (ref) return ref;
      if (!base) return undefined;
      const i = base.lastIndexOf("/node_modules/");
      base = i >= 0 ? base.slice(0, i) : "";
    }
  };
  for (const [p, e] of Object.entries(packages)) {
    const ref = p === "" ? rootRef : pathToRef.get(p);
    if (!ref) continue;
    const set = deps.get(ref) ?? new Set<string>();
    for (const d of Object.keys({ ...e.dependencies, ...e.optionalDependencies })) {
      const r = resolve(p, d);
      if (r && r !== ref) set.add(r);
    }
    deps.set(ref, set);
  }

  const unpinnedImages: string[] = [];
  const imageRefs: string[] = [];
  for (const { role, ref } of stageImages(input.config)) {
    const img = parseImageRef(ref);
    const purl = ociPurl(img);
    imageRefs.push(purl);
    if (components.has(purl)) continue;
    const hashes: Array<{ alg: string; content: string }> = [];
    if (img.digest?.startsWith("sha256:"))
      hashes.push({ alg: "SHA-256", content: img.digest.slice(7) });
    else unpinnedImages.push(ref);
    const c: Record<string, unknown> = {
      type: "container",
      "bom-ref": purl,
      name: img.repository,
      ...(img.tag ? { version: img.tag } : {}),
      purl,
      properties: [{ name: "goldengoose:role", value: role }],
    };
    let licenses: Record<string, unknown>[] = [];
    for (const r of rules) {
      if (!r.image || !r.re.test(img.repository)) continue;
      if (r.supplier) c.supplier = r.supplier;
      if (r.licenses) licenses = r.licenses.map(licenseEntry);
      if (r.hashes) hashes.push(...r.hashes);
    }
    if (licenses.length) c.licenses = licenses;
    else withoutLicense.push(purl);
    if (hashes.length) c.hashes = hashes;
    components.set(purl, c);
  }
  deps.set(rootRef, new Set([...(deps.get(rootRef) ?? []), ...imageRefs]));

  const sortedComponents = [...components.values()].sort((a, b) =>
    String(a["bom-ref"]).localeCompare(String(b["bom-ref"])),
  );
  const dependencies = [...deps.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([ref, set]) => ({ ref, dependsOn: [...set].sort() }));
  const contentHash = createHash("sha256")
    .update(canonicalize({ c: sortedComponents, d: dependencies, s: input.stage }) ?? "")
    .digest("hex");
  const uuid = [
    contentHash.slice(0, 8),
    contentHash.slice(8, 12),
    "5" + contentHash.slice(13, 16),
    ((parseInt(contentHash.slice(16, 17), 16) & 0x3) | 0x8).toString(16) +
      contentHash.slice(17, 20),
    contentHash.slice(20, 32),
  ].join("-");
  const bom: Record<string, unknown> = {
    $schema: "http://cyclonedx.org/schema/bom-1.6.schema.json",
    bomFormat: "CycloneDX",
    specVersion: "1.6",
    serialNumber: `urn:uuid:${uuid}`,
    version: 1,
    metadata: {
      lifecycles: [{ phase: "build" }],
      tools: {
        components: [{ type: "application", name: "goose", version: pkg.version ?? "0.0.0" }],
      },
      supplier: input.enrichment.supplier,
      ...(input.enrichment.authors ? { authors: input.enrichment.authors } : {}),
      component: {
        type: "application",
        "bom-ref": rootRef,
        name: pkg.name ?? "golden-goose",
        version: pkg.version ?? "0.0.0",
        purl: rootRef,
        ...(pkg.license ? { licenses: [licenseEntry(pkg.license)] } : {}),
      },
      properties: [{ name: "goldengoose:stage", value: input.stage }],
    },
    components: sortedComponents,
    dependencies,
  };
  const json = canonicalize(bom) ?? "";
  return {
    bom,
    json,
    digest: createHash("sha256").update(json).digest("hex"),
    stats: {
      npm: sortedComponents.filter((c) => c.type === "library").length,
      images: imageRefs.length,
      withoutLicense,
      unpinnedImages,
    },
  };
}

/** Schema errors of an SBOM (empty when valid), from the CycloneDX library's strict JSON validator. */
export async function validateSbom(json: string): Promise<string[]> {
  const validator = new Validation.JsonStrictValidator(Spec.Version.v1dot6);
  let errors: unknown;
  try {
    errors = await validator.validate(json);
  } catch (err) {
    throw new GateInputError(
      `cannot validate the SBOM: ${(err as Error).message}; the CycloneDX validator needs ajv, ajv-formats and ajv-formats-draft2019 (npm install)`,
    );
  }
  if (errors === null) return [];
  return (Array.isArray(errors) ? errors : [errors]).map(
    (e: { instancePath?: string; message?: string }) =>
      `${e.instancePath || "/"}: ${e.message ?? JSON.stringify(e)}`,
  );
}

export function sbomKey(stage: StageName, digest: string): string {
  return `sbom/${stage}/${digest}.cdx.json`;
}

export interface SbomGateInput extends BuildSbomInput {
  store: ObjectStore;
  enrichmentFile: string;
}

export interface SbomGateOutput {
  result: GateResult;
  sbom?: SbomBuild & { key: string };
}

/**
 * Builds, validates and stores the SBOM. Fails on schema errors; warns on components without a
 * licence and on images pulled by tag only (no digest).
 */
export async function sbomGate(input: SbomGateInput): Promise<SbomGateOutput> {
  let built: SbomBuild | undefined;
  let key: string | undefined;
  const result = await timed("sbom", async () => {
    built = buildSbom(input);
    const errors = await validateSbom(built.json);
    const subjects = [
      { name: sbomKey(input.stage, built.digest), digest: { sha256: built.digest } },
    ];
    const details = {
      specVersion: "1.6",
      components: built.stats.npm + built.stats.images,
      npm: built.stats.npm,
      images: built.stats.images,
      withoutLicense: built.stats.withoutLicense,
      unpinnedImages: built.stats.unpinnedImages,
      enrichment: path.relative(input.repoRoot, input.enrichmentFile),
      schemaErrors: errors.slice(0, 20),
    };
    if (errors.length) {
      return {
        verdict: "fail" as const,
        summary: `the SBOM does not validate against CycloneDX 1.6: ${errors.length} error(s), first: ${errors[0]}`,
        fix: `fix the component named in the error (enrichment rules in ${details.enrichment}) and rerun`,
        details,
        subjects,
      };
    }
    key = sbomKey(input.stage, built.digest);
    if (!(await input.store.head(key))) {
      await input.store.put(key, built.json, { contentType: "application/vnd.cyclonedx+json" });
    }
    // The stage's SBOM history, apart from snapshots: a compressed delta against the previous one.
    const archived = await archiveSbom(input.store, input.stage, built.json);
    const archive = { key: archived.key, kind: archived.kind, bytes: archived.bytes };
    const warnings: string[] = [];
    if (built.stats.withoutLicense.length)
      warnings.push(`${built.stats.withoutLicense.length} component(s) without a licence`);
    if (built.stats.unpinnedImages.length)
      warnings.push(`${built.stats.unpinnedImages.length} image(s) pinned by tag, not digest`);
    return {
      verdict: warnings.length ? ("warn" as const) : ("pass" as const),
      summary: `CycloneDX 1.6 SBOM with ${details.components} components (${details.npm} npm, ${details.images} images), valid${warnings.length ? "; " + warnings.join(", ") : ""}; stored at ${key}`,
      ...(warnings.length
        ? {
            fix: `add licences or image digests through rules in ${details.enrichment}, or pin images with @sha256: in the stack file`,
          }
        : {}),
      details: { ...details, stored: key, archive },
      subjects,
    };
  });
  return { result, ...(built && key ? { sbom: { ...built, key } } : {}) };
}
