/**
 * The annotations journal (shared/annotations.ts, electron/services/runs/annotations.ts): the fold rule, the entry and
 * taxonomy schemas, and reading a journal a crash cut or a person broke.
 */
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type AnnotationEntry, AnnotationEntrySchema, DEFAULT_TAXONOMY, foldAnnotations, TaxonomySchema } from '../../shared/annotations.ts';
import { appendAnnotation, annotationsVersion, newAnnotationId, readAnnotationEntries, readAnnotations } from '../../electron/services/runs/annotations.ts';

let clock = 0;
/** An entry without the fields `entry` fills in (Omit over each member of the union). */
type Draft = AnnotationEntry extends infer E ? (E extends AnnotationEntry ? Omit<E, 'id' | 't' | 'author'> & { author?: string } : never) : never;
/** An entry with a fresh id and a later time than the previous one. */
function entry(e: Draft): AnnotationEntry {
  return { id: newAnnotationId(), t: new Date(Date.UTC(2026, 0, 1, 0, 0, clock++)).toISOString(), author: 'alice', ...e } as AnnotationEntry;
}
const tag = (sample_id: string, step: number | null, t: string, author?: string) => entry({ op: 'tag', sample_id, step, tag: t, ...(author ? { author } : {}) });
const untag = (sample_id: string, step: number | null, t: string) => entry({ op: 'untag', sample_id, step, tag: t });
const note = (sample_id: string, step: number | null, text: string) => entry({ op: 'note', sample_id, step, text });
const del = (sample_id: string, target: string) => entry({ op: 'delete_note', sample_id, step: null, target });

const SEG = 'perception.segmentation_miss';
const PLAN = 'reasoning.wrong_plan';

describe('foldAnnotations', () => {
  it('applies tag and untag per target, keeps the first application of a re-tag, and separates the sample from its steps', () => {
    const first = tag('q1', null, SEG, 'alice');
    const entries = [
      first,
      tag('q1', 2, SEG), // the same tag on step 2 is another target
      tag('q1', null, PLAN),
      tag('q1', null, SEG, 'bob'), // re-tag: still the first application (alice)
      untag('q1', 2, SEG), // removes the step's tag only
      tag('q2', 3, PLAN),
      untag('q2', 3, PLAN),
      tag('q2', 3, PLAN, 'carol'), // re-tag after untag: applied anew, by carol
      untag('q3', null, SEG), // untag of a tag never set: nothing
    ];
    const f = foldAnnotations(entries);
    expect(Object.keys(f.samples)).toEqual(['q1', 'q2']);
    expect(f.samples['q1']!.tags).toEqual([
      { tag: SEG, step: null, t: first.t, author: 'alice' },
      { tag: PLAN, step: null, t: entries[2]!.t, author: 'alice' },
    ]);
    expect(f.samples['q2']!.tags).toEqual([{ tag: PLAN, step: 3, t: entries[7]!.t, author: 'carol' }]);
    expect(f.samples['q1']!.notes).toEqual([]);
  });

  it('keeps notes in the order written and removes the one a delete_note names', () => {
    const a = note('q1', null, 'the mask covers the wrong chair');
    const b = note('q1', 4, 'depth is off by 2x here');
    const c = note('q2', null, 'ok');
    const f = foldAnnotations([a, b, c, del('q1', a.id), del('q2', a.id) /* a note of another sample: nothing */]);
    expect(f.samples['q1']!.notes).toEqual([{ id: b.id, t: b.t, author: 'alice', step: 4, text: 'depth is off by 2x here' }]);
    expect(f.samples['q2']!.notes.map((n) => n.id)).toEqual([c.id]);
    // A sample whose every tag and note was removed is absent.
    expect(foldAnnotations([a, del('q1', a.id), tag('q9', null, SEG), untag('q9', null, SEG)]).samples).toEqual({});
  });
});

describe('the schemas', () => {
  it('refuse entries that are not well formed', () => {
    const ok = tag('q1', 1, SEG);
    expect(AnnotationEntrySchema.safeParse(ok).success).toBe(true);
    const bad: [string, unknown][] = [
      ['a tag id with upper case', { ...ok, tag: 'Perception.Miss' }],
      ['a tag id with a space', { ...ok, tag: 'perception.segmentation miss' }],
      ['an unknown op', { ...ok, op: 'retag' }],
      ['a fractional step', { ...ok, step: 1.5 }],
      ['a negative step', { ...ok, step: -1 }],
      ['an empty author', { ...ok, author: '' }],
      ['a sample id with a slash', { ...ok, sample_id: '../q1' }],
      ['an id that is not 16 hex digits', { ...ok, id: 'xyz' }],
      ['a note without text', { ...note('q1', null, 'x'), text: '' }],
      ['a delete_note without a target', { ...del('q1', newAnnotationId()), target: undefined }],
      ['a tag entry without a tag', { ...ok, tag: undefined }],
    ];
    for (const [what, v] of bad) expect(AnnotationEntrySchema.safeParse(v).success, what).toBe(false);
  });

  it('accept the default taxonomy and refuse duplicate or malformed tags', () => {
    expect(TaxonomySchema.parse(DEFAULT_TAXONOMY).tags.length).toBe(12);
    const dup = TaxonomySchema.safeParse({ tags: [DEFAULT_TAXONOMY.tags[0], DEFAULT_TAXONOMY.tags[0]] });
    expect(dup.success).toBe(false);
    expect(dup.error!.issues[0]!.message).toBe(`tag ${DEFAULT_TAXONOMY.tags[0]!.id} is listed twice`);
    expect(TaxonomySchema.safeParse({ tags: [{ id: 'x.y', label: '', group: 'x' }] }).success).toBe(false);
    expect(TaxonomySchema.safeParse({ tags: [{ id: 'X', label: 'x', group: 'x' }] }).success).toBe(false);
  });
});

describe('the journal on disk', () => {
  const run = () => mkdtempSync(join(tmpdir(), 'sc-annot-'));

  it('appends whole lines, starting with the id, and reads them back in order', () => {
    const dir = run();
    expect(readAnnotationEntries(dir)).toEqual([]);
    expect(annotationsVersion(dir)).toBe('none');
    const written = [tag('q1', null, SEG), note('q1', 2, 'a "quoted"\nmulti-line note'), untag('q1', null, SEG)].map((e) => appendAnnotation(dir, e));
    const text = readFileSync(join(dir, 'annotations.jsonl'), 'utf8');
    expect(text.split('\n')).toHaveLength(4); // three lines and the final newline
    for (const line of text.trimEnd().split('\n')) expect(line.startsWith('{"id":"')).toBe(true);
    expect(readAnnotationEntries(dir)).toEqual(written);
    expect(readAnnotations(dir).samples['q1']!.notes[0]!.text).toBe('a "quoted"\nmulti-line note');
    expect(annotationsVersion(dir)).toMatch(/^\d+:/);
    // An invalid entry is refused and nothing is written.
    expect(() => appendAnnotation(dir, { ...tag('q1', null, SEG), tag: 'No Such Tag' } as AnnotationEntry)).toThrow();
    expect(readAnnotationEntries(dir)).toHaveLength(3);
  });

  it('skips a torn last line, and a torn line a later append closed', () => {
    const dir = run();
    const a = appendAnnotation(dir, tag('q1', null, SEG));
    const line = JSON.stringify(note('q1', null, 'cut by a crash'));
    appendFileSync(join(dir, 'annotations.jsonl'), line.slice(0, 40)); // a write cut after 40 bytes
    expect(readAnnotationEntries(dir)).toEqual([a]);
    // The next append starts a new line, so the cut line stays apart and the new entry is read.
    const b = appendAnnotation(dir, tag('q1', 1, PLAN));
    expect(readFileSync(join(dir, 'annotations.jsonl'), 'utf8').split('\n')[1]).toBe(line.slice(0, 40));
    expect(readAnnotationEntries(dir)).toEqual([a, b]);
  });

  it('names file and line for a complete line that is not JSON or not an entry', () => {
    const dir = run();
    const path = join(dir, 'annotations.jsonl');
    const a = JSON.stringify(tag('q1', null, SEG));
    writeFileSync(path, `${a}\n\nnot json\n`);
    expect(() => readAnnotationEntries(dir)).toThrow(`${path}:3 is not valid JSON; fix or delete that line`);
    writeFileSync(path, `${a}\n${JSON.stringify({ ...tag('q1', null, SEG), op: 'star' })}\n`);
    expect(() => readAnnotationEntries(dir)).toThrow(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2 is not an annotation entry \\(op: `));
    // A complete entry-like line that ends like an entry is not taken for a cut write.
    writeFileSync(path, `${a.slice(0, -2)}}\n`);
    expect(() => readAnnotationEntries(dir)).toThrow(`${path}:1 is not valid JSON`);
  });
});
