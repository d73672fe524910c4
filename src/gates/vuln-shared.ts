/**
 * What the vulnerability gate (vulns.ts) and the in-cluster scan assessment (in-cluster-scans.ts)
 * share: the severity scale and the allow-list's shape. Here so neither imports the other.
 */
import { z } from "zod";

export const SEVERITIES = ["LOW", "MEDIUM", "HIGH", "CRITICAL"] as const;
export type Severity = (typeof SEVERITIES)[number];

export const allowSchema = z.strictObject({
  entries: z.array(
    z.strictObject({
      id: z.string().min(1),
      package: z.string().min(1).optional(),
      reason: z.string().min(10, "say why the finding is accepted (at least 10 characters)"),
      approver: z.string().min(3, "who approved it"),
      expires: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "a date like 2027-05-31"),
    }),
  ),
});
export type AllowList = z.infer<typeof allowSchema>;
