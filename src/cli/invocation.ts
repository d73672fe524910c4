import type { Command } from "commander";

/**
 * The arguments goose was started with, as the user typed them (for "rerun" hints that must run
 * as printed): the root command's raw argv, without the `--json` flag, which changes only how the
 * result is printed.
 */
export function invocation(cmd: Command): string[] {
  let root = cmd;
  while (root.parent) root = root.parent;
  // commander keeps the argv given to parse() as `rawArgs` (untyped); main() parses `from: "user"`.
  const raw = (root as unknown as { rawArgs?: unknown }).rawArgs;
  const args = Array.isArray(raw) ? raw.map(String) : [];
  return args.filter((a) => a !== "--json");
}
