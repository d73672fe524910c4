/**
 * Names shared between the components (what jobs and services expose), the Prometheus
 * configuration and the rules and dashboards in monitoring/. One place, so they cannot drift.
 */
export const METRIC_PREFIX = "goldengoose";

/** Scrape job names in each stage's prometheus.yml. */
export const SCRAPE_JOBS = {
  prometheus: "prometheus",
  alertmanager: "alertmanager",
  grafana: "grafana",
  /** Batch jobs (backup, scanner) push their results to the Pushgateway; scraped with honor_labels. */
  pushgateway: "pushgateway",
  /** The service under test (the load-test target). */
  service: "service",
} as const;

/** Metrics the backup CronJob pushes (grouping: job="goldengoose-backup", stage, component). */
export const BACKUP_METRICS = {
  /** Unix time of the last successful backup of `component` (prometheus | grafana). */
  lastSuccess: "goldengoose_backup_last_success_timestamp_seconds",
  /** Unix time of the last attempt, successful or not. */
  lastAttempt: "goldengoose_backup_last_attempt_timestamp_seconds",
  /** 1 when the last attempt succeeded, 0 when it failed. */
  lastStatus: "goldengoose_backup_last_status",
  /** Size of the last uploaded archive. */
  sizeBytes: "goldengoose_backup_size_bytes",
} as const;

/** Metrics the scanner CronJob pushes (grouping: job="goldengoose-scanner", stage). */
export const SCANNER_METRICS = {
  /** Findings of the last scan, by `severity` (LOW|MEDIUM|HIGH|CRITICAL) and `image`. */
  vulnerabilities: "goldengoose_scanner_vulnerabilities",
  /** Unix time of the last completed scan. */
  lastSuccess: "goldengoose_scanner_last_success_timestamp_seconds",
  /** 1 when the last scan completed, 0 when it failed. */
  lastStatus: "goldengoose_scanner_last_status",
} as const;

/** Metrics of the service under test that the SLO rules read (a standard HTTP histogram). */
export const SERVICE_METRICS = {
  requests: "http_requests_total",
  duration: "http_request_duration_seconds",
} as const;

/** Stage transitions: goose pushes this gauge while a promotion or rollback runs. */
export const TRANSITION_METRICS = {
  inProgress: "goldengoose_transition_in_progress",
  /**
   * 1 while a blackout runs on the stage: pushed by the in-cluster backup and scan jobs (grouping
   * job="goldengoose-blackout", stage, kind) and read back by goose before a transition.
   */
  blackout: "goldengoose_blackout_active",
  /**
   * Unix time at which the announcement above stops counting (the job's deadline), pushed with
   * it: a job killed before it could push 0 cannot block transitions past its deadline.
   */
  blackoutExpires: "goldengoose_blackout_expires_timestamp_seconds",
} as const;

/**
 * Stack snapshots (`goose snapshot create|verify` push these to the Pushgateway, grouping:
 * job="goldengoose-snapshots", stage). Shown on the "Backups and snapshots" dashboard.
 */
export const SNAPSHOT_METRICS = {
  /** Unix time of the newest snapshot of the stage. */
  lastCreated: "goldengoose_snapshot_last_created_timestamp_seconds",
  /** Unix time of the last successful `goose snapshot verify` of the stage. */
  lastVerified: "goldengoose_snapshot_last_verified_timestamp_seconds",
  /** Snapshots of the stage kept in the store. */
  count: "goldengoose_snapshots",
} as const;

/**
 * Disaster-recovery drills (`goose dr drill|failover` push these, grouping:
 * job="goldengoose-dr", stage, drill = restore | failover). Shown on the "Backups and snapshots"
 * dashboard; GoldenGooseRestoreDrillOverdue and GoldenGooseRestoreDrillFailed read them.
 */
export const DR_METRICS = {
  /** Unix time the last drill of the kind ended, passing or not. */
  lastDrill: "goldengoose_dr_last_drill_timestamp_seconds",
  /** Unix time of the last passing drill of the kind. */
  lastSuccess: "goldengoose_dr_last_success_timestamp_seconds",
  /** 1 when the last drill passed, 0 when it failed. */
  lastResult: "goldengoose_dr_last_result",
  /** Restore drills: seconds the newest restored sample lay behind the backup time. */
  rpo: "goldengoose_dr_rpo_seconds",
  /** Restore drills: seconds from the start of the restore to the first answered query. */
  rto: "goldengoose_dr_rto_seconds",
  /** Restore drills: series the restored Prometheus answered for at the newest sample. */
  restoredSeries: "goldengoose_dr_restored_series",
  /** Failover drills: seconds from firing after a replica was killed to the notification. */
  failover: "goldengoose_dr_failover_seconds",
  /** The stage's objectives (`objective` = rpo | rto | drill_max_age), seconds. */
  objective: "goldengoose_dr_objective_seconds",
} as const;
