/**
 * monitoring/config/correlation.yaml: alert grouping and inhibition as data, rendered with the
 * hand-written routes (monitoring/config/alertmanager-routes.yaml) into
 * monitoring/alertmanager/alertmanager.yml.
 */
import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { z } from "zod";

export const CORRELATION_PATH = "monitoring/config/correlation.yaml";
export const ROUTES_PATH = "monitoring/config/alertmanager-routes.yaml";

const matcher = z
  .string()
  .regex(/^[a-zA-Z_]\w*(=|!=|=~|!~)".*"$/, 'an Alertmanager matcher like severity="critical"');

export const correlationSchema = z.strictObject({
  groupBy: z.array(z.string().min(1)).min(1),
  inhibitions: z.array(
    z.strictObject({
      why: z.string().min(1),
      source: z.array(matcher).min(1),
      target: z.array(matcher).min(1),
      equal: z.array(z.string().min(1)).min(1),
    }),
  ),
});

export type Correlation = z.infer<typeof correlationSchema>;

export class CorrelationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CorrelationError";
  }
}

export function loadCorrelationFile(file: string): Correlation {
  let raw: unknown;
  try {
    raw = parseDocument(readFileSync(file, "utf8")).toJS();
  } catch (err) {
    throw new CorrelationError(`${file}: cannot read: ${(err as Error).message}`);
  }
  const r = correlationSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map(
      (i) => `  ${i.path.length ? i.path.join(".") : "(top level)"}: ${i.message}`,
    );
    throw new CorrelationError(`${file} is invalid:\n${lines.join("\n")}\nFix the fields above.`);
  }
  return r.data;
}

/**
 * alertmanager.yml: the routes file with `route.group_by` set and `inhibit_rules` appended (each
 * rule commented with its `why`). Comments of the routes file are kept.
 */
export function renderAlertmanagerConfig(
  routesYaml: string,
  c: Correlation,
  header: string,
): string {
  const doc = parseDocument(routesYaml);
  const route = doc.get("route", true) as { set?: (k: string, v: unknown) => void } | undefined;
  if (!route || typeof route.set !== "function") {
    throw new CorrelationError(`${ROUTES_PATH}: no route: block`);
  }
  doc.setIn(["route", "group_by"], doc.createNode(c.groupBy, { flow: true }));
  const rules = doc.createNode(
    c.inhibitions.map((i) => ({
      source_matchers: i.source,
      target_matchers: i.target,
      equal: i.equal,
    })),
  ) as { items: { commentBefore?: string; get: (k: string, keep: boolean) => unknown }[] };
  rules.items.forEach((item, n) => {
    item.commentBefore = ` ${c.inhibitions[n]!.why.replace(/\s+/g, " ")}`;
    for (const key of ["source_matchers", "target_matchers", "equal"]) {
      const seq = item.get(key, true) as { flow?: boolean; items: { type?: string }[] } | undefined;
      if (!seq) continue;
      // Flow style like the rest of the file, unless the line would be too long for Prettier.
      seq.flow = String(seq).length < 70;
      // Matchers hold double quotes: single-quote them, as a person (and Prettier) writes them.
      if (key !== "equal") for (const m of seq.items) m.type = "QUOTE_SINGLE";
    }
  });
  doc.set("inhibit_rules", rules);
  return `${header}\n${doc.toString({ lineWidth: 0, flowCollectionPadding: false })}`;
}
