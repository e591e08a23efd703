/**
 * Annotations of a run: tags and notes on a sample or on one of its steps, from an editable taxonomy.
 *
 * Stored in the run folder as an append-only journal, `annotations.jsonl` (docs/run-format.md): one
 * `AnnotationEntry` per line, each appended with a single `write` on an `O_APPEND` descriptor and fsynced, so two
 * windows (or the CLI and a window) can annotate the same run at once and a crash can only cut the last line. The
 * current state is the journal folded in order (`foldAnnotations`): a `tag` entry adds a tag to its target, an
 * `untag` entry removes it, a `note` entry adds a note, a `delete_note` entry removes the note it names.
 *
 * Python readers (`spatialclaw export`, notebooks) get the JSON Schema generated from these (spatial_common.contract).
 */
import { z } from 'zod';

/** A tag id: `<group>.<name>`, lower case, e.g. `perception.segmentation_miss`. */
export const TagIdSchema = z
  .string()
  .regex(/^[a-z0-9_]+(\.[a-z0-9_]+)*$/, 'a tag id is lower-case words joined by dots, e.g. perception.segmentation_miss')
  .max(100);

export const TagDefSchema = z
  .object({
    id: TagIdSchema,
    /** What the UI shows, e.g. "segmentation miss". */
    label: z.string().min(1).max(100),
    /** The group it is listed under, e.g. "perception". */
    group: z.string().min(1).max(60),
    /** A longer explanation shown as a tooltip. */
    description: z.string().max(500).optional(),
  })
  .meta({ id: 'TagDef' });
export type TagDef = z.infer<typeof TagDefSchema>;

/** The tag taxonomy: tags in display order. The first nine get the number keys 1–9 in the triage view. */
export const TaxonomySchema = z
  .object({ tags: z.array(TagDefSchema).max(200) })
  .superRefine((t, ctx) => {
    const seen = new Set<string>();
    for (const [i, tag] of t.tags.entries()) {
      if (seen.has(tag.id)) ctx.addIssue({ code: 'custom', path: ['tags', i, 'id'], message: `tag ${tag.id} is listed twice` });
      seen.add(tag.id);
    }
  })
  .meta({ id: 'Taxonomy' });
export type Taxonomy = z.infer<typeof TaxonomySchema>;

const tag = (group: string, name: string, label: string, description?: string): TagDef => ({ id: `${group}.${name}`, label, group, ...(description ? { description } : {}) });

/** The default taxonomy (issue 15): perception, geometry, reasoning, format and infrastructure failures. */
export const DEFAULT_TAXONOMY: Taxonomy = {
  tags: [
    tag('perception', 'segmentation_miss', 'segmentation miss', 'the mask misses the object, or segments the wrong one'),
    tag('perception', 'depth_scale_error', 'depth/scale error', 'depth or metric scale is wrong'),
    tag('perception', 'pose_error', 'pose error', 'camera poses are wrong'),
    tag('geometry', 'wrong_frame_axis_units', 'wrong frame/axis/units', 'a coordinate frame, axis convention or unit mix-up'),
    tag('reasoning', 'misread_question', 'misread question'),
    tag('reasoning', 'wrong_plan', 'wrong plan'),
    tag('reasoning', 'arithmetic', 'arithmetic'),
    tag('format', 'answer_format', 'answer format', 'the answer is right but in a form the scorer rejects'),
    tag('format', 'parse', 'parse', 'the reply could not be parsed'),
    tag('infrastructure', 'tool_error', 'tool error'),
    tag('infrastructure', 'timeout', 'timeout'),
    tag('other', 'correct_wrong_reason', 'correct for the wrong reason', 'scored right, but the reasoning or measurement was wrong'),
  ],
};

/** The sample id format of the run record (shared/run.ts SampleSpec.id). */
const SampleRefId = z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/);

const EntryBase = z.object({
  /** 16 random hex digits, unique within the journal. */
  id: z.string().regex(/^[0-9a-f]{16}$/),
  /** ISO 8601 time of the entry. */
  t: z.string(),
  /** Who made it (the workbench's user name, `--author`, or `$USER`). */
  author: z.string().min(1).max(100),
  sample_id: SampleRefId,
  /** The step (cell number, 1-based) the entry is about, or null for the whole sample. */
  step: z.number().int().nonnegative().nullable(),
});

export const AnnotationEntrySchema = z
  .discriminatedUnion('op', [
    EntryBase.extend({ op: z.literal('tag'), tag: TagIdSchema }),
    EntryBase.extend({ op: z.literal('untag'), tag: TagIdSchema }),
    EntryBase.extend({ op: z.literal('note'), text: z.string().min(1).max(20_000) }),
    /** Removes the note whose entry id is `target`. */
    EntryBase.extend({ op: z.literal('delete_note'), target: z.string().regex(/^[0-9a-f]{16}$/) }),
  ])
  .meta({ id: 'AnnotationEntry' });
export type AnnotationEntry = z.infer<typeof AnnotationEntrySchema>;

/**
 * A request to annotate one sample or one of its steps (the workbench's `annotate`, `spatialclaw tag`); the host
 * checks it against the run and the taxonomy (electron/services/app/annotations.ts) before an entry is written.
 * `tag`/`untag` need `tag`, `note` needs `text`, `delete_note` needs `target` (a note id of the sample); `author`
 * blank or absent: the host's user name.
 */
export const AnnotateRequestSchema = z.object({
  sample_id: SampleRefId,
  /** 1-based step, or null for the whole sample. */
  step: z.number().int().min(1).nullable(),
  op: z.enum(['tag', 'untag', 'note', 'delete_note']),
  tag: TagIdSchema.optional(),
  text: z.string().max(20_000).optional(),
  target: z.string().regex(/^[0-9a-f]{16}$/, 'a note id is 16 hex digits').optional(),
  author: z.string().max(100).optional(),
});
export type AnnotateRequest = z.infer<typeof AnnotateRequestSchema>;

/** A note in the folded state. */
export const NoteSchema = z.object({ id: z.string(), t: z.string(), author: z.string(), step: z.number().int().nullable(), text: z.string() });
export type Note = z.infer<typeof NoteSchema>;

/** A tag in the folded state: who set it last and when. */
export const AppliedTagSchema = z.object({ tag: TagIdSchema, step: z.number().int().nullable(), t: z.string(), author: z.string() });
export type AppliedTag = z.infer<typeof AppliedTagSchema>;

/** The folded annotations of one sample. */
export const SampleAnnotationsSchema = z.object({ tags: z.array(AppliedTagSchema), notes: z.array(NoteSchema) });
export type SampleAnnotations = z.infer<typeof SampleAnnotationsSchema>;

/** The folded annotations of a run, by sample id (samples without annotations are absent). */
export const RunAnnotationsSchema = z.object({ samples: z.record(z.string(), SampleAnnotationsSchema) });
export type RunAnnotations = z.infer<typeof RunAnnotationsSchema>;

/**
 * Fold journal entries, in order, into the current annotations. A tag is on a target (sample, step) when its last
 * `tag`/`untag` entry there is a `tag`; tags come in the order first applied, notes in the order written.
 */
export function foldAnnotations(entries: Iterable<AnnotationEntry>): RunAnnotations {
  const tags = new Map<string, Map<string, AppliedTag>>(); // sample -> "step|tag" -> tag
  const notes = new Map<string, Map<string, Note>>(); // sample -> entry id -> note
  for (const e of entries) {
    if (e.op === 'tag' || e.op === 'untag') {
      const m = tags.get(e.sample_id) ?? new Map<string, AppliedTag>();
      tags.set(e.sample_id, m);
      const key = `${e.step ?? ''}|${e.tag}`;
      if (e.op === 'tag') {
        if (!m.has(key)) m.set(key, { tag: e.tag, step: e.step, t: e.t, author: e.author });
      } else m.delete(key);
    } else if (e.op === 'note') {
      const m = notes.get(e.sample_id) ?? new Map<string, Note>();
      notes.set(e.sample_id, m);
      m.set(e.id, { id: e.id, t: e.t, author: e.author, step: e.step, text: e.text });
    } else {
      notes.get(e.sample_id)?.delete(e.target);
    }
  }
  const out: RunAnnotations = { samples: {} };
  for (const id of new Set([...tags.keys(), ...notes.keys()])) {
    const t = [...(tags.get(id)?.values() ?? [])];
    const n = [...(notes.get(id)?.values() ?? [])];
    if (t.length || n.length) out.samples[id] = { tags: t, notes: n };
  }
  return out;
}
