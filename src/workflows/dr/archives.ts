/**
 * Finding, fetching and checking the backup sets a restore drill restores, in the layout the
 * backup agents write (src/backup/archive-layout.ts: `<component>/<id>/` with a manifest written
 * last): sets given with --archive, the newest complete set of each component on the backup
 * volume's folder, or in the stage's S3 bucket through the SDK (the SSE-KMS header of every
 * object checked). Missing sets are InputErrors (exit 2, naming the fix); damaged ones are
 * failed checks.
 */
import { createHash } from "node:crypto";
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
} from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import {
  BACKUP_COMPONENTS,
  BACKUP_ID_PATTERN,
  backupIdTime,
  backupSetPrefix,
  checkBackupSet,
  completeSetIds,
  MANIFEST_FILE,
  parseBackupManifest,
  type BackupComponent,
  type BackupManifest,
} from "../../backup/archive-layout.js";
import { InputError } from "../../errors.js";
import { s3ClientConfig } from "../../store/s3.js";

/** Where the drill takes its backup sets from. */
export type ArchiveSource =
  | { kind: "sets"; dirs: string[] }
  | { kind: "volume"; dir: string }
  | { kind: "s3"; bucket: string; kmsKeyId?: string };

export interface FetchedSet {
  component: BackupComponent;
  id: string;
  /** Where it came from: the folder, or `s3://bucket/<component>/<id>/`. */
  source: string;
  /** The local folder the drill reads (S3: downloaded into the drill's work folder). */
  dir: string;
  /** The backup's time: the manifest's createdAt (when the data was captured), else the id's. */
  backupTime: string;
  backupTimeFrom: "manifest" | "id";
  files: number;
  bytes: number;
  /** SHA-256 of manifest.json (it lists every file's digest), when there is one. */
  manifestSha256?: string;
  /** S3 only: server-side encryption of each object of the set, as S3 reports it. */
  sse?: Array<{ key: string; algorithm?: string; kmsKeyId?: string }>;
}

export function describeSource(s: ArchiveSource): string {
  switch (s.kind) {
    case "sets":
      return s.dirs.join(", ");
    case "volume":
      return `volume ${s.dir}`;
    case "s3":
      return `s3://${s.bucket}`;
  }
}

async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  await pipeline(createReadStream(file), h);
  return h.digest("hex");
}

/** Every file under `dir`, as `/`-separated paths relative to it. */
function walk(dir: string, base = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, base), { withFileTypes: true })) {
    const rel = base ? `${base}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(dir, rel));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

/** Newest complete set (one with a manifest) of each component under a volume-like folder. */
function newestSetsIn(dir: string): string[] {
  if (!existsSync(dir)) {
    throw new InputError(`${dir}: no such folder`, {
      fix: "pass --backup-dir the folder where the stage's backup volume is mounted (it holds prometheus/ and grafana/)",
    });
  }
  return BACKUP_COMPONENTS.map((c) => {
    const sub = path.join(dir, c);
    const keys = existsSync(sub) ? readdirSync(sub).map((id) => `${c}/${id}/${MANIFEST_FILE}`) : [];
    const id = completeSetIds(
      c,
      keys.filter((k) => existsSync(path.join(dir, k))),
    )[0];
    if (!id) {
      throw new InputError(
        `no complete ${c} backup set in ${sub} (expected ${c}/<YYYYMMDDTHHMMSSZ>/${MANIFEST_FILE})`,
        {
          fix: "run the backup job first (kubectl create job --from=cronjob/backup backup-now -n <namespace>), or pass --archive <set folder>",
        },
      );
    }
    return path.join(sub, id);
  });
}

function describeLocal(dir: string): FetchedSet {
  const id = path.basename(dir);
  const component = path.basename(path.dirname(dir)) as BackupComponent;
  const files = walk(dir);
  let bytes = 0;
  for (const f of files) bytes += statSync(path.join(dir, f)).size;
  return {
    component,
    id,
    source: dir,
    dir,
    backupTime: BACKUP_ID_PATTERN.test(id) ? backupIdTime(id).toISOString() : "",
    backupTimeFrom: "id",
    files: files.length,
    bytes,
  };
}

async function fetchS3(
  src: Extract<ArchiveSource, { kind: "s3" }>,
  env: NodeJS.ProcessEnv,
  workDir: string,
): Promise<FetchedSet[]> {
  const client = new S3Client(s3ClientConfig(env));
  const list = async (prefix: string): Promise<string[]> => {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await client.send(
          new ListObjectsV2Command({
            Bucket: src.bucket,
            Prefix: prefix,
            ContinuationToken: token,
          }),
        );
      } catch (err) {
        throw new InputError(
          `cannot list s3://${src.bucket}/${prefix} (${(err as Error).name}: ${(err as Error).message})`,
          { fix: "check --bucket, the AWS credentials and GOOSE_S3_ENDPOINT" },
        );
      }
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  };
  try {
    const out: FetchedSet[] = [];
    for (const c of BACKUP_COMPONENTS) {
      const id = completeSetIds(c, await list(`${c}/`))[0];
      if (!id) {
        throw new InputError(
          `no complete ${c} backup set in s3://${src.bucket}/${c}/ (expected ${c}/<YYYYMMDDTHHMMSSZ>/${MANIFEST_FILE})`,
          {
            fix: "run the backup job first (kubectl create job --from=cronjob/backup backup-now -n <namespace>), or check --bucket",
          },
        );
      }
      const prefix = backupSetPrefix(c, id);
      const dir = path.join(workDir, "sets", c, id);
      const sse: NonNullable<FetchedSet["sse"]> = [];
      let bytes = 0;
      const keys = await list(prefix);
      for (const key of keys) {
        const rel = key.slice(prefix.length);
        const file = path.join(dir, ...rel.split("/"));
        mkdirSync(path.dirname(file), { recursive: true });
        const got = await client.send(new GetObjectCommand({ Bucket: src.bucket, Key: key }));
        await pipeline(got.Body as Readable, createWriteStream(file));
        bytes += statSync(file).size;
        sse.push({
          key,
          ...(got.ServerSideEncryption ? { algorithm: got.ServerSideEncryption } : {}),
          ...(got.SSEKMSKeyId ? { kmsKeyId: got.SSEKMSKeyId } : {}),
        });
      }
      out.push({
        component: c,
        id,
        source: `s3://${src.bucket}/${prefix}`,
        dir,
        backupTime: backupIdTime(id).toISOString(),
        backupTimeFrom: "id",
        files: keys.length,
        bytes,
        sse,
      });
    }
    return out;
  } finally {
    client.destroy();
  }
}

/**
 * Fetches the newest complete set of each component (S3: into `workDir`). Sets given with
 * --archive (a set folder or its manifest.json) are read where they are.
 */
export async function fetchSets(
  src: ArchiveSource,
  env: NodeJS.ProcessEnv,
  workDir: string,
): Promise<FetchedSet[]> {
  if (src.kind === "s3") return fetchS3(src, env, workDir);
  const dirs =
    src.kind === "volume"
      ? newestSetsIn(src.dir)
      : src.dirs.map((d) => (path.basename(d) === MANIFEST_FILE ? path.dirname(d) : d));
  const out: FetchedSet[] = [];
  for (const d of dirs) {
    if (!existsSync(d) || !statSync(d).isDirectory()) {
      throw new InputError(`backup set ${d} not found`, {
        fix: "pass --archive the folder of a backup set (<root>/<component>/<YYYYMMDDTHHMMSSZ>/), or use --from-backup",
      });
    }
    const set = describeLocal(d);
    // A set's component is the manifest's when it parses, else its folder's name.
    try {
      set.component = parseBackupManifest(
        readFileSync(path.join(d, MANIFEST_FILE), "utf8"),
      ).component;
    } catch {
      // judged by checkSet
    }
    if (!(BACKUP_COMPONENTS as readonly string[]).includes(set.component)) {
      throw new InputError(
        `${d} is not a backup set: its manifest is unreadable and its folder is not under prometheus/ or grafana/`,
        { fix: "pass --archive <root>/<component>/<YYYYMMDDTHHMMSSZ>/" },
      );
    }
    out.push(set);
  }
  for (const c of BACKUP_COMPONENTS) {
    const sets = out.filter((s) => s.component === c);
    if (sets.length > 1) {
      throw new InputError(`two ${c} backup sets given (${sets.map((s) => s.dir).join(", ")})`, {
        fix: "pass one set per component",
      });
    }
    if (sets.length === 0) {
      throw new InputError(
        `no ${c} backup set given: a drill restores both Prometheus and Grafana`,
        { fix: `add --archive <root>/${c}/<YYYYMMDDTHHMMSSZ>/` },
      );
    }
  }
  return out;
}

export interface SetCheck {
  manifest?: BackupManifest;
  problems: string[];
}

/**
 * Checks a fetched set against its manifest (archive-layout's parse and check): every file
 * present with its size and SHA-256, nothing unlisted, the component and the stage right. Sets
 * the backup time from the manifest's createdAt.
 */
export async function checkSet(set: FetchedSet, stage: string): Promise<SetCheck> {
  const file = path.join(set.dir, MANIFEST_FILE);
  if (!existsSync(file)) {
    return {
      problems: [
        `${set.source} has no ${MANIFEST_FILE}: an incomplete set (its upload never finished)`,
      ],
    };
  }
  const text = readFileSync(file, "utf8");
  set.manifestSha256 = createHash("sha256").update(text).digest("hex");
  let manifest: BackupManifest;
  try {
    manifest = parseBackupManifest(
      text,
      `${set.source}${set.source.endsWith("/") ? "" : "/"}${MANIFEST_FILE}`,
    );
  } catch (err) {
    return { problems: [(err as Error).message] };
  }
  set.backupTime = new Date(manifest.createdAt).toISOString();
  set.backupTimeFrom = "manifest";
  const found = new Map<string, { bytes: number; sha256: string }>();
  for (const rel of walk(set.dir)) {
    if (rel === MANIFEST_FILE) continue;
    const abs = path.join(set.dir, ...rel.split("/"));
    found.set(rel, { bytes: statSync(abs).size, sha256: await sha256File(abs) });
  }
  const problems = checkBackupSet(manifest, found);
  if (manifest.component !== set.component) {
    problems.push(`its manifest says component ${manifest.component}, not ${set.component}`);
  }
  if (manifest.id !== set.id) problems.push(`its manifest says id ${manifest.id}, not ${set.id}`);
  if (manifest.stage !== stage) {
    problems.push(`it was taken in stage ${manifest.stage}, not ${stage}: a set of another stage`);
  }
  return { manifest, problems };
}
