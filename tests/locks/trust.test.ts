/**
 * Issue 10, items 2, 3, 9, 11 and 13 (leases, stores, appends): racing real processes against the
 * file store and against S3 on loopback (s3rver behind our CAS-enforcing proxy), SIGKILL at random
 * points, corrupt lease files, stores without conditional writes and raw store errors.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, FileObjectStore, type ObjectStore } from "../../src/store/index.js";
import {
  ConditionalWritesUnsupportedError,
  StoreError,
  assertConditionalWrites,
} from "../../src/store/index.js";
import { LeaseLostError, leaseKey, openLocks } from "../../src/locks/index.js";
import { openEvidenceChain } from "../../src/evidence/index.js";
import { runGoose } from "../helpers/cli.js";
import { exitCodeOf } from "../../src/cli/errors.js";
import { startCasS3, startS3rver, type RunningS3 } from "../store/s3rver.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../..");
const evidenceKey = randomBytes(32).toString("base64");
/** Anchors of this run's stores stay in a temp config dir (never the user's ~/.config). */
const baseEnv = {
  ...process.env,
  GOOSE_EVIDENCE_KEY: evidenceKey,
  XDG_CONFIG_HOME: mkdtempSync(path.join(tmpdir(), "goose-trust-config-")),
};

interface Line {
  name?: string;
  won?: boolean;
  heldBy?: string;
  generation?: number;
  id?: string;
  seq?: number;
  ready?: boolean;
}

function startWorker(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(here, "trust-worker.ts"), ...args],
    {
      cwd: repoRoot,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const lines: Line[] = [];
  let buf = "";
  let err = "";
  let onLine: (() => void) | undefined;
  child.stdout.on("data", (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)) as Line);
      buf = buf.slice(i + 1);
      onLine?.();
    }
  });
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on("close", (code, signal) => r({ code, signal })),
  );
  const ready = new Promise<void>((r) => {
    onLine = () => {
      if (lines.length > 0) r();
    };
  });
  return { child, lines, done, ready, stderr: () => err };
}

async function runWorker(args: string[], env: NodeJS.ProcessEnv): Promise<Line[]> {
  const w = startWorker(args, env);
  const { code } = await w.done;
  if (code !== 0) throw new Error(`worker ${args.join(" ")} exited ${code}: ${w.stderr()}`);
  return w.lines;
}

function fileStore(): { url: string; dir: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "goose-trust-"));
  return { dir, url: pathToFileURL(dir).href };
}

/** A process that existed and is now gone: its pid and /proc start time. */
async function deadProcess(): Promise<{ pid: number; start: string }> {
  const p: ChildProcess = spawn("sleep", ["30"], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 50));
  const stat = readFileSync(`/proc/${p.pid}/stat`, "utf8");
  const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "0";
  const gone = new Promise((r) => p.on("exit", r));
  p.kill("SIGKILL");
  await gone;
  return { pid: p.pid ?? 0, start };
}

function expiredLease(holder: string): string {
  const past = new Date(Date.now() - 120_000).toISOString();
  return JSON.stringify({
    stage: "sandbox",
    kind: "scan",
    holder,
    token: "dead0000dead0000dead0000",
    pid: 1,
    host: "gone",
    acquiredAt: past,
    heartbeatAt: past,
    expiresAt: past,
    ttlSeconds: 60,
  });
}

async function raceAcquire(url: string, env: NodeJS.ProcessEnv, racers: number) {
  const startAt = Date.now() + 2000;
  const results = (
    await Promise.all(
      Array.from({ length: racers }, (_, i) =>
        runWorker(["acquire", url, String(startAt), `racer-${i}`, "60"], env),
      ),
    )
  ).map((l) => l[0] as Line);
  return results;
}

describe("item 2: one holder per lease, across real processes", () => {
  it("file store: an expired lease plus a lock file left by a killed writer: exactly one of 8 racers wins (4 trials)", async () => {
    for (let trial = 0; trial < 4; trial++) {
      const { dir, url } = fileStore();
      const locksDir = path.join(dir, "locks", "sandbox");
      await openStore(url, {}).put("locks/sandbox/scan.json", expiredLease("killed"));
      // What a killed writer leaves behind: the old lock file (older than the old 30 s
      // threshold) and a claim of a process that no longer runs.
      const old = path.join(locksDir, ".goose-lock-scan.json");
      writeFileSync(old, "");
      const t = Date.now() / 1000 - 120;
      utimesSync(old, t, t);
      const dead = await deadProcess();
      writeFileSync(
        path.join(locksDir, `.goose-lock-scan.json~${hostname()}~${dead.pid}~${dead.start}~aa`),
        "",
      );
      const results = await raceAcquire(url, baseEnv, 8);
      const winners = results.filter((r) => r.won);
      expect(winners, `trial ${trial}: ${JSON.stringify(results)}`).toHaveLength(1);
      for (const r of results.filter((x) => !x.won)) expect(r.heldBy).toBe(winners[0]?.name);
      const status = await openLocks(openStore(url, {})).status("sandbox");
      expect(status.map((s) => s.holder)).toEqual([winners[0]?.name]);
      // Fencing: the takeover's generation is above the one it replaced.
      expect(winners[0]?.generation).toBe(1);
    }
  }, 240_000);

  describe("S3 through the CAS-enforcing proxy", () => {
    let s3: Awaited<ReturnType<typeof startCasS3>>;
    beforeAll(async () => {
      s3 = await startCasS3("trust-race");
    });
    afterAll(async () => s3?.close());

    it("8 racers on a fresh lease and 8 on an expired one: exactly one winner each", async () => {
      const env = { ...baseEnv, ...s3.env };
      for (const prefix of ["fresh", "expired"]) {
        const url = `s3://${s3.bucket}/${prefix}`;
        if (prefix === "expired") {
          await openStore(url, s3.env).put("locks/sandbox/scan.json", expiredLease("killed"));
        }
        const results = await raceAcquire(url, env, 8);
        expect(
          results.filter((r) => r.won),
          JSON.stringify(results),
        ).toHaveLength(1);
        const status = await openLocks(openStore(url, s3.env)).status("sandbox");
        expect(status).toHaveLength(1);
        expect(status[0]?.holder).toBe(results.find((r) => r.won)?.name);
      }
      expect(s3.proxy.stats.rejected).toBeGreaterThan(0);
    }, 120_000);

    it("4 processes × 8 evidence appends: every reported record is in the chain once, it verifies", async () => {
      const url = `s3://${s3.bucket}/appends`;
      const env = { ...baseEnv, ...s3.env };
      const startAt = Date.now() + 3000;
      const out = (
        await Promise.all(
          [0, 1, 2, 3].map((i) => runWorker(["append", url, String(startAt), `w${i}`, "8"], env)),
        )
      ).flat();
      await expectChainHolds(openStore(url, s3.env), out, 32, env);
    }, 180_000);
  });

  it("file store: 6 processes × 10 evidence appends: no lost record, no duplicate seq", async () => {
    const { url } = fileStore();
    const startAt = Date.now() + 3000;
    const out = (
      await Promise.all(
        [0, 1, 2, 3, 4, 5].map((i) =>
          runWorker(["append", url, String(startAt), `w${i}`, "10"], baseEnv),
        ),
      )
    ).flat();
    await expectChainHolds(openStore(url, {}), out, 60, baseEnv);
  }, 180_000);
});

async function expectChainHolds(
  store: ObjectStore,
  reported: Line[],
  expected: number,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  expect(reported).toHaveLength(expected);
  const seqs = reported.map((l) => l.seq);
  expect(new Set(seqs).size).toBe(expected);
  const chain = openEvidenceChain(store, env);
  const v = await chain.verify();
  expect(v.ok, JSON.stringify(v.firstBad)).toBe(true);
  expect(v.records).toBe(expected);
  const ids = new Set((await chain.list()).map((r) => r.id));
  for (const l of reported) expect(ids.has(l.id ?? "")).toBe(true);
}

describe("items 2 and 11: SIGKILL at random points", () => {
  it("a claim left by a killed writer never blocks or fails the next append; a live one excludes", async () => {
    const { dir, url } = fileStore();
    const chain = openEvidenceChain(openStore(url, {}), baseEnv);
    const input = { kind: "test.x", subject: [{ name: "x", digest: { sha256: "00" } }], data: {} };
    await chain.append(input);
    const evDir = path.join(dir, "evidence");
    // The old lock file a killed writer left (fresh: younger than the old 30 s threshold) …
    writeFileSync(path.join(evDir, ".goose-lock-chain.jsonl"), "");
    // … and a claim of a process that is gone.
    const dead = await deadProcess();
    writeFileSync(
      path.join(evDir, `.goose-lock-chain.jsonl~${hostname()}~${dead.pid}~${dead.start}~bb`),
      "",
    );
    const rec = await chain.append(input);
    expect(rec.seq).toBe(2);
    expect(readdirSync(evDir).filter((n) => n.includes(`~${dead.pid}~`))).toEqual([]);

    // A claim of a live process holds the next writer until that process is gone.
    const live = spawn("sleep", ["30"], { stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 50));
    const stat = readFileSync(`/proc/${live.pid}/stat`, "utf8");
    const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    writeFileSync(
      path.join(evDir, `.goose-lock-chain.jsonl~${hostname()}~${live.pid}~${start}~cc`),
      "",
    );
    let finished = false;
    const pending = chain.append(input).then((r) => {
      finished = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 400));
    expect(finished).toBe(false);
    live.kill("SIGKILL");
    expect((await pending).seq).toBe(3);
    expect((await chain.verify()).ok).toBe(true);
  }, 60_000);

  it("20 appending processes killed at random delays: no lost record, the next append succeeds", async () => {
    const { url } = fileStore();
    const store = openStore(url, {});
    const reported: Line[] = [];
    for (let trial = 0; trial < 20; trial++) {
      const w = startWorker(["loop-append", url, `k${trial}`], baseEnv);
      await w.ready;
      await new Promise((r) => setTimeout(r, Math.random() * 300));
      w.child.kill("SIGKILL");
      await w.done;
      reported.push(...w.lines.filter((l) => l.id));
      // The next writer is neither blocked for long nor failed by what the killed one left.
      const rec = await openEvidenceChain(store, baseEnv).append({
        kind: "test.after-kill",
        subject: [{ name: `after:${trial}`, digest: { sha256: "00" } }],
        data: {},
      });
      reported.push({ id: rec.id, seq: rec.seq });
    }
    const chain = openEvidenceChain(store, baseEnv);
    const v = await chain.verify();
    expect(v.ok, JSON.stringify(v.firstBad)).toBe(true);
    const ids = new Set((await chain.list()).map((r) => r.id));
    for (const l of reported) expect(ids.has(l.id ?? ""), l.id).toBe(true);
    expect(new Set(reported.map((l) => l.seq)).size).toBe(reported.length);
  }, 300_000);

  it("20 lease holders killed at random delays: afterwards 3 racers give exactly one holder", async () => {
    const { url } = fileStore();
    for (let trial = 0; trial < 20; trial++) {
      const w = startWorker(["loop-lease", url, `k${trial}`], baseEnv);
      await w.ready;
      await new Promise((r) => setTimeout(r, Math.random() * 300));
      w.child.kill("SIGKILL");
      await w.done;
      // The killed holder's lease (TTL 1 s) expires; racers then contend.
      await new Promise((r) => setTimeout(r, 1100));
      const results = await raceAcquire(url, baseEnv, 3);
      expect(
        results.filter((r) => r.won),
        JSON.stringify(results),
      ).toHaveLength(1);
      const store = openStore(url, {});
      const winner = results.find((r) => r.won);
      await openLocks(store).release("sandbox", "scan", { holder: winner?.name ?? "" });
    }
  }, 600_000);
});

describe("item 2: a release removes only its own lease (compare-and-swap)", () => {
  /** A file store whose next write to `key` first lets `before` run (a takeover in the gap). */
  function gapStore(dir: string, key: string, before: () => Promise<void>): ObjectStore {
    const inner = new FileObjectStore(dir);
    let armed = false;
    const fire = async (k: string) => {
      if (armed && k === key) {
        armed = false;
        await before();
      }
    };
    return Object.assign(Object.create(inner) as ObjectStore, {
      arm: () => (armed = true),
      put: async (k: string, body: string | Buffer, o?: object) => {
        await fire(k);
        return inner.put(k, body, o);
      },
      delete: async (k: string) => {
        await fire(k);
        return inner.delete(k);
      },
    });
  }

  it("holder A's release after B took over A's expired lease leaves B's lease in place", async () => {
    const { dir } = fileStore();
    let t = Date.now();
    const now = () => new Date(t);
    const plain = openLocks(new FileObjectStore(dir), { now });
    const store = gapStore(dir, leaseKey("sandbox", "scan"), async () => {
      t += 5_000; // A's lease (ttl 2 s) has expired: B takes it over.
      await plain.acquire("sandbox", "scan", { ttlSeconds: 60, holder: "B" });
    });
    const a = await plain.acquire("sandbox", "scan", { ttlSeconds: 2, holder: "A" });
    (store as unknown as { arm(): void }).arm();
    const err = await openLocks(store, { now })
      .release("sandbox", "scan", { token: a.token, holder: "A" })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LeaseLostError);
    const st = await plain.status("sandbox");
    expect(st.map((l) => [l.holder, l.expired])).toEqual([["B", false]]);
    expect(st[0]?.generation).toBe(a.generation + 1);
  });
});

describe("item 9: corrupt lease files", () => {
  const cases: Array<[string, string]> = [
    ["null", "null"],
    ["{}", "{}"],
    ["[]", "[]"],
    ["a string", '"held"'],
    ["not JSON", "{oops"],
    [
      "unparsable expiresAt",
      expiredLease("x").replace(/"expiresAt":"[^"]+"/, '"expiresAt":"tomorrow-ish"'),
    ],
    [
      "expiresAt in 2999",
      expiredLease("x").replace(/"expiresAt":"[^"]+"/, '"expiresAt":"2999-01-01T00:00:00.000Z"'),
    ],
  ];
  for (const [what, body] of cases) {
    it(`${what}: status reports it corrupt, acquire takes it over, release --force --reason frees it`, async () => {
      const { dir, url } = fileStore();
      const store = openStore(url, {});
      await store.put("locks/sandbox/scan.json", body);
      const st = await runGoose(["lock", "status", "--store", url, "--json"], {
        cwd: dir,
        env: baseEnv,
      });
      expect(st.code, st.stderr).toBe(0);
      const leases = (
        JSON.parse(st.stdout) as { leases: Array<{ corrupt?: string; expired: boolean }> }
      ).leases;
      expect(leases).toHaveLength(1);
      expect(leases[0]?.corrupt).toBeTruthy();
      expect(leases[0]?.expired).toBe(true);
      const human = await runGoose(["lock", "status", "--store", url], { cwd: dir, env: baseEnv });
      expect(human.stdout).toMatch(/CORRUPT lease file/);

      const rel = await runGoose(
        [
          "lock",
          "release",
          "sandbox",
          "--kind",
          "scan",
          "--force",
          "--reason",
          "corrupt file",
          "--store",
          url,
        ],
        { cwd: dir, env: baseEnv },
      );
      expect(rel.code, rel.stderr).toBe(0);
      expect(await openLocks(store).status("sandbox")).toEqual([]);
      const ev = await openEvidenceChain(store, baseEnv).list({ kind: "lock.force-release" });
      expect(ev).toHaveLength(1);

      await store.put("locks/sandbox/scan.json", body);
      const acq = await runGoose(
        [
          "lock",
          "acquire",
          "sandbox",
          "--kind",
          "scan",
          "--ttl",
          "60",
          "--holder",
          "me",
          "--store",
          url,
        ],
        { cwd: dir, env: baseEnv },
      );
      expect(acq.code, acq.stderr).toBe(0);
      expect((await openLocks(store).status("sandbox")).map((l) => l.holder)).toEqual(["me"]);
    });
  }
});

describe("item 3: stores without conditional writes are refused for every CAS user", () => {
  let raw: RunningS3;
  beforeAll(async () => {
    raw = await startS3rver("no-cas");
  });
  afterAll(async () => raw?.close());

  it("evidence appends, leases and the store check refuse with the same exit-2 error", async () => {
    const store = openStore(`s3://${raw.bucket}/x`, raw.env);
    const append = await openEvidenceChain(store, baseEnv)
      .append({ kind: "test.x", subject: [{ name: "x", digest: { sha256: "00" } }], data: {} })
      .catch((e: unknown) => e);
    expect(append).toBeInstanceOf(ConditionalWritesUnsupportedError);
    expect(exitCodeOf(append)).toBe(2);
    expect((append as StoreError).fix).toMatch(/--unsafe-store/);
    const lease = await openLocks(store)
      .acquire("sandbox", "scan", { ttlSeconds: 60, holder: "x" })
      .catch((e: unknown) => e);
    expect(lease).toBeInstanceOf(ConditionalWritesUnsupportedError);
    await expect(assertConditionalWrites(store)).rejects.toThrow(/--unsafe-store/);
    expect(await store.list("")).toEqual([]);
  });

  it("the CLI exits 2 naming the fix; --unsafe-store goes ahead with a warning", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "goose-nocas-"));
    const env = { ...baseEnv, ...raw.env };
    const url = `s3://${raw.bucket}/cli`;
    const args = ["lock", "acquire", "sandbox", "--kind", "scan", "--ttl", "60", "--store", url];
    const refused = await runGoose(args, { cwd: dir, env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/does not enforce conditional writes/);
    expect(refused.stderr).toMatch(/--unsafe-store/);
    const unsafe = await runGoose([...args, "--unsafe-store"], { cwd: dir, env });
    expect(unsafe.code, unsafe.stderr).toBe(0);
    expect(unsafe.stderr).toMatch(/warning: --unsafe-store/);
  });
});

describe("item 13: raw store errors become exit 2 naming the store, the variable and the fix", () => {
  it("no such bucket, endpoint refusing connections, unknown host", async () => {
    const s3 = await startS3rver("exists");
    const dir = mkdtempSync(path.join(tmpdir(), "goose-s3err-"));
    try {
      const nob = await runGoose(["lock", "status", "--store", "s3://missing-bucket/p"], {
        cwd: dir,
        env: { ...baseEnv, ...s3.env },
      });
      expect(nob.code).toBe(2);
      expect(nob.stderr).toMatch(
        /bucket "missing-bucket" of the store s3:\/\/missing-bucket\/p does not exist/,
      );
      expect(nob.stderr).toMatch(
        /aws s3 mb s3:\/\/missing-bucket --endpoint-url http:\/\/127\.0\.0\.1:\d+/,
      );
      expect(nob.stderr).not.toMatch(/NoSuchBucket:|^\s+at /m);
    } finally {
      await s3.close();
    }
    for (const endpoint of ["http://127.0.0.1:1", "http://no-such-host.invalid:9000"]) {
      const r = await runGoose(["lock", "status", "--store", "s3://some-bucket/p"], {
        cwd: dir,
        env: {
          ...baseEnv,
          GOOSE_S3_ENDPOINT: endpoint,
          AWS_ACCESS_KEY_ID: "a",
          AWS_SECRET_ACCESS_KEY: "b",
          AWS_MAX_ATTEMPTS: "1",
        },
      });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/cannot reach the S3 endpoint/);
      expect(r.stderr).toContain(endpoint);
      expect(r.stderr).toMatch(/GOOSE_S3_ENDPOINT/);
    }
  }, 120_000);
});
