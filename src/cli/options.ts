/**
 * Options and arguments every goose command shares, declared once: the stage argument (with a
 * did-you-mean), `--store`, the blackout sources of promote and rollback, and `--json`. Commands
 * parse with these, call one core function and print.
 */
import { Option } from "commander";
import { distance } from "fastest-levenshtein";
import { isStageName, STAGES, type StageName } from "../config/stages.js";
import { InputError } from "../errors.js";
import { DEFAULT_STORE_URL, openStore } from "../store/index.js";
import type { ObjectStore } from "../store/types.js";
import type { CliIo } from "./io.js";

/** The closest of `choices` to `value` when it is near enough to be a typo or a prefix. */
export function didYouMean(value: string, choices: readonly string[]): string | undefined {
  const v = value.toLowerCase();
  const prefixed = choices.filter((c) => v.length >= 2 && c.startsWith(v));
  if (prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of choices) {
    const d = distance(v, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3))
    ? best
    : undefined;
}

/** A stage argument: one of STAGES, else an InputError that lists them and suggests the nearest. */
export function stageArg(value: string): StageName {
  if (isStageName(value)) return value;
  const near = didYouMean(value, STAGES);
  throw new InputError(
    `unknown stage "${value}": expected one of ${STAGES.join(", ")}` +
      (near ? ` (did you mean "${near}"?)` : ""),
    { code: "unknown-stage", ...(near ? { fix: `use "${near}"` } : {}) },
  );
}

/** `--store URL` (default GOOSE_STORE, else file://.goose). */
export function storeOption(): Option {
  return new Option("--store <url>", "store: file://DIR or s3://BUCKET/PREFIX (env GOOSE_STORE)");
}

/** Opens the store a command names with `--store`, else GOOSE_STORE, else file://.goose. */
export function openStoreFor(io: CliIo, url: string | undefined): ObjectStore {
  return openStore(url ?? io.env.GOOSE_STORE ?? DEFAULT_STORE_URL, io.env, {
    cwd: io.cwd,
    ...(io.unsafeStore ? { unsafeStore: true } : {}),
    warn: (m) => io.stderr.write(`goose: ${m}\n`),
  });
}

/** `--json`: machine output on stdout, human lines on stderr. */
export function jsonOption(): Option {
  return new Option("--json", "machine output on stdout");
}

/** `--blackout-source <url>`, repeatable; `what` names whose jobs announce themselves there. */
export function blackoutSourceOption(what: string): Option {
  return new Option(
    "--blackout-source <url>",
    `Pushgateway where ${what} backup and scan jobs announce themselves; repeatable ` +
      "(env GOOSE_BLACKOUT_SOURCES, comma-separated; default: --pushgateway when set)",
  ).argParser((v: string, prev: string[] = []) => [...prev, v]);
}

/**
 * The Pushgateways to read blackouts from: the `--blackout-source` flags, else
 * GOOSE_BLACKOUT_SOURCES (comma-separated), else the `--pushgateway` the command pushes to.
 */
export function blackoutSources(
  io: CliIo,
  flags: string[] | undefined,
  pushgatewayUrl: string | undefined,
): string[] {
  if (flags) return flags;
  const fromEnv = io.env.GOOSE_BLACKOUT_SOURCES;
  if (fromEnv) {
    return fromEnv
      .split(",")
      .map((u) => u.trim())
      .filter(Boolean);
  }
  return pushgatewayUrl ? [pushgatewayUrl] : [];
}
