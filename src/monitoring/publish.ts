/**
 * The one publisher of goose's own metrics (Prometheus text exposition), used by snapshot,
 * transition and DR metrics: PUT to a Pushgateway
 * group when a URL is configured (`<url>/metrics/job/<job>/<label>/<value>…`, replacing the
 * group), else a node-exporter textfile (`<dir>/<file>`, temp file + rename, so a collector never
 * reads half a file). Returns where the metrics went.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pushgatewayAuthHeaders, unauthorizedHint } from "./pushgateway-credentials.js";

export interface MetricsTarget {
  /** Push here when set (the CLI's --pushgateway / GOOSE_PUSHGATEWAY_URL). */
  pushgatewayUrl?: string;
  /** Else write a textfile here (the CLI's --metrics-dir, default .goose/metrics). */
  textfileDir?: string;
  /** Where the Pushgateway credentials come from (pushgateway-credentials.ts; default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface MetricsGroup {
  /** The Pushgateway job. */
  job: string;
  /** Further grouping labels, in order (e.g. `{ stage: "sandbox" }`). */
  labels: Record<string, string>;
  /** The textfile's name when no Pushgateway is configured. */
  file: string;
  /** What the metrics are, in messages (default "metrics"). */
  what?: string;
}

export async function publishMetricsText(
  target: MetricsTarget,
  group: MetricsGroup,
  text: string,
): Promise<string> {
  if (target.pushgatewayUrl) {
    const grouping = Object.entries(group.labels)
      .map(([k, v]) => `/${encodeURIComponent(k)}/${encodeURIComponent(v)}`)
      .join("");
    const url = `${target.pushgatewayUrl.replace(/\/+$/, "")}/metrics/job/${encodeURIComponent(group.job)}${grouping}`;
    const auth = pushgatewayAuthHeaders(target.env);
    let res: Response;
    try {
      res = await fetch(url, {
        method: "PUT",
        body: text,
        headers: {
          "content-type": "text/plain; version=0.0.4",
          ...auth,
        },
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      throw new Error(
        `cannot push ${group.what ?? "metrics"} to ${url} (${(err as Error).message}); check --pushgateway (or GOOSE_PUSHGATEWAY_URL)`,
      );
    }
    if (!res.ok) {
      throw new Error(
        `Pushgateway ${url} answered HTTP ${res.status}: ${(await res.text()).trim()}` +
          (res.status === 401
            ? `; ${unauthorizedHint(target.env, { stage: group.labels.stage })}`
            : ""),
      );
    }
    return url;
  }
  const dir = target.textfileDir ?? ".goose/metrics";
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, group.file);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
  return file;
}

/** `name{k="v",…}` label text, values escaped as the exposition format wants. */
export function labelText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(
      ([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`,
    )
    .join(",");
}
