import * as pulumi from "@pulumi/pulumi";
import type * as K8s from "@pulumi/kubernetes";
import { k8s } from "./k8s.js";
import * as random from "@pulumi/random";
import type { StageConfig } from "../config/schema.js";
import {
  contentHash,
  containerResources,
  containerSecurity,
  httpProbes,
  meta,
  podSecurity,
  selectorLabels,
  spreadAcrossNodes,
} from "./common.js";
import { SERVICES, serviceUrl } from "./names.js";
import {
  ALERTMANAGER_CLUSTER,
  ALERTMANAGER_DATA_DIR,
  alertmanagerArgs,
  alertmanagerClustered,
} from "./alertmanager-cluster.js";
import { renderPrometheusConfig, RULES_DIR } from "./prometheus-config.js";
import { PROMETHEUS_LOOPBACK, PROXY_PORT, proxyNginxConf } from "./prometheus-proxy.js";
import type { BackupAgentSpec } from "./backup.js";
import {
  ALERTMANAGER_AUTH_DIR,
  authenticatedProbes,
  METRICS_USER,
  PASSWORD_FILE,
  PASSWORD_KEY,
  prometheusWebConfig,
  WEB_CONFIG_FILE,
  WEB_CONFIG_KEY,
} from "./metrics-auth.js";
import { rotationKeeper, secretHash } from "./rotation.js";
import {
  PUSHGATEWAY_WEB_CONFIG_FILE,
  pushgatewayClient,
  pushgatewayProbes,
} from "./pushgateway-auth.js";

export interface PrometheusArgs {
  /** The validated stage configuration. */
  config: StageConfig;
  /** Namespace the objects go into (the Stage's Namespace, so they depend on it). */
  namespace: pulumi.Input<string>;
  /** Labels every object carries. */
  labels: Record<string, string>;
  /** Rule files (file name → content) from monitoring/prometheus, shipped as a ConfigMap. */
  rules: Record<string, string>;
  /** alertmanager.yml from monitoring/alertmanager. */
  alertmanagerConfig: string;
  /**
   * Receiver credentials (Pulumi secrets), file name → value, written to the Secret
   * `alertmanager-receivers` mounted at /etc/alertmanager-secrets. When empty the Secret is not
   * created here and must exist before Alertmanager can start (the mount is not optional, so a
   * missing Secret stops the pod visibly instead of failing at send time); the policy pack's
   * `alertmanager-receivers-configured` reports it in preview.
   */
  receiverSecrets?: Record<string, pulumi.Input<string>>;
  /** The backup agent sidecar (from the Backup component). */
  backupAgent?: BackupAgentSpec;
  /** Current time in ms (default Date.now()); the basic-auth password's rotation keeper. */
  now?: number;
  /** The Pushgateway's auth Secrets (pushgateway-secrets.ts): its web config, and the password Prometheus scrapes it with. */
  pushgatewayAuth: {
    webConfigSecret: pulumi.Input<string>;
    passwordSecret: pulumi.Input<string>;
  };
}

/** Content hash of every file a Prometheus pod reads (config, rules, proxy config). */
export function prometheusPodHash(
  prometheusYml: string,
  rules: Record<string, string>,
  proxyConf: string,
): string {
  return contentHash(
    JSON.stringify([
      prometheusYml,
      Object.entries(rules).sort(([a], [b]) => (a < b ? -1 : 1)),
      proxyConf,
    ]),
  );
}

/** The Secret Alertmanager's receivers read their credentials from. */
export const RECEIVER_SECRET = "alertmanager-receivers";

const NOBODY = 65534;

/**
 * Prometheus (StatefulSet with a volume claim per replica), its Alertmanager and the
 * Pushgateway the batch jobs report to, with scrape RBAC, config and rule ConfigMaps.
 */
export class Prometheus extends pulumi.ComponentResource {
  /** In-cluster URL of the Prometheus Service. */
  public readonly url: pulumi.Output<string>;
  public readonly alertmanagerUrl: pulumi.Output<string>;
  public readonly pushgatewayUrl: pulumi.Output<string>;
  /** Name of the StatefulSet (its pods are `<name>-0`, `<name>-1`…). */
  public readonly statefulSetName: pulumi.Output<string>;
  /** The Secret with Prometheus' basic-auth password (key `password`), for its clients. */
  public readonly basicAuthSecretName: pulumi.Output<string>;
  /**
   * A hash of that Secret's content (never the password; rotation.ts secretHash): clients that read the
   * password from the environment put it on their pod template, so a rotation rolls them.
   */
  public readonly basicAuthHash: pulumi.Output<string>;

  constructor(name: string, args: PrometheusArgs, opts?: pulumi.ComponentResourceOptions) {
    super("goldengoose:monitoring:Prometheus", name, {}, opts);
    const cfg = args.config;
    const p = cfg.prometheus;
    const ns = args.namespace;
    const child = { parent: this };
    const labels = (component: string, n: string) => ({
      ...args.labels,
      ...selectorLabels(n, component),
    });

    // Scrape identity and the read-only discovery rights Prometheus needs in its namespace.
    const sa = new k8s.core.v1.ServiceAccount(
      `${name}-sa`,
      {
        metadata: meta("prometheus", ns, labels("prometheus", "prometheus"), {
          annotations: args.backupAgent?.serviceAccountAnnotations ?? {},
        }),
      },
      child,
    );
    const role = new k8s.rbac.v1.Role(
      `${name}-scrape`,
      {
        metadata: meta("prometheus-scrape", ns, labels("prometheus", "prometheus")),
        rules: [
          {
            apiGroups: [""],
            resources: ["pods", "services", "endpoints"],
            verbs: ["get", "list", "watch"],
          },
          {
            apiGroups: ["discovery.k8s.io"],
            resources: ["endpointslices"],
            verbs: ["get", "list", "watch"],
          },
        ],
      },
      child,
    );
    new k8s.rbac.v1.RoleBinding(
      `${name}-scrape`,
      {
        metadata: meta("prometheus-scrape", ns, labels("prometheus", "prometheus")),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
        subjects: [{ kind: "ServiceAccount", name: sa.metadata.name, namespace: ns }],
      },
      child,
    );

    // Basic auth on every endpoint: web.yml holds only the bcrypt hash (src/components/
    // metrics-auth.ts). The password is replaced every golden-goose:secrets.rotationDays (the
    // keeper moves; src/components/rotation.ts).
    const authPassword = new random.RandomPassword(
      `${name}-basic-auth`,
      {
        length: 32,
        special: false,
        minLower: 2,
        minUpper: 2,
        minNumeric: 2,
        keepers: { rotation: rotationKeeper(args.now ?? Date.now(), cfg.secrets.rotationDays) },
      },
      child,
    );
    const password = pulumi.secret(authPassword.result);
    // The pod's one Secret: web.yml and the password file its own clients read (the scrape of
    // itself, the probes, the backup agent). One Secret in one volume, because the kubelet
    // replaces a Secret volume's files together (an atomic symlink swap) and Prometheus re-reads
    // both per request: after a rotation the pod moves to the new hash and the new password at
    // the same instant, with no restart and no moment where its clients hold the wrong one.
    const webConfig = new k8s.core.v1.Secret(
      `${name}-web-config`,
      {
        metadata: meta("prometheus-web-config", ns, labels("prometheus", "prometheus")),
        type: "Opaque",
        stringData: {
          [WEB_CONFIG_KEY]: pulumi.secret(authPassword.bcryptHash).apply(prometheusWebConfig),
          [PASSWORD_KEY]: password,
        },
      },
      child,
    );
    // The password for clients outside the pod (Grafana, people with kubectl).
    const basicAuthData = { username: METRICS_USER, [PASSWORD_KEY]: password };
    const basicAuth = new k8s.core.v1.Secret(
      `${name}-basic-auth`,
      {
        metadata: meta("prometheus-basic-auth", ns, labels("prometheus", "prometheus")),
        type: "Opaque",
        stringData: basicAuthData,
      },
      child,
    );
    this.basicAuthSecretName = basicAuth.metadata.name;
    this.basicAuthHash = secretHash("prometheus-basic-auth", basicAuthData);
    // The same volume as the web config, mounted where the password file is expected.
    const authMount = {
      name: "web-config",
      mountPath: PASSWORD_FILE.replace(/\/[^/]+$/, ""),
      readOnly: true,
    };
    // The Pushgateway's password, for the scrape (password_file) and the backup agent's pushes.
    const pgClient = pushgatewayClient(args.pushgatewayAuth.passwordSecret);

    // Rendered once: the ConfigMap and the pods' config hash both need it (~20-50 ms each).
    const prometheusYml = renderPrometheusConfig(cfg);
    const config = new k8s.core.v1.ConfigMap(
      `${name}-config`,
      {
        metadata: meta("prometheus-config", ns, labels("prometheus", "prometheus")),
        data: { "prometheus.yml": prometheusYml },
      },
      child,
    );
    const rules = new k8s.core.v1.ConfigMap(
      `${name}-rules`,
      {
        metadata: meta("prometheus-rules", ns, {
          ...args.labels,
          ...selectorLabels("prometheus", "prometheus-rules"),
        }),
        data: { ...args.rules },
      },
      child,
    );
    const proxyConf = proxyNginxConf();
    const proxy = new k8s.core.v1.ConfigMap(
      `${name}-proxy`,
      {
        metadata: meta("prometheus-proxy", ns, labels("prometheus", "prometheus")),
        data: { "nginx.conf": proxyConf },
      },
      child,
    );

    const sel = selectorLabels("prometheus", "prometheus");
    const headless = new k8s.core.v1.Service(
      `${name}-headless`,
      {
        metadata: meta("prometheus-headless", ns, labels("prometheus", "prometheus")),
        spec: {
          clusterIP: "None",
          selector: sel,
          ports: [{ name: "web", port: 9090, targetPort: "web" }],
        },
      },
      child,
    );
    const sts = new k8s.apps.v1.StatefulSet(
      `${name}-server`,
      {
        metadata: meta("prometheus", ns, labels("prometheus", "prometheus")),
        spec: {
          serviceName: headless.metadata.name,
          replicas: p.replicas,
          podManagementPolicy: "Parallel",
          selector: { matchLabels: sel },
          persistentVolumeClaimRetentionPolicy: {
            whenDeleted: p.retainVolumes ? "Retain" : "Delete",
            whenScaled: "Retain",
          },
          template: {
            metadata: {
              labels: labels("prometheus", "prometheus"),
              annotations: {
                // Every file the pod reads: a changed rule, config or proxy file rolls the pods.
                "goldengoose.io/config-hash": prometheusPodHash(
                  prometheusYml,
                  args.rules,
                  proxyConf,
                ),
              },
            },
            spec: {
              serviceAccountName: sa.metadata.name,
              securityContext: podSecurity(NOBODY),
              affinity: spreadAcrossNodes(sel, p.replicas),
              terminationGracePeriodSeconds: 120,
              containers: [
                {
                  name: "prometheus",
                  image: p.image,
                  args: [
                    "--config.file=/etc/prometheus/prometheus.yml",
                    "--storage.tsdb.path=/prometheus",
                    `--storage.tsdb.retention.time=${p.retentionDays}d`,
                    // Loopback only: the admin API is for the backup agent in this pod; the
                    // proxy container serves everything else on the pod's web port.
                    `--web.listen-address=${PROMETHEUS_LOOPBACK}`,
                    "--web.enable-admin-api",
                    `--web.config.file=${WEB_CONFIG_FILE}`,
                  ],
                  resources: containerResources(p.resources),
                  securityContext: containerSecurity(),
                  // Loopback only, so the kubelet cannot reach it: busybox wget in the pod.
                  ...authenticatedProbes(`http://${PROMETHEUS_LOOPBACK}`),
                  volumeMounts: [
                    {
                      name: "config",
                      mountPath: "/etc/prometheus/prometheus.yml",
                      subPath: "prometheus.yml",
                    },
                    { name: "rules", mountPath: RULES_DIR },
                    { name: "data", mountPath: "/prometheus" },
                    {
                      name: "web-config",
                      mountPath: WEB_CONFIG_FILE.replace(/\/[^/]+$/, ""),
                      readOnly: true,
                    },
                    authMount,
                    pgClient.mount,
                  ],
                },
                {
                  name: "proxy",
                  image: p.proxyImage,
                  command: ["nginx", "-c", "/etc/goose-proxy/nginx.conf", "-g", "daemon off;"],
                  ports: [{ name: "web", containerPort: PROXY_PORT }],
                  resources: containerResources(SIDE_RESOURCES),
                  securityContext: containerSecurity(),
                  // The proxy itself (Prometheus behind it asks for credentials; its own
                  // container's probes check it with them).
                  ...tcpProbes(PROXY_PORT),
                  volumeMounts: [
                    { name: "proxy", mountPath: "/etc/goose-proxy", readOnly: true },
                    { name: "proxy-tmp", mountPath: "/tmp" },
                  ],
                },
                ...(args.backupAgent
                  ? [
                      {
                        ...args.backupAgent.container,
                        // The admin API asks for the password too.
                        env: [
                          ...((args.backupAgent.container.env ??
                            []) as K8s.types.input.core.v1.EnvVar[]),
                          { name: "PROMETHEUS_AUTH_FILE", value: PASSWORD_FILE },
                          { name: "PROMETHEUS_AUTH_USER", value: METRICS_USER },
                        ],
                        volumeMounts: [
                          ...((args.backupAgent.container.volumeMounts ??
                            []) as K8s.types.input.core.v1.VolumeMount[]),
                          authMount,
                        ],
                      },
                    ]
                  : []),
              ],
              volumes: [
                { name: "web-config", secret: { secretName: webConfig.metadata.name } },
                { name: "config", configMap: { name: config.metadata.name } },
                { name: "rules", configMap: { name: rules.metadata.name } },
                { name: "proxy", configMap: { name: proxy.metadata.name } },
                { name: "proxy-tmp", emptyDir: {} },
                ...(args.backupAgent?.volumes ?? []),
                // Unless the backup agent brought it already (it pushes with the same password).
                ...((args.backupAgent?.volumes ?? []).some((v) => v.name === pgClient.volume.name)
                  ? []
                  : [pgClient.volume]),
              ],
            },
          },
          volumeClaimTemplates: [
            {
              metadata: { name: "data", labels: labels("prometheus", "prometheus") },
              spec: {
                accessModes: ["ReadWriteOnce"],
                storageClassName: cfg.storageClass,
                resources: { requests: { storage: p.storageSize } },
              },
            },
          ],
        },
      },
      child,
    );
    new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: meta(SERVICES.prometheus.name, ns, labels("prometheus", "prometheus")),
        spec: {
          selector: sel,
          ports: [{ name: "web", port: SERVICES.prometheus.port, targetPort: "web" }],
        },
      },
      child,
    );
    if (p.replicas > 1) {
      new k8s.policy.v1.PodDisruptionBudget(
        `${name}-pdb`,
        {
          metadata: meta("prometheus", ns, labels("prometheus", "prometheus")),
          spec: { minAvailable: 1, selector: { matchLabels: sel } },
        },
        child,
      );
    }

    // Alertmanager: routes the alerts by severity (monitoring/alertmanager/alertmanager.yml).
    const receiverSecrets = args.receiverSecrets ?? {};
    if (Object.keys(receiverSecrets).length > 0) {
      new k8s.core.v1.Secret(
        `${name}-alertmanager-receivers`,
        {
          metadata: meta(RECEIVER_SECRET, ns, labels("alertmanager", "alertmanager")),
          type: "Opaque",
          stringData: pulumi.secret(receiverSecrets),
        },
        child,
      );
    }
    const amConfig = new k8s.core.v1.ConfigMap(
      `${name}-alertmanager-config`,
      {
        metadata: meta("alertmanager-config", ns, labels("alertmanager", "alertmanager")),
        data: { "alertmanager.yml": args.alertmanagerConfig },
      },
      child,
    );
    const clustered = alertmanagerClustered(cfg);
    const amLabels = labels("alertmanager", "alertmanager");
    if (clustered) {
      // The replicas find each other here (gossip on TCP and UDP); published before they are
      // ready, so a starting replica can join. Prometheus discovers every replica through it too.
      new k8s.core.v1.Service(
        `${name}-alertmanager-peers`,
        {
          metadata: meta(ALERTMANAGER_CLUSTER.service, ns, amLabels),
          spec: {
            clusterIP: "None",
            publishNotReadyAddresses: true,
            selector: selectorLabels("alertmanager", "alertmanager"),
            ports: [
              { name: "web", port: SERVICES.alertmanager.port, targetPort: "web" },
              {
                name: "cluster-tcp",
                port: ALERTMANAGER_CLUSTER.port,
                protocol: "TCP",
                targetPort: "cluster-tcp",
              },
              {
                name: "cluster-udp",
                port: ALERTMANAGER_CLUSTER.port,
                protocol: "UDP",
                targetPort: "cluster-udp",
              },
            ],
          },
        },
        child,
      );
      new k8s.policy.v1.PodDisruptionBudget(
        `${name}-alertmanager-pdb`,
        {
          metadata: meta("alertmanager", ns, amLabels),
          spec: {
            minAvailable: 1,
            selector: { matchLabels: selectorLabels("alertmanager", "alertmanager") },
          },
        },
        child,
      );
    }
    webService(`${name}-alertmanager`, "alertmanager", {
      namespace: ns,
      labels: amLabels,
      parent: this,
      // alertmanager.yml rolls the pod; the receiver credentials are files Alertmanager reads
      // when it sends, and a mounted Secret (no subPath) is updated in place by the kubelet.
      annotations: {
        "goldengoose.io/config-hash": contentHash(args.alertmanagerConfig),
        // Read by the policy pack (alertmanager-receivers-configured).
        ...(cfg.alerting.receivers === "external"
          ? { "goldengoose.io/receivers-secret": "external" }
          : {}),
      },
      replicas: p.alertmanagerReplicas,
      container: {
        image: p.alertmanagerImage,
        args: alertmanagerArgs(cfg),
        ...(clustered
          ? {
              env: [{ name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } }],
              extraPorts: [
                { name: "cluster-tcp", containerPort: ALERTMANAGER_CLUSTER.port, protocol: "TCP" },
                { name: "cluster-udp", containerPort: ALERTMANAGER_CLUSTER.port, protocol: "UDP" },
              ],
            }
          : {}),
        volumeMounts: [
          { name: "config", mountPath: "/etc/alertmanager" },
          { name: "data", mountPath: ALERTMANAGER_DATA_DIR },
          { name: "receivers", mountPath: "/etc/alertmanager-secrets", readOnly: true },
          // web.yml and the password its probes use: Prometheus' Secret, updated in place on
          // rotation (Alertmanager reads the web config per request, as Prometheus does).
          { name: "web-config", mountPath: ALERTMANAGER_AUTH_DIR, readOnly: true },
        ],
      },
      // Every endpoint asks for credentials, the health endpoints included.
      probes: authenticatedProbes(
        `http://127.0.0.1:${SERVICES.alertmanager.port}`,
        `${ALERTMANAGER_AUTH_DIR}/${PASSWORD_KEY}`,
      ),
      volumes: [
        { name: "config", configMap: { name: amConfig.metadata.name } },
        { name: "data", emptyDir: {} },
        { name: "receivers", secret: { secretName: RECEIVER_SECRET } },
        { name: "web-config", secret: { secretName: webConfig.metadata.name } },
      ],
    });

    // Pushgateway: the backup and scanner CronJobs push their last results here. Basic auth on
    // every endpoint (pushgateway-auth.ts): the web config holds the bcrypt hash only; its probes
    // read the password file.
    webService(`${name}-pushgateway`, "pushgateway", {
      namespace: ns,
      labels: labels("pushgateway", "pushgateway"),
      parent: this,
      container: {
        image: p.pushgatewayImage,
        args: [`--web.config.file=${PUSHGATEWAY_WEB_CONFIG_FILE}`],
        volumeMounts: [
          {
            name: "web-config",
            mountPath: PUSHGATEWAY_WEB_CONFIG_FILE.replace(/\/[^/]+$/, ""),
            readOnly: true,
          },
          pgClient.mount,
        ],
      },
      probes: pushgatewayProbes(SERVICES.pushgateway.port),
      volumes: [
        { name: "web-config", secret: { secretName: args.pushgatewayAuth.webConfigSecret } },
        pgClient.volume,
      ],
    });

    this.url = pulumi.output(serviceUrl(cfg, "prometheus"));
    this.alertmanagerUrl = pulumi.output(serviceUrl(cfg, "alertmanager"));
    this.pushgatewayUrl = pulumi.output(serviceUrl(cfg, "pushgateway"));
    this.statefulSetName = sts.metadata.name;
    this.registerOutputs({
      url: this.url,
      alertmanagerUrl: this.alertmanagerUrl,
      pushgatewayUrl: this.pushgatewayUrl,
      statefulSetName: this.statefulSetName,
    });
  }
}

/** Liveness and readiness as a TCP connect to `port`. */
function tcpProbes(
  port: number,
): Pick<K8s.types.input.core.v1.Container, "livenessProbe" | "readinessProbe"> {
  return {
    livenessProbe: {
      tcpSocket: { port },
      initialDelaySeconds: 10,
      periodSeconds: 15,
      failureThreshold: 4,
    },
    readinessProbe: {
      tcpSocket: { port },
      initialDelaySeconds: 5,
      periodSeconds: 10,
      failureThreshold: 3,
    },
  };
}

const SIDE_RESOURCES = {
  requests: { cpu: "50m", memory: "64Mi" },
  limits: { cpu: "200m", memory: "256Mi" },
};

/**
 * A web workload beside Prometheus (Alertmanager, Pushgateway): a Deployment with
 * the hardened pod and container settings, health probes on its port, and its Service.
 */
function webService(
  resourceName: string,
  key: "alertmanager" | "pushgateway",
  opts: {
    namespace: pulumi.Input<string>;
    labels: Record<string, string>;
    parent: pulumi.Resource;
    annotations?: Record<string, string>;
    /** Default 1; more are spread across nodes. */
    replicas?: number;
    container: Pick<
      K8s.types.input.core.v1.Container,
      "image" | "args" | "volumeMounts" | "env"
    > & {
      /** Ports beside `web`. */
      extraPorts?: K8s.types.input.core.v1.ContainerPort[];
    };
    volumes?: K8s.types.input.core.v1.Volume[];
    /** Default: HTTP probes of /-/healthy and /-/ready. */
    probes?: Pick<K8s.types.input.core.v1.Container, "livenessProbe" | "readinessProbe">;
  },
): void {
  const { name, port } = SERVICES[key];
  const sel = selectorLabels(key, key);
  const replicas = opts.replicas ?? 1;
  const { extraPorts, ...container } = opts.container;
  const affinity = spreadAcrossNodes(sel, replicas);
  new k8s.apps.v1.Deployment(
    resourceName,
    {
      metadata: meta(key, opts.namespace, opts.labels),
      spec: {
        replicas,
        selector: { matchLabels: sel },
        template: {
          metadata: {
            labels: opts.labels,
            ...(opts.annotations ? { annotations: opts.annotations } : {}),
          },
          spec: {
            securityContext: podSecurity(NOBODY),
            automountServiceAccountToken: false,
            ...(affinity ? { affinity } : {}),
            containers: [
              {
                name: key,
                ...container,
                ports: [{ name: "web", containerPort: port }, ...(extraPorts ?? [])],
                resources: containerResources(SIDE_RESOURCES),
                securityContext: containerSecurity(),
                ...(opts.probes ?? httpProbes(port, "/-/healthy", "/-/ready")),
              },
            ],
            ...(opts.volumes ? { volumes: opts.volumes } : {}),
          },
        },
      },
    },
    { parent: opts.parent },
  );
  new k8s.core.v1.Service(
    resourceName,
    {
      metadata: meta(name, opts.namespace, opts.labels),
      spec: { selector: sel, ports: [{ name: "web", port, targetPort: port }] },
    },
    { parent: opts.parent },
  );
}
