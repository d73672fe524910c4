import { Command, CommanderError } from "commander";
import { exitCodeOf, fixOf, EXIT_USAGE, GooseError } from "./errors.js";
import { processIo, type CliIo } from "./io.js";
import { colourEnabled, painter } from "./style.js";
import { registerCommands } from "./commands/index.js";

/**
 * Entry point of `goose`: parse argv, run one command, return the exit code. No
 * `process.exit()` here or below, so tests call `main([...], io)` in-process.
 */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  // Decided before parsing, so usage errors are painted (or not) the same way as the rest.
  const noColorFlag = argv.includes("--no-color");
  io.paint = {
    stdout: painter(colourEnabled({ env: io.env, isTty: stdoutIsTty(io), noColorFlag })),
    stderr: painter(colourEnabled({ env: io.env, isTty: io.isTty, noColorFlag })),
  };
  io.runGoose = main;
  const paintErr = io.paint.stderr;
  const program = new Command("goose")
    .description("Take the Golden Goose platform through sandbox → compliance → production")
    .version(packageVersion(), "-V, --version")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText("after", ENVIRONMENT_HELP)
    .option("--no-color", "no colour in human output (as NO_COLOR=1; FORCE_COLOR=1 forces it)")
    .option(
      "--unsafe-store",
      "use an S3 endpoint that does not enforce conditional writes for leases, evidence and " +
        "manifests (only if nobody else writes to the store; see docs/locks-and-evidence.md)",
    )
    .hook("preAction", (root, action) => {
      const names: string[] = [];
      for (let c: Command | null = action; c && c !== root; c = c.parent) names.unshift(c.name());
      io.command = names.join(".");
      // Commands hold this io; they open stores through openStoreFor, which reads the flag.
      if ((root.opts() as { unsafeStore?: boolean }).unsafeStore) io.unsafeStore = true;
    });
  let exitCode = 0;
  try {
    await registerCommands(
      program,
      io,
      (code) => {
        exitCode = code;
      },
      argv,
    );
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (err) {
    const json = argv.includes("--json");
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage mistakes with 1, which we map to 2.
      if (err.exitCode === 0) return 0;
      if (json) {
        writeJsonError(io, {
          code: `usage.${err.code.replace(/^commander\./, "")}`,
          message: err.message.replace(/^error: /, ""),
          fix: "run the command with --help for its usage",
        });
      }
      return EXIT_USAGE;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`${paintErr("red", "goose:")} ${message}\n`);
    const fix = fixOf(err);
    if (fix && !message.includes(fix)) io.stderr.write(`  ${paintErr("bold", "fix:")} ${fix}\n`);
    const exitCode = exitCodeOf(err);
    if (json) {
      writeJsonError(io, {
        code: codeOf(err, exitCode),
        message,
        fix:
          fix ??
          (exitCode === 1
            ? "see the message: it names what failed; docs/troubleshooting.md"
            : "correct the input or prerequisite the message names, then rerun; docs/troubleshooting.md"),
      });
    }
    return exitCode;
  }
}

/** Is stdout a terminal: as the io says, else as its stream says. */
function stdoutIsTty(io: CliIo): boolean {
  return io.stdoutIsTty ?? Boolean((io.stdout as { isTTY?: boolean }).isTTY);
}

/** Schema version of the `goose.error` document (docs/output.md). */
export const ERROR_DOCUMENT_VERSION = 1;

/**
 * With --json, a failure prints exactly one JSON document on stdout:
 * `{ kind: "goose.error", version, error: { code, message, fix } }` (the human message stays on stderr).
 */
function writeJsonError(io: CliIo, error: { code: string; message: string; fix: string }): void {
  io.stdout.write(
    JSON.stringify({ kind: "goose.error", version: ERROR_DOCUMENT_VERSION, error }, null, 2) + "\n",
  );
}

/** A stable code: the error's own, else its kind from the exit code. */
function codeOf(err: unknown, exitCode: number): string {
  if (err instanceof GooseError) return err.code;
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && code) return code;
  return exitCode === 1 ? "check-failed" : "input";
}

function packageVersion(): string {
  return "0.1.0";
}

/** The variables goose reads, with their defaults (docs/environment.md has the full table). */
const ENVIRONMENT_HELP = `
Start here: npx goose demo   (the whole story locally, about a minute)

Environment (a flag wins over its variable; docs/environment.md lists every one):
  GOOSE_STORE                 store for leases, snapshots, evidence (default file://.goose)
  GOOSE_SNAPSHOT_KEY          snapshot key, base64 of 32 bytes (default: the key file)
  GOOSE_SNAPSHOT_KEY_FILE     snapshot key file (default ~/.config/goose/snapshot.key)
  GOOSE_SNAPSHOT_PASSPHRASE   snapshot passphrase instead of a key
  GOOSE_SNAPSHOT_MAX_BYTES    largest export snapshot create takes (default 2 GiB)
  GOOSE_EVIDENCE_KEY          evidence signing key (default: the key file)
  GOOSE_EVIDENCE_KEY_FILE     evidence key file (default ~/.config/goose/evidence-ed25519.pem)
  GOOSE_EVIDENCE_PUBLIC_KEY   pin the key evidence verify accepts
  GOOSE_S3_ENDPOINT           S3-compatible endpoint for s3:// stores (default AWS)
  GOOSE_KMS_ENDPOINT          KMS-compatible endpoint for --kms-key (default AWS)
  GOOSE_PUSHGATEWAY_URL       Pushgateway for metrics (default: textfile in .goose/metrics)
  GOOSE_BLACKOUT_SOURCES      Pushgateways announcing backup/scan jobs (default GOOSE_PUSHGATEWAY_URL)
  GOOSE_PUSHGATEWAY_PASSWORD_FILE  file with the Pushgateway's basic-auth password (or GOOSE_PUSHGATEWAY_PASSWORD)
  GOOSE_PUSHGATEWAY_USER      its basic-auth user (default goose)
  GOOSE_PROMETHEUS_URL        Prometheus checked after a rollback (default: not checked)
  GOOSE_PROMETHEUS_PASSWORD_FILE  file with the stage Prometheus' basic-auth password (or GOOSE_PROMETHEUS_PASSWORD)
  GOOSE_PROMETHEUS_USER       its basic-auth user (default goose)
  GOOSE_GRAFANA_URL           Grafana checked and annotated after a rollback (default: not checked)
  GOOSE_GRAFANA_TOKEN         Grafana API token for the rollback annotation
  GOOSE_POLICY_TIMEOUT        seconds before an unanswering policy pack fails (default 60)
  NO_COLOR                    any non-empty value: no colour (as --no-color); default: colour on a terminal
  FORCE_COLOR                 colour even when piped (not "0"/"false"); NO_COLOR and --no-color win
  GOOSE_PROGRESS_SECONDS      piped: seconds between progress lines on stderr (default 10; 0: every update)
  AWS_REGION, AWS_PROFILE…    region and credentials for s3:// stores and KMS (default us-east-1)

Exit codes: 0 ok, 1 a gate, check or verification failed, 2 bad input or a missing prerequisite.
`;
