/**
 * Load parameters: what a run's figures depend on besides the target. Recorded with every run
 * and baseline; two runs are comparable only when their parameters are equal. Header values and
 * bodies are never recorded (they may hold credentials): header names and a body digest are.
 */
import { createHash } from "node:crypto";
import type { Phase, Scenario } from "./config.js";
import type { ParameterDifference } from "./errors.js";

export interface LoadParameters {
  phases: Phase[];
  pipelining: number;
  timeoutSeconds: number;
  mix: Array<{
    method: string;
    path: string;
    weight: number;
    headers: string[];
    bodySha256?: string;
  }>;
}

export function parametersOf(s: Scenario): LoadParameters {
  return {
    phases: s.phases.map((p) => ({ ...p })),
    pipelining: s.pipelining,
    timeoutSeconds: s.timeoutSeconds,
    mix: s.mix.map((r) => ({
      method: r.method,
      path: r.path,
      weight: r.weight,
      headers: Object.keys(r.headers)
        .map((h) => h.toLowerCase())
        .sort(),
      ...(r.body !== undefined
        ? { bodySha256: createHash("sha256").update(r.body).digest("hex") }
        : {}),
    })),
  };
}

/** Every leaf where `a` (baseline) and `b` (run) differ, as dotted keys. Empty when equal. */
export function diffParameters(a: unknown, b: unknown, key = ""): ParameterDifference[] {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length)
      return [{ key: `${key}.length`.replace(/^\./, ""), baseline: a.length, run: b.length }];
    return a.flatMap((x, i) => diffParameters(x, b[i], `${key}[${i}]`));
  }
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => diffParameters(a[k], b[k], key ? `${key}.${k}` : k));
  }
  return a === b ? [] : [{ key: key || "(parameters)", baseline: a, run: b }];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
