/**
 * The kernel runtime's contract, shared by the host services, the CLI and the renderer:
 * inputs, cell results and the text observation the model sees. See docs/kernel-protocol.md.
 */
import { z } from 'zod';

/** One input bound into a kernel (docs/kernel-protocol.md, "InputSpec"). Paths are absolute. */
export const InputSpecSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('video'),
    path: z.string().min(1),
    /** Frames sampled uniformly over the whole video (default 16). */
    num_frames: z.number().int().positive().optional(),
    /** Upper bound on the sampling rate, frames per second. */
    max_fps: z.number().positive().nullable().optional(),
  }),
  z.object({ kind: z.literal('images'), path: z.string().min(1) }),
  z.object({
    kind: z.literal('rgbd'),
    /** Folder of colour frames, matched to depth frames by sorted file name. */
    path: z.string().min(1),
    /** Folder of 16-bit depth frames (PNG/PGM); metres = raw / depth_scale. */
    depth: z.string().min(1),
    /** JSON {fx, fy, cx, cy} in pixels, optional depth_scale (default 1000), width, height. */
    camera: z.string().min(1),
    /** One line per frame: tx ty tz qx qy qz qw, camera-to-world (TUM order), metres. */
    poses: z.string().min(1).nullable().optional(),
  }),
  z.object({ kind: z.literal('rgbd_sample'), path: z.string().min(1) }),
]);
export type InputSpec = z.infer<typeof InputSpecSchema>;

/** A new or changed kernel variable, summarised in one bounded line. */
export const VariableSummarySchema = z.object({
  name: z.string(),
  type: z.string(),
  shape: z.array(z.number()).nullable().optional(),
  dtype: z.string().nullable().optional(),
  len: z.number().nullable().optional(),
  /** [first, last] absolute frame indices for frame collections. */
  frames: z.tuple([z.number(), z.number()]).nullable().optional(),
  size_mb: z.number().nullable().optional(),
  line: z.string(),
});
export type VariableSummary = z.infer<typeof VariableSummarySchema>;

/** An image from `show()` or `plt.show()`. `png` is base64 and is stripped from JSON-lines output. */
export const CellImageSchema = z.object({
  index: z.number().int(),
  label: z.string().nullable(),
  width: z.number().int(),
  height: z.number().int(),
  source: z.enum(['show', 'plt', 'display']),
  png: z.string().optional(),
  /** Where the PNG was written, when the caller asked for files (CLI --out). */
  path: z.string().optional(),
});
export type CellImage = z.infer<typeof CellImageSchema>;

export const AnswerSchema = z.object({
  answer: z.union([z.string(), z.number()]),
  type: z.enum(['str', 'int', 'float']),
});
export type Answer = z.infer<typeof AnswerSchema>;

/** A perception result recorded by a tool call (docs/perception-api.md); the 3D inspector loads it by `url`. */
export const ArtifactSchema = z.object({
  id: z.string(),
  tool: z.string(),
  kind: z.string(),
  url: z.string().nullable(),
  summary: z.string(),
  /** Absolute frame indices the artifact covers. */
  frame_indices: z.array(z.number().int()).optional(),
  /** Array name -> shape, e.g. {"points": [5, 480, 640, 3]}. */
  shapes: z.record(z.string(), z.array(z.number().int())).optional(),
});
export type Artifact = z.infer<typeof ArtifactSchema>;

export const ViolationSchema = z.object({
  rule: z.string(),
  message: z.string(),
  line: z.number().int(),
  col: z.number().int(),
});
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
});
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
});
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
