/**
 * Failure triage of a run, in the style of FiftyOne: facets with counts and filters on the left, the matching samples
 * as a list or a grid on the right. Keyboard: j / k select the next / previous sample, Enter opens it, 1–9 toggle the
 * taxonomy's first nine tags on the selected sample, g switches list/grid, / focuses the search.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { type RefObject, useEffect, useRef, useState } from 'react';
import type { SampleFilter, TriageRow } from '../../../shared/triage.ts';
import { type ShownError, toShownError } from '../api.ts';
import { uiStore, useApi, useTriage, useTriageStore } from '../context.tsx';
import { activeFilter, type ListFacet, type TriageSort } from '../triage-store.ts';
import { AnnotationBar, TagChips, tagLabel } from './Annotations.tsx';
import { ErrorBox, fmtSeconds } from './common.tsx';

const FACETS: { key: ListFacet; title: string }[] = [
  { key: 'outcome', title: 'Outcome' },
  { key: 'benchmark', title: 'Benchmark' },
  { key: 'question_type', title: 'Question type' },
  { key: 'termination', title: 'Termination' },
  { key: 'error_class', title: 'Error class' },
  { key: 'tags', title: 'Tags' },
];

/** Whether the key event comes from a text field (where j, k and digits are typing, not commands). */
function typing(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  if (!t) return false;
  const tag = t.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || t.isContentEditable;
}

/**
 * j/k, Enter and 1–9 for the triage list and, while a sample of the run is open, for the sample view (next/previous
 * sample in the filtered order, tags on the open sample). Mounted once per open run.
 */
export function useTriageKeys(runId: string): void {
  const store = useTriageStore();
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
      const st = store.getState();
      if (st.runId !== runId) return;
      const ui = uiStore.getState();
      const openId = ui.openRunId === runId ? ui.openSampleId : null;
      if (e.key === 'j' || e.key === 'k') {
        e.preventDefault();
        const from = openId ? st.indexOf(openId) : st.selected;
        if (openId && from >= 0) st.select(from);
        void st.move(e.key === 'j' ? 1 : -1).then((i) => {
          const row = store.getState().rowAt(i);
          if (openId && row) ui.openSample(row.result.id);
        });
      } else if ((e.key === 'Enter' || e.key === 'o') && !openId) {
        const row = st.rowAt(st.selected);
        if (row) {
          e.preventDefault();
          ui.openSample(row.result.id);
        }
      } else if (/^[1-9]$/.test(e.key)) {
        const tag = st.taxonomy?.tags[Number(e.key) - 1];
        const id = openId ?? st.rowAt(st.selected)?.result.id;
        if (tag && id) {
          e.preventDefault();
          void st.toggleTag(id, null, tag.id);
        }
      } else if (e.key === 'g' && !openId) {
        st.setMode(st.mode === 'list' ? 'grid' : 'list');
      } else if (e.key === '/' && !openId) {
        e.preventDefault();
        document.querySelector<HTMLInputElement>('input[aria-label="Search samples"]')?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [store, runId]);
}

function RangeFilter({ label, field, unit }: { label: string; field: 'score' | 'steps' | 'duration_s'; unit?: string }) {
  const store = useTriageStore();
  const value = useTriage((s) => s.filter[field]);
  const range = useTriage((s) => s.ranges?.[field] ?? null);
  const set = (which: 'min' | 'max', raw: string) => {
    const n = raw.trim() === '' ? undefined : Number(raw);
    if (n !== undefined && !Number.isFinite(n)) return;
    const next = { ...(value ?? {}), [which]: n };
    store.getState().setFilter({ [field]: next.min === undefined && next.max === undefined ? undefined : next } as Partial<SampleFilter>);
  };
  const step = field === 'score' ? 0.05 : field === 'steps' ? 1 : 0.5;
  return (
    <fieldset className="facet range">
      <legend>
        {label}
        {range ? <span className="muted small"> ({range[0]}–{range[1]}{unit ?? ''})</span> : null}
      </legend>
      <input type="number" step={step} aria-label={`${label} at least`} placeholder="min" value={value?.min ?? ''} onChange={(e) => set('min', e.target.value)} />
      <span className="muted">–</span>
      <input type="number" step={step} aria-label={`${label} at most`} placeholder="max" value={value?.max ?? ''} onChange={(e) => set('max', e.target.value)} />
    </fieldset>
  );
}

const NO_COUNTS: readonly { value: string; count: number }[] = [];

function BoolFacet({ label, field }: { label: string; field: 'tool_failures' | 'fallback_used' }) {
  const store = useTriageStore();
  const value = useTriage((s) => s.filter[field]);
  const counts = useTriage((s) => s.facets?.[field]) ?? NO_COUNTS;
  const count = (v: string) => counts.find((c) => c.value === v)?.count ?? 0;
  return (
    <fieldset className="facet">
      <legend>{label}</legend>
      {(['true', 'false'] as const).map((v) => (
        <label key={v} className="facet-value">
          <input
            type="checkbox"
            checked={value === (v === 'true')}
            onChange={(e) => store.getState().setFilter({ [field]: e.target.checked ? v === 'true' : undefined } as Partial<SampleFilter>)}
          />
          {v === 'true' ? 'yes' : 'no'} <span className="count">{count(v)}</span>
        </label>
      ))}
    </fieldset>
  );
}

function FacetPanel() {
  const store = useTriageStore();
  const facets = useTriage((s) => s.facets);
  const filter = useTriage((s) => s.filter);
  const taxonomy = useTriage((s) => s.taxonomy);
  const active = Object.keys(activeFilter(filter)).length;
  return (
    <aside className="facets" aria-label="Filters">
      <div className="row">
        <strong>Filters</strong>
        <button className="link small" disabled={!active} onClick={() => store.getState().clearFilter()}>
          clear{active ? ` (${active})` : ''}
        </button>
      </div>
      <RangeFilter label="Score" field="score" />
      {FACETS.map(({ key, title }) => {
        const values = facets?.[key] ?? [];
        const chosen = (filter[key] as string[] | undefined) ?? [];
        if (!values.length && !chosen.length) return null;
        return (
          <fieldset key={key} className="facet" aria-label={title}>
            <legend>{title}</legend>
            {values.map((v) => (
              <label key={v.value} className={`facet-value ${v.count ? '' : 'muted'}`}>
                <input type="checkbox" checked={chosen.includes(v.value)} onChange={() => store.getState().toggleFacet(key, v.value)} />
                {key === 'tags' && v.value !== 'untagged' ? tagLabel(taxonomy, v.value) : v.value} <span className="count">{v.count}</span>
              </label>
            ))}
          </fieldset>
        );
      })}
      <BoolFacet label="Tool failures" field="tool_failures" />
      <BoolFacet label="Fallback used" field="fallback_used" />
      <RangeFilter label="Steps" field="steps" />
      <RangeFilter label="Duration" field="duration_s" unit=" s" />
    </aside>
  );
}

const fmtValue = (v: string | number | null): string => (v === null ? '—' : String(v));
const scoreClass = (r: TriageRow): string => (r.derived.correct === null ? 'unscored' : r.derived.correct ? 'correct' : 'wrong');

const COLS = ['Sample', 'Question', 'Answer', 'Ground truth', 'Score', 'Steps', 'Time', 'Tags'];
const ROW_H = 34;

function ListRow({ row, index, selected }: { row: TriageRow | undefined; index: number; selected: boolean }) {
  const store = useTriageStore();
  const taxonomy = useTriage((s) => s.taxonomy);
  if (!row) {
    return (
      <div role="row" className="srow placeholder" aria-rowindex={index + 2}>
        <div role="cell" className="muted">
          #{index + 1} loading…
        </div>
      </div>
    );
  }
  const r = row.result;
  return (
    <div
      role="row"
      className={`srow term-${r.termination} ${selected ? 'selected' : ''}`}
      aria-rowindex={index + 2}
      aria-selected={selected}
      data-sample={r.id}
      onClick={() => store.getState().select(index)}
      onDoubleClick={() => uiStore.getState().openSample(r.id)}
    >
      <div role="cell">
        <button className="link" onClick={() => uiStore.getState().openSample(r.id)}>
          {r.id}
        </button>
      </div>
      <div role="cell" className="q" title={r.question}>
        {r.question}
      </div>
      <div role="cell">{r.answer === null ? <span className="muted">—</span> : String(r.answer)}</div>
      <div role="cell">{r.ground_truth === null ? <span className="muted">—</span> : String(r.ground_truth)}</div>
      <div role="cell" className={`score ${scoreClass(row)}`}>
        {r.score === null ? '—' : r.score.toFixed(2)}
      </div>
      <div role="cell">
        {r.steps}
        {row.derived.tool_failures ? <span className="badge warn small" title={`${row.derived.tool_failures} failed cells (${row.derived.error_class ?? 'error'})`}> {row.derived.tool_failures}✗</span> : null}
      </div>
      <div role="cell">{fmtSeconds(r.duration_s)}</div>
      <div role="cell" className="tags-cell">
        <TagChips tags={row.derived.tags} taxonomy={taxonomy} />
      </div>
    </div>
  );
}

function TriageList() {
  const store = useTriageStore();
  const total = useTriage((s) => s.total);
  const pages = useTriage((s) => s.pages);
  const pageSize = useTriage((s) => s.pageSize);
  const selected = useTriage((s) => s.selected);
  const scrollRef = useRef<HTMLDivElement>(null);
  const count = total ?? 0;
  // eslint-disable-next-line react-hooks/incompatible-library -- the virtualizer is read during render only
  const virtualizer = useVirtualizer({ count, getScrollElement: () => scrollRef.current, estimateSize: () => ROW_H, overscan: 10 });
  const items = virtualizer.getVirtualItems();
  const first = items[0]?.index ?? 0;
  const last = items.at(-1)?.index ?? 0;
  useEffect(() => {
    if (count > 0) void store.getState().ensureRows(first, last + 1);
  }, [store, first, last, count]);
  useEffect(() => {
    if (count > 0) virtualizer.scrollToIndex(selected, { align: 'auto' });
  }, [virtualizer, selected, count]);
  return (
    <div role="table" aria-label="Samples" aria-rowcount={count + 1} className="samples-table triage-list">
      <div role="rowgroup">
        <div role="row" className="srow shead" aria-rowindex={1}>
          {COLS.map((c) => (
            <div role="columnheader" key={c}>
              {c}
            </div>
          ))}
        </div>
      </div>
      <div role="rowgroup" className="samples-scroll" ref={scrollRef}>
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {items.map((v) => (
            <div key={v.key} className="vrow" style={{ height: ROW_H, transform: `translateY(${v.start}px)` }}>
              <ListRow row={pages[Math.floor(v.index / pageSize)]?.[v.index % pageSize]} index={v.index} selected={v.index === selected} />
            </div>
          ))}
        </div>
        {total === 0 ? <p className="muted">No finished samples match (yet, or with these filters).</p> : null}
      </div>
    </div>
  );
}

const CARD_W = 280;
const CARD_H = 128;

function Card({ row, index, selected }: { row: TriageRow | undefined; index: number; selected: boolean }) {
  const store = useTriageStore();
  const taxonomy = useTriage((s) => s.taxonomy);
  if (!row) return <div className="card placeholder muted">#{index + 1} loading…</div>;
  const r = row.result;
  return (
    <div
      className={`card ${scoreClass(row)} ${selected ? 'selected' : ''}`}
      role="gridcell"
      aria-selected={selected}
      data-sample={r.id}
      tabIndex={-1}
      onClick={() => store.getState().select(index)}
      onDoubleClick={() => uiStore.getState().openSample(r.id)}
    >
      <div className="row card-head">
        <button className="link" onClick={() => uiStore.getState().openSample(r.id)}>
          {r.id}
        </button>
        <span className={`score-badge ${scoreClass(row)}`}>{r.score === null ? 'unscored' : `${row.derived.correct ? '✓' : '✗'} ${r.score.toFixed(2)}`}</span>
      </div>
      <div className="muted small">{[row.derived.benchmark, r.question_type].filter(Boolean).join(' · ') || '—'}</div>
      <p className="card-q" title={r.question}>
        {r.question}
      </p>
      <div className="small">
        answer <strong>{fmtValue(r.answer)}</strong> · truth <strong>{fmtValue(r.ground_truth)}</strong>
      </div>
      <div className="small muted">
        {r.steps} step{r.steps === 1 ? "" : "s"} · {fmtSeconds(r.duration_s)} · {r.termination}
        {row.derived.error_class ? ` · ${row.derived.error_class}` : ''}
        {row.derived.fallback_used ? ' · fallback' : ''}
      </div>
      <TagChips tags={row.derived.tags} taxonomy={taxonomy} />
    </div>
  );
}

function TriageGrid() {
  const store = useTriageStore();
  const total = useTriage((s) => s.total);
  const pages = useTriage((s) => s.pages);
  const pageSize = useTriage((s) => s.pageSize);
  const selected = useTriage((s) => s.selected);
  const scrollRef = useRef<HTMLDivElement>(null);
  const width = useWidth(scrollRef);
  const perRow = Math.max(1, Math.floor(width / (CARD_W + 10)));
  const count = total ?? 0;
  const rowCount = Math.ceil(count / perRow);
  // eslint-disable-next-line react-hooks/incompatible-library -- the virtualizer is read during render only
  const virtualizer = useVirtualizer({ count: rowCount, getScrollElement: () => scrollRef.current, estimateSize: () => CARD_H + 10, overscan: 3 });
  const items = virtualizer.getVirtualItems();
  const first = (items[0]?.index ?? 0) * perRow;
  const last = ((items.at(-1)?.index ?? 0) + 1) * perRow;
  useEffect(() => {
    if (count > 0) void store.getState().ensureRows(first, last);
  }, [store, first, last, count]);
  useEffect(() => {
    if (count > 0) virtualizer.scrollToIndex(Math.floor(selected / perRow), { align: 'auto' });
  }, [virtualizer, selected, perRow, count]);
  return (
    <div className="triage-grid samples-scroll" ref={scrollRef} role="grid" aria-label="Sample grid" aria-rowcount={rowCount}>
      <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
        {items.map((v) => (
          <div key={v.key} role="row" className="card-row" style={{ height: CARD_H + 10, transform: `translateY(${v.start}px)` }}>
            {Array.from({ length: perRow }, (_, k) => v.index * perRow + k)
              .filter((i) => i < count)
              .map((i) => (
                <Card key={i} row={pages[Math.floor(i / pageSize)]?.[i % pageSize]} index={i} selected={i === selected} />
              ))}
          </div>
        ))}
      </div>
      {total === 0 ? <p className="muted">No finished samples match (yet, or with these filters).</p> : null}
    </div>
  );
}

/** The width of an element, following resizes. */
function useWidth(ref: RefObject<HTMLElement | null>): number {
  const [w, setW] = useState(900);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    setW(el.clientWidth || 900);
    const ro = new ResizeObserver(() => setW(el.clientWidth || 900));
    ro.observe(el);
    return () => ro.disconnect();
  }, [ref, setW]);
  return w;
}

/** The selected sample: its tags and notes, editable (number keys toggle the first nine tags). */
function SelectedPanel({ runId }: { runId: string }) {
  const selected = useTriage((s) => s.selected);
  const row = useTriage((s) => s.rowAt(s.selected));
  const total = useTriage((s) => s.total);
  if (!row || !total) return null;
  return (
    <section className="triage-selected" aria-label="Selected sample">
      <div className="row">
        <strong>
          {selected + 1} / {total}: {row.result.id}
        </strong>
        <button onClick={() => uiStore.getState().openSample(row.result.id)}>Open (Enter)</button>
        <span className="muted small">j / k: next / previous · 1–9: tags · g: grid/list · /: search</span>
      </div>
      <AnnotationBar runId={runId} sampleId={row.result.id} step={null} compact />
    </section>
  );
}

const EXT = { csv: 'csv', parquet: 'parquet', jsonl: 'jsonl' } as const;
const MIME = { csv: 'text/csv', parquet: 'application/vnd.apache.parquet', jsonl: 'application/x-ndjson' } as const;

/** Download the run's samples as CSV, Parquet or JSON Lines (`exportRun`, the same rows as `spatialclaw export`). */
function ExportMenu({ runId }: { runId: string }) {
  const api = useApi();
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const download = async (format: keyof typeof EXT) => {
    setBusy(format);
    setError(null);
    try {
      const bytes = await api.call('exportRun', { run_id: runId, format });
      const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: MIME[format] }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `${runId}.${EXT[format]}`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      setError(toShownError(e));
    } finally {
      setBusy(null);
    }
  };
  return (
    <span className="export-menu" role="group" aria-label="Export samples">
      <span className="muted small">export</span>
      {(['csv', 'parquet', 'jsonl'] as const).map((f) => (
        <button key={f} className="small-btn" disabled={busy !== null} onClick={() => void download(f)} title={`one row per sample with scores, tags, notes, steps, tokens, termination and error (${f})`}>
          {busy === f ? '…' : f.toUpperCase()}
        </button>
      ))}
      {error ? <ErrorBox error={error} title="Export failed" /> : null}
    </span>
  );
}

/** The triage panel of a run: facets + list or grid of the matching samples, and the selected sample's tags. */
export function TriageView({ runId, live, done }: { runId: string; live: boolean; done: number | undefined }) {
  const store = useTriageStore();
  const mode = useTriage((s) => s.mode);
  const total = useTriage((s) => s.total);
  const runTotal = useTriage((s) => s.runTotal);
  const text = useTriage((s) => s.filter.text ?? '');
  const sort = useTriage((s) => s.sort);
  const desc = useTriage((s) => s.desc);
  const error = useTriage((s) => s.error);
  const author = useTriage((s) => s.author);
  useEffect(() => {
    const saved = globalThis.localStorage?.getItem('spatialclaw.author');
    if (saved) store.getState().setAuthor(saved);
  }, [store]);
  // A live run: new samples appear as the done count moves.
  const seen = useRef(done);
  useEffect(() => {
    if (done !== undefined && seen.current !== undefined && done !== seen.current) void store.getState().reload();
    seen.current = done;
  }, [store, done]);
  return (
    <div className="triage">
      <FacetPanel />
      <div className="triage-main">
        <div className="filters row" role="search">
          <input
            aria-label="Search samples"
            placeholder="search id, question, answer, code  ( / )"
            value={text}
            onChange={(e) => store.getState().setFilter({ text: e.target.value || undefined })}
            onKeyDown={(e) => e.key === 'Escape' && (e.target as HTMLInputElement).blur()}
          />
          <select aria-label="Sort samples" value={sort} onChange={(e) => store.getState().setSort(e.target.value as TriageSort)}>
            <option value="index">in order</option>
            <option value="score">by score</option>
            <option value="steps">by steps</option>
            <option value="duration">by time</option>
            <option value="tool_failures">by tool failures</option>
          </select>
          <label className="inline small">
            <input type="checkbox" checked={desc} onChange={(e) => store.getState().setSort(sort, e.target.checked)} /> descending
          </label>
          <div className="seg" role="group" aria-label="Layout">
            <button aria-pressed={mode === 'list'} onClick={() => store.getState().setMode('list')}>
              List
            </button>
            <button aria-pressed={mode === 'grid'} onClick={() => store.getState().setMode('grid')}>
              Grid
            </button>
          </div>
          <span className="muted small" role="status" aria-label="Sample count">
            {total === null ? 'loading…' : `${total}${runTotal !== null && runTotal !== total ? ` of ${runTotal}` : ''} samples`}
            {live ? ' (live)' : ''}
          </span>
          <label className="inline small">
            as{' '}
            <input
              aria-label="Annotation author"
              className="author"
              placeholder="your name"
              value={author}
              onChange={(e) => {
                store.getState().setAuthor(e.target.value);
                globalThis.localStorage?.setItem('spatialclaw.author', e.target.value);
              }}
            />
          </label>
        </div>
        <ExportMenu runId={runId} />
        {error ? <ErrorBox error={error} title="Could not load samples" /> : null}
        <SelectedPanel runId={runId} />
        {mode === 'list' ? <TriageList /> : <TriageGrid />}
      </div>
    </div>
  );
}
