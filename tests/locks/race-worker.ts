// One racer: waits until the agreed instant, tries to acquire the lease, prints the outcome.
import { openStore } from "../../src/store/index.js";
import { openLocks, LeaseHeldError } from "../../src/locks/index.js";

const [storeUrl, startAt, name] = process.argv.slice(2) as [string, string, string];
const locks = openLocks(openStore(storeUrl, process.env));
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
try {
  const lease = await locks.acquire("sandbox", "scan", { ttlSeconds: 60, holder: name });
  process.stdout.write(JSON.stringify({ name, won: true, token: lease.token }) + "\n");
} catch (err) {
  if (!(err instanceof LeaseHeldError)) throw err;
  process.stdout.write(JSON.stringify({ name, won: false, heldBy: err.lease.holder }) + "\n");
}
