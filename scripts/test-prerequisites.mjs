#!/usr/bin/env node
// `npm test` runs this first (the `pretest` script), so the README's test command works on a fresh
// machine by itself: the tests drive real promtool, amtool, Prometheus, Alertmanager and the
// Pushgateway. When one is missing, as root with apt-get it installs the Debian packages (as
// .ci/run did); otherwise it stops at once with the exact command to run. Plain Node, no deps.
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import path from "node:path";

/** Tool → the Debian package that ships it. */
const TOOLS = {
  promtool: "prometheus",
  prometheus: "prometheus",
  amtool: "prometheus-alertmanager",
  "prometheus-alertmanager": "prometheus-alertmanager",
  "prometheus-pushgateway": "prometheus-pushgateway",
  curl: "curl",
  wget: "wget",
  sqlite3: "sqlite3",
  // The backup agent's end-to-end test runs Debian's aws CLI (v2, as the aws-cli image ships) by
  // its absolute path: a pip-installed v1 elsewhere on PATH does not count.
  "/usr/bin/aws": "awscli",
};
/** Alternative names a tool may have on PATH. */
const ALIASES = { "prometheus-alertmanager": ["alertmanager"] };

function onPath(name) {
  if (path.isAbsolute(name)) {
    try {
      accessSync(name, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

const missing = Object.keys(TOOLS).filter(
  (t) => !onPath(t) && !(ALIASES[t] ?? []).some((a) => onPath(a)),
);
if (missing.length === 0) process.exit(0);

const packages = [...new Set(missing.map((t) => TOOLS[t]))];
const args = ["install", "-y", "-q", "--no-install-recommends", ...packages, "ca-certificates"];
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
if (!isRoot || !onPath("apt-get")) {
  process.stderr.write(
    `npm test needs ${missing.join(", ")} (Debian packages ${packages.join(", ")}). Install them, then run npm test again:\n` +
      `  sudo apt-get update && sudo apt-get ${args.join(" ")}\n`,
  );
  process.exit(2);
}
process.stderr.write(
  `== installing ${packages.join(", ")} for the tests (missing: ${missing.join(", ")})\n`,
);
const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
for (const cmd of [["update", "-q"], args]) {
  const r = spawnSync("apt-get", cmd, { stdio: "inherit", env });
  if (r.status !== 0) {
    process.stderr.write(
      `apt-get ${cmd.join(" ")} failed (exit ${r.status}); run it by hand, then npm test\n`,
    );
    process.exit(2);
  }
}
