/**
 * The backup archive layout: the one definition of what the in-cluster backup agents write and
 * what a restore (goose dr drill) reads. Dependency-free on purpose (no Pulumi, no SDK, no node:
 * imports), so the drill can use it without loading the program.
 *
 * A backup is a *set*: a directory (backup volume) or a key prefix (S3 bucket), one per component
 * and run, never a tarball (the agents run in the aws-cli image, which has no tar):
 *
 *     <component>/<id>/manifest.json          written LAST: a set without it is incomplete
 *     prometheus/<id>/snapshot/<block>/...    the TSDB snapshot (admin API), as Prometheus wrote it
 *     grafana/<id>/grafana/grafana.db         Grafana's SQLite database
 *
 * `<id>` is the UTC start time `YYYYMMDDTHHMMSSZ`, so ids sort by time. The manifest lists every
 * file of the set with its size and SHA-256; a restore checks them before using the data.
 * Start a fresh Prometheus with `--storage.tsdb.path=<set>/snapshot` to read a restored TSDB.
 */
import { InputError } from "../errors.js";

/** Version of the layout; a manifest with another version is refused. */
export const BACKUP_LAYOUT_VERSION = 1;

/** `kind` of every manifest. */
export const BACKUP_MANIFEST_KIND = "goldengoose.backup";

/** The components that are backed up, each by its own agent in its own pod. */
export const BACKUP_COMPONENTS = ["prometheus", "grafana"] as const;
export type BackupComponent = (typeof BACKUP_COMPONENTS)[number];

/** The manifest's file name inside a set. */
export const MANIFEST_FILE = "manifest.json";

/** Directory (inside a prometheus set) holding the TSDB snapshot: a Prometheus data directory. */
export const PROMETHEUS_SNAPSHOT_DIR = "snapshot";

/** Path (inside a grafana set) of Grafana's database. */
export const GRAFANA_DB_PATH = "grafana/grafana.db";

/** A set id: the UTC start time, `YYYYMMDDTHHMMSSZ`. */
export const BACKUP_ID_PATTERN = /^\d{8}T\d{6}Z$/;

/** One file of a set, as listed in the manifest. */
export interface BackupFile {
  /** Path relative to the set, `/`-separated, no `..`. */
  path: string;
  bytes: number;
  /** Lower-case hex SHA-256 of the content. */
  sha256: string;
}

export interface BackupManifest {
  kind: typeof BACKUP_MANIFEST_KIND;
  version: typeof BACKUP_LAYOUT_VERSION;
  /** Stage the backup was taken in (a restore refuses a set of another stage). */
  stage: string;
  component: BackupComponent;
  /** The set id (its start time). */
  id: string;
  /** When the data was captured (snapshot taken / database copied), ISO 8601 UTC. */
  createdAt: string;
  /** prometheus: the snapshot directory inside the set (PROMETHEUS_SNAPSHOT_DIR). */
  prometheusSnapshotDir?: string;
  /** grafana: the database path inside the set (GRAFANA_DB_PATH). */
  grafanaDb?: string;
  files: BackupFile[];
}

/** The set id for a start time. */
export function backupId(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

/** The start time a set id stands for. */
export function backupIdTime(id: string): Date {
  if (!BACKUP_ID_PATTERN.test(id)) throw new BackupLayoutError(`"${id}" is not a backup id`);
  const iso = `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:${id.slice(11, 13)}:${id.slice(13, 15)}Z`;
  return new Date(iso);
}

/** Prefix of a set relative to the backup target's root (bucket or volume): `<component>/<id>/`. */
export function backupSetPrefix(component: BackupComponent, id: string): string {
  return `${component}/${id}/`;
}

/** Key (or path) of a set's manifest relative to the target's root. */
export function manifestKey(component: BackupComponent, id: string): string {
  return `${backupSetPrefix(component, id)}${MANIFEST_FILE}`;
}

/**
 * The set ids of `component` found among keys (relative to the target root) that have a manifest,
 * newest first. Sets without a manifest are incomplete (an agent died mid-upload) and skipped.
 */
export function completeSetIds(component: BackupComponent, keys: Iterable<string>): string[] {
  const ids = new Set<string>();
  for (const key of keys) {
    const parts = key.split("/");
    if (parts.length === 3 && parts[0] === component && parts[2] === MANIFEST_FILE) {
      if (BACKUP_ID_PATTERN.test(parts[1]!)) ids.add(parts[1]!);
    }
  }
  return [...ids].sort().reverse();
}

export class BackupLayoutError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = "BackupLayoutError";
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function safePath(p: unknown): p is string {
  return (
    typeof p === "string" &&
    p.length > 0 &&
    !p.startsWith("/") &&
    !p.split("/").some((s) => s === ".." || s === "." || s === "")
  );
}

/**
 * Parses and checks a manifest's text. Throws BackupLayoutError naming the field that is wrong;
 * `where` (a path or URL) goes into the message.
 */
export function parseBackupManifest(text: string, where = MANIFEST_FILE): BackupManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new BackupLayoutError(`${where}: not JSON (${(err as Error).message})`);
  }
  const bad = (field: string, want: string) =>
    new BackupLayoutError(`${where}: field ${field} must be ${want}`);
  if (!isObject(raw)) throw bad("(root)", "an object");
  if (raw["kind"] !== BACKUP_MANIFEST_KIND) throw bad("kind", `"${BACKUP_MANIFEST_KIND}"`);
  if (raw["version"] !== BACKUP_LAYOUT_VERSION)
    throw bad(
      "version",
      `${BACKUP_LAYOUT_VERSION} (this goose reads layout ${BACKUP_LAYOUT_VERSION})`,
    );
  if (typeof raw["stage"] !== "string" || raw["stage"] === "") throw bad("stage", "a stage name");
  const component = raw["component"];
  if (!(BACKUP_COMPONENTS as readonly unknown[]).includes(component))
    throw bad("component", `one of ${BACKUP_COMPONENTS.join(", ")}`);
  if (typeof raw["id"] !== "string" || !BACKUP_ID_PATTERN.test(raw["id"]))
    throw bad("id", "a backup id like 20260101T000000Z");
  if (typeof raw["createdAt"] !== "string" || Number.isNaN(Date.parse(raw["createdAt"])))
    throw bad("createdAt", "an ISO 8601 time");
  if (!Array.isArray(raw["files"]) || raw["files"].length === 0)
    throw bad("files", "a non-empty list");
  const files: BackupFile[] = [];
  for (const [i, f] of (raw["files"] as unknown[]).entries()) {
    if (!isObject(f)) throw bad(`files[${i}]`, "an object");
    if (!safePath(f["path"])) throw bad(`files[${i}].path`, "a relative path without . or ..");
    if (typeof f["bytes"] !== "number" || !Number.isInteger(f["bytes"]) || f["bytes"] < 0)
      throw bad(`files[${i}].bytes`, "a non-negative integer");
    if (typeof f["sha256"] !== "string" || !/^[0-9a-f]{64}$/.test(f["sha256"]))
      throw bad(`files[${i}].sha256`, "64 lower-case hex digits");
    files.push({ path: f["path"], bytes: f["bytes"], sha256: f["sha256"] });
  }
  const manifest: BackupManifest = {
    kind: BACKUP_MANIFEST_KIND,
    version: BACKUP_LAYOUT_VERSION,
    stage: raw["stage"],
    component: component as BackupComponent,
    id: raw["id"],
    createdAt: raw["createdAt"],
    files,
  };
  if (component === "prometheus") {
    if (raw["prometheusSnapshotDir"] !== PROMETHEUS_SNAPSHOT_DIR)
      throw bad("prometheusSnapshotDir", `"${PROMETHEUS_SNAPSHOT_DIR}"`);
    manifest.prometheusSnapshotDir = PROMETHEUS_SNAPSHOT_DIR;
    if (!files.some((f) => f.path.startsWith(`${PROMETHEUS_SNAPSHOT_DIR}/`)))
      throw bad("files", `a list with the snapshot's files under ${PROMETHEUS_SNAPSHOT_DIR}/`);
  } else {
    if (raw["grafanaDb"] !== GRAFANA_DB_PATH) throw bad("grafanaDb", `"${GRAFANA_DB_PATH}"`);
    manifest.grafanaDb = GRAFANA_DB_PATH;
    if (!files.some((f) => f.path === GRAFANA_DB_PATH))
      throw bad("files", `a list containing ${GRAFANA_DB_PATH}`);
  }
  return manifest;
}

/**
 * Compares the files found in a set with its manifest. `found` maps each path (relative to the
 * set, manifest excluded) to its size and SHA-256. Returns one sentence per problem (missing,
 * truncated, changed, unlisted file); empty when the set is intact.
 */
export function checkBackupSet(
  manifest: BackupManifest,
  found: ReadonlyMap<string, { bytes: number; sha256: string }>,
): string[] {
  const problems: string[] = [];
  for (const f of manifest.files) {
    const got = found.get(f.path);
    if (!got) problems.push(`${f.path} is missing`);
    else if (got.bytes !== f.bytes)
      problems.push(`${f.path} has ${got.bytes} bytes, the manifest says ${f.bytes}`);
    else if (got.sha256 !== f.sha256) problems.push(`${f.path} does not match its SHA-256`);
  }
  const listed = new Set(manifest.files.map((f) => f.path));
  for (const p of found.keys()) {
    if (p !== MANIFEST_FILE && !listed.has(p)) problems.push(`${p} is not in the manifest`);
  }
  return problems;
}
