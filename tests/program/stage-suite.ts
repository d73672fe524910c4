/**
 * The checks every stage's program must pass, run under pulumi.runtime.setMocks through the
 * real entry point (src/program/index.ts) with the stage's own stack file. One test file per
 * stage calls `describeStage`, because Pulumi's runtime state is per process.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import * as appsV1 from "kubernetes-models/apps/v1";
import * as batchV1 from "kubernetes-models/batch/v1";
import * as coreV1 from "kubernetes-models/v1";
import * as networkingV1 from "kubernetes-models/networking.k8s.io/v1";
import * as policyV1 from "kubernetes-models/policy/v1";
import * as rbacV1 from "kubernetes-models/rbac.authorization.k8s.io/v1";
import { parse as parseYaml } from "yaml";
import { selects } from "../../policy-pack/policies/platform.js";
import { prometheusPodHash } from "../../src/components/prometheus.js";
import { renderPrometheusConfig } from "../../src/components/prometheus-config.js";
import { proxyNginxConf } from "../../src/components/prometheus-proxy.js";
import { loadMonitoringFiles } from "../../src/monitoring/files.js";
import { loadStageConfigFile, type StageConfig, type StageName } from "../../src/config/index.js";
import {
  installMocks,
  setStackConfig,
  settle,
  unwrap,
  type Registered,
} from "../helpers/pulumi-mocks.js";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

type Obj = Record<string, unknown>;
const get = (o: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>(
    (cur, k) => (cur && typeof cur === "object" ? (cur as Obj)[k] : undefined),
    o,
  );

/** Containers (and init containers) of a workload's pod spec, whatever its kind. */
export function containersOf(r: Registered): Obj[] {
  const spec =
    r.type === "kubernetes:batch/v1:CronJob"
      ? get(r.inputs, "spec", "jobTemplate", "spec", "template", "spec")
      : get(r.inputs, "spec", "template", "spec");
  return [
    ...((get(spec, "initContainers") as Obj[]) ?? []),
    ...((get(spec, "containers") as Obj[]) ?? []),
  ];
}

/** The kubernetes-models class of each rendered Kubernetes type (validates against the API schema). */
const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  "kubernetes:apps/v1:Deployment": appsV1.Deployment,
  "kubernetes:apps/v1:StatefulSet": appsV1.StatefulSet,
  "kubernetes:batch/v1:CronJob": batchV1.CronJob,
  "kubernetes:core/v1:ConfigMap": coreV1.ConfigMap,
  "kubernetes:core/v1:Namespace": coreV1.Namespace,
  "kubernetes:core/v1:PersistentVolumeClaim": coreV1.PersistentVolumeClaim,
  "kubernetes:core/v1:Secret": coreV1.Secret,
  "kubernetes:core/v1:Service": coreV1.Service,
  "kubernetes:core/v1:ServiceAccount": coreV1.ServiceAccount,
  "kubernetes:networking.k8s.io/v1:NetworkPolicy": networkingV1.NetworkPolicy,
  "kubernetes:policy/v1:PodDisruptionBudget": policyV1.PodDisruptionBudget,
  "kubernetes:rbac.authorization.k8s.io/v1:Role": rbacV1.Role,
  "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": rbacV1.RoleBinding,
};

/** Inputs as the API server would get them: secret markers replaced by their values. */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") {
    const o = v as Obj;
    if (o[SECRET_SIG] !== undefined) return plain(o["value"]);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

const WORKLOADS = [
  "kubernetes:apps/v1:Deployment",
  "kubernetes:apps/v1:StatefulSet",
  "kubernetes:batch/v1:CronJob",
];

export function describeStage(stage: StageName): void {
  const mocks = installMocks(stage);
  setStackConfig(stage);
  const cfg: StageConfig = loadStageConfigFile(`Pulumi.${stage}.yaml`);
  let program: Obj;
  let resources: Registered[];
  const ofType = (t: string) => resources.filter((r) => r.type === t);
  const one = (t: string, name: string) => {
    const r = resources.find((x) => x.type === t && get(x.inputs, "metadata", "name") === name);
    if (!r) throw new Error(`no ${t} named ${name}`);
    return r;
  };

  beforeAll(async () => {
    program = (await import("../../src/program/index.js")) as Obj;
    await unwrap(program["grafanaUrl"] as pulumi.Output<string>);
    await settle();
    resources = mocks.resources;
  });

  describe(`stage ${stage}`, () => {
    it("renders the four components inside a Stage", () => {
      const types = resources.map((r) => r.type);
      for (const t of [
        "goldengoose:platform:Stage",
        "goldengoose:monitoring:Prometheus",
        "goldengoose:monitoring:Grafana",
        "goldengoose:backup:Backup",
        "goldengoose:security:Scanner",
      ]) {
        expect(types).toContain(t);
      }
      expect(program["stage"]).toBe(stage);
    });

    it("gives Prometheus the stage's retention, replicas, storage and scrape settings", () => {
      const sts = one("kubernetes:apps/v1:StatefulSet", "prometheus");
      expect(get(sts.inputs, "spec", "replicas")).toBe(cfg.prometheus.replicas);
      const args = get(containersOf(sts)[0], "args") as string[];
      expect(args).toContain(`--storage.tsdb.retention.time=${cfg.prometheus.retentionDays}d`);
      const claim = (get(sts.inputs, "spec", "volumeClaimTemplates") as Obj[])[0];
      expect(get(claim, "spec", "resources", "requests", "storage")).toBe(
        cfg.prometheus.storageSize,
      );
      expect(get(sts.inputs, "spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted")).toBe(
        cfg.prometheus.retainVolumes ? "Retain" : "Delete",
      );
      const promYml = get(
        one("kubernetes:core/v1:ConfigMap", "prometheus-config").inputs,
        "data",
        "prometheus.yml",
      ) as string;
      expect(promYml).toContain(`scrape_interval: ${cfg.prometheus.scrapeInterval}`);
      expect(promYml).toContain(`stage: ${stage}`);
      const spread = get(sts.inputs, "spec", "template", "spec", "affinity", "podAntiAffinity");
      const pdb = ofType("kubernetes:policy/v1:PodDisruptionBudget").filter(
        (r) => get(r.inputs, "metadata", "name") === "prometheus",
      );
      if (cfg.prometheus.replicas > 1) {
        expect(spread).toBeDefined();
        expect(pdb).toHaveLength(1);
      } else {
        expect(spread).toBeUndefined();
        expect(pdb).toHaveLength(0);
      }
    });

    it("runs Alertmanager as a gossip cluster that every Prometheus replica sends to, when the stage has more than one", () => {
      const am = one("kubernetes:apps/v1:Deployment", "alertmanager");
      const n = cfg.prometheus.alertmanagerReplicas;
      expect(get(am.inputs, "spec", "replicas")).toBe(n);
      const c = containersOf(am)[0]!;
      const args = get(c, "args") as string[];
      const alerting = (parseYaml(renderPrometheusConfig(cfg)) as { alerting: Obj }).alerting;
      const peers = ofType("kubernetes:core/v1:Service").filter(
        (r) => get(r.inputs, "metadata", "name") === "alertmanager-peers",
      );
      const pdb = ofType("kubernetes:policy/v1:PodDisruptionBudget").filter(
        (r) => get(r.inputs, "metadata", "name") === "alertmanager",
      );
      if (n > 1) {
        const host = `alertmanager-peers.${cfg.namespace}.svc`;
        expect(args).toContain(`--cluster.peer=${host}:9094`);
        expect(args).toContain("--cluster.listen-address=0.0.0.0:9094");
        expect(args).toContain("--cluster.advertise-address=$(POD_IP):9094");
        expect(get(c, "env")).toEqual([
          { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
        ]);
        const ports = (get(c, "ports") as Obj[]).map(
          (p) => `${p["containerPort"]}/${p["protocol"] ?? "TCP"}`,
        );
        expect(ports).toEqual(expect.arrayContaining(["9094/TCP", "9094/UDP"]));
        expect(peers).toHaveLength(1);
        expect(get(peers[0]!.inputs, "spec", "clusterIP")).toBe("None");
        expect(get(peers[0]!.inputs, "spec", "publishNotReadyAddresses")).toBe(true);
        expect(get(peers[0]!.inputs, "spec", "selector")).toEqual(
          get(am.inputs, "spec", "selector", "matchLabels"),
        );
        // Every replica, not the load-balanced Service: Alertmanager's HA needs each alert at each.
        // With Prometheus' credentials: Alertmanager asks for basic auth.
        expect(alerting).toEqual({
          alertmanagers: [
            {
              basic_auth: { username: "goose", password_file: "/etc/prometheus/auth/password" },
              dns_sd_configs: [{ names: [host], type: "A", port: 9093 }],
            },
          ],
        });
        expect(
          get(am.inputs, "spec", "template", "spec", "affinity", "podAntiAffinity"),
        ).toBeDefined();
        expect(pdb).toHaveLength(1);
      } else {
        expect(args).toContain("--cluster.listen-address=");
        expect(args.some((a) => a.startsWith("--cluster.peer="))).toBe(false);
        expect(peers).toHaveLength(0);
        expect(pdb).toHaveLength(0);
        expect(JSON.stringify(alerting)).toContain(`alertmanager.${cfg.namespace}.svc:9093`);
      }
    });

    it("keeps Grafana's anonymous access off and its admin password secret", async () => {
      const dep = one("kubernetes:apps/v1:Deployment", "grafana");
      const env = get(containersOf(dep)[0], "env") as Obj[];
      const anon = env.find((e) => e["name"] === "GF_AUTH_ANONYMOUS_ENABLED");
      expect(anon?.["value"]).toBe(String(cfg.grafana.anonymousAccess));
      const pw = env.find((e) => e["name"] === "GF_SECURITY_ADMIN_PASSWORD");
      expect(pw?.["value"]).toBeUndefined();
      expect(get(pw, "valueFrom", "secretKeyRef", "name")).toBe("grafana-admin");
      expect(await pulumi.isSecret(program["grafanaAdminPassword"] as pulumi.Output<string>)).toBe(
        true,
      );
      const secret = one("kubernetes:core/v1:Secret", "grafana-admin");
      expect(get(secret.inputs, "stringData", SECRET_SIG)).toBeDefined();
      const keepers = get(
        ofType("random:index/randomPassword:RandomPassword").find((r) =>
          r.name.endsWith("admin-password"),
        )?.inputs,
        "keepers",
        "rotation",
      );
      expect(keepers).toMatch(new RegExp(`^every-${cfg.secrets.rotationDays}d-period-\\d+$`));
    });

    it("puts Prometheus behind basic auth (bcrypt web config), Grafana on it as a viewer-by-default client", () => {
      const sts = one("kubernetes:apps/v1:StatefulSet", "prometheus");
      const prom = containersOf(sts).find((c) => c["name"] === "prometheus") as Obj;
      expect(get(prom, "args") as string[]).toContain(
        "--web.config.file=/etc/prometheus/web/web.yml",
      );
      // web.yml holds the hash (the mock's bcrypt-shaped value), never the password; the same
      // Secret holds the password file of the pod's own clients (one volume, updated at once).
      const web = one("kubernetes:core/v1:Secret", "prometheus-web-config");
      const data = plain(get(web.inputs, "stringData")) as Obj;
      expect(data["web.yml"]).toMatch(/basic_auth_users:\s+goose: \$2b\$10\$/);
      expect(data["web.yml"]).not.toContain("mock-generated-password");
      expect(data["password"]).toBe("mock-generated-password");
      // The probes and the backup agent read the password file; Grafana gets it from the Secret.
      expect(JSON.stringify(get(prom, "livenessProbe"))).toContain("/etc/prometheus/auth/password");
      const agent = containersOf(sts).find((c) => c["name"] === "backup-agent") as Obj;
      expect(get(agent, "env") as Obj[]).toContainEqual({
        name: "PROMETHEUS_AUTH_FILE",
        value: "/etc/prometheus/auth/password",
      });
      const graf = containersOf(one("kubernetes:apps/v1:Deployment", "grafana"))[0];
      const env = get(graf, "env") as Obj[];
      expect(env).toContainEqual({ name: "GF_USERS_AUTO_ASSIGN_ORG_ROLE", value: "Viewer" });
      expect(
        get(
          env.find((e) => e["name"] === "GOOSE_PROMETHEUS_PASSWORD"),
          "valueFrom",
          "secretKeyRef",
          "name",
        ),
      ).toBe("prometheus-basic-auth");
    });

    it("puts Alertmanager behind the same basic auth; Prometheus alerts and scrapes it with the password", () => {
      const am = one("kubernetes:apps/v1:Deployment", "alertmanager");
      const c = containersOf(am)[0] as Obj;
      expect(get(c, "args") as string[]).toContain(
        "--web.config.file=/etc/alertmanager-web/web.yml",
      );
      // The web config Secret's volume (updated in place on rotation), and probes that log in.
      const vols = get(am.inputs, "spec", "template", "spec", "volumes") as Obj[];
      expect(vols).toContainEqual({
        name: "web-config",
        secret: { secretName: "prometheus-web-config" },
      });
      expect(get(c, "volumeMounts") as Obj[]).toContainEqual({
        name: "web-config",
        mountPath: "/etc/alertmanager-web",
        readOnly: true,
      });
      for (const probe of ["livenessProbe", "readinessProbe"]) {
        expect(get(c, probe, "httpGet"), probe).toBeUndefined();
        expect(JSON.stringify(get(c, probe, "exec"))).toContain("/etc/alertmanager-web/password");
      }
      const doc = parseYaml(renderPrometheusConfig(cfg)) as {
        alerting: { alertmanagers: Obj[] };
        scrape_configs: Obj[];
      };
      const auth = { username: "goose", password_file: "/etc/prometheus/auth/password" };
      for (const a of doc.alerting.alertmanagers) expect(a["basic_auth"]).toEqual(auth);
      const amJobs = doc.scrape_configs.filter((j) =>
        String(j["job_name"]).startsWith("alertmanager-"),
      );
      expect(amJobs.length).toBeGreaterThan(0);
      for (const j of amJobs) expect(j["basic_auth"]).toEqual(auth);
    });

    it("backs up to the stage's target", () => {
      const buckets = ofType("aws:s3/bucket:Bucket");
      // The agents are sidecars of Prometheus and Grafana: no backup CronJob, no kubectl exec.
      expect(
        ofType("kubernetes:batch/v1:CronJob").map((c) => get(c.inputs, "metadata", "name")),
      ).toEqual(["scanner", "scanner-full"]);
      const sts = one("kubernetes:apps/v1:StatefulSet", "prometheus");
      const graf = one("kubernetes:apps/v1:Deployment", "grafana");
      const agents = [sts, graf].map(
        (w) => containersOf(w).find((c) => c["name"] === "backup-agent") as Obj,
      );
      for (const a of agents) expect(a?.["image"]).toBe(cfg.backup.image);
      expect(
        ofType("kubernetes:rbac.authorization.k8s.io/v1:Role").flatMap((r) =>
          (get(r.inputs, "rules") as Obj[]).flatMap((x) => x["resources"] as string[]),
        ),
      ).not.toContain("pods/exec");
      if (cfg.backup.target === "s3") {
        expect(buckets).toHaveLength(1);
        expect(get(buckets[0]?.inputs, "forceDestroy")).toBe(false);
        expect(get(ofType("aws:kms/key:Key")[0]?.inputs, "enableKeyRotation")).toBe(true);
        const lc = ofType("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")[0];
        expect(get((get(lc?.inputs, "rules") as Obj[])[0], "expiration", "days")).toBe(
          cfg.backup.retentionDays,
        );
        const pab =
          ofType("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")[0]?.inputs ?? {};
        for (const f of [
          "blockPublicAcls",
          "blockPublicPolicy",
          "ignorePublicAcls",
          "restrictPublicBuckets",
        ]) {
          expect(pab[f]).toBe(true);
        }
        const lock = ofType("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration");
        expect(lock).toHaveLength(cfg.backup.objectLockDays > 0 ? 1 : 0);
        // The role is the stack's own (IRSA from the cluster's OIDC provider), on both SAs.
        const role = ofType("aws:iam/role:Role").find(
          (r) => r.inputs["name"] === `goose-${cfg.stage}-backup`,
        );
        expect(role).toBeDefined();
        for (const name of ["prometheus", "grafana"]) {
          const sa = one("kubernetes:core/v1:ServiceAccount", name);
          expect(get(sa.inputs, "metadata", "annotations", "eks.amazonaws.com/role-arn")).toBe(
            `arn:aws:mock:::${role?.name}`,
          );
        }
        const env = agents.flatMap((c) => (get(c, "env") as Obj[]) ?? []);
        expect(env.map((e) => e["name"])).not.toContain("AWS_SECRET_ACCESS_KEY");
      } else {
        expect(buckets).toHaveLength(0);
        one("kubernetes:core/v1:PersistentVolumeClaim", "backup-prometheus");
        one("kubernetes:core/v1:PersistentVolumeClaim", "backup-grafana");
      }
    });

    it("runs the scanner with the stage's severity threshold over every deployed image", () => {
      const cron = one("kubernetes:batch/v1:CronJob", "scanner");
      expect(get(cron.inputs, "spec", "schedule")).toBe(cfg.scanner.schedule);
      // prepare → trivy (init containers, in order) → publish.
      expect(containersOf(cron).map((x) => x["name"])).toEqual(["prepare", "trivy", "publish"]);
      const trivy = (k: Parameters<typeof containersOf>[0]) =>
        containersOf(k).find((x) => x["name"] === "trivy") as Obj;
      const c = trivy(cron);
      expect(c["image"]).toBe(cfg.scanner.image);
      const script = (get(c, "command") as string[])[2] ?? "";
      expect(script).toContain(`SEV="${cfg.scanner.severityThreshold}`);
      const env = (k: Parameters<typeof containersOf>[0], n: string) =>
        ((get(trivy(k), "env") as Obj[]).find((e) => e["name"] === n)?.["value"] ?? "") as string;
      expect(env(cron, "MODE")).toBe("incremental");
      expect(env(cron, "PARALLELISM")).toBe(String(cfg.scanner.parallelism));
      // The off-peak full scan: its own CronJob, same script, MODE full.
      const full = one("kubernetes:batch/v1:CronJob", "scanner-full");
      expect(get(full.inputs, "spec", "schedule")).toBe(cfg.scanner.fullScanSchedule);
      expect(env(full, "MODE")).toBe("full");
      const images = (
        (get(c, "env") as Obj[]).find((e) => e["name"] === "IMAGES")?.["value"] as string
      ).split(" ");
      const deployed = ofType("kubernetes:apps/v1:Deployment")
        .concat(ofType("kubernetes:apps/v1:StatefulSet"))
        .flatMap(containersOf)
        .map((x) => x["image"]);
      for (const img of deployed) expect(images).toContain(img);
      // prepare and publish run in the backup image (scanned as the stage's `backup`) and read
      // the Pushgateway's password from the mounted file; Trivy gets no credential of goose's.
      for (const name of ["prepare", "publish"]) {
        const x = containersOf(cron).find((y) => y["name"] === name) as Obj;
        expect(x["image"]).toBe(cfg.backup.image);
        expect(images).toContain(x["image"]);
        expect(get(x, "env") as Obj[]).toContainEqual({
          name: "PUSHGATEWAY_AUTH_FILE",
          value: "/etc/goose/pushgateway/password",
        });
      }
      expect(JSON.stringify(get(c, "env"))).not.toContain("PUSHGATEWAY");
      const publish = containersOf(cron).find((y) => y["name"] === "publish") as Obj;
      const publishEnv = (get(publish, "env") as Obj[]).map((e) => e["name"]);
      const sa = one("kubernetes:core/v1:ServiceAccount", "scanner");
      if (cfg.backup.target === "s3") {
        // Uploads to the backup bucket with its own role, allowed to put under scans/<stage>/ only.
        expect(publishEnv).toEqual(expect.arrayContaining(["BUCKET", "KMS_KEY_ARN"]));
        const role = ofType("aws:iam/role:Role").find(
          (r) => r.inputs["name"] === `goose-${cfg.stage}-scanner`,
        );
        expect(role).toBeDefined();
        expect(get(sa.inputs, "metadata", "annotations", "eks.amazonaws.com/role-arn")).toBe(
          `arn:aws:mock:::${role?.name}`,
        );
        const policy = ofType("aws:iam/rolePolicy:RolePolicy").find((p) =>
          String(p.name).endsWith("-scanner-writer"),
        );
        const doc = JSON.parse(String(policy?.inputs["policy"])) as {
          Statement: Array<{ Action: string[]; Resource: string }>;
        };
        expect(doc.Statement[0]?.Action).toEqual(["s3:PutObject", "s3:AbortMultipartUpload"]);
        expect(doc.Statement[0]?.Resource).toMatch(new RegExp(`/scans/${cfg.stage}/\\*$`));
        const trust = JSON.parse(String(role?.inputs["assumeRolePolicy"])) as unknown;
        expect(JSON.stringify(trust)).toContain(`system:serviceaccount:${cfg.namespace}:scanner`);
        expect(JSON.stringify(trust)).not.toContain(":prometheus");
      } else {
        expect(publishEnv).not.toContain("BUCKET");
        expect(get(sa.inputs, "metadata", "annotations")).toBeUndefined();
      }
    });

    it("puts the Pushgateway behind basic auth; Prometheus and the backup agents use the password file", () => {
      const pgw = one("kubernetes:apps/v1:Deployment", "pushgateway");
      const c = containersOf(pgw)[0] as Obj;
      expect(get(c, "args") as string[]).toEqual([
        "--web.config.file=/etc/pushgateway/web/web.yml",
      ]);
      expect(JSON.stringify(get(c, "livenessProbe"))).toContain("/etc/goose/pushgateway/password");
      const web = one("kubernetes:core/v1:Secret", "pushgateway-web-config");
      const webYml = JSON.stringify(get(web.inputs, "stringData"));
      expect(webYml).toMatch(/basic_auth_users:.*goose: .*\$2b\$10\$/);
      expect(webYml).not.toContain("mock-generated-password");
      // A rotation keeper like Grafana's admin password.
      const pw = ofType("random:index/randomPassword:RandomPassword").find((r) =>
        String(r.name).endsWith("-pushgateway-auth-password"),
      );
      expect(String(get(pw?.inputs, "keepers", "rotation"))).toMatch(
        new RegExp(`^every-${cfg.secrets.rotationDays}d-period-\\d+$`),
      );
      const sts = one("kubernetes:apps/v1:StatefulSet", "prometheus");
      for (const name of ["prometheus", "backup-agent"]) {
        const x = containersOf(sts).find((y) => y["name"] === name) as Obj;
        expect(
          (get(x, "volumeMounts") as Obj[]).map((m) => m["mountPath"]),
          name,
        ).toContain("/etc/goose/pushgateway");
      }
      const volumes = get(sts.inputs, "spec", "template", "spec", "volumes") as Obj[];
      expect(volumes.filter((v) => v["name"] === "pushgateway-auth")).toHaveLength(1);
      const graf = one("kubernetes:apps/v1:Deployment", "grafana");
      const agent = containersOf(graf).find((y) => y["name"] === "backup-agent") as Obj;
      expect(get(agent, "env") as Obj[]).toContainEqual({
        name: "PUSHGATEWAY_AUTH_FILE",
        value: "/etc/goose/pushgateway/password",
      });
    });

    it("has no container without requests and limits, an unpinned image or a weak security context", () => {
      const workloads = resources.filter((r) => WORKLOADS.includes(r.type));
      expect(workloads.length).toBeGreaterThanOrEqual(5);
      for (const w of workloads) {
        for (const c of containersOf(w)) {
          const where = `${w.name}/${String(c["name"])}`;
          for (const k of ["cpu", "memory"]) {
            expect(get(c, "resources", "requests", k), where).toBeTruthy();
            expect(get(c, "resources", "limits", k), where).toBeTruthy();
          }
          expect(String(c["image"]), where).toMatch(/:[\w][\w.-]*(@sha256:[a-f0-9]{64})?$/);
          expect(String(c["image"]), where).not.toMatch(/:latest\b/);
          expect(get(c, "securityContext", "runAsNonRoot"), where).toBe(true);
          expect(get(c, "securityContext", "allowPrivilegeEscalation"), where).toBe(false);
          expect(get(c, "securityContext", "capabilities", "drop"), where).toEqual(["ALL"]);
          const init = (
            (get(w.inputs, "spec", "template", "spec", "initContainers") as Obj[] | undefined) ?? []
          ).includes(c);
          if (w.type !== "kubernetes:batch/v1:CronJob" && !init) {
            expect(c["livenessProbe"], where).toBeDefined();
            expect(c["readinessProbe"], where).toBeDefined();
          }
        }
      }
    });

    it("every rendered Kubernetes object validates against the Kubernetes API schema", () => {
      const k8s = resources.filter((r) => r.type.startsWith("kubernetes:"));
      expect(k8s.length).toBeGreaterThan(20);
      // The check can fail: a wrong type in a rendered object is refused.
      const broken = plain(one("kubernetes:apps/v1:Deployment", "grafana").inputs) as Obj;
      (broken["spec"] as Obj)["replicas"] = "two";
      expect(() => new appsV1.Deployment(broken as never).validate()).toThrow();
      for (const r of k8s) {
        const Model = MODELS[r.type];
        expect(Model, `no schema model for ${r.type}`).toBeDefined();
        const obj = new Model!(plain(r.inputs) as never);
        expect(() => obj.validate(), `${r.type} ${r.name}`).not.toThrow();
      }
    });

    it("every ConfigMap and Secret key a pod references exists", () => {
      const byName = (t: string) =>
        new Map(
          ofType(t).map((r) => [
            get(r.inputs, "metadata", "name") as string,
            Object.keys({
              ...((get(plain(r.inputs), "data") as Obj) ?? {}),
              ...((get(plain(r.inputs), "stringData") as Obj) ?? {}),
            }),
          ]),
        );
      const cms = byName("kubernetes:core/v1:ConfigMap");
      const secrets = byName("kubernetes:core/v1:Secret");
      for (const w of resources.filter((r) => WORKLOADS.includes(r.type))) {
        const spec =
          w.type === "kubernetes:batch/v1:CronJob"
            ? get(w.inputs, "spec", "jobTemplate", "spec", "template", "spec")
            : get(w.inputs, "spec", "template", "spec");
        const volumes = [
          ...((get(spec, "volumes") as Obj[]) ?? []),
          // A StatefulSet's claims are volumes of its pods too.
          ...(((get(w.inputs, "spec", "volumeClaimTemplates") as Obj[]) ?? []).map((t) => ({
            name: get(t, "metadata", "name"),
          })) as Obj[]),
        ];
        for (const c of containersOf(w)) {
          for (const e of (get(c, "env") as Obj[]) ?? []) {
            const ref = get(e, "valueFrom", "secretKeyRef") as Obj | undefined;
            if (ref)
              expect(
                secrets.get(ref["name"] as string),
                `${w.name} env ${String(e["name"])}`,
              ).toContain(ref["key"]);
          }
          for (const m of (get(c, "volumeMounts") as Obj[]) ?? []) {
            const v = volumes.find((x) => x["name"] === m["name"]);
            expect(v, `${w.name}: mount ${String(m["name"])} has a volume`).toBeDefined();
            const cm = get(v, "configMap", "name") as string | undefined;
            if (cm) {
              expect(cms.has(cm), `${w.name}: ConfigMap ${cm}`).toBe(true);
              if (m["subPath"]) expect(cms.get(cm)).toContain(m["subPath"]);
            }
            const sec = get(v, "secret", "secretName") as string | undefined;
            // The receivers Secret comes from outside the stack when alerting.receivers is external.
            if (sec && !(sec === "alertmanager-receivers" && !secrets.has(sec))) {
              expect(secrets.has(sec), `${w.name}: Secret ${sec}`).toBe(true);
            }
          }
        }
      }
    });

    it("a changed rule file changes the Prometheus pod template (config hash)", () => {
      const sts = one("kubernetes:apps/v1:StatefulSet", "prometheus");
      const rules = loadMonitoringFiles(stage).rules;
      const hash = prometheusPodHash(renderPrometheusConfig(cfg), rules, proxyNginxConf());
      expect(
        get(
          sts.inputs,
          "spec",
          "template",
          "metadata",
          "annotations",
          "goldengoose.io/config-hash",
        ),
      ).toBe(hash);
      const [first] = Object.keys(rules);
      const changed = { ...rules, [first!]: `${rules[first!]}\n# a new alert` };
      expect(prometheusPodHash(renderPrometheusConfig(cfg), changed, proxyNginxConf())).not.toBe(
        hash,
      );
      const am = one("kubernetes:apps/v1:Deployment", "alertmanager");
      expect(
        get(am.inputs, "spec", "template", "metadata", "annotations", "goldengoose.io/config-hash"),
      ).toMatch(/^[0-9a-f]{16}$/);
    });

    it("NetworkPolicies allow exactly the platform's flows", () => {
      const pods = resources
        .filter((r) => WORKLOADS.includes(r.type))
        .map((w) => ({
          name: get(w.inputs, "metadata", "name") as string,
          labels: (get(
            w.inputs,
            ...(w.type === "kubernetes:batch/v1:CronJob"
              ? ["spec", "jobTemplate", "spec", "template", "metadata", "labels"]
              : ["spec", "template", "metadata", "labels"]),
          ) ?? {}) as Record<string, string>,
        }));
      const nps = ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy").map(
        (r) => get(r.inputs, "spec") as Obj,
      );
      const podOf = (name: string) => pods.find((p) => p.name === name)!;
      const peerHas = (peers: Obj[] | undefined, l: Record<string, string>) =>
        (peers ?? []).some(
          (p) =>
            p["podSelector"] !== undefined &&
            p["namespaceSelector"] === undefined &&
            selects(p["podSelector"], l),
        );
      const portHas = (ports: Obj[] | undefined, port: number) =>
        ports === undefined || ports.some((p) => p["port"] === port);
      // Kubernetes semantics: a flow is allowed when egress of the source and ingress of the
      // destination both allow it (each direction only restricted where a policy selects the pod).
      const allowed = (from: string, to: string, port: number) => {
        const f = podOf(from).labels;
        const t = podOf(to).labels;
        const eg = nps.filter(
          (n) => selects(n["podSelector"], f) && (n["policyTypes"] as string[]).includes("Egress"),
        );
        const ing = nps.filter(
          (n) => selects(n["podSelector"], t) && (n["policyTypes"] as string[]).includes("Ingress"),
        );
        const out = eg.some((n) =>
          ((n["egress"] as Obj[]) ?? []).some(
            (r) => peerHas(r["to"] as Obj[], t) && portHas(r["ports"] as Obj[], port),
          ),
        );
        const inn = ing.some((n) =>
          ((n["ingress"] as Obj[]) ?? []).some(
            (r) => peerHas(r["from"] as Obj[], f) && portHas(r["ports"] as Obj[], port),
          ),
        );
        return out && inn;
      };
      const names = pods.map((p) => p.name);
      const ports: Record<string, number> = {
        prometheus: 8080,
        alertmanager: 9093,
        pushgateway: 9091,
        grafana: 3000,
      };
      const expected = new Set([
        "grafana>prometheus",
        "prometheus>alertmanager",
        "prometheus>grafana",
        "prometheus>pushgateway",
        "grafana>pushgateway",
        "scanner>pushgateway",
        "scanner-full>pushgateway",
      ]);
      // Every scrape target of prometheus.yml (in the namespace) is among them.
      const doc = parseYaml(renderPrometheusConfig(cfg)) as {
        scrape_configs: { static_configs: { targets: string[] }[] }[];
      };
      for (const sc of doc.scrape_configs) {
        for (const t of sc.static_configs.flatMap((x) => x.targets)) {
          const svc = t.split(".")[0]!;
          if (svc in ports && t !== "localhost:9090")
            expect(expected.has(`prometheus>${svc}`), t).toBe(true);
        }
      }
      // Alertmanager replicas gossip with each other only when clustered.
      expect(allowed("alertmanager", "alertmanager", 9094)).toBe(
        cfg.prometheus.alertmanagerReplicas > 1,
      );
      for (const from of names) {
        for (const to of names) {
          if (from === to || !(to in ports)) continue;
          const flow = `${from}>${to}`;
          expect(allowed(from, to, ports[to]!), flow).toBe(expected.has(flow));
        }
      }
    });

    it("labels every Kubernetes object with the stage's common labels", () => {
      const k8sObjects = resources.filter((r) => r.type.startsWith("kubernetes:"));
      for (const r of k8sObjects) {
        const labels = get(r.inputs, "metadata", "labels") as Obj;
        expect(labels["goldengoose.io/stage"], r.name).toBe(stage);
        expect(labels["goldengoose.io/owner"], r.name).toBe(cfg.labels.owner);
        expect(labels["goldengoose.io/cost-centre"], r.name).toBe(cfg.labels.costCentre);
        expect(labels["goldengoose.io/compliance-tier"], r.name).toBe(cfg.labels.complianceTier);
        if (r.type !== "kubernetes:core/v1:Namespace") {
          expect(get(r.inputs, "metadata", "namespace"), r.name).toBe(cfg.namespace);
        }
      }
    });

    it("exports the stack outputs", async () => {
      expect(await unwrap(program["prometheusUrl"] as pulumi.Output<string>)).toBe(
        `http://prometheus.${cfg.namespace}.svc:9090`,
      );
      expect(await unwrap(program["grafanaUrl"] as pulumi.Output<string>)).toBe(
        `http://grafana.${cfg.namespace}.svc:3000`,
      );
      const bucket = await unwrap(program["backupBucket"] as pulumi.Output<string | undefined>);
      expect(bucket === undefined).toBe(cfg.backup.target === "volume");
    });
  });
}
