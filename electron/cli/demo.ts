/**
 * `spatialclaw demo` (`npm run demo`): the main job on the bundled real RGB-D sample. It checks the
 * installation, then asks "how far did the camera move?" through the same AskService as `spatialclaw ask`
 * and the workbench, with a local perception server ("local"). With a model configured (--model /
 * --base-url, or SPATIALCLAW_MODEL and SPATIALCLAW_BASE_URL) the model answers live; without one, a
 * bundled, clearly labelled demonstration trajectory is played through the same loop, kernel and
 * perception server.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RunEvent } from '../../shared/run.ts';
import { loadTrajectory, TrajectoryModel } from '../services/agent/trajectory.ts';
import { createServices } from '../services/app/index.ts';
import { formatDoctor, runDoctor } from '../services/doctor.ts';
import { samplesDir } from '../services/paths.ts';
import { type ModelFlags, modelFlags, printEvent } from './ask.ts';

export interface DemoOptions extends ModelFlags {
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
  // One question needs one kernel: no warm pool.
  const services = createServices({ ...modelFlags(opts), poolSize: 0 });
  try {
    const cfg = services.models.fromArgs(services.settings.config());
    console.log(cfg ? `\nModel: ${cfg.name} (live)` : `\n${BANNER}\n${trajectory.description}`);
    console.log(`Sample: ${sampleDir}\nQuestion: ${trajectory.question}`);
    const started = await services.asks.start({
      sampleId: 'demo',
      question: trajectory.question,
      answer: trajectory.answer,
      inputs: [{ kind: 'rgbd_sample', path: sampleDir }],
      model: cfg ?? { scripted: new TrajectoryModel(trajectory), record: { trajectory: 'test/fixtures/demo/trajectory.json' } },
      perception: 'local',
      kind: 'demo',
      runIdPrefix: 'demo',
      source: 'cli',
      onEvent: (e: RunEvent) => printEvent(e),
    });
    const { result: r, error } = await started.done;
    if (!r) throw new Error(`the demo could not run: ${error ?? 'unknown error'} (run \`spatialclaw doctor\`; the run is recorded in ${started.dir})`);
    console.log(`\nAnswer: ${JSON.stringify(r.answer)} m (ground truth ${JSON.stringify(trajectory.answer)}; score ${r.score?.toFixed(2) ?? 'n/a'}; ${r.steps} steps, ${r.duration_s.toFixed(1)} s)`);
    console.log(`Run recorded in ${started.dir}`);
    if (!cfg) {
      console.log(`\n${BANNER}`);
      console.log('To run a live model: npm run demo -- --model NAME --base-url http://host:8000/v1 [--api-key-env VAR]');
      console.log('  (any OpenAI-compatible endpoint: vLLM, SGLang, Ollama, OpenAI, Gemini; see docs/models.md)');
    }
    return r.termination === 'answered' ? 0 : 1;
  } finally {
    await services.close();
  }
}
