/**
 * FAILOVER DRILL (`goose dr failover <stage>`): proves that losing one replica of Prometheus and
 * one of Alertmanager loses no alert and sends none twice, with the stage's own rendered
 * configuration (src/workflows/dr/failover-config.ts says what is mapped to loopback).
 *
 *  1. replicas   the stage runs more than one of each (prometheus.replicas,
 *                prometheus.alertmanagerReplicas); one of each is nothing to fail over (exit 2)
 *  2. start      every Alertmanager replica (real binary, gossip on loopback ports) and wait until
 *                each sees all peers; every Prometheus replica, and wait until each has discovered
 *                the Alertmanagers the stage's alerting block reaches
 *  3. before     the drill's target exposes round "before-kill": its alert must reach the webhook
 *                receiver exactly once (both Prometheus replicas send it to every Alertmanager;
 *                the cluster's notification log lets one of them notify), and every Prometheus
 *                must have sent to every Alertmanager
 *  4. silence    a silence created on the Alertmanager that notified must reach every peer
 *  5. kill       SIGKILL that Alertmanager (the one the cluster relied on) and one Prometheus
 *  6. after      round "after-kill" must reach the receiver exactly once through the survivors
 *                (the failover time: firing → notification), the silenced alert must be
 *                suppressed by a survivor (the silence outlived its creator) and notify nobody,
 *                and round "before-kill" must not be notified again
 *  7. objective  the failover time within the stage's RTO (golden-goose:recovery.rtoSeconds)
 *  8. record     JSON + Markdown report (load-test/reports/dr/), evidence `dr.failover`, drill
 *                state in the store and `goldengoose_dr_*{drill="failover"}` metrics
 *
 * Waits are bounded polls (`timeoutMs` each) that end as soon as the outcome is seen; the only
 * fixed wait is the quiet period after a notification (the Alertmanager peers' own wait of peer
 * timeout × position, plus group_wait), in which a duplicate would arrive.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server as HttpServer } from "node:http";
import os from "node:os";
import path from "node:path";
import bcrypt from "bcryptjs";
import { alertmanagerArgs } from "../../components/alertmanager-cluster.js";
import { METRICS_USER, prometheusWebConfig } from "../../components/metrics-auth.js";
import { renderPrometheusConfig } from "../../components/prometheus-config.js";
import type { StageConfig } from "../../config/schema.js";
import type { StageName } from "../../config/stages.js";
import { InputError } from "../../errors.js";
import { MONITORING_PATHS } from "../../monitoring/files.js";
import type { MetricsTarget } from "../../monitoring/publish.js";
import type { ObjectStore } from "../../store/types.js";
import type { DrillCheck, DrillEvidence } from "./drill.js";
import {
  drillAlertName,
  drillRules,
  durationMs,
  loopbackAlertmanagerArgs,
  loopbackAlertmanagerConfig,
  loopbackPrometheusConfig,
  peerTimeoutOf,
  type AlertmanagerEndpoint,
} from "./failover-config.js";
import { findBinary, freePort, startServer, waitUntilReady, type Server } from "./processes.js";
import {
  FAILOVER_REPORT_KIND,
  renderFailoverMarkdown,
  round3,
  type FailoverReport,
} from "./failover-report.js";
import {
  DRILL_JOB,
  DRILL_METRIC,
  getJson,
  ROUNDS,
  sentPerAlertmanager,
  sleep,
  startReceiver,
  startTarget,
  until,
  type Round,
} from "./failover-servers.js";
import { writeReportPair } from "./report.js";

export {
  FAILOVER_REPORT_KIND,
  renderFailoverMarkdown,
  type FailoverReport,
  type Notification,
} from "./failover-report.js";
import { recordAndPublishDrill, type DrillOutcome } from "./state.js";

export interface FailoverOptions {
  stage: StageName;
  config: StageConfig;
  /** The repository (monitoring/alertmanager/alertmanager.yml). */
  repoRoot: string;
  env: NodeJS.ProcessEnv;
  store: ObjectStore;
  evidence: DrillEvidence;
  /** Default <repoRoot>/load-test/reports/dr. */
  reportDir?: string;
  metrics: MetricsTarget;
  workDir?: string;
  keepWorkDir?: boolean;
  /** Alertmanager's --cluster.peer-timeout in the drill (default: the stage's). */
  peerTimeout?: string;
  /** group_wait of every route in the drill (default 1s). */
  groupWait?: string;
  /** Bound of each wait for an outcome (default 120 s). */
  timeoutMs?: number;
  onCheck?: (c: DrillCheck) => void;
  now?: () => Date;
}

export async function runFailoverDrill(opts: FailoverOptions): Promise<FailoverReport> {
  const now = opts.now ?? (() => new Date());
  const { stage, config } = opts;
  const P = config.prometheus.replicas;
  const A = config.prometheus.alertmanagerReplicas;
  if (P < 2 && A < 2) {
    throw new InputError(
      `stage ${stage} runs one Prometheus and one Alertmanager (prometheus.replicas and prometheus.alertmanagerReplicas are 1 in Pulumi.${stage}.yaml): there is no replica to fail over to`,
      {
        fix: "run the failover drill on a stage with replicas (goose dr failover compliance), or raise both settings to 2",
      },
    );
  }
  const promBin = findBinary("prometheus", opts.env);
  const amBin = findBinary("alertmanager", opts.env);
  const stageAmArgs = alertmanagerArgs(config);
  const peerTimeout = opts.peerTimeout ?? peerTimeoutOf(stageAmArgs);
  const groupWait = opts.groupWait ?? "1s";
  const timeoutMs = opts.timeoutMs ?? 120_000;
  // The peers' own wait (position × peer timeout) plus group_wait and a scrape/evaluation, in
  // which a second notification of the same alert would arrive.
  const quietMs = durationMs(peerTimeout) * Math.max(1, A - 1) + durationMs(groupWait) + 3000;
  const stageAlertmanagerYml = readFileSync(
    path.join(opts.repoRoot, MONITORING_PATHS.alertmanager),
    "utf8",
  );

  const started = now();
  const t0 = performance.now();
  const id = `failover-${stage}-${started
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}-${randomBytes(3).toString("hex")}`;
  const workDir = opts.workDir ?? mkdtempSync(path.join(os.tmpdir(), "goose-failover-"));
  mkdirSync(workDir, { recursive: true });
  const objectives = {
    rpoSeconds: config.recovery.rpoSeconds,
    rtoSeconds: config.recovery.rtoSeconds,
    drillMaxAgeHours: config.recovery.drillMaxAgeHours,
  };
  const report: FailoverReport = {
    kind: FAILOVER_REPORT_KIND,
    id,
    stage,
    result: "fail",
    startedAt: started.toISOString(),
    finishedAt: started.toISOString(),
    replicas: { prometheus: P, alertmanager: A },
    alerting: [],
    peerTimeout,
    groupWait,
    objectives,
    killed: {},
    notifications: [],
    checks: [],
    failures: [],
    ...(opts.keepWorkDir ? { workDir } : {}),
  };
  const check = (name: string, ok: boolean, detail: string) => {
    const c = { name, ok, detail };
    report.checks.push(c);
    if (!ok) report.failures.push(`${name}: ${detail}`);
    opts.onCheck?.(c);
    return ok;
  };
  const seconds = (ms: number) => round3(ms / 1000);

  const servers: Server[] = [];
  const https: HttpServer[] = [];
  try {
    // 1. replicas
    const ha = check(
      "replicas",
      P >= 2 && A >= 2,
      `${P} Prometheus and ${A} Alertmanager replica(s)${
        P >= 2 && A >= 2
          ? ""
          : `: losing the only ${P < 2 ? "Prometheus" : "Alertmanager"} loses every alert; set prometheus.${P < 2 ? "replicas" : "alertmanagerReplicas"} to 2 or more in Pulumi.${stage}.yaml`
      }`,
    );
    if (!ha) return await finish();

    // 2. start
    const receiver = await startReceiver(t0, id);
    https.push(receiver.server);
    report.notifications = receiver.got;
    const target = await startTarget();
    https.push(target.server);

    const endpoints: AlertmanagerEndpoint[] = [];
    for (let i = 0; i < A; i++) {
      endpoints.push({
        web: `127.0.0.1:${await freePort()}`,
        cluster: `127.0.0.1:${await freePort()}`,
      });
    }
    const amYml = path.join(workDir, "alertmanager.yml");
    writeFileSync(amYml, loopbackAlertmanagerConfig(stageAlertmanagerYml, receiver.url, groupWait));
    // The stage's Alertmanager asks for basic auth (--web.config.file): the drill runs it so, with
    // a password of its own (bcrypt hash in the web config, the password in a file for Prometheus).
    const amAuthOn = stageAmArgs.some((a) => a.startsWith("--web.config.file="));
    const drillPassword = randomBytes(24).toString("base64url");
    const amWebYml = path.join(workDir, "alertmanager-web.yml");
    const passwordFile = path.join(workDir, "metrics-password");
    if (amAuthOn) {
      writeFileSync(amWebYml, prometheusWebConfig(bcrypt.hashSync(drillPassword, 10)), {
        mode: 0o600,
      });
      writeFileSync(passwordFile, drillPassword, { mode: 0o600 });
    }
    const amAuth: Record<string, string> = amAuthOn
      ? {
          authorization: `Basic ${Buffer.from(`${METRICS_USER}:${drillPassword}`).toString("base64")}`,
        }
      : {};
    const ams: Server[] = [];
    let clustered = true;
    for (let i = 0; i < A; i++) {
      const storage = path.join(workDir, `alertmanager-${i}`);
      mkdirSync(storage, { recursive: true });
      const { args, clustered: c } = loopbackAlertmanagerArgs(
        stageAmArgs,
        endpoints,
        i,
        { config: amYml, storage, ...(amAuthOn ? { webConfig: amWebYml } : {}) },
        opts.peerTimeout ? { peerTimeout } : {},
      );
      clustered &&= c;
      const s = startServer(
        `alertmanager-${i}`,
        amBin,
        args,
        `http://${endpoints[i]!.web}`,
        path.join(workDir, `alertmanager-${i}.log`),
      );
      servers.push(s);
      ams.push(s);
    }
    if (
      !check(
        "alertmanager-peering",
        clustered,
        clustered
          ? "the stage's arguments join the replicas (--cluster.peer)"
          : "the stage's Alertmanager arguments name no --cluster.peer: the replicas would not share silences or the notification log",
      )
    ) {
      return await finish();
    }
    for (const s of ams) await waitUntilReady(s, `${s.url}/-/ready`, timeoutMs, amAuth);
    if (amAuthOn) {
      // Without credentials every replica refuses (so Prometheus' deliveries below prove its
      // alerting block authenticates).
      const open: string[] = [];
      for (const s of ams) {
        const r = await fetch(`${s.url}/api/v2/status`, { signal: AbortSignal.timeout(5000) });
        if (r.status !== 401) open.push(`${s.name} (HTTP ${r.status})`);
      }
      check(
        "alertmanager-auth",
        open.length === 0,
        open.length === 0
          ? `every replica refuses a request without the password (the stage's --web.config.file)`
          : `answered without credentials: ${open.join(", ")}`,
      );
    }
    const formed = await until(timeoutMs, async () => {
      for (const s of ams) {
        const st = (await getJson(`${s.url}/api/v2/status`, amAuth)) as {
          cluster?: { peers?: unknown[]; status?: string };
        };
        if ((st.cluster?.peers?.length ?? 0) < A) return undefined;
      }
      return true;
    });
    check(
      "alertmanager-cluster",
      formed === true,
      formed
        ? `${A} replicas see each other`
        : `the replicas did not all see ${A} peers within ${seconds(timeoutMs)} s; see ${workDir}/alertmanager-*.log`,
    );

    const rulesFile = path.join(workDir, "drill-rules.yml");
    writeFileSync(rulesFile, drillRules(id, ROUNDS, DRILL_METRIC));
    const promCfg = loopbackPrometheusConfig(config, renderPrometheusConfig(config), endpoints, {
      target: target.address,
      rulesFile,
      job: DRILL_JOB,
      ...(amAuthOn ? { passwordFile } : {}),
    });
    report.alerting = promCfg.via;
    const promYml = path.join(workDir, "prometheus.yml");
    writeFileSync(promYml, promCfg.yml);
    check(
      "alerting-reaches-every-alertmanager",
      promCfg.reached.length === A,
      `the stage's alerting block reaches ${promCfg.reached.length} of ${A} Alertmanager replica(s) (${promCfg.via.join("; ")})`,
    );
    const proms: Server[] = [];
    for (let i = 0; i < P; i++) {
      const web = `127.0.0.1:${await freePort()}`;
      const data = path.join(workDir, `prometheus-${i}`);
      mkdirSync(data, { recursive: true });
      const s = startServer(
        `prometheus-${i}`,
        promBin,
        [`--config.file=${promYml}`, `--storage.tsdb.path=${data}`, `--web.listen-address=${web}`],
        `http://${web}`,
        path.join(workDir, `prometheus-${i}.log`),
      );
      servers.push(s);
      proms.push(s);
    }
    for (const s of proms) await waitUntilReady(s, `${s.url}/-/ready`, timeoutMs);
    const discovered = await until(timeoutMs, async () => {
      for (const s of proms) {
        const r = (await getJson(`${s.url}/api/v1/alertmanagers`)) as {
          data?: { activeAlertmanagers?: unknown[] };
        };
        if ((r.data?.activeAlertmanagers?.length ?? 0) < promCfg.reached.length) return undefined;
      }
      return true;
    });
    check(
      "prometheus-discovery",
      discovered === true,
      discovered
        ? `each of ${P} Prometheus replicas sends to ${promCfg.reached.length} Alertmanager(s)`
        : `not every Prometheus discovered its Alertmanagers within ${seconds(timeoutMs)} s`,
    );

    const notifiedOf = (r: Round) =>
      receiver.got.filter((n) => n.status === "firing" && n.alertnames.includes(drillAlertName(r)));
    const fire = async (r: Round): Promise<number | undefined> => {
      const at = performance.now() - t0;
      target.fired.add(r);
      const first = await until(timeoutMs, async () => notifiedOf(r)[0]);
      return first ? first.atMs - at : undefined;
    };

    // 3. before
    const before = await fire("before-kill");
    if (before !== undefined) report.deliverySeconds = seconds(before);
    await sleep(quietMs);
    const n1 = notifiedOf("before-kill");
    check(
      "notified-once-before-kill",
      n1.length === 1,
      n1.length === 1
        ? `${drillAlertName("before-kill")} notified once, by ${n1[0]!.from}, ${seconds(before!)} s after firing`
        : `${drillAlertName("before-kill")} notified ${n1.length} times (want exactly 1)${n1.length ? ` by ${n1.map((n) => n.from).join(", ")}` : ` within ${seconds(timeoutMs)} s`}`,
    );
    const sentAll = await until(timeoutMs, async () => {
      for (const s of proms) {
        const sent = await sentPerAlertmanager(s.url);
        for (const i of promCfg.reached) {
          if ((sent.get(`http://${endpoints[i]!.web}/api/v2/alerts`) ?? 0) < 1) return undefined;
        }
      }
      return true;
    });
    check(
      "every-prometheus-sent-to-every-alertmanager",
      sentAll === true && promCfg.reached.length === A,
      sentAll
        ? `prometheus_notifications_sent_total > 0 for each of ${promCfg.reached.length} Alertmanager(s) on each of ${P} Prometheus replicas`
        : "some Prometheus replica sent nothing to some Alertmanager",
    );

    // 4. silence on the Alertmanager that notified (the one the cluster relied on)
    const victim = ams.find((s) => s.url === n1[0]?.from) ?? ams[0]!;
    const survivors = ams.filter((s) => s !== victim);
    const silence = await fetch(`${victim.url}/api/v2/silences`, {
      method: "POST",
      headers: { "content-type": "application/json", ...amAuth },
      body: JSON.stringify({
        matchers: [
          { name: "alertname", value: drillAlertName("silenced"), isRegex: false, isEqual: true },
          { name: "drill", value: id, isRegex: false, isEqual: true },
        ],
        startsAt: new Date().toISOString(),
        endsAt: new Date(Date.now() + 3_600_000).toISOString(),
        createdBy: "goose dr failover",
        comment: `failover drill ${id}`,
      }),
      signal: AbortSignal.timeout(5000),
    });
    const silenceId = silence.ok
      ? ((await silence.json()) as { silenceID?: string }).silenceID
      : undefined;
    const replicated = silenceId
      ? await until(timeoutMs, async () => {
          for (const s of survivors) {
            const list = (await getJson(`${s.url}/api/v2/silences`, amAuth)) as Array<{
              id: string;
            }>;
            if (!list.some((x) => x.id === silenceId)) return undefined;
          }
          return true;
        })
      : undefined;
    check(
      "silence-replicated",
      replicated === true,
      replicated
        ? `silence ${silenceId} created on ${victim.url} is on every other replica`
        : silenceId
          ? `silence ${silenceId} did not reach every replica within ${seconds(timeoutMs)} s`
          : `${victim.url} refused the silence (HTTP ${silence.status})`,
    );

    // 5. kill one of each
    await victim.kill();
    report.killed.alertmanager = victim.name;
    const promVictim = proms[0]!;
    await promVictim.kill();
    report.killed.prometheus = promVictim.name;

    // 6. after
    target.fired.add("silenced");
    const after = await fire("after-kill");
    if (after !== undefined) report.failoverSeconds = seconds(after);
    const suppressed = await until(timeoutMs, async () => {
      for (const s of survivors) {
        const alerts = (await getJson(
          `${s.url}/api/v2/alerts?filter=${encodeURIComponent(`alertname="${drillAlertName("silenced")}"`)}`,
          amAuth,
        )) as Array<{ status?: { state?: string; silencedBy?: string[] } }>;
        if (
          alerts.some(
            (a) =>
              a.status?.state === "suppressed" && a.status.silencedBy?.includes(silenceId ?? ""),
          )
        )
          return s.name;
      }
      return undefined;
    });
    await sleep(quietMs);
    const n2 = notifiedOf("after-kill");
    check(
      "notified-once-after-kill",
      n2.length === 1,
      n2.length === 1
        ? `${drillAlertName("after-kill")} notified once, by ${n2[0]!.from}, ${seconds(after!)} s after firing (failover time)`
        : `${drillAlertName("after-kill")} notified ${n2.length} times after killing ${victim.name} and ${promVictim.name} (want exactly 1)`,
    );
    const again = notifiedOf("before-kill").length;
    check(
      "no-repeat-after-kill",
      again === 1,
      again === 1
        ? `${drillAlertName("before-kill")} was not notified again by the survivors (notification log shared)`
        : `${drillAlertName("before-kill")} was notified ${again} times in all: a survivor did not know it had been sent`,
    );
    const silencedNotified = notifiedOf("silenced").length;
    check(
      "silence-survives-kill",
      suppressed !== undefined && silencedNotified === 0,
      suppressed !== undefined && silencedNotified === 0
        ? `${drillAlertName("silenced")} suppressed on ${suppressed} by the silence created on the killed ${victim.name}, notified nobody`
        : `${drillAlertName("silenced")}: ${suppressed ? "suppressed" : "not suppressed by the silence"} on the survivors, notified ${silencedNotified} time(s)`,
    );

    // 7. objective
    if (report.failoverSeconds !== undefined) {
      check(
        "failover-time",
        report.failoverSeconds <= objectives.rtoSeconds,
        `${report.failoverSeconds} s from firing to notification after the kill (objective ${objectives.rtoSeconds} s, golden-goose:recovery.rtoSeconds)`,
      );
    }
    return await finish();
  } finally {
    for (const s of servers) await s.stop().catch(() => undefined);
    for (const h of https) await new Promise((r) => h.close(r));
    if (!opts.keepWorkDir && !opts.workDir) rmSync(workDir, { recursive: true, force: true });
  }

  // 8. record
  async function finish(): Promise<FailoverReport> {
    report.result = report.failures.length === 0 ? "pass" : "fail";
    report.finishedAt = now().toISOString();
    const ev = await opts.evidence.append({
      kind: "dr.failover",
      stage,
      subject: [
        {
          name: `alertmanager.yml`,
          digest: { sha256: sha256(stageAlertmanagerYml) },
        },
        {
          name: `prometheus.yml (${stage})`,
          digest: { sha256: sha256(renderPrometheusConfig(config)) },
        },
      ],
      data: {
        id,
        result: report.result,
        replicas: report.replicas,
        killed: report.killed,
        deliverySeconds: report.deliverySeconds,
        failoverSeconds: report.failoverSeconds,
        notifications: report.notifications.length,
        failures: report.failures,
      },
    });
    report.evidence = ev.id;
    const outcome: DrillOutcome = {
      id,
      at: report.finishedAt,
      passed: report.result === "pass",
      objectives,
      evidence: ev.id,
      ...(report.failoverSeconds !== undefined ? { failoverSeconds: report.failoverSeconds } : {}),
    };
    Object.assign(
      report,
      await recordAndPublishDrill(opts.store, stage, "failover", outcome, opts.metrics),
    );
    const dir = opts.reportDir ?? path.join(opts.repoRoot, "load-test/reports/dr");
    const files = { json: path.join(dir, `${id}.json`), markdown: path.join(dir, `${id}.md`) };
    report.reports = files;
    writeReportPair(dir, id, report, renderFailoverMarkdown(report));
    return report;
  }
}

function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}
