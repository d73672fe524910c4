/**
 * The synthetic stack of the analyzer bench (bench/preview, part 3) and of its profile driver
 * (bench/preview/profile-pack.ts): Deployments, StatefulSets, ConfigMaps and S3 buckets in turn.
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { emptyOptions, type AnalyzerResourceInput } from "../../src/policy/analyzer.js";
import { SECRET_SIG, SECRET_SIG_KEY } from "../../src/pulumi-export/index.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export function synthetic(n: number): AnalyzerResourceInput[] {
  const out: AnalyzerResourceInput[] = [];
  for (let i = 0; i < n; i++) {
    const kind = i % 4;
    const name = `r${i}`;
    const container = {
      name: "app",
      image: `quay.io/prometheus/prometheus:v3.5.${i % 10}`,
      resources: {
        requests: { cpu: "100m", memory: "128Mi" },
        limits: { cpu: "1", memory: "1Gi" },
      },
      securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, privileged: false },
      readinessProbe: { httpGet: { path: "/-/ready", port: 9090 } },
      livenessProbe: { httpGet: { path: "/-/healthy", port: 9090 } },
      env: [{ name: "LOG_LEVEL", value: "info" }],
    };
    const labels = { "app.kubernetes.io/name": name, owner: "platform", stage: "production" };
    let type: string;
    let properties: Record<string, unknown>;
    if (kind === 0 || kind === 1) {
      type = kind === 0 ? "kubernetes:apps/v1:Deployment" : "kubernetes:apps/v1:StatefulSet";
      properties = {
        apiVersion: "apps/v1",
        kind: kind === 0 ? "Deployment" : "StatefulSet",
        metadata: { name, namespace: "goose-production", labels },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { securityContext: { runAsNonRoot: true }, containers: [container] },
          },
        },
      };
    } else if (kind === 2) {
      type = "kubernetes:core/v1:ConfigMap";
      properties = {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name, labels },
        data: { "a.yaml": "x: 1\n" },
      };
    } else {
      type = "aws:s3/bucket:Bucket";
      properties = { bucket: name, forceDestroy: false, tags: { owner: "platform" } };
    }
    out.push(resourceInput(type, name, properties));
  }
  return out;
}

/** A production-stack resource as the Analyzer gets it: no options, parent or dependencies. */
export function resourceInput(
  type: string,
  name: string,
  properties: Record<string, unknown>,
): AnalyzerResourceInput {
  return {
    urn: `urn:pulumi:production::golden-goose::${type}::${name}`,
    type,
    name,
    properties,
    options: emptyOptions(),
    dependencies: [],
    propertyDependencies: {},
  };
}

/**
 * The second workload of part 3, reported beside the goal's: the production stage as goose renders
 * it (under mocks, its 67 resources with their real inputs; no mandatory violation), repeated with
 * numbered URNs and names up to `n` resources. The synthetic stack violates the production config
 * on nearly every resource (1.75 Analyze and 2.75 AnalyzeStack diagnostics per resource), a
 * rendered stage almost nowhere, so this shows the pack's cost of evaluating against that of
 * reporting.
 */
/** An export's secrets (`plaintext`, or `ciphertext` of the b64 provider) as the engine sends them (`value`). */
function wireSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(wireSecrets);
  if (!v || typeof v !== "object") return v;
  const o = v as Record<string, unknown>;
  if (o[SECRET_SIG_KEY] === SECRET_SIG) {
    const text =
      typeof o.plaintext === "string"
        ? o.plaintext
        : Buffer.from(String(o.ciphertext ?? "null"), "base64").toString("utf8");
    return { [SECRET_SIG_KEY]: SECRET_SIG, value: wireSecrets(JSON.parse(text)) };
  }
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, wireSecrets(x)]));
}

export async function renderedWorkload(n: number): Promise<AnalyzerResourceInput[]> {
  const { OfflineEngine } = await import("../../src/engine/offline/engine.js");
  const engine = new OfflineEngine({ cwd: repoRoot, env: process.env });
  const rendered = (await engine.renderExport("production")).deployment.resources ?? [];
  const base = rendered.filter((r) => !r.type.startsWith("pulumi:"));
  const out: AnalyzerResourceInput[] = [];
  for (let i = 0; out.length < n; i++) {
    const r = base[i % base.length]!;
    const copy = Math.floor(i / base.length);
    const name = `${r.urn.split("::").pop()}-${copy}`;
    out.push({
      urn: `${r.urn}-${copy}`,
      type: r.type,
      name,
      properties: wireSecrets(JSON.parse(JSON.stringify(r.inputs ?? {}))) as Record<
        string,
        unknown
      >,
      options: emptyOptions(),
      dependencies: (r.dependencies ?? []).map((d) => `${d}-${copy}`),
      propertyDependencies: {},
    });
  }
  return out;
}
