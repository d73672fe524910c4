/** The part of js-yaml (4.x, no bundled types) the policies use. */
declare module "js-yaml" {
  export const CORE_SCHEMA: unknown;
  export function load(text: string, options?: { schema?: unknown }): unknown;
}
