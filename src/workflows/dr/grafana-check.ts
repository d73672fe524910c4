/**
 * Checks a restored Grafana database with SQLite itself (node:sqlite, read-only): `PRAGMA
 * integrity_check`, the provisioned dashboards (by uid) and the provisioned Prometheus datasource
 * (uid `prometheus`, pointing at the stage's Prometheus Service).
 */
export interface GrafanaCheck {
  integrity: string[];
  dashboards: { expected: string[]; found: string[]; missing: string[] };
  datasource?: { uid: string; type: string; url: string };
  problems: string[];
}

type SqliteModule = typeof import("node:sqlite");

/** node:sqlite without its one-time ExperimentalWarning on stderr (Node 22 marks it experimental). */
async function loadSqlite(): Promise<SqliteModule> {
  const original = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === "string" ? warning : warning.message;
    if (/SQLite is an experimental feature/.test(text)) return;
    (original as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return await import("node:sqlite");
  } finally {
    process.emitWarning = original;
  }
}

export async function checkGrafanaDb(
  file: string,
  expect: { dashboards: string[]; datasourceUrl: string },
): Promise<GrafanaCheck> {
  const { DatabaseSync } = await loadSqlite();
  const out: GrafanaCheck = {
    integrity: [],
    dashboards: { expected: [...expect.dashboards].sort(), found: [], missing: [] },
    problems: [],
  };
  let db;
  try {
    db = new DatabaseSync(file, { readOnly: true });
  } catch (err) {
    out.problems.push(`cannot open ${file} as SQLite: ${(err as Error).message}`);
    return out;
  }
  try {
    try {
      out.integrity = (
        db.prepare("PRAGMA integrity_check").all() as Array<Record<string, unknown>>
      ).map((r) => String(Object.values(r)[0]));
    } catch (err) {
      out.integrity = [(err as Error).message];
    }
    if (out.integrity.length !== 1 || out.integrity[0] !== "ok") {
      out.problems.push(`PRAGMA integrity_check: ${out.integrity.slice(0, 5).join("; ")}`);
      return out;
    }
    try {
      out.dashboards.found = (
        db.prepare("SELECT uid FROM dashboard").all() as Array<{ uid: string }>
      )
        .map((r) => r.uid)
        .sort();
    } catch (err) {
      out.problems.push(`no dashboard table (${(err as Error).message}): not a Grafana database`);
      return out;
    }
    out.dashboards.missing = out.dashboards.expected.filter(
      (u) => !out.dashboards.found.includes(u),
    );
    if (out.dashboards.missing.length > 0) {
      out.problems.push(`provisioned dashboards missing: ${out.dashboards.missing.join(", ")}`);
    }
    try {
      const ds = db
        .prepare("SELECT uid, type, url FROM data_source WHERE uid = 'prometheus'")
        .get() as { uid: string; type: string; url: string } | undefined;
      if (!ds) out.problems.push("the provisioned datasource (uid prometheus) is missing");
      else {
        out.datasource = { uid: ds.uid, type: ds.type, url: ds.url };
        if (ds.type !== "prometheus") {
          out.problems.push(`datasource prometheus has type ${ds.type}, not prometheus`);
        }
        if (ds.url !== expect.datasourceUrl) {
          out.problems.push(
            `datasource prometheus points at ${ds.url}, not ${expect.datasourceUrl}: a database of another stage`,
          );
        }
      }
    } catch (err) {
      out.problems.push(`no data_source table (${(err as Error).message}): not a Grafana database`);
    }
    return out;
  } finally {
    db.close();
  }
}
