/**
 * The options one sample runs with, resolved from an agent profile (shared/profiles.ts) and the run's own
 * choices, and what follows from them outside the loop: the InputSpecs and PrepareConfig of the kernel (the
 * profile's frames, size rule and kernel options) and the `config.agent` record of run.json. `spatialclaw ask`,
 * `spatialclaw run` and the workbench all resolve through {@link agentOptions}.
 */
import { DEFAULTS } from '../../../shared/defaults.ts';
import type { InputSpec } from '../../../shared/kernel.ts';
import type { ModelConfig } from '../../../shared/model.ts';
import { type AgentProfile, AgentProfileSchema, type AgentRunConfig, AgentRunConfigSchema, type ProfileName, PROFILES } from '../../../shared/profiles.ts';
import type { PrepareConfig } from '../kernel/session.ts';
import type { Executor } from './prompt.ts';

export interface AgentOptions {
  /**
   * Every option of the profile, as the sample runs with it (`images_per_request`: the model config's
   * `images.per_request`, or null when the profile has no per-request cap).
   */
  profile: AgentProfile;
  executor: Executor;
  /** Step budget (single_pass: 1). */
  maxSteps: number;
  /** Run the planner call first (its failure is not fatal). */
  plan: boolean;
  /** Per-cell timeout in seconds. */
  cellTimeoutS: number;
  /**
   * Wall-clock budget of one sample, seconds (null: none). When it passes, the model call or cell under way is
   * stopped and the sample ends with termination `error`, its detail saying so (no fallback call).
   */
  sampleTimeoutS: number | null;
  /** Long edge of key frames sent to the model (model config images.max_long_edge). */
  maxLongEdge: number;
}

/** The loop's defaults: the default profile and shared/defaults.ts. */
export const DEFAULT_AGENT_OPTIONS: AgentOptions = {
  profile: PROFILES.default,
  executor: DEFAULTS.executor,
  maxSteps: DEFAULTS.maxSteps,
  plan: DEFAULTS.plan,
  cellTimeoutS: DEFAULTS.cellTimeoutS,
  sampleTimeoutS: null,
  maxLongEdge: DEFAULTS.maxLongEdge,
};

/** What a run chose: the profile by name and the options flags set on top of it. */
export interface AgentChoices {
  profile: ProfileName;
  executor: Executor;
  maxSteps: number;
  plan: boolean;
  cellTimeoutS: number;
  /** Wall-clock budget per sample, seconds (null or absent: none). */
  sampleTimeoutS?: number | null;
  /** The model config (its image limits), or null for a scripted model (the profile's values). */
  model: ModelConfig | null;
}

/** The options of a run: the named profile with the model config's image limits, and the run's choices. */
export function agentOptions(c: AgentChoices): AgentOptions {
  const base = PROFILES[c.profile];
  const perRequest = base.images_per_request === null ? null : c.model?.images.per_request ?? base.images_per_request;
  return {
    profile: AgentProfileSchema.parse({ ...structuredClone(base), images_per_request: perRequest }),
    executor: c.executor,
    maxSteps: c.executor === 'single_pass' ? 1 : c.maxSteps,
    plan: c.plan,
    cellTimeoutS: c.cellTimeoutS,
    sampleTimeoutS: c.sampleTimeoutS ?? null,
    maxLongEdge: c.model?.images.max_long_edge ?? DEFAULTS.maxLongEdge,
  };
}

/** run.json `config.agent`: every option the samples run with. */
export function agentRecord(o: AgentOptions): AgentRunConfig {
  return AgentRunConfigSchema.parse({
    ...o.profile,
    executor: o.executor,
    max_steps: o.executor === 'single_pass' ? 1 : o.maxSteps,
    plan: o.plan,
    cell_timeout_s: o.cellTimeoutS,
    ...(o.sampleTimeoutS ? { sample_timeout_s: o.sampleTimeoutS } : {}),
    max_long_edge: o.maxLongEdge,
  });
}

/**
 * A sample's inputs under a profile: a video that does not say how many frames to bind gets the profile's rule
 * (`num_frames`, or `all_frames` for paper); one that says (`--frames`, a dataset's `num_frames`) keeps it.
 */
export function profileInputs(inputs: InputSpec[], p: AgentProfile): InputSpec[] {
  return inputs.map((i) => {
    if (i.kind !== 'video' || i.num_frames !== undefined || i.all_frames !== undefined) return i;
    return p.video_frames.mode === 'all' ? { ...i, all_frames: true } : { ...i, num_frames: p.video_frames.count };
  });
}

/** What a PrepareConfig takes from the profile: the frames' long edge and resize rule, and the kernel options. */
export function prepareOptions(p: AgentProfile): Pick<PrepareConfig, 'maxLongEdge' | 'resize' | 'profile'> {
  return { maxLongEdge: p.input_long_edge, ...(p.input_center_crop ? { resize: 'paper_grid' as const } : {}), profile: p.kernel };
}

/**
 * How `session.keyFrames` selects for the profile: shared out across the inputs (default), or the paper's rule over
 * all bound frames as one list, per video only when the sample's inputs are several videos.
 */
export function keyFrameSelection(p: AgentProfile, inputs: InputSpec[]): { selection?: 'paper'; perInput?: boolean } {
  if (!p.key_frames_per_input) return {};
  const videos = inputs.filter((i) => i.kind === 'video').length;
  return { selection: 'paper', perInput: videos > 1 && videos === inputs.length };
}
