import { useEffect, useState } from 'react';
import { createPortal } from 'react-dom';
import type { DirListing } from '../../../shared/workbench.ts';
import { type ShownError, toShownError } from '../api.ts';
import { useApi } from '../context.tsx';
import { ErrorBox } from './common.tsx';

/**
 * Icons drawn as inline SVG: they do not depend on a font having the glyph (Debian's chromium with only DejaVu
 * fonts has no emoji, so the folder emoji U+1F4C1 rendered as an empty box).
 */
export function Icon({ kind }: { kind: 'folder' | 'file' | 'close' | 'up' }) {
  const common = { width: 14, height: 14, viewBox: '0 0 16 16', 'aria-hidden': true, focusable: false, className: `icon icon-${kind}` } as const;
  switch (kind) {
    case 'folder':
      return (
        <svg {...common}>
          <path d="M1 3.5A1.5 1.5 0 0 1 2.5 2h3.6l1.5 1.6h5.9A1.5 1.5 0 0 1 15 5.1v7.4a1.5 1.5 0 0 1-1.5 1.5h-11A1.5 1.5 0 0 1 1 12.5z" fill="#d9a93b" />
        </svg>
      );
    case 'file':
      return (
        <svg {...common}>
          <path d="M3.5 1h6L13 4.5v9A1.5 1.5 0 0 1 11.5 15h-8A1.5 1.5 0 0 1 2 13.5v-11A1.5 1.5 0 0 1 3.5 1z" fill="none" stroke="#9aa5b8" strokeWidth="1.2" />
          <path d="M9.5 1v3.5H13" fill="none" stroke="#9aa5b8" strokeWidth="1.2" />
        </svg>
      );
    case 'up':
      return (
        <svg {...common}>
          <path d="M8 3 3 8h3.2v5h3.6V8H13z" fill="currentColor" />
        </svg>
      );
    case 'close':
      return (
        <svg {...common}>
          <path d="M3.5 3.5l9 9M12.5 3.5l-9 9" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
        </svg>
      );
  }
}

/** The host's answer for a path that names a file where a folder was expected (files.ts listDirectory). */
const IS_A_FILE = / is a file, not a folder$/;

/**
 * A host folder browser (`listDir`), the same in Electron and in a browser: type a path and press Go or Enter to
 * list it (again, even when it is the folder shown), navigate folders, pick the current folder or a file. Errors
 * (no such folder, a file, no permission) show under the path box with the host's fix; the last listing stays.
 * Rendered into document.body, outside any form of the page that opens it (a form inside the Ask form would
 * submit the question).
 */
export function FolderBrowser({
  start,
  pick,
  onPick,
  onClose,
}: {
  start: string | null;
  pick: 'file' | 'folder';
  onPick: (path: string) => void;
  onClose: () => void;
}) {
  const api = useApi();
  /** What to list; `n` changes on every Go, so the same path is listed again. */
  const [request, setRequest] = useState<{ path: string | null; n: number }>({ path: start, n: 0 });
  const [listing, setListing] = useState<DirListing | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  /** The request (`n`) whose answer is shown; another one means a listing is under way. */
  const [answered, setAnswered] = useState(-1);
  const loading = answered !== request.n;
  const [typed, setTyped] = useState(start ?? '');
  const go = (path: string | null) => setRequest((r) => ({ path, n: r.n + 1 }));

  useEffect(() => {
    let cancelled = false;
    api.call('listDir', { path: request.path }).then(
      (l) => {
        if (cancelled) return;
        setListing(l);
        setTyped(l.path);
        setError(null);
        setAnswered(request.n);
      },
      (e: unknown) => {
        if (cancelled) return;
        setError(toShownError(e));
        setAnswered(request.n);
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api, request]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && onClose();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);

  const typedFile = error && IS_A_FILE.test(error.message) ? typed.trim() : null;
  return createPortal(
    <div className="modal-backdrop" onClick={onClose}>
      <div role="dialog" aria-modal="true" aria-label="Browse host folders" className="modal folder-browser" onClick={(e) => e.stopPropagation()}>
        <header className="row">
          <h3>Choose a {pick} on the host</h3>
          <button type="button" className="link" onClick={onClose} aria-label="Close folder browser" title="Close">
            <Icon kind="close" />
          </button>
        </header>
        <form
          className="row"
          aria-label="Go to a folder"
          onSubmit={(e) => {
            e.preventDefault();
            e.stopPropagation(); // React events bubble through the portal to the page's own form
            go(typed.trim() || null);
          }}
        >
          <input aria-label="Folder path" value={typed} onChange={(e) => setTyped(e.target.value)} spellCheck={false} placeholder="/path/to/folder (empty: home)" />
          <button type="submit">Go</button>
          <button type="button" disabled={!listing?.parent} onClick={() => listing?.parent && go(listing.parent)} title="Parent folder">
            <Icon kind="up" /> Up
          </button>
        </form>
        {error ? (
          <div className="folder-error">
            <ErrorBox error={error} title="Cannot list the folder" />
            {typedFile && pick === 'file' ? (
              <button type="button" onClick={() => onPick(typedFile)}>
                Choose this file
              </button>
            ) : null}
          </div>
        ) : null}
        <p className="muted small" role="status" aria-label="Folder shown">
          {loading ? 'Listing…' : listing ? `${listing.path}: ${listing.entries.length} entries${error ? ' (still shown: the path above could not be listed)' : ''}` : null}
        </p>
        <ul className="dir-list" aria-label="Folder entries">
          {listing?.entries.map((en) => (
            <li key={en.path}>
              {en.kind === 'dir' ? (
                <button type="button" className="link dir" onClick={() => go(en.path)} onDoubleClick={() => pick === 'folder' && onPick(en.path)}>
                  <Icon kind="folder" /> {en.name}
                </button>
              ) : (
                <button type="button" className="link file" disabled={pick !== 'file'} onClick={() => onPick(en.path)}>
                  <Icon kind="file" /> {en.name}
                  {en.size !== null ? <span className="muted small"> {(en.size / 1024).toFixed(0)} kB</span> : null}
                </button>
              )}
            </li>
          ))}
          {listing && listing.entries.length === 0 ? <li className="muted">(empty folder)</li> : null}
        </ul>
        {pick === 'folder' ? (
          <footer className="row">
            <button type="button" disabled={!listing} onClick={() => listing && onPick(listing.path)}>
              Choose this folder
            </button>
            <span className="muted small">{listing?.path}</span>
          </footer>
        ) : null}
      </div>
    </div>,
    document.body,
  );
}

/** A path text field with a host folder browser and, in Electron, the native dialog. */
export function PathInput({
  label,
  value,
  onChange,
  pick,
  filters,
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  pick: 'file' | 'folder';
  filters?: { name: string; extensions: string[] }[];
}) {
  const api = useApi();
  const [browsing, setBrowsing] = useState(false);
  const dir = value ? value.replace(/[\\/][^\\/]*$/, '') || null : null;
  return (
    <div className="path-input">
      <label className="field">
        <span className="field-label">{label}</span>
        <input value={value} onChange={(e) => onChange(e.target.value)} placeholder={pick === 'file' ? '/path/to/file' : '/path/to/folder'} spellCheck={false} />
      </label>
      <div className="row">
        <button type="button" onClick={() => setBrowsing(true)} aria-label={`Browse host for ${label}`}>
          Browse host…
        </button>
        {api.transport === 'electron' ? (
          <button
            type="button"
            onClick={async () => {
              const r = await api.pickPaths({ kind: pick, title: label, ...(filters ? { filters } : {}) });
              if (r?.[0]) onChange(r[0]);
            }}
          >
            Browse…
          </button>
        ) : null}
      </div>
      {browsing ? (
        <FolderBrowser
          start={pick === 'folder' && value ? value : dir}
          pick={pick}
          onClose={() => setBrowsing(false)}
          onPick={(p) => {
            onChange(p);
            setBrowsing(false);
          }}
        />
      ) : null}
    </div>
  );
}
