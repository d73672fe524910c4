import { Writable } from "node:stream";
import { main } from "../../src/cli/main.js";

/** A Writable that keeps what is written to it. */
export function sink(): { stream: Writable; text: () => string } {
  let text = "";
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  return { stream, text: () => text };
}

/** Runs `goose <args>` in-process through `main(argv, io)`; returns exit code and both streams. */
export async function runGoose(
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = sink();
  const err = sink();
  const code = await main(args, {
    stdout: out.stream,
    stderr: err.stream,
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    isTty: false,
  });
  return { code, stdout: out.text(), stderr: err.text() };
}
