/**
 * Annotations on real run folders written by RunWriter: four processes appending to one journal at once, a process
 * SIGKILLed while appending, the `spatialclaw tag` CLI, and the checks of AnnotationsService through the workbench host.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkbenchError } from '../../shared/api.ts';
import { AnnotationEntrySchema, DEFAULT_TAXONOMY, foldAnnotations, type RunAnnotations, type SampleAnnotations, type Taxonomy } from '../../shared/annotations.ts';
import { METHODS } from '../../shared/workbench.ts';
import { createServices } from '../../electron/services/app/index.ts';
import { appendAnnotation, newAnnotationId, readAnnotationEntries } from '../../electron/services/runs/annotations.ts';
import type { RunWriter } from '../../electron/services/runs/writer.ts';
import { WorkbenchHost } from '../../electron/services/workbench/host.ts';
import { entryId, writerEntries } from '../helpers/annotate-child.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';
import { openRun, sampleEvents, sampleResult, sampleSpec, writeSamples } from '../helpers/run-writer-child.ts';

const CHILD = join(ROOT, 'test', 'helpers', 'annotate-child.ts');
const SEG = 'perception.segmentation_miss';
const PLAN = 'reasoning.wrong_plan';

/**
 * A run with finished samples s000–s002 (1 step each) and s003 (3 steps, from its result), and, while `live` is
 * open, s004 still running with events up to step 2 and no result yet.
 */
async function writeRun(dir: string, withLive: boolean): Promise<RunWriter | null> {
  const w = await openRun(dir, 5);
  await writeSamples(w, [0, 1, 2]);
  const s3 = w.startSample(sampleSpec(3));
  for (const e of sampleEvents(3)) s3.event(e);
  await s3.finish({ ...sampleResult(3), steps: 3 });
  if (!withLive) {
    await w.finish('finished');
    return null;
  }
  const s4 = w.startSample(sampleSpec(4));
  const events = sampleEvents(4);
  for (const e of events.slice(0, 5)) s4.event(e); // sample_start … step 1's observation
  s4.event({ ...events[2]!, step: 2 } as (typeof events)[number]); // step 2's model call
  return w;
}

/** Start a child; resolves when it printed READY. */
function startChild(args: string[]): Promise<{ child: ChildProcess; out: () => string; closed: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((res) => child.on('close', (code, signal) => res({ code, signal, stderr })));
  return new Promise((res, rej) => {
    child.on('error', rej);
    child.stdout!.on('data', (d: Buffer) => {
      const before = stdout;
      stdout += d.toString();
      if (!before.includes('READY\n') && stdout.includes('READY\n')) res({ child, out: () => stdout, closed });
    });
    void closed.then((c) => rej(new Error(`annotate-child exited before READY (${c.code ?? c.signal}): ${c.stderr}`)));
  });
}

/** Tags and notes in a form that does not depend on how concurrent appends interleaved. */
function normal(a: RunAnnotations): Record<string, { tags: string[]; notes: string[] }> {
  return Object.fromEntries(
    Object.entries(a.samples)
      .sort(([x], [y]) => x.localeCompare(y))
      .map(([id, s]) => [id, { tags: s.tags.map((t) => JSON.stringify([t.step, t.tag, t.author, t.t])).sort(), notes: s.notes.map((n) => JSON.stringify(n)).sort() }]),
  );
}

describe('the journal under concurrent writers and crashes', () => {
  it('keeps every line whole when four processes append 250 entries each at once', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sc-annot-conc-')), 'run');
    await writeRun(dir, false);
    const children = await Promise.all([0, 1, 2, 3].map((k) => startChild([dir, String(k), '250'])));
    for (const c of children) c.child.stdin!.end('go\n');
    for (const c of children) {
      const r = await c.closed;
      expect(r.code, r.stderr).toBe(0);
      expect(c.out()).toContain('DONE');
    }
    const text = readFileSync(join(dir, 'annotations.jsonl'), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    // A writer that reads the end of the file while another's line is being copied in takes it for a cut line and
    // starts with a newline: a blank line, which readers skip. Nothing else may be between the entries.
    const lines = text.slice(0, -1).split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1000);
    const entries = lines.map((l) => AnnotationEntrySchema.parse(JSON.parse(l)));
    expect(readAnnotationEntries(dir)).toEqual(entries);
    // Every entry exactly once, each writer's in the order it wrote them.
    for (let k = 0; k < 4; k++) {
      expect(entries.filter((e) => e.id.startsWith(k.toString(16).padStart(4, '0'))).map((e) => e.id)).toEqual(Array.from({ length: 250 }, (_, i) => entryId(k, i)));
    }
    // The writers did interleave (else this test would not test concurrency): some writer's entries are not contiguous.
    const runs = entries.reduce((n, e, i) => n + (i > 0 && e.id.slice(0, 4) !== entries[i - 1]!.id.slice(0, 4) ? 1 : 0), 0);
    expect(runs).toBeGreaterThan(3);
    // The fold equals the fold of the writers' entries one writer after another.
    const expected = foldAnnotations([0, 1, 2, 3].flatMap((k) => writerEntries(k, 250)));
    expect(normal(foldAnnotations(entries))).toEqual(normal(expected));
    expect(Object.keys(expected.samples).sort()).toEqual(['s000', 's001', 's002']);
    expect(expected.samples['s000']!.notes.length).toBeGreaterThan(50);
    rmSync(dirname(dir), { recursive: true, force: true });
  }, 120_000);

  it('leaves only whole, valid lines (and at most a skipped torn one) when the writer is SIGKILLed mid-loop', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sc-annot-kill-')), 'run');
    await writeRun(dir, false);
    const c = await startChild([dir, '0', '--loop']);
    c.child.stdin!.end('go\n');
    await new Promise<void>((res) => {
      const poll = setInterval(() => {
        if (/WROTE 150\n/.test(c.out())) {
          clearInterval(poll);
          res();
        }
      }, 5);
    });
    c.child.kill('SIGKILL');
    const r = await c.closed;
    expect(r.signal).toBe('SIGKILL');
    const buf = readFileSync(join(dir, 'annotations.jsonl'));
    const complete = buf.subarray(0, buf.lastIndexOf(0x0a) + 1).toString('utf8').split('\n').slice(0, -1);
    for (const line of complete) AnnotationEntrySchema.parse(JSON.parse(line)); // every complete line is a whole entry
    const read = readAnnotationEntries(dir);
    expect(read.length).toBe(complete.length);
    expect(read.length).toBeGreaterThanOrEqual(150); // acknowledged (fsynced) entries are there
    expect(read.map((e) => e.id)).toEqual(Array.from({ length: read.length }, (_, i) => entryId(0, i)));
    // Appending after the crash works, whether or not it cut the last line.
    const next = appendAnnotation(dir, { id: newAnnotationId(), t: new Date().toISOString(), author: 'after', op: 'tag', sample_id: 's000', step: null, tag: SEG });
    const after = readAnnotationEntries(dir);
    expect(after).toHaveLength(read.length + 1);
    expect(after.at(-1)).toEqual(next);
    rmSync(dirname(dir), { recursive: true, force: true });
  }, 120_000);
});

describe('spatialclaw tag and AnnotationsService on a real run', () => {
  let home: string;
  let runDir: string;
  let live: RunWriter | null;
  let host: WorkbenchHost;
  const prevHome = process.env.SPATIALCLAW_HOME;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'sc-annot-home-'));
    process.env.SPATIALCLAW_HOME = home;
    runDir = join(home, 'runs', 'annot-run');
    mkdirSync(join(home, 'runs'), { recursive: true });
    live = await writeRun(runDir, true);
    host = await WorkbenchHost.create({ services: createServices() });
  });
  afterAll(async () => {
    await live?.finish('interrupted');
    await host?.close();
    if (prevHome === undefined) delete process.env.SPATIALCLAW_HOME;
    else process.env.SPATIALCLAW_HOME = prevHome;
    rmSync(home, { recursive: true, force: true });
  });

  it('tags, notes, lists and removes through the CLI; bad input exits 2 with the fix', async () => {
    const env = { SPATIALCLAW_HOME: home };
    // By folder path: two tags on step 3 of s003, and a note.
    const t = await spatialclaw(['tag', runDir, 's003', '--step', '3', '--tag', SEG, '--tag', PLAN, '--note', 'mask hits the wrong chair', '--author', 'alice', '--json'], env);
    expect(t.code, t.stderr).toBe(0);
    const s = JSON.parse(t.stdout) as SampleAnnotations;
    expect(s.tags.map((x) => [x.tag, x.step, x.author])).toEqual([[SEG, 3, 'alice'], [PLAN, 3, 'alice']]);
    expect(s.notes).toHaveLength(1);
    expect(s.notes[0]).toMatchObject({ step: 3, author: 'alice', text: 'mask hits the wrong chair' });
    // By run id under the runs root, whole sample, default author (this user).
    const w = await spatialclaw(['tag', 'annot-run', 's001', '--tag', 'format.answer_format'], env);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout).toMatch(/^s001\n {2}sample {4}tags: format\.answer_format$/m);
    // --list --json: the run's folded annotations.
    const list = await spatialclaw(['tag', 'annot-run', '--list', '--json'], env);
    expect(list.code, list.stderr).toBe(0);
    const all = JSON.parse(list.stdout) as RunAnnotations;
    expect(Object.keys(all.samples).sort()).toEqual(['s001', 's003']);
    expect(all.samples['s001']!.tags[0]!.author.length).toBeGreaterThan(0);
    const text = await spatialclaw(['tag', runDir, '--list'], env);
    expect(text.stdout).toContain(`  step 3    tags: ${SEG}, ${PLAN}`);
    expect(text.stdout).toContain(`  step 3    note ${s.notes[0]!.id} (alice, `);
    // --remove one tag, --delete-note the note.
    const rm = await spatialclaw(['tag', runDir, 's003', '--step', '3', '--tag', SEG, '--remove', '--delete-note', s.notes[0]!.id, '--json'], env);
    expect(rm.code, rm.stderr).toBe(0);
    expect(JSON.parse(rm.stdout)).toMatchObject({ tags: [{ tag: PLAN, step: 3 }], notes: [] });
    // Bad input: exit 2, the message and the fix, nothing written.
    const before = readFileSync(join(runDir, 'annotations.jsonl'), 'utf8');
    const unknown = await spatialclaw(['tag', runDir, 's003', '--tag', 'perception.nope'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(`unknown tag perception.nope; the taxonomy has ${DEFAULT_TAXONOMY.tags.map((x) => x.id).join(', ')}`);
    expect(unknown.stderr).toMatch(/fix: use one of those, or add the tag to the taxonomy first/);
    const noSample = await spatialclaw(['tag', runDir, 'q-none', '--tag', SEG], env);
    expect(noSample.code).toBe(2);
    expect(noSample.stderr).toContain(`run ${runDir} has no sample q-none`);
    const badStep = await spatialclaw(['tag', runDir, 's003', '--step', '4', '--tag', SEG], env);
    expect(badStep.code).toBe(2);
    expect(badStep.stderr).toContain('sample s003 of run');
    expect(badStep.stderr).toContain('has no step 4: its steps are 1 to 3');
    const noRun = await spatialclaw(['tag', join(home, 'nowhere'), 's003', '--tag', SEG], env);
    expect(noRun.code).toBe(2);
    expect(noRun.stderr).toMatch(/no run .*nowhere: it is not a folder, nor a run under/);
    expect(readFileSync(join(runDir, 'annotations.jsonl'), 'utf8')).toBe(before);
  }, 180_000);

  it('checks every annotation through the workbench host: run, sample, step, tag, text, note', async () => {
    const h = host.handlers;
    const annotate = (a: Record<string, unknown>) => h.annotate(METHODS.annotate.args.parse({ run_id: 'annot-run', step: null, ...a }));
    const refusal = async (a: Record<string, unknown>): Promise<WorkbenchError> => {
      const e = await annotate(a).then(() => null, (err: unknown) => err);
      expect(e, JSON.stringify(a)).toBeInstanceOf(WorkbenchError);
      expect((e as WorkbenchError).fix, JSON.stringify(a)).toBeTruthy();
      return e as WorkbenchError;
    };
    const journal = () => readFileSync(join(runDir, 'annotations.jsonl'), 'utf8');
    const before = journal();

    expect(Object.keys((await h.getAnnotations({ run_id: 'annot-run' })).samples).sort()).toEqual(['s001', 's003']); // from the CLI test
    await expect(h.getAnnotations({ run_id: 'no-such-run' })).rejects.toThrow(/^no run no-such-run in /);
    expect((await refusal({ run_id: 'no-such-run', sample_id: 's000', op: 'tag', tag: SEG })).message).toMatch(/^no run no-such-run/);
    expect((await refusal({ sample_id: 'q-none', op: 'tag', tag: SEG })).message).toBe('run annot-run has no sample q-none');
    expect((await refusal({ sample_id: 's000', step: 2, op: 'tag', tag: SEG })).message).toBe('sample s000 of run annot-run has no step 2: its steps are 1 to 1');
    const unknown = await refusal({ sample_id: 's000', op: 'tag', tag: 'perception.nope' });
    expect(unknown.message).toContain(`the taxonomy has ${DEFAULT_TAXONOMY.tags[0]!.id}, `);
    expect(unknown.fix).toContain(join(home, 'taxonomy.json'));
    expect((await refusal({ sample_id: 's000', op: 'tag' })).message).toBe('tag needs a tag');
    expect((await refusal({ sample_id: 's000', op: 'untag', tag: SEG })).message).toBe(`sample s000 is not tagged ${SEG} (it has no tags)`);
    expect((await refusal({ sample_id: 's000', op: 'note', text: '   ' })).message).toBe('a note needs text');
    expect((await refusal({ sample_id: 's000', op: 'delete_note' })).message).toBe('delete_note needs the id of the note to delete');
    expect((await refusal({ sample_id: 's000', op: 'delete_note', target: '0123456789abcdef' })).message).toBe('sample s000 has no note 0123456789abcdef (it has no notes)');
    expect(journal()).toBe(before); // nothing written by a refused call
    // The schema refuses step 0 and a malformed tag before the service sees them.
    expect(METHODS.annotate.args.safeParse({ run_id: 'annot-run', sample_id: 's000', step: 0, op: 'tag', tag: SEG }).success).toBe(false);
    expect(METHODS.annotate.args.safeParse({ run_id: 'annot-run', sample_id: 's000', step: null, op: 'tag', tag: 'Bad Tag' }).success).toBe(false);

    // A sample still running: its steps come from its events (step 2 is there, 3 is not).
    const onLive = await annotate({ sample_id: 's004', step: 2, op: 'tag', tag: 'geometry.wrong_frame_axis_units', author: 'bob' });
    expect(onLive.tags).toEqual([expect.objectContaining({ tag: 'geometry.wrong_frame_axis_units', step: 2, author: 'bob' })]);
    expect((await refusal({ sample_id: 's004', step: 3, op: 'tag', tag: SEG })).message).toBe('sample s004 of run annot-run has no step 3: its steps are 1 to 2');
    // A note, its deletion (which takes the note's step), and a blank author replaced by this host's user.
    const noted = await annotate({ sample_id: 's000', step: 1, op: 'note', text: '  depth looks halved  ', author: ' ' });
    expect(noted.notes[0]).toMatchObject({ step: 1, text: 'depth looks halved' });
    expect(noted.notes[0]!.author.trim().length).toBeGreaterThan(0);
    const gone = await annotate({ sample_id: 's000', op: 'delete_note', target: noted.notes[0]!.id });
    expect(gone.notes).toEqual([]);
    expect(readAnnotationEntries(runDir).at(-1)).toMatchObject({ op: 'delete_note', step: 1 });

    // The taxonomy: default, then edited; a tag removed from it stays on its samples and can be removed.
    expect(await h.getTaxonomy({})).toEqual(DEFAULT_TAXONOMY);
    await annotate({ sample_id: 's002', op: 'tag', tag: 'infrastructure.timeout' });
    const edited: Taxonomy = { tags: [...DEFAULT_TAXONOMY.tags.filter((t) => t.id !== 'infrastructure.timeout'), { id: 'perception.occlusion', label: 'occlusion', group: 'perception' }] };
    expect(await h.saveTaxonomy(METHODS.saveTaxonomy.args.parse({ taxonomy: edited }))).toEqual(edited);
    expect(JSON.parse(readFileSync(join(home, 'taxonomy.json'), 'utf8'))).toEqual(edited);
    expect(await h.getTaxonomy({})).toEqual(edited);
    expect((await annotate({ sample_id: 's002', op: 'tag', tag: 'perception.occlusion' })).tags.map((t) => t.tag)).toEqual(['infrastructure.timeout', 'perception.occlusion']);
    expect((await refusal({ sample_id: 's001', op: 'tag', tag: 'infrastructure.timeout' })).message).toMatch(/^unknown tag infrastructure\.timeout; the taxonomy has .*perception\.occlusion$/);
    expect((await h.getAnnotations({ run_id: 'annot-run' })).samples['s002']!.tags.map((t) => t.tag)).toContain('infrastructure.timeout');
    expect((await annotate({ sample_id: 's002', op: 'untag', tag: 'infrastructure.timeout' })).tags.map((t) => t.tag)).toEqual(['perception.occlusion']);
    // A taxonomy with a repeated id is refused; a broken taxonomy file is named with the fix.
    const dup = await host.handlers.saveTaxonomy({ taxonomy: { tags: [edited.tags[0]!, edited.tags[0]!] } }).then(() => null, (e: unknown) => e);
    expect(dup).toBeInstanceOf(WorkbenchError);
    expect((dup as WorkbenchError).message).toContain(`tag ${edited.tags[0]!.id} is listed twice`);
    writeFileSync(join(home, 'taxonomy.json'), '{"tags": [');
    const broken = await h.getTaxonomy({}).then(() => null, (e: unknown) => e);
    expect((broken as WorkbenchError).message).toMatch(/taxonomy\.json is not valid JSON/);
    expect((broken as WorkbenchError).fix).toMatch(/delete it to go back to the default taxonomy/);
    rmSync(join(home, 'taxonomy.json'));
    // A journal line a person broke is named, with the fix.
    writeFileSync(join(runDir, 'annotations.jsonl'), `${journal()}{"oops": 1}\n`);
    const bad = await h.getAnnotations({ run_id: 'annot-run' }).then(() => null, (e: unknown) => e);
    expect(bad).toBeInstanceOf(WorkbenchError);
    expect((bad as WorkbenchError).message).toMatch(/annotations\.jsonl:\d+ is not an annotation entry/);
  }, 60_000);
});
