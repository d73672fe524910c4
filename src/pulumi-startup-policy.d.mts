/** Types of src/pulumi-startup-policy.mjs (plain JavaScript, loaded by src/pulumi-startup.mjs). */
export declare const POLICY_SDK_VERSION: string;
export declare const NOT_APPLICABLE_BY_TYPE_KEY: string;
export declare const NOT_APPLICABLE_BY_RETURN_KEY: string;
export declare const POLICY_SERVER_EDITS: ReadonlyArray<readonly [string, string]>;
