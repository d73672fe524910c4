import { Writable } from "node:stream";
import type { CliIo } from "../../src/cli/io.js";

/** A CliIo whose streams are captured strings, for calling main() in-process. */
export function captureIo(
  cwd: string,
  env: NodeJS.ProcessEnv,
): CliIo & { out: () => string; err: () => string } {
  let out = "";
  let err = "";
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        append(chunk.toString());
        cb();
      },
    });
  return {
    stdout: sink((s) => (out += s)),
    stderr: sink((s) => (err += s)),
    env,
    cwd,
    isTty: false,
    out: () => out,
    err: () => err,
  };
}
