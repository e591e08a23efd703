import { useEffect, useState } from 'react';
import type { DirListing } from '../../../shared/workbench.ts';
import { type ShownError, toShownError } from '../api.ts';
import { useApi } from '../context.tsx';
import { ErrorBox } from './common.tsx';

/**
 * A host folder browser (`listDir`), the same in Electron and in a browser: navigate folders, pick the
 * current folder or a file.
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
  const [path, setPath] = useState<string | null>(start);
  const [listing, setListing] = useState<DirListing | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const [typed, setTyped] = useState(start ?? '');

  useEffect(() => {
    let cancelled = false;
    api.call('listDir', { path }).then(
      (l) => {
        if (cancelled) return;
        setListing(l);
        setTyped(l.path);
        setError(null);
      },
      (e: unknown) => {
        if (!cancelled) setError(toShownError(e));
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api, path]);

  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div role="dialog" aria-modal="true" aria-label="Browse host folders" className="modal folder-browser" onClick={(e) => e.stopPropagation()}>
        <header className="row">
          <h3>Choose a {pick} on the host</h3>
          <button className="link" onClick={onClose} aria-label="Close folder browser">
            ✕
          </button>
        </header>
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            setPath(typed.trim() || null);
          }}
        >
          <input aria-label="Folder path" value={typed} onChange={(e) => setTyped(e.target.value)} />
          <button type="submit">Go</button>
          <button type="button" disabled={!listing?.parent} onClick={() => listing?.parent && setPath(listing.parent)}>
            Up
          </button>
        </form>
        {error ? <ErrorBox error={error} title="Cannot list the folder" /> : null}
        <ul className="dir-list" aria-label="Folder entries">
          {listing?.entries.map((en) => (
            <li key={en.path}>
              {en.kind === 'dir' ? (
                <button className="link dir" onClick={() => setPath(en.path)} onDoubleClick={() => pick === 'folder' && onPick(en.path)}>
                  📁 {en.name}
                </button>
              ) : (
                <button className="link file" disabled={pick !== 'file'} onClick={() => onPick(en.path)}>
                  {en.name}
                  {en.size !== null ? <span className="muted small"> {(en.size / 1024).toFixed(0)} kB</span> : null}
                </button>
              )}
            </li>
          ))}
          {listing && listing.entries.length === 0 ? <li className="muted">(empty folder)</li> : null}
        </ul>
        {pick === 'folder' ? (
          <footer className="row">
            <button disabled={!listing} onClick={() => listing && onPick(listing.path)}>
              Choose this folder
            </button>
            <span className="muted small">{listing?.path}</span>
          </footer>
        ) : null}
      </div>
    </div>
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
