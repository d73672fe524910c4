import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import {
  PreconditionFailedError,
  type ObjectStore,
  type PutOptions,
  type PutResult,
  type StoredObject,
} from "../../src/store/types.js";

/**
 * An in-memory ObjectStore that keeps the port's contract (atomic put, ifNoneMatch, ifMatch,
 * sorted list). For unit tests of evidence and locks logic; integration tests use the real stores.
 */
let instances = 0;

export class MemoryStore implements ObjectStore {
  /** Unique per instance: evidence keeps a local anchor per store URL. */
  readonly url = `memory://test-${process.pid}-${++instances}-${Date.now()}`;
  readonly objects = new Map<string, Buffer>();
  constructor(private readonly conditional = true) {}

  private etagOf(body: Buffer): string {
    return '"' + createHash("md5").update(body).digest("hex") + '"';
  }

  async put(
    key: string,
    body: Buffer | string | Readable,
    opts: PutOptions = {},
  ): Promise<PutResult> {
    let buf: Buffer;
    if (typeof body === "string") buf = Buffer.from(body);
    else if (Buffer.isBuffer(body)) buf = body;
    else {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(Buffer.from(c as Buffer));
      buf = Buffer.concat(chunks);
    }
    const cur = this.objects.get(key);
    if (this.conditional) {
      if (opts.ifNoneMatch && cur) throw new PreconditionFailedError(key);
      if (opts.ifMatch !== undefined && (!cur || this.etagOf(cur) !== opts.ifMatch)) {
        throw new PreconditionFailedError(key);
      }
    }
    this.objects.set(key, Buffer.from(buf));
    return { etag: this.etagOf(buf) };
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const b = this.objects.get(key);
    return b ? { body: Buffer.from(b), etag: this.etagOf(b) } : undefined;
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const b = this.objects.get(key);
    return b ? Readable.from([b]) : undefined;
  }

  async head(key: string): Promise<{ etag: string; size: number } | undefined> {
    const b = this.objects.get(key);
    return b ? { etag: this.etagOf(b), size: b.length } : undefined;
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }

  async supportsConditionalWrites(): Promise<boolean> {
    return this.conditional;
  }
}
