/**
 * The run record (format `spatialclaw-run/1`, docs/run-format.md). A run is a folder:
 *
 *   run.json                      RunInfo: config without secrets, versions, status
 *   samples.jsonl                 one SampleResult per finished sample (append-only)
 *   samples/<sample id>/events.jsonl   one RunEvent per line (append-only)
 *   samples/<sample id>/images/   PNGs referenced by events
 *
 * Every line is one JSON object, so `jq` and `pandas.read_json(lines=True)` read it.
 */
import { z } from 'zod';
import { ArtifactSchema, CellResultSchema, InputSpecSchema } from './kernel.ts';
import { UsageSchema } from './model.ts';

export const RUN_FORMAT = 'spatialclaw-run/1';

/** The fields of an `artifact` event: the PublishedArtifact contract without `shapes`. */
export const ArtifactEventFieldsSchema = ArtifactSchema.omit({ shapes: true });

export const SampleSpecSchema = z.object({
  /** Unique within the run; also the sample's folder name (letters, digits, _ . -). */
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'sample ids use letters, digits, _ . - (max 128)'),
  question: z.string().min(1),
  /** Multiple-choice options, e.g. ["A. 1.2 m", "B. 2.5 m"]; absent for open or numeric questions. */
  choices: z.array(z.string()).optional(),
  inputs: z.array(InputSpecSchema).min(1),
  /** Ground truth: the option letter, or a number (as number or string). */
  answer: z.union([z.string(), z.number()]).optional(),
  question_type: z.string().optional(),
  /** The benchmark the sample comes from (`spatialclaw eval`; python-eval/spatial_eval), e.g. `vsibench`. */
  benchmark: z.string().optional(),
  /** The benchmark's own id of the row (predictions files and `spatialclaw score` use it). */
  source_id: z.string().optional(),
  /** A coarser label than question_type, when the benchmark has one. */
  category: z.string().optional(),
  /** How to format the answer, shown after the question (the benchmark's format, in our words). */
  instruction: z.string().optional(),
  /** Key frames for this sample's first request, overriding the profile's count (a benchmark setting). */
  key_frames: z.number().int().nonnegative().optional(),
}).meta({ id: 'SampleSpec' });
export type SampleSpec = z.infer<typeof SampleSpecSchema>;

export const TerminationSchema = z.enum([
  'answered', // ReturnAnswer was called
  'max_steps', // step budget used up
  'consecutive_failures', // too many failed steps in a row
  'stopped', // stopped by the user
  'error', // a host-side error (e.g. the kernel could not be prepared); see `error`
]).meta({ id: 'Termination' });
export type Termination = z.infer<typeof TerminationSchema>;

export const SampleResultSchema = z.object({
  id: z.string(),
  question: z.string(),
  choices: z.array(z.string()).optional(),
  /** The final answer (after fallbacks), or null. */
  answer: z.union([z.string(), z.number()]).nullable(),
  /** Where the answer came from. */
  answer_source: z.enum(['return_answer', 'last_submitted', 'direct_answer', 'none']),
  ground_truth: z.union([z.string(), z.number()]).nullable(),
  /**
   * 0..1, null without ground truth. Benchmark samples: the benchmark's per-sample score under `scoring`
   * (python-eval/spatial_eval); other samples: exact match for choices, MRA for numbers (runs/scoring.ts).
   */
  score: z.number().min(0).max(1).nullable(),
  /** The scoring that gave `score`: `official` / `paper` for benchmark samples, absent: the generic rule. */
  scoring: z.string().optional(),
  question_type: z.string().nullable(),
  benchmark: z.string().optional(),
  source_id: z.string().optional(),
  category: z.string().optional(),
  termination: TerminationSchema,
  steps: z.number().int().nonnegative(),
  parse_failures: z.number().int().nonnegative(),
  usage: UsageSchema,
  model_calls: z.number().int().nonnegative(),
  duration_s: z.number().nonnegative(),
  error: z.string().nullable(),
  started_at: z.string(),
  finished_at: z.string(),
  /**
   * How many occurrences of a secret (a model API key, a server or bridge token) the run store replaced by
   * `[redacted:<VAR NAME>]` in this sample's files (events.jsonl, messages.jsonl, this line) before writing them.
   * Absent when none was (docs/security.md, "Secrets").
   */
  redactions: z.number().int().positive().optional(),
}).meta({ id: 'SampleResult' });
export type SampleResult = z.infer<typeof SampleResultSchema>;

const base = { t: z.string(), step: z.number().int().nonnegative() };

/**
 * One part of a message exactly as it was sent to a model: text, or an image stored (once, by content
 * hash) in the sample's `images/` folder at the size that was sent.
 */
export const RequestPartSchema = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('text'), text: z.string() }),
    z.object({
      type: z.literal('image'),
      /** `images/req-<16 hex digits of sha256>.png` (or .jpg), relative to the sample folder. */
      path: z.string(),
      width: z.number().int().positive(),
      height: z.number().int().positive(),
      /** Encoded size sent, bytes. */
      bytes: z.number().int().nonnegative(),
    }),
  ])
  .meta({ id: 'RequestPart' });
export type RequestPart = z.infer<typeof RequestPartSchema>;

/**
 * One message of a model request, stored once per sample in `samples/<id>/messages.jsonl` and addressed by
 * `id` (the first 16 hex digits of the sha256 of its role and parts). Requests share their history, so a
 * sample's messages grow linearly with its steps, not quadratically.
 */
export const RequestMessageSchema = z
  .object({
    id: z.string().regex(/^[0-9a-f]{16}$/),
    role: z.enum(['system', 'user', 'assistant']),
    parts: z.array(RequestPartSchema),
  })
  .meta({ id: 'RequestMessage' });
export type RequestMessage = z.infer<typeof RequestMessageSchema>;

/** What one model call sent: its messages (ids into messages.jsonl, in order) and the sampling parameters. */
export const ModelRequestSchema = z
  .object({
    messages: z.array(z.string().regex(/^[0-9a-f]{16}$/)),
    /** Request body fields besides `messages` (model, max_tokens, temperature, extra_body, ...). */
    params: z.record(z.string(), z.unknown()),
    /** Images in the request. */
    images: z.number().int().nonnegative(),
    /** Characters of text in the request. */
    text_chars: z.number().int().nonnegative(),
  })
  .meta({ id: 'ModelRequest' });
export type ModelRequest = z.infer<typeof ModelRequestSchema>;

/** One line of events.jsonl. `t` is an ISO time; `step` is 0 for events before the first cell. */
export const RunEventSchema = z.discriminatedUnion('type', [
  z.object({ ...base, type: z.literal('sample_start'), sample: SampleSpecSchema, executor: z.string() }),
  z.object({ ...base, type: z.literal('plan'), text: z.string().nullable(), error: z.string().nullable() }),
  z.object({
    ...base,
    type: z.literal('model_call'),
    role: z.string(),
    endpoint: z.string(),
    latency_ms: z.number(),
    attempts: z.number().int(),
    usage: UsageSchema,
    raw: z.string(),
    reasoning: z.string().nullable(),
    /** Parsed fields (purpose, reasoning, next_goal, code), or null when parsing failed. */
    parsed: z.record(z.string(), z.string()).nullable(),
    parse_error: z.string().nullable(),
    /** What was sent (absent in runs recorded before requests were kept). */
    request: ModelRequestSchema.optional(),
  }),
  /**
   * A model request that failed, written as soon as it ended (before any retry): one per failed attempt of a
   * model call, so a hung or failing endpoint shows in the record while the sample still waits. The attempt that
   * answered is the `model_call` event (its `attempts` counts them all). A call sends at most 1 + `max_retries`
   * requests (docs/models.md).
   */
  z.object({
    ...base,
    type: z.literal('model_attempt'),
    role: z.string(),
    endpoint: z.string(),
    /** 1 for the call's first request, 2 for its first retry, ... */
    attempt: z.number().int().positive(),
    /** From sending the request to its failure, ms. */
    duration_ms: z.number().nonnegative(),
    error: z.string(),
    /** timeout, connection, http, malformed, aborted (ModelError kinds). */
    kind: z.string(),
    /** HTTP status, when the server answered one. */
    status: z.number().int().nullable(),
    /** Whether another request followed. */
    will_retry: z.boolean(),
  }),
  z.object({ ...base, type: z.literal('cell'), result: CellResultSchema }),
  z.object({ ...base, type: z.literal('observation'), text: z.string(), images: z.array(z.string()) }),
  z.object({ ...base, type: z.literal('image'), path: z.string(), label: z.string().nullable(), width: z.number().int(), height: z.number().int() }),
  // What the kernel tool published (PublishedArtifact without the array shapes, which the cell result keeps).
  z.object({ ...base, type: z.literal('artifact'), ...ArtifactEventFieldsSchema.shape }),
  z.object({ ...base, type: z.literal('answer'), answer: z.union([z.string(), z.number()]), source: z.string() }),
  z.object({ ...base, type: z.literal('termination'), reason: TerminationSchema, detail: z.string().nullable() }),
]).meta({ id: 'RunEvent' });
export type RunEvent = z.infer<typeof RunEventSchema>;

/**
 * One line of a run's `infra-errors.jsonl`: a sample that an infrastructure fault hurt (the local perception server
 * died while it ran and one of its tool calls failed). Such a sample is not recorded in samples.jsonl, so it is not
 * scored and `--resume` redoes it; this file says why it is missing (docs/run-format.md).
 */
export const InfraErrorSchema = z.object({
  id: z.string(),
  /** ISO time the sample was given up. */
  t: z.string(),
  /** What happened, for people. */
  error: z.string(),
  /** How the loop had ended the sample (not recorded as its result). */
  termination: TerminationSchema,
}).meta({ id: 'InfraError' });
export type InfraError = z.infer<typeof InfraErrorSchema>;

export const RunInfoSchema = z.object({
  format: z.literal(RUN_FORMAT),
  id: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
  status: z.enum(['running', 'finished', 'interrupted', 'failed']),
  /** The run's configuration with every secret removed (keys are referenced by env-var name only). */
  config: z.record(z.string(), z.unknown()),
  versions: z.record(z.string(), z.string()),
  /** How many samples the run was asked to do. */
  total_samples: z.number().int().nonnegative(),
}).meta({ id: 'RunInfo' });
export type RunInfo = z.infer<typeof RunInfoSchema>;

// ---------------------------------------------------------------------------------------------------
// Progress of a run in flight (progress.json; printed by the CLI, shown by the workbench)

/**
 * Where one sample in flight is: waiting for a kernel from the pool, binding its inputs in the kernel (`prepare`),
 * waiting for a model reply, or running a cell.
 */
export const SamplePhaseSchema = z.enum(['kernel', 'preparing', 'model', 'cell']);
export type SamplePhase = z.infer<typeof SamplePhaseSchema>;

/**
 * A snapshot of a batch in flight, written to the run folder's `progress.json` (replaced atomically, at most once a
 * second and at every change of stage) by `spatialclaw run` / `eval`, printed by the CLI and shown by the workbench.
 * Both show {@link describeProgress} of the same snapshot.
 */
export const RunProgressSchema = z.object({
  /** ISO 8601 time of the snapshot. */
  t: z.string(),
  /** Seconds since the command started. */
  elapsed_s: z.number().nonnegative(),
  /**
   * `jupyter`: starting the Jupyter server; `kernels`: no sample has a kernel yet; `running`: samples in flight;
   * `finishing`: every sample done, shutting down; `done`: the run is recorded.
   */
  stage: z.enum(['jupyter', 'kernels', 'running', 'finishing', 'done']),
  /** The kernel pool: kernels ready (warm or in use) of `target`, and how many are starting now. Null before the pool exists. */
  kernels: z.object({
    ready: z.number().int().nonnegative(),
    starting: z.number().int().nonnegative(),
    target: z.number().int().nonnegative(),
    /** Kernels started so far (replacements included). */
    started: z.number().int().nonnegative(),
    /** Samples that got a kernel an earlier sample had used (reset in place). */
    reused: z.number().int().nonnegative(),
  }).nullable(),
  samples: z.object({
    total: z.number().int().nonnegative(),
    /** Recorded (this run and, on --resume, before). */
    done: z.number().int().nonnegative(),
    /** Samples in flight per phase. */
    phases: z.record(SamplePhaseSchema, z.number().int().nonnegative()),
  }),
  /** Seconds from the start to the first model call sent; null before it. */
  first_model_call_s: z.number().nonnegative().nullable(),
  /** Seconds from the start to the first sample recorded in this run; null before it. */
  first_sample_done_s: z.number().nonnegative().nullable(),
});
export type RunProgress = z.infer<typeof RunProgressSchema>;

/** How each {@link SamplePhase} is said to people (CLI, workbench). */
export const SAMPLE_PHASE_WORDS: Record<SamplePhase, string> = {
  kernel: 'waiting for a kernel',
  preparing: 'preparing inputs',
  model: 'waiting for the model',
  cell: 'running a cell',
};

/**
 * One line for people, the same in the CLI and the workbench, e.g.
 * `kernels 3/8 ready, 1 starting · 2 preparing inputs · 4 waiting for the model · 5/32 done`.
 */
export function describeProgress(p: RunProgress): string {
  if (p.stage === 'jupyter') return 'starting the Jupyter server';
  const parts: string[] = [];
  const k = p.kernels;
  if (k && (p.stage === 'kernels' || k.ready < k.target || k.starting > 0)) {
    parts.push(`kernels ${k.ready}/${k.target} ready${k.starting ? `, ${k.starting} starting` : ''}`);
  }
  for (const phase of SamplePhaseSchema.options) {
    const n = p.samples.phases[phase] ?? 0;
    if (n > 0) parts.push(`${n} ${SAMPLE_PHASE_WORDS[phase]}`);
  }
  parts.push(`${p.samples.done}/${p.samples.total} done`);
  if (p.stage === 'finishing') parts.push('shutting down');
  return parts.join(' · ');
}
