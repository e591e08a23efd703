/**
 * `spatialclaw eval` end to end on the replica of every benchmark (test/python/replicas/): the real loaders, the
 * real kernel on the replica's media, the local perception server, the scripted model; then results.json at every
 * level, `spatialclaw score` on the run and on a predictions file, and `spatialclaw datasets list|check`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SampleSpec, SampleResultSchema } from '../../shared/run.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';
import { type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';

const PYTHON = join(ROOT, '.venv', 'bin', 'python');

/** A cell that looks at the bound inputs (one `InputImages`, or `InputImages_1..N` for several videos) and answers `answer`. */
const cell = (answer: string): string =>
  'Purpose: answer\nReasoning: the inputs are bound\nNext Goal: answer\nCode:\n```python\n' +
  'try:\n    frames = InputImages\nexcept NameError:\n    frames = InputImages_1\nprint(len(frames), frames[0].size)\n' +
  `ReturnAnswer(${JSON.stringify(answer)})\n\`\`\``;

interface Loaded {
  samples: SampleSpec[];
  benchmarks: { name: string; total: number; selected: number; settings: Record<string, unknown> }[];
}

function load(dataRoot: string, spec: string, extra: string[] = []): Loaded {
  const out = execFileSync(PYTHON, ['-m', 'spatial_eval', 'load', '--benchmark', spec, '--data-root', dataRoot, ...extra], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const r: Loaded = { samples: [], benchmarks: [] };
  for (const line of out.split('\n').filter(Boolean)) {
    const m = JSON.parse(line) as { type: string; spec?: SampleSpec };
    if (m.type === 'sample') r.samples.push(m.spec!);
    if (m.type === 'benchmark') r.benchmarks.push(m as unknown as Loaded['benchmarks'][number]);
  }
  return r;
}

describe('spatialclaw eval on every benchmark replica', () => {
  let dataRoot: string;
  let model: ScriptedModelServer;
  let loaded: Loaded;
  let runDir: string;
  let evalOut: { code: number | null; stdout: string; stderr: string };
  /** Sample id -> what the scripted model answers (the ground truth for every other sample, else a wrong one). */
  const answers = new Map<string, string>();

  beforeAll(async () => {
    dataRoot = mkdtempSync(join(tmpdir(), 'bench-data-'));
    execFileSync(PYTHON, ['-m', 'replicas', dataRoot], { cwd: join(ROOT, 'test', 'python'), stdio: 'pipe' });
    loaded = load(dataRoot, 'all', ['--limit', '2']);
    loaded.samples.forEach((s, i) => {
      const gt = s.answer === undefined ? 'A' : String(s.answer);
      answers.set(s.id, i % 2 === 0 ? gt : 'ZZZ');
    });
    model = await startScriptedModelServer({ script: Object.fromEntries([...answers].map(([id, a]) => [id, [cell(a)]])) });
    runDir = join(mkdtempSync(join(tmpdir(), 'bench-run-')), 'run');
    evalOut = await spatialclaw([
      'eval', '--benchmark', 'all', '--data-root', dataRoot, '--limit', '2', '--model', 'scripted', '--base-url', model.url,
      '--no-plan', '--perception', 'local', '--concurrency', '2', '--out', runDir,
    ], {}, 600_000);
  }, 900_000);
  afterAll(() => model?.close());

  it('runs every benchmark of the paper end to end and prints the table', () => {
    expect(evalOut.code, evalOut.stderr + evalOut.stdout.slice(-3000)).toBe(0);
    expect(loaded.benchmarks.length).toBeGreaterThan(0);
    for (const b of loaded.benchmarks) expect(evalOut.stdout).toMatch(new RegExp(`^${b.name}\\s`, 'm'));
    expect(evalOut.stdout).toMatch(/scoring: official/);
    const results = readFileSync(join(runDir, 'samples.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => SampleResultSchema.parse(JSON.parse(l)));
    expect(results.map((r) => r.id).sort()).toEqual(loaded.samples.map((s) => s.id).sort());
    for (const r of results) {
      // every sample ran in a real kernel on its media and answered what the model returned
      expect(r.error, `${r.id}: ${r.error}`).toBeNull();
      expect(r).toMatchObject({ termination: 'answered', answer: answers.get(r.id), scoring: 'official' });
      expect(r.benchmark).toBeTruthy();
    }
    // A multi-image sample is one InputImages holding all its images, in order (as the paper binds it).
    const multi = loaded.samples.filter((s) => s.inputs.length === 1 && s.inputs[0]!.kind === 'images' && (s.inputs[0]!.files?.length ?? 0) > 1);
    expect(multi.length).toBeGreaterThan(0);
    for (const s of multi) {
      const events = readFileSync(join(runDir, 'samples', s.id, 'events.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; result?: { stdout: string } });
      const stdout = events.find((e) => e.type === 'cell')!.result!.stdout;
      expect(stdout, s.id).toMatch(new RegExp(`^${(s.inputs[0] as { files: string[] }).files.length} \\(`));
    }
  });

  it('sends the model the question, the benchmark instruction and the key frames', () => {
    for (const s of loaded.samples) {
      const reqs = model.requestsFor(s.id);
      expect(reqs.length, s.id).toBeGreaterThan(0);
      const messages = reqs[0]!.body['messages'] as { role: string; content: string | { type: string; text?: string }[] }[];
      const user = messages.filter((m) => m.role === 'user');
      const parts = user.flatMap((m) => (typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content));
      const text = parts.filter((p) => p.type === 'text').map((p) => p.text).join('\n');
      expect(text, s.id).toContain(s.question.trim().slice(0, 40));
      if (s.instruction) expect(text, s.id).toContain(s.instruction);
      for (const c of s.choices ?? []) expect(text, s.id).toContain(c);
      expect(parts.filter((p) => p.type === 'image_url').length, s.id).toBeGreaterThan(0);
    }
  });

  it('applies the benchmark settings: key frames and video frame rate', () => {
    for (const b of loaded.benchmarks) {
      const kf = b.settings['num_key_frames'];
      if (typeof kf !== 'number') continue;
      const s = loaded.samples.find((x) => x.benchmark === b.name)!;
      const recorded = readFileSync(join(runDir, 'samples', s.id, 'events.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; sample?: SampleSpec });
      expect(recorded.find((e) => e.type === 'sample_start')!.sample!.key_frames).toBe(kf);
    }
  });

  it('writes results.json with every level of aggregation, equal to scoring the answers offline', () => {
    const res = JSON.parse(readFileSync(join(runDir, 'results.json'), 'utf8')) as {
      scoring: string;
      benchmarks: Record<string, { n: number; overall: number | null; per_task: Record<string, number>; by_question_type: Record<string, { n: number }>; by_category: Record<string, unknown>; sources: string[]; reference: Record<string, number> }>;
      mean_over_benchmarks: { value: number | null; benchmarks: string[]; of: number };
    };
    expect(res.scoring).toBe('official');
    expect(Object.keys(res.benchmarks).sort()).toEqual(loaded.benchmarks.map((b) => b.name).sort());
    const dir = mkdtempSync(join(tmpdir(), 'preds-'));
    for (const [name, b] of Object.entries(res.benchmarks)) {
      expect(b.n, name).toBe(loaded.samples.filter((s) => s.benchmark === name).length);
      expect(b.sources.length, name).toBeGreaterThan(0);
      for (const src of b.sources) expect(src, name).toMatch(/@[0-9a-f]{12}:/);
      expect(Object.values(b.by_question_type).reduce((a, q) => a + q.n, 0), name).toBe(b.n);
      // the same answers as a predictions file, scored by `spatialclaw score`, give the same numbers
      const preds = loaded.samples.filter((s) => s.benchmark === name).map((s) => JSON.stringify({ id: s.source_id, prediction: answers.get(s.id) }));
      const file = join(dir, `${name}.jsonl`);
      writeFileSync(file, preds.join('\n') + '\n');
      const out = execFileSync(process.execPath, [join(ROOT, 'electron', 'cli', 'spatialclaw.mjs'), 'score', '--benchmark', name, '--data-root', dataRoot, '--predictions', file, '--json'], { encoding: 'utf8' });
      const offline = JSON.parse(out) as { benchmark: string; scoring: string; n: number; per_task: Record<string, number>; overall: number | null };
      expect(offline, name).toMatchObject({ benchmark: name, scoring: 'official', n: b.n });
      if (b.overall === null) expect(offline.overall, name).toBeNull();
      else expect(offline.overall, name).toBeCloseTo(b.overall, 9);
    }
    const overalls = res.mean_over_benchmarks.benchmarks.map((n) => res.benchmarks[n]!.overall!);
    expect(res.mean_over_benchmarks.of).toBe(20);
    if (overalls.length) expect(res.mean_over_benchmarks.value).toBeCloseTo(overalls.reduce((a, b) => a + b, 0) / overalls.length, 12);
  });

  it('re-scores the run under the paper scoring', async () => {
    const r = await spatialclaw(['score', runDir, '--scoring', 'paper']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/scoring: paper/);
    expect(existsSync(join(runDir, 'results.paper.json'))).toBe(true);
  });

  it('records a sample whose video is missing as an error of that sample, and runs the rest', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bench-gap-'));
    execFileSync(PYTHON, ['-m', 'replicas', root, 'vsibench'], { cwd: join(ROOT, 'test', 'python'), stdio: 'pipe' });
    const two = load(root, 'vsibench', ['--limit', '2']).samples;
    const gone = (two[0]!.inputs[0] as { path: string }).path;
    const kept = two.find((s) => (s.inputs[0] as { path: string }).path !== gone);
    rmSync(gone);
    const out = join(mkdtempSync(join(tmpdir(), 'bench-gap-run-')), 'run');
    const answering = await startScriptedModelServer({ default: [cell('A')] });
    const r = await spatialclaw(['eval', '--benchmark', 'vsibench', '--data-root', root, '--limit', '2', '--model', 'scripted', '--base-url', answering.url, '--no-plan', '--out', out], {}, 300_000);
    await answering.close();
    expect(r.code, r.stderr).toBe(0);
    const rows = readFileSync(join(out, 'samples.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => SampleResultSchema.parse(JSON.parse(l)));
    expect(rows).toHaveLength(2);
    const failed = rows.find((x) => x.id === two[0]!.id)!;
    expect(failed).toMatchObject({ termination: 'error', score: 0, scoring: 'official' });
    expect(failed.error).toContain(gone);
    if (kept) expect(rows.find((x) => x.id === kept.id)!.termination).toBe('answered');
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { benchmarks: Record<string, { n: number }> };
    expect(res.benchmarks['vsibench']!.n).toBe(2); // the failed sample counts, as a wrong answer
  });

  it('lists and checks the datasets, and names what is missing with the download command', async () => {
    const list = await spatialclaw(['datasets', 'list', '--data-root', dataRoot, '--json']);
    expect(list.code, list.stderr).toBe(0);
    const rows = (JSON.parse(list.stdout) as { benchmarks: { name: string; state: string; samples?: number }[] }).benchmarks;
    for (const b of loaded.benchmarks) expect(rows.find((r) => r.name === b.name)?.state, b.name).toMatch(/^(partial|complete)$/);
    const empty = mkdtempSync(join(tmpdir(), 'no-data-'));
    const check = await spatialclaw(['datasets', 'check', 'blink', '--data-root', empty]);
    expect(check.code).toBe(2);
    expect(check.stdout).toMatch(/hf download BLINK-Benchmark\/BLINK --repo-type dataset/);
    const bad = await spatialclaw(['eval', '--benchmark', 'nope', '--data-root', dataRoot, '--model', 'scripted', '--base-url', model.url]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown benchmark 'nope'.*known: .*vsibench/);
  });
});
