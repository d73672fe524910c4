import * as pulumi from "@pulumi/pulumi";
import type * as K8s from "@pulumi/kubernetes";
import { k8s } from "./k8s.js";
import type { StageConfig } from "../config/schema.js";
import { meta } from "./common.js";
import { ALERTMANAGER_CLUSTER, alertmanagerClustered } from "./alertmanager-cluster.js";
import { SERVICES } from "./names.js";
import { PROXY_PORT } from "./prometheus-proxy.js";

type NetworkPolicySpec = K8s.types.input.networking.v1.NetworkPolicySpec;
type Peer = K8s.types.input.networking.v1.NetworkPolicyPeer;
type Port = K8s.types.input.networking.v1.NetworkPolicyPort;

/** The `app.kubernetes.io/name` of each workload of the stage. */
export const WORKLOADS = [
  "prometheus",
  "alertmanager",
  "pushgateway",
  "grafana",
  "scanner",
] as const;
export type Workload = (typeof WORKLOADS)[number];

const pod = (name: Workload): Peer => ({
  podSelector: { matchLabels: { "app.kubernetes.io/name": name } },
});
const tcp = (port: number): Port => ({ protocol: "TCP", port });
/** HTTPS anywhere: S3, KMS and STS (the backup agents), registries, receivers. */
const HTTPS_OUT = { to: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [tcp(443)] };

/** Namespace of a `host:port` scrape target (`svc.ns.svc…`), undefined for an outside host. */
export function targetNamespace(target: string, stageNamespace: string): string | undefined {
  const host = target.slice(0, target.lastIndexOf(":"));
  const parts = host.split(".");
  if (parts.length === 1) return stageNamespace;
  if (parts.length >= 3 && parts[2] === "svc") return parts[1];
  return undefined;
}

/**
 * The stage's NetworkPolicies: everything denied in the namespace, then exactly the flows the
 * platform needs. Ports are the pods' ports (what NetworkPolicies match), not the Services'.
 *
 * - every pod: DNS to kube-dns in kube-system;
 * - Prometheus: scrapes Alertmanager, Grafana, the Pushgateway and the service under test, sends
 *   alerts to Alertmanager; its backup agent reaches S3/KMS/STS on 443; Grafana queries it;
 * - Alertmanager: receives from Prometheus, sends notifications on 443; its replicas gossip with
 *   each other on the cluster port (TCP and UDP) when there are more than one;
 * - Pushgateway: scraped by Prometheus, pushed to by the backup agents (in the Prometheus and
 *   Grafana pods) and the scanner;
 * - Grafana: scraped by Prometheus, queries Prometheus, its backup agent pushes and uploads;
 * - scanner: asks registries for digests and pulls images and the vulnerability database on 443,
 *   uploads its results to the backup bucket (S3/STS on 443), pushes its metrics;
 * - the service under test (pods in the namespace that are not ours): scraped by Prometheus.
 *
 * Pure, so the tests check the flows it allows. Exported for testing.
 */
export function networkPolicySpecs(cfg: StageConfig): { name: string; spec: NetworkPolicySpec }[] {
  const port = {
    prometheus: PROXY_PORT,
    alertmanager: SERVICES.alertmanager.port,
    pushgateway: SERVICES.pushgateway.port,
    grafana: SERVICES.grafana.port,
  };
  // The service under test: by namespace; in our namespace, the pods that are not the platform's.
  const serviceEgress = cfg.prometheus.serviceTargets.map((t) => {
    const p = Number(t.slice(t.lastIndexOf(":") + 1));
    const ns = targetNamespace(t, cfg.namespace);
    const to: Peer[] =
      ns === undefined
        ? [{ ipBlock: { cidr: "0.0.0.0/0" } }]
        : ns === cfg.namespace
          ? [{ podSelector: NOT_OURS }]
          : [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } } }];
    return { to, ports: [tcp(p)] };
  });
  const localServicePorts = cfg.prometheus.serviceTargets
    .filter((t) => targetNamespace(t, cfg.namespace) === cfg.namespace)
    .map((t) => Number(t.slice(t.lastIndexOf(":") + 1)));
  // Alertmanager replicas gossip with each other (TCP and UDP) when clustered.
  const gossip: Port[] | undefined = alertmanagerClustered(cfg)
    ? [tcp(ALERTMANAGER_CLUSTER.port), { protocol: "UDP", port: ALERTMANAGER_CLUSTER.port }]
    : undefined;
  const only = (name: Workload) => ({ matchLabels: { "app.kubernetes.io/name": name } });

  const specs: { name: string; spec: NetworkPolicySpec }[] = [
    { name: "default-deny", spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] } },
    {
      name: "allow-dns",
      spec: {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [
          {
            to: [
              {
                namespaceSelector: {
                  matchLabels: { "kubernetes.io/metadata.name": "kube-system" },
                },
                podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
              },
            ],
            ports: [
              { protocol: "UDP", port: 53 },
              { protocol: "TCP", port: 53 },
            ],
          },
        ],
      },
    },
    {
      name: "prometheus",
      spec: {
        podSelector: only("prometheus"),
        policyTypes: ["Ingress", "Egress"],
        ingress: [{ from: [pod("grafana")], ports: [tcp(port.prometheus)] }],
        egress: [
          { to: [pod("alertmanager")], ports: [tcp(port.alertmanager)] },
          { to: [pod("grafana")], ports: [tcp(port.grafana)] },
          { to: [pod("pushgateway")], ports: [tcp(port.pushgateway)] },
          ...serviceEgress,
          HTTPS_OUT,
        ],
      },
    },
    {
      name: "alertmanager",
      spec: {
        podSelector: only("alertmanager"),
        policyTypes: ["Ingress", "Egress"],
        ingress: [
          { from: [pod("prometheus")], ports: [tcp(port.alertmanager)] },
          ...(gossip ? [{ from: [pod("alertmanager")], ports: gossip }] : []),
        ],
        egress: [...(gossip ? [{ to: [pod("alertmanager")], ports: gossip }] : []), HTTPS_OUT],
      },
    },
    {
      name: "pushgateway",
      spec: {
        podSelector: only("pushgateway"),
        policyTypes: ["Ingress", "Egress"],
        ingress: [
          {
            from: [pod("prometheus"), pod("grafana"), pod("scanner")],
            ports: [tcp(port.pushgateway)],
          },
        ],
        egress: [],
      },
    },
    {
      name: "grafana",
      spec: {
        podSelector: only("grafana"),
        policyTypes: ["Ingress", "Egress"],
        ingress: [{ from: [pod("prometheus")], ports: [tcp(port.grafana)] }],
        egress: [
          { to: [pod("prometheus")], ports: [tcp(port.prometheus)] },
          { to: [pod("pushgateway")], ports: [tcp(port.pushgateway)] },
          HTTPS_OUT,
        ],
      },
    },
    {
      name: "scanner",
      spec: {
        podSelector: only("scanner"),
        policyTypes: ["Ingress", "Egress"],
        ingress: [],
        egress: [{ to: [pod("pushgateway")], ports: [tcp(port.pushgateway)] }, HTTPS_OUT],
      },
    },
  ];
  if (localServicePorts.length > 0) {
    specs.push({
      name: "service-under-test",
      spec: {
        podSelector: NOT_OURS,
        policyTypes: ["Ingress"],
        ingress: [{ from: [pod("prometheus")], ports: [...new Set(localServicePorts)].map(tcp) }],
      },
    });
  }
  return specs;
}

/** Pods in the namespace that are not the platform's own (the service under test). */
const NOT_OURS = {
  matchExpressions: [
    { key: "app.kubernetes.io/part-of", operator: "NotIn", values: ["golden-goose"] },
  ],
};

/** Creates the stage's NetworkPolicies (see networkPolicySpecs). */
export function createNetworkPolicies(
  name: string,
  cfg: StageConfig,
  namespace: pulumi.Input<string>,
  labels: Record<string, string>,
  opts: pulumi.CustomResourceOptions,
): void {
  for (const p of networkPolicySpecs(cfg)) {
    new k8s.networking.v1.NetworkPolicy(
      `${name}-${p.name}`,
      {
        metadata: meta(p.name, namespace, {
          ...labels,
          "app.kubernetes.io/name": p.name,
          "app.kubernetes.io/component": "network-policy",
        }),
        spec: p.spec,
      },
      opts,
    );
  }
}
