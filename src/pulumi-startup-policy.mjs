// Edits of @pulumi/policy's server.js (the policy pack's Analyzer gRPC handlers) applied at load
// time by src/pulumi-startup.mjs in the pack processes goose starts (issue 18: the analyzer).
//
// For each Analyze request (one resource) the SDK's handler, for every policy that may apply,
// converts the resource's properties, reads its options and provider, builds the validation's
// argument object with fresh closures, and awaits the validation's result even when it returned
// nothing; a policy that is not applicable to the resource's type says so by throwing. On the
// bench's 5,000-resource stack that was most of the pack's own work and most of its garbage.
// AnalyzeStack builds every resource object of the stack again for every stack policy.
//
// With these edits:
// - Analyze reads the properties, URN, name, options and provider once per request (the first
//   validation that gets that far: where the SDK would first read them, so an error reading them
//   fails the request as before) and hands every validation the same values, in an argument
//   object of the same fields in the same order;
// - a validation's result is awaited only when there is one (a promise); a synchronous
//   validation returns undefined, and the SDK's `yield Promise.resolve(undefined)` waited for
//   nothing;
// - a validation function carrying `Symbol.for("golden-goose.notApplicableByType")` (a function
//   from the resource type to the not-applicable reason, or undefined) is reported not applicable
//   with that reason without being called, where calling it would have thrown `notApplicable`
//   with that same reason first thing (policy-pack/policies/util.ts `onlyForTypes`);
// - a validation function carrying `Symbol.for("golden-goose.notApplicableByReturn")` (the same
//   validation, returning its not-applicable reason where the function itself throws it through
//   `args.notApplicable`) is run through that variant: no error is built and thrown;
// - each not-applicable entry is one message per (policy, reason), shared by the responses;
// - AnalyzeStack builds the stack's resource objects once per request and gives each stack policy
//   its own array of them.
//
// What a policy sees differs only in object identity: the same `props` proxy, `opts` and
// `provider` objects for every policy of a request (policy-pack/sdk-speed.ts already shared
// `props`), so a policy must not modify them — none of goose's does, and a policy that did would
// already have been wrong (its edit is not what Pulumi deploys). Responses are byte-for-byte the
// unpatched SDK's (tests/policy/policy-server-speed.test.ts, which also fails when an SDK upgrade
// stops matching).
//
// All or nothing, for this exact SDK version: if the installed @pulumi/policy is another version
// or any edit's text is missing, server.js loads unchanged and a warning says so on stderr.

/** The @pulumi/policy version these edits were written against (its package.json "version"). */
export const POLICY_SDK_VERSION = "v1.21.0";

/** The symbol a validation function carries to be reported not applicable by type (see above). */
export const NOT_APPLICABLE_BY_TYPE_KEY = "golden-goose.notApplicableByType";

/** The symbol of a validation's variant that returns its not-applicable reason (see above). */
export const NOT_APPLICABLE_BY_RETURN_KEY = "golden-goose.notApplicableByReturn";

/** `lines` joined with newlines, each indented by `n` spaces (server.js's own indentation). */
const at = (n, lines) => lines.map((l) => " ".repeat(n) + l).join("\n");

const ANALYZE_ARGS = at(28, [
  "const deserd = deserialize_1.deserializeProperties(req.getProperties(), false);",
  "const props = proxy_1.unknownCheckingProxy(deserd);",
  "const args = {",
  "    type,",
  "    props,",
  "    urn: req.getUrn(),",
  "    name: req.getName(),",
  "    opts: getResourceOptions(req),",
  "    stackTags,",
  "    isType: function (resourceClass) {",
  "        return isTypeOf(type, resourceClass);",
  "    },",
  "    asType: function (resourceClass) {",
  "        return isTypeOf(type, resourceClass)",
  "            ? props",
  "            : undefined;",
  "    },",
  "    getConfig: makeGetConfigFun(p.name),",
  "    notApplicable: throwNotApplicable,",
  "};",
  "const provider = getProviderResource(req);",
  "if (provider) {",
  "    args.provider = provider;",
  "}",
  "// Pass the result of the validate call to Promise.resolve.",
  "// If the value is a promise, that promise is returned; otherwise",
  "// the returned promise will be fulfilled with the value.",
  "yield Promise.resolve(validation(args, reportViolation));",
]);

const ANALYZE_ARGS_SHARED = at(28, [
  "const gooseState = gooseRequest !== undefined ? gooseRequest : (gooseRequest = gooseAnalyzeState(req, type));",
  "const gooseByType = validation[gooseNotApplicableByType];",
  'if (typeof gooseByType === "function") {',
  "    const gooseReason = gooseByType(type);",
  "    if (gooseReason !== undefined) {",
  "        notApplicable = pushNotApplicable(notApplicable, p.name, gooseReason);",
  "        continue;",
  "    }",
  "}",
  "const props = gooseState.props;",
  "const args = {",
  "    type,",
  "    props,",
  "    urn: gooseState.urn,",
  "    name: gooseState.name,",
  "    opts: gooseState.opts,",
  "    stackTags,",
  "    isType: gooseState.isType,",
  "    asType: gooseState.asType,",
  "    getConfig: gooseGetConfig(p.name),",
  "    notApplicable: throwNotApplicable,",
  "};",
  "if (gooseState.provider) {",
  "    args.provider = gooseState.provider;",
  "}",
  "const gooseReturning = validation[gooseNotApplicableByReturn];",
  'const gooseResult = typeof gooseReturning === "function"',
  "    ? gooseReturning(args, reportViolation)",
  "    : validation(args, reportViolation);",
  'if (typeof gooseResult === "string" && typeof gooseReturning === "function") {',
  "    notApplicable = pushNotApplicable(notApplicable, p.name, gooseResult);",
  "}",
  "else if (gooseResult !== undefined) {",
  "    yield Promise.resolve(gooseResult);",
  "}",
]);

const HELPERS = [
  "// goose (src/pulumi-startup-policy.mjs): what every validation of one Analyze request reads,",
  "// read once, in the order the SDK's handler reads it.",
  "function gooseAnalyzeState(req, type) {",
  "    const deserd = deserialize_1.deserializeProperties(req.getProperties(), false);",
  "    const props = proxy_1.unknownCheckingProxy(deserd);",
  "    const urn = req.getUrn();",
  "    const name = req.getName();",
  "    const opts = getResourceOptions(req);",
  "    return {",
  "        props,",
  "        urn,",
  "        name,",
  "        opts,",
  "        isType: function (resourceClass) {",
  "            return isTypeOf(type, resourceClass);",
  "        },",
  "        asType: function (resourceClass) {",
  "            return isTypeOf(type, resourceClass)",
  "                ? props",
  "                : undefined;",
  "        },",
  "        provider: getProviderResource(req),",
  "    };",
  "}",
  "// goose: one getConfig function per policy (it reads the configuration when called).",
  "const gooseGetConfigFuns = new Map();",
  "function gooseGetConfig(policyName) {",
  "    let f = gooseGetConfigFuns.get(policyName);",
  "    if (f === undefined) {",
  "        f = makeGetConfigFun(policyName);",
  "        gooseGetConfigFuns.set(policyName, f);",
  "    }",
  "    return f;",
  "}",
  `const gooseNotApplicableByType = Symbol.for(${JSON.stringify(NOT_APPLICABLE_BY_TYPE_KEY)});`,
  `const gooseNotApplicableByReturn = Symbol.for(${JSON.stringify(NOT_APPLICABLE_BY_RETURN_KEY)});`,
  "// goose: one PolicyNotApplicable message per policy and reason, shared by the responses that",
  "// list it (a message is only read once built), up to a bound.",
  "const gooseNotApplicableMessages = new Map();",
  "let gooseNotApplicableCount = 0;",
  "function gooseNotApplicableMessage(policyName, reason) {",
  "    let byReason = gooseNotApplicableMessages.get(policyName);",
  "    let na = byReason === undefined ? undefined : byReason.get(reason);",
  "    if (na === undefined) {",
  "        na = new analyzerproto.PolicyNotApplicable();",
  "        na.setPolicyName(policyName);",
  "        if (reason) {",
  "            na.setReason(reason);",
  "        }",
  "        if (gooseNotApplicableCount < 4096) {",
  "            gooseNotApplicableCount++;",
  "            if (byReason === undefined) {",
  "                gooseNotApplicableMessages.set(policyName, (byReason = new Map()));",
  "            }",
  "            byReason.set(reason, na);",
  "        }",
  "    }",
  "    return na;",
  "}",
].join("\n");

/** [exact text, replacement] edits of server.js; each text occurs exactly once in it. */
export const POLICY_SERVER_EDITS = [
  // Analyze: the per-request state, declared beside the request's own variables.
  [
    "const type = req.getType();\n" +
      at(12, [
        "// Run the analysis for every analyzer in the global list, tracking any diagnostics.",
      ]),
    "const type = req.getType();\n" +
      at(12, [
        "let gooseRequest;",
        "// Run the analysis for every analyzer in the global list, tracking any diagnostics.",
      ]),
  ],
  [ANALYZE_ARGS, ANALYZE_ARGS_SHARED],
  // AnalyzeStack: the stack's resource objects, built by the first stack policy that runs.
  [
    "const resources = req.getResourcesList();",
    "const resources = req.getResourcesList();\n" + at(12, ["let gooseStackResources;"]),
  ],
  [
    "try {\n" + at(24, ["const intermediates = [];"]),
    "try {\n" + at(24, ["if (gooseStackResources === undefined) {", "const intermediates = [];"]),
  ],
  [
    "const args = {\n" + at(28, ["resources: intermediates.map(r => r.resource),"]),
    "gooseStackResources = intermediates.map(r => r.resource);\n" +
      at(24, ["}", "const args = {", "    resources: gooseStackResources.slice(),"]),
  ],
  // Not-applicable entries: one message per policy and reason.
  [
    at(4, [
      "const na = new analyzerproto.PolicyNotApplicable();",
      "na.setPolicyName(policyName);",
      "if (reason) {",
      "    na.setReason(reason);",
      "}",
      "notApplicable.push(na);",
    ]),
    at(4, ["notApplicable.push(gooseNotApplicableMessage(policyName, reason));"]),
  ],
  // The helpers, after the handlers.
  [
    "exports.makeRemediateRpcFun = makeRemediateRpcFun;\n",
    "exports.makeRemediateRpcFun = makeRemediateRpcFun;\n" + HELPERS + "\n",
  ],
];
