import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../src/store/index.js";
import { jsonOf, updateObject } from "../../src/store/cas.js";
import type { ObjectStore } from "../../src/store/types.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function fileStore(): ObjectStore {
  const dir = mkdtempSync(join(tmpdir(), "goose-cas-"));
  dirs.push(dir);
  return openStore(`file://${dir}`, {});
}

async function increment(store: ObjectStore, key: string): Promise<number> {
  return updateObject(store, key, (cur) => {
    const n = jsonOf<{ n: number }>(cur, { n: 0 }).n + 1;
    return { write: JSON.stringify({ n }), result: n };
  });
}

describe("updateObject (compare-and-swap)", () => {
  it("creates, then updates from what it read", async () => {
    const store = fileStore();
    expect(await increment(store, "c.json")).toBe(1);
    expect(await increment(store, "c.json")).toBe(2);
    expect(jsonOf((await store.get("c.json"))!, { n: 0 }).n).toBe(2);
  });

  it("loses no concurrent update", async () => {
    const store = fileStore();
    await Promise.all(Array.from({ length: 8 }, () => increment(store, "c.json")));
    expect(jsonOf((await store.get("c.json"))!, { n: 0 }).n).toBe(8);
  });

  it("retries with a fresh read after a lost race and runs onConflict", async () => {
    const store = fileStore();
    await store.put("k", "a");
    const seen: string[] = [];
    let conflicts = 0;
    const result = await updateObject(store, "k", async (cur, attempt) => {
      seen.push(cur!.body.toString());
      if (attempt === 0) await store.put("k", "b"); // someone else writes in between
      return {
        write: cur!.body.toString() + "+",
        result: attempt,
        onConflict: async () => {
          conflicts += 1;
        },
      };
    });
    expect(seen).toEqual(["a", "b"]);
    expect(result).toBe(1);
    expect(conflicts).toBe(1);
    expect((await store.get("k"))!.body.toString()).toBe("b+");
  });

  it("keeps the object when told to, and reports exhaustion", async () => {
    const store = fileStore();
    expect(await updateObject(store, "k", () => ({ keep: "kept" }))).toBe("kept");
    expect(await store.get("k")).toBeUndefined();
    const always = updateObject(
      store,
      "k",
      async (cur) => {
        await store.put("k", String(Math.random()));
        return { write: "mine", result: cur };
      },
      { attempts: 3 },
    );
    await expect(always).rejects.toThrow(/it kept changing/);
  });
});
