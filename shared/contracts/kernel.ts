/**
 * What crosses between the host and an agent kernel: the inputs and session config the host sends to
 * `spatial_runtime.session.prepare`, and the display payloads the kernel publishes (MIME bundles of
 * `show()`, `ReturnAnswer()`, tool artifacts, and the variable summaries of `after_cell`).
 * Python: the generated `spatial_common.contract` (MIME constants, `SCHEMAS`), docs/kernel-protocol.md.
 */
import { z } from 'zod';
import { KernelProfileSchema } from '../profiles.ts';

/** MIME types of the kernel's display_data bundles. */
export const MIME = {
  /** `show()` / `plt.show()`: sits next to `image/png` in the same bundle; payload {@link ImageMetaSchema}. */
  image: 'application/vnd.spatialclaw.image+json',
  /** `ReturnAnswer()`: payload {@link AnswerPayloadSchema}. */
  answer: 'application/vnd.spatialclaw.answer+json',
  /** A perception tool's artifact: payload PublishedArtifact (shared/contracts/artifact.ts). */
  artifact: 'application/vnd.spatialclaw.artifact+json',
} as const;

/** One input bound into a kernel (docs/kernel-protocol.md, "InputSpec"). Paths are absolute. */
export const InputSpecSchema = z
  .discriminatedUnion('kind', [
    z.object({
      kind: z.literal('video'),
      path: z.string().min(1),
      /** Frames sampled uniformly over the whole video (default 16). */
      num_frames: z.number().int().positive().optional(),
      /** Upper bound on the sampling rate, frames per second. */
      max_fps: z.number().positive().nullable().optional(),
      /** Bind every native frame (at most max_fps per second when set) instead of num_frames sampled ones (profile `paper`). */
      all_frames: z.boolean().optional(),
    }),
    z.object({
      kind: z.literal('images'),
      /** One image file, or a folder of images (natural file-name order). With `files`: the first file. */
      path: z.string().min(1),
      /** The image files of one multi-image sample, in this order, bound as one `InputImages` (frame indices 0..N-1). */
      files: z.array(z.string().min(1)).min(1).optional(),
    }),
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
  ])
  .meta({ id: 'InputSpec' });
export type InputSpec = z.infer<typeof InputSpecSchema>;

/** `spatial_runtime.session.prepare(config_json)`: everything one session binds into a kernel. */
export const PrepareConfigSchema = z
  .object({
    /** The kernel's working directory (created if missing). */
    scratch_dir: z.string().min(1),
    inputs: z.array(InputSpecSchema),
    /** Resize frames so the long edge is at most this many pixels (intrinsics scaled to match); null: native. */
    max_long_edge: z.number().int().positive().nullable(),
    /**
     * How frames are resized to max_long_edge: keep the aspect ratio (`long_edge`, default), or centre-crop each
     * frame to the nearest of six aspect grids and resize it to that grid with long edge <= max_long_edge, small
     * frames enlarged (`paper_grid`, profile `paper`; docs/paper-parity.md row 1).
     */
    resize: z.enum(['long_edge', 'paper_grid']).optional(),
    /** The host's VLM bridge (`vlm.ask`, `vlm.locate`); null disables `vlm`. */
    bridge: z.object({ url: z.string(), token: z.string() }).nullable(),
    /** The perception server `tools.Reconstruct` / `tools.SAM3` call, and their default backends; null: none. */
    perception: z
      .object({
        url: z.string().regex(/^(https?|http\+unix):\/\//, 'an http(s) URL, or http+unix:// (a sandboxed kernel: the host bridge\'s Unix socket)'),
        token: z.string(),
        backends: z.object({ reconstruct: z.string().nullable().optional(), segment: z.string().nullable().optional() }).strict().nullable().optional(),
      })
      .nullable(),
    /** The kernel half of the agent profile (shared/profiles.ts); absent: the default profile. */
    profile: KernelProfileSchema.optional(),
  })
  .meta({ id: 'PrepareConfig' });
export type PrepareConfig = z.infer<typeof PrepareConfigSchema>;

/** Payload of MIME.image: an image published by `show()`, `plt.show()` or a display hook. */
export const ImageMetaSchema = z
  .object({
    /** The caller's label, or null. */
    label: z.string().nullable(),
    /** 0-based index of the image within the session's `show()` calls. */
    index: z.number().int().nonnegative(),
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    source: z.enum(['show', 'plt', 'display']),
    /**
     * Key frames published by `session.key_frames(..., selection='paper')` only: the input variable the frame
     * comes from (`InputImages` or `InputImages_k`), its position in that list and its absolute frame index.
     */
    frame: z.object({ input: z.string(), position: z.number().int().nonnegative(), frame_index: z.number().int() }).optional(),
  })
  .meta({ id: 'ImageMeta' });
export type ImageMeta = z.infer<typeof ImageMetaSchema>;

/** Payload of MIME.answer: the answer passed to `ReturnAnswer(...)`. */
export const AnswerPayloadSchema = z
  .object({
    answer: z.union([z.string(), z.number()]),
    type: z.enum(['str', 'int', 'float']),
  })
  .meta({ id: 'AnswerPayload' });
export type AnswerPayload = z.infer<typeof AnswerPayloadSchema>;

/** A new or changed kernel variable, summarised in one bounded line (`spatial_runtime.summary`). */
export const VariableSummarySchema = z
  .object({
    name: z.string(),
    type: z.string(),
    shape: z.array(z.number()).nullable().optional(),
    dtype: z.string().nullable().optional(),
    len: z.number().nullable().optional(),
    /** [first, last] absolute frame indices for frame collections. */
    frames: z.tuple([z.number(), z.number()]).nullable().optional(),
    /** MiB (2**20 bytes) of arrays, images and containers; with the profile's `variable_values` false: decimal MB (1e6 bytes) of `.nbytes`, as the paper reports. */
    size_mb: z.number().nullable().optional(),
    line: z.string(),
  })
  .meta({ id: 'VariableSummary' });
export type VariableSummary = z.infer<typeof VariableSummarySchema>;

/** `session.after_cell()`'s `_repr_json_()` (and `session.new_variables()`'s): the variables new or changed by the last cell. */
export const VariablesPayloadSchema = z
  .object({
    variables: z.array(VariableSummarySchema),
    /**
     * With the profile's `variable_values` false only: every tracked variable (new, changed or not) over 500 decimal MB,
     * for the paper's large-variable warning.
     */
    large: z.array(z.object({ name: z.string(), size_mb: z.number() })).optional(),
  })
  .meta({ id: 'VariablesPayload' });
