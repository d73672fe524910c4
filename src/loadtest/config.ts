/**
 * load-test/config/stress-test.yaml: scenarios, absolute thresholds, and per-stage tolerances
 * against the baseline with a weighted score. Validated with zod; every problem names the file,
 * the key path (and line) and what is expected. See load-test/config/stress-test.yaml for a
 * commented example of every field.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseYamlFile } from "../config/file.js";
import { closest } from "fastest-levenshtein";
import { z } from "zod";
import { STAGES, type StageName } from "../config/stages.js";
import {
  ExpressionError,
  metricKind,
  parseMetricName,
  parseMetricValue,
  parseThreshold,
  parseTolerance,
  VALUE_HINT,
  type MetricName,
  type Threshold,
  type Tolerance,
} from "./thresholds.js";
import { parseDurationMs, parseRatio } from "./units.js";
import { InputError } from "../errors.js";

export const DEFAULT_CONFIG_PATH = "load-test/config/stress-test.yaml";

// ---------------------------------------------------------------------------- resolved model

/** One load phase: `connections` for `durationSeconds` (or until `requests` responses). */
export interface Phase {
  connections: number;
  durationSeconds?: number;
  requests?: number;
  /** Requests per second over all connections; unset means as fast as possible. */
  rate?: number;
}

export interface RequestSpec {
  name: string;
  method: string;
  /** Path and query, appended to the target URL's path. */
  path: string;
  /** Header values may reference the environment as `${NAME}` (resolved at run time). */
  headers: Record<string, string>;
  body?: string;
  weight: number;
}

export interface Scenario {
  name: string;
  description: string;
  /** Run one after another; a plain scenario has one phase, a ramp several. */
  phases: Phase[];
  pipelining: number;
  timeoutSeconds: number;
  mix: RequestSpec[];
  thresholds: Threshold[];
}

export interface Criterion {
  metric: MetricName;
  pass: Tolerance;
  warn?: Tolerance;
  /** Absolute slack in the metric's unit (ms, ratio, rps, B/s). */
  floor: number;
  weight: number;
  /** A failing key criterion fails the verdict whatever the score. */
  key: boolean;
}

export interface StagePolicy {
  /** Score levels in percent (0..100). */
  score: { pass: number; warn: number };
  criteria: Criterion[];
}

export interface StressConfig {
  file: string;
  /** sha256 of the file as read, recorded in reports. */
  sha256: string;
  scenarios: Record<string, Scenario>;
  tolerances: Record<StageName, StagePolicy>;
}

// ----------------------------------------------------------------------------- zod schema

const positiveInt = z.number().int().positive();

/**
 * Bounds of load parameters: what one load generator can honestly drive. A value past them is
 * a typo or a test for a distributed tool, and is refused with the fix instead of hanging.
 */
export const LOAD_LIMITS = {
  connections: 10_000,
  /** 24 hours. */
  durationMs: 24 * 3600 * 1000,
  requests: 10_000_000,
  rate: 1_000_000,
  phases: 100,
  /** 10 minutes. */
  timeoutMs: 600_000,
} as const;

const connectionsSchema = positiveInt.max(LOAD_LIMITS.connections, {
  message:
    `at most ${LOAD_LIMITS.connections} connections from one load generator; lower it, or run ` +
    "several generators against the target",
});
const requestsSchema = positiveInt.max(LOAD_LIMITS.requests, {
  message: `at most ${LOAD_LIMITS.requests} requests in one run; lower it or give a duration instead`,
});
const rateSchema = z
  .number()
  .positive()
  .max(LOAD_LIMITS.rate, {
    message: `at most ${LOAD_LIMITS.rate} requests per second; lower the rate (or leave it unset for as fast as possible)`,
  });

/** A duration no longer than the longest run (24h). */
function boundedDuration(what: string) {
  return duration(what).refine((ms) => ms <= LOAD_LIMITS.durationMs, {
    message: "at most 24h in one run; shorten it (a soak test longer than a day is several runs)",
  });
}

/** autocannon's request timeout has a one-second resolution and minimum. */
function requestTimeout() {
  return duration("a duration")
    .refine((ms) => ms >= 1000, {
      message: "the request timeout must be at least 1s (autocannon's smallest)",
    })
    .refine((ms) => ms <= LOAD_LIMITS.timeoutMs, {
      message: "the request timeout must be at most 10m; lower it",
    });
}

function duration(what: string) {
  return z.union([z.string(), z.number()]).transform((v, ctx) => {
    const ms = typeof v === "number" ? v : parseDurationMs(v);
    if (ms === undefined || ms <= 0) {
      ctx.addIssue({
        code: "custom",
        message: `expected ${what} such as 500ms, 10s or 2m, got ${JSON.stringify(v)}`,
      });
      return z.NEVER;
    }
    return ms;
  });
}

const percent = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const r = typeof v === "number" ? v / 100 : v.includes("%") ? parseRatio(v) : undefined;
  if (r === undefined || r > 1) {
    ctx.addIssue({
      code: "custom",
      message: `expected a percentage such as 90%, got ${JSON.stringify(v)}`,
    });
    return z.NEVER;
  }
  return r * 100;
});

const thresholdEntry = z
  .union([
    z.string(),
    z.strictObject({
      threshold: z.string(),
      abortOnFail: z.boolean().default(false),
      delayAbortEval: duration("a duration").optional(),
    }),
  ])
  .transform((v, ctx): Threshold => {
    const obj = typeof v === "string" ? { threshold: v, abortOnFail: false } : v;
    try {
      return {
        ...parseThreshold(obj.threshold),
        abortOnFail: obj.abortOnFail,
        delayAbortEvalMs: "delayAbortEval" in obj ? (obj.delayAbortEval ?? 0) : 0,
      };
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
      return z.NEVER;
    }
  });

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

const requestSchema = z.strictObject({
  name: z.string().min(1).optional(),
  method: z.enum(METHODS).default("GET"),
  path: z.string().startsWith("/", { message: 'expected a path starting with "/"' }),
  headers: z.record(z.string(), z.string()).default({}),
  body: z.string().optional(),
  weight: positiveInt.max(100).default(1),
});

const phaseSchema = z.strictObject({
  connections: connectionsSchema,
  duration: boundedDuration("a duration"),
  rate: rateSchema.optional(),
});

const scenarioSchema = z
  .strictObject({
    description: z.string().default(""),
    connections: connectionsSchema.optional(),
    duration: boundedDuration("a duration").optional(),
    requests: requestsSchema.optional(),
    rate: rateSchema.optional(),
    ramp: z
      .array(phaseSchema)
      .min(1)
      .max(LOAD_LIMITS.phases, { message: `at most ${LOAD_LIMITS.phases} ramp phases` })
      .optional(),
    pipelining: positiveInt.max(100).optional(),
    timeout: requestTimeout().optional(),
    mix: z.array(requestSchema).min(1).optional(),
    thresholds: z.array(thresholdEntry).default([]),
  })
  .superRefine((s, ctx) => {
    if (s.ramp) {
      for (const k of ["connections", "duration", "requests"] as const) {
        if (s[k] !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: [k],
            message: `not allowed together with ramp: give each ramp phase its connections and duration`,
          });
        }
      }
      return;
    }
    if (s.connections === undefined) {
      ctx.addIssue({ code: "custom", path: ["connections"], message: "required (or give a ramp)" });
    }
    if ((s.duration === undefined) === (s.requests === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: [s.duration === undefined ? "duration" : "requests"],
        message: "give exactly one of duration (e.g. 10s) or requests (a count)",
      });
    }
    if (s.requests !== undefined && s.connections !== undefined && s.connections > s.requests) {
      ctx.addIssue({ code: "custom", path: ["connections"], message: "cannot exceed requests" });
    }
  });

const criterionSchema = z
  .strictObject({
    metric: z.string(),
    pass: z.string(),
    warn: z.string().optional(),
    floor: z.union([z.string(), z.number()]).optional(),
    weight: z.number().nonnegative().default(1),
    key: z.boolean().default(false),
  })
  .transform((c, ctx): Criterion => {
    const metric = parseMetricName(c.metric);
    if (!metric) {
      ctx.addIssue({ code: "custom", path: ["metric"], message: `unknown metric "${c.metric}"` });
      return z.NEVER;
    }
    let pass: Tolerance | undefined;
    let warn: Tolerance | undefined;
    try {
      pass = parseTolerance(c.pass);
    } catch (err) {
      ctx.addIssue({ code: "custom", path: ["pass"], message: (err as ExpressionError).message });
    }
    if (c.warn !== undefined) {
      try {
        warn = parseTolerance(c.warn);
      } catch (err) {
        ctx.addIssue({ code: "custom", path: ["warn"], message: (err as ExpressionError).message });
      }
    }
    if (pass && warn && (warn.direction !== pass.direction || warn.ratio < pass.ratio)) {
      ctx.addIssue({
        code: "custom",
        path: ["warn"],
        message: `must point the same way as pass ("${pass.text}") and be at least as wide`,
      });
    }
    const kind = metricKind(metric);
    const floor = c.floor === undefined ? 0 : parseMetricValue(kind, String(c.floor));
    if (floor === undefined) {
      ctx.addIssue({ code: "custom", path: ["floor"], message: `expected ${VALUE_HINT[kind]}` });
    }
    if (!pass || floor === undefined) return z.NEVER;
    return { metric, pass, ...(warn ? { warn } : {}), floor, weight: c.weight, key: c.key };
  });

const policySchema = z
  .strictObject({
    score: z.strictObject({ pass: percent, warn: percent }),
    criteria: z.array(criterionSchema).min(1),
  })
  .superRefine((p, ctx) => {
    if (p.score.warn > p.score.pass) {
      ctx.addIssue({
        code: "custom",
        path: ["score", "warn"],
        message: "must not be above score.pass",
      });
    }
  });

const defaultsSchema = z.strictObject({
  timeout: requestTimeout().optional(),
  pipelining: positiveInt.max(100).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  mix: z.array(requestSchema).min(1).optional(),
  thresholds: z.array(thresholdEntry).optional(),
});

const fileSchema = z.strictObject({
  version: z.literal(1),
  defaults: defaultsSchema.default({}),
  scenarios: z.record(
    z
      .string()
      .regex(/^[a-z][a-z0-9-]*$/, { message: "scenario names are lowercase words, e.g. smoke" }),
    scenarioSchema,
  ),
  tolerances: z.strictObject(
    Object.fromEntries(STAGES.map((s) => [s, policySchema])) as Record<
      StageName,
      typeof policySchema
    >,
  ),
});

// -------------------------------------------------------------------------------- loading

/** One problem in the config: the key path (dotted), its line when known, and what is wrong. */
export interface ConfigIssue {
  key: string;
  line?: number;
  message: string;
}

/** A stress-test config that cannot be used. Exit code 2; the message lists every problem. */
export class LoadTestConfigError extends InputError {
  constructor(
    public readonly file: string,
    public readonly issues: ConfigIssue[],
  ) {
    super(
      issues.map((i) => `${file}${i.line ? `:${i.line}` : ""}: ${i.key}: ${i.message}`).join("\n"),
    );
    this.name = "LoadTestConfigError";
  }
}

/** Reads and validates a stress-test config file. Throws LoadTestConfigError. */
export function loadStressConfig(path: string): StressConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new LoadTestConfigError(path, [
      {
        key: "(file)",
        message:
          code === "ENOENT"
            ? `no such file; pass --config or create it (see ${DEFAULT_CONFIG_PATH} in the repository)`
            : `cannot read it (${code ?? String(err)})`,
      },
    ]);
  }
  return parseStressConfig(text, path);
}

/** Validates the text of a stress-test config; `file` is used in messages. */
export function parseStressConfig(text: string, file: string): StressConfig {
  const data = parseYamlFile(fileSchema, file, text, {
    error: (problems) =>
      new LoadTestConfigError(
        file,
        problems.map((p) => ({
          key: p.field || "(top level)",
          ...(p.line > 0 ? { line: p.line } : {}),
          message: `${p.message}; fix: ${p.fix}`,
        })),
      ),
  }).value;

  const defaults = data.defaults;
  const scenarios: Record<string, Scenario> = {};
  for (const [name, s] of Object.entries(data.scenarios)) {
    const phases: Phase[] = s.ramp
      ? s.ramp.map((p) => ({
          connections: p.connections,
          durationSeconds: p.duration / 1000,
          ...((p.rate ?? s.rate) ? { rate: p.rate ?? s.rate } : {}),
        }))
      : [
          {
            connections: s.connections!,
            ...(s.duration !== undefined ? { durationSeconds: s.duration / 1000 } : {}),
            ...(s.requests !== undefined ? { requests: s.requests } : {}),
            ...(s.rate !== undefined ? { rate: s.rate } : {}),
          },
        ];
    const mixIn = s.mix ??
      defaults.mix ?? [{ method: "GET" as const, path: "/", headers: {}, weight: 1 }];
    const mix: RequestSpec[] = mixIn.map((r, i) => ({
      name: r.name ?? `${r.method} ${r.path}${mixIn.length > 1 ? ` #${i + 1}` : ""}`,
      method: r.method,
      path: r.path,
      headers: { ...(defaults.headers ?? {}), ...r.headers },
      ...(r.body !== undefined ? { body: r.body } : {}),
      weight: r.weight,
    }));
    scenarios[name] = {
      name,
      description: s.description,
      phases,
      pipelining: s.pipelining ?? defaults.pipelining ?? 1,
      timeoutSeconds: (s.timeout ?? defaults.timeout ?? 10_000) / 1000,
      mix,
      thresholds: [...(defaults.thresholds ?? []), ...s.thresholds],
    };
  }
  return {
    file,
    sha256: createHash("sha256").update(text).digest("hex"),
    scenarios,
    tolerances: data.tolerances as Record<StageName, StagePolicy>,
  };
}

/** The scenario called `name`, or a usage error naming the ones that exist. */
export function getScenario(cfg: StressConfig, name: string): Scenario {
  const s = cfg.scenarios[name];
  if (s) return s;
  const known = Object.keys(cfg.scenarios);
  throw new LoadTestConfigError(cfg.file, [
    {
      key: `scenarios.${name}`,
      message: `no such scenario; known: ${known.join(", ")}${known.length ? `; did you mean "${closest(name, known)}"?` : ""}`,
    },
  ]);
}
