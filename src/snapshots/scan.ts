/**
 * A streaming reader of stack exports: it walks the JSON byte by byte and hands each element
 * of `resources` and `pending_operations` (under `deployment`, or `checkpoint.latest` for a DIY
 * checkpoint) to a callback as a parsed object, and keeps the rest of the document (the
 * "skeleton": version, features, manifest, secrets provider… with those arrays emptied). So a
 * 400 MB export is validated with memory bounded by its largest resource, not its size.
 *
 * The scanner tracks only what it needs (strings, brackets, keys at shallow depth); the
 * skeleton and every element are then parsed with JSON.parse, which rejects malformed JSON.
 */

const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACK = 0x5b;
const RBRACK = 0x5d;
const QUOTE = 0x22;
const BSLASH = 0x5c;
const COMMA = 0x2c;

/**
 * Deepest nesting accepted. Pulumi's own decoder stops at 10,000 (Go's encoding/json); real
 * exports stay far below 100, and the checks after the scan walk values recursively.
 */
export const MAX_DEPTH = 1000;

const CAPTURED_ARRAYS = new Map<string, "resource" | "pending">([
  ["/deployment/resources", "resource"],
  ["/deployment/pending_operations", "pending"],
  ["/checkpoint/latest/resources", "resource"],
  ["/checkpoint/latest/pending_operations", "pending"],
]);

interface Frame {
  obj: boolean;
  path: string;
  key: string;
  expectKey: boolean;
  capture?: "resource" | "pending";
}

export interface ScanHandlers {
  resource(value: unknown, index: number): void;
  pending(value: unknown, index: number): void;
  /** When set, elements are handed over unparsed (the bytes are only valid during the call). */
  raw?(kind: "resource" | "pending", index: number, bytes: Buffer): void;
}

export class ScanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ScanError";
  }
}

export class ExportScanner {
  private stack: Frame[] = [];
  private inString = false;
  private escaped = false;
  private stringIsKey = false;
  private keyParts: string[] = [];
  private keyStart = -1;
  /** Skeleton bytes so far; copying pauses inside a captured array. */
  private skeleton: Buffer[] = [];
  private skelStart = 0;
  private paused = false;
  /** Element capture: stack depth at which the element started, or -1. */
  private capDepth = -1;
  private capParts: Buffer[] = [];
  private capStart = 0;
  private capKind: "resource" | "pending" = "resource";
  private capPrimitive = false;
  private counts = { resource: 0, pending: 0 };
  private rootDone = false;
  private bytes = 0;

  constructor(private readonly handlers: ScanHandlers) {}

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.skelStart = 0;
    this.capStart = 0;
    if (this.keyStart >= 0) this.keyStart = 0;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      if (this.inString) {
        if (this.escaped) {
          this.escaped = false;
          continue;
        }
        // Jump to the closing quote: the next quote not preceded by an odd run of backslashes.
        let q = chunk.indexOf(QUOTE, i);
        for (;;) {
          if (q < 0) break;
          let k = q - 1;
          while (k >= i && chunk[k] === BSLASH) k--;
          if ((q - 1 - k) % 2 === 0) break;
          q = chunk.indexOf(QUOTE, q + 1);
        }
        if (q < 0) {
          let k = n - 1;
          while (k >= i && chunk[k] === BSLASH) k--;
          this.escaped = (n - 1 - k) % 2 === 1;
          i = n;
          break;
        }
        i = q;
        this.inString = false;
        if (this.stringIsKey) {
          this.keyParts.push(chunk.toString("utf8", this.keyStart, i));
          const top = this.stack[this.stack.length - 1]!;
          top.key = decodeKey(this.keyParts.join(""));
          top.expectKey = false;
          this.keyParts = [];
          this.keyStart = -1;
          this.stringIsKey = false;
        }
        continue;
      }
      const c = chunk[i]!;
      // Fast path inside a captured element: only brackets and strings matter.
      if (this.capDepth >= 0 && !this.capPrimitive) {
        if (c === QUOTE) this.inString = true;
        else if (c === LBRACE || c === LBRACK) {
          if (this.stack.length >= MAX_DEPTH) this.tooDeep();
          this.stack.push(INNER);
        } else if (c === RBRACE || c === RBRACK) {
          this.stack.pop();
          if (this.stack.length === this.capDepth) this.endCapture(chunk, i + 1);
        }
        continue;
      }
      const top = this.stack[this.stack.length - 1];
      if (top?.capture && this.capDepth < 0) {
        // Between elements of a captured array.
        if (c === COMMA || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
        if (c === RBRACK) {
          this.stack.pop();
          this.paused = false;
          this.skelStart = i;
          this.afterValue();
          continue;
        }
        this.capDepth = this.stack.length;
        this.capStart = i;
        this.capParts = [];
        this.capKind = top.capture;
        if (c === LBRACE || c === LBRACK) {
          this.capPrimitive = false;
          this.stack.push(INNER);
        } else {
          this.capPrimitive = true;
          if (c === QUOTE) this.inString = true;
        }
        continue;
      }
      if (this.capPrimitive) {
        if (c === QUOTE) this.inString = true;
        else if (c === COMMA || c === RBRACK) {
          this.endCapture(chunk, i);
          i--; // re-read the separator between elements
        }
        continue;
      }
      switch (c) {
        case QUOTE:
          this.inString = true;
          if (top?.obj && top.expectKey) {
            this.stringIsKey = true;
            this.keyStart = i + 1;
            this.keyParts = [];
          }
          break;
        case LBRACE:
        case LBRACK: {
          if (this.stack.length === 0 && this.rootDone) {
            throw new ScanError("unexpected data after the end of the JSON document");
          }
          if (this.stack.length >= MAX_DEPTH) this.tooDeep();
          const path =
            top === undefined ? "" : top.obj ? `${top.path}/${top.key}` : `${top.path}/*`;
          const frame: Frame = { obj: c === LBRACE, path, key: "", expectKey: c === LBRACE };
          const kind = c === LBRACK ? CAPTURED_ARRAYS.get(path) : undefined;
          if (kind) {
            frame.capture = kind;
            this.skeleton.push(Buffer.from(chunk.subarray(this.skelStart, i + 1)));
            this.paused = true;
          }
          this.stack.push(frame);
          break;
        }
        case RBRACE:
        case RBRACK:
          if (this.stack.length === 0) throw new ScanError("unbalanced closing bracket");
          this.stack.pop();
          this.afterValue();
          break;
        case COMMA:
          if (top?.obj) top.expectKey = true;
          break;
        default:
          break;
      }
    }
    if (this.inString && this.stringIsKey && this.keyStart >= 0) {
      this.keyParts.push(chunk.toString("utf8", this.keyStart, n));
    }
    if (this.capDepth >= 0) this.capParts.push(Buffer.from(chunk.subarray(this.capStart, n)));
    else if (!this.paused) this.skeleton.push(Buffer.from(chunk.subarray(this.skelStart, n)));
  }

  /** Ends the scan; returns the parsed skeleton and the element counts. */
  end(): { skeleton: unknown; resources: number; pending: number; bytes: number } {
    if (this.inString || this.stack.length > 0 || this.capDepth >= 0) {
      throw new ScanError(
        `the export ends in the middle of the JSON document (after ${this.bytes} bytes): truncated?`,
      );
    }
    let skeleton: unknown;
    try {
      skeleton = JSON.parse(Buffer.concat(this.skeleton).toString("utf8"));
    } catch (err) {
      throw new ScanError(`the export is not valid JSON: ${(err as Error).message}`);
    }
    return {
      skeleton,
      resources: this.counts.resource,
      pending: this.counts.pending,
      bytes: this.bytes,
    };
  }

  private tooDeep(): never {
    throw new ScanError(
      `the export is nested more than ${MAX_DEPTH} levels deep (near byte ${this.bytes}); no Pulumi export is, so the file is damaged or was made to be hostile`,
    );
  }

  private afterValue(): void {
    if (this.stack.length === 0) this.rootDone = true;
  }

  private endCapture(chunk: Buffer, endExclusive: number): void {
    const last = chunk.subarray(this.capStart, endExclusive);
    const kind = this.capKind;
    const index = this.counts[kind]++;
    if (this.handlers.raw) {
      const bytes = this.capParts.length === 0 ? last : Buffer.concat([...this.capParts, last]);
      this.capParts = [];
      this.capDepth = -1;
      this.capPrimitive = false;
      this.handlers.raw(kind, index, bytes);
      return;
    }
    this.capParts.push(last);
    const text = Buffer.concat(this.capParts).toString("utf8");
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new ScanError(
        `${kind === "resource" ? "resources" : "pending_operations"}[${index}] is not valid JSON: ${(err as Error).message}`,
      );
    }
    this.capParts = [];
    this.capDepth = -1;
    this.capPrimitive = false;
    if (kind === "resource") this.handlers.resource(value, index);
    else this.handlers.pending(value, index);
  }
}

/** Placeholder frame inside captured elements (paths are not tracked there). */
const INNER: Frame = { obj: false, path: "", key: "", expectKey: false };

function decodeKey(raw: string): string {
  if (!raw.includes("\\")) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw;
  }
}
