/**
 * Validation beside the encryption: this thread scans the export (finding each resource's
 * bytes, keeping the small skeleton) while a worker thread parses and checks the resources in
 * order (schema, integrity), so the expensive part uses the second core while this thread
 * hashes and encrypts and zlib compresses on the thread pool. At most MAX_IN_FLIGHT batches of
 * about 1 MB wait for the worker (memory stays bounded). Opt-in (GOOSE_VALIDATE_WORKER=1): it
 * is faster but holds a second V8 heap; see openStreamValidator.
 */
import { Worker } from "node:worker_threads";
import { ExportScanner } from "./scan.js";
import { ExportValidator, type ValidateOptions, type ValidationResult } from "./validate.js";

const MAX_IN_FLIGHT = 6;

export interface StreamValidator {
  push(chunk: Buffer): void | Promise<void>;
  finish(): Promise<ValidationResult>;
  /** Stops a worker without a result (the create failed). */
  abort(): void;
}

class InThreadValidator implements StreamValidator {
  private readonly v: ExportValidator;
  private failure: Error | undefined;
  constructor(opts: ValidateOptions) {
    this.v = new ExportValidator(opts);
  }
  push(chunk: Buffer): void {
    if (this.failure) return;
    try {
      this.v.push(chunk);
    } catch (err) {
      this.failure = err as Error;
    }
  }
  async finish(): Promise<ValidationResult> {
    if (this.failure) return failed(this.failure.message);
    return this.v.finish();
  }
  abort(): void {}
}

function failed(message: string): ValidationResult {
  return {
    ok: false,
    intact: false,
    errors: [{ code: "json", message }],
    integrity: [],
    warnings: [],
    summary: {
      envelope: "export",
      version: NaN,
      features: [],
      resourceCount: 0,
      pendingOperations: [],
      plugins: [],
    },
  };
}

/** Bytes of raw elements gathered before they are sent to the worker. */
const BATCH_BYTES = 1 << 20;

class WorkerValidator implements StreamValidator {
  private inFlight = 0;
  private waiters: Array<() => void> = [];
  private readonly done: Promise<ValidationResult>;
  private resolveDone!: (r: ValidationResult) => void;
  private rejectDone!: (e: Error) => void;
  private readonly scanner: ExportScanner;
  private scanFailure: string | undefined;
  private parts: Buffer[] = [];
  private meta: number[] = [];
  private size = 0;

  constructor(private readonly worker: Worker) {
    this.done = new Promise((res, rej) => {
      this.resolveDone = res;
      this.rejectDone = rej;
    });
    this.done.catch(() => undefined);
    this.scanner = new ExportScanner({
      resource: () => undefined,
      pending: () => undefined,
      raw: (kind, index, bytes) => {
        this.meta.push(kind === "resource" ? 0 : 1, index, this.size, this.size + bytes.length);
        this.parts.push(Buffer.from(bytes));
        this.size += bytes.length;
      },
    });
    worker.on("message", (msg: unknown) => {
      if (msg === "ack") {
        this.inFlight--;
        this.waiters.shift()?.();
      } else if (msg && typeof msg === "object" && "result" in msg) {
        this.resolveDone((msg as { result: ValidationResult }).result);
        void worker.terminate();
      } else if (msg && typeof msg === "object" && "error" in msg) {
        this.rejectDone(
          new Error(`export validation failed: ${String((msg as { error: unknown }).error)}`),
        );
        void worker.terminate();
      }
    });
    worker.on("error", (err) => this.rejectDone(err));
    worker.on("exit", () => {
      this.rejectDone(new Error("the validation worker exited before it answered"));
      for (const w of this.waiters.splice(0)) w();
    });
  }

  private flush(): void {
    if (this.meta.length === 0) return;
    const ab = new ArrayBuffer(this.size);
    const view = new Uint8Array(ab);
    let at = 0;
    for (const p of this.parts) {
      view.set(p, at);
      at += p.length;
    }
    this.inFlight++;
    this.worker.postMessage({ buf: ab, meta: this.meta }, [ab]);
    this.parts = [];
    this.meta = [];
    this.size = 0;
  }

  async push(chunk: Buffer): Promise<void> {
    if (this.scanFailure !== undefined) return;
    try {
      this.scanner.push(chunk);
    } catch (err) {
      this.scanFailure = (err as Error).message;
      return;
    }
    if (this.size >= BATCH_BYTES) this.flush();
    if (this.inFlight > MAX_IN_FLIGHT) await new Promise<void>((r) => this.waiters.push(r));
  }

  finish(): Promise<ValidationResult> {
    this.flush();
    let end: { skeleton?: unknown; resources?: number; error?: string };
    if (this.scanFailure !== undefined) end = { error: this.scanFailure };
    else {
      try {
        const r = this.scanner.end();
        end = { skeleton: r.skeleton, resources: r.resources };
      } catch (err) {
        end = { error: (err as Error).message };
      }
    }
    this.worker.postMessage({ end });
    return this.done;
  }

  abort(): void {
    void this.worker.terminate();
  }
}

/**
 * The validator for a create. Default: in this thread (bench/snapshot: 1.2-1.3× the time of
 * gzip|openssl + sha256sum, peak RSS ~150-170 MB at 100-400 MB). GOOSE_VALIDATE_WORKER=1: in
 * a worker thread (0.9-1.15×, but ~220 MB: a second V8 heap). Falls back to this thread when
 * the worker cannot start.
 */
export async function openStreamValidator(
  opts: ValidateOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<StreamValidator> {
  if (env.GOOSE_VALIDATE_WORKER !== "1") return new InThreadValidator(opts);
  try {
    const worker = new Worker(new URL("./validate-worker.mjs", import.meta.url), {
      workerData: opts,
      // A small young generation keeps the worker's share of memory low; the old generation
      // holds only the URN index (8 bytes of key per resource) and the schemas.
      resourceLimits: { maxYoungGenerationSizeMb: 8 },
    });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: unknown) => {
        if (m === "ready") {
          worker.off("message", onMessage);
          worker.off("error", reject);
          resolve();
        }
      };
      worker.on("message", onMessage);
      worker.once("error", reject);
    });
    worker.unref();
    return new WorkerValidator(worker);
  } catch {
    return new InThreadValidator(opts);
  }
}
