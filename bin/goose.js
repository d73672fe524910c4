#!/usr/bin/env node
// goose: runs the TypeScript sources directly through tsx, so there is no build step to forget.
import { register } from "tsx/esm/api";

register();
// `goose … | head` closes the pipe early: that is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err) => {
    if (err.code !== "EPIPE") throw err;
  });
}
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
