/**
 * `spatialclaw export` and the workbench's `exportRun` (issue 15): one row per finished sample of a run, with its
 * result, what its events say (tool failures, error class, fallback) and its annotations, written as CSV, Parquet
 * or JSON Lines (docs/export.md). The rows come from the triage index (electron/services/runs/sample-index.ts);
 * the Python writer (python-eval/spatial_eval/export.py) takes them as JSON lines and checks it got exactly
 * {@link EXPORT_COLUMNS}.
 */
import { z } from 'zod';
import { TerminationSchema } from './run.ts';

export const ExportFormatSchema = z.enum(['csv', 'parquet', 'jsonl']);
export type ExportFormat = z.infer<typeof ExportFormatSchema>;

/**
 * One exported sample. Lists stay lists in JSON Lines and Parquet (`list<string>`); CSV joins them with `"; "`.
 * `answer` and `ground_truth` are as recorded (string or number) in JSON Lines, text in CSV and Parquet.
 */
export const ExportRowSchema = z
  .object({
    id: z.string(),
    benchmark: z.string().nullable(),
    /** The benchmark's own id of the row. */
    source_id: z.string().nullable(),
    question_type: z.string().nullable(),
    category: z.string().nullable(),
    question: z.string(),
    /** Multiple-choice options; empty for open and numeric questions. */
    choices: z.array(z.string()),
    answer: z.union([z.string(), z.number()]).nullable(),
    ground_truth: z.union([z.string(), z.number()]).nullable(),
    /** 0..1, null when unscored. */
    score: z.number().nullable(),
    /** score ≥ 0.5; null when unscored. */
    correct: z.boolean().nullable(),
    /** `official` / `paper` for benchmark samples, null for the generic rule. */
    scoring: z.string().nullable(),
    answer_source: z.string(),
    termination: TerminationSchema,
    error: z.string().nullable(),
    /** shared/triage.ts SampleDerived.error_class. */
    error_class: z.string().nullable(),
    steps: z.number().int(),
    model_calls: z.number().int(),
    parse_failures: z.number().int(),
    prompt_tokens: z.number().int(),
    completion_tokens: z.number().int(),
    /** null when the endpoint did not report reasoning tokens. */
    reasoning_tokens: z.number().int().nullable(),
    /** Seconds. */
    duration_s: z.number(),
    /** Agent cells whose status is not `ok`. */
    tool_failures: z.number().int(),
    fallback_used: z.boolean(),
    /** Tag ids on the whole sample, in the order first applied. */
    tags: z.array(z.string()),
    /** Tags on steps as `<step>:<tag id>`, e.g. `3:geometry.wrong_frame_axis_units`. */
    step_tags: z.array(z.string()),
    /** Notes as `<author>: <text>` (whole sample) or `<author> (step <n>): <text>`, in the order written. */
    notes: z.array(z.string()),
    /** ISO 8601. */
    started_at: z.string(),
    finished_at: z.string(),
  })
  .strict();
export type ExportRow = z.infer<typeof ExportRowSchema>;

/** The columns, in file order. */
export const EXPORT_COLUMNS = Object.keys(ExportRowSchema.shape) as (keyof ExportRow)[];
