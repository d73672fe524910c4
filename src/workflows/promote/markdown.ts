import type { PromotionReport, StepStatus } from "./report.js";

const ICON: Record<StepStatus | "pass" | "warn" | "fail", string> = {
  pending: "⏸",
  running: "⏳",
  passed: "✅",
  warned: "⚠️",
  failed: "❌",
  skipped: "⏭",
  pass: "✅",
  warn: "⚠️",
  fail: "❌",
};

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** A Markdown summary of a promotion, for a pull request comment. */
export function renderPromotionMarkdown(r: PromotionReport): string {
  const title =
    r.result === "promoted"
      ? `✅ Promoted ${r.from} → ${r.to}`
      : r.result === "blocked"
        ? `⛔ Promotion ${r.from} → ${r.to} blocked`
        : `❌ Promotion ${r.from} → ${r.to} failed`;
  const lines: string[] = [
    `## ${title}`,
    "",
    `- id: \`${r.id}\``,
    `- mode: ${r.mode}, actor: ${r.actor}`,
    `- started ${r.startedAt}, took ${(r.durationMs / 1000).toFixed(1)} s`,
  ];
  if (r.snapshot)
    lines.push(
      `- snapshot of ${r.from}: \`${r.snapshot.id}\` (sha256 \`${r.snapshot.sha256.slice(0, 16)}…\`)`,
    );
  if (r.sbom) lines.push(`- SBOM: \`${r.sbom.key}\``);
  if (r.evidence.head)
    lines.push(
      `- evidence head: seq ${r.evidence.head.seq}, \`${r.evidence.head.hash.slice(0, 23)}…\` (${r.evidence.records} records by this run)`,
    );
  if (r.failure) {
    lines.push(
      "",
      `### What failed`,
      "",
      `**${r.failure.step}${r.failure.gate ? ` / ${r.failure.gate}` : ""}**: ${r.failure.reason}`,
      "",
      `- fix: ${r.failure.fix}`,
      `- resume: ${r.failure.resume}`,
    );
  }
  lines.push("", "### Steps", "", "| step | status | time | gates |", "|---|---|---|---|");
  for (const s of r.steps) {
    const gates = s.gates.map((g) => `${ICON[g.verdict]} ${g.gate}`).join(", ");
    lines.push(
      `| ${s.name} | ${ICON[s.status]} ${s.status} | ${s.durationMs !== undefined ? `${(s.durationMs / 1000).toFixed(1)} s` : ""} | ${gates} |`,
    );
  }
  const gates = r.steps.flatMap((s) => s.gates);
  if (gates.length) {
    lines.push("", "### Gates", "", "| gate | verdict | summary |", "|---|---|---|");
    for (const g of gates)
      lines.push(`| ${g.gate} | ${ICON[g.verdict]} ${g.verdict} | ${cell(g.summary)} |`);
  }
  return lines.join("\n") + "\n";
}
