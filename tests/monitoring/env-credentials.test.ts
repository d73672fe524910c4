/**
 * goose's basic-auth credentials for Prometheus and the Pushgateway (one reader,
 * src/monitoring/env-credentials.ts): from the environment only, never printed, and a fix that
 * runs as printed once the stage is known.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { exitCodeOf } from "../../src/cli/errors.js";
import { prometheusAuthHeaders } from "../../src/monitoring/prometheus-credentials.js";
import {
  pushgatewayAuthHeaders,
  unauthorizedHint,
} from "../../src/monitoring/pushgateway-credentials.js";

const dir = mkdtempSync(join(tmpdir(), "goose-env-credentials-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SECRET = "pw-that-must-not-show";
const basic = (user: string, pw: string) =>
  `Basic ${Buffer.from(`${user}:${pw}`).toString("base64")}`;

describe("credentials from the environment", () => {
  it("reads the password from the file (trailing newline dropped) or the variable, user default goose", () => {
    const file = join(dir, "pg");
    writeFileSync(file, `${SECRET}\n`);
    expect(pushgatewayAuthHeaders({ GOOSE_PUSHGATEWAY_PASSWORD_FILE: file })).toEqual({
      authorization: basic("goose", SECRET),
    });
    expect(
      prometheusAuthHeaders({ GOOSE_PROMETHEUS_PASSWORD: SECRET, GOOSE_PROMETHEUS_USER: "ops" }),
    ).toEqual({ authorization: basic("ops", SECRET) });
    // Each server reads its own variables only.
    expect(prometheusAuthHeaders({ GOOSE_PUSHGATEWAY_PASSWORD: SECRET })).toEqual({});
    expect(pushgatewayAuthHeaders({})).toEqual({});
  });

  it("refuses both variables, an unreadable and an empty file, with exit 2 and no password shown", () => {
    const empty = join(dir, "empty");
    writeFileSync(empty, "\n");
    const cases: [NodeJS.ProcessEnv, RegExp][] = [
      [
        { GOOSE_PROMETHEUS_PASSWORD: SECRET, GOOSE_PROMETHEUS_PASSWORD_FILE: empty },
        /both GOOSE_PROMETHEUS_PASSWORD and GOOSE_PROMETHEUS_PASSWORD_FILE are set/,
      ],
      [
        { GOOSE_PROMETHEUS_PASSWORD_FILE: join(dir, "missing") },
        /cannot read the stage's Prometheus password from .*missing \(GOOSE_PROMETHEUS_PASSWORD_FILE\): ENOENT/,
      ],
      [
        { GOOSE_PROMETHEUS_PASSWORD_FILE: empty },
        /empty \(GOOSE_PROMETHEUS_PASSWORD_FILE\) is empty/,
      ],
    ];
    for (const [env, message] of cases) {
      let err: unknown;
      try {
        prometheusAuthHeaders(env);
      } catch (e) {
        err = e;
      }
      expect((err as Error).message).toMatch(message);
      expect(exitCodeOf(err)).toBe(2);
      expect(JSON.stringify(err) + String(err)).not.toContain(SECRET);
    }
  });

  it("a refusal names what was sent and a fix with the stage's namespace when the stage is known", () => {
    const hint = unauthorizedHint({ GOOSE_PUSHGATEWAY_PASSWORD: SECRET }, { stage: "production" });
    expect(hint).toContain(
      "the Pushgateway asks for basic auth and the password from GOOSE_PUSHGATEWAY_PASSWORD was refused",
    );
    expect(hint).toContain(
      `kubectl get secret pushgateway-auth -n "$(pulumi stack output namespace -s production)" -o jsonpath='{.data.password}' | base64 -d > ~/.goose-pushgateway && export GOOSE_PUSHGATEWAY_PASSWORD_FILE=~/.goose-pushgateway`,
    );
    expect(hint).not.toContain(SECRET);
    expect(unauthorizedHint({})).toContain("goose sent no credentials");
  });
});
