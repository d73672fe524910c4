import { readFileSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { closest, distance } from "fastest-levenshtein";
import { parseStageName } from "../../config/stages.js";
import { AUDIT_FILES } from "../../audit/names.js";
import { STAGES, type StageName } from "../../config/stages.js";
import { UsageError } from "../errors.js";
import { Output, type CliIo } from "../io.js";
import type { SetExitCode } from "../io.js";
import { jsonOption, openStoreFor, storeOption } from "../options.js";

/** `goose evidence verify|show|check|archive|prune`. */
// The evidence chain and the audit rules (zod, yaml, ajv below them) load inside the actions, so
// `goose evidence --help` loads neither (tests/cli/lazy-commands.test.ts).
const evidenceModule = () => import("../../evidence/index.js");
const audit = () => import("../../audit/index.js");

export function registerEvidence(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  const evidence = program
    .command("evidence")
    .description("the signed, append-only evidence chain");

  evidence
    .command("verify")
    .description(
      "walk the chain against the trust root (GOOSE_EVIDENCE_PUBLIC_KEY, GOOSE_EVIDENCE_KEY or " +
        "the key file) and the anchors kept elsewhere; exit 1 naming the first bad record",
    )
    .option(
      "--expect-head <digest>",
      "a record hash (sha256:<hex>) or id (ev-<seq>-<hex>) you kept: the chain must still contain it",
    )
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (o: { store?: string; json?: boolean; expectHead?: string }) => {
      const out = new Output(io, Boolean(o.json));
      const store = openStoreFor(io, o.store);
      const { openEvidenceChain } = await evidenceModule();
      const result = await openEvidenceChain(store, io.env).verify(
        o.expectHead !== undefined ? { expectHead: o.expectHead } : {},
      );
      if (result.ok) {
        out.line(
          `evidence chain in ${store.url} verifies: ${result.records} records` +
            (result.head ? `, head seq ${result.head.seq} ${result.head.hash}` : "") +
            (result.keyid ? `, key ${result.keyid}` : "") +
            (result.trust?.configured ? ` (trusted via ${result.trust.source})` : ""),
        );
      } else {
        const b = result.firstBad;
        out.info(
          `evidence chain in ${store.url} does NOT verify: first bad ` +
            (b?.seq !== undefined ? `record seq ${b.seq}${b.id ? ` (${b.id})` : ""}` : "file") +
            ` in ${b?.segment}${b?.line ? ` line ${b.line}` : ""}: ${b?.reason}`,
        );
      }
      for (const n of result.notes) out.info(n.startsWith("WARNING") ? n : `note: ${n}`);
      out.result({ kind: "evidence-verify", version: 1, ...result });
      setExitCode(result.ok ? 0 : 1);
    });

  evidence
    .command("show")
    .description("list records, oldest first")
    .option("--stage <stage>", "only this stage")
    .option("--kind <kind>", "only this kind (or its sub-kinds: gate → gate.sbom…)")
    .option("--limit <n>", "only the last N")
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(
      async (o: {
        stage?: string;
        kind?: string;
        limit?: string;
        store?: string;
        json?: boolean;
      }) => {
        const out = new Output(io, Boolean(o.json));
        let stage;
        try {
          stage = o.stage ? parseStageName(o.stage) : undefined;
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
        const limit = o.limit === undefined ? undefined : Number(o.limit);
        if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
          throw new UsageError(`--limit ${o.limit}: a whole number of records, at least 1`);
        }
        if (o.kind) await checkKnownKind(o.kind, io.cwd);
        const { openEvidenceChain } = await evidenceModule();
        let records = await openEvidenceChain(openStoreFor(io, o.store), io.env).list({
          ...(stage ? { stage } : {}),
          ...(o.kind ? { kind: o.kind } : {}),
        });
        if (limit !== undefined) records = records.slice(-limit);
        for (const r of records) {
          const subj = r.subject.map((s) => s.name).join(", ");
          out.line(
            `${r.id}  ${r.time}  ${(r.stage ?? "-").padEnd(10)} ${r.kind}${subj ? `  [${subj}]` : ""}`,
          );
        }
        if (records.length === 0) out.line("no evidence records");
        out.result({ records });
        setExitCode(0);
      },
    );

  evidence
    .command("check")
    .description(
      `report gaps for a stage: runs missing records ${AUDIT_FILES.collection} requires, records not fitting ${AUDIT_FILES.template} (exit 1)`,
    )
    .argument("<stage>", STAGES.join(" | "))
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (stageArg: string, o: { store?: string; json?: boolean }) => {
      const out = new Output(io, Boolean(o.json));
      let stage: StageName;
      try {
        stage = parseStageName(stageArg);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const [{ PROMOTION_STEPS }, { ROLLBACK_STEPS }] = await Promise.all([
        import("../../workflows/promote/index.js"),
        import("../../workflows/rollback/index.js"),
      ]);
      const order = { promotion: PROMOTION_STEPS, rollback: ROLLBACK_STEPS };
      const { loadAuditRules, checkEvidence } = await audit();
      const rules = loadAuditRules(io.cwd, order);
      const store = openStoreFor(io, o.store);
      const { openEvidenceChain } = await evidenceModule();
      const records = await openEvidenceChain(store, io.env).list();
      const report = checkEvidence(rules, records, stage, order);
      for (const r of report.runs) {
        const head = `${r.workflow} ${r.run} (${r.outcome}${r.failedStep ? ` at ${r.failedStep}` : ""})`;
        if (r.missing.length === 0) out.line(`ok    ${head}`);
        else out.line(`GAP   ${head}: missing ${r.missing.join("; ")}`);
      }
      for (const p of report.records.problems)
        out.line(`GAP   record ${p.id} (${p.kind}): ${p.problems.join("; ")}`);
      const gaps =
        report.runs.filter((r) => r.missing.length > 0).length + report.records.problems.length;
      out.line(
        `${stage}: ${report.runs.length} run(s), ${report.records.checked} record(s) checked against ${AUDIT_FILES.collection} and ${AUDIT_FILES.template}: ` +
          (gaps === 0 ? "no gaps" : `${gaps} gap(s)`),
      );
      out.result(report);
      setExitCode(report.ok ? 0 : 1);
    });

  evidence
    .command("archive")
    .description("move the active segment into a compressed archive segment (the chain continues)")
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (o: { store?: string; json?: boolean }) => {
      const out = new Output(io, Boolean(o.json));
      const { openEvidenceChain } = await evidenceModule();
      const r = await openEvidenceChain(openStoreFor(io, o.store), io.env).rotate();
      out.line(
        r.archived ? `archived ${r.records} records to ${r.archived}` : "nothing to archive",
      );
      out.result(r);
      setExitCode(0);
    });

  evidence
    .command("prune")
    .description(
      "remove archived segments past the retention of every stage they hold (tombstones keep the chain)",
    )
    .option(
      "--retention <list>",
      `days per stage, e.g. sandbox=90,compliance=400,production=2557 (default: retention in ${AUDIT_FILES.collection})`,
    )
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (o: { retention?: string; store?: string; json?: boolean }) => {
      const out = new Output(io, Boolean(o.json));
      // Retention per stage is data: collection-rules.yaml (flags override single stages).
      const { retentionDays, loadAuditRules } = await audit();
      const days: Record<StageName, number> = retentionDays(loadAuditRules(io.cwd));
      for (const part of (o.retention ?? "").split(",").filter(Boolean)) {
        const [stage, n] = part.split("=");
        let s: StageName;
        try {
          s = parseStageName(stage ?? "");
        } catch (err) {
          throw new UsageError(`--retention ${part}: ${(err as Error).message}`);
        }
        const v = Number(n);
        if (!Number.isInteger(v) || v < 1)
          throw new UsageError(`--retention ${part}: days must be a whole number, at least 1`);
        days[s] = v;
      }
      const { openEvidenceChain } = await evidenceModule();
      const r = await openEvidenceChain(openStoreFor(io, o.store), io.env).applyRetention({ days });
      out.line(
        r.pruned.length
          ? `pruned ${r.pruned.length} archived segment(s): ${r.pruned.join(", ")}`
          : "nothing past retention",
      );
      out.result({ ...r, retentionDays: days });
      setExitCode(0);
    });
}

/**
 * `--kind` must name a kind goose records (or a prefix of some: gate → gate.sbom…), as listed in
 * the evidence template; anything else is a typo, exit 2 with the nearest kind.
 */
async function checkKnownKind(kind: string, cwd: string): Promise<void> {
  const file = path.join(cwd, AUDIT_FILES.template);
  const { parse: parseYaml } = await import("yaml");
  let known: string[];
  try {
    const doc = parseYaml(readFileSync(file, "utf8")) as { kinds?: Record<string, unknown> };
    known = Object.keys(doc.kinds ?? {});
  } catch {
    return; // no template here: nothing to check against
  }
  const ok = known.some((k) =>
    k.endsWith(".*")
      ? kind === k.slice(0, -2) || kind.startsWith(k.slice(0, -1))
      : k === kind || k.startsWith(`${kind}.`),
  );
  if (ok) return;
  const names = known.map((k) => k.replace(/\.\*$/, ""));
  const near = closest(kind, [...names, ...names.map((n) => n.split(".")[0]!)]);
  throw new UsageError(
    `--kind ${kind}: no evidence record has that kind${distance(kind, near) <= 3 ? `; did you mean "${near}"?` : ""} ` +
      `(kinds: ${[...new Set(names)].join(", ")}; from ${AUDIT_FILES.template})`,
  );
}
