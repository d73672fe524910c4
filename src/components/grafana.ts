import * as pulumi from "@pulumi/pulumi";
import { k8s } from "./k8s.js";
import * as random from "@pulumi/random";
import { stringify } from "yaml";
import type { StageConfig } from "../config/schema.js";
import {
  containerResources,
  containerSecurity,
  contentHash,
  httpProbes,
  meta,
  podSecurity,
  selectorLabels,
  spreadAcrossNodes,
} from "./common.js";
import { SERVICES, serviceUrl } from "./names.js";
import type { BackupAgentSpec } from "./backup.js";
import { rotationKeeper } from "./rotation.js";
import {
  GRAFANA_DEFAULT_ROLE,
  GRAFANA_PASSWORD_ENV,
  METRICS_USER,
  PASSWORD_KEY,
} from "./metrics-auth.js";

export interface GrafanaArgs {
  /** The validated stage configuration. */
  config: StageConfig;
  /** Namespace the objects go into. */
  namespace: pulumi.Input<string>;
  /** Labels every object carries. */
  labels: Record<string, string>;
  /** Dashboards (file name → JSON) from monitoring/grafana/dashboards, provisioned read-only. */
  dashboards: Record<string, string>;
  /** URL of the Prometheus Service the datasource points at. */
  prometheusUrl: pulumi.Input<string>;
  /** Current time in ms (default Date.now()); the rotation keeper is derived from it. */
  now?: number;
  /** The backup agent sidecar (from the Backup component). */
  backupAgent?: BackupAgentSpec;
  /** The Secret with Prometheus' basic-auth password (key `password`), for the datasource. */
  prometheusAuthSecret?: pulumi.Input<string>;
  /**
   * A hash of that Secret's content (Prometheus' `basicAuthHash`): Grafana reads
   * the password from the environment, which a pod sees only when it starts, so a rotated
   * password must roll the pod; the hash on the pod template does.
   */
  prometheusAuthHash?: pulumi.Input<string>;
}

/** Where Grafana's image keeps its home (the CLI needs it). */
const GRAFANA_HOME = "/usr/share/grafana";

/**
 * The init container's script that makes the admin password the Secret's, on every pod start.
 * Grafana reads GF_SECURITY_ADMIN_PASSWORD only when it creates its database, so a rotated
 * Secret alone would leave the old password in force; the CLI resets it in the database. A
 * rotation changes the pod template (the rotation annotation), so the pod restarts and this runs.
 * The password goes through stdin, never argv. On the very first start there is no database yet:
 * Grafana then creates the admin with the Secret's password itself. Exported for testing.
 */
export function adminPasswordResetScript(): string {
  return `set -eu
if [ ! -s /var/lib/grafana/grafana.db ]; then
  echo "no database yet: Grafana creates the admin user from the Secret on its first start"
  exit 0
fi
printf '%s\n' "$GF_SECURITY_ADMIN_PASSWORD" |
  grafana cli --homepath ${GRAFANA_HOME} admin reset-admin-password --password-from-stdin >/dev/null
echo "admin password set from the Secret"
`;
}

const GRAFANA_UID = 472;

/** The rotation keeper of the admin password (src/components/rotation.ts). */
export { rotationKeeper };

/** The datasource provisioning file: Prometheus of the stage, uid `prometheus`. */
export function datasourcesYaml(prometheusUrl: string): string {
  return stringify({
    apiVersion: 1,
    datasources: [
      {
        name: "Prometheus",
        uid: "prometheus",
        type: "prometheus",
        access: "proxy",
        url: prometheusUrl,
        isDefault: true,
        editable: false,
        // Prometheus asks for basic auth; Grafana expands the variable from the Secret.
        basicAuth: true,
        basicAuthUser: METRICS_USER,
        secureJsonData: { basicAuthPassword: `$${GRAFANA_PASSWORD_ENV}` },
      },
    ],
  });
}

/** The dashboard provider: files from the dashboards ConfigMap, not editable in the UI. */
export function dashboardProvidersYaml(): string {
  return stringify({
    apiVersion: 1,
    providers: [
      {
        name: "golden-goose",
        folder: "Golden Goose",
        type: "file",
        disableDeletion: true,
        allowUiUpdates: false,
        options: { path: "/var/lib/grafana/dashboards", foldersFromFilesStructure: false },
      },
    ],
  });
}

/**
 * Grafana with a generated admin password, a provisioned datasource and dashboards. One replica,
 * one writer: its SQLite database lives on a volume claim (Recreate strategy), so logins, users
 * and preferences survive restarts and the backup agent copies the one real database.
 */
export class Grafana extends pulumi.ComponentResource {
  public readonly url: pulumi.Output<string>;
  /** The generated admin password (a Pulumi secret). */
  public readonly adminPassword: pulumi.Output<string>;
  /** Name of the Kubernetes Secret holding the admin credentials. */
  public readonly adminSecretName: pulumi.Output<string>;

  constructor(name: string, args: GrafanaArgs, opts?: pulumi.ComponentResourceOptions) {
    super("goldengoose:monitoring:Grafana", name, {}, opts);
    const cfg = args.config;
    const g = cfg.grafana;
    const ns = args.namespace;
    const child = { parent: this };
    const sel = selectorLabels("grafana", "grafana");
    const labels = { ...args.labels, ...sel };

    const password = new random.RandomPassword(
      `${name}-admin-password`,
      {
        length: 32,
        special: true,
        overrideSpecial: "-_.+",
        minLower: 2,
        minUpper: 2,
        minNumeric: 2,
        keepers: { rotation: rotationKeeper(args.now ?? Date.now(), cfg.secrets.rotationDays) },
      },
      child,
    );
    // Secret by construction, whatever the engine does with additionalSecretOutputs.
    this.adminPassword = pulumi.secret(password.result);
    const secret = new k8s.core.v1.Secret(
      `${name}-admin`,
      {
        metadata: meta("grafana-admin", ns, labels),
        type: "Opaque",
        stringData: { "admin-user": g.adminUser, "admin-password": this.adminPassword },
      },
      child,
    );

    const provisioning = new k8s.core.v1.ConfigMap(
      `${name}-provisioning`,
      {
        metadata: meta("grafana-provisioning", ns, labels),
        data: {
          "datasources.yaml": pulumi.output(args.prometheusUrl).apply(datasourcesYaml),
          "dashboards.yaml": dashboardProvidersYaml(),
        },
      },
      child,
    );
    const dashboards = new k8s.core.v1.ConfigMap(
      `${name}-dashboards`,
      {
        metadata: meta("grafana-dashboards", ns, {
          ...args.labels,
          ...selectorLabels("grafana", "grafana-dashboards"),
        }),
        data: { ...args.dashboards },
      },
      child,
    );

    const sa = new k8s.core.v1.ServiceAccount(
      `${name}-sa`,
      {
        metadata: meta("grafana", ns, labels, {
          annotations: args.backupAgent?.serviceAccountAnnotations ?? {},
        }),
        automountServiceAccountToken: false,
      },
      child,
    );
    const env = [
      {
        name: "GF_SECURITY_ADMIN_USER",
        valueFrom: { secretKeyRef: { name: secret.metadata.name, key: "admin-user" } },
      },
      {
        name: "GF_SECURITY_ADMIN_PASSWORD",
        valueFrom: { secretKeyRef: { name: secret.metadata.name, key: "admin-password" } },
      },
      { name: "GF_AUTH_ANONYMOUS_ENABLED", value: String(g.anonymousAccess) },
      // Viewer by default: users Grafana creates, and anonymous ones should a stage allow them.
      { name: "GF_USERS_AUTO_ASSIGN_ORG_ROLE", value: GRAFANA_DEFAULT_ROLE },
      { name: "GF_AUTH_ANONYMOUS_ORG_ROLE", value: GRAFANA_DEFAULT_ROLE },
      ...(args.prometheusAuthSecret
        ? [
            {
              name: GRAFANA_PASSWORD_ENV,
              valueFrom: { secretKeyRef: { name: args.prometheusAuthSecret, key: PASSWORD_KEY } },
            },
          ]
        : []),
      { name: "GF_USERS_ALLOW_SIGN_UP", value: String(g.allowSignUp) },
      { name: "GF_AUTH_DISABLE_LOGIN_FORM", value: String(g.disableLoginForm) },
      { name: "GF_ANALYTICS_REPORTING_ENABLED", value: "false" },
      { name: "GF_PATHS_PROVISIONING", value: "/etc/grafana/provisioning" },
    ];
    // One writer: the database on a claim (the schema allows only replicas: 1).
    const claim = new k8s.core.v1.PersistentVolumeClaim(
      `${name}-data`,
      {
        metadata: meta("grafana-data", ns, labels),
        spec: {
          accessModes: ["ReadWriteOnce"],
          storageClassName: cfg.storageClass,
          resources: { requests: { storage: "5Gi" } },
        },
      },
      child,
    );
    const datasources = pulumi.output(args.prometheusUrl).apply(datasourcesYaml);
    new k8s.apps.v1.Deployment(
      `${name}-server`,
      {
        metadata: meta("grafana", ns, labels),
        spec: {
          replicas: g.replicas,
          strategy: { type: "Recreate" },
          selector: { matchLabels: sel },
          template: {
            metadata: {
              labels,
              annotations: {
                "goldengoose.io/dashboards-hash": contentHash(
                  JSON.stringify(Object.entries(args.dashboards).sort()),
                ),
                // The provisioning files (datasource URL, dashboard provider) roll the pod too.
                "goldengoose.io/provisioning-hash": datasources.apply((d) =>
                  contentHash(d + dashboardProvidersYaml()),
                ),
                // A new rotation period means a new password: restart so the init container sets it.
                "goldengoose.io/admin-password-rotation": rotationKeeper(
                  args.now ?? Date.now(),
                  cfg.secrets.rotationDays,
                ),
                // Prometheus' password comes in through the environment (read at pod start only):
                // a rotated password changes this hash, so the pod restarts with the new one.
                ...(args.prometheusAuthHash
                  ? { "goldengoose.io/prometheus-auth-hash": args.prometheusAuthHash }
                  : {}),
              },
            },
            spec: {
              serviceAccountName: sa.metadata.name,
              securityContext: podSecurity(GRAFANA_UID),
              automountServiceAccountToken: false,
              affinity: spreadAcrossNodes(sel, g.replicas),
              initContainers: [
                {
                  name: "admin-password",
                  image: g.image,
                  command: ["/bin/sh", "-c", adminPasswordResetScript()],
                  env,
                  resources: containerResources(g.resources),
                  securityContext: containerSecurity(),
                  volumeMounts: [
                    { name: "data", mountPath: "/var/lib/grafana" },
                    { name: "tmp", mountPath: "/tmp" },
                  ],
                },
              ],
              containers: [
                {
                  name: "grafana",
                  image: g.image,
                  env,
                  ports: [{ name: "http", containerPort: 3000 }],
                  resources: containerResources(g.resources),
                  securityContext: containerSecurity(),
                  ...httpProbes(3000, "/api/health"),
                  volumeMounts: [
                    { name: "data", mountPath: "/var/lib/grafana" },
                    { name: "tmp", mountPath: "/tmp" },
                    {
                      name: "provisioning",
                      mountPath: "/etc/grafana/provisioning/datasources/datasources.yaml",
                      subPath: "datasources.yaml",
                    },
                    {
                      name: "provisioning",
                      mountPath: "/etc/grafana/provisioning/dashboards/dashboards.yaml",
                      subPath: "dashboards.yaml",
                    },
                    { name: "dashboards", mountPath: "/var/lib/grafana/dashboards" },
                  ],
                },
                ...(args.backupAgent ? [args.backupAgent.container] : []),
              ],
              volumes: [
                { name: "data", persistentVolumeClaim: { claimName: claim.metadata.name } },
                ...(args.backupAgent?.volumes ?? []),
                { name: "tmp", emptyDir: {} },
                { name: "provisioning", configMap: { name: provisioning.metadata.name } },
                { name: "dashboards", configMap: { name: dashboards.metadata.name } },
              ],
            },
          },
        },
      },
      child,
    );
    new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: meta(SERVICES.grafana.name, ns, labels),
        spec: {
          selector: sel,
          ports: [{ name: "http", port: SERVICES.grafana.port, targetPort: 3000 }],
        },
      },
      child,
    );
    if (g.replicas > 1) {
      new k8s.policy.v1.PodDisruptionBudget(
        `${name}-pdb`,
        {
          metadata: meta("grafana", ns, labels),
          spec: { minAvailable: 1, selector: { matchLabels: sel } },
        },
        child,
      );
    }

    this.url = pulumi.output(serviceUrl(cfg, "grafana"));
    this.adminSecretName = secret.metadata.name;
    this.registerOutputs({
      url: this.url,
      adminPassword: this.adminPassword,
      adminSecretName: this.adminSecretName,
    });
  }
}
