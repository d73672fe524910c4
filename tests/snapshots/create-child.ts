/**
 * Child process for the SIGKILL test: creates snapshots of one export into a file store in a
 * loop, printing "ready" once, until it is killed.
 */
import { openStore } from "../../src/store/index.js";
import { createSnapshot, keySourceFromEnv } from "../../src/snapshots/index.js";

const [storeDir, exportPath] = process.argv.slice(2);
if (!storeDir || !exportPath) throw new Error("usage: create-child.ts STORE_DIR EXPORT");
const store = openStore(`file://${storeDir}`, process.env);
const keys = keySourceFromEnv(process.env);
process.stdout.write("ready\n");
for (;;) {
  await createSnapshot(store, {
    stage: "sandbox",
    source: exportPath,
    keys,
    reason: `pid ${process.pid}`,
  });
}
