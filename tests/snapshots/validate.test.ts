import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import { createHash } from "node:crypto";
import { checkDependencies, toImportable, validateExport } from "../../src/snapshots/index.js";
import { fixture, FIXTURES, UNSUPPORTED } from "./helpers.js";

const urn = (name: string, type = "aws:s3/bucket:Bucket", stack = "dev") =>
  `urn:pulumi:${stack}::proj::${type}::${name}`;
const STACK = urn("proj-dev", "pulumi:pulumi:Stack");
const PROV = urn("default_7_48_0", "pulumi:providers:aws");

function good(): {
  version: number;
  deployment: { manifest: Record<string, unknown>; resources: Array<Record<string, unknown>> };
} {
  const v = "v3.270.0";
  return {
    version: 3,
    deployment: {
      manifest: {
        time: "2026-11-21T00:00:00Z",
        magic: createHash("sha256").update(v).digest("hex"),
        version: v,
      },
      resources: [
        { urn: STACK, custom: false, type: "pulumi:pulumi:Stack" },
        {
          urn: PROV,
          custom: true,
          id: "a1",
          type: "pulumi:providers:aws",
          parent: STACK,
          inputs: { version: "7.48.0" },
        },
        {
          urn: urn("b"),
          custom: true,
          id: "b",
          type: "aws:s3/bucket:Bucket",
          parent: STACK,
          provider: `${PROV}::a1`,
        },
        {
          urn: urn("c"),
          custom: true,
          id: "c",
          type: "aws:s3/bucket:Bucket",
          parent: STACK,
          dependencies: [urn("b")],
          provider: `${PROV}::a1`,
        },
      ],
    },
  };
}
const check = (doc: unknown, stack = "dev") => validateExport(JSON.stringify(doc), { stack });

describe("export validation", () => {
  it("validates with schemas that are valid JSON Schema 2020-12 (not re-checked at run time)", () => {
    const ajv = new Ajv2020({ strict: false });
    for (const name of ["resources", "deployments", "property-values"]) {
      const schema = JSON.parse(
        readFileSync(new URL(`../../src/snapshots/schema/${name}.json`, import.meta.url), "utf8"),
      ) as object;
      expect(ajv.validateSchema(schema), `${name}.json: ${ajv.errorsText()}`).toBe(true);
    }
  });

  it("accepts a well-formed export and reads its providers", () => {
    const r = check(good());
    expect(r.errors).toEqual([]);
    expect(r.integrity).toEqual([]);
    expect(r.summary.plugins).toEqual([{ name: "aws", version: "7.48.0", source: "provider" }]);
    expect(r.summary.resourceCount).toBe(4);
  });

  it("accepts every fixture in both envelopes; refuses the unknown feature", () => {
    for (const f of FIXTURES) {
      const text = readFileSync(fixture(f), "utf8");
      expect(validateExport(text, { stack: "foo" }).ok).toBe(true);
      expect(validateExport(toImportable(text), { stack: "foo" }).ok).toBe(true);
    }
    const r = validateExport(readFileSync(fixture(UNSUPPORTED)), { stack: "foo" });
    expect(r.ok).toBe(false);
    expect(r.errors[0]!.code).toBe("unknown-feature");
  });

  it("names the resource for each integrity failure", () => {
    const d1 = good();
    d1.deployment.resources.splice(2, 0, d1.deployment.resources.splice(3, 1)[0]!); // c before b
    expect(check(d1).integrity).toEqual([
      expect.objectContaining({
        code: "dependency-order",
        resource: urn("c"),
        message: expect.stringContaining("listed after"),
      }),
    ]);

    const d2 = good();
    d2.deployment.resources.splice(1, 1); // provider gone
    const i2 = check(d2).integrity;
    expect(i2.map((i) => [i.code, i.resource])).toEqual([
      ["provider-order", urn("b")],
      ["provider-order", urn("c")],
    ]);
    expect(i2[0]!.message).toMatch(/not in the snapshot/);

    const d3 = good();
    d3.deployment.resources.push({ ...d3.deployment.resources[3]! });
    expect(check(d3).integrity[0]).toMatchObject({ code: "duplicate-urn", resource: urn("c") });
    d3.deployment.resources[4]!.delete = true;
    expect(check(d3).integrity).toEqual([]);

    const d4 = good();
    d4.deployment.manifest.magic = "0".repeat(64);
    expect(check(d4).integrity[0]!.code).toBe("magic");

    const d5 = good();
    d5.deployment.resources[0]!.id = "x";
    expect(check(d5).integrity[0]).toMatchObject({ code: "custom-id", resource: STACK });

    const d6 = good();
    d6.deployment.resources[2]!.parent = urn("nope");
    expect(check(d6).integrity[0]).toMatchObject({ code: "parent-order", resource: urn("b") });
  });

  it("refuses another stack, bad versions, schema errors and broken JSON", () => {
    expect(check(good(), "prod").errors[0]).toMatchObject({ code: "wrong-stack", resource: STACK });
    expect(check({ ...good(), version: 5 }).errors[0]!.message).toMatch(/too new/);
    expect(check({ ...good(), version: 0 }).errors[0]!.message).toMatch(/too old/);
    const d = good();
    (d.deployment.resources[2] as Record<string, unknown>).protect = "yes";
    expect(check(d).errors[0]).toMatchObject({ code: "schema", resource: urn("b") });
    const t = JSON.stringify(good());
    expect(validateExport(t.slice(0, t.length - 20), { stack: "dev" }).errors[0]!.message).toMatch(
      /truncated|not valid JSON/,
    );
    expect(check({ version: 3 }).ok).toBe(false);
  });

  it("checks property values against Pulumi's schema, special values included", () => {
    const sig = "4dabf18193072939515e22adb298388d";
    const d = good();
    d.deployment.resources[2]!.outputs = {
      ok: [1, "x", null, { nested: true }],
      secret: { [sig]: "1b47061264138c4ac30d75fd1eb44270", ciphertext: "djE6YWJj" },
    };
    expect(check(d).errors).toEqual([]);
    (d.deployment.resources[2]!.outputs as Record<string, unknown>).bad = {
      deep: [{ [sig]: "not-a-known-signature" }],
    };
    const e = check(d).errors[0]!;
    expect(e).toMatchObject({ code: "schema", resource: urn("b") });
    expect(e.message).toMatch(/\/outputs\/bad\/deep\/0/);
    // A number literal JSON.parse reads as Infinity is named by its full path.
    const text = JSON.stringify(good()).replace(
      '"inputs":{"version":"7.48.0"}',
      '"inputs":{"version":"7.48.0","sizes":[1,{"max":1e999}]}',
    );
    expect(validateExport(text, { stack: "dev" }).errors).toEqual([
      expect.objectContaining({
        code: "schema",
        resource: PROV,
        message: `resource ${PROV}: /inputs/sizes/1/max is not a JSON number`,
      }),
    ]);
  });

  it("reports pending operations as warnings", () => {
    const d = good() as ReturnType<typeof good> & {
      deployment: { pending_operations?: unknown[] };
    };
    d.deployment.pending_operations = [{ resource: d.deployment.resources[2], type: "creating" }];
    const r = check(d);
    expect(r.ok).toBe(true);
    expect(r.warnings[0]).toMatchObject({ code: "pending-operation", resource: urn("b") });
    expect(r.summary.pendingOperations).toEqual([{ type: "creating", urn: urn("b") }]);
  });
});

describe("dependency check", () => {
  it("refuses a removed provider or a newer major; warns on other drift", () => {
    const pinned = { aws: "7.48.0", kubernetes: "4.34.2" };
    expect(
      checkDependencies([{ name: "aws", version: "7.48.0", source: "provider" }], pinned).findings,
    ).toEqual([]);
    const minor = checkDependencies(
      [{ name: "aws", version: "7.40.0", source: "provider" }],
      pinned,
    );
    expect(minor.ok).toBe(true);
    expect(minor.findings[0]!.severity).toBe("warning");
    const major = checkDependencies(
      [{ name: "aws", version: "8.1.0", source: "provider" }],
      pinned,
    );
    expect(major.ok).toBe(false);
    expect(major.findings[0]!.message).toMatch(/@pulumi\/aws@8.1.0/);
    const gone = checkDependencies([{ name: "gcp", version: "8.0.0", source: "provider" }], pinned);
    expect(gone.ok).toBe(false);
    expect(gone.findings[0]!.message).toMatch(/no longer pins @pulumi\/gcp/);
  });
});

describe("streaming scanner", () => {
  it("gives the same resources and skeleton whatever the chunk boundaries", async () => {
    const fc = await import("fast-check");
    const { ExportScanner } = await import("../../src/snapshots/scan.js");
    const doc = JSON.parse(readFileSync(fixture("checkpoint-secrets.json"), "utf8"));
    doc.checkpoint.latest.resources[0].outputs.tricky = 'a\\\\"b\\\\\\"}]{[ "\\u00e9\\\\';
    doc.checkpoint['we\\ird "key"'] = ["]", "}", "\\"];
    const text = Buffer.from(JSON.stringify(doc, null, 1));
    const expected = doc.checkpoint.latest.resources;
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 40 }),
        (sizes) => {
          const got: unknown[] = [];
          const sc = new ExportScanner({ resource: (v) => got.push(v), pending: () => {} });
          let at = 0;
          let k = 0;
          while (at < text.length) {
            const size = sizes[k++ % sizes.length]! * (k % 7 === 0 ? 97 : 1);
            sc.push(text.subarray(at, at + size));
            at += size;
          }
          const r = sc.end();
          expect(got).toEqual(expected);
          const skel = r.skeleton as typeof doc;
          expect(skel.checkpoint.latest.resources).toEqual([]);
          expect(skel.checkpoint['we\\ird "key"']).toEqual(["]", "}", "\\"]);
          expect(skel.checkpoint.latest.secrets_providers).toEqual(
            doc.checkpoint.latest.secrets_providers,
          );
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("URN index", () => {
  it("finds every URN added and none of 200,000 others", async () => {
    const { UrnIndex } = await import("../../src/snapshots/validate.js");
    const idx = new UrnIndex();
    const u = (i: number, kind: string) =>
      `urn:pulumi:production::golden-goose::aws:s3/bucket:Bucket::${kind}-${i}`;
    for (let i = 0; i < 200_000; i++) idx.add(u(i, "in"));
    let missing = 0;
    let falsePositives = 0;
    for (let i = 0; i < 200_000; i++) {
      if (!idx.has(u(i, "in"))) missing++;
      if (idx.has(u(i, "out"))) falsePositives++;
    }
    expect(missing).toBe(0);
    expect(falsePositives).toBe(0);
  });
});

describe("validation in a worker thread (GOOSE_VALIDATE_WORKER=1)", () => {
  it("gives the same results as in this thread, in small and odd chunks", async () => {
    const { openStreamValidator } = await import("../../src/snapshots/validate-parallel.js");
    const run = async (text: Buffer, size: number) => {
      const v = await openStreamValidator({ stack: "foo" }, { GOOSE_VALIDATE_WORKER: "1" });
      expect(v.constructor.name).toBe("WorkerValidator");
      for (let i = 0; i < text.length; i += size) await v.push(text.subarray(i, i + size));
      return v.finish();
    };
    for (const f of [...FIXTURES, UNSUPPORTED]) {
      const text = readFileSync(fixture(f));
      const inThread = validateExport(text, { stack: "foo" });
      const viaWorker = await run(text, 777);
      expect(viaWorker).toEqual(inThread);
    }
    const broken = readFileSync(fixture("checkpoint-v3.json")).subarray(0, 30_000);
    const r = await run(broken, 4096);
    expect(r.ok).toBe(false);
    expect(r.errors[0]!.message).toMatch(/truncated|not valid JSON/);
  });
});
