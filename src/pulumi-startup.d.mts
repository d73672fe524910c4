/** Types of src/pulumi-startup.mjs (plain JavaScript, preloaded before any TypeScript loader). */
export declare const PATCHES: ReadonlyArray<
  readonly [string, ReadonlyArray<readonly [string, string]>, { version: string }?]
>;
export declare function patchSource(
  url: string,
  source: string,
): { source: string; applied: number };
export declare function isJavaScriptPack(program: string, cwd?: string): boolean;
