/**
 * The scanner CronJob's three steps (prepare in bash, scan under `sh`, publish in bash), run for
 * real in order as the pod runs them, with:
 * - a recording stand-in for `trivy` on PATH (Trivy is not installable here): it appends
 *   `start`/`end` lines per call to a log, and writes a report in Trivy's JSON format
 *   (SchemaVersion 2: ArtifactName, Metadata, Results[].Vulnerabilities[] with VulnerabilityID,
 *   PkgName, InstalledVersion, FixedVersion, Severity — the format of aquasecurity/trivy's
 *   integration/testdata/*.json.golden, e.g. alpine-310-registry.json.golden);
 * - a registry on loopback answering the manifest endpoint with a bearer-token challenge and a
 *   Docker-Content-Digest header (what the script asks for each image's digest), and one that
 *   asks for basic auth (a private registry: credentials from a Docker config);
 * - the real Pushgateway behind basic auth (the password file the pod mounts);
 * - the real aws CLI (Debian's v2) uploading to S3 on loopback (s3rver), which goose's
 *   vulnerability gate then reads.
 * Parallelism is read from the recorded calls (the most calls between a start and its end), and
 * incrementality from calls not made; nothing depends on timing.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadComplianceRules } from "../../src/audit/index.js";
import {
  scannerScript,
  scanPrepareScript,
  scanPublishScript,
} from "../../src/components/scanner.js";
import { readClusterBlackouts } from "../../src/locks/cluster.js";
import { loadStageConfigFile } from "../../src/config/index.js";
import { assessInClusterScans } from "../../src/gates/in-cluster-scans.js";
import { openStore } from "../../src/store/index.js";
import { startPushgateway, type RunningPushgateway } from "../helpers/pushgateway.js";
import { startS3rver, type RunningS3 } from "../store/s3rver.js";
import { cleanupTempDirs, repoRoot, tempDir } from "../snapshots/helpers.js";

const AWS = "/usr/bin/aws";

const FAKE_TRIVY = `#!/bin/sh
# Recording stand-in for trivy (not Trivy): logs each call, waits until $FAKE_TRIVY_BARRIER scans
# have started (so scans that can overlap do), and copies the prepared Trivy JSON report.
log="$FAKE_TRIVY_LOG"; out=""; img=""; prev=""
for a in "$@"; do [ "$prev" = "--output" ] && out=$a; prev=$a; img=$a; done
case " $* " in *" --download-db-only "*) echo "db" >> "$log"; exit 0;; esac
echo "start $img" >> "$log"
echo "args $*" >> "$log.args"
i=0
while [ "$(grep -c '^start ' "$log")" -lt "$FAKE_TRIVY_BARRIER" ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done
src="$FAKE_TRIVY_REPORTS/$(echo "$img" | tr '/:@' '___').json"
[ -f "$src" ] || { echo "end $img" >> "$log"; exit 1; }
cp "$src" "$out"
echo "end $img" >> "$log"
`;

type Vuln = { id: string; pkg: string; severity: string };

/** A report in Trivy's JSON format (SchemaVersion 2). */
function trivyReport(image: string, digest: string, vulns: Vuln[]): string {
  const [name] = image.split(":");
  return JSON.stringify(
    {
      SchemaVersion: 2,
      CreatedAt: "2026-11-30T02:00:00.000000000Z",
      ArtifactName: image,
      ArtifactType: "container_image",
      Metadata: {
        OS: { Family: "alpine", Name: "3.20.3" },
        ImageID: `sha256:${"1".repeat(64)}`,
        DiffIDs: [`sha256:${"2".repeat(64)}`],
        RepoTags: [image],
        RepoDigests: [`${name}@${digest}`],
      },
      Results: [
        {
          Target: `${image} (alpine 3.20.3)`,
          Class: "os-pkgs",
          Type: "alpine",
          Vulnerabilities: vulns.map((v) => ({
            VulnerabilityID: v.id,
            PkgID: `${v.pkg}@1.0.0-r0`,
            PkgName: v.pkg,
            InstalledVersion: "1.0.0-r0",
            FixedVersion: "1.0.1-r0",
            Status: "fixed",
            SeveritySource: "nvd",
            PrimaryURL: `https://avd.aquasec.com/nvd/${v.id.toLowerCase()}`,
            Title: `${v.pkg}: test finding`,
            Severity: v.severity,
          })),
        },
      ],
    },
    null,
    2,
  );
}

/**
 * A registry's manifest endpoint with an anonymous bearer-token challenge, or, with `basic`, one
 * that asks for basic auth (a private registry). `seen` records each request's Authorization.
 */
function startRegistry(
  digests: Map<string, string>,
  basic?: { user: string; password: string; seen: string[]; bearer?: boolean },
): Promise<{ server: Server; host: string }> {
  const server = createServer((req, res) => {
    const host = req.headers.host ?? "";
    // A token service that hands out pull tokens for the registry's credentials only.
    if (basic?.bearer) {
      basic.seen.push(req.headers.authorization ?? "");
      const want = `Basic ${Buffer.from(`${basic.user}:${basic.password}`).toString("base64")}`;
      if (req.url?.startsWith("/token")) {
        if (req.headers.authorization !== want) return void res.writeHead(401).end("{}");
        res.setHeader("content-type", "application/json");
        return void res.end(JSON.stringify({ token: "private-token", expires_in: 300 }));
      }
      const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(req.url ?? "");
      if (req.headers.authorization !== "Bearer private-token") {
        res.setHeader(
          "www-authenticate",
          `Bearer realm="http://${host}/token",service="private",scope="repository:${m?.[1]}:pull"`,
        );
        return void res.writeHead(401).end("{}");
      }
      const d = m && digests.get(`${m[1]}:${m[2]}`);
      if (!d) return void res.writeHead(404).end();
      res.setHeader("docker-content-digest", d);
      return void res.end("{}");
    }
    if (basic) {
      basic.seen.push(req.headers.authorization ?? "");
      const want = `Basic ${Buffer.from(`${basic.user}:${basic.password}`).toString("base64")}`;
      if (req.headers.authorization !== want) {
        res.setHeader("www-authenticate", 'Basic realm="private-registry"');
        return void res.writeHead(401).end("{}");
      }
      const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(req.url ?? "");
      const d = m && digests.get(`${m[1]}:${m[2]}`);
      if (!d) return void res.writeHead(404).end();
      res.setHeader("docker-content-digest", d);
      return void res.end("{}");
    }
    if (req.url?.startsWith("/token")) {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ token: "anon-token", expires_in: 300 }));
      return;
    }
    const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(req.url ?? "");
    if (!m) return void res.writeHead(404).end();
    if (req.headers.authorization !== "Bearer anon-token") {
      res.setHeader(
        "www-authenticate",
        `Bearer realm="http://${host}/token",service="test-registry",scope="repository:${m[1]}:pull"`,
      );
      return void res.writeHead(401).end("{}");
    }
    const d = digests.get(`${m[1]}:${m[2]}`);
    if (!d) return void res.writeHead(404).end();
    res.setHeader("docker-content-digest", d);
    res.setHeader("content-type", "application/vnd.oci.image.index.v1+json");
    res.end("{}");
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      resolve({ server, host: `127.0.0.1:${typeof a === "object" && a ? a.port : 0}` });
    }),
  );
}

function run(
  shell: string,
  script: string,
  env: Record<string, string>,
): Promise<{ code: number; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(shell, ["-c", script], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ code: code ?? -1, stderr, stdout }));
  });
}

/** The pod's three steps in order; the Job's status is publish's (an init step failing stops it). */
async function runJob(
  scan: string,
  env: Record<string, string>,
): Promise<{ code: number; stderr: string; stdout: string }> {
  const steps = [
    ["bash", scanPrepareScript()],
    ["sh", scan],
    ["bash", scanPublishScript()],
  ] as const;
  let stdout = "";
  let stderr = "";
  let code = -1;
  for (const [shell, script] of steps) {
    const r = await run(shell, script, env);
    stdout += r.stdout;
    stderr += r.stderr;
    code = r.code;
    if (code !== 0) break;
  }
  return { code, stderr, stdout };
}

/** Calls to the stand-in: images scanned and the most scans that were running at once. */
function calls(log: string): { db: number; scanned: string[]; maxConcurrent: number } {
  let text = "";
  try {
    text = readFileSync(log, "utf8");
  } catch {
    return { db: 0, scanned: [], maxConcurrent: 0 };
  }
  let running = 0;
  let maxConcurrent = 0;
  const scanned: string[] = [];
  let db = 0;
  for (const line of text.split("\n")) {
    if (line === "db") db++;
    else if (line.startsWith("start ")) {
      scanned.push(line.slice(6));
      maxConcurrent = Math.max(maxConcurrent, ++running);
    } else if (line.startsWith("end ")) running--;
  }
  return { db, scanned, maxConcurrent };
}

afterAll(cleanupTempDirs);

describe("the scanner script with a recording stand-in for trivy", () => {
  let pg: RunningPushgateway;
  let registry: { server: Server; host: string };
  let s3: RunningS3;
  const digests = new Map<string, string>();
  beforeAll(async () => {
    if (spawnSync("sh", ["-c", `command -v ${AWS}`]).status !== 0)
      throw new Error(`${AWS} is not installed: apt-get install -y awscli`);
    pg = await startPushgateway({ auth: true });
    registry = await startRegistry(digests);
    s3 = await startS3rver("goose-production-backups");
  });
  afterAll(async () => {
    pg?.stop();
    registry?.server.close();
    await s3?.close();
  });

  it("scans in parallel up to the bound, caches by digest, rescans what changed and everything on a full run", async () => {
    const cfg = loadStageConfigFile(join(repoRoot, "Pulumi.production.yaml"));
    const rules = loadComplianceRules(repoRoot);
    const depth = rules.stages.production.scan.depth;
    const script = scannerScript(cfg, depth);
    const dir = tempDir("goose-scan-");
    const bin = join(dir, "bin");
    const reportsIn = join(dir, "trivy-reports");
    mkdirSync(bin);
    mkdirSync(reportsIn);
    writeFileSync(join(bin, "trivy"), FAKE_TRIVY);
    chmodSync(join(bin, "trivy"), 0o755);

    const images = [1, 2, 3, 4, 5].map((n) => `${registry.host}/goose/img-${n}:1.${n}`);
    const digestOf = (n: number, v = 1) =>
      `sha256:${String(n).repeat(2)}${String(v).repeat(62)}`.slice(0, 71);
    images.forEach((img, i) => {
      const [repo, tag] = img.slice(registry.host.length + 1).split(":") as [string, string];
      digests.set(`${repo}:${tag}`, digestOf(i + 1));
      const vulns: Vuln[] =
        i === 1
          ? [
              { id: "CVE-2026-0001", pkg: "openssl", severity: "CRITICAL" },
              { id: "CVE-2026-0002", pkg: "zlib", severity: "MEDIUM" },
            ]
          : [{ id: `CVE-2026-01${i}0`, pkg: "busybox", severity: "LOW" }];
      writeFileSync(
        join(reportsIn, `${img.replace(/[/:@]/g, "_")}.json`),
        trivyReport(img, digestOf(i + 1), vulns),
      );
    });
    const reports = join(dir, "reports");
    const log = join(dir, "calls.log");
    const P = cfg.scanner.parallelism;
    expect(P).toBeGreaterThan(1);
    // With `upload`, publish uploads to the bucket (a stage with one); else the results stay on
    // the volume (sandbox). Runs 2 to 4 do not upload, which also keeps the aws CLI calls few.
    const env = (mode: string, barrier: number, upload = true) => ({
      // /usr/bin before the rest: Debian's aws CLI v2, as the aws-cli image has v2.
      PATH: `${bin}:/usr/bin:/bin`,
      HOME: dir,
      IMAGES: images.join(" "),
      STAGE: "production",
      PUSHGATEWAY: pg.url,
      PUSHGATEWAY_AUTH_FILE: pg.auth!.passwordFile,
      ...(upload ? { BUCKET: s3.bucket } : {}),
      KMS_KEY_ARN: "arn:aws:kms:eu-west-1:111122223333:key/test",
      S3_ENDPOINT: s3.endpoint,
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      AWS_DEFAULT_REGION: "us-east-1",
      MODE: mode,
      PARALLELISM: String(P),
      CACHE_MAX_AGE_HOURS: String(cfg.scanner.cacheMaxAgeHours),
      REPORTS: reports,
      WORK: join(dir, "work"),
      PLAIN_HTTP_REGISTRIES: registry.host,
      FAKE_TRIVY_LOG: log,
      FAKE_TRIVY_REPORTS: reportsIn,
      FAKE_TRIVY_BARRIER: String(barrier),
    });
    const latest = () =>
      JSON.parse(readFileSync(join(reports, "scans/production/latest.json"), "utf8")) as {
        kind: string;
        mode: string;
        images: Array<{ image: string; digest: string; result: string; scannedAt: number }>;
      };

    // 1. First incremental run, empty cache: every image scanned, at most P at once (and P
    // reached: the stand-in waits for P starts), the database fetched once.
    let r = await runJob(script, env("incremental", P));
    expect(r.code, r.stderr).toBe(0);
    let c = calls(log);
    expect(c.db).toBe(1);
    expect(c.scanned.sort()).toEqual([...images].sort());
    expect(c.maxConcurrent).toBe(P);
    const args = readFileSync(`${log}.args`, "utf8");
    expect(args).toContain("--scanners vuln,secret,misconfig --pkg-types os,library");
    expect(args).toContain("--severity MEDIUM,HIGH,CRITICAL");
    let run1 = latest();
    expect(run1.kind).toBe("goldengoose.scan.run/v1");
    expect(run1.images.map((i) => [i.image, i.digest, i.result]).sort()).toEqual(
      images.map((img, i) => [img, digestOf(i + 1), "scanned"]),
    );
    // Counts per image on the Pushgateway.
    const metrics = await (
      await fetch(`${pg.url}/metrics`, { headers: { authorization: pg.auth!.header } })
    ).text();
    const series = (img: string, sev: string) =>
      new RegExp(
        `goldengoose_scanner_vulnerabilities\\{[^}]*image="${img.replace(/[.]/g, "\\.")}"[^}]*severity="${sev}"[^}]*\\} (\\d+)`,
      ).exec(metrics)?.[1];
    expect(series(images[1]!, "CRITICAL")).toBe("1");
    expect(series(images[1]!, "MEDIUM")).toBe("1");
    expect(series(images[0]!, "CRITICAL")).toBe("0");
    expect(metrics).toMatch(/goldengoose_scanner_last_status\{[^}]*stage="production"[^}]*\} 1/);
    // Every push was accepted with the password: prepare's blackout and publish's metrics (two
    // POSTs), and publish's withdrawal of the blackout (a DELETE).
    expect(metrics).toContain(
      'pushgateway_http_requests_total{code="200",handler="push",method="post"} 2',
    );
    expect(metrics).toContain(
      'pushgateway_http_requests_total{code="202",handler="delete",method="delete"} 1',
    );
    expect(metrics).not.toMatch(/pushgateway_http_requests_total\{code="401"/);
    const withdrawn = async () => {
      process.env.GOOSE_PUSHGATEWAY_PASSWORD_FILE = pg.auth!.passwordFile;
      try {
        return await readClusterBlackouts(pg.url);
      } finally {
        delete process.env.GOOSE_PUSHGATEWAY_PASSWORD_FILE;
      }
    };
    let left = await withdrawn();
    // The Pushgateway applies a DELETE asynchronously (202 Accepted): wait until it has.
    for (let i = 0; left.length > 0 && i < 100; i++) {
      await new Promise((res) => setTimeout(res, 50));
      left = await withdrawn();
    }
    expect(left).toEqual([]);
    // The run's results, reports and index in the bucket, in the layout goose reads.
    const keys = async () =>
      ((await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket }))).Contents ?? [])
        .map((o) => o.Key!)
        .sort();
    const uploaded = await keys();
    expect(uploaded).toContain("scans/production/latest.json");
    for (let i = 1; i <= images.length; i++) {
      const key = digestOf(i).slice("sha256:".length);
      expect(uploaded).toContain(`scans/production/results/${key}.json`);
      expect(uploaded).toContain(`scans/production/reports/${key}.trivy.json`);
    }
    expect(uploaded.every((k) => k.startsWith("scans/production/"))).toBe(true);
    expect(r.stdout).toContain(`results uploaded to s3://${s3.bucket}/scans/production/`);
    // The bucket's index is the volume's.
    const inBucket = await openStore(`s3://${s3.bucket}`, s3.env).get(
      "scans/production/latest.json",
    );
    expect(JSON.parse(Buffer.from(inBucket!.body).toString("utf8"))).toEqual(latest());

    // 2. Nothing changed: no call to trivy at all, every image from the cache.
    writeFileSync(log, "");
    r = await runJob(script, env("incremental", P, false));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain("uploaded");
    expect(calls(log)).toEqual({ db: 0, scanned: [], maxConcurrent: 0 });
    run1 = latest();
    expect(run1.images.every((i) => i.result === "cached")).toBe(true);

    // 3. img-3 gets a new digest: only it is scanned.
    digests.set(`goose/img-3:1.3`, digestOf(3, 2));
    r = await runJob(script, env("incremental", 1, false));
    expect(r.code, r.stderr).toBe(0);
    c = calls(log);
    expect(c.scanned).toEqual([images[2]]);
    expect(latest().images.find((i) => i.image === images[2])).toMatchObject({
      digest: digestOf(3, 2),
      result: "scanned",
    });

    // 4. The off-peak full run scans everything again, still at most P at once.
    writeFileSync(log, "");
    r = await runJob(script, env("full", P, false));
    expect(r.code, r.stderr).toBe(0);
    c = calls(log);
    expect(c.scanned.length).toBe(images.length);
    expect(c.maxConcurrent).toBe(P);
    expect(latest().mode).toBe("full");

    // The gate reads the results from the bucket (goose promote --scan-results s3://<bucket>),
    // as run 1 left them: img-2's CRITICAL finding fails production (failOn HIGH).
    const store = openStore(`s3://${s3.bucket}`, s3.env);
    const now = new Date();
    let a = await assessInClusterScans({
      results: store,
      source: "production",
      target: "production",
      images,
      rules,
      now,
    });
    expect(a.verdict).toBe("fail");
    expect(a.summary).toContain("CVE-2026-0001 in openssl (CRITICAL)");
    expect(a.summary).not.toContain("CVE-2026-0002");
    // Allowed by an allow-list entry: passes.
    a = await assessInClusterScans({
      results: store,
      source: "production",
      target: "production",
      images,
      rules,
      now,
      allow: {
        entries: [
          {
            id: "CVE-2026-0001",
            reason: "not reachable in our use",
            approver: "security",
            expires: "2999-01-01",
          },
        ],
      },
    });
    expect(a.verdict, a.summary).toBe("pass");
    // Results older than the stage's limit count as missing: fail (mandatory).
    const later = new Date(
      now.getTime() + (rules.stages.production.scan.maxResultAgeHours + 1) * 3_600_000,
    );
    a = await assessInClusterScans({
      results: store,
      source: "production",
      target: "production",
      images: [images[0]!],
      rules,
      now: later,
    });
    expect(a.verdict).toBe("fail");
    expect(a.summary).toMatch(
      /missing or unusable for 1 image\(s\): .*img-1:1\.1 \(stale, 27 h old\)/,
    );

    // 5. The upload fails (no such bucket): the Job fails, the metrics are still pushed, with the
    // run's status a failure; the last success stays the previous run's (a POST keeps the
    // group's other metrics).
    const pgMetrics = async () =>
      (await fetch(`${pg.url}/metrics`, { headers: { authorization: pg.auth!.header } })).text();
    const lastSuccess = (text: string) =>
      /goldengoose_scanner_last_success_timestamp_seconds\{[^}]*\} (\S+)/.exec(text)?.[1];
    const successBefore = lastSuccess(await pgMetrics());
    expect(successBefore).toBeDefined();
    r = await runJob(script, { ...env("incremental", P), BUCKET: "no-such-bucket" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "scanner: uploading the results to s3://no-such-bucket/scans/production/ failed",
    );
    expect(r.stderr).not.toContain("could not push metrics");
    const after = await pgMetrics();
    expect(after).toMatch(/goldengoose_scanner_last_status\{[^}]*stage="production"[^}]*\} 0/);
    expect(lastSuccess(after)).toBe(successBefore);
  }, 60_000);

  it("asks a private registry for digests with the Docker config's credentials, never on a command line", async () => {
    const seen: string[] = [];
    const user = "robot$goose";
    const password = "pr1vate-registry-secret";
    const privateDigests = new Map([["team/app:2.0", `sha256:${"ab".repeat(32)}`]]);
    const priv = await startRegistry(privateDigests, { user, password, seen });
    try {
      const dir = tempDir("goose-scan-private-");
      const image = `${priv.host}/team/app:2.0`;
      // curl's command lines, recorded by a wrapper in front of the real curl.
      const bin = join(dir, "bin");
      mkdirSync(bin);
      const argvLog = join(dir, "curl-argv.log");
      writeFileSync(
        join(bin, "curl"),
        `#!/bin/sh\nprintf '%s\\n' "$*" >> "${argvLog}"\nexec /usr/bin/curl "$@"\n`,
      );
      chmodSync(join(bin, "curl"), 0o755);
      const env = {
        PATH: `${bin}:/usr/bin:/bin`,
        HOME: dir,
        IMAGES: `${image} ${priv.host}/team/missing:1`,
        STAGE: "compliance",
        PUSHGATEWAY: pg.url,
        PUSHGATEWAY_AUTH_FILE: pg.auth!.passwordFile,
        WORK: dir,
        PLAIN_HTTP_REGISTRIES: priv.host,
      };
      const digestsFile = join(dir, "goose-scan-digests");
      // Without credentials: the registry answers 401, the digest stays unresolved (scanned every
      // run), and the step says why.
      let r = await run("bash", scanPrepareScript(), env);
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(digestsFile, "utf8")).toContain(`${image} -\n`);
      expect(r.stderr).toContain(
        `${priv.host} asks for credentials and DOCKER_CONFIG has none for it`,
      );
      expect(seen.every((h) => h === "")).toBe(true);
      // With the Docker config an image pull Secret holds (.dockerconfigjson as config.json).
      const dockerConfig = join(dir, "docker");
      mkdirSync(dockerConfig);
      writeFileSync(
        join(dockerConfig, "config.json"),
        JSON.stringify(
          {
            auths: {
              "other.example:5000": { auth: Buffer.from("x:y").toString("base64") },
              [priv.host]: { auth: Buffer.from(`${user}:${password}`).toString("base64") },
            },
          },
          null,
          2,
        ),
      );
      seen.length = 0;
      r = await run("bash", scanPrepareScript(), { ...env, DOCKER_CONFIG: dockerConfig });
      expect(r.code, r.stderr).toBe(0);
      const lines = readFileSync(digestsFile, "utf8").trim().split("\n");
      expect(lines).toEqual([
        `${image} sha256:${"ab".repeat(32)}`,
        `${priv.host}/team/missing:1 -`,
      ]);
      // Asked anonymously first, then with the credentials.
      expect(seen[0]).toBe("");
      expect(seen).toContain(`Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`);
      // Neither printed nor on any curl command line (the Pushgateway's password neither).
      const argv = readFileSync(argvLog, "utf8");
      expect(argv).toContain(`http://${priv.host}/v2/team/app/manifests/2.0`);
      for (const secret of [
        password,
        Buffer.from(`${user}:${password}`).toString("base64"),
        pg.auth!.password,
      ]) {
        expect(r.stdout + r.stderr).not.toContain(secret);
        expect(argv).not.toContain(secret);
      }
    } finally {
      priv.server.close();
    }
  });

  it("asks a token service for a private registry's pull token with the Docker config's credentials", async () => {
    const seen: string[] = [];
    const auth = { user: "robot", password: "t0ken-service-secret", seen, bearer: true };
    const priv = await startRegistry(
      new Map([["team/app:3.0", `sha256:${"cd".repeat(32)}`]]),
      auth,
    );
    try {
      const dir = tempDir("goose-scan-bearer-");
      const image = `${priv.host}/team/app:3.0`;
      const dockerConfig = join(dir, "docker");
      mkdirSync(dockerConfig);
      const basic = Buffer.from(`${auth.user}:${auth.password}`).toString("base64");
      writeFileSync(
        join(dockerConfig, "config.json"),
        `{"auths":{"${priv.host}":{"auth":"${basic}"}}}`,
      );
      const env = {
        PATH: "/usr/bin:/bin",
        HOME: dir,
        IMAGES: image,
        STAGE: "compliance",
        PUSHGATEWAY: pg.url,
        PUSHGATEWAY_AUTH_FILE: pg.auth!.passwordFile,
        WORK: dir,
        PLAIN_HTTP_REGISTRIES: priv.host,
      };
      // Anonymous: the token service refuses, no digest.
      let r = await run("bash", scanPrepareScript(), env);
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(join(dir, "goose-scan-digests"), "utf8")).toBe(`${image} -\n`);
      // With the credentials: token, then the digest.
      seen.length = 0;
      r = await run("bash", scanPrepareScript(), { ...env, DOCKER_CONFIG: dockerConfig });
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(join(dir, "goose-scan-digests"), "utf8")).toBe(
        `${image} sha256:${"cd".repeat(32)}\n`,
      );
      expect(seen).toEqual(["", `Basic ${basic}`, "Bearer private-token"]);
      expect(r.stdout + r.stderr).not.toContain(auth.password);
    } finally {
      priv.server.close();
    }
  });
});
