/**
 * `spatialclaw agent bench` (`npm run bench:agent`), with a zero-latency scripted model (in process):
 * - per-step orchestration overhead, excluding cell compute: step wall time (from one main model
 *   call to the next) minus the cell's own execution time. It covers parsing, the safety check, the
 *   kernel round trip, variable summaries, the observation, the event journal and building the next
 *   request. Target p50 ≤ 25 ms;
 * - batch throughput at concurrency 1, 2, 4 and 8 (samples/s and steps/s).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChatResult } from '../../shared/model.ts';
import { PROFILES } from '../../shared/profiles.ts';
import type { RunEvent, SampleSpec } from '../../shared/run.ts';
import type { ModelLike } from '../services/agent/loop.ts';
import { runBatch } from '../services/agent/runner.ts';
import { KernelRuntime } from '../services/kernel/runtime.ts';
import { samplesDir } from '../services/paths.ts';
import { RunWriter } from '../services/runs/writer.ts';
import { percentile } from './bench-kernel.ts';

const STEP = (i: number): string => `Purpose: step ${i}\nReasoning: r\nNext Goal: g\nCode:\n\`\`\`python\nx${i} = np.arange(${i + 3}).sum()\nprint(x${i})\n\`\`\``;
/** The default profile without key frames: the bench measures the steps, not the first message. */
const NO_KEY_FRAMES = { ...PROFILES.default, key_frames: 0 };
const ANSWER = 'Purpose: answer\nReasoning: r\nNext Goal: g\nCode:\n```python\nReturnAnswer(1.0)\n```';

/** Zero-latency scripted model: per sample, `steps` trivial cells then ReturnAnswer. */
class InstantModel implements ModelLike {
  private readonly calls = new Map<string, number>();
  /** performance.now() at the start of each main call, per sample. */
  readonly mainCalls = new Map<string, number[]>();
  constructor(private readonly steps: number) {}
  async chat(req: { role: string; sampleKey?: string }): Promise<ChatResult> {
    const key = req.sampleKey ?? '';
    if (req.role === 'main') {
      const list = this.mainCalls.get(key) ?? [];
      list.push(performance.now());
      this.mainCalls.set(key, list);
    }
    const n = this.calls.get(key) ?? 0;
    this.calls.set(key, n + 1);
    const raw = req.role !== 'main' ? 'plan' : (this.mainCalls.get(key)!.length <= this.steps ? STEP(this.mainCalls.get(key)!.length) : ANSWER);
    return { content: raw, raw, reasoning: null, usage: { prompt_tokens: 0, completion_tokens: 0 }, endpoint: 'instant', latencyMs: 0, attempts: 1 };
  }
}

function samples(n: number): SampleSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `b${i}`,
    question: 'benchmark',
    inputs: [{ kind: 'images' as const, path: join(samplesDir(), 'tum_rgbd_frame', 'TUM_color.png') }],
  }));
}

export async function benchAgent(o: { samples: number; steps: number }): Promise<string> {
  const lines: string[] = [];
  const log = (s: string): void => void process.stderr.write(`[bench] ${s}\n`);

  // Per-step overhead at concurrency 1.
  log('per-step overhead (concurrency 1) ...');
  {
    const rt = await KernelRuntime.start({ poolSize: 1 });
    const model = new InstantModel(o.steps);
    const cellMs = new Map<string, number[]>();
    const writer = await RunWriter.create(mkdtempSync(join(tmpdir(), 'bench-agent-')), { config: { kind: 'bench' }, versions: {}, total_samples: o.samples });
    try {
      await runBatch(samples(o.samples), {
        runtime: rt, model, writer, perception: null, concurrency: 1,
        options: { plan: false, profile: NO_KEY_FRAMES, maxSteps: o.steps + 2 },
        onEvent: (id: string, e: RunEvent) => {
          if (e.type === 'cell') (cellMs.get(id) ?? cellMs.set(id, []).get(id)!).push(e.result.durationMs);
        },
      });
    } finally {
      await writer.finish('finished');
      await rt.close();
    }
    // The cells are trivial (their compute is microseconds), so a step's wall time is the orchestration
    // overhead: parsing, safety check, kernel round trip, variable summary, observation, journal, next request.
    const step: number[] = [];
    const outside: number[] = [];
    for (const [id, starts] of model.mainCalls) {
      const cells = cellMs.get(id) ?? [];
      for (let i = 1; i < starts.length; i++) {
        step.push(starts[i]! - starts[i - 1]!);
        outside.push(starts[i]! - starts[i - 1]! - (cells[i - 1] ?? 0));
      }
    }
    const row = (name: string, xs: number[], target: string): string =>
      `| ${name} | ${xs.length} | ${percentile(xs, 50).toFixed(1)} | ${percentile(xs, 90).toFixed(1)} | ${target} |`;
    lines.push('| measure | n | p50 | p90 | target |', '|---|---|---|---|---|');
    lines.push(row('per-step orchestration overhead (trivial cell, compute ≈ 0), ms', step, `≤ 25 ms: ${percentile(step, 50) <= 25 ? 'met' : 'MISSED'}`));
    lines.push(row('  of which outside KernelSession.execute (parse, observation, journal, request), ms', outside, ''));
  }

  // Throughput.
  lines.push('', '| concurrency | samples | steps/sample | wall s | samples/s | steps/s |', '|---|---|---|---|---|---|');
  for (const c of [1, 2, 4, 8]) {
    log(`throughput at concurrency ${c} ...`);
    const rt = await KernelRuntime.start({ poolSize: c });
    await rt.pool?.fill();
    const writer = await RunWriter.create(mkdtempSync(join(tmpdir(), 'bench-agent-')), { config: { kind: 'bench' }, versions: {}, total_samples: o.samples });
    const t0 = performance.now();
    try {
      await runBatch(samples(o.samples), {
        runtime: rt, model: new InstantModel(o.steps), writer, perception: null, concurrency: c,
        options: { plan: false, profile: NO_KEY_FRAMES, maxSteps: o.steps + 2 },
      });
    } finally {
      await writer.finish('finished');
      await rt.close();
    }
    const s = (performance.now() - t0) / 1000;
    const steps = o.samples * (o.steps + 1);
    lines.push(`| ${c} | ${o.samples} | ${o.steps + 1} | ${s.toFixed(1)} | ${(o.samples / s).toFixed(2)} | ${(steps / s).toFixed(1)} |`);
  }
  return `${new Date().toISOString().slice(0, 10)}, Node ${process.version}\n\n${lines.join('\n')}`;
}
