/**
 * The workbench contract: every request the renderer can make of the host, and every event the host
 * pushes. One table, implemented twice by generic code:
 *
 * - Electron: `ipcRenderer.invoke('wb:<method>', args)` in the preload, validated in the main process;
 *   events on the `wb:event` channel.
 * - Browser mode (`spatialclaw serve`): `POST /api/call/<method>` with the JSON args (token in
 *   `Authorization: Bearer`), events over the WebSocket `/api/events` (first message `{"type":"auth","token"}`).
 *
 * Methods whose result is `'binary'` (frame previews, run images, artifact arrays) never go through
 * JSON: IPC returns a `Uint8Array` (structured clone), HTTP returns `application/octet-stream` bytes.
 * Both sides validate: the host parses `args` with the method's schema before calling the service, the
 * client parses JSON results with the result schema. See docs/workbench.md.
 */
import { z } from 'zod';
import { AnnotateRequestSchema, RunAnnotationsSchema, SampleAnnotationsSchema, TaxonomySchema } from './annotations.ts';
import { ClusterStatusSchema } from './cluster.ts';
import { CompareRequestSchema, RunComparisonSchema } from './compare.ts';
import { ArrayNameSchema, ArtifactIdSchema, ArtifactManifestSchema } from './contracts/artifact.ts';
import { DEFAULTS } from './defaults.ts';
import { DoctorReportSchema } from './doctor.ts';
import { ExportFormatSchema } from './export.ts';
import { CellResultSchema, InputSpecSchema } from './kernel.ts';
import { ModelConfigSchema } from './model.ts';
import { ProfileNameSchema } from './profiles.ts';
import { RunResultsSchema } from './results.ts';
import { RequestMessageSchema, RunEventSchema, RunInfoSchema, RunProgressSchema, SampleResultSchema } from './run.ts';
import { TriagePageSchema, TriageQuerySchema } from './triage.ts';

import { RunIdSchema, SampleIdSchema } from './ids.ts';
import { ImportReportSchema, ImportRequestSchema } from './import.ts';

export { RunIdSchema, SampleIdSchema } from './ids.ts';
// Artifact ids, array names and manifests are contracts shared with the perception server (shared/contracts/).
export { ArrayNameSchema, ArtifactIdSchema, ArtifactManifestSchema, type ArtifactManifest } from './contracts/artifact.ts';

// ---------------------------------------------------------------------------------------------------
// Inputs and previews

/** A host directory listing for the path picker (both transports; Electron also offers native dialogs). */
export const DirEntrySchema = z.object({
  name: z.string(),
  path: z.string(),
  kind: z.enum(['dir', 'file']),
  size: z.number().nonnegative().nullable(),
});
export const DirListingSchema = z.object({ path: z.string(), parent: z.string().nullable(), entries: z.array(DirEntrySchema) });
export type DirListing = z.infer<typeof DirListingSchema>;

/** What the inputs hold: frame count and size, and the absolute frame indices the kernel will bind. */
export const InputPreviewSchema = z.object({
  inputs: z.array(
    z.object({
      kind: z.string(),
      path: z.string(),
      /** Frames in the source (video: decoded count; folders: files). */
      total_frames: z.number().int().nonnegative(),
      width: z.number().int().positive(),
      height: z.number().int().positive(),
      fps: z.number().positive().nullable(),
      /** Absolute frame indices the sample binds (what `frames` holds in the kernel). */
      frame_indices: z.array(z.number().int().nonnegative()),
      has_depth: z.boolean(),
      has_poses: z.boolean(),
    }),
  ),
});
export type InputPreview = z.infer<typeof InputPreviewSchema>;

// ---------------------------------------------------------------------------------------------------
// Ask

export const AskRequestSchema = z.object({
  question: z.string().min(1, 'type a question'),
  /** Multiple-choice options, e.g. ["A. 1.2 m", "B. 2.5 m"]. */
  choices: z.array(z.string().min(1)).optional(),
  /** Ground truth, optional (scores the answer). */
  answer: z.union([z.string(), z.number()]).optional(),
  inputs: z.array(InputSpecSchema).min(1, 'pick a video, an image folder or an RGB-D folder'),
  /** A model config name (Settings > Model endpoints). */
  model: z.string().min(1, 'choose a model endpoint'),
  /** A perception server name (Settings > Perception servers), or null for none. */
  perception: z.string().nullable(),
  /** The agent profile (shared/profiles.ts); absent: the host's (`SPATIALCLAW_PROFILE`, settings.json, `default`). */
  profile: ProfileNameSchema.optional(),
  executor: z.enum(['code', 'single_pass', 'tool_call']).default(DEFAULTS.executor),
  max_steps: z.number().int().positive().max(DEFAULTS.maxStepsLimit).default(DEFAULTS.maxSteps),
  plan: z.boolean().default(DEFAULTS.plan),
});
export type AskRequest = z.input<typeof AskRequestSchema>;

export const AskStartedSchema = z.object({ run_id: RunIdSchema, sample_id: SampleIdSchema });
export type AskStarted = z.infer<typeof AskStartedSchema>;

// ---------------------------------------------------------------------------------------------------
// Runs

export const RunQuerySchema = z.object({
  /**
   * Case-insensitive substring of the run id, model name, dataset, kind or a benchmark name, or (3 characters or
   * more) of one of the run's sample questions (electron/services/workbench/run-search.ts).
   */
  search: z.string().optional(),
  status: z.enum(['running', 'finished', 'interrupted', 'failed']).optional(),
  model: z.string().optional(),
  /** ISO dates (inclusive) on created_at. */
  from: z.string().optional(),
  to: z.string().optional(),
});
export type RunQuery = z.infer<typeof RunQuerySchema>;

export const RunRowSchema = z.object({
  id: RunIdSchema,
  kind: z.string().nullable(),
  status: z.string(),
  model: z.string().nullable(),
  created_at: z.string().nullable(),
  total_samples: z.number().int().nonnegative(),
  done: z.number().int().nonnegative(),
  live: z.boolean(),
  error: z.string().nullable(),
  /** When the search matched only a sample question: the first such question, as written. */
  matched_question: z.string().optional(),
});
export type RunRow = z.infer<typeof RunRowSchema>;

export const RunDetailSchema = z.object({
  id: RunIdSchema,
  info: RunInfoSchema,
  done: z.number().int().nonnegative(),
  /** Mean score over scored samples (a micro mean of the per-sample scores), or null. */
  accuracy: z.number().nullable(),
  live: z.boolean(),
  /**
   * A benchmark run's official results (`results.json`, docs/benchmarks-eval.md), as the released evaluation code
   * aggregates them; null until `spatialclaw eval` or `score` has written it.
   */
  results: z
    .object({
      scoring: z.string(),
      benchmarks: z.array(z.object({
        name: z.string(),
        title: z.string(),
        n: z.number().int().nonnegative(),
        overall: z.number().nullable(),
        ci95: z.tuple([z.number(), z.number()]).nullable(),
        /** The paper's SpatialClaw number (0..1), or null. */
        paper: z.number().nullable(),
      })),
      /** The unweighted mean over the paper's benchmarks present, and how many of its 20 that is. */
      mean: z.object({ value: z.number().nullable(), count: z.number().int(), of: z.number().int() }),
    })
    .nullable()
    .optional(),
  /**
   * The batch's last progress snapshot (`progress.json`, written by `spatialclaw run` / `eval` while the run is in
   * flight): stage, kernels ready, samples per phase. Null for runs without one (ask, older runs).
   */
  progress: RunProgressSchema.nullable().optional(),
});
export type RunDetail = z.infer<typeof RunDetailSchema>;

export const SampleQuerySchema = z.object({
  run_id: RunIdSchema,
  offset: z.number().int().nonnegative().default(0),
  limit: z.number().int().positive().max(1000).default(200),
  search: z.string().optional(),
  sort: z.enum(['index', 'score', 'steps', 'duration']).default('index'),
});
export type SampleQuery = z.input<typeof SampleQuerySchema>;

export const SamplePageSchema = z.object({
  /** Samples matching the query (before offset/limit). */
  total: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative(),
  rows: z.array(SampleResultSchema),
});
export type SamplePage = z.infer<typeof SamplePageSchema>;

/** A sample's events: the agent's journal, plus the console cells a human ran on it (origin 'human'). */
export const SampleEventsSchema = z.object({
  events: z.array(RunEventSchema),
  console: z.array(RunEventSchema),
  /** Whether the sample is running now (live events follow on the event stream). */
  live: z.boolean(),
  /**
   * The sample's recorded result (its line of samples.jsonl: ground truth, score, termination, steps, duration,
   * usage), or null while it runs or when the run's samples.jsonl has no line for it. Absent from older hosts.
   */
  result: SampleResultSchema.nullable().optional(),
});
export type SampleEvents = z.infer<typeof SampleEventsSchema>;

/** Message ids of a model call (its model_call event's `request.messages`), to resolve. */
export const RequestMessagesQuerySchema = z
  .object({ run_id: RunIdSchema, sample_id: SampleIdSchema, messages: z.array(z.string().regex(/^[0-9a-f]{16}$/)).min(1).max(100_000) })
  .strict();

/** The messages a model call sent, in the order it sent them; image parts name files for `sampleImage`. */
export const RequestMessagesSchema = z.object({ messages: z.array(RequestMessageSchema) });
export type RequestMessages = z.infer<typeof RequestMessagesSchema>;

// ---------------------------------------------------------------------------------------------------
// Artifacts (3D inspector)

export const ArtifactRefSchema = z.object({ run_id: RunIdSchema, sample_id: SampleIdSchema, artifact_id: ArtifactIdSchema });
export type ArtifactRef = z.infer<typeof ArtifactRefSchema>;


// ---------------------------------------------------------------------------------------------------
// Settings

export const ModelEntrySchema = z.object({
  name: z.string(),
  config: ModelConfigSchema,
  file: z.string(),
  /**
   * A built-in config shipped with the app (`<root>/models/`, the paper's backbones): read-only; a saved config of
   * the same name replaces it (saveModel with `replace: true` only).
   */
  builtin: z.boolean().optional(),
});
export type ModelEntry = z.infer<typeof ModelEntrySchema>;

/** saveModel's arguments: a config saved under an existing name (file stem) replaces it only with `replace: true`. */
export const SaveModelArgsSchema = z.object({
  config: ModelConfigSchema,
  /** Replace a config (or shadow a built-in one) of the same name; without it, a taken name is refused (HTTP 409). */
  replace: z.boolean().optional(),
}).strict();

export const ModelTestSchema = z.object({
  ok: z.boolean(),
  /**
   * Per endpoint: reachable, latency, the model ids its `GET /models` lists (null when it could not say), and the
   * error that says how to fix it (unreachable, or the configured model id is not among those it serves).
   */
  endpoints: z.array(z.object({
    base_url: z.string(),
    ok: z.boolean(),
    latency_ms: z.number().nullable(),
    error: z.string().nullable(),
    served: z.array(z.string()).nullable().optional(),
  })),
});
export type ModelTest = z.infer<typeof ModelTestSchema>;

export const PerceptionEntrySchema = z.object({
  name: z.string(),
  url: z.string(),
  /** 'local': started by this host (stops with it); 'registered': from the registry. */
  origin: z.enum(['local', 'registered']),
  token_env: z.string().nullable(),
  healthy: z.boolean(),
  backends: z.array(z.string()),
  detail: z.string().nullable(),
});
export type PerceptionEntry = z.infer<typeof PerceptionEntrySchema>;

/** A perception backend as a server's `/health` (and `python -m spatial_perception --list-backends --json`) reports it. */
export const PerceptionBackendSchema = z.object({
  name: z.string(),
  /** Whether it can run here; null when unknown (a default of the fallback list that no running server reports). */
  available: z.boolean().nullable(),
  /** Why it is unavailable (a missing package, no GPU, no checkpoint), or null. */
  reason: z.string().nullable(),
  capabilities: z.array(z.string()),
  /** Where it runs ("cpu", "cuda:0"), or "" when unknown. */
  device: z.string(),
});
export type PerceptionBackend = z.infer<typeof PerceptionBackendSchema>;

export const LocalBackendsSchema = z.object({
  /**
   * 'registry': the backend registry of this host's Python environment (`--list-backends`), with
   * availability; 'fallback': that command is unavailable, so the defaults plus what the running servers
   * report (availability unknown for a default no running server has).
   */
  source: z.enum(['registry', 'fallback']),
  /** Why the list is a fallback, or null. */
  note: z.string().nullable(),
  backends: z.array(PerceptionBackendSchema),
  /** The backends checked by default (shared/defaults.ts). */
  defaults: z.array(z.string()),
});
export type LocalBackends = z.infer<typeof LocalBackendsSchema>;

export const SettingsSchema = z.object({
  /** Kernels kept (warm or in use, reused between samples); more start on demand and stop when released. */
  pool_size: z.number().int().min(0).max(32).default(DEFAULTS.poolSize),
  /** Kernel memory limit (RLIMIT_AS), GiB. */
  memory_gib: z.number().positive().max(1024).default(DEFAULTS.memoryGib),
  /** Resident memory (MiB) a pooled kernel may keep after its reset, else it is replaced, not reused; 0 = no bound. */
  kernel_idle_max_mb: z.number().int().min(0).max(1_048_576).default(DEFAULTS.kernelIdleMaxMb),
  /** Per-cell timeout, seconds. */
  cell_timeout_s: z.number().int().positive().max(7200).default(DEFAULTS.cellTimeoutS),
  /** Default step budget for new questions. */
  max_steps: z.number().int().positive().max(DEFAULTS.maxStepsLimit).default(DEFAULTS.maxSteps),
});
export type Settings = z.infer<typeof SettingsSchema>;

// ---------------------------------------------------------------------------------------------------
// Events pushed by the host

export const HostEventSchema = z.discriminatedUnion('type', [
  /** A run event of a live sample (same shape as events.jsonl lines). */
  z.object({ type: z.literal('run_event'), run_id: z.string(), sample_id: z.string(), event: RunEventSchema }),
  /** A live sample ended (result recorded) or failed to start (`error`). */
  z.object({ type: z.literal('sample_done'), run_id: z.string(), sample_id: z.string(), result: SampleResultSchema.nullable(), error: z.string().nullable() }),
  /** Token and time counters of a live sample, at every model call. */
  z.object({ type: z.literal('counters'), run_id: z.string(), sample_id: z.string(), prompt_tokens: z.number(), completion_tokens: z.number(), elapsed_s: z.number() }),
  /** Something long on the host (starting a perception server, a replay kernel) progressed. */
  z.object({ type: z.literal('progress'), task: z.string(), message: z.string(), done: z.boolean() }),
]);
export type HostEvent = z.infer<typeof HostEventSchema>;

// ---------------------------------------------------------------------------------------------------
// The method table

const Binary = 'binary' as const;
type ResultSpec = z.ZodType | typeof Binary;

function method<A extends z.ZodType, R extends ResultSpec>(args: A, result: R, doc: string) {
  return { args, result, doc };
}

const Empty = z.object({}).strict();
const RunRef = z.object({ run_id: RunIdSchema }).strict();
const SampleRef = z.object({ run_id: RunIdSchema, sample_id: SampleIdSchema }).strict();
const Ok = z.object({ ok: z.literal(true) });

/**
 * Every workbench request. `args` is a zod schema (validated on the host), `result` a zod schema
 * (validated by the client) or `'binary'`.
 */
export const METHODS = {
  // Host and doctor
  doctor: method(Empty, DoctorReportSchema, 'Run the installation check (`spatialclaw doctor`).'),
  sandboxStatus: method(
    Empty,
    z.object({
      /** Whether agent kernels started by this host run in the OS sandbox (docs/security.md). */
      sandboxed: z.boolean(),
      /** The warning to show while they are not ('' when sandboxed). */
      warning: z.string(),
    }),
    'Whether agent kernels run in the OS sandbox, and the warning to show at every start when they do not.',
  ),
  // Inputs
  listDir: method(z.object({ path: z.string().nullable() }).strict(), DirListingSchema, 'List a host folder (null: the home folder) for the path picker.'),
  previewInputs: method(z.object({ inputs: z.array(InputSpecSchema).min(1) }).strict(), InputPreviewSchema, 'Frame count, size and the absolute frame indices the inputs bind.'),
  frameImage: method(
    z.object({ input: InputSpecSchema, frame_index: z.number().int().nonnegative(), max_edge: z.number().int().positive().max(4096).default(320) }).strict(),
    Binary,
    'One frame of an input as JPEG bytes, long edge <= max_edge.',
  ),
  // Ask
  ask: method(AskRequestSchema, AskStartedSchema, 'Start answering a question; events follow on the event stream.'),
  stop: method(SampleRef, Ok, 'Stop a live sample (it ends with termination "stopped").'),
  // Runs
  listRuns: method(RunQuerySchema, z.array(RunRowSchema), 'Runs under the runs root, newest first, filtered.'),
  getRun: method(RunRef, RunDetailSchema, 'One run: run.json, finished count, accuracy.'),
  runResults: method(RunRef, RunResultsSchema, "A run's results per benchmark, category and question type (results.json, or live per-sample means), and its chart data."),
  listSamples: method(SampleQuerySchema, SamplePageSchema, 'A page of finished samples (loaded on demand).'),
  triageSamples: method(
    TriageQuerySchema,
    TriagePageSchema,
    'Failure triage: a page of finished samples with what their events and annotations say, filtered and sorted, with facet counts and ranges (shared/triage.ts).',
  ),
  exportRun: method(
    z.object({ run_id: RunIdSchema, format: ExportFormatSchema }).strict(),
    Binary,
    "One row per finished sample (scores, tags, notes, steps, tokens, termination, error) as CSV, Parquet or JSON Lines bytes, as `spatialclaw export` writes (docs/export.md).",
  ),
  sampleEvents: method(SampleRef, SampleEventsSchema, "A sample's events, console cells and, once finished, its result."),
  sampleImage: method(
    z.object({ run_id: RunIdSchema, sample_id: SampleIdSchema, path: z.string().regex(/^images\/[A-Za-z0-9_.-]+\.(png|jpg)$/) }).strict(),
    Binary,
    "A PNG (or a model request's JPEG) from a sample's images/ folder.",
  ),
  requestMessages: method(
    RequestMessagesQuerySchema,
    RequestMessagesSchema,
    "The messages a model call sent, resolved from the ids of its model_call event's `request` (sample's messages.jsonl).",
  ),
  compareRuns: method(
    CompareRequestSchema,
    RunComparisonSchema,
    'Compare 2-6 runs of the same benchmark against the first, sample by sample: flips, McNemar, paired bootstrap CI, per task (shared/compare.ts).',
  ),
  importWorkdir: method(
    ImportRequestSchema,
    ImportReportSchema,
    'Import a SpatialClaw work dir (predictions.jsonl, session-<id>/trace.jsonl, show_images/) as a new run under the runs root (docs/import.md).',
  ),
  // Annotations
  getAnnotations: method(RunRef, RunAnnotationsSchema, "A run's tags and notes, folded from its annotations.jsonl, by sample id."),
  annotate: method(
    AnnotateRequestSchema.extend({ run_id: RunIdSchema }).strict(),
    SampleAnnotationsSchema,
    'Tag or untag a sample or one of its steps, add a note, or delete one; returns the sample\'s annotations after the write.',
  ),
  getTaxonomy: method(Empty, TaxonomySchema, 'The tag taxonomy (<data dir>/taxonomy.json, else the default one).'),
  saveTaxonomy: method(z.object({ taxonomy: TaxonomySchema }).strict(), TaxonomySchema, 'Replace the tag taxonomy; tags already used stay on their samples.'),
  // Kernel console
  consoleCell: method(
    z.object({ run_id: RunIdSchema, sample_id: SampleIdSchema, code: z.string().min(1).max(200_000) }).strict(),
    CellResultSchema,
    "Run a human cell in the sample's kernel (live), or in a fresh kernel restored by replay (past). Recorded as a human step.",
  ),
  // Artifacts
  artifactManifest: method(ArtifactRefSchema.strict(), ArtifactManifestSchema, "An artifact's manifest (array names, shapes, dtypes)."),
  artifactArray: method(ArtifactRefSchema.extend({ name: ArrayNameSchema }).strict(), Binary, 'One array of an artifact as raw .npy bytes.'),
  // Settings: models
  listModels: method(Empty, z.array(ModelEntrySchema), 'Model endpoint configs (keys are never included: configs name env vars).'),
  saveModel: method(SaveModelArgsSchema, ModelEntrySchema, 'Add a model config; one whose name is taken is refused (409) unless `replace: true`.'),
  testModel: method(z.object({ name: z.string().min(1) }).strict(), ModelTestSchema, "Check each of a model's endpoints: reachable, and serving the configured model id."),
  removeModel: method(z.object({ name: z.string().min(1) }).strict(), Ok, 'Delete a model config.'),
  // Settings: perception servers
  listPerception: method(Empty, z.array(PerceptionEntrySchema), 'Perception servers with health.'),
  startLocalPerception: method(
    z.object({ backends: z.array(z.string()).min(1).default(() => [...DEFAULTS.localPerceptionBackends]) }).strict(),
    PerceptionEntrySchema,
    'Start a perception server on this host (stops with the host).',
  ),
  localPerceptionBackends: method(Empty, LocalBackendsSchema, 'The backends a perception server started on this host would offer, with availability (cached).'),
  addPerception: method(
    z.object({ name: z.string().regex(/^[A-Za-z0-9_.-]+$/), url: z.string().url(), token_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/) }).strict(),
    PerceptionEntrySchema,
    'Register a remote perception server (its token is read from the named env var, never stored).',
  ),
  removePerception: method(z.object({ name: z.string().min(1) }).strict(), Ok, 'Unregister (or stop, if local) a perception server.'),
  // Cluster (SLURM)
  clusterStatus: method(
    Empty,
    ClusterStatusSchema,
    "SLURM's state, the user's jobs, every sharded run under the runs root with per-shard progress, and the registered cluster servers with health (shared/cluster.ts, docs/cluster.md).",
  ),
  // Settings: kernels
  getSettings: method(Empty, SettingsSchema, 'Kernel pool size and limits, default step budget.'),
  saveSettings: method(SettingsSchema, SettingsSchema, 'Save settings (applied to kernels started afterwards).'),
} as const;

export type MethodName = keyof typeof METHODS;
export type MethodArgs<M extends MethodName> = z.input<(typeof METHODS)[M]['args']>;
export type MethodParsedArgs<M extends MethodName> = z.output<(typeof METHODS)[M]['args']>;
export type MethodResult<M extends MethodName> = (typeof METHODS)[M]['result'] extends z.ZodType
  ? z.output<(typeof METHODS)[M]['result']>
  : Uint8Array;

export const METHOD_NAMES = Object.keys(METHODS) as MethodName[];

export function isBinaryMethod(name: MethodName): boolean {
  return METHODS[name].result === Binary;
}

/** An error from the host, with what went wrong and how to fix it (HTTP body / IPC rejection). */
export const HostErrorSchema = z.object({ error: z.string(), fix: z.string().nullable().optional(), method: z.string().optional() });
export type HostError = z.infer<typeof HostErrorSchema>;

/** The host side: one async function per method, called with validated args. */
export type WorkbenchHandlers = { [M in MethodName]: (args: MethodParsedArgs<M>) => Promise<MethodResult<M>> };
