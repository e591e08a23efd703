import { Highlight, themes } from 'prism-react-renderer';
import { useEffect, useRef, useState } from 'react';
import type { ShownError } from '../api.ts';

/** A failure: the host's message and, when it gave one, how to fix it. Never blank. */
export function ErrorBox({ error, title }: { error: ShownError; title?: string }) {
  return (
    <div role="alert" className="error-box">
      <strong>{title ?? 'Error'}</strong>
      {error.method ? <span className="muted"> ({error.method})</span> : null}: {error.message || 'unknown error'}
      {error.fix ? (
        <div className="fix">
          <span className="muted">Fix: </span>
          <code>{error.fix}</code>
        </div>
      ) : null}
    </div>
  );
}

/** Python code with syntax highlighting and line numbers; `errorLine` (1-based) is marked. */
export function Code({ code, errorLine, label }: { code: string; errorLine?: number | null; label?: string }) {
  return (
    <Highlight code={code.replace(/\n$/, '')} language="python" theme={themes.vsDark}>
      {({ className, tokens, getLineProps, getTokenProps }) => (
        <pre className={`code ${className}`} aria-label={label ?? 'code'}>
          {tokens.map((line, i) => {
            const n = i + 1;
            const bad = errorLine === n;
            const props = getLineProps({ line });
            return (
              <div key={i} {...props} className={`${props.className ?? ''} code-line${bad ? ' error-line' : ''}`} data-line={n} {...(bad ? { 'aria-label': `failing line ${n}` } : {})}>
                <span className="ln" aria-hidden="true">
                  {n}
                </span>
                {line.map((token, k) => (
                  <span key={k} {...getTokenProps({ token })} />
                ))}
              </div>
            );
          })}
        </pre>
      )}
    </Highlight>
  );
}

/** Long text (stdout, tracebacks) capped at `max` characters until expanded; `collapsible` offers to cap it again. */
export function LongText({ text, label, className, max = 20_000, collapsible = false }: { text: string; label: string; className?: string; max?: number; collapsible?: boolean }) {
  const [all, setAll] = useState(false);
  const long = text.length > max;
  const cut = !all && long;
  return (
    <div className={`longtext ${className ?? ''}`}>
      <pre aria-label={label}>{cut ? `${text.slice(0, max)}\n…` : text}</pre>
      {cut ? (
        <button className="link" aria-expanded={false} onClick={() => setAll(true)}>
          show all {Math.round(text.length / 1000)} kB
        </button>
      ) : null}
      {collapsible && long && all ? (
        <button className="link" aria-expanded={true} onClick={() => setAll(false)}>
          collapse
        </button>
      ) : null}
    </div>
  );
}

/**
 * An image fetched from the host only once it is visible (IntersectionObserver), shown from a blob
 * URL that is revoked when the component unmounts. `load` returns the image bytes.
 */
export function LazyImage({
  load,
  alt,
  width,
  height,
  mime = 'image/png',
  className,
}: {
  load: () => Promise<Uint8Array>;
  alt: string;
  width: number;
  height: number;
  mime?: string;
  className?: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  // Without IntersectionObserver (old engines) every image loads at once.
  const [visible, setVisible] = useState(typeof IntersectionObserver === 'undefined');
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const loadRef = useRef(load);
  useEffect(() => {
    loadRef.current = load;
  });

  useEffect(() => {
    const el = ref.current;
    if (!el || visible) return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) {
        setVisible(true);
        io.disconnect();
      }
    }, { rootMargin: '200px' });
    io.observe(el);
    return () => io.disconnect();
  }, [visible]);

  useEffect(() => {
    if (!visible) return;
    let cancelled = false;
    let made: string | null = null;
    loadRef.current().then(
      (bytes) => {
        if (cancelled) return;
        made = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: mime }));
        setUrl(made);
      },
      (e: unknown) => {
        if (!cancelled) setError(e instanceof Error ? e.message : String(e));
      },
    );
    return () => {
      cancelled = true;
      if (made) URL.revokeObjectURL(made);
    };
  }, [visible, mime]);

  const ratio = width > 0 && height > 0 ? `${width} / ${height}` : '4 / 3';
  return (
    <div ref={ref} className={`lazy-image ${className ?? ''}`} style={{ aspectRatio: ratio }}>
      {url ? <img src={url} alt={alt} /> : error ? <span className="error small" role="alert">{alt}: {error}</span> : <span className="muted small">{alt}</span>}
    </div>
  );
}

/** A labelled form row. */
export function Field({ label, children, hint }: { label: string; children: React.ReactNode; hint?: string }) {
  return (
    <label className="field">
      <span className="field-label">{label}</span>
      {children}
      {hint ? <span className="hint">{hint}</span> : null}
    </label>
  );
}

/** Text inputs bound to the string fields of one form object (add-endpoint / add-server forms). */
export function TextFields<F extends Record<string, string>>({
  form,
  setForm,
  fields,
}: {
  form: F;
  setForm: (f: F) => void;
  fields: { key: keyof F & string; label: string; placeholder: string; hint?: string }[];
}) {
  return (
    <>
      {fields.map((f) => (
        <Field key={f.key} label={f.label} {...(f.hint ? { hint: f.hint } : {})}>
          <input value={form[f.key]} onChange={(e) => setForm({ ...form, [f.key]: e.target.value })} placeholder={f.placeholder} />
        </Field>
      ))}
    </>
  );
}

export const fmtSeconds = (s: number): string => (s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);
export const fmtTokens = (n: number): string => (n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : String(n));
export const fmtDate = (iso: string | null): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z?$|Z$/, '') : '—');
