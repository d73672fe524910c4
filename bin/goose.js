#!/usr/bin/env node
// goose: runs the TypeScript sources directly through tsx, so there is no build step to forget.
import module from "node:module";
import { register } from "tsx/esm/api";

// Node's on-disk compile cache (os.tmpdir()/node-compile-cache): later runs skip V8 compilation
// of goose's modules and of the providers it loads.
module.enableCompileCache?.();
register();
// `goose … | head` closes the pipe early: that is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err) => {
    if (err.code !== "EPIPE") throw err;
  });
}
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
