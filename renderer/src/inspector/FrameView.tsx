/**
 * The 2D frame view: the frame image at the artifact's pixel grid, the mask overlay with labels, the
 * pixel linked to the 3D hover, and picks. Pixels are (u = column, v = row); canvas pixel (u, v) covers
 * [u, u+1) x [v, v+1), i.e. the pixel centred at (u, v) in the docs/conventions.md convention.
 */
import { useEffect, useRef, type JSX } from 'react';
import { instanceColor } from './cloud.ts';
import type { MaskOverlay } from './masks2d.ts';

export type FrameImage = { kind: 'rgba'; data: Uint8ClampedArray; width: number; height: number } | { kind: 'bitmap'; bitmap: ImageBitmap } | null;

export interface FrameViewProps {
  /** The artifact's pixel grid. */
  width: number;
  height: number;
  image: FrameImage;
  overlay: MaskOverlay | null;
  labels: string[];
  /** Pixel linked to the 3D hover, or null. */
  cursor: { u: number; v: number } | null;
  /** Picks on this frame (number = position in the pick list). */
  picks: { u: number; v: number; n: number }[];
  onHoverPixel: (p: { u: number; v: number } | null) => void;
  onClickPixel: (p: { u: number; v: number }) => void;
}

export function FrameView(p: FrameViewProps): JSX.Element {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = ref.current;
    const ctx = c?.getContext('2d');
    if (!c || !ctx) return;
    ctx.clearRect(0, 0, c.width, c.height);
    ctx.fillStyle = '#222';
    ctx.fillRect(0, 0, c.width, c.height);
    const img = p.image;
    if (img?.kind === 'rgba') {
      const tmp = new OffscreenCanvas(img.width, img.height);
      tmp.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(tmp, 0, 0, c.width, c.height);
    } else if (img?.kind === 'bitmap') ctx.drawImage(img.bitmap, 0, 0, c.width, c.height);
    const ov = p.overlay;
    if (ov) {
      const tmp = new OffscreenCanvas(ov.width, ov.height);
      tmp.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(ov.rgba), ov.width, ov.height), 0, 0);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(tmp, 0, 0, c.width, c.height);
      const sx = c.width / ov.width, sy = c.height / ov.height;
      ctx.font = `${Math.max(12, Math.round(c.width / 45))}px sans-serif`;
      ctx.textAlign = 'center';
      ov.centroids.forEach((cen, k) => {
        if (!cen) return;
        const [r, g, b] = instanceColor(k);
        const x = (cen[0] + 0.5) * sx, y = (cen[1] + 0.5) * sy;
        const text = p.labels[k] ?? `object ${k}`;
        ctx.lineWidth = 3;
        ctx.strokeStyle = 'rgba(0,0,0,0.8)';
        ctx.strokeText(text, x, y);
        ctx.fillStyle = `rgb(${r},${g},${b})`;
        ctx.fillText(text, x, y);
      });
    }
    const s = Math.max(4, c.width / 80);
    for (const pk of p.picks) {
      ctx.strokeStyle = '#ff2d55';
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(pk.u + 0.5, pk.v + 0.5, s, 0, Math.PI * 2);
      ctx.stroke();
      ctx.fillStyle = '#ff2d55';
      ctx.font = `${Math.round(s * 2.5)}px sans-serif`;
      ctx.fillText(String(pk.n), pk.u + s * 1.5, pk.v - s);
    }
    if (p.cursor) {
      const { u, v } = p.cursor;
      ctx.strokeStyle = '#00e5ff';
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.moveTo(u + 0.5 - 3 * s, v + 0.5);
      ctx.lineTo(u + 0.5 + 3 * s, v + 0.5);
      ctx.moveTo(u + 0.5, v + 0.5 - 3 * s);
      ctx.lineTo(u + 0.5, v + 0.5 + 3 * s);
      ctx.stroke();
    }
  }, [p.image, p.overlay, p.labels, p.cursor, p.picks]);

  const toPixel = (e: React.MouseEvent<HTMLCanvasElement>) => {
    const rect = e.currentTarget.getBoundingClientRect();
    const u = Math.floor(((e.clientX - rect.left) / rect.width) * p.width);
    const v = Math.floor(((e.clientY - rect.top) / rect.height) * p.height);
    return u >= 0 && v >= 0 && u < p.width && v < p.height ? { u, v } : null;
  };
  return (
    <canvas
      ref={ref}
      data-testid="inspector-frame"
      aria-label="frame image with masks; hover a pixel to see its 3D point, click to pick it"
      className="sc-insp-frame"
      width={p.width}
      height={p.height}
      onPointerMove={(e) => p.onHoverPixel(toPixel(e))}
      onPointerLeave={() => p.onHoverPixel(null)}
      onClick={(e) => {
        const px = toPixel(e);
        if (px) p.onClickPixel(px);
      }}
    />
  );
}
