/**
 * Starting a policy-pack process, as the Pulumi CLI does: `node <run-policy-pack> <engine-address>
 * .` with the pack folder as working directory; the pack prints its gRPC port on stdout. This
 * module loads nothing but Node's own modules, so `goose preview` can start the pack before it
 * loads gRPC, the Pulumi SDKs and the program (the pack's start is the longest single step of a
 * preview, and this process's own loading and rendering overlap with it). `PolicyPackProcess`
 * (analyzer.ts) attaches the gRPC client to a started `PackLaunch`.
 *
 * Fail closed: a pack that exits, does not print its port within the timeout, or prints
 * something else rejects `port` with a PolicyPackError carrying the pack's own stderr.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire, getCompileCacheDir } from "node:module";
import { dirname, join } from "node:path";
import { PolicyPackError } from "./errors.js";

const require = createRequire(import.meta.url);

/** Path of the runner the Pulumi CLI uses for a Node.js policy pack. */
export const RUN_POLICY_PACK = join(
  dirname(require.resolve("@pulumi/pulumi")),
  "cmd",
  "run-policy-pack",
  "index.js",
);

/**
 * Preloaded in the pack process (`--import`, src/pulumi-startup.mjs): @pulumi/pulumi's
 * Automation API and closure serializer load on first use, a pack whose `main` is JavaScript (a
 * goose-built pack always is: pack-build.ts) is run without registering ts-node and loading the
 * TypeScript compiler, and the compile cache is written once the pack is serving. The file sits
 * at src/ and at dist/ (scripts/build.mjs copies it), one level above this module.
 */
export const PULUMI_STARTUP = new URL("../pulumi-startup.mjs", import.meta.url).href;

/**
 * The environment the CLI gives a pack for one stack (analyzer_plugin.go `constructEnv`), so that
 * `pulumi.getStack()`, `getProject()`, `isDryRun()` and `new pulumi.Config()` work inside it.
 */
export function packEnv(
  base: NodeJS.ProcessEnv,
  stack: {
    project: string;
    stack: string;
    dryRun: boolean;
    config: Record<string, string>;
    secretKeys: string[];
  },
): NodeJS.ProcessEnv {
  return {
    ...base,
    PULUMI_NODEJS_PROJECT: stack.project,
    PULUMI_NODEJS_STACK: stack.stack,
    PULUMI_NODEJS_ORGANIZATION: "organization",
    PULUMI_NODEJS_DRY_RUN: String(stack.dryRun),
    PULUMI_CONFIG: JSON.stringify(stack.config),
    PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(stack.secretKeys),
  };
}

/** A pack's start timeout for an RPC timeout: never under 60 s (a busy machine starts slowly). */
export function packStartTimeoutMs(rpcTimeoutMs: number): number {
  return Math.max(rpcTimeoutMs, 60_000);
}

/**
 * The pack process shares goose's on-disk compile cache (bin/goose.js enables it), so a second
 * start skips V8's compilation of @pulumi/policy, @pulumi/pulumi and the pack. An environment
 * that sets NODE_COMPILE_CACHE or NODE_DISABLE_COMPILE_CACHE keeps its choice.
 */
function withCompileCache(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const dir = getCompileCacheDir?.();
  if (dir && env.NODE_COMPILE_CACHE === undefined && env.NODE_DISABLE_COMPILE_CACHE === undefined) {
    env.NODE_COMPILE_CACHE = dir;
  }
  return env;
}

const MAX_STDERR = 64 * 1024;

export interface LaunchOptions {
  /** Milliseconds the pack may take to print its port (default 60 s). */
  startTimeoutMs?: number;
  /** The pack's environment; see `packEnv` for what the CLI adds per stack. */
  env?: NodeJS.ProcessEnv;
}

/** A started pack process, until its port. Always `close()` it (idempotent). */
export class PackLaunch {
  private stderrText = "";
  private exitedAs: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitWaiters = new Set<(why: string) => void>();
  private closed = false;
  /** The pack's gRPC port; rejects (PolicyPackError) when it fails to start. */
  readonly port: Promise<number>;
  private readonly child: ChildProcess;

  /** Spawns the pack now; `port` settles when it prints its port, exits or times out. */
  constructor(
    readonly packDir: string,
    opts: LaunchOptions = {},
  ) {
    const startTimeoutMs = opts.startTimeoutMs ?? 60_000;
    // As the CLI: `<runner> <engine-address> .` with the pack folder as working directory.
    const child = spawn(
      process.execPath,
      ["--import", PULUMI_STARTUP, RUN_POLICY_PACK, "127.0.0.1:0", "."],
      {
        cwd: packDir,
        env: withCompileCache({ ...(opts.env ?? process.env), GOOSE_PACK_EXIT_WITH_PARENT: "1" }),
        // stdin: a pipe only goose writes to (never does); when goose dies without closing the
        // pack (SIGKILL, OOM) the pipe ends and the pack exits (src/pulumi-startup.mjs).
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    this.child = child;
    // The pipe must not keep goose alive by itself; its end is the pack's signal, not ours.
    (child.stdin as (NodeJS.WritableStream & { unref?: () => void }) | null)?.unref?.();
    child.stdin?.on("error", () => undefined);
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (s: string) => {
      if (this.stderrText.length < MAX_STDERR) this.stderrText += s;
    });
    child.on("exit", (code, signal) => {
      this.exitedAs = { code, signal };
      const why = this.describeExit();
      for (const w of this.exitWaiters) w(why);
      this.exitWaiters.clear();
    });
    this.port = new Promise<number>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => {
        this.kill();
        reject(
          new PolicyPackError(
            `policy pack ${packDir} did not start within ${startTimeoutMs / 1000} s` +
              this.stderrSuffix(),
          ),
        );
      }, startTimeoutMs);
      const onExit = (why: string) => {
        clearTimeout(timer);
        reject(new PolicyPackError(`policy pack ${packDir} failed to start: ${why}`));
      };
      this.exitWaiters.add(onExit);
      child.on("error", (err) => {
        clearTimeout(timer);
        reject(new PolicyPackError(`policy pack ${packDir} could not be run: ${err.message}`));
      });
      child.stdout?.setEncoding("utf8");
      child.stdout?.on("data", (s: string) => {
        out += s;
        const nl = out.indexOf("\n");
        if (nl < 0) return;
        const first = out.slice(0, nl).trim();
        clearTimeout(timer);
        this.exitWaiters.delete(onExit);
        if (/^\d+$/.test(first)) resolve(Number(first));
        else {
          this.kill();
          reject(
            new PolicyPackError(
              `policy pack ${packDir} printed "${first.slice(0, 200)}" instead of its port` +
                this.stderrSuffix(),
            ),
          );
        }
        out = "";
        child.stdout?.removeAllListeners("data");
        child.stdout?.resume();
      });
    });
    // A launch nobody waits on (the caller failed first) must not be an unhandled rejection.
    this.port.catch(() => undefined);
  }

  /** The pack's process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** What the pack wrote to stderr so far. */
  get stderr(): string {
    return this.stderrText;
  }

  /** How the process ended, once it has. */
  get exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exitedAs;
  }

  /** Calls `cb` with a description of the exit when the process ends (now, if it has). */
  onExit(cb: (why: string) => void): () => void {
    if (this.exitedAs) {
      cb(this.describeExit());
      return () => undefined;
    }
    this.exitWaiters.add(cb);
    return () => this.exitWaiters.delete(cb);
  }

  /** Stops the pack (the CLI kills its plugins the same way) and waits for it to end. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.exitedAs) return;
    const done = new Promise<void>((resolve) => this.exitWaiters.add(() => resolve()));
    this.kill();
    await done;
  }

  kill(): void {
    if (!this.exitedAs) this.child.kill("SIGKILL");
  }

  describeExit(): string {
    const e = this.exitedAs;
    const how = e?.signal ? `was killed by ${e.signal}` : `exited with code ${e?.code}`;
    return `the pack process ${how}` + this.stderrSuffix();
  }

  stderrSuffix(): string {
    const text = this.stderrText.trim();
    return text ? `; its output:\n${text}` : "";
  }
}
