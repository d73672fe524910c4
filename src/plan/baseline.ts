/**
 * The baseline a plan compares a rendered stage against (`--against`), read into memory:
 * - `state`: the offline engine's state file of the stage;
 * - `snapshot:<id>`: a snapshot of the stage, verified and decrypted in memory;
 * - `latest-snapshot`: the newest snapshot of the stage that verifies;
 * - `file:<export.json>`: a `pulumi stack export` file (or a DIY backend checkpoint);
 * - default: the state when there is one, else the latest verified snapshot, else an empty stack.
 * The one part of src/plan that reads files and stores; the plan itself stays pure.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { gooseCommand } from "../command-line.js";
import type { StageName } from "../config/stages.js";
import { parseExport, readState } from "../engine/offline/state.js";
import { CheckFailedError, InputError } from "../errors.js";
import type { StackExport } from "../pulumi-export/index.js";
import type { KeyringLike } from "../snapshots/keyring.js";
import { listSnapshots, readSnapshotExport, stageOfId } from "../snapshots/index.js";
import type { ObjectStore } from "../store/types.js";
import type { PlanBaseline } from "./plan.js";

export type AgainstSpec =
  | { kind: "default" }
  | { kind: "state" }
  | { kind: "latest-snapshot" }
  | { kind: "snapshot"; id: string }
  | { kind: "file"; path: string };

export const AGAINST_FORMS = "state, snapshot:<id>, latest-snapshot or file:<export.json>";

/** `--against` text to a spec; InputError (exit 2) naming the forms otherwise. */
export function parseAgainst(text: string | undefined): AgainstSpec {
  if (text === undefined) return { kind: "default" };
  if (text === "state") return { kind: "state" };
  if (text === "latest-snapshot") return { kind: "latest-snapshot" };
  if (text.startsWith("snapshot:") && text.length > "snapshot:".length) {
    return { kind: "snapshot", id: text.slice("snapshot:".length) };
  }
  if (text.startsWith("file:") && text.length > "file:".length) {
    return { kind: "file", path: text.slice("file:".length) };
  }
  throw new InputError(`--against "${text}" is not a baseline: use ${AGAINST_FORMS}`, {
    code: "plan-against",
    fix: `pass --against ${AGAINST_FORMS}`,
  });
}

export interface BaselineContext {
  stage: StageName;
  cwd: string;
  /** The offline engine's state file of the stage. */
  statePath: string;
  /** The store of snapshots (opened only when a snapshot is needed). */
  store: () => ObjectStore;
  /** The keys trusted to read the stage's snapshots. */
  keys: () => KeyringLike;
  /** Notes for the user (which baseline was chosen, snapshots skipped). */
  note?: (message: string) => void;
}

export interface LoadedBaseline {
  export: StackExport | undefined;
  against: PlanBaseline;
}

/** Reads the baseline a spec names (see the header). */
export async function loadBaseline(
  spec: AgainstSpec,
  ctx: BaselineContext,
): Promise<LoadedBaseline> {
  switch (spec.kind) {
    case "state": {
      const state = readState(ctx.statePath, ctx.stage);
      if (!state) {
        throw new InputError(
          `${ctx.statePath} does not exist: stage ${ctx.stage} has no offline state to plan against`,
          {
            code: "plan-no-state",
            fix: `deploy it first (\`${gooseCommand(["deploy", ctx.stage, "--offline"])}\`) or plan against a snapshot (--against latest-snapshot)`,
          },
        );
      }
      return { export: state, against: { kind: "state", ref: ctx.statePath } };
    }
    case "file":
      return {
        export: readExportFile(resolve(ctx.cwd, spec.path), ctx.stage),
        against: { kind: "file", ref: spec.path },
      };
    case "snapshot": {
      const stage = stageOfId(spec.id);
      if (stage !== ctx.stage) {
        throw new InputError(
          `snapshot ${spec.id} is of stage ${stage}, not ${ctx.stage}: plan against a snapshot of the same stage`,
          {
            code: "plan-against",
            fix: `list them with \`${gooseCommand(["snapshot", "list", ctx.stage])}\``,
          },
        );
      }
      const { text } = await readSnapshotExport(ctx.store(), spec.id, ctx.keys());
      return {
        export: parseExport(text, ctx.stage, `snapshot ${spec.id}`),
        against: { kind: "snapshot", ref: spec.id },
      };
    }
    case "latest-snapshot": {
      const found = await latestVerified(ctx);
      if (!found) {
        throw new InputError(`stage ${ctx.stage} has no snapshot that verifies to plan against`, {
          code: "plan-no-snapshot",
          fix: `take one with \`${gooseCommand(["snapshot", "create", ctx.stage, "--offline"])}\`, or plan against the state (--against state)`,
        });
      }
      return found;
    }
    case "default": {
      if (existsSync(ctx.statePath)) return loadBaseline({ kind: "state" }, ctx);
      const found = await latestVerified(ctx);
      if (found) return found;
      ctx.note?.(
        `stage ${ctx.stage} has no offline state (${ctx.statePath}) and no snapshot: planning against an empty stack`,
      );
      return { export: undefined, against: { kind: "none" } };
    }
  }
}

/** The newest snapshot of the stage that verifies; undefined when there is none. */
async function latestVerified(ctx: BaselineContext): Promise<LoadedBaseline | undefined> {
  const listed = await listSnapshots(ctx.store(), ctx.stage);
  for (const s of listed) {
    try {
      const { text } = await readSnapshotExport(ctx.store(), s.id, ctx.keys());
      return {
        export: parseExport(text, ctx.stage, `snapshot ${s.id}`),
        against: { kind: "snapshot", ref: s.id },
      };
    } catch (err) {
      if (!(err instanceof CheckFailedError)) throw err;
      ctx.note?.(`snapshot ${s.id} skipped: ${err.message}`);
    }
  }
  return undefined;
}

/** A `pulumi stack export` file, or a DIY checkpoint (`{version, checkpoint: {latest}}`). */
export function readExportFile(path: string, stage: string): StackExport {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new InputError(`--against file:${path}: ${(err as Error).message}`, {
      code: "plan-against",
      fix: "name an export written by `pulumi stack export` or `goose snapshot restore <id> --out FILE`",
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return parseExport(text, stage, path); // names the JSON error
  }
  const cp = doc as { version?: number; checkpoint?: { latest?: unknown } } | null;
  if (cp && typeof cp === "object" && cp.checkpoint?.latest && !("deployment" in cp)) {
    return parseExport(
      JSON.stringify({ version: cp.version ?? 3, deployment: cp.checkpoint.latest }),
      stage,
      path,
    );
  }
  return parseExport(text, stage, path);
}
