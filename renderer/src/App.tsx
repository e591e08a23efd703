import { useEffect } from 'react';
import { getApi } from './api.ts';
import { useUi, type View } from './store.ts';

const VIEWS: { id: View; label: string; blurb: string }[] = [
  { id: 'ask', label: 'Ask', blurb: 'Ask a spatial question about a local video, images or an RGB-D folder and watch the agent work.' },
  { id: 'runs', label: 'Runs', blurb: 'Browse past runs and benchmark results, and annotate failure cases.' },
  { id: 'settings', label: 'Settings', blurb: 'Model endpoints, perception servers, kernel limits and the installation check.' },
];

function DoctorPanel() {
  const { doctor, doctorError } = useUi();
  if (doctorError) return <p role="alert" className="error">Installation check failed: {doctorError}</p>;
  if (!doctor) return <p className="muted">Running the installation check...</p>;
  return (
    <table className="doctor" aria-label="Installation check">
      <tbody>
        {doctor.checks.map((c) => (
          <tr key={c.id} className={c.ok ? 'ok' : c.required ? 'missing' : 'optional'}>
            <td>{c.ok ? 'OK' : c.required ? 'MISSING' : 'missing'}</td>
            <td>{c.label}</td>
            <td>
              {c.detail}
              {c.fix ? <code className="fix">{c.fix}</code> : null}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function App() {
  const { view, setView, setDoctor } = useUi();
  const api = getApi();

  useEffect(() => {
    if (!api) return;
    api.runDoctor().then(
      (r) => setDoctor(r),
      (e: unknown) => setDoctor(null, e instanceof Error ? e.message : String(e)),
    );
  }, [api, setDoctor]);

  const current = VIEWS.find((v) => v.id === view) ?? VIEWS[0]!;
  return (
    <div className="app">
      <header>
        <h1>SpatialClaw Workbench</h1>
        <nav aria-label="Views">
          {VIEWS.map((v) => (
            <button key={v.id} aria-pressed={v.id === view} onClick={() => setView(v.id)}>
              {v.label}
            </button>
          ))}
        </nav>
        <span className="transport" data-testid="transport">{api ? api.transport : 'no host connection'}</span>
      </header>
      <main>
        <h2>{current.label}</h2>
        <p className="muted">{current.blurb}</p>
        {view === 'settings' ? (
          api ? <DoctorPanel /> : <p className="muted">Not connected to a SpatialClaw host: open the URL printed by the workbench server.</p>
        ) : null}
      </main>
    </div>
  );
}
