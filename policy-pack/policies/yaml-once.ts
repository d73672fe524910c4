/**
 * YAML of the stage's monitoring ConfigMaps, as the stack policies read it.
 *
 * `parseYaml` reads with js-yaml and its YAML 1.2 core schema, the same schema the `yaml` package
 * uses by default: on the documents goose renders (prometheus.yml, the rule files) both give the
 * same values (tests/policy-pack/yaml-parse.test.ts), and js-yaml takes a fifth to an eighth of
 * the time; a preview's pack spent more time parsing these documents than on any policy.
 *
 * `parseYamlOnce`: documents parsed once per pack process: a stage's prometheus.yml is read by
 * two stack policies (metrics-endpoints-protected and prometheus-keeps-rule-metrics), and it is
 * the largest document of a stage. Bounded, so a long-lived pack cannot grow without limit.
 * Callers only read the result, never change it (it is shared). A document that does not parse
 * throws, every time.
 */
import { CORE_SCHEMA, load } from "js-yaml";

/** The value of a YAML document (core schema); throws when it is not YAML. */
export function parseYaml(text: string): unknown {
  return load(text, { schema: CORE_SCHEMA });
}

const LIMIT = 64;
const parsed = new Map<string, unknown>();

export function parseYamlOnce(text: string): unknown {
  if (parsed.has(text)) return parsed.get(text);
  const doc: unknown = parseYaml(text);
  if (parsed.size >= LIMIT) parsed.clear();
  parsed.set(text, doc);
  return doc;
}
