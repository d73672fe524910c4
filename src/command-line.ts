/**
 * Commands that goose prints for the user to run (resume, rerun, fix hints) are built here, so each
 * argument is quoted for a POSIX shell and the printed line runs as printed.
 */

/** One argument, quoted only when a shell would otherwise split or expand it. */
export function shellQuote(arg: string): string {
  if (arg !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** `goose <args…>` with every argument quoted as needed. */
export function gooseCommand(args: readonly string[]): string {
  return ["goose", ...args.map(shellQuote)].join(" ");
}
