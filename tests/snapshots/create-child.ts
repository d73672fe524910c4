/**
 * Child process for the SIGKILL and concurrency tests: creates snapshots of one export into a
 * file store in a loop, printing "ready" once, until it is killed (or once, with mode "once").
 */
import { openStore } from "../../src/store/index.js";
import { createSnapshot, keySourceFromEnv } from "../../src/snapshots/index.js";

const [storeDir, exportPath, mode] = process.argv.slice(2);
if (!storeDir || !exportPath) throw new Error("usage: create-child.ts STORE_DIR EXPORT [once]");
const store = openStore(`file://${storeDir}`, process.env);
const keys = keySourceFromEnv(process.env);
const take = () =>
  createSnapshot(store, {
    stage: "sandbox",
    source: exportPath,
    keys,
    reason: `pid ${process.pid}`,
  });
process.stdout.write("ready\n");
if (mode === "once") {
  const m = await take();
  process.stdout.write(`id ${m.id}\n`);
} else {
  for (;;) await take();
}
