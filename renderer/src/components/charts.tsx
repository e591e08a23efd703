/**
 * A plotly.js chart as a React component: renders a {@link Figure} into a div, updates it in place with
 * `Plotly.react` when the figure changes, purges it on unmount, and offers PNG and SVG export
 * (`Plotly.downloadImage`, at the figure's own size; PNG at 2x pixel density).
 *
 * plotly.js is loaded on first use (a dynamic import: its bundle is a chunk of its own), so views without
 * charts paint without it.
 */
import { useEffect, useRef, useState } from 'react';
import type { Figure } from '../results-figures.ts';

type PlotlyApi = typeof import('plotly.js-dist-min').default;

let plotly: Promise<PlotlyApi> | null = null;

/** plotly.js, imported once; a failed import is tried again on the next call. */
export function loadPlotly(): Promise<PlotlyApi> {
  if (!plotly) {
    plotly = import('plotly.js-dist-min').then((m) => (m.default ?? m) as PlotlyApi);
    plotly.catch(() => {
      plotly = null;
    });
  }
  return plotly;
}

/** Interaction without plotly's own toolbar (export is ours), at a fixed size. */
const CONFIG = { displayModeBar: false, displaylogo: false, responsive: false, scrollZoom: false } as const;

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export interface PlotlyChartProps {
  figure: Figure;
  /** What the chart shows: its accessible name and the heading of its card. */
  label: string;
  /** `data-testid` of the card. */
  testId: string;
  /** Download file name without the extension. */
  filename: string;
}

/** One chart card: the label, PNG / SVG export buttons and the plot. */
export function PlotlyChart({ figure, label, testId, filename }: PlotlyChartProps) {
  const ref = useRef<HTMLDivElement>(null);
  const [api, setApi] = useState<PlotlyApi | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [exporting, setExporting] = useState<'png' | 'svg' | null>(null);

  useEffect(() => {
    let alive = true;
    loadPlotly().then(
      (p) => {
        if (alive) setApi(p);
      },
      (e: unknown) => {
        if (alive) setError(`the charting library (plotly.js) could not be loaded: ${message(e)}`);
      },
    );
    return () => {
      alive = false;
    };
  }, []);

  // Draw, or update in place (Plotly.react only re-renders what changed).
  useEffect(() => {
    const el = ref.current;
    if (!api || !el) return;
    api.react(el, figure.data, figure.layout, CONFIG).then(
      () => setError(null),
      (e: unknown) => setError(`the chart could not be drawn: ${message(e)}`),
    );
  }, [api, figure]);

  // Free plotly's listeners and DOM when the card goes.
  useEffect(() => {
    const el = ref.current;
    if (!api || !el) return;
    return () => api.purge(el);
  }, [api]);

  const exportAs = async (format: 'png' | 'svg') => {
    const el = ref.current;
    if (!api || !el) return;
    setExporting(format);
    try {
      await api.downloadImage(el, { format, filename, width: figure.width, height: figure.height, scale: format === 'png' ? 2 : 1 });
    } catch (e) {
      setError(`export as ${format.toUpperCase()} failed: ${message(e)}`);
    } finally {
      setExporting(null);
    }
  };

  return (
    <figure className="results-chart" aria-label={label} data-testid={testId}>
      <figcaption className="results-chart-head">
        <span>{label}</span>
        <span className="results-chart-export">
          {(['png', 'svg'] as const).map((f) => (
            <button key={f} className="small-btn" disabled={!api || exporting !== null} aria-label={`Export ${label} as ${f.toUpperCase()}`} onClick={() => void exportAs(f)}>
              {exporting === f ? '…' : f.toUpperCase()}
            </button>
          ))}
        </span>
      </figcaption>
      {/* plotly owns this div's children: React puts nothing inside it. */}
      <div ref={ref} className="results-plot" style={{ width: figure.width, height: figure.height }} />
      {!api && !error ? <p className="muted small results-chart-loading">Loading the chart…</p> : null}
      {error ? (
        <p role="alert" className="error small">
          {error}
        </p>
      ) : null}
    </figure>
  );
}
