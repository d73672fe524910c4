import type { Command } from "commander";
import { InputError } from "../../errors.js";
import { Output, type CliIo } from "../io.js";
import type { SetExitCode } from "../io.js";
import { jsonOption, stageArg } from "../options.js";

/** `goose pushgateway prune <stage>`: delete the groups no job pushes any more. */
export function registerPushgateway(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  const pg = program
    .command("pushgateway")
    .description("the stage's Pushgateway groups (monitoring/config/push-groups.yaml)");

  pg.command("prune <stage>")
    .description(
      "delete groups of jobs that no longer exist: unknown jobs, foreign stages or labels, ended or lost ephemeral groups",
    )
    .option("--pushgateway <url>", "the stage's Pushgateway (env GOOSE_PUSHGATEWAY_URL)")
    .option("--dry-run", "only show what would be deleted")
    .addOption(jsonOption())
    .action(
      async (stageName: string, o: { pushgateway?: string; dryRun?: boolean; json?: boolean }) => {
        const out = new Output(io, Boolean(o.json));
        const stage = stageArg(stageName);
        const url = o.pushgateway ?? io.env.GOOSE_PUSHGATEWAY_URL;
        if (!url) {
          throw new InputError("goose pushgateway prune needs the stage's Pushgateway URL", {
            code: "pushgateway-missing",
            fix: `goose pushgateway prune ${stage} --pushgateway http://127.0.0.1:9091 (or set GOOSE_PUSHGATEWAY_URL)`,
          });
        }
        // Loaded here, not at the top: `goose pushgateway --help` loads no zod or yaml.
        const [{ loadPushGroups }, { prunePushgateway }, { loadThresholds }] = await Promise.all([
          import("../../monitoring/push-groups.js"),
          import("../../monitoring/pushgateway.js"),
          import("../../monitoring/thresholds.js"),
        ]);
        const r = await prunePushgateway(
          url,
          stage,
          loadPushGroups(),
          loadThresholds().stages[stage],
          { dryRun: Boolean(o.dryRun) },
        );
        const verb = o.dryRun ? "would delete" : "deleted";
        for (const d of r.decisions) {
          const group = Object.entries(d.group.labels)
            .map(([k, v]) => `${k}="${v}"`)
            .join(",");
          out.line(`  ${d.action === "delete" ? verb : "keep"} {${group}}: ${d.reason}`);
        }
        const toDelete = r.decisions.filter((d) => d.action === "delete").length;
        out.line(
          `${stage}: ${r.decisions.length} group(s) on ${url}, ${toDelete} ${verb}, ${r.decisions.length - toDelete} kept`,
        );
        out.result({
          kind: "goose.pushgateway.prune",
          version: 1,
          stage,
          dryRun: Boolean(o.dryRun),
          deleted: r.deleted,
          groups: r.decisions.map((d) => ({
            labels: d.group.labels,
            pushTime: d.group.pushTime,
            action: d.action,
            reason: d.reason,
          })),
        });
        setExitCode(0);
      },
    );
}
