import { useEffect, useRef, useState } from 'react';
import { createPortal } from 'react-dom';
import type { RequestMessage, RequestPart } from '../../../shared/run.ts';
import { type ShownError, toShownError } from '../api.ts';
import { useApi } from '../context.tsx';
import type { ModelCall } from '../timeline.ts';
import { ErrorBox, fmtSeconds, LazyImage, LongText } from './common.tsx';

type ImagePart = Extract<RequestPart, { type: 'image' }>;

/** Message text longer than this is shown cut until expanded. */
const TEXT_PREVIEW_CHARS = 1500;

const fmtBytes = (n: number): string => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} kB`);
const mimeOf = (path: string): string => (path.endsWith('.jpg') ? 'image/jpeg' : 'image/png');

/**
 * "Request" control of one model call: opens a view of exactly what the call sent. Nothing for a call
 * recorded before requests were kept.
 */
export function RequestButton({ runId, sampleId, call, title }: { runId: string; sampleId: string; call: ModelCall | null | undefined; title: string }) {
  const [open, setOpen] = useState(false);
  const trigger = useRef<HTMLButtonElement>(null);
  if (!call?.request) return null;
  const close = () => {
    setOpen(false);
    trigger.current?.focus();
  };
  return (
    <>
      <button ref={trigger} className="small-btn request-btn" aria-haspopup="dialog" aria-label={`Request sent: ${title}`} onClick={() => setOpen(true)}>
        Request
      </button>
      {open ? createPortal(<RequestDialog runId={runId} sampleId={sampleId} call={call} title={title} onClose={close} />, document.body) : null}
    </>
  );
}

/** A call's token usage, one row per count. */
function UsageTable({ usage }: { usage: ModelCall['usage'] }) {
  const rows: [string, number | undefined][] = [['prompt tokens', usage.prompt_tokens], ['completion tokens', usage.completion_tokens], ['reasoning tokens', usage.reasoning_tokens]];
  return (
    <table className="request-table" aria-label="Token usage">
      <tbody>
        {rows.map(([name, n]) =>
          n === undefined ? null : (
            <tr key={name}>
              <th scope="row">{name}</th>
              <td>{n.toLocaleString('en')}</td>
            </tr>
          ),
        )}
      </tbody>
    </table>
  );
}

/** The request body's fields besides the messages, as JSON values. */
function ParamsTable({ params }: { params: Record<string, unknown> }) {
  const entries = Object.entries(params);
  return (
    <table className="request-table" aria-label="Request parameters">
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k}>
            <th scope="row">{k}</th>
            <td>
              <code>{JSON.stringify(v)}</code>
            </td>
          </tr>
        ))}
        {entries.length === 0 ? (
          <tr>
            <td className="muted">none recorded (a stand-in model sent nothing)</td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}

/** One message: its role, then its parts in order (text, and image thumbnails at the size sent). */
function MessageItem({ m, n, loadImage, onOpen }: { m: RequestMessage; n: number; loadImage: (p: ImagePart) => () => Promise<Uint8Array>; onOpen: (p: ImagePart) => void }) {
  // 1-based number of each image part within the message.
  const numbers = m.parts.reduce<number[]>((acc, p) => [...acc, (acc.at(-1) ?? 0) + (p.type === 'image' ? 1 : 0)], []);
  return (
    <li className={`request-message role-${m.role}`} aria-label={`Message ${n}: ${m.role}`}>
      <span className={`badge role-${m.role}`}>{m.role}</span>
      {m.parts.map((p, k) =>
        p.type === 'text' ? (
          <LongText key={k} text={p.text} label={`message ${n} text`} max={TEXT_PREVIEW_CHARS} collapsible />
        ) : (
          <figure key={k} className="request-image">
            <button className="request-thumb" aria-label={`Open image ${numbers[k]} (${p.width}×${p.height}) full size`} onClick={() => onOpen(p)}>
              <LazyImage alt={`image ${numbers[k]} sent, ${p.width}×${p.height}`} width={p.width} height={p.height} mime={mimeOf(p.path)} load={loadImage(p)} />
            </button>
            <figcaption>
              {p.width}×{p.height} · {fmtBytes(p.bytes)}
            </figcaption>
          </figure>
        ),
      )}
    </li>
  );
}

/** An image at the size it was sent, over the request view; focus returns to its thumbnail on close. */
function FullImage({ part, load, onClose }: { part: ImagePart; load: () => Promise<Uint8Array>; onClose: () => void }) {
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const back = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    closeRef.current?.focus();
    return () => back?.focus();
  }, []);
  return (
    <div className="request-full" role="dialog" aria-modal="true" aria-label={`Image ${part.width}×${part.height} as sent`} onClick={onClose}>
      <button ref={closeRef} className="link" aria-label="Close image" onClick={onClose}>
        ✕ {part.width}×{part.height} · {fmtBytes(part.bytes)} · {part.path}
      </button>
      <div style={{ width: part.width }}>
        <LazyImage alt={`${part.path} at the size sent`} width={part.width} height={part.height} mime={mimeOf(part.path)} load={load} />
      </div>
    </div>
  );
}

/** The messages a call sent (fetched with `requestMessages`), its parameters and its token usage. */
function RequestDialog({ runId, sampleId, call, title, onClose }: { runId: string; sampleId: string; call: ModelCall; title: string; onClose: () => void }) {
  const api = useApi();
  const request = call.request!;
  const [messages, setMessages] = useState<RequestMessage[] | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const [full, setFull] = useState<ImagePart | null>(null);
  const closeRef = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    closeRef.current?.focus();
  }, []);
  useEffect(() => {
    let cancelled = false;
    api.call('requestMessages', { run_id: runId, sample_id: sampleId, messages: request.messages }).then(
      (r) => !cancelled && setMessages(r.messages),
      (e: unknown) => !cancelled && setError(toShownError(e)),
    );
    return () => {
      cancelled = true;
    };
  }, [api, runId, sampleId, request.messages]);

  const loadImage = (part: ImagePart) => () => api.call('sampleImage', { run_id: runId, sample_id: sampleId, path: part.path });
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div
        role="dialog"
        aria-modal="true"
        aria-label={`Request sent: ${title}`}
        className="modal request-view"
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => {
          if (e.key !== 'Escape') return;
          e.stopPropagation();
          if (full) setFull(null);
          else onClose();
        }}
      >
        <header className="row">
          <h3>Request sent: {title}</h3>
          <button ref={closeRef} className="link" onClick={onClose} aria-label="Close request view">
            ✕
          </button>
        </header>
        <div className="request-body">
          <p className="muted small" data-testid="request-summary">
            {request.messages.length} messages · {request.images} images · {request.text_chars.toLocaleString('en')} characters of text · {call.endpoint} ·{' '}
            {fmtSeconds(call.latencyMs / 1000)}
            {call.attempts > 1 ? ` · ${call.attempts} attempts` : ''}
          </p>
          <div className="request-meta">
            <section aria-label="Usage">
              <h4>Token usage</h4>
              <UsageTable usage={call.usage} />
            </section>
            <section aria-label="Parameters">
              <h4>Parameters</h4>
              <ParamsTable params={request.params} />
            </section>
          </div>
          <h4>Messages{messages ? ` (${messages.length})` : ''}</h4>
          {error ? <ErrorBox error={error} title="Could not load the messages" /> : null}
          {messages === null && !error ? (
            <p className="muted" role="status">
              Loading the messages…
            </p>
          ) : null}
          {messages ? (
            <ol className="request-messages" aria-label="Messages">
              {messages.map((m, i) => (
                <MessageItem key={i} m={m} n={i + 1} loadImage={loadImage} onOpen={setFull} />
              ))}
            </ol>
          ) : null}
        </div>
        {full ? <FullImage part={full} load={loadImage(full)} onClose={() => setFull(null)} /> : null}
      </div>
    </div>
  );
}
