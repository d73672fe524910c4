/**
 * Child process for the restore SIGKILL trials: loads goose's snapshot code, prints "ready",
 * then restores one snapshot to a file (as `goose snapshot restore` does) and prints "done".
 * The parent kills it at a random moment after "ready", so the kills land in the restore work,
 * not in module loading.
 */
import { openStore } from "../../src/store/index.js";
import { restoreSnapshot } from "../../src/snapshots/index.js";

const [storeDir, id, outPath] = process.argv.slice(2);
if (!storeDir || !id || !outPath) throw new Error("usage: restore-child.ts STORE_DIR ID OUT");
const store = openStore(`file://${storeDir}`, process.env);
process.stdout.write("ready\n");
await restoreSnapshot(store, id, process.env, outPath);
process.stdout.write("done\n");
