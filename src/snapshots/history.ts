import { promises as fsp } from "node:fs";
import { join } from "node:path";

export interface HistoryCheckpoint {
  /** Absolute path of `<stack>-<unixNanos>.checkpoint.json`. */
  path: string;
  project: string;
  stack: string;
  /** When Pulumi wrote it (from the file name's unix nanoseconds). */
  time: Date;
}

/**
 * The checkpoints of a DIY (file) backend's history, oldest first:
 * `<backendDir>/.pulumi/history/<project>/<stack>/<stack>-<unixNanos>.checkpoint.json`
 * (backendDir may also be the `.pulumi` directory itself). Compressed (.gz/.zst) copies are
 * listed by Pulumi with the same names plus a suffix; they are skipped with a note.
 */
export async function listHistoryCheckpoints(
  backendDir: string,
  filter: { project?: string; stack?: string } = {},
): Promise<{ checkpoints: HistoryCheckpoint[]; skipped: string[] }> {
  const root = backendDir.replace(/\/+$/, "").endsWith(".pulumi")
    ? backendDir
    : join(backendDir, ".pulumi");
  const history = join(root, "history");
  const out: HistoryCheckpoint[] = [];
  const skipped: string[] = [];
  const projects = await fsp.readdir(history).catch(() => [] as string[]);
  for (const project of projects.sort()) {
    if (filter.project && project !== filter.project) continue;
    const stacks = await fsp.readdir(join(history, project)).catch(() => [] as string[]);
    for (const stack of stacks.sort()) {
      if (filter.stack && stack !== filter.stack) continue;
      const files = await fsp.readdir(join(history, project, stack)).catch(() => [] as string[]);
      for (const f of files) {
        const m = /^(.+)-(\d+)\.checkpoint\.json(\.gz|\.zst)?$/.exec(f);
        if (!m) continue;
        if (m[3]) {
          skipped.push(`${join(history, project, stack, f)} (compressed; decompress it first)`);
          continue;
        }
        out.push({
          path: join(history, project, stack, f),
          project,
          stack,
          time: new Date(Number(BigInt(m[2]!) / 1_000_000n)),
        });
      }
    }
  }
  out.sort((a, b) => a.time.getTime() - b.time.getTime() || a.path.localeCompare(b.path));
  return { checkpoints: out, skipped };
}
