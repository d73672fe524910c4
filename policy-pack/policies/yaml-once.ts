/**
 * YAML documents parsed once per pack process: a stage's prometheus.yml is read by two stack
 * policies (metrics-endpoints-protected and prometheus-keeps-rule-metrics), and it is the largest
 * document of a stage. Bounded, so a long-lived pack cannot grow without limit. Callers only
 * read the result, never change it (it is shared). A document that does not parse throws, every
 * time, as `parse` does.
 */
import { parse } from "yaml";

const LIMIT = 64;
const parsed = new Map<string, unknown>();

export function parseYamlOnce(text: string): unknown {
  if (parsed.has(text)) return parsed.get(text);
  const doc: unknown = parse(text);
  if (parsed.size >= LIMIT) parsed.clear();
  parsed.set(text, doc);
  return doc;
}
