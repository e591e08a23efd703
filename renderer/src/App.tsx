import { Component, lazy, type ReactNode, Suspense, useEffect, useState } from 'react';
import type { WorkbenchApi } from '../../shared/api.ts';
import { AskView } from './components/AskView.tsx';
import { ClusterView } from './components/ClusterView.tsx';
import { CompareView } from './components/CompareView.tsx';
import { ErrorBox } from './components/common.tsx';
import { RunsView } from './components/RunsView.tsx';
import { SettingsView } from './components/SettingsView.tsx';
import { HostProvider, useApi, useUi, uiStore } from './context.tsx';
import { sampleKey, type View } from './stores.ts';

// three.js is heavy: the inspector loads when first opened.
const Inspector = lazy(() => import('./inspector/index.ts').then((m) => ({ default: m.Inspector })));

const VIEWS: { id: View; label: string; blurb: string }[] = [
  { id: 'ask', label: 'Ask', blurb: 'Ask a spatial question about a local video, images or an RGB-D folder and watch the agent work.' },
  { id: 'runs', label: 'Runs', blurb: 'Browse past runs and benchmark results, open a sample and try code in its kernel.' },
  { id: 'compare', label: 'Compare', blurb: 'Compare runs of the same benchmark sample by sample: flips, McNemar\'s test, the paired bootstrap CI of the score difference, per category.' },
  { id: 'cluster', label: 'Cluster', blurb: 'Sharded runs on SLURM shard by shard, your jobs, and the perception and model servers running on the cluster with their health.' },
  { id: 'settings', label: 'Settings', blurb: 'Model endpoints, perception servers, kernel limits and the installation check.' },
];

/** Shows a render error (with its message) instead of a blank screen. */
class ErrorBoundary extends Component<{ children: ReactNode; label: string; onClose?: () => void }, { error: Error | null }> {
  override state: { error: Error | null } = { error: null };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  override render() {
    if (this.state.error) {
      return (
        <div>
          <ErrorBox error={{ message: this.state.error.message, fix: 'reload the page (Ctrl+R); if it happens again, report it with the steps that led here', method: null }} title={`${this.props.label} failed to render`} />
          <button onClick={() => this.setState({ error: null })}>Try again</button>
          {this.props.onClose ? (
            <button onClick={this.props.onClose} aria-label="Close 3D inspector">
              Close
            </button>
          ) : null}
        </div>
      );
    }
    return this.props.children;
  }
}

function InspectorLayer() {
  const api = useApi();
  const target = useUi((s) => s.inspector);
  if (!target) return null;
  const close = () => uiStore.getState().setInspector(null);
  const key = sampleKey(target.artifact.run_id, target.artifact.sample_id);
  return (
    <div className="inspector-layer" onKeyDown={(e) => e.key === 'Escape' && close()}>
      {/* The inspector has its own header and Close; this layer only covers loading and render failures. */}
      <ErrorBoundary label="The 3D inspector" onClose={close}>
        <Suspense
          fallback={
            <div className="inspector-bar row">
              <p className="muted" role="status">
                Loading the 3D inspector for {target.label ?? target.kind} (artifact {target.artifact.artifact_id.slice(0, 8)}…)
              </p>
              <button onClick={close} aria-label="Close 3D inspector">
                Close
              </button>
            </div>
          }
        >
          <Inspector
            api={api}
            artifact={target.artifact}
            kind={target.kind}
            {...(target.label ? { label: target.label } : {})}
            onClose={close}
            onInsertCode={(code) => uiStore.getState().insertCode(key, code)}
          />
        </Suspense>
      </ErrorBoundary>
    </div>
  );
}

/** At every start: a warning while agent kernels run outside the OS sandbox (docs/security.md). */
function SandboxBanner() {
  const api = useApi();
  const [warning, setWarning] = useState('');
  useEffect(() => {
    let live = true;
    api.call('sandboxStatus', {}).then((s) => live && setWarning(s.warning), () => undefined);
    return () => {
      live = false;
    };
  }, [api]);
  if (!warning) return null;
  return (
    <div role="alert" className="sandbox-warning" data-testid="sandbox-warning">
      {warning}
    </div>
  );
}

function CurrentView({ view }: { view: View }) {
  if (view === 'ask') return <AskView />;
  if (view === 'runs') return <RunsView />;
  if (view === 'compare') return <CompareView />;
  if (view === 'cluster') return <ClusterView />;
  return <SettingsView />;
}

export function App({ api, reason }: { api: WorkbenchApi | null; reason: string | null }) {
  const view = useUi((s) => s.view);
  const current = VIEWS.find((v) => v.id === view) ?? VIEWS[0]!;
  return (
    <div className="app">
      <header className="top">
        <h1>SpatialClaw Workbench</h1>
        <nav aria-label="Views">
          {VIEWS.map((v) => (
            <button
              key={v.id}
              aria-pressed={v.id === view}
              onClick={() => {
                // Runs again while in Runs: back to the list.
                if (v.id === 'runs' && view === 'runs') uiStore.getState().openRun(null);
                uiStore.getState().setView(v.id);
              }}
            >
              {v.label}
            </button>
          ))}
        </nav>
        <span className="transport" data-testid="transport">
          {api ? api.transport : 'no host connection'}
        </span>
      </header>
      <main>
        <div className="view-head">
          <h2>{current.label}</h2>
          <p className="muted">{current.blurb}</p>
        </div>
        {api ? (
          <HostProvider api={api}>
            <SandboxBanner />
            <ErrorBoundary key={view} label={`The ${current.label} view`}>
              <CurrentView view={view} />
            </ErrorBoundary>
            <InspectorLayer />
          </HostProvider>
        ) : (
          <div role="alert" className="not-connected">
            <h3>Not connected to a SpatialClaw host</h3>
            <p>{reason ?? 'Open the URL printed by `spatialclaw serve`.'}</p>
            <p className="muted">
              Start the server with <code>npx spatialclaw serve</code> (or <code>npm run serve</code>) and open the <code>http://127.0.0.1:PORT/#token=…</code> URL it prints. In the desktop app this
              connection is made for you.
            </p>
          </div>
        )}
      </main>
    </div>
  );
}
