import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { captureIo } from "./cli-io.js";

const env = { GOOSE_EVIDENCE_KEY: Buffer.alloc(32, 5).toString("base64"), USER: "tester" };

describe("goose evidence and goose lock", () => {
  it("records a forced release, shows it, verifies, then names an edited record", async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), "goose-evcli-"));
    const run = async (...argv: string[]) => {
      const io = captureIo(cwd, env);
      const code = await main(argv, io);
      return { code, out: io.out(), err: io.err() };
    };
    let r = await run(
      "lock",
      "acquire",
      "sandbox",
      "--kind",
      "scan",
      "--ttl",
      "600",
      "--holder",
      "scanner-1",
      "--json",
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({
      stage: "sandbox",
      kind: "scan",
      holder: "scanner-1",
    });
    r = await run("lock", "acquire", "sandbox", "--kind", "scan", "--ttl", "600");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/held by a scan lease of scanner-1/);
    expect(
      (await run("lock", "acquire", "sandbox", "--kind", "promotion", "--ttl", "5")).code,
    ).toBe(2);
    expect((await run("lock", "acquire", "nowhere", "--kind", "scan", "--ttl", "5")).code).toBe(2);
    r = await run("lock", "status", "--json");
    expect(JSON.parse(r.out).leases).toHaveLength(1);
    r = await run("lock", "release", "sandbox", "--kind", "scan");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/belongs to scanner-1/);
    r = await run(
      "lock",
      "release",
      "sandbox",
      "--kind",
      "scan",
      "--force",
      "--reason",
      "scanner node lost",
      "--json",
    );
    expect(r.code).toBe(0);
    r = await run("evidence", "show", "--stage", "sandbox", "--json");
    const records = JSON.parse(r.out).records as Array<{ kind: string; data: { reason: string } }>;
    expect(records.map((x) => x.kind)).toEqual(["lock.force-release"]);
    expect(records[0]?.data.reason).toBe("scanner node lost");
    r = await run("evidence", "verify", "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ ok: true, records: 1 });

    const chainFile = path.join(cwd, ".goose", "evidence", "chain.jsonl");
    writeFileSync(
      chainFile,
      readFileSync(chainFile, "utf8").replace("scanner node lost", "routine"),
    );
    r = await run("evidence", "verify");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /first bad record seq 1 \(ev-1-[0-9a-f]{12}\) in evidence\/chain.jsonl line 1/,
    );
    expect(r.out + r.err).not.toContain(env.GOOSE_EVIDENCE_KEY);
  });

  it("archives the active segment and prunes by per-stage retention, the chain still verifying", async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), "goose-evcli-"));
    // Retention per stage comes from the repository's security/audit/collection-rules.yaml.
    cpSync(
      path.resolve(import.meta.dirname, "../../security/audit"),
      path.join(cwd, "security/audit"),
      {
        recursive: true,
      },
    );
    const run = async (...argv: string[]) => {
      const io = captureIo(cwd, env);
      const code = await main(argv, io);
      return { code, out: io.out(), err: io.err() };
    };
    await run("lock", "acquire", "sandbox", "--kind", "backup", "--ttl", "60", "--holder", "a");
    await run("lock", "release", "sandbox", "--kind", "backup", "--force", "--reason", "test");
    let r = await run("evidence", "archive", "--json");
    expect(JSON.parse(r.out)).toMatchObject({
      records: 1,
      archived: "evidence/archive/000000000001-000000000001.jsonl.gz",
    });
    r = await run("evidence", "prune", "--retention", "sandbox=1", "--json");
    expect(JSON.parse(r.out)).toMatchObject({
      pruned: [],
      retentionDays: { sandbox: 1, compliance: 400 },
    });
    expect((await run("evidence", "prune", "--retention", "sandbox=0")).code).toBe(2);
    expect((await run("evidence", "prune", "--retention", "staging=3")).code).toBe(2);
    r = await run("evidence", "verify", "--json");
    expect(JSON.parse(r.out)).toMatchObject({ ok: true, records: 1 });
  });
});
