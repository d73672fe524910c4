/** Types of src/pulumi-startup-providers.mjs (plain JavaScript, loaded by src/pulumi-startup.mjs). */
export declare const LAZY_INDEXES: readonly string[];
export declare function lazySubmodules(source: string): { source: string; count: number };
