/**
 * `goose snapshot create|verify|prune` publish SNAPSHOT_METRICS (src/config/metrics.ts, read by
 * the backups dashboard): to a real Pushgateway (Debian prometheus-pushgateway) under
 * job="goldengoose-snapshots", stage, when --pushgateway / GOOSE_PUSHGATEWAY_URL is set, else as
 * a textfile that promtool accepts.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SNAPSHOT_METRICS } from "../../src/config/metrics.js";
import { SNAPSHOT_METRICS_JOB } from "../../src/snapshots/index.js";
import { runGoose } from "../helpers/cli.js";
import { startPushgateway } from "../helpers/pushgateway.js";
import { cleanupTempDirs, fixture, tempDir, TEST_KEY } from "./helpers.js";

let pg: { url: string; stop: () => void };
beforeAll(async () => {
  pg = await startPushgateway();
});
afterAll(() => {
  pg?.stop();
  cleanupTempDirs();
});

const env = () => ({
  GOOSE_SNAPSHOT_KEY: TEST_KEY,
  GOOSE_EVIDENCE_KEY_FILE: join(tempDir(), "evidence.pem"),
});

/** The snapshot group's values on the Pushgateway (its JSON API), by metric name. */
async function pushed(stage: string): Promise<Record<string, number>> {
  const body = (await (await fetch(`${pg.url}/api/v1/metrics`)).json()) as {
    data: Array<Record<string, unknown> & { labels: Record<string, string> }>;
  };
  const group = body.data.find(
    (g) => g.labels.job === SNAPSHOT_METRICS_JOB && g.labels.stage === stage,
  );
  const out: Record<string, number> = {};
  for (const name of Object.values(SNAPSHOT_METRICS)) {
    const fam = group?.[name] as {
      metrics?: Array<{ labels: Record<string, string>; value: string }>;
    };
    const m = fam?.metrics?.[0];
    if (m) {
      expect(m.labels.stage).toBe(stage);
      out[name] = Number(m.value);
    }
  }
  return out;
}

async function create(cwd: string, e: NodeJS.ProcessEnv, extra: string[] = []) {
  const r = await runGoose(
    [
      "snapshot",
      "create",
      "compliance",
      "--from-file",
      fixture("checkpoint-v3.json"),
      "--json",
      ...extra,
    ],
    { cwd, env: e },
  );
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { id: string; createdAt: string; metrics: { published: string } };
}

describe("snapshot metrics", () => {
  it("create and verify push last created, last verified and the count to a real Pushgateway", async () => {
    const cwd = tempDir();
    const e = env();
    const first = await create(cwd, e, ["--pushgateway", pg.url]);
    expect(first.metrics.published).toBe(
      `${pg.url}/metrics/job/${SNAPSHOT_METRICS_JOB}/stage/compliance`,
    );
    let m = await pushed("compliance");
    expect(m[SNAPSHOT_METRICS.count]).toBe(1);
    expect(m[SNAPSHOT_METRICS.lastCreated]).toBe(Date.parse(first.createdAt) / 1000);
    expect(m[SNAPSHOT_METRICS.lastVerified]).toBeUndefined(); // never verified yet

    // GOOSE_PUSHGATEWAY_URL works as --pushgateway.
    const withEnv = { ...e, GOOSE_PUSHGATEWAY_URL: pg.url };
    const before = Date.now() / 1000;
    const v = await runGoose(["snapshot", "verify", first.id, "--json"], { cwd, env: withEnv });
    expect(v.code, v.stderr).toBe(0);
    const after = Date.now() / 1000;
    m = await pushed("compliance");
    expect(m[SNAPSHOT_METRICS.lastVerified]).toBeGreaterThanOrEqual(Math.floor(before));
    expect(m[SNAPSHOT_METRICS.lastVerified]).toBeLessThanOrEqual(Math.ceil(after));
    const verifiedAt = m[SNAPSHOT_METRICS.lastVerified];

    // A second create: the count and last created move; the last verify is kept.
    const second = await create(cwd, withEnv);
    m = await pushed("compliance");
    expect(m[SNAPSHOT_METRICS.count]).toBe(2);
    expect(m[SNAPSHOT_METRICS.lastCreated]).toBe(Date.parse(second.createdAt) / 1000);
    expect(m[SNAPSHOT_METRICS.lastVerified]).toBe(verifiedAt);

    // A failed verify does not move the last verify time.
    const payload = join(cwd, ".goose", "snapshots", "compliance", `${second.id}.payload`);
    writeFileSync(payload, Buffer.from("not the payload"));
    const bad = await runGoose(["snapshot", "verify", second.id], { cwd, env: withEnv });
    expect(bad.code).toBe(1);
    expect((await pushed("compliance"))[SNAPSHOT_METRICS.lastVerified]).toBe(verifiedAt);
  });

  it("without a Pushgateway: a textfile per stage that promtool accepts", async () => {
    const cwd = tempDir();
    const e = env();
    const c = await create(cwd, e);
    const file = join(cwd, ".goose", "metrics", "goldengoose_snapshots_compliance.prom");
    expect(c.metrics.published).toBe(file);
    const text = readFileSync(file, "utf8");
    expect(text).toContain(`${SNAPSHOT_METRICS.count}{stage="compliance"} 1\n`);
    expect(text).toContain(
      `${SNAPSHOT_METRICS.lastCreated}{stage="compliance"} ${Date.parse(c.createdAt) / 1000}\n`,
    );
    const v = await runGoose(["snapshot", "verify", c.id, "--metrics-dir", "m"], { cwd, env: e });
    expect(v.code, v.stderr).toBe(0);
    const verified = readFileSync(join(cwd, "m", "goldengoose_snapshots_compliance.prom"), "utf8");
    expect(verified).toMatch(
      new RegExp(`${SNAPSHOT_METRICS.lastVerified}\\{stage="compliance"\\} \\d+`),
    );
    const check = spawnSync("promtool", ["check", "metrics"], { input: verified });
    if (check.error) throw new Error("promtool is missing: apt-get install -y prometheus");
    expect(check.status, check.stderr.toString() + check.stdout.toString()).toBe(0);
  });

  it("a Pushgateway that cannot be reached is a warning: the snapshot is still taken", async () => {
    const cwd = tempDir();
    const r = await runGoose(
      [
        "snapshot",
        "create",
        "compliance",
        "--from-file",
        fixture("checkpoint-v3.json"),
        "--pushgateway",
        "http://127.0.0.1:9",
        "--json",
      ],
      { cwd, env: env() },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      "warning: snapshot metrics not published: cannot push snapshot metrics to http://127.0.0.1:9/",
    );
    expect(JSON.parse(r.stdout).metrics.error).toContain("check --pushgateway");
  });
});
