/**
 * A series of CycloneDX SBOMs in canonical JSON, built from the repository's own
 * package-lock.json: each next version bumps a few versions, adds and removes a component, as
 * successive releases do. For the delta tests and bench/sbom.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import canonicalize from "canonicalize";

interface Component {
  type: string;
  name: string;
  version: string;
  purl: string;
  "bom-ref": string;
  hashes: Array<{ alg: string; content: string }>;
  licenses?: Array<{ license: { id: string } }>;
}

export function sbomSeries(repoRoot: string, versions: number): string[] {
  const lock = JSON.parse(readFileSync(path.join(repoRoot, "package-lock.json"), "utf8")) as {
    packages: Record<string, { version?: string; license?: string }>;
  };
  let comps: Component[] = Object.entries(lock.packages)
    .filter(([k, v]) => k.startsWith("node_modules/") && v.version)
    .map(([k, v]) => {
      const name = k.slice(k.lastIndexOf("node_modules/") + "node_modules/".length);
      const purl = `pkg:npm/${name.replace("@", "%40")}@${v.version}`;
      return {
        type: "library",
        name,
        version: v.version as string,
        purl,
        "bom-ref": purl,
        hashes: [{ alg: "SHA-256", content: createHash("sha256").update(purl).digest("hex") }],
        ...(v.license ? { licenses: [{ license: { id: v.license } }] } : {}),
      };
    });
  const out: string[] = [];
  for (let v = 0; v < versions; v++) {
    if (v > 0) {
      // Bump every 40th component's patch version, drop one, add one.
      comps = comps.map((c, i) => {
        if ((i + v) % 40 !== 0) return c;
        const version = c.version.replace(/(\d+)$/, (d) => String(Number(d) + 1));
        const purl = `pkg:npm/${c.name.replace("@", "%40")}@${version}`;
        return { ...c, version, purl, "bom-ref": purl };
      });
      comps.splice(v % comps.length, 1);
      const purl = `pkg:npm/new-dep-${v}@1.0.${v}`;
      comps.push({
        type: "library",
        name: `new-dep-${v}`,
        version: `1.0.${v}`,
        purl,
        "bom-ref": purl,
        hashes: [{ alg: "SHA-256", content: createHash("sha256").update(purl).digest("hex") }],
      });
    }
    out.push(
      canonicalize({
        bomFormat: "CycloneDX",
        specVersion: "1.6",
        serialNumber: `urn:uuid:00000000-0000-4000-8000-${String(v).padStart(12, "0")}`,
        version: 1,
        metadata: {
          timestamp: new Date(Date.UTC(2026, 0, 1 + v)).toISOString(),
          component: { type: "application", name: "golden-goose", version: `0.1.${v}` },
        },
        components: comps,
      }) as string,
    );
  }
  return out;
}
