/**
 * The real engine's plan in our shape, so reviews look the same online and offline. Two inputs:
 *
 * - the document `pulumi preview --json` prints (pulumi/pulumi `sdk/pkg/display/json.go`
 *   `PreviewDigest`: `{config, steps: [{op, urn, provider, oldState, newState, diffReasons,
 *   replaceReasons, detailedDiff: {<path>: {kind, inputDiff}}}], diagnostics, changeSummary}`, built
 *   by `pkg/backend/display/json.go` `ShowPreviewDigest` from the engine's resource-pre events; its
 *   states are `apitype.ResourceV3` with secrets already replaced by `"[secret]"`);
 * - the engine events themselves (`resourcePreEvent.metadata`, apitype `StepEventMetadata`: `{op,
 *   urn, type, old, new, keys, diffs, detailedDiff: {<path>: {diffKind, inputDiff}}}`), as the
 *   Automation API's `onEvent` and `pulumi preview --event-log` give them.
 *
 * A replacement shows as up to three steps of one URN (`create-replacement`, `replace`,
 * `delete-replaced`): one `replace` here. The provider decided what replaces (detailed diff kinds
 * `*-replace`, `replaceReasons`/`keys`); data loss comes from our data-bearing table.
 */
import { parseUrn } from "../pulumi-export/index.js";
import { dataBearingRule } from "./data-bearing.js";
import {
  summarize,
  type Plan,
  type PlanOp,
  type PlanStep,
  type ReplaceReason,
  PLAN_KIND,
  PLAN_VERSION,
} from "./plan.js";
import { parsePath, redact, valuesAt, type PropertyDiff } from "./values.js";

/** One step as both formats carry it, normalised. */
interface RawStep {
  op: string;
  urn: string;
  type?: string;
  old?: {
    type?: string;
    inputs?: Record<string, unknown>;
    protect?: boolean;
    retainOnDelete?: boolean;
  };
  new?: {
    type?: string;
    inputs?: Record<string, unknown>;
    protect?: boolean;
    retainOnDelete?: boolean;
  };
  replaceKeys?: string[];
  diffKeys?: string[];
  detailedDiff?: Record<string, { kind?: string; diffKind?: string }> | null;
}

const OP_OF: Record<string, PlanOp> = {
  same: "same",
  create: "create",
  import: "create",
  update: "update",
  delete: "delete",
  discard: "delete",
  replace: "replace",
  "create-replacement": "replace",
  "delete-replaced": "replace",
  "import-replacement": "replace",
  "read-replacement": "replace",
  "discard-replaced": "replace",
  read: "same",
  refresh: "same",
  "remove-pending-replace": "same",
};

const PROVIDER_SOURCE = "the provider's diff (pulumi preview)";

/** `pulumi preview --json` (PreviewDigest) to a plan. */
export function planFromPreviewDigest(doc: unknown, stage: string): Plan {
  const d = doc as { steps?: unknown } | null;
  if (!d || typeof d !== "object" || (d.steps !== undefined && !Array.isArray(d.steps))) {
    throw new TypeError("not the output of `pulumi preview --json`: expected {steps: [...]}");
  }
  const raw = ((d.steps as unknown[] | undefined) ?? []).map((s) => {
    const x = s as {
      op: string;
      urn: string;
      oldState?: RawStep["old"];
      newState?: RawStep["new"];
      replaceReasons?: string[];
      diffReasons?: string[];
      detailedDiff?: RawStep["detailedDiff"];
    };
    const r: RawStep = { op: x.op, urn: x.urn };
    if (x.oldState) r.old = x.oldState;
    if (x.newState) r.new = x.newState;
    if (x.replaceReasons) r.replaceKeys = x.replaceReasons;
    if (x.diffReasons) r.diffKeys = x.diffReasons;
    if (x.detailedDiff) r.detailedDiff = x.detailedDiff;
    return r;
  });
  return fromRaw(raw, stage);
}

/** Engine events (`{resourcePreEvent: {metadata}}` or the metadata alone) to a plan. */
export function planFromEngineEvents(events: unknown[], stage: string): Plan {
  const raw: RawStep[] = [];
  for (const e of events) {
    const m = ((e as { resourcePreEvent?: { metadata?: unknown } } | null)?.resourcePreEvent
      ?.metadata ?? e) as {
      op?: unknown;
      urn: string;
      type?: string;
      old?: RawStep["old"];
      new?: RawStep["new"];
      keys?: string[];
      diffs?: string[];
      detailedDiff?: RawStep["detailedDiff"];
    } | null;
    if (!m || typeof m.op !== "string") continue;
    const r: RawStep = { op: m.op, urn: m.urn };
    if (m.type) r.type = m.type;
    if (m.old) r.old = m.old;
    if (m.new) r.new = m.new;
    if (m.keys) r.replaceKeys = m.keys;
    if (m.diffs) r.diffKeys = m.diffs;
    if (m.detailedDiff) r.detailedDiff = m.detailedDiff;
    raw.push(r);
  }
  return fromRaw(raw, stage);
}

function fromRaw(raw: RawStep[], stage: string): Plan {
  // One step per URN; a replacement's parts merge into one `replace`.
  const byUrn = new Map<string, RawStep[]>();
  for (const r of raw) byUrn.set(r.urn, [...(byUrn.get(r.urn) ?? []), r]);
  const steps: PlanStep[] = [];
  for (const [urn, parts] of byUrn) {
    const ops = parts.map((p) => OP_OF[p.op] ?? "same");
    const op: PlanOp = ops.includes("replace")
      ? "replace"
      : ((["delete", "create", "update"] as PlanOp[]).find((o) => ops.includes(o)) ?? "same");
    const main =
      parts.find((p) => p.op === "replace") ?? parts.find((p) => p.detailedDiff) ?? parts[0]!;
    const old = parts.find((p) => p.old)?.old;
    const next = parts.find((p) => p.new)?.new;
    const type = main.type ?? next?.type ?? old?.type ?? parseUrn(urn)?.type ?? "";
    const step: PlanStep = {
      urn,
      type,
      op,
      diffs: op === "same" ? [] : diffsOf(main, old, next, op),
    };
    if (op === "replace") {
      const reasons: ReplaceReason[] = [];
      for (const [path, d] of Object.entries(main.detailedDiff ?? {})) {
        if ((d.kind ?? d.diffKind ?? "").endsWith("-replace"))
          reasons.push({ path, source: PROVIDER_SOURCE });
      }
      for (const key of main.replaceKeys ?? []) {
        if (
          !reasons.some(
            (r) => r.path === key || r.path.startsWith(`${key}.`) || r.path.startsWith(`${key}[`),
          )
        ) {
          reasons.push({ path: key, source: PROVIDER_SOURCE });
        }
      }
      if (reasons.length > 0) step.replaceReasons = reasons;
    }
    if (op === "delete" || op === "replace") {
      const base = old ?? next;
      if (base?.protect) step.protect = true;
      if (old?.retainOnDelete || next?.retainOnDelete) step.retainOnDelete = true;
      else {
        const rule =
          dataBearingRule(type, old?.inputs) ??
          (op === "replace" ? dataBearingRule(type, next?.inputs) : undefined);
        if (rule) step.dataLoss = { reason: rule.reason };
      }
    }
    steps.push(step);
  }
  return {
    kind: PLAN_KIND,
    version: PLAN_VERSION,
    stage,
    against: { kind: "pulumi" },
    steps,
    summary: summarize(steps),
  };
}

const KIND_OF: Record<string, PropertyDiff["kind"]> = {
  add: "added",
  "add-replace": "added",
  delete: "removed",
  "delete-replace": "removed",
  update: "changed",
  "update-replace": "changed",
};

function valueAt(inputs: Record<string, unknown> | undefined, path: string): unknown {
  const segs = parsePath(path);
  if (!segs || !inputs) return undefined;
  return valuesAt(inputs, segs)[0];
}

function diffsOf(
  main: RawStep,
  old: RawStep["old"],
  next: RawStep["new"],
  op: PlanOp,
): PropertyDiff[] {
  if (op === "create" || op === "delete") return [];
  const out: PropertyDiff[] = [];
  const entries: Array<[string, string]> = main.detailedDiff
    ? Object.entries(main.detailedDiff).map(([p, d]) => [p, d.kind ?? d.diffKind ?? "update"])
    : (main.diffKeys ?? main.replaceKeys ?? []).map((k) => [k, "update"]);
  for (const [path, kindText] of entries) {
    const kind = KIND_OF[kindText] ?? "changed";
    const d: PropertyDiff = { path, kind };
    const a = redact(valueAt(old?.inputs, path));
    const b = redact(valueAt(next?.inputs, path));
    if (kind !== "added" && a !== undefined) d.old = a;
    if (kind !== "removed" && b !== undefined) d.new = b;
    if (a === "[secret]" || b === "[secret]") d.secret = true;
    out.push(d);
  }
  return out;
}
