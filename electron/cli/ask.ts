/**
 * `spatialclaw ask` (one question, steps shown live) and `spatialclaw run` (a batch from a JSONL
 * dataset, with progress, accuracy and --resume). Both record a run folder (docs/run-format.md).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { ModelConfig } from '../../shared/model.ts';
import { type RunEvent, type SampleResult, type SampleSpec, SampleSpecSchema } from '../../shared/run.ts';
import type { AgentOptions } from '../services/agent/loop.ts';
import type { Executor } from '../services/agent/prompt.ts';
import { askRunConfig, modelAgentOptions, modelSecretValues, runBatch, runOne, runVersions } from '../services/agent/runner.ts';
import { KernelRuntime, inputSpecsFromArgs } from '../services/kernel/runtime.ts';
import { ModelClient } from '../services/model/client.ts';
import { modelConfigFromFlags, redactConfig, resolveModelConfig } from '../services/model/config.ts';
import { dataDir } from '../services/paths.ts';
import { connectRegistered, loadRegistry } from '../services/perception/registry.ts';
import { PerceptionServer } from '../services/perception/server.ts';
import { assertNoSecrets, RunWriter } from '../services/runs/store.ts';
import { summarize } from '../services/runs/scoring.ts';

export interface ModelArgs {
  model?: string;
  baseUrl?: string;
  apiKeyEnv?: string;
}

/** The model config from `--model CONFIG|NAME [--base-url URL]`, or SPATIALCLAW_MODEL / SPATIALCLAW_BASE_URL. */
export function modelConfigFrom(a: ModelArgs): ModelConfig | null {
  const model = a.model ?? process.env.SPATIALCLAW_MODEL;
  const baseUrl = a.baseUrl ?? process.env.SPATIALCLAW_BASE_URL;
  if (!model) return null;
  if (baseUrl) return modelConfigFromFlags({ model, baseUrl, ...(a.apiKeyEnv ? { apiKeyEnv: a.apiKeyEnv } : {}) });
  return resolveModelConfig(model);
}

async function perceptionFrom(target: string | undefined): Promise<PerceptionServer | null> {
  if (!target) return null;
  if (target === 'local') return PerceptionServer.startLocal({ backends: ['rgbd', 'classical'] });
  const entry = loadRegistry().find((e) => e.name === target);
  if (entry) return connectRegistered(entry);
  const token = process.env.SPATIAL_PERCEPTION_TOKEN;
  if (!token) throw new Error('--perception URL needs SPATIAL_PERCEPTION_TOKEN');
  return PerceptionServer.connect(target, token);
}

function newRunDir(out: string | undefined): string {
  return resolve(out ?? join(dataDir(), 'runs', `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(2).toString('hex')}`));
}

/** Live, compact rendering of one sample's events. */
export function printEvent(e: RunEvent, out: (s: string) => void = (s) => process.stdout.write(s)): void {
  switch (e.type) {
    case 'plan':
      if (e.text) out(`\nPlan:\n${e.text.trim()}\n`);
      else if (e.error) out(`\n(plan skipped: ${e.error})\n`);
      break;
    case 'model_call':
      if (e.role === 'main') {
        if (e.parse_error) out(`\n[step ${e.step}] could not parse the model's reply: ${e.parse_error}\n`);
        else if (e.parsed) out(`\n[step ${e.step}] ${e.parsed['purpose'] || '(no purpose)'}\n${indent(e.parsed['code'] ?? '')}\n`);
      }
      break;
    case 'observation':
      out(`${indent(e.text.split('\n').slice(0, 12).join('\n'), '  > ')}\n`);
      break;
    case 'answer':
      out(`\nAnswer (${e.source}): ${JSON.stringify(e.answer)}\n`);
      break;
    case 'termination':
      if (e.reason !== 'answered') out(`\nStopped: ${e.reason}${e.detail ? ` (${e.detail})` : ''}\n`);
      break;
    default:
      break;
  }
}

const indent = (s: string, p = '    '): string => s.split('\n').map((l) => p + l).join('\n');

export interface AskOptions extends ModelArgs {
  input: string[];
  depth?: string;
  camera?: string;
  poses?: string;
  question: string;
  choices?: string[];
  answer?: string;
  perception?: string;
  executor: Executor;
  maxSteps: number;
  out?: string;
  json?: boolean;
  plan?: boolean;
  frames?: number;
}

export async function ask(o: AskOptions): Promise<number> {
  const cfg = modelConfigFrom(o);
  if (!cfg) throw new Error('no model: pass --model CONFIG|NAME (and --base-url URL for an ad-hoc endpoint), or set SPATIALCLAW_MODEL');
  const sample: SampleSpec = SampleSpecSchema.parse({
    id: 'q1',
    question: o.question,
    ...(o.choices?.length ? { choices: o.choices } : {}),
    ...(o.answer !== undefined ? { answer: o.answer } : {}),
    inputs: inputSpecsFromArgs({ input: o.input, depth: o.depth, camera: o.camera, poses: o.poses, frames: o.frames }),
  });
  const dir = newRunDir(o.out);
  const perception = await perceptionFrom(o.perception);
  const runtime = await KernelRuntime.start();
  const askConfig = askRunConfig(cfg, { executor: o.executor, maxSteps: o.maxSteps, perception: perception?.url ?? null });
  const writer = await RunWriter.create(dir, {
    config: askConfig,
    versions: runVersions(),
    total_samples: 1,
  });
  const model = new ModelClient(cfg);
  const options: Partial<AgentOptions> = {
    executor: o.executor, maxSteps: o.maxSteps, plan: o.plan !== false, ...modelAgentOptions(cfg),
  };
  try {
    const r = await runOne(sample, {
      runtime, model, writer, perception, options,
      ...(o.json ? {} : { onEvent: (_id: string, e: RunEvent) => printEvent(e) }),
    });
    await writer.finish('finished');
    if (o.json) console.log(JSON.stringify({ ...r, run_dir: dir }));
    else {
      console.log(`\nFinal answer: ${JSON.stringify(r.answer)} (${r.answer_source}; ${r.steps} steps, ${r.duration_s.toFixed(1)} s, ` +
        `${r.usage.prompt_tokens + r.usage.completion_tokens} tokens)${r.score !== null ? `; score ${r.score.toFixed(2)}` : ''}`);
      console.log(`Run recorded in ${dir}`);
    }
    return r.termination === 'error' ? 1 : 0;
  } finally {
    await runtime.close();
    await perception?.stop();
  }
}

const DatasetRowSchema = z.object({
  id: z.union([z.string(), z.number()]).transform(String),
  inputs: z.array(z.unknown()).min(1),
  question: z.string(),
  choices: z.array(z.string()).optional(),
  answer: z.union([z.string(), z.number()]).optional(),
  question_type: z.string().optional(),
});

/** Read a JSONL dataset: one {id, inputs, question, choices?, answer?, question_type?} per line. Relative input paths are resolved against the file's folder. */
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
    if (!parsed.success) throw new Error(`${path}:${i + 1}: ${parsed.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
    const inputs = parsed.data.inputs.map((inp) => {
      const v = inp as Record<string, unknown>;
      const abs = (p: unknown): unknown => (typeof p === 'string' ? resolve(base, p) : p);
      return { ...v, path: abs(v['path']), ...(v['depth'] ? { depth: abs(v['depth']) } : {}), ...(v['camera'] ? { camera: abs(v['camera']) } : {}), ...(v['poses'] ? { poses: abs(v['poses']) } : {}) };
    });
    const spec = SampleSpecSchema.safeParse({ ...parsed.data, inputs });
    if (!spec.success) throw new Error(`${path}:${i + 1}: ${spec.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
    if (seen.has(spec.data.id)) throw new Error(`${path}:${i + 1}: duplicate sample id ${spec.data.id}`);
    seen.add(spec.data.id);
    out.push(spec.data);
  });
  if (out.length === 0) throw new Error(`${path} has no samples`);
  return out;
}

export interface RunOptions extends ModelArgs {
  dataset: string;
  concurrency: number;
  limit?: number;
  resume?: boolean;
  out?: string;
  perception?: string;
  executor: Executor;
  maxSteps: number;
  /** `--no-artifacts`: do not copy perception artifacts into the run folder. */
  artifacts?: boolean;
}

export async function runDataset(o: RunOptions): Promise<number> {
  const cfg = modelConfigFrom(o);
  if (!cfg) throw new Error('no model: pass --model CONFIG|NAME (and --base-url URL), or set SPATIALCLAW_MODEL');
  let samples = readDataset(o.dataset);
  if (o.limit) samples = samples.slice(0, o.limit);
  if (o.resume && !o.out) throw new Error('--resume needs --out DIR (the run folder to continue)');
  const dir = newRunDir(o.out);
  const runConfig = { kind: 'run', dataset: resolve(o.dataset), model: redactConfig(cfg), executor: o.executor, max_steps: o.maxSteps, concurrency: o.concurrency };
  assertNoSecrets(runConfig, modelSecretValues(cfg));
  const writer = o.resume && existsSync(join(dir, 'run.json'))
    ? await RunWriter.resume(dir)
    : await RunWriter.create(dir, {
        config: runConfig,
        versions: runVersions(),
        total_samples: samples.length,
      });
  const already = samples.filter((s) => writer.doneIds.has(s.id)).length;
  if (already) console.log(`resuming ${dir}: ${already} of ${samples.length} samples already done`);
  const perception = await perceptionFrom(o.perception);
  const runtime = await KernelRuntime.start({ poolSize: Math.min(o.concurrency, 8) });
  const model = new ModelClient(cfg);
  const t0 = Date.now();
  let status: 'finished' | 'interrupted' | 'failed' = 'finished';
  try {
    await runBatch(samples, {
      runtime, model, writer, perception, concurrency: o.concurrency,
      ...(o.artifacts === false ? { keepArtifacts: false } : {}),
      options: { executor: o.executor, maxSteps: o.maxSteps, ...modelAgentOptions(cfg) },
      onDone: (r: SampleResult, done: number, total: number) => {
        const pct = Math.round((done / total) * 100);
        const bar = '#'.repeat(Math.round(pct / 5)).padEnd(20, '.');
        console.log(`[${bar}] ${done}/${total} ${r.id}: ${JSON.stringify(r.answer)}${r.score !== null ? ` score ${r.score.toFixed(2)}` : ''} (${r.termination}, ${r.steps} steps, ${r.duration_s.toFixed(1)} s)`);
      },
    });
  } catch (e) {
    status = 'failed';
    throw e;
  } finally {
    await writer.finish(status);
    await runtime.close();
    await perception?.stop();
  }
  const s = summarize((await import('../services/runs/store.ts')).readRun(dir).samples);
  console.log(`\n${JSON.stringify(s, null, 2)}`);
  console.log(`run recorded in ${dir} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  return 0;
}
