/**
 * bench/snapshot: create and restore of a synthetic 100 MB stack export, beside the reference
 * `gzip -c | openssl enc -aes-256-ctr` plus `sha256sum` on the same file in the same run
 * (goal: at most 1.3× their time, issue 18), and peak memory of create and restore at 100 MB and 400 MB
 * (goal: under 200 MB, flat). Each measured operation runs in its own process.
 */
import { spawnSync } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { once } from "node:events";

const here = dirname(fileURLToPath(import.meta.url));
const work = mkdtempSync(join(tmpdir(), "goose-bench-snapshot-"));
const env = { ...process.env, GOOSE_SNAPSHOT_KEY: randomBytes(32).toString("base64") };

/** A v3 export of about `mb` MB: stack, provider, then buckets/roles with varied properties. */
async function writeExport(path: string, mb: number): Promise<void> {
  const out = createWriteStream(path);
  const stack = "urn:pulumi:sandbox::golden-goose::pulumi:pulumi:Stack::golden-goose-sandbox";
  const prov = "urn:pulumi:sandbox::golden-goose::pulumi:providers:aws::default_7_48_0";
  const write = async (s: string) => {
    if (!out.write(s)) await once(out, "drain");
  };
  await write(
    `{\n    "version": 3,\n    "deployment": {\n        "manifest": {"time": "2026-11-21T00:00:00Z", "magic": "", "version": ""},\n        "secrets_providers": {"type": "b64", "state": {}},\n        "resources": [\n`,
  );
  await write(JSON.stringify({ urn: stack, custom: false, type: "pulumi:pulumi:Stack" }));
  await write(
    ",\n" +
      JSON.stringify({
        urn: prov,
        custom: true,
        id: "0b1c",
        type: "pulumi:providers:aws",
        parent: stack,
        inputs: { region: "eu-west-1", version: "7.48.0" },
      }),
  );
  let bytes = 0;
  let i = 0;
  const target = mb * 1024 * 1024;
  while (bytes < target) {
    const name = `bucket-${i}`;
    const urn = `urn:pulumi:sandbox::golden-goose::aws:s3/bucket:Bucket::${name}`;
    const hex = randomBytes(12).toString("hex");
    const r = {
      urn,
      custom: true,
      id: `${name}-${hex}`,
      type: "aws:s3/bucket:Bucket",
      parent: stack,
      provider: `${prov}::0b1c`,
      inputs: {
        bucket: `${name}-${hex}`,
        tags: { stage: "sandbox", owner: "platform", index: String(i) },
        acl: "private",
      },
      outputs: {
        arn: `arn:aws:s3:::${name}-${hex}`,
        bucket: `${name}-${hex}`,
        bucketDomainName: `${name}-${hex}.s3.amazonaws.com`,
        region: "eu-west-1",
        tags: { stage: "sandbox", owner: "platform", index: String(i) },
        versioning: [{ enabled: i % 2 === 0, mfaDelete: false }],
        serverSideEncryptionConfiguration: [
          {
            rule: [
              {
                applyServerSideEncryptionByDefault: [
                  {
                    sseAlgorithm: "aws:kms",
                    kmsMasterKeyId: `arn:aws:kms:eu-west-1:123456789012:key/${randomBytes(16).toString("hex")}`,
                  },
                ],
              },
            ],
          },
        ],
      },
      dependencies:
        i > 0 ? [`urn:pulumi:sandbox::golden-goose::aws:s3/bucket:Bucket::bucket-${i - 1}`] : [],
    };
    const s = ",\n" + JSON.stringify(r);
    bytes += s.length;
    await write(s);
    i++;
  }
  await write("\n        ]\n    }\n}\n");
  out.end();
  await once(out, "finish");
}

function timeShell(cmd: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync("bash", ["-o", "pipefail", "-c", cmd], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (r.status !== 0) throw new Error(`reference command failed: ${cmd}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function child(
  args: string[],
  extraEnv: NodeJS.ProcessEnv = {},
): { ms: number; maxRssMb: number; id: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(here, "child.ts"), ...args], {
    env: { ...env, ...extraEnv },
    encoding: "utf8",
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`child ${args[0]} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as {
    ms: number;
    maxRssMb: number;
    id: string;
  };
}

function best<T extends { ms: number }>(runs: T[]): T {
  return runs.reduce((a, b) => (b.ms < a.ms ? b : a));
}

try {
  // On a shared machine the reference (three processes in a pipe) suffers more from load than
  // goose's one process: compare ratios from quiet runs.
  console.log(`load average at start: ${loadavg()[0]!.toFixed(1)}`);
  const k = randomBytes(32).toString("hex");
  const iv = randomBytes(16).toString("hex");
  const rows: string[] = [];
  for (const mb of [100, 400]) {
    const file = join(work, `export-${mb}.json`);
    await writeExport(file, mb);
    const size = statSync(file).size;
    const store = join(work, `store-${mb}`);
    const enc = join(work, `ref-${mb}.enc`);
    const reps = mb === 100 ? 3 : 1;
    const refCreate = Math.min(
      ...Array.from(
        { length: reps },
        () =>
          timeShell(`gzip -c ${file} | openssl enc -aes-256-ctr -K ${k} -iv ${iv} > ${enc}`) +
          timeShell(`sha256sum ${file}`),
      ),
    );
    const refRestore = Math.min(
      ...Array.from(
        { length: reps },
        () =>
          timeShell(
            `openssl enc -d -aes-256-ctr -K ${k} -iv ${iv} < ${enc} | gzip -dc > ${file}.ref-out`,
          ) + timeShell(`sha256sum ${file}.ref-out`),
      ),
    );
    const single = best(Array.from({ length: reps }, () => child(["create", store, file])));
    const singleRss = single.maxRssMb;
    const creates = Array.from({ length: reps }, () =>
      child(["create", store, file], { GOOSE_VALIDATE_WORKER: "1" }),
    );
    const c = best(creates);
    const restores = Array.from({ length: reps }, () =>
      child(["restore", store, c.id, `${file}.out`]),
    );
    const r = best(restores);
    const same = statSync(`${file}.out`).size === size;
    rows.push(
      `${String(mb).padStart(4)} MB export (${(size / 1048576).toFixed(0)} MiB): ` +
        `create ${single.ms.toFixed(0)} ms = ${(single.ms / refCreate).toFixed(2)}× reference (gzip|openssl + sha256sum ${refCreate.toFixed(0)} ms), peak RSS ${singleRss.toFixed(0)} MB; ` +
        `create with GOOSE_VALIDATE_WORKER=1 ${c.ms.toFixed(0)} ms = ${(c.ms / refCreate).toFixed(2)}×, peak RSS ${Math.max(...creates.map((x) => x.maxRssMb)).toFixed(0)} MB; ` +
        `restore ${r.ms.toFixed(0)} ms = ${(r.ms / refRestore).toFixed(2)}× reference (openssl -d|gunzip + sha256sum ${refRestore.toFixed(0)} ms), peak RSS ${Math.max(...restores.map((x) => x.maxRssMb)).toFixed(0)} MB; restored size ${same ? "matches" : "DIFFERS"}`,
    );
    rmSync(store, { recursive: true, force: true });
    for (const f of [file, enc, `${file}.out`, `${file}.ref-out`]) rmSync(f, { force: true });
  }
  console.log(
    "snapshot create/restore vs. reference (best of 3 at 100 MB, 1 run at 400 MB; goal ≤ 1.3×, RSS < 200 MB):",
  );
  for (const row of rows) console.log("  " + row);
} finally {
  rmSync(work, { recursive: true, force: true });
}
