import { Command, CommanderError } from "commander";
import { exitCodeOf, fixOf, EXIT_USAGE } from "./errors.js";
import { processIo, type CliIo } from "./io.js";
import { registerCommands } from "./commands/index.js";

/**
 * Entry point of `goose`: parse argv, run one command, return the exit code. No
 * `process.exit()` here or below, so tests call `main([...], io)` in-process.
 */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const program = new Command("goose")
    .description("Take the Golden Goose platform through sandbox → compliance → production")
    .version(packageVersion(), "-V, --version")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .showHelpAfterError("(run with --help for usage)")
    .option(
      "--unsafe-store",
      "use an S3 endpoint that does not enforce conditional writes for leases, evidence and " +
        "manifests (only if nobody else writes to the store; see docs/locks-and-evidence.md)",
    )
    .hook("preAction", (root) => {
      // Commands hold this io; they open stores through openStoreFor, which reads the flag.
      if ((root.opts() as { unsafeStore?: boolean }).unsafeStore) io.unsafeStore = true;
    });
  let exitCode = 0;
  registerCommands(program, io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage mistakes with 1, which we map to 2.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`goose: ${message}\n`);
    const fix = fixOf(err);
    if (fix && !message.includes(fix)) io.stderr.write(`  fix: ${fix}\n`);
    return exitCodeOf(err);
  }
}

function packageVersion(): string {
  return "0.1.0";
}
