/**
 * `spatialclaw ask`: one question, its steps shown live, recorded as a run folder (docs/run-format.md).
 * It composes the same services as the workbench (electron/services/app/): the question goes through
 * AskService, so the run id scheme, the run.json config keys, the perception target rule and the
 * resolved config (flags > environment > settings.json > defaults) are the workbench's.
 */
import type { RunEvent } from '../../shared/run.ts';
import { createServices, type Services } from '../services/app/index.ts';
import type { ConfigFlags, Executor, ResolvedConfig } from '../services/config/resolve.ts';
import { inputSpecsFromArgs } from '../services/kernel/runtime.ts';
import type { ModelConfig } from '../../shared/model.ts';
import type { ProfileName } from '../../shared/profiles.ts';
import { terminalSafe } from './terminal.ts';

/** The model options every command takes: `--model CONFIG|NAME [--base-url URL] [--api-key-env VAR]`. */
export interface ModelFlags {
  model?: string;
  baseUrl?: string;
  apiKeyEnv?: string;
  /** `--max-retries N`: retries per model call over the config's `max_retries` (a call sends at most 1 + N requests). */
  maxRetries?: number;
}

/** The config flags of the model options (undefined ones fall through to the environment). */
export function modelFlags(o: ModelFlags): ConfigFlags {
  return { model: o.model, baseUrl: o.baseUrl, apiKeyEnv: o.apiKeyEnv };
}

/**
 * The model the resolved config names (`--model`/`SPATIALCLAW_MODEL`, `--base-url`/`SPATIALCLAW_BASE_URL`).
 * @throws Error saying which flags or variables to set when none is named; ModelConfigError for a bad one.
 */
export function requireModel(services: Pick<Services, 'models'>, config: ResolvedConfig, flags: Pick<ModelFlags, 'maxRetries'> = {}): ModelConfig {
  const cfg = services.models.fromArgs(config);
  if (!cfg) throw new Error('no model: pass --model CONFIG|NAME (and --base-url URL for an ad-hoc endpoint), or set SPATIALCLAW_MODEL (and SPATIALCLAW_BASE_URL)');
  return flags.maxRetries === undefined ? cfg : { ...cfg, max_retries: flags.maxRetries };
}

/**
 * Live, compact rendering of one sample's events. The model's text and the cells' output in them are passed
 * through {@link terminalSafe} first: their escape codes are shown, not obeyed.
 */
export function printEvent(e: RunEvent, write: (s: string) => void = (s) => process.stdout.write(s)): void {
  const out = (s: string): void => write(terminalSafe(s));
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
    case 'model_attempt':
      out(`\n(${e.role} model request ${e.attempt} failed after ${(e.duration_ms / 1000).toFixed(1)} s: ${e.error}${e.will_retry ? '; retrying' : ''})\n`);
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

export interface AskOptions extends ModelFlags {
  input: string[];
  depth?: string;
  camera?: string;
  poses?: string;
  question: string;
  choices?: string[];
  answer?: string;
  perception?: string;
  profile?: ProfileName;
  executor?: Executor;
  maxSteps?: number;
  /** `--cell-timeout`: per-cell timeout, seconds (default: the resolved config's `cellTimeoutS`). */
  cellTimeout?: number;
  /** `--sample-timeout`: wall-clock budget of the question, seconds (default: settings.json `sample_timeout_s`, else none). */
  sampleTimeout?: number;
  out?: string;
  json?: boolean;
  /** false with `--no-plan`. */
  plan?: boolean;
  frames?: number;
}

/** Ask one question; returns the exit code (1 when the sample ended in an error). */
export async function ask(o: AskOptions): Promise<number> {
  // One question needs one kernel: no warm pool (settings.json's pool_size is the workbench's).
  const services = createServices({
    ...modelFlags(o),
    perception: o.perception,
    profile: o.profile,
    executor: o.executor,
    maxSteps: o.maxSteps,
    cellTimeoutS: o.cellTimeout,
    sampleTimeoutS: o.sampleTimeout,
    plan: o.plan === false ? false : undefined,
    poolSize: 0,
  });
  const t0 = Date.now();
  try {
    const config = services.settings.config();
    const model = requireModel(services, config, o);
    const started = await services.asks.start({
      question: o.question,
      choices: o.choices,
      answer: o.answer,
      inputs: inputSpecsFromArgs({ input: o.input, depth: o.depth, camera: o.camera, poses: o.poses, frames: o.frames }),
      model,
      perception: config.perception,
      dir: o.out,
      source: 'cli',
      ...(o.json ? {} : {
        onEvent: (e: RunEvent) => printEvent(e),
        // Where the question is until its first step: the Jupyter server, the kernel, the inputs, the model.
        onPhase: (m: string) => console.log(terminalSafe(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${m}`)),
      }),
    });
    const { result: r, error } = await started.done;
    if (!r) throw new Error(`the question could not be answered: ${error ?? 'unknown error'} (the run is recorded in ${started.dir})`);
    if (o.json) console.log(JSON.stringify({ ...r, run_dir: started.dir }));
    else {
      console.log(`\nFinal answer: ${terminalSafe(JSON.stringify(r.answer))} (${r.answer_source}; ${r.steps} steps, ${r.duration_s.toFixed(1)} s, ` +
        `${r.usage.prompt_tokens + r.usage.completion_tokens} tokens)${r.score !== null ? `; score ${r.score.toFixed(2)}` : ''}`);
      console.log(`Run recorded in ${started.dir}`);
    }
    return r.termination === 'error' ? 1 : 0;
  } finally {
    await services.close();
  }
}
