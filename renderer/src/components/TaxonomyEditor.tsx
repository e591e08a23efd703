/**
 * Settings > Tag taxonomy: the tags of the triage view and `spatialclaw tag` (shared/annotations.ts), edited as rows
 * (id, label, group, description) and saved with `saveTaxonomy` (<data dir>/taxonomy.json). Order matters: the first
 * nine tags get the number keys 1–9. Tags removed here stay on the samples that have them.
 */
import { useEffect, useState } from 'react';
import { DEFAULT_TAXONOMY, type TagDef, TaxonomySchema } from '../../../shared/annotations.ts';
import { type ShownError, toShownError } from '../api.ts';
import { useApi, useTriageStore } from '../context.tsx';
import { ErrorBox } from './common.tsx';

const blank = (): TagDef => ({ id: '', label: '', group: '' });

export function TaxonomyEditor() {
  const api = useApi();
  const triage = useTriageStore();
  const [rows, setRows] = useState<TagDef[] | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  useEffect(() => {
    api.call('getTaxonomy', {}).then(
      (t) => setRows(t.tags),
      (e) => setError(toShownError(e)),
    );
  }, [api]);
  const edit = (i: number, patch: Partial<TagDef>) => {
    setSaved(null);
    setRows((r) => r!.map((t, k) => (k === i ? { ...t, ...patch } : t)));
  };
  const move = (i: number, d: -1 | 1) => {
    setSaved(null);
    setRows((r) => {
      const next = r!.slice();
      const j = i + d;
      if (j < 0 || j >= next.length) return next;
      [next[i], next[j]] = [next[j]!, next[i]!];
      return next;
    });
  };
  const save = async (tags: TagDef[]) => {
    setError(null);
    const clean = tags.map((t) => ({ id: t.id.trim(), label: t.label.trim(), group: t.group.trim(), ...(t.description?.trim() ? { description: t.description.trim() } : {}) }));
    const parsed = TaxonomySchema.safeParse({ tags: clean });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const row = typeof issue.path[1] === 'number' ? ` (row ${issue.path[1] + 1}${issue.path[2] ? `, ${String(issue.path[2])}` : ''})` : '';
      setError({ message: `${issue.message}${row}`, fix: 'fix the row named: ids are lower-case words joined by dots (group.name), every tag needs a label and a group', method: null });
      return;
    }
    try {
      const t = await api.call('saveTaxonomy', { taxonomy: parsed.data });
      setRows(t.tags);
      triage.setState({ taxonomy: t });
      setSaved(`saved ${t.tags.length} tags`);
    } catch (e) {
      setError(toShownError(e));
    }
  };
  return (
    <section aria-label="Tag taxonomy" className="settings-section">
      <h3>Tag taxonomy</h3>
      <p className="muted small">
        The tags of the triage view and <code>spatialclaw tag</code>; the first nine get the keys 1–9. Removing a tag here keeps it on the samples that have it.
      </p>
      {rows ? (
        <table className="settings-table" aria-label="Tags">
          <thead>
            <tr>
              <th>key</th>
              <th>id (group.name)</th>
              <th>label</th>
              <th>group</th>
              <th>description</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((t, i) => (
              <tr key={i}>
                <td className="muted">{i < 9 ? i + 1 : ''}</td>
                <td>
                  <input aria-label={`Tag ${i + 1} id`} value={t.id} onChange={(e) => edit(i, { id: e.target.value })} spellCheck={false} />
                </td>
                <td>
                  <input aria-label={`Tag ${i + 1} label`} value={t.label} onChange={(e) => edit(i, { label: e.target.value })} />
                </td>
                <td>
                  <input aria-label={`Tag ${i + 1} group`} value={t.group} onChange={(e) => edit(i, { group: e.target.value })} />
                </td>
                <td>
                  <input aria-label={`Tag ${i + 1} description`} value={t.description ?? ''} onChange={(e) => edit(i, { description: e.target.value })} />
                </td>
                <td className="actions">
                  <button type="button" aria-label={`Move tag ${i + 1} up`} disabled={i === 0} onClick={() => move(i, -1)}>
                    ↑
                  </button>
                  <button type="button" aria-label={`Move tag ${i + 1} down`} disabled={i === rows.length - 1} onClick={() => move(i, 1)}>
                    ↓
                  </button>
                  <button type="button" className="danger" aria-label={`Remove tag ${i + 1}`} onClick={() => setRows(rows.filter((_, k) => k !== i))}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : error ? null : (
        <p className="muted">Loading the taxonomy…</p>
      )}
      <div className="row">
        <button type="button" disabled={!rows} onClick={() => setRows([...(rows ?? []), blank()])}>
          Add tag
        </button>
        <button type="button" className="primary" disabled={!rows} onClick={() => void save(rows!)}>
          Save taxonomy
        </button>
        <button type="button" disabled={!rows} onClick={() => void save(DEFAULT_TAXONOMY.tags)}>
          Restore the default
        </button>
        {saved ? (
          <span role="status" className="muted small">
            {saved}
          </span>
        ) : null}
      </div>
      {error ? <ErrorBox error={error} title="Could not save the taxonomy" /> : null}
    </section>
  );
}
