/**
 * One measured operation in its own process (so peak RSS is its own):
 *   child.ts create STORE_DIR EXPORT        → prints {"ms", "maxRssMb", "id"}
 *   child.ts restore STORE_DIR ID OUT       → prints {"ms", "maxRssMb"}
 * The key comes from GOOSE_SNAPSHOT_KEY.
 */
import { openStore } from "../../src/store/index.js";
import { createSnapshot, keySourceFromEnv, restoreSnapshot } from "../../src/snapshots/index.js";

const [op, storeDir, a, b] = process.argv.slice(2);
const store = openStore(`file://${storeDir}`, process.env);
const t0 = process.hrtime.bigint();
let id = "";
if (op === "create") {
  const m = await createSnapshot(store, {
    stage: "sandbox",
    source: a!,
    keys: keySourceFromEnv(process.env),
  });
  id = m.id;
} else if (op === "restore") {
  await restoreSnapshot(store, a!, process.env, b!);
} else throw new Error(`unknown op ${op}`);
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
process.stdout.write(
  JSON.stringify({ ms, maxRssMb: process.resourceUsage().maxRSS / 1024, id }) + "\n",
);
