/**
 * Agent profiles: every option of the agent loop and of the kernel that decides what the model sees and how
 * a sample ends, resolved once per run and recorded in run.json (`config.profile`, `config.agent`).
 *
 * - `default`: this workbench's loop.
 * - `paper`: the SpatialClaw loop as its paper and released code describe it (docs/paper-parity.md lists
 *   every item, what the original does, what each profile does and why they differ).
 *
 * Flags override single options on top of the chosen profile (e.g. `--profile paper --max-steps 10`).
 * The kernel part (`kernel`) travels to `spatial_runtime.session.prepare` in PrepareConfig.
 */
import { z } from 'zod';
import { DEFAULTS } from './defaults.ts';

export const PROFILE_NAMES = ['default', 'paper'] as const;
export const ProfileNameSchema = z.enum(PROFILE_NAMES).meta({ id: 'ProfileName' });
export type ProfileName = z.infer<typeof ProfileNameSchema>;

/** Options the kernel applies (sent in PrepareConfig.profile). */
export const KernelProfileSchema = z
  .object({
    name: ProfileNameSchema,
    /** Variable summaries show the values of small scalars, arrays and strings (default), or only type, shape, dtype, length, frames, size and keys (paper). */
    variable_values: z.boolean(),
    /** `PerFrameMask.get_centroid_3d`: mean of all points, raising on an empty mask (default), or median of the points with confidence > 0.3, NaN on an empty mask (paper). */
    centroid_3d: z.enum(['mean', 'median_confident']),
    /** `vlm.*`: ask / locate / to_pixels that raise on errors (default), or the paper's capped calls that answer errors as text (paper). */
    vlm: z.enum(['default', 'paper']),
    /** `tools.SAM3` video calls: on the sampled InputImages (default), or on the source video at native fps, one object per prompt (paper). */
    sam3_video: z.enum(['sampled', 'source']),
    /** `tools.Reconstruct` extras of the paper (render_bev, metric_scale, `.points.points`). */
    reconstruct_extras: z.boolean(),
    /**
     * On a cell timeout: interrupt and keep the kernel's state (absent or false, default), or interrupt, then clear the
     * namespace and bind the inputs and tools again, losing every variable (true, paper; docs/paper-parity.md 18.7).
     */
    timeout_reset: z.boolean().optional(),
  })
  .meta({ id: 'KernelProfile' });
export type KernelProfile = z.infer<typeof KernelProfileSchema>;

/** How a video's frames are bound (InputSpec): a uniform sample, or every native frame. */
export const VideoFramesSchema = z.union([z.object({ mode: z.literal('sampled'), count: z.number().int().positive() }), z.object({ mode: z.literal('all') })]);

/** Every option of a profile (see {@link AgentProfileSchema}, which adds the image-cap rule). */
const agentProfileFields = {
  name: ProfileNameSchema,
  /** Frames bound from a video. */
  video_frames: VideoFramesSchema,
  /** Resize input frames so the long edge is at most this (null: native resolution). */
  input_long_edge: z.number().int().positive().nullable(),
  /**
   * Keep each frame's aspect ratio when resizing to input_long_edge (false, default); or centre-crop it to the
   * nearest of six aspect grids (1:1, 4:3, 3:2, 9:5, 2:3, 16:9), then Lanczos-resize it to that grid with long edge
   * <= input_long_edge, small frames enlarged (true, paper; PrepareConfig.resize `paper_grid`; most 4:3 and 16:9
   * frames are not cropped at all).
   */
  input_center_crop: z.boolean(),
  /** Key frames in the first user message (default: at most images_per_request - observation_slots of them). */
  key_frames: z.number().int().nonnegative(),
  /**
   * Which key frames: `key_frames` shared out across the inputs, labelled `frame N` (false, default); or the paper's
   * selection (true): min(key_frames, n) frames at round(i(n-1)/(k-1)) over all bound frames as one list, or
   * `key_frames` from each video when the sample has several videos (a set of images is one list).
   */
  key_frames_per_input: z.boolean(),
  /** show() images attached to observations over the whole sample (key frames do not count). */
  image_budget: z.number().int().nonnegative(),
  /**
   * Images in one request (key frames + observation images); older observation images beyond it are replaced by a
   * text placeholder. The model config's `images.per_request` sets it for a run. null: no per-request cap, nothing
   * is ever pruned (paper: every request carries every key frame and every image shown so far).
   */
  images_per_request: z.number().int().positive().nullable(),
  /** Request slots kept for observation images: key frames take at most images_per_request - observation_slots. null with no cap. */
  observation_slots: z.number().int().positive().nullable(),
  /** Failed steps in a row that end a sample. */
  max_consecutive_failures: z.number().int().positive(),
  /**
   * What counts toward max_consecutive_failures: parse failures and failed cells (errors, timeouts, rejections),
   * a clean cell resets (true, default); or parse failures and non-transient model-call failures only, any parsed
   * reply resets (false, paper). Under paper a failed model call uses a step and the sample goes on.
   */
  cell_errors_count: z.boolean(),
  /**
   * When the step that reaches max_consecutive_failures is also the last of the budget: the sample ends as
   * `consecutive_failures` (false, default) or `max_steps` (true, paper: the original checks the budget first).
   */
  step_budget_first: z.boolean(),
  /** The planner: a short blind prompt (default) or the paper's (tool reference, heuristics, JSON checklist, transition message). */
  planner: z.enum(['brief', 'paper']),
  /** Reply parsing: the last python block (default) or the paper's sections-and-first-fence parse. */
  parsing: z.enum(['default', 'paper']),
  /** Observation text: stderr and errors in full with the cell's result (default), or the paper's caps (stderr only without an error, <= 500 chars; error <= 600 chars; no result). */
  observation: z.enum(['default', 'paper']),
  /**
   * Failed steps in the history: code to the failing line (default), or the paper's (prose replaced by a marker, code
   * to the failing line with an error marker, <= 2000 chars; the step's new variables kept when the failing line is
   * known, deleted from the kernel when it is not).
   */
  condensation: z.enum(['default', 'paper']),
  /** ReturnAnswer ends the sample only when its cell succeeds (default), or even when the cell raises afterwards (paper). */
  answer_on_error: z.boolean(),
  /** The answer fallback: key frames + question + last observations (default), or the paper's chain-of-thought call read for \boxed{} (paper). */
  fallback: z.enum(['default', 'paper']),
  kernel: KernelProfileSchema,
};
const capRule = {
  check: (p: { images_per_request: number | null; observation_slots: number | null }): boolean => (p.images_per_request === null) === (p.observation_slots === null),
  message: 'images_per_request and observation_slots are both numbers (a per-request cap) or both null (no cap)',
};

export const AgentProfileSchema = z
  .object(agentProfileFields)
  .refine(capRule.check, { message: capRule.message })
  .meta({ id: 'AgentProfile' });
export type AgentProfile = z.infer<typeof AgentProfileSchema>;

/**
 * run.json `config.agent`: every option a sample ran with, the profile's (flags applied; `images_per_request` is the
 * model config's `images.per_request` unless the profile has no cap) and the run's own.
 */
export const AgentRunConfigSchema = z
  .object({
    ...agentProfileFields,
    executor: z.enum(['code', 'single_pass', 'tool_call']),
    /** Step budget per sample. */
    max_steps: z.number().int().positive(),
    /** Whether the planner is asked first. */
    plan: z.boolean(),
    /** Per-cell timeout, seconds. */
    cell_timeout_s: z.number().positive(),
    /** Wall-clock budget per sample, seconds (`--sample-timeout`, settings `sample_timeout_s`); absent: none. */
    sample_timeout_s: z.number().positive().optional(),
    /** Long edge, pixels, of the images sent to the model (model config `images.max_long_edge`). */
    max_long_edge: z.number().int().positive(),
  })
  .refine(capRule.check, { message: capRule.message })
  .meta({ id: 'AgentRunConfig' });
export type AgentRunConfig = z.infer<typeof AgentRunConfigSchema>;

export const PROFILES: Record<ProfileName, AgentProfile> = {
  default: {
    name: 'default',
    video_frames: { mode: 'sampled', count: DEFAULTS.videoFrames },
    input_long_edge: null,
    input_center_crop: false,
    key_frames: DEFAULTS.keyFrames,
    key_frames_per_input: false,
    image_budget: DEFAULTS.imageBudget,
    images_per_request: DEFAULTS.imagesPerRequest,
    observation_slots: DEFAULTS.observationSlots,
    max_consecutive_failures: DEFAULTS.maxConsecutiveFailures,
    cell_errors_count: true,
    step_budget_first: false,
    planner: 'brief',
    parsing: 'default',
    observation: 'default',
    condensation: 'default',
    answer_on_error: false,
    fallback: 'default',
    kernel: { name: 'default', variable_values: true, centroid_3d: 'mean', vlm: 'default', sam3_video: 'sampled', reconstruct_extras: false },
  },
  paper: {
    name: 'paper',
    video_frames: { mode: 'all' },
    input_long_edge: 768,
    input_center_crop: true,
    key_frames: 32,
    key_frames_per_input: true,
    image_budget: 250,
    images_per_request: null,
    observation_slots: null,
    max_consecutive_failures: 30,
    cell_errors_count: false,
    step_budget_first: true,
    planner: 'paper',
    parsing: 'paper',
    observation: 'paper',
    condensation: 'paper',
    answer_on_error: true,
    fallback: 'paper',
    kernel: {
      name: 'paper',
      variable_values: false,
      centroid_3d: 'median_confident',
      vlm: 'paper',
      sam3_video: 'source',
      reconstruct_extras: true,
      timeout_reset: true,
    },
  },
};

/** A profile whose image limits cannot work; the message names the options and how to fix them. */
export class ProfileConfigError extends Error {
  override name = 'ProfileConfigError';
}

/**
 * How many key frames a request may carry: at most `keyFrames`, leaving `observationSlots` of the
 * `imagesPerRequest` for observation images.
 * @throws ProfileConfigError when the limits cannot hold one observation image.
 */
export function keyFrameSlots(keyFrames: number, imagesPerRequest: number, observationSlots: number): number {
  if (observationSlots < 1) throw new ProfileConfigError(`observation_slots is ${observationSlots}: the model could never see a show() image; set it to 1 or more`);
  if (observationSlots > imagesPerRequest) {
    throw new ProfileConfigError(
      `images per request is ${imagesPerRequest} but ${observationSlots} slots are kept for observation images; raise images.per_request in the model config or lower observation_slots`,
    );
  }
  return Math.max(0, Math.min(keyFrames, imagesPerRequest - observationSlots));
}
