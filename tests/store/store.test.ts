import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { createHash, randomBytes } from "node:crypto";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import {
  DEFAULT_STORE_URL,
  FileObjectStore,
  openStore,
  PreconditionFailedError,
  type ObjectStore,
} from "../../src/store/index.js";
import { UsageError } from "../../src/cli/errors.js";
import { readAll } from "../../src/store/file.js";
import { startS3rver, type RunningS3 } from "./s3rver.js";

let s3: RunningS3;
const dirs: string[] = [];

beforeAll(async () => {
  s3 = await startS3rver();
});
afterAll(async () => {
  await s3.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "goose-store-"));
  dirs.push(d);
  return d;
}

const adapters: Array<[string, () => ObjectStore]> = [
  ["file", () => openStore(`file://${tempDir()}`, {})],
  ["s3", () => openStore(`s3://${s3.bucket}/t-${randomBytes(4).toString("hex")}`, s3.env)],
];

describe.each(adapters)("%s store: the ObjectStore contract", (_name, make) => {
  it("puts, gets, heads and deletes buffers, strings and streams", async () => {
    const store = make();
    const a = await store.put("x/a.json", '{"a":1}');
    const got = await store.get("x/a.json");
    expect(got?.body.toString()).toBe('{"a":1}');
    expect(got?.etag).toBe(a.etag);
    expect(await store.head("x/a.json")).toEqual({ etag: a.etag, size: 7 });

    const big = randomBytes(3 * 1024 * 1024 + 17);
    await store.put("x/b.bin", Readable.from([big.subarray(0, 1000), big.subarray(1000)]));
    const stream = await store.getStream("x/b.bin");
    expect(stream).toBeDefined();
    const back = await readAll(stream!);
    expect(sha(back)).toBe(sha(big));

    await store.delete("x/a.json");
    expect(await store.get("x/a.json")).toBeUndefined();
    expect(await store.getStream("x/a.json")).toBeUndefined();
    expect(await store.head("x/a.json")).toBeUndefined();
    await store.delete("x/never-existed");
  });

  it("lists every key under a prefix, sorted ascending", async () => {
    const store = make();
    for (const k of ["s/b/2", "s/a/1", "s/b/1", "t/1", "s/bb"]) await store.put(k, k);
    expect(await store.list("s/")).toEqual(["s/a/1", "s/b/1", "s/b/2", "s/bb"]);
    expect(await store.list("s/b")).toEqual(["s/b/1", "s/b/2", "s/bb"]);
    expect(await store.list("s/b/")).toEqual(["s/b/1", "s/b/2"]);
    expect(await store.list("nothing/")).toEqual([]);
  });

  it("refuses keys that escape or collide with internal files", async () => {
    const store = make();
    for (const k of ["../x", "a//b", "/abs", "a/./b", ".goose-tmp-1", ""]) {
      await expect(store.put(k, "x")).rejects.toThrow(/invalid store key/);
    }
  });

  it("streams a large body as a multipart upload byte for byte", async () => {
    const store = make();
    const parts = Array.from({ length: 5 }, () => randomBytes(4 * 1024 * 1024));
    const whole = Buffer.concat(parts);
    await store.put("big/payload", Readable.from(parts));
    expect((await store.head("big/payload"))?.size).toBe(whole.length);
    const back = await readAll((await store.getStream("big/payload"))!);
    expect(sha(back)).toBe(sha(whole));
  });
});

describe("file store: conditional writes and atomicity", () => {
  it("ifNoneMatch refuses an existing key; ifMatch is a compare-and-swap", async () => {
    const store = new FileObjectStore(tempDir());
    expect(await store.supportsConditionalWrites()).toBe(true);
    const first = await store.put("lock", "one", { ifNoneMatch: true });
    await expect(store.put("lock", "two", { ifNoneMatch: true })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
    expect((await store.get("lock"))?.body.toString()).toBe("one");
    await expect(store.put("lock", "three", { ifMatch: "wrong" })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
    const second = await store.put("lock", "four", { ifMatch: first.etag });
    expect((await store.get("lock"))?.body.toString()).toBe("four");
    await expect(store.put("lock", "five", { ifMatch: first.etag })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
    await store.put("lock", "six", { ifMatch: second.etag });
    await expect(store.put("absent", "x", { ifMatch: first.etag })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
  });

  it("of many concurrent ifNoneMatch creates exactly one wins; CAS increments lose no update", async () => {
    const store = new FileObjectStore(tempDir());
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => store.put("race", `w${i}`, { ifNoneMatch: true })),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);

    await store.put("counter", "0");
    const bump = async () => {
      for (;;) {
        const cur = (await store.get("counter"))!;
        try {
          await store.put("counter", String(Number(cur.body.toString()) + 1), {
            ifMatch: cur.etag,
          });
          return;
        } catch (err) {
          if (!(err instanceof PreconditionFailedError)) throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: 15 }, bump));
    expect((await store.get("counter"))?.body.toString()).toBe("15");
  });

  it("leaves no temp files behind and never lists them", async () => {
    const dir = tempDir();
    const store = new FileObjectStore(dir);
    await store.put("a/b", "x");
    await store.put("a/b", "y", { ifMatch: (await store.head("a/b"))!.etag });
    await expect(store.put("a/b", "z", { ifNoneMatch: true })).rejects.toThrow();
    expect(readdirSync(join(dir, "a"))).toEqual(["b"]);
  });
});

describe("s3 store against s3rver", () => {
  it("detects that s3rver ignores conditional writes", async () => {
    const store = openStore(`s3://${s3.bucket}/probe`, s3.env);
    expect(await store.supportsConditionalWrites()).toBe(false);
    // The probe cleans up after itself.
    expect(await store.list("")).toEqual([]);
  });

  it("stores streamed bodies exactly (no aws-chunked framing)", async () => {
    const store = openStore(`s3://${s3.bucket}/exact`, s3.env);
    const body = randomBytes(1000);
    await store.put("k", Readable.from([body]));
    const raw = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: "exact/k" }));
    const bytes = Buffer.from(await raw.Body!.transformToByteArray());
    expect(bytes.length).toBe(1000);
    expect(bytes.equals(body)).toBe(true);
  });
});

describe("openStore", () => {
  it("resolves relative file dirs against cwd and names the forms it accepts", () => {
    const cwd = tempDir();
    const store = openStore(DEFAULT_STORE_URL, {}, { cwd });
    expect(store.url).toBe(`file://${join(cwd, ".goose")}`);
    expect(openStore("file:///tmp/x", {}).url).toBe("file:///tmp/x");
    expect(openStore("s3://bucket/a/b/", {}).url).toBe("s3://bucket/a/b");
    expect(() => openStore("gs://b", {})).toThrow(UsageError);
    expect(() => openStore("gs://b", {})).toThrow(/file:\/\/DIR.*s3:\/\/BUCKET\/PREFIX/);
    expect(() => openStore("s3://B_ad", {})).toThrow(/not a valid bucket name/);
  });
});

function sha(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}
