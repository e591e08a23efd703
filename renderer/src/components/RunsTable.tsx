/**
 * The table of runs: a checkbox to pick runs for comparison, the run (a button that opens it, or its id), kind,
 * status, model, creation time and samples done. Used by the Runs list and the Compare view's run picker.
 */
import type { RunRow } from '../../../shared/workbench.ts';
import { fmtDate } from './common.tsx';

export function RunsTable({
  runs,
  picked,
  onPick,
  onOpen,
  label,
}: {
  runs: readonly RunRow[];
  /** Run ids checked for comparison. */
  picked: readonly string[];
  onPick: (runId: string) => void;
  /** Open a run; without it the id is plain text. */
  onOpen?: (runId: string) => void;
  label: string;
}) {
  return (
    <table className="runs" aria-label={label}>
      <thead>
        <tr>
          <th>Compare</th>
          <th>Run</th>
          <th>Kind</th>
          <th>Status</th>
          <th>Model</th>
          <th>Created</th>
          <th>Samples</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr key={r.id} className={picked.includes(r.id) ? 'compare-picked-row' : ''}>
            <td>
              <input type="checkbox" aria-label={`Select ${r.id} for comparison`} checked={picked.includes(r.id)} onChange={() => onPick(r.id)} />
            </td>
            <td>
              {onOpen ? (
                <button className="link" onClick={() => onOpen(r.id)}>
                  {r.id}
                </button>
              ) : (
                <code>{r.id}</code>
              )}
              {r.matched_question ? (
                <div className="muted small matched-question" title={r.matched_question}>
                  question: {r.matched_question}
                </div>
              ) : null}
            </td>
            <td>{r.kind ?? '—'}</td>
            <td>
              <span className={`badge status-${r.status}`}>{r.live ? 'live' : r.status}</span>
              {r.error ? <span className="error small"> {r.error}</span> : null}
            </td>
            <td>{r.model ?? '—'}</td>
            <td>{fmtDate(r.created_at)}</td>
            <td>
              {r.done} / {r.total_samples}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
