import { readFileSync } from "node:fs";
import { join } from "node:path";
import semver from "semver";
import type { PluginRef } from "./validate.js";

export interface DependencyFinding {
  plugin: string;
  snapshot: string;
  pinned?: string;
  severity: "error" | "warning";
  message: string;
}

export interface DependencyReport {
  ok: boolean;
  findings: DependencyFinding[];
  /** Provider packages the program pins now: name → exact version. */
  pinned: Record<string, string>;
}

/** `@pulumi/<name>` versions pinned in package.json (the plugin version follows the package). */
export function pinnedProviderVersions(repoRoot: string): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  const out: Record<string, string> = {};
  for (const [name, version] of Object.entries(pkg.dependencies ?? {})) {
    const m = /^@pulumi\/(.+)$/.exec(name);
    if (m && m[1] !== "pulumi" && m[1] !== "policy") out[m[1]!] = version.replace(/^[=^~]/, "");
  }
  return out;
}

/**
 * Compares the provider plugins a snapshot was written with against the versions the program
 * pins now. Errors (the rollback is refused): the program no longer has the provider, or the
 * snapshot's state comes from a newer major version than the pinned one (an older provider
 * may not read it). Warnings: any other difference (the update after import upgrades or
 * downgrades the provider).
 */
export function checkDependencies(
  plugins: PluginRef[],
  pinned: Record<string, string>,
): DependencyReport {
  const findings: DependencyFinding[] = [];
  const seen = new Set<string>();
  for (const p of plugins) {
    const key = `${p.name}@${p.version}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const now = pinned[p.name];
    if (now === undefined) {
      findings.push({
        plugin: p.name,
        snapshot: p.version,
        severity: "error",
        message: `the snapshot uses provider ${p.name} ${p.version}, but package.json no longer pins @pulumi/${p.name}: its resources could not be refreshed or deleted. Add it back (\`npm install --save-exact @pulumi/${p.name}@${p.version}\`) or choose a snapshot without it`,
      });
      continue;
    }
    if (now === p.version) continue;
    const a = semver.coerce(p.version);
    const b = semver.coerce(now);
    if (a && b && semver.major(a) > semver.major(b)) {
      findings.push({
        plugin: p.name,
        snapshot: p.version,
        pinned: now,
        severity: "error",
        message: `the snapshot was written by provider ${p.name} ${p.version}, newer than the pinned ${now} by a major version: the older provider may not read its state. Pin @pulumi/${p.name}@${p.version} for the rollback, or choose an older snapshot`,
      });
    } else {
      findings.push({
        plugin: p.name,
        snapshot: p.version,
        pinned: now,
        severity: "warning",
        message: `provider ${p.name}: snapshot ${p.version}, program pins ${now}; the update after the import runs with ${now}`,
      });
    }
  }
  return { ok: !findings.some((f) => f.severity === "error"), findings, pinned };
}
