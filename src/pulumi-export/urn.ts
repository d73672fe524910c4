/** Pulumi URNs: `urn:pulumi:<stack>::<project>::<qualified type>::<name>`. */

/** A URN's parts (the type is the last `$`-separated segment), undefined when malformed. */
export function parseUrn(
  urn: string,
): { stack: string; project: string; type: string; name: string } | undefined {
  const PREFIX = "urn:pulumi:";
  if (!urn.startsWith(PREFIX)) return undefined;
  const a = urn.indexOf("::", PREFIX.length);
  const b = a < 0 ? -1 : urn.indexOf("::", a + 2);
  const c = b < 0 ? -1 : urn.indexOf("::", b + 2);
  if (c < 0) return undefined;
  const qualifiedType = urn.slice(b + 2, c);
  const dollar = qualifiedType.lastIndexOf("$");
  return {
    stack: urn.slice(PREFIX.length, a),
    project: urn.slice(a + 2, b),
    type: dollar >= 0 ? qualifiedType.slice(dollar + 1) : qualifiedType,
    name: urn.slice(c + 2),
  };
}

/** The name segment of a URN (everything after the last `::`); the input when it has none. */
export function urnName(urn: string): string {
  const i = urn.lastIndexOf("::");
  return i >= 0 ? urn.slice(i + 2) : urn;
}
