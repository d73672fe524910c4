/**
 * Rotation of Prometheus' basic-auth password, under pulumi.runtime.setMocks with a random
 * provider modelled as replacing a password when its keepers move (tests/helpers/pulumi-mocks.ts
 * `passwordFromKeepers`). The stage is built three times from the production stack file: at a
 * time t, at t again (same rotation period) and one rotation period later.
 *
 * - same period: every resource's inputs are identical (nothing to update, no pod restarts);
 * - next period: the password changes, and every client of it gets the new one: the Grafana pod
 *   template's hash of the password's Secret changes (Grafana reads it from the environment, only
 *   at pod start, so the pod must roll), while the Prometheus pod reads web.yml and the password
 *   file from one Secret volume that the kubelet updates in place (its template stays: no
 *   restart; tests/components/metrics-auth-rotation.test.ts shows a real Prometheus honours
 *   both files changed under it). The hash is not the password, and not a Pulumi secret either
 *   (which would make the whole Deployment spec secret).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { loadStageConfigFile } from "../../src/config/index.js";
import { loadMonitoringFiles } from "../../src/monitoring/files.js";
import { createStage } from "../../src/program/stage.js";
import {
  installMocks,
  setStackConfig,
  settle,
  unwrap,
  type Registered,
} from "../helpers/pulumi-mocks.js";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const DAY = 86_400_000;
const HASH = "goldengoose.io/prometheus-auth-hash";

type Obj = Record<string, unknown>;
const get = (o: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>(
    (cur, k) => (cur && typeof cur === "object" ? (cur as Obj)[k] : undefined),
    o,
  );
/** Inputs with secret markers replaced by their values. */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") {
    const o = v as Obj;
    if (o[SECRET_SIG] !== undefined) return plain(o["value"]);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}
const isSecretMarker = (v: unknown) =>
  !!v && typeof v === "object" && (v as Obj)[SECRET_SIG] !== undefined;

const stage = "production";
const mocks = installMocks(stage, { passwordFromKeepers: true });
setStackConfig(stage);
const cfg = loadStageConfigFile(`Pulumi.${stage}.yaml`);
const period = cfg.secrets.rotationDays * DAY;
// The middle of a rotation period, so t and t + 1 day are in the same one.
const t = (Math.floor(Date.UTC(2026, 10, 1) / period) + 0.5) * period;

/** The resources one build of the stage registered, by type and name. */
type Build = Map<string, Registered>;
async function build(now: number): Promise<Build> {
  const from = mocks.resources.length;
  const { outputs } = createStage(cfg, loadMonitoringFiles(stage), { now });
  await unwrap(outputs.grafanaUrl);
  await unwrap(outputs.grafanaAdminPassword);
  await settle();
  const out: Build = new Map();
  for (const r of mocks.resources.slice(from)) out.set(`${r.type}::${r.name}`, r);
  return out;
}
const workload = (b: Build, type: string, name: string) => {
  const r = [...b.values()].find(
    (x) => x.type === type && get(x.inputs, "metadata", "name") === name,
  );
  if (!r) throw new Error(`no ${type} ${name}`);
  return r;
};
const grafanaAnnotations = (b: Build) =>
  get(
    workload(b, "kubernetes:apps/v1:Deployment", "grafana").inputs,
    "spec",
    "template",
    "metadata",
    "annotations",
  ) as Obj;

const password = (b: Build) =>
  get(
    plain(workload(b, "kubernetes:core/v1:Secret", "prometheus-basic-auth").inputs),
    "stringData",
    "password",
  );

let first: Build;
let same: Build;
let next: Build;
beforeAll(async () => {
  first = await build(t);
  same = await build(t + DAY);
  next = await build(t + period);
});

describe("Prometheus basic-auth password rotation", () => {
  it("the password has a rotation keeper driven by golden-goose:secrets.rotationDays", () => {
    const pw = first.get(
      "random:index/randomPassword:RandomPassword::goose-production-prometheus-basic-auth",
    );
    expect(get(pw?.inputs, "keepers", "rotation")).toMatch(
      new RegExp(`^every-${cfg.secrets.rotationDays}d-period-\\d+$`),
    );
  });

  it("within one rotation period nothing changes", () => {
    expect([...same.keys()].sort()).toEqual([...first.keys()].sort());
    for (const [key, r] of first) {
      expect(plain(same.get(key)?.inputs), key).toEqual(plain(r.inputs));
    }
  });

  it("a new period replaces the password and rolls Grafana, its environment client", () => {
    expect(typeof password(first)).toBe("string");
    expect(password(next)).not.toBe(password(first));
    const before = grafanaAnnotations(first)[HASH];
    const after = grafanaAnnotations(next)[HASH];
    // A hash, never the password; not a Pulumi secret: a secret annotation makes Pulumi treat the
    // Deployment's whole spec as one secret (opaque in every diff and to the policy pack).
    expect(
      isSecretMarker(
        get(workload(first, "kubernetes:apps/v1:Deployment", "grafana").inputs, "spec"),
      ),
    ).toBe(false);
    expect(isSecretMarker(before)).toBe(false);
    expect(plain(before)).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.stringify(grafanaAnnotations(first))).not.toContain(String(password(first)));
    expect(plain(after)).not.toBe(plain(before));
    // Grafana still reads the password from the Secret the hash is of.
    const env = get(
      workload(next, "kubernetes:apps/v1:Deployment", "grafana").inputs,
      "spec",
      "template",
      "spec",
      "containers",
    ) as Obj[];
    expect(JSON.stringify(env[0]?.["env"])).toContain('"name":"prometheus-basic-auth"');
  });

  it("the Prometheus pod reads hash and password from one Secret volume, updated in place", () => {
    const sts = (b: Build) => workload(b, "kubernetes:apps/v1:StatefulSet", "prometheus");
    const web = (b: Build) =>
      plain(
        get(
          [...b.values()].find(
            (x) =>
              x.type === "kubernetes:core/v1:Secret" &&
              get(x.inputs, "metadata", "name") === "prometheus-web-config",
          )?.inputs,
          "stringData",
        ),
      ) as Obj;
    // The Secret's content rotates: the new password and a web.yml with a new hash.
    expect(web(next)["password"]).toBe(password(next));
    expect(web(next)["web.yml"]).not.toBe(web(first)["web.yml"]);
    expect(String(web(next)["web.yml"])).not.toContain(String(password(next)));
    // The pod template does not (no restart): the files change under the running pod.
    expect(plain(get(sts(next).inputs, "spec", "template"))).toEqual(
      plain(get(sts(first).inputs, "spec", "template")),
    );
    // Every reader of the password in the pod mounts that one volume, and the pod mounts no
    // other Secret with the password (two volumes could be updated at different syncs).
    const spec = get(sts(first).inputs, "spec", "template", "spec") as Obj;
    const volumes = spec["volumes"] as Obj[];
    // (The Pushgateway's password, a different one, is its own Secret: pushgateway-auth.)
    const secretVolumes = volumes.filter(
      (v) => v["secret"] && get(v, "secret", "secretName") !== "pushgateway-auth",
    );
    expect(secretVolumes.map((v) => v["name"])).toEqual(["web-config"]);
    const readers = { "/etc/prometheus/auth/password": 0, "/etc/prometheus/web/web.yml": 0 };
    for (const c of spec["containers"] as Obj[]) {
      const mounts = (c["volumeMounts"] ?? []) as Obj[];
      for (const file of Object.keys(readers) as (keyof typeof readers)[]) {
        if (!JSON.stringify(c).includes(file)) continue;
        readers[file]++;
        const dir = file.replace(/\/[^/]+$/, "");
        expect(
          mounts.some((m) => m["name"] === "web-config" && m["mountPath"] === dir),
          `${String(c["name"])} reads ${file}`,
        ).toBe(true);
      }
    }
    // The scrape of itself, the probes (prometheus) and the backup agent; web.yml by Prometheus.
    expect(readers["/etc/prometheus/auth/password"]).toBeGreaterThanOrEqual(2);
    expect(readers["/etc/prometheus/web/web.yml"]).toBe(1);
  });

  it("Alertmanager reads the same Secret as a volume: it rotates in place, its pod is not rolled", () => {
    const am = (b: Build) => workload(b, "kubernetes:apps/v1:Deployment", "alertmanager");
    const spec = get(am(first).inputs, "spec", "template", "spec") as Obj;
    expect(spec["volumes"] as Obj[]).toContainEqual({
      name: "web-config",
      secret: { secretName: "prometheus-web-config" },
    });
    const c = (spec["containers"] as Obj[])[0]!;
    expect(c["args"] as string[]).toContain("--web.config.file=/etc/alertmanager-web/web.yml");
    expect(JSON.stringify(c["livenessProbe"])).toContain("/etc/alertmanager-web/password");
    expect(plain(get(am(next).inputs, "spec", "template"))).toEqual(
      plain(get(am(first).inputs, "spec", "template")),
    );
  });
});

describe("Pushgateway basic-auth password rotation", () => {
  const secret = (b: Build, name: string) =>
    plain(workload(b, "kubernetes:core/v1:Secret", name).inputs) as Obj;
  const template = (b: Build, type: string, name: string) =>
    plain(get(workload(b, type, name).inputs, "spec", "template"));
  const cronTemplate = (b: Build, name: string) =>
    plain(get(workload(b, "kubernetes:batch/v1:CronJob", name).inputs, "spec", "jobTemplate"));

  it("a new period replaces the password and the web config's hash, and restarts none of its readers", () => {
    const pw = (b: Build) => get(secret(b, "pushgateway-auth"), "stringData", "password");
    expect(typeof pw(first)).toBe("string");
    expect(pw(same)).toBe(pw(first));
    expect(pw(next)).not.toBe(pw(first));
    const web = (b: Build) =>
      String(get(secret(b, "pushgateway-web-config"), "stringData", "web.yml"));
    expect(web(next)).not.toBe(web(first));
    expect(web(next)).not.toContain(String(pw(next)));
    // Every reader takes files from Secret volumes, re-read per request or push: no pod template
    // changes (the Pushgateway, Prometheus with its backup agent, Grafana's agent, the scan jobs).
    expect(template(next, "kubernetes:apps/v1:Deployment", "pushgateway")).toEqual(
      template(first, "kubernetes:apps/v1:Deployment", "pushgateway"),
    );
    expect(template(next, "kubernetes:apps/v1:StatefulSet", "prometheus")).toEqual(
      template(first, "kubernetes:apps/v1:StatefulSet", "prometheus"),
    );
    for (const name of ["scanner", "scanner-full"])
      expect(cronTemplate(next, name)).toEqual(cronTemplate(first, name));
  });
});
