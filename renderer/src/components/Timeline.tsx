import { useVirtualizer } from '@tanstack/react-virtual';
import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { ShownError } from '../api.ts';
import { useApi, useSamples, useSamplesStore, useUi, uiStore } from '../context.tsx';
import { sampleKey, type SampleState } from '../stores.ts';
import { outcomeOf } from '../sample-summary.ts';
import { cellStatusLine, errorLine, isArtifactId, type ModelCall, type StepImage, type Timeline, timelineItems, type TimelineStep } from '../timeline.ts';
import { AnnotationBar } from './Annotations.tsx';
import { Code, ErrorBox, fmtSeconds, fmtTokens, LazyImage, LongText } from './common.tsx';
import { ImageViewer, type ViewerImage } from './ImageViewer.tsx';
import { Markdown } from './Markdown.tsx';
import { RequestButton } from './RequestView.tsx';
import { SampleHeader } from './SampleHeader.tsx';

function base64Bytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * A step's `show()` images as thumbnails; a click (or Enter) on one opens it in the image viewer at its pixel
 * size, where the arrow keys move between this step's images.
 */
function StepImages({ runId, sampleId, images }: { runId: string; sampleId: string; images: StepImage[] }) {
  const api = useApi();
  const [open, setOpen] = useState<number | null>(null);
  const viewerImages = useMemo<ViewerImage[]>(
    () =>
      images.map((im) => ({
        key: im.key,
        label: im.label,
        path: im.path,
        width: im.width,
        height: im.height,
        load: () => (im.path ? api.call('sampleImage', { run_id: runId, sample_id: sampleId, path: im.path }) : Promise.resolve(base64Bytes(im.png ?? ''))),
      })),
    [api, runId, sampleId, images],
  );
  if (!images.length) return null;
  return (
    <div className="step-images" aria-label="images">
      {viewerImages.map((im, i) => (
        <figure key={im.key}>
          <button className="image-open" aria-label={`Open image ${im.label ?? im.path ?? i + 1} (${im.width}×${im.height}) full size`} aria-haspopup="dialog" onClick={() => setOpen(i)}>
            <LazyImage alt={im.label ?? im.path ?? 'image'} width={im.width} height={im.height} load={im.load} />
          </button>
          <figcaption>{im.label ?? im.path}</figcaption>
        </figure>
      ))}
      {open !== null && open < viewerImages.length ? (
        <ImageViewer images={viewerImages} index={open} onIndex={setOpen} onClose={() => setOpen(null)} openInTab={api.transport === 'http'} />
      ) : null}
    </div>
  );
}

/**
 * A `<details>` whose content is mounted only while it is open: a reply shown rendered above is not also in the
 * page as hidden text (text search and find-in-page then meet it once).
 */
function LazyDetails({ summary, children }: { summary: string; children: () => React.ReactNode }) {
  const [open, setOpen] = useState(false);
  return (
    <details onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>{summary}</summary>
      {open ? children() : null}
    </details>
  );
}

/** What a sample-level model call is called in the timeline, and the title of its Request view. */
function callTitles(call: ModelCall, all: readonly ModelCall[]): { heading: string; request: string } {
  const same = all.filter((c) => c.role === call.role);
  const n = same.length > 1 ? ` ${same.indexOf(call) + 1}` : '';
  if (call.role === 'planner') return { heading: `Planner call${n}`, request: `planner call${n}` };
  if (call.role === 'fallback') return { heading: `Answer fallback call${n}`, request: `answer fallback call${n}` };
  return { heading: `${call.role} call${n}`, request: `${call.role} call${n}` };
}

/**
 * A model call of the sample rather than of a step (the planner, the answer fallback): its reply as received,
 * the model's thinking, a parse error, tokens, latency, and the Request it sent.
 */
export const CallCard = memo(function CallCard({ call, all, runId, sampleId }: { call: ModelCall; all: readonly ModelCall[]; runId: string; sampleId: string }) {
  const { heading, request } = callTitles(call, all);
  const tokens = call.usage.prompt_tokens + call.usage.completion_tokens;
  const failed = call.raw === '' && call.parseError !== null;
  return (
    <article className={`step model-call role-${call.role}`} aria-label={heading}>
      <header className="step-head">
        <h4>{heading}</h4>
        <span className={`badge ${failed ? 'status-error' : ''}`}>{call.role}</span>
        {tokens ? <span className="muted small">{fmtTokens(tokens)} tokens</span> : null}
        <span className="muted small">{fmtSeconds(call.latencyMs / 1000)}</span>
        {call.attempts > 1 ? <span className="muted small">{call.attempts} attempts</span> : null}
        <span className="muted small call-meta">{call.endpoint}</span>
        <RequestButton runId={runId} sampleId={sampleId} call={call} title={request} />
      </header>
      {call.parseError ? (
        <div className="parse-error" role="alert">
          <strong>{failed ? 'The call failed:' : 'Reply could not be parsed:'}</strong> {call.parseError}
        </div>
      ) : null}
      {call.thinking ? (
        <details className="thinking">
          <summary>Model thinking</summary>
          <LongText text={call.thinking} label={`${heading} thinking`} />
        </details>
      ) : null}
      {call.raw === '' ? null : call.role === 'planner' ? (
        // The plan above is this reply, rendered; the exact text is one click away.
        <LazyDetails summary="Reply as received">{() => <LongText text={call.raw} label={`${heading} reply`} />}</LazyDetails>
      ) : (
        <>
          <Markdown text={call.raw} label={`${heading} reply`} />
          <LazyDetails summary="Reply as received">{() => <LongText text={call.raw} label={`${heading} raw reply`} />}</LazyDetails>
        </>
      )}
    </article>
  );
});

/** One step of a timeline (agent or console), the same for live and recorded samples. */
export const StepCard = memo(function StepCard({ step, runId, sampleId }: { step: TimelineStep; runId: string; sampleId: string }) {
  const cell = step.cell;
  const status = cell ? cell.status : step.parseError ? 'parse_error' : 'running';
  const title = step.origin === 'human' ? 'Console cell' : `Step ${step.step}`;
  const vlm = step.calls.filter((c) => c.role === 'vlm');
  return (
    <article className={`step step-${status} origin-${step.origin}`} aria-label={`${title}${step.purpose ? `: ${step.purpose}` : ''}`}>
      <header className="step-head">
        <h4>
          {title}
          {step.purpose ? <span className="purpose">{step.purpose}</span> : null}
        </h4>
        <span className={`badge status-${status}`}>{cell ? cellStatusLine(cell) : step.parseError ? 'unparseable reply' : 'running…'}</span>
        {step.tokens ? <span className="muted small">{fmtTokens(step.tokens)} tokens</span> : null}
        {step.durationMs ? <span className="muted small">{fmtSeconds(step.durationMs / 1000)}</span> : null}
        {step.calls
          .filter((c) => c.role === 'main')
          .map((c) => (
            <RequestButton key={c.key} runId={runId} sampleId={sampleId} call={c} title={`step ${step.step} model call`} />
          ))}
      </header>
      {step.origin === 'agent' && step.step > 0 ? <AnnotationBar runId={runId} sampleId={sampleId} step={step.step} compact /> : null}
      {step.reasoning ? (
        <p className="reasoning">
          <span className="muted">Reasoning: </span>
          {step.reasoning}
        </p>
      ) : null}
      {step.nextGoal ? (
        <p className="next-goal">
          <span className="muted">Next goal: </span>
          {step.nextGoal}
        </p>
      ) : null}
      {step.thinking ? (
        <details className="thinking">
          <summary>Model thinking</summary>
          <LongText text={step.thinking} label="model thinking" />
        </details>
      ) : null}
      {step.parseError ? (
        <div className="parse-error" role="alert">
          <strong>Reply could not be parsed:</strong> {step.parseError}
          {step.raw ? <LongText text={step.raw} label="raw reply" /> : null}
        </div>
      ) : null}
      {step.code ? <Code code={step.code} errorLine={errorLine(step)} label={`${title} code`} /> : null}
      {cell?.stdout ? <LongText text={cell.stdout} label="stdout" className="stdout" /> : null}
      {cell?.stderr ? <LongText text={cell.stderr} label="stderr" className="stderr" /> : null}
      {cell?.result ? <LongText text={cell.result} label="result" className="result" /> : null}
      {cell?.error ? (
        <div className="cell-error" role="alert" aria-label="cell error">
          <strong>
            {cell.error.ename}: {cell.error.evalue}
          </strong>
          {cell.error.lineno !== null ? (
            <span className="muted">
              {' '}
              at line {cell.error.lineno}
              {cell.error.line ? `: ${cell.error.line}` : ''}
            </span>
          ) : null}
          {cell.error.traceback.length ? (
            <details>
              <summary>Traceback</summary>
              <LongText text={cell.error.traceback.join('\n')} label="traceback" />
            </details>
          ) : null}
        </div>
      ) : null}
      {cell?.violations.length ? (
        <ul className="violations" aria-label="safety violations">
          {cell.violations.map((v, i) => (
            <li key={i}>
              line {v.line}: {v.message} <span className="muted">({v.rule})</span>
            </li>
          ))}
        </ul>
      ) : null}
      {cell?.answer ? (
        <p className="cell-answer">
          ReturnAnswer: <strong>{String(cell.answer.answer)}</strong>
        </p>
      ) : null}
      {cell?.variables.length ? (
        <table className="variables" aria-label="variables">
          <tbody>
            {cell.variables.map((v) => (
              <tr key={v.name}>
                <td className="var-name">{v.name}</td>
                <td className="var-type">{v.type}</td>
                <td className="var-line">{v.line}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <StepImages runId={runId} sampleId={sampleId} images={step.images} />
      {step.artifacts.length ? (
        <ul className="artifacts" aria-label="tool calls">
          {step.artifacts.map((a) => (
            <li key={a.id}>
              <code>{a.tool}</code> → {a.kind}
              <span className="muted"> {a.summary}</span>
              {isArtifactId(a.id) ? (
                <button
                  className="small-btn"
                  onClick={() => uiStore.getState().setInspector({ artifact: { run_id: runId, sample_id: sampleId, artifact_id: a.id }, kind: a.kind, label: `${a.tool} (step ${step.step})` })}
                >
                  Open in 3D
                </button>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
      {step.vlmCalls.length ? (
        <section className="vlm-calls" aria-label={`${title} VLM calls`}>
          <h5>VLM calls ({step.vlmCalls.length})</h5>
          <ol>
            {step.vlmCalls.map((v, i) => (
              <li key={i} aria-label={`VLM call ${i + 1}`}>
                <span className="muted">{v.prompt ?? 'prompt'}</span>
                {vlm[i] ? <span className="muted small"> · {fmtSeconds(vlm[i].latencyMs / 1000)}</span> : null}
                <RequestButton runId={runId} sampleId={sampleId} call={vlm[i]} title={`step ${step.step} VLM call ${i + 1}`} />
                {v.error ? <p className="error">{v.error}</p> : <Markdown text={v.text} label={`${title} VLM call ${i + 1} reply`} />}
              </li>
            ))}
          </ol>
        </section>
      ) : null}
      {cell?.notes.length ? <p className="notes muted">{cell.notes.join(' · ')}</p> : null}
      {step.observation ? (
        <details className="observation">
          <summary>Observation sent to the model</summary>
          <LongText text={step.observation} label="observation" />
        </details>
      ) : null}
    </article>
  );
});

function Head({ tl, state }: { tl: Timeline; state: SampleState }) {
  const live = state.live;
  // Before its first step the host reports where the question is (task `ask <run>/<sample>`).
  const phase = useSamples((s) => s.progress[`ask ${state.runId}/${state.sampleId}`]);
  return (
    <section className="tl-head" aria-label="plan">
      {tl.plan ? (
        tl.plan.error ? (
          <p className="error">Planner failed: {tl.plan.error}</p>
        ) : (
          <>
            <h4>Plan</h4>
            {tl.plan.text ? <Markdown text={tl.plan.text} label="plan text" className="plan" /> : <p className="muted">(empty plan)</p>}
          </>
        )
      ) : (
        <p className="muted" role={live ? 'status' : undefined}>
          {live ? (phase && !phase.done ? `${phase.message[0]!.toUpperCase()}${phase.message.slice(1)}…` : 'Waiting for the plan and the first step…') : 'No plan recorded.'}
        </p>
      )}
    </section>
  );
}

function End({ tl, state }: { tl: Timeline; state: SampleState }) {
  const r = state.result;
  return (
    <section className="tl-end" aria-label="answer">
      {tl.answer ? (
        <p className="final-answer">
          Answer: <strong data-testid="final-answer">{String(tl.answer.answer)}</strong> <span className="muted">({tl.answer.source})</span>
        </p>
      ) : (
        <p className="muted">No answer.</p>
      )}
      {tl.fallbackCall ? <p className="muted small">The answer fallback asked the model once more (the call above).</p> : null}
      {r && r.ground_truth !== null ? (
        <p>
          Ground truth: <strong>{String(r.ground_truth)}</strong> · score {r.score === null ? '—' : `${r.score.toFixed(2)} (${outcomeOf(r.score)})`}
        </p>
      ) : null}
      {tl.termination ? (
        <p className="muted">
          Ended: {tl.termination.reason}
          {tl.termination.detail ? ` — ${tl.termination.detail}` : ''}
        </p>
      ) : null}
    </section>
  );
}

/**
 * A sample's step timeline, virtualised (@tanstack/react-virtual): only the rows in view (plus a small
 * overscan) are mounted, so 30 steps with hundreds of images stay responsive; images load when
 * visible. Follows the end while the user is at the bottom (live samples).
 */
export function TimelineList({ state }: { state: SampleState }) {
  const tl = state.timeline;
  const items = useMemo(() => timelineItems(tl), [tl]);
  const scrollRef = useRef<HTMLDivElement>(null);
  // Follow the end of a live sample; a recorded one opens at the top.
  const atBottom = useRef(state.live);
  // eslint-disable-next-line react-hooks/incompatible-library -- the virtualizer is read during render only
  const virtualizer = useVirtualizer({
    count: items.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => 320,
    overscan: 2,
    getItemKey: (i) => items[i]!.key,
  });
  const onScroll = useCallback(() => {
    const el = scrollRef.current;
    if (el) atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  }, []);
  useEffect(() => {
    if (atBottom.current && items.length > 1) virtualizer.scrollToIndex(items.length - 1, { align: 'end' });
  }, [items.length, virtualizer]);
  // A new console cell: show it (it is the last row).
  const consoleCount = tl.console.length;
  const seenConsole = useRef(consoleCount);
  useEffect(() => {
    if (consoleCount > seenConsole.current) {
      atBottom.current = true;
      virtualizer.scrollToIndex(items.length - 1, { align: 'end' });
    }
    seenConsole.current = consoleCount;
  }, [consoleCount, items.length, virtualizer]);

  return (
    <div className="timeline" ref={scrollRef} onScroll={onScroll} role="feed" aria-label="Step timeline" aria-busy={state.live}>
      <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
        {virtualizer.getVirtualItems().map((v) => {
          const it = items[v.index]!;
          return (
            <div key={v.key} data-index={v.index} ref={virtualizer.measureElement} className="tl-row" style={{ transform: `translateY(${v.start}px)` }}>
              {it.kind === 'head' ? <Head tl={tl} state={state} /> : null}
              {it.kind === 'call' ? <CallCard call={it.call} all={tl.sampleCalls} runId={state.runId} sampleId={state.sampleId} /> : null}
              {it.kind === 'step' || it.kind === 'console' ? <StepCard step={it.step} runId={state.runId} sampleId={state.sampleId} /> : null}
              {it.kind === 'end' ? <End tl={tl} state={state} /> : null}
              {it.kind === 'console-head' ? <h4 className="console-head">Console cells</h4> : null}
            </div>
          );
        })}
      </div>
    </div>
  );
}

/** The kernel console under a sample's timeline: runs a human cell (live kernel, or a replayed one). */
export function ConsoleInput({ state }: { state: SampleState }) {
  const key = sampleKey(state.runId, state.sampleId);
  const draft = useUi((s) => s.drafts[key] ?? '');
  const samples = useSamplesStore();
  const progress = useSamples((s) => s.progress);
  const [since, setSince] = useState(0);
  const run = async () => {
    const code = draft.trim();
    if (!code || state.consolePending) return;
    setSince(Date.now());
    const r = await samples.getState().runConsole(state.runId, state.sampleId, draft);
    if (r) uiStore.getState().setDraft(key, '');
  };
  // The host reports a replay as progress of the task `replay <run>/<sample>`.
  const active = state.consolePending ? Object.entries(progress).filter(([task, p]) => task === `replay ${key}` && p.at >= since - 1000 && !p.done) : [];
  return (
    <section className="console" aria-label="Kernel console">
      <label className="field">
        <span className="field-label">
          Console cell <span className="muted small">({state.live ? "runs in the sample's live kernel" : 'runs in a fresh kernel restored by replaying the recorded cells'}; Ctrl+Enter)</span>
        </span>
        <textarea
          aria-label="Console cell"
          value={draft}
          rows={3}
          spellCheck={false}
          placeholder="print(Metadata)"
          onChange={(e) => uiStore.getState().setDraft(key, e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
              e.preventDefault();
              void run();
            }
          }}
        />
      </label>
      <div className="row">
        <button onClick={() => void run()} disabled={state.consolePending || !draft.trim()}>
          {state.consolePending ? 'Running…' : 'Run cell'}
        </button>
        {state.consolePending ? (
          <span role="status" className="muted">
            {active.length ? active.map(([, p]) => p.message).join(' · ') : state.live ? 'running…' : 'restoring state by replay…'}
          </span>
        ) : null}
      </div>
      {state.consoleError ? <ErrorBox error={state.consoleError} title="Console cell failed" /> : null}
    </section>
  );
}

/** Live counters and the Stop button of a sample. */
function SampleBar({ state }: { state: SampleState }) {
  const samples = useSamplesStore();
  const [stopError, setStopError] = useState<ShownError | null>(null);
  const [stopping, setStopping] = useState(false);
  const tl = state.timeline;
  const c = state.counters;
  const prompt = c?.prompt_tokens ?? tl.usage.prompt_tokens;
  const completion = c?.completion_tokens ?? tl.usage.completion_tokens;
  const elapsed = c?.elapsed_s ?? state.result?.duration_s ?? null;
  const status = state.live ? 'running' : state.result?.termination ?? tl.termination?.reason ?? (state.loading ? 'loading' : 'recorded');
  return (
    <div className="sample-bar">
      <span className={`badge status-${status}`} data-testid="sample-status">
        {status}
      </span>
      <span data-testid="counters">
        {fmtTokens(prompt)} prompt + {fmtTokens(completion)} completion tokens
        {elapsed !== null ? ` · ${fmtSeconds(elapsed)}` : ''} · {tl.steps.length} steps
      </span>
      {state.live ? (
        <button
          className="danger"
          disabled={stopping}
          onClick={async () => {
            setStopping(true);
            const e = await samples.getState().stop(state.runId, state.sampleId);
            setStopError(e);
            setStopping(false);
          }}
        >
          {stopping ? 'Stopping…' : 'Stop'}
        </button>
      ) : null}
      {stopError ? <ErrorBox error={stopError} title="Stop failed" /> : null}
    </div>
  );
}

/**
 * A sample: question, counters, the step timeline and the kernel console. Used by the Ask view (live)
 * and by the Runs view (recorded or live); loads the recorded events once.
 */
export function SampleView({ runId, sampleId }: { runId: string; sampleId: string }) {
  const samples = useSamplesStore();
  const state = useSamples((s) => s.samples[sampleKey(runId, sampleId)]);
  useEffect(() => {
    void samples.getState().load(runId, sampleId);
  }, [samples, runId, sampleId]);
  if (!state) return <p className="muted">Loading sample {sampleId}…</p>;
  return (
    <section className="sample-view" aria-label={`Sample ${sampleId}`}>
      <SampleHeader tl={state.timeline} result={state.result} fallbackTitle={sampleId} />
      <SampleBar state={state} />
      {state.loadError ? <ErrorBox error={state.loadError} title="Could not load the sample's events" /> : null}
      {state.doneError ? <ErrorBox error={{ message: state.doneError, fix: null, method: null }} title="The sample failed" /> : null}
      <TimelineList state={state} />
      <ConsoleInput state={state} />
    </section>
  );
}
