/**
 * Fix hints that run as printed: a gate that tells the user to run a goose command prints it with
 * the flags the run it came from depended on (`--offline` for the offline engine, `--store` when
 * the store is not the one the command would open by itself), between backticks, so it can be
 * copied and is found by tests/cli/hints.test.ts, which runs each one.
 */
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gooseCommand, shellQuote } from "../command-line.js";
import type { ObjectStore } from "../store/types.js";

/** What a hinted command needs to reach the same stack and store as the run that printed it. */
export interface HintContext {
  /** The run used the offline engine: commands that take `--offline` get it. */
  offline: boolean;
  /** `["--store", url]` when the store differs from the default, else `[]`. */
  storeArgs: string[];
}

/** Hints for a plain run: the real engine, the default store. */
export const DEFAULT_HINTS: HintContext = { offline: false, storeArgs: [] };

/**
 * The hint context of a run on `store` from `cwd`: `--store` is added only when the store is not
 * what a command started in `cwd` with `env` opens by default (GOOSE_STORE, else file://.goose).
 */
export function hintContext(opts: {
  offline: boolean;
  store: Pick<ObjectStore, "url">;
  env: NodeJS.ProcessEnv;
  cwd: string;
}): HintContext {
  const byDefault = normaliseStoreUrl(opts.env.GOOSE_STORE ?? "file://.goose", opts.cwd);
  return {
    offline: opts.offline,
    storeArgs:
      normaliseStoreUrl(opts.store.url, opts.cwd) === byDefault ? [] : ["--store", opts.store.url],
  };
}

/** A store URL as the stores spell their own `url` (file: absolute file URL; s3: no trailing slash). */
function normaliseStoreUrl(url: string, cwd: string): string {
  if (url.startsWith("file://")) {
    const rest = url.slice("file://".length);
    const dir = rest.startsWith("/")
      ? fileURLToPath(url)
      : path.resolve(cwd, decodeURIComponent(rest));
    return pathToFileURL(dir).href;
  }
  return url.replace(/\/+$/, "");
}

/** Which of the context's flags a goose command accepts. */
export interface HintFlags {
  offline?: boolean;
  store?: boolean;
}

/**
 * `goose <args…>` between backticks, with `--offline` and `--store` added where the command takes
 * them (`flags`) and the context calls for them.
 */
export function hintCommand(args: readonly string[], ctx: HintContext, flags: HintFlags): string {
  return `\`${gooseCommand([
    ...args,
    ...(flags.offline && ctx.offline ? ["--offline"] : []),
    ...(flags.store ? ctx.storeArgs : []),
  ])}\``;
}

/** The commands gate fixes name, with the flags each accepts (checked against its --help in tests). */
export const HINTS = {
  snapshotCreate: (stage: string, ctx: HintContext) =>
    hintCommand(["snapshot", "create", stage], ctx, { offline: true, store: true }),
  snapshotVerify: (id: string, ctx: HintContext) =>
    hintCommand(["snapshot", "verify", id], ctx, { store: true }),
  snapshotList: (stage: string, ctx: HintContext) =>
    hintCommand(["snapshot", "list", stage], ctx, { store: true }),
  lockStatus: (stage: string, ctx: HintContext) =>
    hintCommand(["lock", "status", stage], ctx, { store: true }),
  preview: (stage: string, ctx: HintContext) =>
    hintCommand(["preview", stage], ctx, { offline: true, store: true }),
  /**
   * A restore drill needs where the backups are, which only the cluster or the stack knows: a
   * template with a placeholder, printed without backticks (it does not run as printed).
   */
  drDrill: (stage: string, target: "volume" | "s3" | undefined, ctx: HintContext) =>
    [
      "goose dr drill",
      stage,
      ...(target === "volume"
        ? ["--backup-dir <where its backup volume is mounted>"]
        : ["--from-backup --bucket <its backupBucket stack output>"]),
      ...ctx.storeArgs.map(shellQuote),
    ].join(" "),
} as const;
