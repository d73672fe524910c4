export function buildDashboards(): Record<string, unknown> {
  return {};
}
