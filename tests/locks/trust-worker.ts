// A racing or killable process for tests/locks/trust.test.ts. Modes:
//   acquire <storeUrl> <startAt> <name> <ttl>   one acquire at the agreed instant; prints the outcome
//   append <storeUrl> <startAt> <name> <count>  appends <count> records; prints each id as it lands
//   loop-append <storeUrl> <name>               appends until killed; prints each id as it lands
//   loop-lease <storeUrl> <name>                acquire (ttl 1 s) + release until killed
// The store's env (GOOSE_S3_ENDPOINT, AWS_*, GOOSE_EVIDENCE_KEY) comes from the parent.
import { openStore } from "../../src/store/index.js";
import { openLocks, LeaseHeldError } from "../../src/locks/index.js";
import { openEvidenceChain } from "../../src/evidence/index.js";

const [mode, storeUrl, a, b, c] = process.argv.slice(2) as [string, string, string, string, string];
const store = openStore(storeUrl, process.env);
const say = (v: unknown) => process.stdout.write(JSON.stringify(v) + "\n");
const waitUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));

if (mode === "acquire") {
  await waitUntil(Number(a));
  try {
    const lease = await openLocks(store).acquire("sandbox", "scan", {
      ttlSeconds: Number(c),
      holder: b,
    });
    say({ name: b, won: true, token: lease.token, generation: lease.generation });
  } catch (err) {
    if (!(err instanceof LeaseHeldError)) throw err;
    say({ name: b, won: false, heldBy: err.lease.holder });
  }
} else if (mode === "append") {
  const chain = openEvidenceChain(store, process.env);
  await waitUntil(Number(a));
  for (let i = 0; i < Number(c); i++) {
    const rec = await chain.append({
      kind: "test.race",
      subject: [{ name: `${b}:${i}`, digest: { sha256: "0".repeat(64) } }],
      data: { racer: b, i },
    });
    say({ id: rec.id, seq: rec.seq });
  }
} else if (mode === "loop-append") {
  const chain = openEvidenceChain(store, process.env);
  say({ ready: true });
  for (let i = 0; ; i++) {
    const rec = await chain.append({
      kind: "test.kill",
      subject: [{ name: `${a}:${i}`, digest: { sha256: "0".repeat(64) } }],
      data: { racer: a, i },
    });
    say({ id: rec.id, seq: rec.seq });
  }
} else if (mode === "loop-lease") {
  const locks = openLocks(store);
  say({ ready: true });
  for (;;) {
    try {
      const lease = await locks.acquire("sandbox", "scan", { ttlSeconds: 1, holder: a });
      await locks.release("sandbox", "scan", { token: lease.token, missingOk: true });
    } catch (err) {
      if (!(err instanceof LeaseHeldError)) throw err;
    }
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
