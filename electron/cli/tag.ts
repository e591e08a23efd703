/**
 * `spatialclaw tag`: annotate a recorded run from scripts, through the workbench's own AnnotationsService
 * (electron/services/app/annotations.ts), so the same checks apply and the entries land in the same journal
 * (`<run>/annotations.jsonl`, docs/run-format.md).
 *
 *   spatialclaw tag RUN SAMPLE [--step N] --tag T [--tag T2 …] [--note TEXT …] [--delete-note ID …] [--remove] [--author NAME] [--json]
 *   spatialclaw tag RUN --list [SAMPLE] [--json]
 *
 * RUN is a run folder, or a run id under the runs root (`<data dir>/runs`). Exit codes: 0 done, 2 bad input (unknown
 * run, sample, step, tag or note; nothing is written), 1 anything else (a journal that cannot be written).
 */
import { WorkbenchError } from '../../shared/api.ts';
import type { RunAnnotations, SampleAnnotations } from '../../shared/annotations.ts';
import type { AnnotateRequest } from '../services/app/annotations.ts';
import { createServices } from '../services/app/index.ts';
import { resolveRunDir } from './run-ref.ts';

export interface TagOptions {
  /** The step, as typed (checked here: a whole number ≥ 1). */
  step?: string;
  tag?: string[];
  note?: string[];
  deleteNote?: string[];
  remove?: boolean;
  author?: string;
  list?: boolean;
  json?: boolean;
}

/** `spatialclaw tag`. @returns the exit code (errors a user can fix print their fix and return 2). */
export async function tagCommand(run: string, sample: string | undefined, o: TagOptions): Promise<number> {
  const services = createServices();
  try {
    const dir = resolveRunDir(run, services.settings.folders().runsRoot);
    if (o.list) {
      if (o.tag?.length || o.note?.length || o.deleteNote?.length || o.remove || o.step !== undefined) {
        throw new WorkbenchError('--list only prints annotations', 'leave out --tag, --note, --delete-note, --remove and --step, or leave out --list');
      }
      const all = services.annotations.getIn(dir);
      // An unknown sample is an error; a known one without annotations lists nothing.
      if (sample !== undefined) services.annotations.stepsIn(dir, sample, run);
      const shown: RunAnnotations = sample === undefined ? all : { samples: all.samples[sample] ? { [sample]: all.samples[sample] } : {} };
      console.log(o.json ? JSON.stringify(shown, null, 2) : formatAnnotations(shown));
      return 0;
    }
    const reqs = requests(sample, o);
    const after = services.annotations.annotateIn(dir, reqs, run);
    console.log(o.json ? JSON.stringify(after, null, 2) : formatAnnotations({ samples: { [sample!]: after } }));
    return 0;
  } catch (e) {
    if (!(e instanceof WorkbenchError)) throw e;
    console.error(`spatialclaw tag: ${e.message}${e.fix ? `\n  fix: ${e.fix}` : ''}`);
    return 2;
  } finally {
    await services.close();
  }
}

/** The annotations the flags ask for. @throws WorkbenchError for a missing sample, a bad step or a flag mix that means nothing. */
function requests(sample: string | undefined, o: TagOptions): AnnotateRequest[] {
  const tags = o.tag ?? [];
  const notes = o.note ?? [];
  const deletes = o.deleteNote ?? [];
  if (sample === undefined) throw new WorkbenchError('which sample? give its id after the run', 'spatialclaw tag RUN SAMPLE --tag T (or spatialclaw tag RUN --list)');
  if (!tags.length && !notes.length && !deletes.length) throw new WorkbenchError('nothing to do: no --tag, --note or --delete-note', 'add --tag T (repeatable), --note TEXT or --delete-note ID; --list prints the run\'s annotations');
  if (o.remove && !tags.length) throw new WorkbenchError('--remove removes the --tag tags, and none was given', 'add --tag T; to delete a note use --delete-note ID (ids from --list)');
  if (o.remove && notes.length) throw new WorkbenchError('--remove applies to tags, not notes', 'to delete a note use --delete-note ID (ids from --list); leave out --note with --remove');
  let step: number | null = null;
  if (o.step !== undefined) {
    step = Number(o.step);
    if (!/^\d+$/.test(o.step.trim()) || step < 1) throw new WorkbenchError(`--step must be a whole number from 1, got ${JSON.stringify(o.step)}`, 'give the step (cell number) as shown in the timeline, or leave out --step to annotate the whole sample');
  }
  const base = { sample_id: sample, step, author: o.author };
  return [
    ...tags.map((tag): AnnotateRequest => ({ ...base, op: o.remove ? 'untag' : 'tag', tag })),
    ...notes.map((text): AnnotateRequest => ({ ...base, op: 'note', text })),
    ...deletes.map((target): AnnotateRequest => ({ ...base, op: 'delete_note', target })),
  ];
}

/**
 * The annotations as text: per sample, one line per target (the whole sample, then steps in order) with its tags,
 * and one line per note (its id, author and time; continuation lines of a long note indented).
 */
export function formatAnnotations(a: RunAnnotations): string {
  const ids = Object.keys(a.samples);
  if (!ids.length) return 'no annotations';
  const out: string[] = [];
  for (const id of ids) {
    const s: SampleAnnotations = a.samples[id]!;
    out.push(s.tags.length || s.notes.length ? id : `${id}: no annotations`);
    const steps = [...new Set([...s.tags.map((t) => t.step), ...s.notes.map((n) => n.step)])].sort((x, y) => (x ?? 0) - (y ?? 0));
    for (const step of steps) {
      const label = (step === null ? 'sample' : `step ${step}`).padEnd(9);
      const tags = s.tags.filter((t) => t.step === step);
      if (tags.length) out.push(`  ${label} tags: ${tags.map((t) => t.tag).join(', ')}`);
      for (const n of s.notes.filter((x) => x.step === step)) {
        out.push(`  ${label} note ${n.id} (${n.author}, ${n.t}): ${n.text.replaceAll('\n', `\n${' '.repeat(13)}`)}`);
      }
    }
  }
  return out.join('\n');
}
