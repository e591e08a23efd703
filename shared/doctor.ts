import { z } from 'zod';

/** One prerequisite checked by `spatialclaw doctor`. */
export const DoctorCheckSchema = z.object({
  /** Stable id, e.g. `python.packages`. */
  id: z.string(),
  /** Human label, e.g. `Python packages`. */
  label: z.string(),
  /** A missing required check makes `doctor` exit 1. */
  required: z.boolean(),
  ok: z.boolean(),
  /** What was found (a version, a path) or what is wrong. */
  detail: z.string(),
  /** The exact command that fixes a failed check; absent when ok. */
  fix: z.string().optional(),
});
export type DoctorCheck = z.infer<typeof DoctorCheckSchema>;

/** The whole report, as printed by `spatialclaw doctor --json` and sent to the renderer. */
export const DoctorReportSchema = z.object({
  ok: z.boolean(),
  checks: z.array(DoctorCheckSchema),
  createdAt: z.string(),
});
export type DoctorReport = z.infer<typeof DoctorReportSchema>;
