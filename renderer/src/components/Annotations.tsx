/**
 * Tags and notes on a sample or one of its steps (shared/annotations.ts), recorded in the run's annotations journal
 * through `annotate`. Used by the triage view (a selected sample), the sample view header (the whole sample) and
 * each step of the timeline.
 */
import { useState } from 'react';
import type { SampleAnnotations, TagDef, Taxonomy } from '../../../shared/annotations.ts';
import { useTriage, useTriageStore } from '../context.tsx';
import { hasTag } from '../triage-store.ts';
import { ErrorBox, fmtDate } from './common.tsx';

/** The label of a tag id in the taxonomy (the id itself for a tag no longer in it). */
export function tagLabel(taxonomy: Taxonomy | null, id: string): string {
  return taxonomy?.tags.find((t) => t.id === id)?.label ?? id;
}

/** The CSS class of a tag's group (colours in styles.css); unknown groups share one. */
export function tagClass(id: string): string {
  const group = id.split('.')[0] ?? '';
  return ['perception', 'geometry', 'reasoning', 'format', 'infrastructure', 'other'].includes(group) ? `tag-${group}` : 'tag-custom';
}

/** Read-only chips of tag ids. */
export function TagChips({ tags, taxonomy }: { tags: readonly string[]; taxonomy: Taxonomy | null }) {
  if (!tags.length) return null;
  return (
    <span className="tag-chips">
      {tags.map((t) => (
        <span key={t} className={`tag-chip ${tagClass(t)}`} title={t}>
          {tagLabel(taxonomy, t)}
        </span>
      ))}
    </span>
  );
}

/** The number key (1–9) of a tag in the triage view, or null. */
export function tagKey(taxonomy: Taxonomy | null, id: string): number | null {
  const i = taxonomy?.tags.findIndex((t) => t.id === id) ?? -1;
  return i >= 0 && i < 9 ? i + 1 : null;
}

function groups(tags: readonly TagDef[]): [string, TagDef[]][] {
  const m = new Map<string, TagDef[]>();
  for (const t of tags) m.set(t.group, [...(m.get(t.group) ?? []), t]);
  return [...m.entries()];
}

/**
 * The tags of a sample (step null) or a step, with a toggle for every taxonomy tag, and the notes with a box to add
 * one. `compact` shows only the applied tags and a button that opens the picker. Renders nothing unless `runId` is the
 * run open in the Runs view.
 */
export function AnnotationBar({ runId, sampleId, step, compact = false }: { runId: string; sampleId: string; step: number | null; compact?: boolean }) {
  const store = useTriageStore();
  const openRun = useTriage((s) => s.runId);
  const taxonomy = useTriage((s) => s.taxonomy);
  const ann = useTriage((s) => s.annotations.samples[sampleId]) as SampleAnnotations | undefined;
  const error = useTriage((s) => s.annotateError);
  const [open, setOpen] = useState(!compact);
  const [note, setNote] = useState('');
  const applied = (ann?.tags ?? []).filter((t) => t.step === step);
  const notes = (ann?.notes ?? []).filter((n) => n.step === step);
  const what = step === null ? `sample ${sampleId}` : `step ${step}`;
  // Annotations belong to the run open in the Runs view (the triage store's); elsewhere (the Ask view) none are shown.
  if (openRun !== runId) return null;
  return (
    <section className={`annotations ${compact ? 'compact' : ''}`} aria-label={`Annotations of ${what}`}>
      <div className="row tag-row">
        {applied.map((t) => (
          <span key={t.tag} className={`tag-chip ${tagClass(t.tag)}`} title={`${t.tag} · ${t.author}, ${fmtDate(t.t)}`}>
            {tagLabel(taxonomy, t.tag)}
            <button className="chip-x" aria-label={`Remove tag ${tagLabel(taxonomy, t.tag)} from ${what}`} onClick={() => void store.getState().toggleTag(sampleId, step, t.tag)}>
              ×
            </button>
          </span>
        ))}
        {compact ? (
          <button className="link small" aria-expanded={open} onClick={() => setOpen(!open)}>
            {open ? 'done' : applied.length || notes.length ? 'edit tags' : '+ tag'}
          </button>
        ) : null}
      </div>
      {open ? (
        <div className="tag-picker" role="group" aria-label={`Tags for ${what}`}>
          {taxonomy ? (
            groups(taxonomy.tags).map(([group, tags]) => (
              <div key={group} className="tag-group">
                <span className="muted small">{group}</span>
                {tags.map((t) => {
                  const on = hasTag(ann, step, t.id);
                  const key = tagKey(taxonomy, t.id);
                  return (
                    <button
                      key={t.id}
                      className={`tag-toggle ${tagClass(t.id)} ${on ? 'on' : ''}`}
                      aria-pressed={on}
                      title={`${t.description ?? t.id}${key && step === null ? ` (key ${key})` : ''}`}
                      onClick={() => void store.getState().toggleTag(sampleId, step, t.id)}
                    >
                      {key && step === null ? <kbd>{key}</kbd> : null} {t.label}
                    </button>
                  );
                })}
              </div>
            ))
          ) : (
            <span className="muted small">loading the tag taxonomy…</span>
          )}
          <ul className="notes" aria-label={`Notes on ${what}`}>
            {notes.map((n) => (
              <li key={n.id}>
                <span className="note-text">{n.text}</span>{' '}
                <span className="muted small">
                  — {n.author}, {fmtDate(n.t)}
                </span>{' '}
                <button className="link small" aria-label={`Delete note ${n.text.slice(0, 30)}`} onClick={() => void store.getState().deleteNote(sampleId, n.id)}>
                  delete
                </button>
              </li>
            ))}
          </ul>
          <form
            className="row note-form"
            onSubmit={(e) => {
              e.preventDefault();
              const text = note;
              setNote('');
              void store.getState().addNote(sampleId, step, text);
            }}
          >
            <input aria-label={`Note on ${what}`} placeholder="add a note" value={note} onChange={(e) => setNote(e.target.value)} onKeyDown={(e) => e.stopPropagation()} />
            <button type="submit" disabled={!note.trim()}>
              Add note
            </button>
          </form>
        </div>
      ) : null}
      {error ? <ErrorBox error={error} title="Could not save the annotation" /> : null}
    </section>
  );
}
