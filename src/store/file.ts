import { createHash, randomBytes } from "node:crypto";
import { createReadStream, promises as fsp, readFileSync, type Stats } from "node:fs";
import { hostname } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  PreconditionFailedError,
  type ObjectStore,
  type PutOptions,
  type PutResult,
  type StoredObject,
} from "./types.js";
import { validateKey } from "./keys.js";

/** Basenames starting with this prefix are the store's own temp and lock files; never listed. */
const INTERNAL_PREFIX = ".goose-";
/** Temp files of puts: `.goose-tmp-<host>~<pid>~<start>~<random>` (see CLAIMS). */
const TMP_PREFIX = `${INTERNAL_PREFIX}tmp-`;
/** Temp files named before they carried their writer are swept once this old. */
const LEGACY_TMP_MAX_AGE_MS = 3600_000;

/**
 * The `file://DIR` adapter. Atomic puts: the body goes to a temp file beside the target,
 * is fsynced, then renamed into place (the directory is fsynced too). `ifNoneMatch` uses
 * `link(2)`, which fails with EEXIST when the key exists, so two processes racing to create
 * the same key cannot both win. `ifMatch` compares the etag and renames under a per-key claim
 * (see CLAIMS below: a claim dies with its process, it is never broken by age on this host).
 * The etag is the sha256 of the content.
 */
export class FileObjectStore implements ObjectStore {
  readonly url: string;

  constructor(readonly root: string) {
    this.url = pathToFileURL(root).href;
  }

  private pathOf(key: string): string {
    validateKey(key);
    const p = resolve(this.root, ...key.split("/"));
    const rel = relative(this.root, p);
    if (rel.startsWith("..") || rel === "") {
      throw new Error(`store key "${key}" escapes the store root ${this.root}`);
    }
    return p;
  }

  async put(
    key: string,
    body: Buffer | string | Readable,
    opts: PutOptions = {},
  ): Promise<PutResult> {
    const target = this.pathOf(key);
    const dir = dirname(target);
    await fsp.mkdir(dir, { recursive: true });
    // Named after its writer (see CLAIMS), so sweepTemporaries knows when the writer is gone.
    const tmp = join(dir, `${TMP_PREFIX}${ownClaimTag()}~${randomBytes(8).toString("hex")}`);
    let etag: string;
    try {
      etag = await writeSynced(tmp, body);
      if (opts.ifNoneMatch) {
        try {
          await fsp.link(tmp, target);
        } catch (err) {
          if (isCode(err, "EEXIST")) throw new PreconditionFailedError(key);
          throw err;
        }
        await fsp.unlink(tmp);
      } else if (opts.ifMatch !== undefined) {
        const expected = opts.ifMatch;
        await this.withKeyLock(target, async () => {
          const current = await fileEtag(target);
          if (current !== expected) throw new PreconditionFailedError(key);
          await fsp.rename(tmp, target);
        });
      } else {
        await fsp.rename(tmp, target);
      }
      await fsyncDir(dir);
    } finally {
      await fsp.rm(tmp, { force: true });
    }
    return { etag };
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const p = this.pathOf(key);
    let body: Buffer;
    try {
      body = await fsp.readFile(p);
    } catch (err) {
      if (isCode(err, "ENOENT") || isCode(err, "EISDIR")) return undefined;
      throw err;
    }
    return { body, etag: sha256(body) };
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const p = this.pathOf(key);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(p, "r");
      const st = await handle.stat();
      if (!st.isFile()) {
        await handle.close();
        return undefined;
      }
    } catch (err) {
      if (isCode(err, "ENOENT")) return undefined;
      throw err;
    }
    return handle.createReadStream({ highWaterMark: 1 << 20 });
  }

  async head(key: string): Promise<{ etag: string; size: number } | undefined> {
    const p = this.pathOf(key);
    let st: Stats;
    try {
      st = await fsp.stat(p);
    } catch (err) {
      if (isCode(err, "ENOENT")) return undefined;
      throw err;
    }
    if (!st.isFile()) return undefined;
    const etag = await fileEtag(p);
    if (etag === undefined) return undefined;
    return { etag, size: st.size };
  }

  async list(prefix: string): Promise<string[]> {
    // Walk only the deepest directory the prefix names, then filter by the full prefix.
    const slash = prefix.lastIndexOf("/");
    const dirPart = slash >= 0 ? prefix.slice(0, slash) : "";
    if (dirPart !== "") validateKey(dirPart);
    const start = dirPart === "" ? this.root : join(this.root, ...dirPart.split("/"));
    const out: string[] = [];
    await walk(start, async (file) => {
      const key = relative(this.root, file).split(sep).join("/");
      if (key.startsWith(prefix)) out.push(key);
    });
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    await fsp.rm(this.pathOf(key), { force: true });
  }

  async supportsConditionalWrites(): Promise<boolean> {
    return true;
  }

  /**
   * Runs `fn` while this process is the only live claimant of `target` (see CLAIMS below). No
   * claim is ever broken by age on this host: a claim counts until its owner process is gone.
   */
  /**
   * Removes this store's own temp files directly under `prefix` (a folder key like
   * `snapshots/sandbox/`) whose writer is gone: a process killed during a put leaves one. A temp
   * file counts as in use exactly as a claim does (see CLAIMS); one of the older unnamed form
   * (`.goose-tmp-<hex>`) once it is an hour old. Returns the names removed.
   */
  async sweepTemporaries(prefix: string): Promise<string[]> {
    const dir = join(this.root, ...prefix.split("/").filter(Boolean));
    if (relative(this.root, dir).startsWith("..")) return [];
    const names = await fsp.readdir(dir).catch(() => [] as string[]);
    const removed: string[] = [];
    for (const name of names) {
      if (!name.startsWith(TMP_PREFIX)) continue;
      const path = join(dir, name);
      const tag = name.slice(TMP_PREFIX.length);
      let stale: boolean;
      if (tag.includes("~")) stale = !(await claimAlive(tag, path));
      else {
        const st = await fsp.stat(path).catch(() => undefined);
        stale = st !== undefined && Date.now() - st.mtimeMs > LEGACY_TMP_MAX_AGE_MS;
      }
      if (stale) {
        await fsp.rm(path, { force: true });
        removed.push(name);
      }
    }
    return removed;
  }

  private async withKeyLock<T>(target: string, fn: () => Promise<T>): Promise<T> {
    const dir = dirname(target);
    const prefix = `${INTERNAL_PREFIX}lock-${basenameOf(target)}~`;
    const mine = join(dir, `${prefix}${ownClaimTag()}~${randomBytes(6).toString("hex")}`);
    const deadline = Date.now() + CLAIM_WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      await (await fsp.open(mine, "wx", 0o600)).close();
      let blocker: string | undefined;
      for (const name of await fsp.readdir(dir)) {
        if (!name.startsWith(prefix) || join(dir, name) === mine) continue;
        const other = join(dir, name);
        if (await claimAlive(name.slice(prefix.length), other)) {
          blocker = name;
          break;
        }
        // A dead process's claim never counts; removing it is only housekeeping.
        await fsp.rm(other, { force: true });
      }
      if (blocker === undefined) break;
      await fsp.rm(mine, { force: true });
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${CLAIM_WAIT_MS / 1000}s waiting for ${join(dir, blocker)}, held by a live ` +
            "process (its name says which host and pid); if that process hangs, stop it",
        );
      }
      const cap = Math.min(2 + 2 ** Math.min(attempt, 6), 80);
      await new Promise((r) => setTimeout(r, 1 + Math.random() * cap));
    }
    try {
      return await fn();
    } finally {
      await fsp.rm(mine, { force: true });
    }
  }
}

/*
 * CLAIMS. A compare-and-swap on a key (`ifMatch`) runs under a claim: an empty file
 * `.goose-lock-<name>~<host>~<pid>~<start>~<random>` beside the key, created with O_EXCL. After
 * creating its claim a process lists the directory; if any other live claim exists it withdraws
 * its own and retries after a random backoff ("create, then check"). Of two overlapping claimants
 * the later one always sees the earlier, so at most one proceeds. A claim is live while its owner
 * runs: on this host, while /proc/<pid>/stat shows the same process start time (so a reused pid
 * does not count); claims of other hosts (a shared filesystem) count for REMOTE_CLAIM_MS after
 * their last change. A claim whose owner was killed is simply ignored and removed by the next
 * claimant, so a SIGKILL never blocks or breaks the next writer, and no racer ever "breaks" a
 * lock another racer has just taken.
 */
/** How long a claimant waits for live claims to go away before giving up. */
const CLAIM_WAIT_MS = 60_000;
/** Claims from another host count as live for this long (their holders hold them for ms). */
const REMOTE_CLAIM_MS = 120_000;

const HOST_TAG =
  hostname()
    .replace(/[^A-Za-z0-9.-]/g, "_")
    .slice(0, 64) || "host";
let ownStart: string | undefined;

/** The start time of a process in clock ticks since boot (Linux /proc), or undefined. */
async function processStart(pid: number | "self"): Promise<string | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // Field 2 (comm) is in parentheses and may contain spaces; starttime is field 22.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return rest[19];
}

function ownClaimTag(): string {
  return `${HOST_TAG}~${process.pid}~${ownStart ?? "0"}`;
}

/** Read once at load so claim names carry this process's start time. */
try {
  const text = readFileSync("/proc/self/stat", "utf8");
  ownStart = text.slice(text.lastIndexOf(")") + 2).split(" ")[19];
} catch {
  ownStart = undefined;
}

async function claimAlive(tag: string, path: string): Promise<boolean> {
  const parts = tag.split("~");
  const [host, pidText, start] = parts;
  const pid = Number(pidText);
  if (parts.length !== 4 || !host || !Number.isInteger(pid) || pid <= 0) return false;
  if (host !== HOST_TAG) {
    const st = await fsp.stat(path).catch(() => undefined);
    return st !== undefined && Date.now() - st.mtimeMs < REMOTE_CLAIM_MS;
  }
  if (pid === process.pid && start === (ownStart ?? "0")) return true;
  if (start !== "0") {
    const actual = await processStart(pid);
    if (actual !== undefined) return actual === start;
    if (
      await fsp.stat("/proc/self/stat").then(
        () => true,
        () => false,
      )
    )
      return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !isCode(err, "ESRCH");
  }
}

function basenameOf(p: string): string {
  const i = p.lastIndexOf(sep);
  return i >= 0 ? p.slice(i + 1) : p;
}

async function writeSynced(path: string, body: Buffer | string | Readable): Promise<string> {
  const hash = createHash("sha256");
  const handle = await fsp.open(path, "wx", 0o600);
  try {
    if (typeof body === "string" || Buffer.isBuffer(body)) {
      const buf = typeof body === "string" ? Buffer.from(body, "utf8") : body;
      hash.update(buf);
      await handle.writeFile(buf);
    } else {
      for await (const chunk of body as AsyncIterable<Buffer | string>) {
        const b = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
        hash.update(b);
        await writeFully(handle, b);
      }
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return hash.digest("hex");
}

async function writeFully(handle: fsp.FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await handle.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

async function fileEtag(path: string): Promise<string | undefined> {
  const hash = createHash("sha256");
  try {
    await pipeline(createReadStream(path), hash);
  } catch (err) {
    if (isCode(err, "ENOENT")) return undefined;
    throw err;
  }
  return hash.digest("hex");
}

async function fsyncDir(dir: string): Promise<void> {
  const h = await fsp.open(dir, "r");
  try {
    await h.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  } finally {
    await h.close();
  }
}

async function walk(dir: string, visit: (file: string) => Promise<void>): Promise<void> {
  let entries;
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isCode(err, "ENOENT") || isCode(err, "ENOTDIR")) return;
    throw err;
  }
  for (const e of entries) {
    if (e.name.startsWith(INTERNAL_PREFIX)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) await walk(p, visit);
    else if (e.isFile()) await visit(p);
  }
}

function sha256(buf: Buffer): string {
  return createHash("sha256").update(buf).digest("hex");
}

export function isCode(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}

/** Collects a stream into one buffer (only for small objects). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}
