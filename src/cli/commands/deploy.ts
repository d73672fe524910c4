import type { Command } from "commander";
import { parseStageName } from "../../config/stages.js";
import { UsageError } from "../errors.js";
import { Output, type CliIo } from "../io.js";
import type { SetExitCode } from "../io.js";
import { jsonOption } from "../options.js";

/**
 * `goose deploy <stage> --offline`: a simulated deployment through the offline engine (the program
 * under mocks; the state file .goose/offline-state/<stage>.json), so snapshots, promotion and
 * rollback can be tried without a cloud. A real stage is deployed with `pulumi up`.
 */
export function registerDeploy(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  program
    .command("deploy <stage>")
    .description(
      "simulated deployment of a stage with the offline engine (--offline, required): writes .goose/offline-state/<stage>.json; nothing leaves this machine",
    )
    .option(
      "--offline",
      "use the offline engine (required: real stages are deployed with pulumi up)",
    )
    .addOption(jsonOption())
    .action(async (stageText: string, o: { offline?: boolean; json?: boolean }) => {
      const out = new Output(io, Boolean(o.json));
      let stage;
      try {
        stage = parseStageName(stageText);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      if (!o.offline) {
        throw new UsageError(
          `goose deploys only with the offline engine (simulated): run \`goose deploy ${stage} --offline\`; deploy a real stage with \`pulumi up -s ${stage}\` (docs/platform.md)`,
        );
      }
      const { createEngine } = await import("../../engine/index.js");
      const engine = createEngine("offline", { cwd: io.cwd, env: io.env });
      const r = await engine.up(stage);
      const changes = Object.entries(r.resourceChanges)
        .filter(([, n]) => n > 0)
        .map(([op, n]) => `${op} ${n}`)
        .join(", ");
      out.line(
        `deployed ${stage} (simulated, offline engine): ${changes || "no changes"}; state in .goose/offline-state/${stage}.json, no cluster or account was touched`,
      );
      out.result({
        kind: "goose.deploy",
        version: 1,
        stage,
        mode: "offline",
        simulated: true,
        resourceChanges: r.resourceChanges,
      });
      setExitCode(0);
    });
}
