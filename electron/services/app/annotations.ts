/**
 * Annotations of runs: tags and notes on a sample or on one of its steps (shared/annotations.ts), and the editable
 * tag taxonomy. The workbench (`getAnnotations`, `annotate`, `getTaxonomy`, `saveTaxonomy`) and `spatialclaw tag`
 * both go through this service, so an entry is checked by one set of rules whoever writes it.
 *
 * Storage: each run's `annotations.jsonl`, an append-only journal (runs/annotations.ts: one `write` of one line on an
 * `O_APPEND` descriptor, then fsync), so two windows and the CLI can annotate one run at once and a crash can only cut
 * the last line; the taxonomy in `<data dir>/taxonomy.json`, replaced atomically (fs/atomic.ts), the default taxonomy
 * while that file is absent. Tags that were used and later removed from the taxonomy still show (the fold keeps every
 * tag of the journal); only new `tag` entries are checked against the taxonomy.
 */
import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { z } from 'zod';
import { WorkbenchError } from '../../../shared/api.ts';
import {
  type AnnotateRequest,
  type AnnotationEntry,
  DEFAULT_TAXONOMY,
  foldAnnotations,
  type RunAnnotations,
  type SampleAnnotations,
  TagIdSchema,
  type Taxonomy,
  TaxonomySchema,
} from '../../../shared/annotations.ts';
import { SampleIdSchema } from '../../../shared/ids.ts';
import { writeJsonAtomic } from '../fs/atomic.ts';
import { appendAnnotation, newAnnotationId, readAnnotationEntries } from '../runs/annotations.ts';
import { ANNOTATIONS_JSONL } from '../runs/layout.ts';
import { readSampleEvents } from '../runs/reader.ts';
import { SampleCache, sampleDir } from '../workbench/runs.ts';

/** The taxonomy file in the data directory. */
export const TAXONOMY_JSON = 'taxonomy.json';

/** The longest note text and author name an entry holds (shared/annotations.ts). */
const MAX_TEXT = 20_000;
const MAX_AUTHOR = 100;

/**
 * One annotation to make (shared/annotations.ts AnnotateRequestSchema):
 * - `tag` / `untag`: `tag` (a tag id); a new `tag` must be in the taxonomy, an `untag` must name a tag that is on
 *   that target now.
 * - `note`: `text` (1–20,000 characters after trimming the ends).
 * - `delete_note`: `target`, the id of a note of this sample (the entry takes the note's step; `step` is ignored).
 *
 * `step`: the step (1 … the sample's step count) the entry is about, or null for the whole sample. `author`: who
 * makes it; blank or absent: this host's user name.
 */
export type { AnnotateRequest };

/** The user name this host annotates as when no author is given: the OS account, else $USER / $USERNAME, else `user`. */
export function defaultAuthor(): string {
  let name = '';
  try {
    name = userInfo().username;
  } catch {
    // No passwd entry (some containers): fall back to the environment.
  }
  name = (name || process.env['USER'] || process.env['USERNAME'] || '').trim();
  return name ? name.slice(0, MAX_AUTHOR) : 'user';
}

export class AnnotationsService {
  /** Parsed samples.jsonl per run (for step counts), reused while the file is unchanged. */
  private readonly samples = new SampleCache(4);

  /**
   * @param runDir the run folder of a run id (RunsService.runDir); @throws WorkbenchError for an unknown run.
   * @param taxonomyFile where the taxonomy is kept (`<data dir>/taxonomy.json`).
   */
  constructor(
    private readonly runDir: (runId: string) => string,
    readonly taxonomyFile: string,
  ) {}

  /** The folded annotations of a run (empty without a journal). @throws WorkbenchError for an unknown run or a journal line that is not an entry. */
  get(runId: string): RunAnnotations {
    return this.getIn(this.runDir(runId));
  }

  /** As {@link get}, for a run folder given by path (the CLI). */
  getIn(dir: string): RunAnnotations {
    return foldAnnotations(this.entries(dir));
  }

  /**
   * Check one annotation and append it to the run's journal.
   * @returns the sample's folded annotations after the write (including what other writers appended before it).
   * @throws WorkbenchError naming what is wrong (unknown run, sample, step, tag or note; missing text) and how to fix it; nothing is written then.
   */
  annotate(runId: string, req: AnnotateRequest): SampleAnnotations {
    return this.annotateIn(this.runDir(runId), [req], runId);
  }

  /**
   * Check every request, then append them in order (all or none are checked before the first is written), to the
   * run folder `dir` given by path. `label` names the run in errors (default: the folder).
   * @returns the folded annotations of the (last) request's sample after the writes. @throws WorkbenchError as {@link annotate}
   */
  annotateIn(dir: string, reqs: readonly AnnotateRequest[], label: string = dir): SampleAnnotations {
    if (reqs.length === 0) throw new WorkbenchError('nothing to annotate', 'give a tag, a note or a note to delete');
    const journal = foldAnnotations(this.entries(dir));
    const taxonomy = reqs.some((r) => r.op === 'tag') ? this.getTaxonomy() : null;
    const steps = new Map<string, number>();
    const now = new Date().toISOString();
    const entries = reqs.map((req) => {
      if (!steps.has(req.sample_id)) steps.set(req.sample_id, this.stepsIn(dir, req.sample_id, label));
      return this.entryFor(req, { label, steps: steps.get(req.sample_id)!, journal, taxonomy, now });
    });
    for (const e of entries) appendAnnotation(dir, e);
    const last = entries[entries.length - 1]!.sample_id;
    return foldAnnotations(this.entries(dir)).samples[last] ?? { tags: [], notes: [] };
  }

  /** The tag taxonomy: `<data dir>/taxonomy.json`, or the default one while that file is absent. @throws WorkbenchError for a file that is not a taxonomy */
  getTaxonomy(): Taxonomy {
    const file = this.taxonomyFile;
    if (!existsSync(file)) return DEFAULT_TAXONOMY;
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new WorkbenchError(`${file} is not valid JSON (${e instanceof Error ? e.message : String(e)})`, `fix it, or delete it to go back to the default taxonomy`);
    }
    const r = TaxonomySchema.safeParse(raw);
    if (!r.success) throw new WorkbenchError(`${file} is not a tag taxonomy: ${z.prettifyError(r.error)}`, 'fix the fields named, or delete the file to go back to the default taxonomy');
    return r.data;
  }

  /**
   * Validate and save the taxonomy (atomically: temp file, fsync, rename). Removing a tag does not touch journals:
   * entries already made with it still show, and it can still be removed from a sample.
   * @returns what was saved. @throws WorkbenchError naming each invalid field (nothing is written).
   */
  saveTaxonomy(t: unknown): Taxonomy {
    const r = TaxonomySchema.safeParse(t);
    if (!r.success) throw new WorkbenchError(`not a valid tag taxonomy: ${z.prettifyError(r.error)}`, 'fix the tags named: each needs an id such as group.name (lower case), a label and a group, and ids must be unique');
    writeJsonAtomic(this.taxonomyFile, r.data);
    return r.data;
  }

  /** The journal's entries. @throws WorkbenchError naming file:line for a complete line that is not an entry. */
  private entries(dir: string): AnnotationEntry[] {
    try {
      return readAnnotationEntries(dir);
    } catch (e) {
      throw new WorkbenchError(e instanceof Error ? e.message : String(e), `the journal is plain JSON lines (docs/run-format.md, ${ANNOTATIONS_JSONL}): fix or delete the line named`);
    }
  }

  /**
   * The steps of sample `id` in the run folder `dir`: `steps` of its samples.jsonl result (its last line, if resumed),
   * else (still running or unfinished) the highest step of its events. `label` names the run in errors.
   * @throws WorkbenchError when the run has no such sample.
   */
  stepsIn(dir: string, id: string, label: string = dir): number {
    if (!SampleIdSchema.safeParse(id).success) throw new WorkbenchError(`${JSON.stringify(id)} is not a sample id`, 'a sample id is 1-128 letters, digits, _, . or -, as listed for the run');
    let result: number | null = null;
    for (const row of this.samples.rows(dir)) if (row.result.id === id) result = row.result.steps;
    if (result !== null) return result;
    if (!existsSync(sampleDir(dir, id))) throw new WorkbenchError(`run ${label} has no sample ${id}`, 'use a sample id of the run (the Runs view, or samples.jsonl)');
    try {
      return readSampleEvents(dir, id).reduce((m, e) => Math.max(m, e.step), 0);
    } catch {
      return 0; // a sample folder without readable events yet: only the whole sample can be annotated
    }
  }

  private entryFor(
    req: AnnotateRequest,
    ctx: { label: string; steps: number; journal: RunAnnotations; taxonomy: Taxonomy | null; now: string },
  ): AnnotationEntry {
    const { sample_id } = req;
    const where = req.step === null ? `sample ${sample_id}` : `step ${req.step} of sample ${sample_id}`;
    const author = (req.author ?? '').trim() || defaultAuthor();
    if (author.length > MAX_AUTHOR) throw new WorkbenchError(`the author name is ${author.length} characters long; at most ${MAX_AUTHOR} are kept`, 'use a shorter name');
    if (req.step !== null && req.op !== 'delete_note') {
      if (!Number.isInteger(req.step) || req.step < 1 || req.step > ctx.steps) {
        throw new WorkbenchError(
          `sample ${sample_id} of run ${ctx.label} has no step ${req.step}: ${ctx.steps === 0 ? 'it has no steps' : `its steps are 1 to ${ctx.steps}`}`,
          ctx.steps === 0 ? 'annotate the whole sample (no step)' : `pick a step from 1 to ${ctx.steps}, or annotate the whole sample (no step)`,
        );
      }
    }
    const base = { id: newAnnotationId(), t: ctx.now, author, sample_id, step: req.step };
    const current = ctx.journal.samples[sample_id] ?? { tags: [], notes: [] };
    switch (req.op) {
      case 'tag':
      case 'untag': {
        if (!req.tag) throw new WorkbenchError(`${req.op} needs a tag`, 'name the tag id, e.g. perception.segmentation_miss');
        if (!TagIdSchema.safeParse(req.tag).success) throw new WorkbenchError(`${JSON.stringify(req.tag)} is not a tag id`, 'a tag id is lower-case words joined by dots, e.g. perception.segmentation_miss');
        if (req.op === 'tag') {
          const known = (ctx.taxonomy ?? DEFAULT_TAXONOMY).tags.map((t) => t.id);
          if (!known.includes(req.tag)) {
            throw new WorkbenchError(
              `unknown tag ${req.tag}; the taxonomy has ${known.length ? known.join(', ') : 'no tags'}`,
              `use one of those, or add the tag to the taxonomy first (the workbench's tag editor, or ${this.taxonomyFile})`,
            );
          }
        } else if (!current.tags.some((t) => t.tag === req.tag && t.step === req.step)) {
          const on = current.tags.filter((t) => t.step === req.step).map((t) => t.tag);
          throw new WorkbenchError(`${where} is not tagged ${req.tag}${on.length ? ` (its tags: ${on.join(', ')})` : ' (it has no tags)'}`, 'remove a tag it has, or check the step');
        }
        return { ...base, op: req.op, tag: req.tag };
      }
      case 'note': {
        const text = (req.text ?? '').trim();
        if (!text) throw new WorkbenchError('a note needs text', 'write the note (it is kept as given, without leading or trailing blanks)');
        if (text.length > MAX_TEXT) throw new WorkbenchError(`the note is ${text.length} characters long; at most ${MAX_TEXT} are kept`, 'shorten it, or split it into several notes');
        return { ...base, op: 'note', text };
      }
      case 'delete_note': {
        if (!req.target) throw new WorkbenchError('delete_note needs the id of the note to delete', "take it from the sample's notes (getAnnotations, or `spatialclaw tag RUN --list`)");
        const note = current.notes.find((n) => n.id === req.target);
        if (!note) {
          const ids = current.notes.map((n) => n.id);
          throw new WorkbenchError(`sample ${sample_id} has no note ${req.target}${ids.length ? ` (its notes: ${ids.join(', ')})` : ' (it has no notes)'}`, 'use the id of one of its notes; a deleted note is gone already');
        }
        return { ...base, step: note.step, op: 'delete_note', target: note.id };
      }
      default:
        throw new WorkbenchError(`unknown annotation op ${JSON.stringify((req as { op: unknown }).op)}`, 'use tag, untag, note or delete_note');
    }
  }
}
