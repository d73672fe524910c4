import path from "node:path";
import type { Command } from "commander";
import { AUDIT_FILES, SECRET_NAMES, type SecretName } from "../../audit/names.js";
import { STAGES } from "../../config/stages.js";
import { UsageError } from "../errors.js";
import { Output, type CliIo } from "../io.js";
import type { SetExitCode } from "../io.js";
import { jsonOption, openStoreFor, stageArg, storeOption } from "../options.js";

// The audit, evidence and key modules (zod, yaml, ajv below them) load inside the actions, so
// `goose keys --help` loads none of them (tests/cli/lazy-commands.test.ts).
const evidence = () => import("../../evidence/index.js");

/**
 * `goose keys status|record|rotate snapshot|rotate evidence` on the `goose keys` group: every
 * secret and key against security/policies/secret-rotation.yaml.
 */
export function registerKeyRotation(keys: Command, io: CliIo, setExitCode: SetExitCode): void {
  keys
    .command("status")
    .description(
      `age of every secret and key against ${AUDIT_FILES.rotation} (exit 1 when one is overdue; a secret never rotated ages from its creation, one not in use yet passes)`,
    )
    .option("--stage <stage>", `only this stage (${STAGES.join(" | ")})`)
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (o: { stage?: string; store?: string; json?: boolean }) => {
      const out = new Output(io, Boolean(o.json));
      const [{ loadSecretRotation }, { openEvidenceChain }, { keyStatus }] = await Promise.all([
        import("../../audit/index.js"),
        evidence(),
        import("../../keys/status.js"),
      ]);
      const policy = loadSecretRotation(io.cwd);
      const store = openStoreFor(io, o.store);
      const records = await openEvidenceChain(store, io.env).list();
      const report = await keyStatus({
        store,
        env: io.env,
        policy,
        records,
        ...(o.stage ? { stages: [stageArg(o.stage)] } : {}),
      });
      for (const r of report.secrets) {
        const age = r.ageDays === undefined ? "not in use" : `${r.ageDays} d`;
        out.line(
          `${r.status.toUpperCase().padEnd(8)}${r.stage.padEnd(11)}${r.secret.padEnd(24)}${age} of max ${r.maxAgeDays} d  (${r.source})`,
        );
        if (r.procedure) out.line(`        first: ${r.procedure}`);
        if (r.fix) out.line(`        fix: \`${r.fix}\``);
      }
      out.result(report);
      setExitCode(report.ok ? 0 : 1);
    });

  keys
    .command("record")
    .description(
      "record a rotation done outside goose (Grafana admin Job, receiver credentials, KMS) as key.rotated evidence",
    )
    .argument("<secret>", SECRET_NAMES.join(" | "))
    .requiredOption("--stage <stage>", `the stage whose secret was rotated (${STAGES.join(" | ")})`)
    .option("--at <time>", "when it was rotated (ISO 8601; default now)")
    .option("--reason <text>", "why, or the change/ticket reference")
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(
      async (
        secret: string,
        o: { stage: string; at?: string; reason?: string; store?: string; json?: boolean },
      ) => {
        const out = new Output(io, Boolean(o.json));
        if (!(SECRET_NAMES as readonly string[]).includes(secret))
          throw new UsageError(`unknown secret "${secret}": one of ${SECRET_NAMES.join(", ")}`);
        if (secret === "evidence-signing-key")
          throw new UsageError(
            "the evidence signing key is rotated in the chain itself, not recorded: run goose keys rotate evidence",
          );
        const stage = stageArg(o.stage);
        const at = o.at ? new Date(o.at) : new Date();
        if (Number.isNaN(at.getTime()) || at.getTime() > Date.now() + 60_000)
          throw new UsageError(
            `--at ${o.at}: an ISO 8601 time not in the future, e.g. 2026-01-31T12:00:00Z`,
          );
        const { openEvidenceChain } = await evidence();
        const rec = await openEvidenceChain(openStoreFor(io, o.store), io.env).append({
          kind: "key.rotated",
          stage,
          subject: [],
          data: {
            rotated: secret as SecretName,
            stage,
            rotatedAt: at.toISOString(),
            how: "recorded",
            reason: o.reason ?? "",
            by: io.env.USER ?? "unknown",
          },
        });
        out.line(
          `recorded rotation of ${secret} in ${stage} at ${at.toISOString()} (evidence ${rec.id})`,
        );
        out.result({
          kind: "goldengoose.keys.record/v1",
          version: 1,
          secret,
          stage,
          evidence: rec.id,
        });
        setExitCode(0);
      },
    );

  const rotate = keys.command("rotate").description("rotate a key goose holds");

  rotate
    .command("snapshot")
    .description(
      "re-wrap every snapshot's data key under the new key (GOOSE_SNAPSHOT_KEY) from the old one (GOOSE_SNAPSHOT_KEY_OLD); payloads are not re-encrypted",
    )
    .option("--kms-key <id>", "wrap the data keys with this AWS KMS key instead")
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (o: { kmsKey?: string; store?: string; json?: boolean }) => {
      const out = new Output(io, Boolean(o.json));
      const store = openStoreFor(io, o.store);
      const [{ rotateSnapshotKey }, { openEvidenceChain }] = await Promise.all([
        import("../../keys/snapshot-rotation.js"),
        evidence(),
      ]);
      const report = await rotateSnapshotKey({
        store,
        env: io.env,
        ...(o.kmsKey ? { kmsKeyId: o.kmsKey } : {}),
        onSnapshot: (r) =>
          out.info(`${r.outcome.padEnd(10)} ${r.id}${r.message ? `: ${r.message}` : ""}`),
      });
      const c = report.counts;
      if (report.ok) {
        const rec = await openEvidenceChain(store, io.env).append({
          kind: "key.rotated",
          subject: [],
          data: {
            rotated: "snapshot-key",
            rotatedAt: report.rotatedAt,
            how: "goose keys rotate snapshot",
            newKey: report.newKey,
            ...(report.newKid ? { newKid: report.newKid } : {}),
            snapshots: c,
          },
        });
        out.line(
          `snapshot key rotated to ${report.newKey}: ${c.rewrapped} re-wrapped, ${c.already} already under it (evidence ${rec.id}); ` +
            "the old key no longer opens any snapshot: unset GOOSE_SNAPSHOT_KEY_OLD and destroy it once backups of the new key are confirmed",
        );
      } else {
        // Commands that run as printed: the failed snapshots' ids, this run's store and flags.
        const { HINTS, hintCommand, hintContext } = await import("../../gates/hints.js");
        const ctx = hintContext({ offline: false, store, env: io.env, cwd: io.cwd });
        const failed = report.snapshots.filter((r) => r.outcome === "failed");
        const verify = failed
          .slice(0, 3)
          .map((r) => HINTS.snapshotVerify(r.id, ctx))
          .join(", ");
        const again = hintCommand(
          ["keys", "rotate", "snapshot", ...(o.kmsKey ? ["--kms-key", o.kmsKey] : [])],
          ctx,
          { store: true },
        );
        out.line(
          `snapshot key rotation incomplete: ${c.failed} snapshot(s) did not open under GOOSE_SNAPSHOT_KEY_OLD (listed above; each is left as it was), ${c.rewrapped} re-wrapped, ${c.already} already rotated; ` +
            `find the key each is sealed under (with GOOSE_SNAPSHOT_KEY set to a candidate, ${verify}${failed.length > 3 ? ", …" : ""} opens it), set GOOSE_SNAPSHOT_KEY_OLD to it or remove the snapshot, then run ${again} again`,
        );
      }
      out.result(report);
      setExitCode(report.ok ? 0 : 1);
    });

  rotate
    .command("evidence")
    .description(
      "rotate the evidence signing key: a key.rotated record signed by the old key and countersigned by the new one; the chain verifies across it and refuses the old key after it",
    )
    .option(
      "--new-key-file <file>",
      "the new Ed25519 key (PKCS#8 PEM; generated there when missing); default: replace the key file in place",
    )
    .option("--reason <text>", "why (recorded)")
    .addOption(storeOption())
    .option("--json", "machine output on stdout")
    .action(async (o: { newKeyFile?: string; reason?: string; store?: string; json?: boolean }) => {
      const out = new Output(io, Boolean(o.json));
      const [{ rotateEvidenceKey }, { openEvidenceChain }] = await Promise.all([
        import("../../keys/evidence-rotation.js"),
        evidence(),
      ]);
      const chain = openEvidenceChain(openStoreFor(io, o.store), io.env);
      const { result } = await rotateEvidenceKey({
        chain,
        env: io.env,
        ...(o.newKeyFile ? { newKeyFile: path.resolve(io.cwd, o.newKeyFile) } : {}),
        ...(o.reason ? { reason: o.reason } : {}),
      });
      out.line(
        `evidence key rotated: ${result.fromKeyid} → ${result.toKeyid} (record ${result.record}); the old key can no longer sign this chain`,
      );
      out.line(
        `new private key: ${result.newKeyFile} (keep it in your secret manager as GOOSE_EVIDENCE_KEY)`,
      );
      if (result.retiredKeyFile)
        out.line(
          `old key kept aside: ${result.retiredKeyFile} (destroy it once backups of the new key are confirmed)`,
        );
      if (io.env.GOOSE_EVIDENCE_KEY)
        out.line(
          `GOOSE_EVIDENCE_KEY still holds the old key: set it to the content of ${result.newKeyFile}`,
        );
      out.line(`pin the new public key: GOOSE_EVIDENCE_PUBLIC_KEY=${result.publicKeyBase64}`);
      out.result(result);
      setExitCode(0);
    });
}
