import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { gooseCommand } from "../../command-line.js";
import { DEMO_DURATIONS, prepareWorkspace, startReferenceService } from "../../demo/workspace.js";
import { CheckFailedError } from "../errors.js";
import { Output, type CliIo } from "../io.js";
import type { SetExitCode } from "../io.js";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

interface StepOutcome {
  code: number;
  stdout: string;
}

/**
 * `goose demo [--dir D]`: the whole story on this machine with nothing but Node. Every step is a
 * real goose command run in the demo directory (printed before it runs, so it can be rerun there);
 * what is simulated says so: the service is a local reference server and deployments go through
 * the offline engine.
 */
export function registerDemo(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  program
    .command("demo")
    .description(
      "the whole story in about a minute, with nothing but Node: preview, simulated deploy, snapshot, load test, promotion through every gate, a break and a rollback, the evidence chain",
    )
    .option("--dir <dir>", "where the demo works (default: a new temporary directory)")
    .option("--json", "print a summary as JSON on stdout")
    .action(async (o: { dir?: string; json?: boolean }) => {
      const out = new Output(io, Boolean(o.json));
      const started = Date.now();
      const dir = path.resolve(io.cwd, o.dir ?? mkdtempSync(path.join(tmpdir(), "goose-demo-")));
      const main = io.runGoose;
      if (!main)
        throw new Error("goose demo runs under the goose CLI's main(), which sets io.runGoose");
      const env: NodeJS.ProcessEnv = {
        ...io.env,
        // The demo's own keys and store: nothing of the user's is read or changed.
        XDG_CONFIG_HOME: path.join(dir, "config"),
        GOOSE_STORE: `file://${path.join(dir, ".goose")}`,
      };
      for (const v of [
        "GOOSE_SNAPSHOT_KEY",
        "GOOSE_SNAPSHOT_PASSPHRASE",
        "GOOSE_SNAPSHOT_KEY_FILE",
        "GOOSE_EVIDENCE_KEY",
        "GOOSE_EVIDENCE_KEY_FILE",
        "GOOSE_EVIDENCE_PUBLIC_KEY",
        "GOOSE_PUSHGATEWAY_URL",
        "GOOSE_BLACKOUT_SOURCES",
      ]) {
        delete env[v];
      }
      let n = 0;
      const TOTAL = 11;
      const say = (s = "") => out.line(s);
      const heading = (title: string, note?: string) => {
        n += 1;
        say("");
        say(`[${n}/${TOTAL}] ${title}`);
        if (note) say(`      ${note}`);
      };
      const indented = () => {
        let pending = "";
        return new Writable({
          write(chunk: Buffer, _enc, cb) {
            pending += chunk.toString();
            const lines = pending.split("\n");
            pending = lines.pop() ?? "";
            for (const l of lines) (o.json ? io.stderr : io.stdout).write(`      │ ${l}\n`);
            cb();
          },
          final(cb) {
            if (pending) (o.json ? io.stderr : io.stdout).write(`      │ ${pending}\n`);
            cb();
          },
        });
      };
      /** Runs one goose command in the demo directory; JSON (when asked) is returned, not shown. */
      const goose = async (args: string[], opts: { json?: boolean } = {}): Promise<StepOutcome> => {
        say(`      $ ${gooseCommand(args)}`);
        let stdout = "";
        const shown = indented();
        const capture = new Writable({
          write(chunk: Buffer, _enc, cb) {
            stdout += chunk.toString();
            cb();
          },
        });
        const code = await main(opts.json ? [...args, "--json"] : args, {
          stdout: opts.json ? capture : shown,
          stderr: shown,
          env,
          cwd: dir,
          isTty: false,
        });
        await new Promise<void>((resolve) => shown.end(resolve));
        return { code, stdout };
      };
      const must = (what: string, r: StepOutcome): StepOutcome => {
        if (r.code !== 0) {
          throw new CheckFailedError(
            `demo stopped: ${what} exited ${r.code} (see its output above); the workspace is kept in ${dir}`,
          );
        }
        return r;
      };

      say(`Golden Goose demo in ${dir}`);
      say(
        "Everything here is local: the stages are deployed by the offline engine (simulated: no cluster, no cloud account),",
      );
      say("and the service under test is a reference HTTP server on 127.0.0.1.");

      heading(
        "workspace",
        "a copy of the stack files, policy pack, monitoring and security config",
      );
      const changed = prepareWorkspace(REPO_ROOT, dir);
      if (changed.length) {
        say(
          `      demo only: smoke ${DEMO_DURATIONS.smoke} and baseline ${DEMO_DURATIONS.baseline} in ${changed.join(", ")} (the repository's are 10 s and 30 s)`,
        );
      }
      const service = await startReferenceService();
      say(`      reference service (simulated stage service): ${service.url}`);
      try {
        heading(
          "keys",
          "the demo's own keys, in its directory (your ~/.config/goose is not touched)",
        );
        must("keys init", await goose(["keys", "init"]));

        heading(
          "policy preview of the three stages",
          "offline: rendered under mocks, nothing deployed",
        );
        const preview = await goose(["preview", "--all", "--offline"]);
        if (preview.code !== 0) {
          say(
            "      (a stage has a mandatory violation: see above; the demo goes on with sandbox)",
          );
        }

        heading(
          "deploy sandbox",
          "SIMULATED: the offline engine writes .goose/offline-state/sandbox.json",
        );
        must("deploy", await goose(["deploy", "sandbox", "--offline"]));

        heading("snapshot of sandbox", "encrypted with the demo's snapshot key");
        const snap = must(
          "snapshot create",
          await goose(
            [
              "snapshot",
              "create",
              "sandbox",
              "--offline",
              "--reason",
              "demo: before the promotion",
            ],
            {
              json: true,
            },
          ),
        );
        const snapshotId = (JSON.parse(snap.stdout) as { id: string }).id;

        heading(
          "baseline load test of sandbox",
          "against the reference service; saved as the sandbox baseline (smoke too: the promotion's smoke test is judged against it)",
        );
        const base = must(
          "loadtest baseline",
          await goose(
            [
              "loadtest",
              "run",
              "sandbox",
              "--scenario",
              "baseline",
              "--target",
              service.url,
              "--save-baseline",
              "--note",
              "demo reference service",
            ],
            { json: true },
          ),
        );
        const loadReports = (
          JSON.parse(base.stdout) as { reports: { html: string; markdown: string } }
        ).reports;
        must(
          "loadtest smoke",
          await goose([
            "loadtest",
            "run",
            "sandbox",
            "--scenario",
            "smoke",
            "--target",
            service.url,
            "--save-baseline",
            "--note",
            "demo reference service",
          ]),
        );

        heading(
          "promote sandbox → compliance through every gate",
          "backup, rollback drill, policy, alerts, snapshot, load test, SBOM, vulnerabilities; the deploy is SIMULATED (offline engine)",
        );
        const promo = must(
          "promote",
          await goose(
            [
              "promote",
              "sandbox",
              "compliance",
              "--offline",
              "--target",
              service.url,
              "--health-url",
              `${service.url}/-/healthy`,
            ],
            { json: true },
          ),
        );
        const promoFiles = (
          JSON.parse(promo.stdout) as { files?: { json: string; markdown: string } }
        ).files;

        heading(
          "break sandbox",
          "Grafana's image set to :latest in Pulumi.sandbox.yaml and deployed (SIMULATED); sandbox's policy is advisory, so it goes through",
        );
        const stackFile = path.join(dir, "Pulumi.sandbox.yaml");
        const good = readFileSync(stackFile, "utf8");
        writeFileSync(
          stackFile,
          good.replace("docker.io/grafana/grafana:12.1.1", "docker.io/grafana/grafana:latest"),
        );
        must("deploy (broken)", await goose(["deploy", "sandbox", "--offline"]));
        await goose(["preview", "sandbox", "--offline"]);

        heading(
          "roll sandbox back",
          "the stack file is reverted (as a git revert would), then the state goes back to the snapshot of step 5 (SIMULATED import and update; health checked against the reference service)",
        );
        writeFileSync(stackFile, good);
        must(
          "rollback",
          await goose([
            "rollback",
            "sandbox",
            "--to",
            snapshotId,
            "--offline",
            "--prometheus-url",
            service.url,
            "--grafana-url",
            service.url,
          ]),
        );

        heading("verify the evidence chain", "every step above left a signed record");
        must("evidence verify", await goose(["evidence", "verify"]));

        heading("summary");
        const seconds = Math.round((Date.now() - started) / 1000);
        say(`      done in ${seconds} s, in ${dir}`);
        say(`      load-test report (HTML):   ${loadReports.html}`);
        say(`      load-test report (Markdown): ${loadReports.markdown}`);
        if (promoFiles) say(`      promotion report (Markdown): ${promoFiles.markdown}`);
        say(`      evidence chain:            ${path.join(dir, ".goose/evidence/chain.jsonl")}`);
        say(
          `      rerun a step there: cd ${dir} && XDG_CONFIG_HOME=${path.join(dir, "config")} GOOSE_STORE=file://${path.join(dir, ".goose")} node ${path.join(REPO_ROOT, "bin/goose.js")} <command>`,
        );
        out.result({
          kind: "goose.demo",
          version: 1,
          dir,
          seconds,
          simulated: ["deployments (offline engine)", "the stage's service (reference server)"],
          snapshot: snapshotId,
          reports: {
            loadTest: loadReports,
            ...(promoFiles ? { promotion: promoFiles } : {}),
          },
        });
        setExitCode(0);
      } finally {
        const closed = new Promise<void>((resolve) => service.server.close(() => resolve()));
        service.server.closeAllConnections();
        await closed;
      }
    });
}
