/**
 * The scanner CronJob's script, run for real under `sh` with:
 * - a recording stand-in for `trivy` on PATH (Trivy is not installable here): it appends
 *   `start`/`end` lines per call to a log, and writes a report in Trivy's JSON format
 *   (SchemaVersion 2: ArtifactName, Metadata, Results[].Vulnerabilities[] with VulnerabilityID,
 *   PkgName, InstalledVersion, FixedVersion, Severity — the format of aquasecurity/trivy's
 *   integration/testdata/*.json.golden, e.g. alpine-310-registry.json.golden);
 * - a registry on loopback answering the manifest endpoint with a bearer-token challenge and a
 *   Docker-Content-Digest header (what the script asks for each image's digest);
 * - the real Pushgateway.
 * Parallelism is read from the recorded calls (the most calls between a start and its end), and
 * incrementality from calls not made; nothing depends on timing.
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadComplianceRules } from "../../src/audit/index.js";
import { scannerScript } from "../../src/components/scanner.js";
import { loadStageConfigFile } from "../../src/config/index.js";
import { assessInClusterScans } from "../../src/gates/in-cluster-scans.js";
import { openStore } from "../../src/store/index.js";
import { startPushgateway } from "../helpers/pushgateway.js";
import { cleanupTempDirs, repoRoot, tempDir } from "../snapshots/helpers.js";

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

/** A registry's manifest endpoint with an anonymous bearer-token challenge. */
function startRegistry(digests: Map<string, string>): Promise<{ server: Server; host: string }> {
  const server = createServer((req, res) => {
    const host = req.headers.host ?? "";
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
  script: string,
  env: Record<string, string>,
): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("sh", ["-c", script], { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ code: code ?? -1, stderr }));
  });
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
  let pg: { url: string; stop: () => void };
  let registry: { server: Server; host: string };
  const digests = new Map<string, string>();
  beforeAll(async () => {
    pg = await startPushgateway();
    registry = await startRegistry(digests);
  });
  afterAll(() => {
    pg?.stop();
    registry?.server.close();
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
    const env = (mode: string, barrier: number) => ({
      PATH: `${bin}:${process.env.PATH}`,
      IMAGES: images.join(" "),
      STAGE: "production",
      PUSHGATEWAY: pg.url,
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
    let r = await run(script, env("incremental", P));
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
    const metrics = await (await fetch(`${pg.url}/metrics`)).text();
    const series = (img: string, sev: string) =>
      new RegExp(
        `goldengoose_scanner_vulnerabilities\\{[^}]*image="${img.replace(/[.]/g, "\\.")}"[^}]*severity="${sev}"[^}]*\\} (\\d+)`,
      ).exec(metrics)?.[1];
    expect(series(images[1]!, "CRITICAL")).toBe("1");
    expect(series(images[1]!, "MEDIUM")).toBe("1");
    expect(series(images[0]!, "CRITICAL")).toBe("0");
    expect(metrics).toMatch(/goldengoose_scanner_last_status\{[^}]*stage="production"[^}]*\} 1/);

    // 2. Nothing changed: no call to trivy at all, every image from the cache.
    writeFileSync(log, "");
    r = await run(script, env("incremental", P));
    expect(r.code, r.stderr).toBe(0);
    expect(calls(log)).toEqual({ db: 0, scanned: [], maxConcurrent: 0 });
    run1 = latest();
    expect(run1.images.every((i) => i.result === "cached")).toBe(true);

    // 3. img-3 gets a new digest: only it is scanned.
    digests.set(`goose/img-3:1.3`, digestOf(3, 2));
    r = await run(script, env("incremental", 1));
    expect(r.code, r.stderr).toBe(0);
    c = calls(log);
    expect(c.scanned).toEqual([images[2]]);
    expect(latest().images.find((i) => i.image === images[2])).toMatchObject({
      digest: digestOf(3, 2),
      result: "scanned",
    });

    // 4. The off-peak full run scans everything again, still at most P at once.
    writeFileSync(log, "");
    r = await run(script, env("full", P));
    expect(r.code, r.stderr).toBe(0);
    c = calls(log);
    expect(c.scanned.length).toBe(images.length);
    expect(c.maxConcurrent).toBe(P);
    expect(latest().mode).toBe("full");

    // The gate reads these results: img-2's CRITICAL finding fails production (failOn HIGH).
    const store = openStore(`file://${reports}`, {});
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
  }, 60_000);
});
