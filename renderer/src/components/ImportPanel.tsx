/**
 * Import a SpatialClaw work dir (`importWorkdir`, the same importer as `spatialclaw import DIR`): pick the folder on
 * the host, optionally the benchmarks' data root, import, read the report (samples, scores, problems), open the run.
 */
import { useState } from 'react';
import type { ImportReport } from '../../../shared/import.ts';
import { type ShownError, toShownError } from '../api.ts';
import { uiStore, useApi, useRunsStore } from '../context.tsx';
import { ErrorBox } from './common.tsx';
import { PathInput } from './PathPicker.tsx';

export function ImportPanel() {
  const api = useApi();
  const runs = useRunsStore();
  const [open, setOpen] = useState(false);
  const [path, setPath] = useState('');
  const [dataRoot, setDataRoot] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ShownError | null>(null);
  const [report, setReport] = useState<ImportReport | null>(null);
  if (!open) {
    return (
      <button type="button" onClick={() => setOpen(true)}>
        Import SpatialClaw work dir…
      </button>
    );
  }
  const run = async () => {
    setBusy(true);
    setError(null);
    setReport(null);
    try {
      const r = await api.call('importWorkdir', { path: path.trim(), ...(dataRoot.trim() ? { data_root: dataRoot.trim() } : {}) });
      setReport(r);
      void runs.getState().loadRuns();
    } catch (e) {
      setError(toShownError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="import-panel" aria-label="Import a SpatialClaw work dir">
      <p className="muted small">
        A work dir of the paper&apos;s own runner (predictions.jsonl, session-&lt;id&gt;/trace.jsonl, show_images/) becomes a run you can browse, tag, export and compare. See docs/import.md.
      </p>
      <PathInput label="Work dir" value={path} onChange={setPath} pick="folder" />
      <PathInput label="Data root (optional: real inputs and question types)" value={dataRoot} onChange={setDataRoot} pick="folder" />
      <div className="row">
        <button type="button" className="primary" disabled={busy || !path.trim()} onClick={() => void run()}>
          {busy ? 'Importing…' : 'Import'}
        </button>
        <button type="button" onClick={() => setOpen(false)}>
          Close
        </button>
      </div>
      {error ? <ErrorBox error={error} title="Could not import" /> : null}
      {report ? (
        <div role="status" aria-label="Import report" className="import-report">
          <p>
            Imported <strong>{report.samples}</strong> samples into run <strong>{report.run_id}</strong> ({report.with_trace} with a session trace, {report.without_trace} from predictions.jsonl
            alone) · benchmark {report.benchmark ?? 'not recorded'} · model {report.model ?? 'not recorded'} · {report.scored} scored
            {report.mean_score !== null ? `, mean ${(100 * report.mean_score).toFixed(1)}%` : ''} · {report.images} show() images
          </p>
          {report.problems.length ? (
            <details open>
              <summary>{report.problems.length} problems (the rest was imported)</summary>
              <ul>
                {report.problems.slice(0, 50).map((p, i) => (
                  <li key={i}>
                    <code>{p.where}</code>: {p.message}
                  </li>
                ))}
              </ul>
            </details>
          ) : (
            <p className="muted small">no problems</p>
          )}
          {report.notes.map((n, i) => (
            <p key={i} className="muted small">
              note: {n}
            </p>
          ))}
          <button type="button" onClick={() => uiStore.getState().openRun(report.run_id)}>
            Open run {report.run_id}
          </button>
        </div>
      ) : null}
    </section>
  );
}
