/** The shapes of Prometheus rules as the generators build them (rules.ts, dr-rules.ts). */
export interface RecordingRule {
  record: string;
  expr: string;
  labels?: Record<string, string>;
}

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: "critical" | "warning" | "info" } & Record<string, string>;
  annotations: { summary: string; description: string; runbook_url: string };
}

export interface RuleGroup<R> {
  name: string;
  /** Evaluation interval of the group, when not the global one. */
  interval?: string;
  rules: R[];
}
