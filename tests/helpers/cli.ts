import { main } from "../../src/cli/main.js";
import { captureIo } from "../evidence/cli-io.js";

/** Runs `goose <args>` in-process through `main(argv, io)`; returns exit code and both streams. */
export async function runGoose(
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captureIo(opts.cwd, opts.env ?? process.env);
  const code = await main(args, io);
  return { code, stdout: io.out(), stderr: io.err() };
}
