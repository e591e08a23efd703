/**
 * The kernel runtime's contract, shared by the host services, the CLI and the renderer:
 * inputs, cell results and the text observation the model sees. See docs/kernel-protocol.md.
 */
import { z } from 'zod';

import { PublishedArtifactSchema } from './contracts/artifact.ts';
import { AnswerPayloadSchema, ImageMetaSchema, VariableSummarySchema } from './contracts/kernel.ts';

// The cross-process parts (inputs, session config, display payloads, variable summaries) are contracts
// defined in shared/contracts/ and exported to Python; this module adds the host-side records built on them.
export { InputSpecSchema, MIME, type InputSpec, type VariableSummary } from './contracts/kernel.ts';
export { VariableSummarySchema };

/** An image from `show()` or `plt.show()`. `png` is base64 and is stripped from JSON-lines output. */
export const CellImageSchema = ImageMetaSchema.extend({
  png: z.string().optional(),
  /** Where the PNG was written, when the caller asked for files (CLI --out), or its path inside a run. */
  path: z.string().optional(),
}).meta({ id: 'CellImage' });
export type CellImage = z.infer<typeof CellImageSchema>;

/** What `ReturnAnswer(...)` submitted. */
export const AnswerSchema = AnswerPayloadSchema;
export type Answer = z.infer<typeof AnswerSchema>;

/** A perception result recorded by a tool call (docs/perception-api.md); the 3D inspector loads it by `url` or kept copy. */
export const ArtifactSchema = PublishedArtifactSchema;
export type Artifact = z.infer<typeof ArtifactSchema>;

export const ViolationSchema = z.object({
  rule: z.string(),
  message: z.string(),
  line: z.number().int(),
  col: z.number().int(),
}).meta({ id: 'Violation' });
export type Violation = z.infer<typeof ViolationSchema>;

export const CellErrorSchema = z.object({
  ename: z.string(),
  evalue: z.string(),
  /** Full traceback, ANSI codes removed. Kept whole in the record even when the observation is cut. */
  traceback: z.array(z.string()),
  /** 1-based line in the cell where it failed, when the traceback shows it. */
  lineno: z.number().int().nullable(),
  /** That source line, stripped. */
  line: z.string().nullable(),
}).meta({ id: 'CellError' });
export type CellError = z.infer<typeof CellErrorSchema>;

/**
 * What running one cell produced.
 * - `ok`: ran to the end; `error`: raised; `timeout`: interrupted after the per-cell timeout;
 * - `rejected`: blocked by the safety policy before reaching the kernel (see `violations`);
 * - `kernel_died`: the kernel process died while running it (see `notes` for the recovery).
 */
export const CellResultSchema = z.object({
  index: z.number().int(),
  origin: z.enum(['agent', 'human']),
  code: z.string(),
  status: z.enum(['ok', 'error', 'timeout', 'rejected', 'kernel_died']),
  startedAt: z.string(),
  durationMs: z.number(),
  stdout: z.string(),
  stderr: z.string(),
  /** text/plain of the value of the cell's last expression. */
  result: z.string().nullable(),
  error: CellErrorSchema.nullable(),
  violations: z.array(ViolationSchema),
  images: z.array(CellImageSchema),
  answer: AnswerSchema.nullable(),
  artifacts: z.array(ArtifactSchema),
  variables: z.array(VariableSummarySchema),
  /** Host notes, e.g. "kernel restarted; state restored by replaying 3 cells". */
  notes: z.array(z.string()),
}).meta({ id: 'CellResult' });
export type CellResult = z.infer<typeof CellResultSchema>;

/** Limits applied when a CellResult is turned into the model's next message. */
export const ObservationOptionsSchema = z.object({
  stdoutHead: z.number().int().nonnegative().default(1000),
  stdoutTail: z.number().int().nonnegative().default(3000),
  maxVariables: z.number().int().positive().default(40),
});
export type ObservationOptions = z.infer<typeof ObservationOptionsSchema>;

/** The text observation plus the images to attach. */
export interface Observation {
  text: string;
  images: CellImage[];
}
