/**
 * A snapshot id that is not in the store: the error names the listing command for the id's own
 * stage and the same store, and that command runs as printed (quoted for a shell, even when the
 * store's path has a space).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { SnapshotNotFoundError } from "../../src/snapshots/index.js";
import { runGoose } from "../helpers/cli.js";

/** The `goose …` command between backticks in `text`, as argv (single quotes honoured). */
function backticked(text: string): string[] | undefined {
  const m = /`goose ([^`]+)`/.exec(text);
  if (!m) return undefined;
  return [...m[1]!.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)].map((w) =>
    w[1] !== undefined ? w[1].replace(/'\\''/g, "'") : w[2]!,
  );
}

describe("SnapshotNotFoundError", () => {
  it("prints a listing command for the id's stage and store that runs as printed", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "goose-notfound-"));
    const storeUrl = pathToFileURL(path.join(dir, "my store")).href.replace("%20", " ");
    const err = new SnapshotNotFoundError("compliance-20261130T000000000Z-0123abcd", storeUrl);
    const argv = backticked(err.message);
    expect(argv).toEqual(["snapshot", "list", "compliance", "--store", storeUrl]);
    const env = { PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: path.join(dir, "config") };
    const r = await runGoose(argv!, { cwd: dir, env });
    expect(r.code, r.stderr).toBe(0);

    // An id that names no stage: a template, outside backticks (it does not run as printed).
    const odd = new SnapshotNotFoundError("not-an-id", storeUrl);
    expect(backticked(odd.message)).toBeUndefined();
    expect(odd.message).toContain("goose snapshot list <stage> --store");
  });
});
