/**
 * The protobuf Struct of each property bag the offline preview sends to the policy pack, made once
 * per bag. The render (src/engine/offline/render.ts) receives a resource's inputs and outputs as
 * Structs from the SDK's mock monitor and converts them to plain objects; it hands the Struct it
 * converted over here, so the Analyze and AnalyzeStack requests (src/policy/analyzer.ts) reuse it
 * instead of converting the plain object back (`Struct.fromJavaScript(s.toJavaScript())` carries
 * the same fields). Bags are the render's results and are not changed after it; the WeakMap lets
 * a Struct go with its bag.
 */
const structs = new WeakMap<object, unknown>();

/** The Struct remembered for `bag`, if any. */
export function rememberedStruct(bag: object): unknown {
  return structs.get(bag);
}

/** Remembers `struct` (a google.protobuf.Struct of @pulumi/pulumi's google-protobuf) as `bag`'s. */
export function rememberStruct(bag: object, struct: unknown): void {
  structs.set(bag, struct);
}
