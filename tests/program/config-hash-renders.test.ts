/**
 * Changing one rule file changes what the Prometheus pods run, proven by full renders: the stage
 * program rendered and "deployed" three times by the offline engine (the real program, stack file
 * and monitoring files of a workspace copy) — unchanged, the pod template's config hash stays and
 * nothing updates; after one alert's `for:` changes, the hash changes (so the StatefulSet rolls its
 * pods) and the Alertmanager's, whose files did not change, stays.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { prepareWorkspace } from "../../src/demo/workspace.js";
import { OfflineEngine } from "../../src/engine/offline/engine.js";
import type { StackExport } from "../../src/engine/offline/state.js";
import { MONITORING_PATHS } from "../../src/monitoring/files.js";

const REPO = path.resolve(import.meta.dirname, "../..");
const HASH = "goldengoose.io/config-hash";

type Obj = Record<string, unknown>;

/** The config-hash annotation of each workload's pod template in the deployed state, by name. */
function podHashes(dir: string): Map<string, string> {
  const state = JSON.parse(
    readFileSync(path.join(dir, ".goose/offline-state/sandbox.json"), "utf8"),
  ) as StackExport;
  const out = new Map<string, string>();
  for (const r of state.deployment.resources ?? []) {
    if (!/^kubernetes:apps\/v1:(StatefulSet|Deployment)$/.test(r.type)) continue;
    const inputs = (r as { inputs?: Obj }).inputs ?? {};
    const md = inputs.metadata as Obj | undefined;
    const tpl = (inputs.spec as Obj | undefined)?.template as Obj | undefined;
    const annotations = (tpl?.metadata as Obj | undefined)?.annotations as Obj | undefined;
    const hash = annotations?.[HASH];
    if (typeof hash === "string") out.set(String(md?.name), hash);
  }
  return out;
}

describe("config hash across full renders", () => {
  it("one changed rule changes the Prometheus pod template; no change keeps it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "goose-config-hash-"));
    prepareWorkspace(REPO, dir);
    const engine = new OfflineEngine({ cwd: dir, env: { PATH: process.env.PATH } });

    await engine.up("sandbox");
    const first = podHashes(dir);
    const prometheus = [...first.keys()].find(
      (n) => /prometheus$/.test(n) && !/alertmanager/.test(n),
    );
    const alertmanager = [...first.keys()].find((n) => /alertmanager$/.test(n));
    expect(prometheus, [...first.keys()].join(", ")).toBeDefined();
    expect(alertmanager, [...first.keys()].join(", ")).toBeDefined();

    // Rendered again from the same files: same hashes, nothing to update.
    const same = await engine.up("sandbox");
    expect(podHashes(dir)).toEqual(first);
    expect(same.resourceChanges.update ?? 0).toBe(0);

    // One alert's `for:` changes (2m → 3m): a change only the rules ConfigMap carries.
    const alerts = path.join(dir, MONITORING_PATHS.alerts);
    const text = readFileSync(alerts, "utf8");
    const edited = text.replace(/for: 2m/, "for: 3m");
    expect(edited).not.toBe(text);
    writeFileSync(alerts, edited);
    const changed = await engine.up("sandbox");
    const after = podHashes(dir);
    expect(after.get(prometheus!)).not.toBe(first.get(prometheus!));
    expect(after.get(alertmanager!)).toBe(first.get(alertmanager!));
    // The rules ConfigMap and the StatefulSet whose pod template changed.
    expect(changed.resourceChanges.update ?? 0).toBeGreaterThanOrEqual(2);
  }, 180_000);
});
