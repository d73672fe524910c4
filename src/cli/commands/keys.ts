import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { Output, type CliIo } from "../io.js";
import type { SetExitCode } from "../io.js";
import { registerKeyRotation } from "./keys-rotation.js";
import { jsonOption } from "../options.js";

/**
 * `goose keys …`: the snapshot and evidence keys. `init` is here; `rotate` and `status` (issue 15)
 * register on the same group: add them below.
 */
export function registerKeys(program: Command, io: CliIo, setExitCode: SetExitCode): Command {
  const keys = program
    .command("keys")
    .description("the snapshot key and the evidence signing key: create them, where they are")
    .addHelpText(
      "after",
      "\nKeys live in ~/.config/goose (XDG_CONFIG_HOME/goose): snapshot.key (GOOSE_SNAPSHOT_KEY_FILE)\n" +
        "and evidence-ed25519.pem (GOOSE_EVIDENCE_KEY_FILE). GOOSE_SNAPSHOT_KEY and GOOSE_EVIDENCE_KEY,\n" +
        "when set, win over the files. See docs/snapshots-and-keys.md.",
    );

  keys
    .command("init")
    .description(
      "create the snapshot and evidence keys in the config directory (0600; existing keys kept) and say what to store in a secret manager",
    )
    .option("--show", "also print the secret key values (only on a terminal you trust)")
    .addOption(jsonOption())
    .action(async (o: { show?: boolean; json?: boolean }) => {
      const out = new Output(io, Boolean(o.json));
      const { initKeys } = await import("../../keys/index.js");
      const r = initKeys(io.env);
      const state = (created: boolean) => (created ? "created" : "exists, kept");
      out.line(
        `snapshot key  ${r.snapshot.file}  (${state(r.snapshot.created)}, kid ${r.snapshot.kid}, mode ${r.snapshot.mode})`,
      );
      out.line(
        `evidence key  ${r.evidence.file}  (${state(r.evidence.created)}, ${r.evidence.keyid}, mode ${r.evidence.mode})`,
      );
      for (const k of [r.snapshot, r.evidence]) {
        if (k.overriddenBy) {
          out.line(
            `note: ${k.overriddenBy} is set and wins over ${k.file}; unset it to use the file`,
          );
        }
      }
      out.line("");
      out.line(
        "Keep both keys in your secret manager now. Without the snapshot key its snapshots cannot be",
      );
      out.line(
        "opened by anyone; without the evidence key the chain cannot be extended under the same key.",
      );
      out.line(`  GOOSE_SNAPSHOT_KEY = the content of ${r.snapshot.file}`);
      out.line(`  GOOSE_EVIDENCE_KEY = the content of ${r.evidence.file}`);
      out.line(
        "On this machine goose reads the files; in CI set those two variables from the secret manager.",
      );
      out.line(
        `Evidence public key (not secret; pin it with GOOSE_EVIDENCE_PUBLIC_KEY): ${r.evidence.publicKeyBase64}`,
      );
      if (o.show) {
        out.line("");
        out.line(`GOOSE_SNAPSHOT_KEY=${readFileSync(r.snapshot.file, "utf8").trim()}`);
        out.line(`GOOSE_EVIDENCE_KEY:\n${readFileSync(r.evidence.file, "utf8").trim()}`);
      } else {
        out.line("(values not printed; add --show to print them)");
      }
      out.result({ kind: "goose.keys.init", version: 1, ...r });
      setExitCode(0);
    });
  registerKeyRotation(keys, io, setExitCode);
  return keys;
}
