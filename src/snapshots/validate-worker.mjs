// Worker entry of validate-parallel.ts: receives the export's resources as raw JSON bytes, in
// order, parses and checks them (ExportValidator), then the skeleton, and answers the result.
// Plain JavaScript so it starts under any loader. In dist/ (scripts/build.mjs) it loads the
// compiled validate.js beside it; under src/ it registers tsx for the TypeScript source.
import { existsSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";

const compiled = new URL("./validate.js", import.meta.url);
let ExportValidator;
if (existsSync(compiled)) {
  ({ ExportValidator } = await import(compiled.href));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ ExportValidator } = await import("./validate.ts"));
}
const validator = new ExportValidator(workerData ?? {});
const message = (err) => String(err && err.message ? err.message : err);

parentPort.on("message", (msg) => {
  try {
    if (msg.end) {
      const r = msg.end.error
        ? validator.complete(undefined, msg.end.error)
        : validator.complete({ skeleton: msg.end.skeleton, resources: msg.end.resources });
      parentPort.postMessage({ result: r });
      return;
    }
    const buf = Buffer.from(msg.buf);
    const meta = msg.meta;
    for (let i = 0; i < meta.length; i += 4) {
      const kind = meta[i] === 0 ? "resource" : "pending";
      const index = meta[i + 1];
      let value;
      try {
        value = JSON.parse(buf.toString("utf8", meta[i + 2], meta[i + 3]));
      } catch (err) {
        validator.acceptParseError(
          `${kind === "resource" ? "resources" : "pending_operations"}[${index}] is not valid JSON: ${message(err)}`,
        );
        continue;
      }
      if (kind === "resource") validator.acceptResource(value, index);
      else validator.acceptPending(value, index);
    }
    parentPort.postMessage("ack");
  } catch (err) {
    parentPort.postMessage({ error: message(err) });
  }
});
parentPort.postMessage("ready");
