/**
 * The image viewer (lightbox) of the step timeline: a `show()` image, opened from its thumbnail, at its
 * pixel size (or fitted to the window), with its label and pixel size, the step's other images one arrow key
 * away, and a link to the image alone. A modal dialog: focus moves to its Close button and returns to the
 * thumbnail on close; Escape and Close close it; ← / → (and Home / End) move between the step's images.
 *
 * The bytes come from `load` (the sample's PNG through `sampleImage`, or a live cell's inline PNG) and are
 * shown from a blob URL that is revoked when the image changes or the viewer closes.
 */
import { useEffect, useRef, useState } from 'react';
import { createPortal } from 'react-dom';
import './sample-view.css';

/** One image the viewer can show. */
export interface ViewerImage {
  key: string;
  /** The label given to `show()`, or null. */
  label: string | null;
  /** Where the image is (`images/step001_1.png`), or null for an inline image. */
  path: string | null;
  /** Pixel size as recorded (the loaded image's own size is shown once it has loaded). */
  width: number;
  height: number;
  mime?: string;
  load: () => Promise<Uint8Array>;
}

/** What an image is called: its label, else its file, else its position. */
export const imageName = (im: ViewerImage, i: number): string => im.label ?? im.path ?? `image ${i + 1}`;

/**
 * The image index a key moves to among `count` images (no wrap-around), or null when the key does not
 * navigate. ArrowRight / ArrowDown: next; ArrowLeft / ArrowUp: previous; Home: first; End: last.
 */
export function navigate(key: string, index: number, count: number): number | null {
  if (count <= 0) return null;
  const clamp = (i: number) => Math.min(count - 1, Math.max(0, i));
  switch (key) {
    case 'ArrowRight':
    case 'ArrowDown':
      return clamp(index + 1);
    case 'ArrowLeft':
    case 'ArrowUp':
      return clamp(index - 1);
    case 'Home':
      return 0;
    case 'End':
      return count - 1;
    default:
      return null;
  }
}

/** A file name for saving an image: its path's last part, else its label made safe. */
export function saveName(im: ViewerImage, i: number): string {
  if (im.path) return im.path.split('/').pop()!;
  const base = (im.label ?? `image-${i + 1}`).replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^_+|_+$/g, '') || `image-${i + 1}`;
  return `${base}.png`;
}

export interface ImageViewerProps {
  images: ViewerImage[];
  /** The image shown (position in `images`). */
  index: number;
  onIndex: (i: number) => void;
  onClose: () => void;
  /**
   * Offer "Open image alone" (the image in a browser tab of its own). Off in Electron, whose window handler
   * refuses new windows that are not https; "Save" is offered everywhere.
   */
  openInTab: boolean;
}

type Loaded = { key: string; url: string; naturalWidth: number | null; naturalHeight: number | null } | { key: string; error: string };

/** The viewer, rendered into `document.body` (above the virtualised timeline and its transforms). */
export function ImageViewer(props: ImageViewerProps) {
  return createPortal(<ImageViewerDialog {...props} />, document.body);
}

/** The viewer's backdrop and dialog (rendered in place; {@link ImageViewer} portals it). */
export function ImageViewerDialog({ images, index, onIndex, onClose, openInTab }: ImageViewerProps) {
  const im = images[index];
  const closeRef = useRef<HTMLButtonElement>(null);
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [fit, setFit] = useState(false);

  // Focus the Close button; give focus back to whatever opened the viewer (the thumbnail) on close.
  useEffect(() => {
    const back = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    closeRef.current?.focus();
    return () => back?.focus();
  }, []);

  const loadRef = useRef(im?.load);
  useEffect(() => {
    loadRef.current = im?.load;
  });
  const key = im?.key ?? null;
  const mime = im?.mime ?? 'image/png';
  useEffect(() => {
    const load = loadRef.current;
    if (key === null || !load) return;
    let cancelled = false;
    let made: string | null = null;
    load().then(
      (bytes) => {
        if (cancelled) return;
        made = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: mime }));
        setLoaded({ key, url: made, naturalWidth: null, naturalHeight: null });
      },
      (e: unknown) => {
        if (!cancelled) setLoaded({ key, error: e instanceof Error ? e.message : String(e) });
      },
    );
    return () => {
      cancelled = true;
      if (made) URL.revokeObjectURL(made);
    };
  }, [key, mime]);

  if (!im) return null;
  const name = imageName(im, index);
  const current = loaded?.key === im.key ? loaded : null;
  const url = current && 'url' in current ? current.url : null;
  const w = current && 'url' in current && current.naturalWidth !== null ? current.naturalWidth : im.width;
  const h = current && 'url' in current && current.naturalHeight !== null ? current.naturalHeight : im.height;
  const count = images.length;

  return (
    <div className="iv-backdrop" onClick={onClose}>
      <div
        role="dialog"
        aria-modal="true"
        aria-label={`Image: ${name}`}
        tabIndex={-1}
        className="iv"
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => {
          // A modal dialog: no key reaches the views behind it (their shortcuts, the inspector's Escape).
          e.stopPropagation();
          if (e.key === 'Escape') {
            e.preventDefault();
            onClose();
            return;
          }
          const to = navigate(e.key, index, count);
          if (to === null) return;
          e.preventDefault();
          if (to !== index) onIndex(to);
        }}
      >
        <header className="iv-head">
          <strong className="iv-label" data-testid="image-viewer-label">
            {name}
          </strong>
          <span className="muted" data-testid="image-viewer-size">
            {w}×{h} px
          </span>
          {count > 1 ? (
            <span className="muted" data-testid="image-viewer-position">
              {index + 1} of {count}
            </span>
          ) : null}
          <span className="iv-actions">
            {count > 1 ? (
              <>
                <button className="small-btn" aria-label="Previous image" disabled={index === 0} onClick={() => onIndex(index - 1)}>
                  ←
                </button>
                <button className="small-btn" aria-label="Next image" disabled={index === count - 1} onClick={() => onIndex(index + 1)}>
                  →
                </button>
              </>
            ) : null}
            <button className="small-btn" aria-pressed={fit} onClick={() => setFit(!fit)}>
              Fit to window
            </button>
            {url && openInTab ? (
              <a className="small-btn" href={url} target="_blank" rel="noopener noreferrer">
                Open image alone
              </a>
            ) : null}
            {url ? (
              <a className="small-btn" href={url} download={saveName(im, index)}>
                Save
              </a>
            ) : null}
            <button ref={closeRef} className="small-btn" aria-label="Close image viewer" onClick={onClose}>
              Close
            </button>
          </span>
        </header>
        <div className={`iv-body${fit ? ' iv-fit' : ''}`}>
          {url ? (
            <img
              src={url}
              alt={`${name} at full size`}
              data-testid="image-viewer-image"
              onLoad={(e) => {
                const el = e.currentTarget;
                setLoaded((l) => (l && l.key === im.key && 'url' in l ? { ...l, naturalWidth: el.naturalWidth, naturalHeight: el.naturalHeight } : l));
              }}
            />
          ) : current && 'error' in current ? (
            <p role="alert" className="error">
              Could not load {name}: {current.error}
            </p>
          ) : (
            <p role="status" className="muted">
              Loading {name}…
            </p>
          )}
        </div>
      </div>
    </div>
  );
}
