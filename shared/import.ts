/**
 * Importing a SpatialClaw work dir as a run (`spatialclaw import DIR`, the workbench's `importWorkdir`;
 * electron/services/runs/import.ts, docs/import.md): what was asked and what the import did.
 */
import { z } from 'zod';
import { RunIdSchema } from './ids.ts';

export const ImportRequestSchema = z
  .object({
    /** The work dir on the host (the folder holding predictions.jsonl and the session folders). */
    path: z.string().min(1, 'give the work dir: the folder holding predictions.jsonl and the session-*/ folders'),
    /** The new run's id (folder name); default `import-<UTC time>-<4 hex>`. */
    id: RunIdSchema.optional(),
    /** The benchmarks' data root (`spatialclaw eval --data-root`): recovers real inputs and question types. */
    data_root: z.string().min(1).optional(),
  })
  .strict();
export type ImportRequest = z.infer<typeof ImportRequestSchema>;

export const ImportProblemSchema = z.object({
  /** `path:line` or a path. */
  where: z.string(),
  /** What was wrong and what was expected. */
  message: z.string(),
});

/** What an import did (printed by the CLI; `--json` prints this object). */
export const ImportReportSchema = z.object({
  run_id: z.string(),
  run_dir: z.string(),
  /** The work dir read (absolute). */
  source: z.string(),
  /** The benchmark (spatial_eval's name), or null when the work dir does not say. */
  benchmark: z.string().nullable(),
  /** The model (`llm_model` of config.json), or null. */
  model: z.string().nullable(),
  /** Samples written to the run. */
  samples: z.number().int().nonnegative(),
  /** Of those: with a session trace, from predictions.jsonl alone (no session folder), from a session folder alone. */
  with_trace: z.number().int().nonnegative(),
  without_trace: z.number().int().nonnegative(),
  without_prediction: z.number().int().nonnegative(),
  /** Samples with a score, and where the scores came from (`spatialclaw-workdir`, `official`, `paper`). */
  scored: z.number().int().nonnegative(),
  scoring: z.string(),
  /** Mean score over the scored samples, or null. */
  mean_score: z.number().nullable(),
  /** Samples whose inputs were recovered from the data root (else they carry a placeholder input, docs/import.md). */
  inputs_recovered: z.number().int().nonnegative(),
  /** `show()` images written. */
  images: z.number().int().nonnegative(),
  problems: z.array(ImportProblemSchema),
  /** What the reader could not bring into the run record but kept elsewhere (never an error). */
  notes: z.array(z.string()),
});
export type ImportReport = z.infer<typeof ImportReportSchema>;
