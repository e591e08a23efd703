/**
 * The colour legend over the 3D view: what the point colours mean in the current colour mode (RGB; depth and
 * height in metres and confidence with a colour bar and the values at its ends), the lifted masks' labels in
 * their colours, and the colours of the frustums and markers.
 *
 * Test hook: `data-testid="inspector-legend"` with `data-mode` and, for ramp modes, `data-min` / `data-max`.
 */
import type { JSX } from 'react';
import { instanceColor, rampCss, type ColorMode } from './cloud.ts';
import type { Masks, Reconstruction } from './recon.ts';

/** What the ramp of each mode shows, and its unit. */
const RAMP_TEXT: Record<Exclude<ColorMode, 'rgb'>, { what: string; unit: string; digits: number }> = {
  depth: { what: 'depth along each camera’s viewing axis', unit: ' m', digits: 2 },
  height: { what: 'height: world Y (up)', unit: ' m', digits: 2 },
  confidence: { what: 'reconstruction confidence', unit: '', digits: 2 },
};

export interface LegendProps {
  recon: Reconstruction;
  mode: ColorMode;
  /** The ramp's [lo, hi] over the drawn points (null for rgb, or before the cloud is built). */
  range: [number, number] | null;
  /** Masks lifted onto the cloud (their objects' colours are drawn), or null. */
  masks: Masks | null;
  enabledObjects: boolean[];
  showFrustums: boolean;
}

const rgb = (c: [number, number, number]) => `rgb(${c.join(',')})`;

export function Legend({ recon, mode, range, masks, enabledObjects, showFrustums }: LegendProps): JSX.Element {
  const ramp = mode === 'rgb' ? null : RAMP_TEXT[mode];
  const fmt = (x: number) => (ramp ? `${x.toFixed(ramp.digits)}${ramp.unit}` : String(x));
  return (
    <aside className="sc-insp-legend" data-testid="inspector-legend" data-mode={mode} data-min={range?.[0]} data-max={range?.[1]} aria-label="colour legend">
      <strong>Colour: {mode}</strong>
      {mode === 'rgb' ? (
        <p>{recon.colors ? 'each point has its pixel’s colour in the frame' : 'this reconstruction has no colours: points are grey'}</p>
      ) : mode === 'confidence' && !recon.confidence ? (
        <p>this reconstruction has no confidence: every point counts as 1 (red)</p>
      ) : (
        <>
          <p>{ramp!.what}</p>
          <div className="sc-insp-bar" style={{ background: rampCss() }} role="img" aria-label={`colour bar from ${range ? fmt(range[0]) : '…'} to ${range ? fmt(range[1]) : '…'}`} />
          <div className="sc-insp-bar-ends">
            <span data-testid="legend-min">{range ? fmt(range[0]) : '…'}</span>
            <span data-testid="legend-max">{range ? fmt(range[1]) : '…'}</span>
          </div>
          {mode !== 'confidence' ? <p className="sc-insp-dim">2nd–98th percentile of the drawn points; beyond it the end colours</p> : null}
        </>
      )}
      {masks ? (
        <>
          <strong>Masks (lifted)</strong>
          <ul>
            {masks.labels.map((l, k) =>
              enabledObjects[k] === false ? null : (
                <li key={k}>
                  <span className="sc-insp-swatch" style={{ background: rgb(instanceColor(k)) }} /> {l}
                </li>
              ),
            )}
            <li className="sc-insp-dim">other points dimmed to 30 %</li>
          </ul>
        </>
      ) : null}
      <ul className="sc-insp-keys">
        {showFrustums ? (
          <li>
            <span className="sc-insp-swatch" style={{ background: '#ff7a3d' }} /> camera · <span className="sc-insp-swatch" style={{ background: '#ffd400' }} /> frame in the 2D view
          </li>
        ) : null}
        <li>
          <span className="sc-insp-swatch" style={{ background: '#ff2d55' }} /> picks · <span className="sc-insp-swatch" style={{ background: '#00e5ff' }} /> hovered pixel
        </li>
      </ul>
    </aside>
  );
}
