/**
 * `spatialclaw run`: a batch of questions from a JSONL dataset, with progress, accuracy and --resume,
 * recorded as one run folder (docs/run-format.md). Model, perception server and kernels come from the same
 * services as `spatialclaw ask` and the workbench (electron/services/app/), configured by the same
 * resolved config (flags > environment > settings.json > defaults).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { ProfileName } from '../../shared/profiles.ts';
import { type SampleResult, type SampleSpec, SampleSpecSchema } from '../../shared/run.ts';
import { agentOptions, agentRecord } from '../services/agent/options.ts';
import { loadApiDoc, modelSecretValues, runBatch, runVersions, type SampleContext } from '../services/agent/runner.ts';
import { createServices } from '../services/app/index.ts';
import type { ConfigFlags, Executor } from '../services/config/resolve.ts';
import { SettingsService } from '../services/config/settings.ts';
import { ModelClient } from '../services/model/client.ts';
import { redactConfig } from '../services/model/config.ts';
import { newRunId } from '../services/runs/layout.ts';
import { readRun } from '../services/runs/reader.ts';
import { assertNoSecrets } from '../services/runs/secrets.ts';
import { RunWriter } from '../services/runs/writer.ts';
import { summarize } from '../services/runs/scoring.ts';
import { type ModelFlags, modelFlags, requireModel } from './ask.ts';

const DatasetRowSchema = z.object({
  id: z.union([z.string(), z.number()]).transform(String),
  inputs: z.array(z.unknown()).min(1),
  question: z.string(),
  choices: z.array(z.string()).optional(),
  answer: z.union([z.string(), z.number()]).optional(),
  question_type: z.string().optional(),
});

const issuesOf = (e: z.ZodError): string => e.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ');

/**
 * Read a JSONL dataset: one {id, inputs, question, choices?, answer?, question_type?} per line. Relative
 * input paths are resolved against the file's folder.
 * @throws Error naming the file and line of the first bad row, or a duplicate id.
 */
export function readDataset(file: string): SampleSpec[] {
  const path = resolve(file);
  if (!existsSync(path)) throw new Error(`dataset ${path} does not exist`);
  const base = resolve(path, '..');
  const out: SampleSpec[] = [];
  const seen = new Set<string>();
  readFileSync(path, 'utf8').split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw new Error(`${path}:${i + 1}: not valid JSON`);
    }
    const parsed = DatasetRowSchema.safeParse(row);
    if (!parsed.success) throw new Error(`${path}:${i + 1}: ${issuesOf(parsed.error)}`);
    const inputs = parsed.data.inputs.map((inp) => {
      const v = inp as Record<string, unknown>;
      const abs = (p: unknown): unknown => (typeof p === 'string' ? resolve(base, p) : p);
      return { ...v, path: abs(v['path']), ...(v['depth'] ? { depth: abs(v['depth']) } : {}), ...(v['camera'] ? { camera: abs(v['camera']) } : {}), ...(v['poses'] ? { poses: abs(v['poses']) } : {}) };
    });
    const spec = SampleSpecSchema.safeParse({ ...parsed.data, inputs });
    if (!spec.success) throw new Error(`${path}:${i + 1}: ${issuesOf(spec.error)}`);
    if (seen.has(spec.data.id)) throw new Error(`${path}:${i + 1}: duplicate sample id ${spec.data.id}`);
    seen.add(spec.data.id);
    out.push(spec.data);
  });
  if (out.length === 0) throw new Error(`${path} has no samples`);
  return out;
}

export interface RunOptions extends ModelFlags {
  dataset: string;
  concurrency?: number;
  limit?: number;
  resume?: boolean;
  out?: string;
  perception?: string;
  profile?: ProfileName;
  executor?: Executor;
  maxSteps?: number;
  /** false with `--no-plan`. */
  plan?: boolean;
  /** `--no-artifacts`: do not copy perception artifacts into the run folder. */
  artifacts?: boolean;
}

/** Run the dataset; returns the exit code. */
export async function runDataset(o: RunOptions): Promise<number> {
  return executeRun(o, {
    describe: () => ({ kind: 'run', dataset: resolve(o.dataset) }),
    samples: async () => readDataset(o.dataset),
    summary: async (dir) => `\n${JSON.stringify(summarize(readRun(dir).samples), null, 2)}`,
  });
}

/** What a batch command adds to the shared run: its samples, its run.json fields, its scorer and its end summary. */
export interface RunPlan {
  /** Fields of run.json's `config` that say what was run (kind, dataset or benchmarks). */
  describe: () => Record<string, unknown>;
  /** The samples, in order; read before anything starts (errors name the file or benchmark). */
  samples: () => Promise<SampleSpec[]>;
  /** The benchmark scorer (eval), started before the first sample and closed at the end. */
  scorer?: (() => Promise<SampleContext['scorer'] & { close: () => Promise<void> }>) | undefined;
  /** What to print once the run is recorded. */
  summary: (dir: string) => Promise<string>;
}

/**
 * Run samples as one run folder with the services of the resolved config: progress per sample, --limit, --resume.
 * Shared by `spatialclaw run` (a JSONL dataset) and `spatialclaw eval` (benchmarks). Returns the exit code.
 */
export async function executeRun(o: RunOptions | Omit<RunOptions, 'dataset'>, plan: RunPlan): Promise<number> {
  const flags: ConfigFlags = {
    ...modelFlags(o), perception: o.perception, profile: o.profile, executor: o.executor, maxSteps: o.maxSteps, plan: o.plan === false ? false : undefined, concurrency: o.concurrency,
  };
  // One kernel per sample in flight, started in the background and reused between samples (reset in place; a
  // sample that changed the interpreter gets a fresh one). settings.json's pool_size is the workbench's.
  const concurrency = new SettingsService(flags).config().concurrency;
  const services = createServices({ ...flags, poolSize: concurrency });
  let scorer: Awaited<ReturnType<NonNullable<RunPlan['scorer']>>> | undefined;
  try {
    const config = services.settings.config();
    const cfg = requireModel(services, config);
    let samples = await plan.samples();
    if (o.limit) samples = samples.slice(0, o.limit);
    if (o.resume && !o.out) throw new Error('--resume needs --out DIR (the run folder to continue)');
    const dir = resolve(o.out ?? join(config.runsRoot, newRunId()));
    const options = agentOptions({ profile: config.profile, executor: config.executor, maxSteps: config.maxSteps, plan: config.plan, cellTimeoutS: config.cellTimeoutS, model: cfg });
    // The system prompt's tool reference builds while the kernels start (one Python process for the whole run).
    loadApiDoc(options.profile.kernel.name).catch(() => undefined);
    const runConfig = {
      ...plan.describe(), model: redactConfig(cfg), executor: config.executor, max_steps: config.maxSteps,
      profile: options.profile.name, agent: agentRecord(options), concurrency,
    };
    assertNoSecrets(runConfig, modelSecretValues(cfg));
    const writer = o.resume && existsSync(join(dir, 'run.json'))
      ? await RunWriter.resume(dir)
      : await RunWriter.create(dir, { config: runConfig, versions: runVersions(), total_samples: samples.length });
    const already = samples.filter((s) => writer.doneIds.has(s.id)).length;
    if (already) console.log(`resuming ${dir}: ${already} of ${samples.length} samples already done`);
    const t0 = Date.now();
    let status: 'finished' | 'failed' = 'finished';
    try {
      scorer = plan.scorer ? await plan.scorer() : undefined;
      const perception = await services.perception.resolve(config.perception);
      await runBatch(samples, {
        runtime: await services.kernels.runtime(),
        model: new ModelClient(cfg),
        writer,
        perception,
        concurrency,
        ...(o.artifacts === false ? { keepArtifacts: false } : {}),
        ...(scorer ? { scorer } : {}),
        options,
        onDone: (r: SampleResult, done: number, total: number) => {
          const pct = Math.round((done / total) * 100);
          const bar = '#'.repeat(Math.round(pct / 5)).padEnd(20, '.');
          console.log(`[${bar}] ${done}/${total} ${r.id}: ${JSON.stringify(r.answer)}${r.score !== null ? ` score ${r.score.toFixed(2)}` : ''} (${r.termination}, ${r.steps} steps, ${r.duration_s.toFixed(1)} s)${r.error ? ` error: ${r.error}` : ''}`);
        },
      });
    } catch (e) {
      status = 'failed';
      throw e;
    } finally {
      await writer.finish(status);
    }
    console.log(await plan.summary(dir));
    console.log(`run recorded in ${dir} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    return 0;
  } finally {
    await scorer?.close();
    await services.close();
  }
}
