import { Help, type Command } from "commander";
import type { CliIo, SetExitCode } from "../io.js";

export type { SetExitCode };

type Register = (program: Command, io: CliIo, setExitCode: SetExitCode) => unknown;

/**
 * Every top-level command: its help line (term and description, as `goose --help` prints them)
 * and how to load its module. `goose --help` and `goose --version` load no command module, and
 * `goose <command> …` loads that command's module only; tests/cli/lazy-commands.test.ts checks
 * these lines against the modules' own registration. In the order a user meets them (goose --help
 * lists them so): try, check, deploy, keep, test, move, undo, recover; then the operations' plumbing.
 */
export const COMMANDS: readonly {
  name: string;
  term: string;
  description: string;
  load: () => Promise<Register>;
}[] = [
  {
    name: "demo",
    term: "demo [options]",
    description:
      "the whole story in about a minute, with nothing but Node: preview, simulated deploy, snapshot, load test, promotion through every gate, a break and a rollback, the evidence chain",
    load: async () => (await import("./demo.js")).registerDemo,
  },
  {
    name: "preview",
    term: "preview [options] [stage]",
    description: "render a stage and run the policy pack on it (exit 1 on a mandatory violation)",
    load: async () => (await import("./preview.js")).registerPreview,
  },
  {
    name: "deploy",
    term: "deploy [options] <stage>",
    description:
      "simulated deployment of a stage with the offline engine (--offline, required): writes .goose/offline-state/<stage>.json; nothing leaves this machine",
    load: async () => (await import("./deploy.js")).registerDeploy,
  },
  {
    name: "snapshot",
    term: "snapshot",
    description: "encrypted stack exports: take, list, verify, restore, pin, prune, import",
    load: async () => (await import("./snapshot.js")).registerSnapshot,
  },
  {
    name: "loadtest",
    term: "loadtest",
    description: "load tests against a stage's baseline (load-test/)",
    load: async () => (await import("./loadtest.js")).registerLoadtest,
  },
  {
    name: "promote",
    term: "promote [options] <from> <to>",
    description:
      "move a release one stage forward through gates (exit 1 when a gate fails or a lease blocks)",
    load: async () => (await import("./promote.js")).registerPromote,
  },
  {
    name: "rollback",
    term: "rollback [options] <stage>",
    description:
      "roll a stage back to a verified snapshot: checks, recovery snapshot, import, refresh, update, health",
    load: async () => (await import("./rollback.js")).registerRollback,
  },
  {
    name: "dr",
    term: "dr",
    description: "disaster-recovery drills: restore the data backups, fail over replicas",
    load: async () => (await import("./dr.js")).registerDr,
  },
  {
    name: "lock",
    term: "lock",
    description: "operation leases that black out promotion and rollback on a stage",
    load: async () => (await import("./lock.js")).registerLock,
  },
  {
    name: "evidence",
    term: "evidence",
    description: "the signed, append-only evidence chain",
    load: async () => (await import("./evidence.js")).registerEvidence,
  },
  {
    name: "keys",
    term: "keys",
    description: "the snapshot key and the evidence signing key: create them, where they are",
    load: async () => (await import("./keys.js")).registerKeys,
  },
  {
    name: "pushgateway",
    term: "pushgateway",
    description: "the stage's Pushgateway groups (monitoring/config/push-groups.yaml)",
    load: async () => (await import("./pushgateway.js")).registerPushgateway,
  },
];

/**
 * Registers the command argv names with its full module, and every other command as a help-only
 * entry (name and description). With `all`, every module is loaded (tests compare the two).
 */
export async function registerCommands(
  program: Command,
  io: CliIo,
  setExitCode: SetExitCode,
  argv: readonly string[],
  all = false,
): Promise<void> {
  const wanted = all ? undefined : commandNameIn(argv);
  const stubTerms = new Map<Command, string>();
  for (const c of COMMANDS) {
    if (all || c.name === wanted) {
      (await c.load())(program, io, setExitCode);
    } else {
      stubTerms.set(program.command(c.name).description(c.description), c.term);
    }
  }
  if (stubTerms.size > 0) {
    program.configureHelp({
      subcommandTerm(cmd) {
        return stubTerms.get(cmd) ?? Help.prototype.subcommandTerm.call(this, cmd);
      },
    });
  }
}

/** The command argv runs: its first word that is not an option (`goose help X` runs X's help). */
function commandNameIn(argv: readonly string[]): string | undefined {
  const words = argv.filter((a) => !a.startsWith("-"));
  return words[0] === "help" ? words[1] : words[0];
}
