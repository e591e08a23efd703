/**
 * `spatialclaw demo` (`npm run demo`): the main job on the bundled real RGB-D sample. It checks the
 * installation, starts a local perception server and an agent kernel, and asks "how far did the
 * camera move?". With a model configured (--model / --base-url, or SPATIALCLAW_MODEL and
 * SPATIALCLAW_BASE_URL) the model answers live; without one, a bundled, clearly labelled
 * demonstration trajectory is played through the same loop, kernel and perception server.
 */
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import type { RunEvent } from '../../shared/run.ts';
import { type ModelLike } from '../services/agent/loop.ts';
import { runOne } from '../services/agent/runner.ts';
import { loadTrajectory, TrajectoryModel } from '../services/agent/trajectory.ts';
import { formatDoctor, runDoctor } from '../services/doctor.ts';
import { KernelRuntime } from '../services/kernel/runtime.ts';
import { ModelClient } from '../services/model/client.ts';
import { redactConfig } from '../services/model/config.ts';
import { dataDir, samplesDir } from '../services/paths.ts';
import { PerceptionServer } from '../services/perception/server.ts';
import { RunWriter } from '../services/runs/store.ts';
import { modelConfigFrom, type ModelArgs, printEvent } from './ask.ts';

export interface DemoOptions extends ModelArgs {
  sampleDir?: string | undefined;
}

const BANNER = '=== DEMONSTRATION TRAJECTORY: scripted replies, not a live model ===';

/** Run the demo; returns the process exit code. */
export async function runDemo(opts: DemoOptions = {}): Promise<number> {
  const report = await runDoctor();
  console.log(formatDoctor(report));
  if (!report.ok) return 1;

  const sampleDir = resolve(opts.sampleDir ?? join(samplesDir(), 'rgbd_room'));
  if (!existsSync(join(sampleDir, 'sample.json'))) {
    console.error(`demo: ${sampleDir} has no sample.json; pass --sample with an RGB-D sample folder (docs/data-formats.md)`);
    return 1;
  }
  const trajectory = loadTrajectory(join(samplesDir(), 'demo', 'trajectory.json'));
  const cfg = modelConfigFrom(opts);
  const model: ModelLike = cfg ? new ModelClient(cfg) : new TrajectoryModel(trajectory);
  console.log(cfg ? `\nModel: ${cfg.name} (live)` : `\n${BANNER}\n${trajectory.description}`);
  console.log(`Sample: ${sampleDir}\nQuestion: ${trajectory.question}`);

  const perception = await PerceptionServer.startLocal({ backends: ['rgbd', 'classical'] });
  const runtime = await KernelRuntime.start();
  const dir = join(dataDir(), 'runs', `demo-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const writer = await RunWriter.create(dir, {
    config: { kind: 'demo', model: cfg ? redactConfig(cfg) : { trajectory: 'test/fixtures/demo/trajectory.json' } },
    versions: { spatialclaw: '0.1.0', node: process.version },
    total_samples: 1,
  });
  try {
    const r = await runOne(
      { id: 'demo', question: trajectory.question, inputs: [{ kind: 'rgbd_sample', path: sampleDir }], ...(trajectory.answer !== undefined ? { answer: trajectory.answer } : {}) },
      {
        runtime, model, writer, perception,
        ...(cfg ? { options: { imagesPerRequest: cfg.images.per_request, maxLongEdge: cfg.images.max_long_edge } } : {}),
        onEvent: (_id: string, e: RunEvent) => printEvent(e),
      },
    );
    await writer.finish('finished');
    console.log(`\nAnswer: ${JSON.stringify(r.answer)} m (ground truth ${JSON.stringify(trajectory.answer)}; score ${r.score?.toFixed(2) ?? 'n/a'}; ${r.steps} steps, ${r.duration_s.toFixed(1)} s)`);
    console.log(`Run recorded in ${dir}`);
    if (!cfg) {
      console.log(`\n${BANNER}`);
      console.log('To run a live model: npm run demo -- --model NAME --base-url http://host:8000/v1 [--api-key-env VAR]');
      console.log('  (any OpenAI-compatible endpoint: vLLM, SGLang, Ollama, OpenAI, Gemini; see docs/models.md)');
    }
    return r.termination === 'answered' ? 0 : 1;
  } finally {
    await runtime.close();
    await perception.stop();
  }
}
