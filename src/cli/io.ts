import type { Writable } from "node:stream";
import { PLAIN, type Painter } from "./style.js";

/**
 * Where a command writes. With `--json`, stdout carries exactly one JSON document and every
 * human line goes to stderr (DESIGN.md, CLI contract). Tests pass their own streams.
 */
export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** True when stderr is a terminal (live progress instead of plain lines). */
  isTty: boolean;
  /** True when stdout is a terminal (colour, src/cli/style.ts); absent: not a terminal. */
  stdoutIsTty?: boolean;
  /** Colour per stream, decided by main() from the terminals, NO_COLOR, FORCE_COLOR, --no-color. */
  paint?: { stdout: Painter; stderr: Painter };
  /**
   * Runs another goose command line in this process (`main` itself, set by main()): how `goose demo`
   * drives the commands without importing cli/main.ts, which imports the command table.
   */
  runGoose?: (argv: string[], io: CliIo) => Promise<number>;
  /** The command that runs, dot-separated (`snapshot.list`); set by main() before its action. */
  command?: string;
  /** `--unsafe-store` was given: see docs/locks-and-evidence.md. */
  unsafeStore?: boolean;
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    isTty: Boolean(process.stderr.isTTY),
    stdoutIsTty: Boolean(process.stdout.isTTY),
  };
}

export class Output {
  /** Colours for `line` (stdout, or stderr under --json) and for `info` (stderr). */
  readonly paint: Painter;
  readonly paintInfo: Painter;

  constructor(
    private readonly io: CliIo,
    readonly json: boolean,
  ) {
    this.paintInfo = io.paint?.stderr ?? PLAIN;
    this.paint = json ? this.paintInfo : (io.paint?.stdout ?? PLAIN);
  }

  /** A human line: stdout normally, stderr under --json. */
  line(text = ""): void {
    (this.json ? this.io.stderr : this.io.stdout).write(text + "\n");
  }

  /** Progress and warnings: always stderr. */
  info(text: string): void {
    this.io.stderr.write(text + "\n");
  }

  /**
   * The machine result: printed only under --json. Every document carries `kind` and `version`
   * (docs/output.md): a result without its own `kind` gets `goose.<command>` (e.g.
   * `goose.snapshot.list`) and version 1.
   */
  result(value: unknown): void {
    if (!this.json) return;
    const doc =
      value !== null && typeof value === "object" && !Array.isArray(value) && !("kind" in value)
        ? { kind: `goose.${this.io.command ?? "result"}`, version: 1, ...value }
        : value;
    this.io.stdout.write(JSON.stringify(doc, null, 2) + "\n");
  }
}

/**
 * Sets the process exit code for the command that ran (0, 1 or 2). A command that throws
 * UsageError or CheckFailedError does not need to call it.
 */
export type SetExitCode = (code: number) => void;
