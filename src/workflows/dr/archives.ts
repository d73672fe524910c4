/**
 * Finding, fetching and checking the backup archives a restore drill restores, in the layout the
 * backup job writes (src/backup/archive-layout.ts): given files, the backup volume's folder, or
 * the stage's S3 bucket through the SDK (with the SSE-KMS header of each object checked).
 * Missing archives are UsageErrors (exit 2, naming the fix); damaged ones are failed checks.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import { UsageError } from "../../cli/errors.js";
import {
  archivePrefix,
  BACKUP_COMPONENTS,
  GRAFANA_DB_FILE,
  parseArchiveKey,
  type BackupComponent,
} from "../../backup/archive-layout.js";
import { s3ClientConfig } from "../../store/s3.js";
import { runCommand } from "./processes.js";

/** Where the drill takes its archives from. */
export type ArchiveSource =
  | { kind: "files"; files: string[] }
  | { kind: "volume"; dir: string }
  | { kind: "s3"; bucket: string; kmsKeyId?: string };

export interface FetchedArchive {
  component: BackupComponent;
  /** Where it came from: the file, or `s3://bucket/key`. */
  source: string;
  /** Local file the drill reads. */
  file: string;
  /** The backup's time: from the archive's name, else the file's mtime or the object's LastModified. */
  backupTime: string;
  backupTimeFrom: "name" | "mtime" | "last-modified";
  bytes: number;
  sha256: string;
  /** S3 only: the server-side encryption the object reports. */
  sse?: { algorithm?: string; kmsKeyId?: string };
}

export function describeSource(s: ArchiveSource): string {
  switch (s.kind) {
    case "files":
      return s.files.join(", ");
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

async function localArchive(
  file: string,
  component: BackupComponent | undefined,
): Promise<FetchedArchive & { componentKnown: boolean }> {
  const named = parseArchiveKey(file);
  const st = statSync(file);
  return {
    component: component ?? named?.component ?? "prometheus",
    componentKnown: Boolean(component ?? named),
    source: file,
    file,
    backupTime: (named?.time ?? st.mtime).toISOString(),
    backupTimeFrom: named ? "name" : "mtime",
    bytes: st.size,
    sha256: await sha256File(file),
  };
}

/** Newest archive of each component in a folder laid out as the backup volume. */
function newestInDir(dir: string): Record<BackupComponent, string> {
  if (!existsSync(dir)) {
    throw new UsageError(
      `${dir}: no such folder; pass --backup-dir the folder where the stage's backup volume is mounted (it holds prometheus/ and grafana/)`,
    );
  }
  const out = {} as Record<BackupComponent, string>;
  for (const c of BACKUP_COMPONENTS) {
    const sub = path.join(dir, c);
    const names = existsSync(sub)
      ? readdirSync(sub)
          .map((n) => ({ n, k: parseArchiveKey(`${c}/${n}`) }))
          .filter((x) => x.k)
          .sort((a, b) => a.k!.time.getTime() - b.k!.time.getTime())
      : [];
    const newest = names.at(-1);
    if (!newest) {
      throw new UsageError(
        `no ${c} archive in ${sub} (expected ${c}/<YYYYMMDDTHHMMSSZ>.tar.gz): run the backup job first (kubectl create job --from=cronjob/backup backup-now -n <namespace>), or pass --archive FILE`,
      );
    }
    out[c] = path.join(sub, newest.n);
  }
  return out;
}

async function fetchS3(
  src: Extract<ArchiveSource, { kind: "s3" }>,
  env: NodeJS.ProcessEnv,
  workDir: string,
): Promise<FetchedArchive[]> {
  const client = new S3Client(s3ClientConfig(env));
  try {
    const out: FetchedArchive[] = [];
    for (const c of BACKUP_COMPONENTS) {
      let newest: { key: string; time: Date } | undefined;
      let token: string | undefined;
      do {
        let page;
        try {
          page = await client.send(
            new ListObjectsV2Command({
              Bucket: src.bucket,
              Prefix: archivePrefix(c),
              ContinuationToken: token,
            }),
          );
        } catch (err) {
          throw new UsageError(
            `cannot list s3://${src.bucket}/${archivePrefix(c)} (${(err as Error).name}: ${(err as Error).message}); check --bucket, the AWS credentials and GOOSE_S3_ENDPOINT`,
          );
        }
        for (const o of page.Contents ?? []) {
          const k = o.Key ? parseArchiveKey(o.Key) : undefined;
          if (k && o.Key && (!newest || k.time > newest.time))
            newest = { key: o.Key, time: k.time };
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      if (!newest) {
        throw new UsageError(
          `no ${c} archive in s3://${src.bucket}/${archivePrefix(c)}: run the backup job first (kubectl create job --from=cronjob/backup backup-now -n <namespace>), or check --bucket`,
        );
      }
      const head = await client.send(
        new HeadObjectCommand({ Bucket: src.bucket, Key: newest.key }),
      );
      const file = path.join(workDir, `${c}.tar.gz`);
      const got = await client.send(new GetObjectCommand({ Bucket: src.bucket, Key: newest.key }));
      const h = createHash("sha256");
      const body = got.Body as Readable;
      let bytes = 0;
      body.on("data", (b: Buffer) => {
        h.update(b);
        bytes += b.length;
      });
      await pipeline(body, createWriteStream(file));
      out.push({
        component: c,
        source: `s3://${src.bucket}/${newest.key}`,
        file,
        backupTime: newest.time.toISOString(),
        backupTimeFrom: "name",
        bytes,
        sha256: h.digest("hex"),
        sse: {
          ...(head.ServerSideEncryption ? { algorithm: head.ServerSideEncryption } : {}),
          ...(head.SSEKMSKeyId ? { kmsKeyId: head.SSEKMSKeyId } : {}),
        },
      });
    }
    return out;
  } finally {
    client.destroy();
  }
}

/**
 * Fetches the newest archive of each component (S3: into `workDir`). Files given with --archive
 * are taken as they are; their component comes from the layout's name, else from their content.
 */
export async function fetchArchives(
  src: ArchiveSource,
  env: NodeJS.ProcessEnv,
  workDir: string,
  tarBin: string,
): Promise<FetchedArchive[]> {
  if (src.kind === "s3") return fetchS3(src, env, workDir);
  const files = src.kind === "volume" ? Object.values(newestInDir(src.dir)) : src.files;
  const out: FetchedArchive[] = [];
  for (const f of files) {
    if (!existsSync(f)) {
      throw new UsageError(
        `archive ${f} not found: pass --archive the path of a backup archive (<component>/<YYYYMMDDTHHMMSSZ>.tar.gz), or use --from-backup`,
      );
    }
    const a = await localArchive(f, undefined);
    if (!a.componentKnown) {
      const listed = await listArchive(tarBin, f);
      a.component = listed.ok && listed.component ? listed.component : "prometheus";
    }
    const { componentKnown: _known, ...rest } = a;
    void _known;
    out.push(rest);
  }
  const seen = new Set<string>();
  for (const a of out) {
    if (seen.has(a.component)) {
      throw new UsageError(
        `two ${a.component} archives given (${out
          .filter((x) => x.component === a.component)
          .map((x) => x.file)
          .join(", ")}): pass one archive per component`,
      );
    }
    seen.add(a.component);
  }
  for (const c of BACKUP_COMPONENTS) {
    if (!seen.has(c)) {
      throw new UsageError(
        `no ${c} archive given: a drill restores both Prometheus and Grafana; add --archive <dir>/${c}/<YYYYMMDDTHHMMSSZ>.tar.gz`,
      );
    }
  }
  return out;
}

export interface ArchiveListing {
  ok: boolean;
  /** tar's complaint when not ok (truncated, not gzip, not tar). */
  problem?: string;
  entries: string[];
  /** What the content says it is. */
  component?: BackupComponent;
}

/** Lists an archive with tar: a truncated or corrupt archive fails here, as tar reports it. */
export async function listArchive(tarBin: string, file: string): Promise<ArchiveListing> {
  const r = await runCommand(tarBin, ["-tzf", file]);
  const entries = r.stdout.split("\n").filter(Boolean);
  if (r.code !== 0) {
    return {
      ok: false,
      problem: r.stderr.trim().split("\n").slice(0, 3).join("; ") || `tar exited ${r.code}`,
      entries,
    };
  }
  const bad = entries.find((e) => e.startsWith("/") || e.split("/").includes(".."));
  if (bad) return { ok: false, problem: `unsafe member path "${bad}"`, entries };
  const norm = entries.map((e) => e.replace(/^\.\//, ""));
  const component = norm.includes(GRAFANA_DB_FILE)
    ? "grafana"
    : norm.some((e) => /^[0-9A-Z]{26}\/meta\.json$/.test(e))
      ? "prometheus"
      : undefined;
  return { ok: true, entries, ...(component ? { component } : {}) };
}

/** Extracts an archive into `dir` (which must exist). */
export async function extractArchive(tarBin: string, file: string, dir: string): Promise<void> {
  const r = await runCommand(tarBin, ["-xzf", file, "-C", dir, "--no-same-owner"]);
  if (r.code !== 0) {
    throw new Error(`tar -xzf ${file} failed: ${r.stderr.trim().split("\n")[0]}`);
  }
}
