/**
 * Writing a restored export to a file without leaving plaintext behind.
 *
 * On Linux the plaintext goes to an anonymous file (`open(dir, O_TMPFILE)`): it has no name, so
 * whatever happens to the process (SIGKILL included) it vanishes with it. Only once the payload
 * authenticated (GCM tag, ciphertext and plaintext digests) is the file given its name, with
 * `linkat(…, AT_SYMLINK_FOLLOW)` through `/proc/self/fd` (run as `ln -L`, which makes exactly
 * that call: Node has no linkat). The output thus appears complete or not at all.
 *
 * Where that is not available (no O_TMPFILE, no /proc, no `ln`), restore authenticates the
 * whole payload first without writing anything, then decrypts it again into a temp file named
 * `.<out>.goose-restore-<pid>-<hex>` beside the output and renames it; a run killed in that
 * window leaves such a file, and the next restore into that directory removes it (its pid is
 * gone). Names of the older form `.<out>.goose-restore-<hex>` are removed once an hour old.
 */
import { spawn } from "node:child_process";
import { constants, createWriteStream, promises as fsp, type Stats } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";
import type { Writable } from "node:stream";
import { InputError } from "../errors.js";

/** Linux O_TMPFILE (__O_TMPFILE | O_DIRECTORY); Node does not export it. */
const O_TMPFILE = 0o20000000 | 0o200000;
const LEGACY_MAX_AGE_MS = 3600_000;

/** `--out` must name a file in an existing directory: InputError (exit 2) naming the flag. */
export async function checkOutPath(outPath: string, flag = "--out"): Promise<void> {
  const st = await fsp.stat(outPath).catch(() => undefined);
  if (st?.isDirectory()) {
    throw new InputError(
      `${flag} ${outPath} is a directory; name a file, e.g. ${flag} ${join(outPath, "export.json")}`,
    );
  }
  const dir = dirname(outPath);
  const parent = await fsp.stat(dir).catch((err: NodeJS.ErrnoException) => err);
  if (parent instanceof Error) {
    throw new InputError(
      parent.code === "ENOENT" || parent.code === "ENOTDIR"
        ? `${flag} ${outPath}: the directory ${dir} does not exist; create it (mkdir -p ${dir}) or choose another path`
        : `${flag} ${outPath}: cannot use the directory ${dir} (${parent.code ?? parent.message})`,
    );
  }
  if (!parent.isDirectory()) {
    throw new InputError(`${flag} ${outPath}: ${dir} is not a directory; choose another path`);
  }
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * Removes our own stale restore temporaries in `dir`: `.<name>.goose-restore-<pid>-<hex>` whose
 * process is gone, and the older `.<name>.goose-restore-<hex>` once an hour old. Returns them.
 */
export async function sweepRestoreTemporaries(dir: string, now = Date.now()): Promise<string[]> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const m = /^\..+\.goose-restore-(?:(\d+)-)?[0-9a-f]{8,}$/.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    let stale: boolean;
    if (m[1] !== undefined) stale = Number(m[1]) !== process.pid && processGone(Number(m[1]));
    else {
      const st: Stats | undefined = await fsp.lstat(path).catch(() => undefined);
      stale = st !== undefined && st.isFile() && now - st.mtimeMs > LEGACY_MAX_AGE_MS;
    }
    if (stale) {
      await fsp.rm(path, { force: true });
      removed.push(name);
    }
  }
  return removed;
}

/**
 * A write stream on a raw fd that leaves the fd open (the FileHandle keeps owning it; a
 * FileHandle's own streams hold it open until they close it, which would end the file).
 */
function fdStream(fd: number): Writable {
  return createWriteStream("", { fd, autoClose: false, emitClose: false });
}

function tempNameFor(outPath: string): string {
  return join(
    dirname(outPath),
    `.${basename(outPath)}.goose-restore-${process.pid}-${randomBytes(4).toString("hex")}`,
  );
}

/** `ln -L /proc/self/fd/3 target` with the anonymous file as fd 3: linkat(AT_SYMLINK_FOLLOW). */
function linkFd(fd: number, target: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("ln", ["-L", "--", "/proc/self/fd/3", target], {
      stdio: ["ignore", "ignore", "pipe", fd],
    });
    let err = "";
    child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`ln -L failed (${code}): ${err.trim()}`)),
    );
  });
}

/**
 * Writes what `produce` streams into `outPath`, only if it returns true (authenticated).
 * `produce(sink)` writes the plaintext into `sink` (null: check only, write nothing) and
 * resolves to whether every check passed. Nothing named holds plaintext unless it passed.
 */
export async function writeAuthenticated(
  outPath: string,
  produce: (sink: Writable | null) => Promise<boolean>,
): Promise<boolean> {
  await sweepRestoreTemporaries(dirname(outPath));
  const anon = await fsp
    .open(dirname(outPath), O_TMPFILE | constants.O_RDWR, 0o600)
    .catch(() => undefined);
  if (anon) {
    let linked = false;
    try {
      const ok = await produce(fdStream(anon.fd));
      if (!ok) return false;
      await anon.sync();
      linked = await materialize(anon.fd, outPath);
      if (linked) return true;
    } finally {
      await anon.close().catch(() => {});
    }
  }
  // No anonymous files here: authenticate first (nothing written), then write and rename.
  if (!(await produce(null))) return false;
  const tmp = tempNameFor(outPath);
  const handle = await fsp.open(tmp, "wx", 0o600);
  try {
    const ok = await produce(fdStream(handle.fd));
    if (!ok) return false;
    await handle.sync();
    await handle.close();
    await fsp.rename(tmp, outPath);
    return true;
  } finally {
    await handle.close().catch(() => {});
    await fsp.rm(tmp, { force: true });
  }
}

/** Names the anonymous file: straight at outPath when free, else a temp name renamed over it. */
async function materialize(fd: number, outPath: string): Promise<boolean> {
  try {
    await linkFd(fd, outPath);
    return true;
  } catch {
    // outPath exists (or appeared meanwhile): link beside it, then rename over it.
  }
  const tmp = tempNameFor(outPath);
  try {
    await linkFd(fd, tmp);
    await fsp.rename(tmp, outPath);
    return true;
  } catch {
    await fsp.rm(tmp, { force: true });
    return false;
  }
}
