import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  loadStageConfigFile,
  parseStageConfig,
  readStackFile,
  STAGE_DEFAULTS,
  StageConfigError,
  STAGES,
} from "../../src/config/index.js";

const dir = mkdtempSync(join(tmpdir(), "goose-config-"));

/** Writes a stack file for `stage` with the given project keys (on top of nothing else). */
function stackFile(
  stage: string,
  keys: Record<string, unknown>,
  name = `Pulumi.${stage}.yaml`,
): string {
  const config: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(keys)) config[k.includes(":") ? k : `golden-goose:${k}`] = v;
  const path = join(dir, name);
  writeFileSync(path, stringify({ config }));
  return path;
}

function errorOf(fn: () => unknown): StageConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StageConfigError);
    return err as StageConfigError;
  }
  throw new Error("expected a StageConfigError");
}

describe("shipped stack files", () => {
  for (const stage of STAGES) {
    it(`Pulumi.${stage}.yaml is a valid, frozen ${stage} config`, () => {
      const cfg = loadStageConfigFile(`Pulumi.${stage}.yaml`);
      expect(cfg.stage).toBe(stage);
      expect(Object.isFrozen(cfg)).toBe(true);
      expect(Object.isFrozen(cfg.prometheus.resources.limits)).toBe(true);
      expect(() => {
        (cfg.prometheus as { retentionDays: number }).retentionDays = 1;
      }).toThrow(TypeError);
    });
  }
});

describe("defaults and overrides", () => {
  it("takes the stage defaults and lets the stack file override one nested key", () => {
    const cfg = loadStageConfigFile(stackFile("sandbox", { prometheus: { retentionDays: 3 } }));
    expect(cfg.prometheus.retentionDays).toBe(3);
    expect(cfg.prometheus.storageSize).toBe(STAGE_DEFAULTS.sandbox.prometheus.storageSize);
    expect(cfg.backup.target).toBe("volume");
  });

  it("ignores other namespaces (provider config such as aws:region)", () => {
    const cfg = loadStageConfigFile(
      stackFile("sandbox", { "aws:region": "eu-central-1", "kubernetes:context": "kind" }),
    );
    expect(cfg.stage).toBe("sandbox");
  });

  it("turns secure values into placeholders and lists them", () => {
    const path = stackFile("sandbox", { "aws:secretThing": { secure: "v1:abc" } });
    const file = readStackFile(path);
    expect(file.secretKeys).toEqual(["aws:secretThing"]);
    expect(file.config["aws:secretThing"]).toBe("[secret]");
  });
});

describe("broken stack files give errors naming file, key, what is allowed and what was there", () => {
  it("a typo in a key suggests the nearest known key", () => {
    const err = errorOf(() =>
      loadStageConfigFile(stackFile("sandbox", { prometheus: { retentionDay: 30 } })),
    );
    expect(err.message).toContain(
      "Pulumi.sandbox.yaml: golden-goose:prometheus.retentionDay: unknown key",
    );
    expect(err.message).toContain('did you mean "retentionDays"?');
  });

  it("a typo in a top-level key suggests the component", () => {
    const err = errorOf(() => loadStageConfigFile(stackFile("sandbox", { grafna: {} })));
    expect(err.message).toContain('golden-goose:grafna: unknown key; did you mean "grafana"?');
  });

  it("a malformed image reference is refused", () => {
    const err = errorOf(() =>
      loadStageConfigFile(stackFile("compliance", { grafana: { image: "Grafana Image!" } })),
    );
    expect(err.message).toContain("Pulumi.compliance.yaml: golden-goose:grafana.image:");
    expect(err.message).toContain("expected an image reference like quay.io/prometheus/prometheus");
    expect(err.message).toContain('got "Grafana Image!"');
  });

  it("`latest`, a missing tag and missing limits are well-formed: the policy pack judges them", () => {
    const cfg = loadStageConfigFile(
      stackFile("sandbox", {
        grafana: {
          image: "docker.io/grafana/grafana:latest",
          resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: null },
        },
        scanner: { image: "aquasec/trivy" },
      }),
    );
    expect(cfg.grafana.image).toBe("docker.io/grafana/grafana:latest");
    expect(cfg.grafana.resources.limits).toBeNull();
  });

  it("a value of the wrong type names the type expected and the value found", () => {
    const err = errorOf(() =>
      loadStageConfigFile(stackFile("sandbox", { prometheus: { replicas: "two" } })),
    );
    expect(err.message).toContain('golden-goose:prometheus.replicas: expected number, got "two"');
  });

  it("an unknown backup target lists the allowed ones", () => {
    const err = errorOf(() =>
      loadStageConfigFile(stackFile("sandbox", { backup: { target: "tape" } })),
    );
    expect(err.message).toMatch(
      /golden-goose:backup\.target: expected one of "volume"\|"s3", got "tape"/,
    );
  });

  it("production backing up to S3 without its EKS cluster is refused (the role is IRSA)", () => {
    const err = errorOf(() =>
      parseStageConfig({}, { file: "Pulumi.production.yaml", stack: "production" }),
    );
    expect(err.message).toContain("golden-goose:eks: eks.clusterName is required");
  });

  it("Grafana is a single writer: more than one replica is refused", () => {
    const err = errorOf(() =>
      parseStageConfig(
        { grafana: { replicas: 2 } },
        { file: "Pulumi.sandbox.yaml", stack: "sandbox" },
      ),
    );
    expect(err.message).toContain("golden-goose:grafana.replicas: Grafana keeps its state");
  });

  it("a stage that disagrees with the stack name is refused", () => {
    const err = errorOf(() =>
      loadStageConfigFile(stackFile("production", { stage: "sandbox" }, "Pulumi.production.yaml")),
    );
    expect(err.message).toContain('golden-goose:stage: is "sandbox" but the stack is "production"');
  });

  it("an unknown stage lists the stages", () => {
    const err = errorOf(() => loadStageConfigFile(stackFile("staging", {})));
    expect(err.message).toContain('expected one of sandbox, compliance, production, got "staging"');
  });

  it("object lock on a volume target is refused", () => {
    const err = errorOf(() =>
      loadStageConfigFile(stackFile("sandbox", { backup: { objectLockDays: 5 } })),
    );
    expect(err.message).toContain(
      "golden-goose:backup.objectLockDays: object lock needs backup.target s3",
    );
  });

  it("invalid YAML and a missing file are named", () => {
    const bad = join(dir, "Pulumi.sandbox.yaml");
    writeFileSync(bad, "config:\n  golden-goose:prometheus: {retentionDays: [\n");
    expect(errorOf(() => loadStageConfigFile(bad)).message).toContain(
      "Pulumi.sandbox.yaml: (file): not valid YAML",
    );
    expect(errorOf(() => loadStageConfigFile(join(dir, "Pulumi.nope.yaml"))).message).toContain(
      "no such stack file",
    );
  });

  it("a credential in plaintext is refused with the command that encrypts it", () => {
    const err = errorOf(() =>
      loadStageConfigFile(stackFile("production", { ticketToken: "hunter2" })),
    );
    expect(err.message).toContain(
      "golden-goose:ticketToken: a credential must not be stored in plaintext; remove it and run `pulumi config set --secret golden-goose:ticketToken -s production`",
    );
    expect(err.message).not.toContain("hunter2");
  });

  it("an encrypted credential is accepted and kept out of the config object", () => {
    const cfg = loadStageConfigFile(
      stackFile("sandbox", { pagerdutyRoutingKey: { secure: "v1:AAAA" } }),
    );
    expect(JSON.stringify(cfg)).not.toContain("pagerdutyRoutingKey");
  });

  it("reports every problem at once", () => {
    const err = errorOf(() =>
      loadStageConfigFile(
        stackFile("sandbox", {
          prometheus: { replicas: 0, retentionDay: 1 },
          secrets: { rotationDays: 0 },
        }),
      ),
    );
    expect(err.problems.length).toBeGreaterThanOrEqual(3);
  });
});
