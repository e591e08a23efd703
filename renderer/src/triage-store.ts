/**
 * Failure triage state for the open run (issue 15, FiftyOne style): the filter and sort, the matching samples loaded
 * page by page (`triageSamples`), the facet counts of the last answer, the selection that j/k move, the tag taxonomy
 * and the run's annotations (`getAnnotations`, `annotate`). A vanilla zustand store, so it runs in Node for unit tests.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { RunAnnotations, SampleAnnotations, Taxonomy } from '../../shared/annotations.ts';
import type { WorkbenchApi } from '../../shared/api.ts';
import type { SampleFilter, TriagePage, TriageRow } from '../../shared/triage.ts';
import { type ShownError, toShownError } from './api.ts';

export type TriageSort = 'index' | 'score' | 'steps' | 'duration' | 'tool_failures';
export type TriageMode = 'list' | 'grid';

export interface TriageState {
  runId: string | null;
  filter: SampleFilter;
  sort: TriageSort;
  desc: boolean;
  mode: TriageMode;
  /** Matching samples (null until the first page arrived). */
  total: number | null;
  runTotal: number | null;
  pageSize: number;
  pages: Record<number, TriageRow[]>;
  facets: TriagePage['facets'] | null;
  ranges: TriagePage['ranges'] | null;
  error: ShownError | null;
  /** Index of the selected sample in the filtered order. */
  selected: number;
  /** Bumped whenever the query changes; answers to older generations are dropped. */
  generation: number;
  taxonomy: Taxonomy | null;
  annotations: RunAnnotations;
  annotateError: ShownError | null;
  /** Who annotations are recorded as (kept in localStorage by the view). */
  author: string;

  open: (runId: string | null) => Promise<void>;
  setFilter: (f: Partial<SampleFilter>) => void;
  /** Add or remove one value of a list facet. */
  toggleFacet: (facet: ListFacet, value: string) => void;
  clearFilter: () => void;
  setSort: (sort: TriageSort, desc?: boolean) => void;
  setMode: (mode: TriageMode) => void;
  ensureRows: (start: number, end: number) => Promise<void>;
  rowAt: (index: number) => TriageRow | undefined;
  /** Move the selection by `delta` (clamped) and load its page; returns the new index. */
  move: (delta: number) => Promise<number>;
  select: (index: number) => void;
  /** The index of a sample id among the loaded rows, or -1. */
  indexOf: (sampleId: string) => number;
  /** Reload the matching rows and facets (a live run finished samples, or annotations changed). */
  reload: () => Promise<void>;
  loadAnnotations: () => Promise<void>;
  /** Toggle a tag on a sample (step null) or one of its steps; records a `tag` or `untag` entry. */
  toggleTag: (sampleId: string, step: number | null, tag: string) => Promise<void>;
  addNote: (sampleId: string, step: number | null, text: string) => Promise<void>;
  deleteNote: (sampleId: string, noteId: string) => Promise<void>;
  setAuthor: (author: string) => void;
}

export type ListFacet = 'outcome' | 'question_type' | 'benchmark' | 'termination' | 'error_class' | 'tags';

/** Whether a sample (step null) or a step carries a tag in the folded annotations. */
export function hasTag(a: SampleAnnotations | undefined, step: number | null, tag: string): boolean {
  return !!a?.tags.some((t) => t.tag === tag && t.step === step);
}

/** The filter without empty lists, blank text or empty ranges (what is sent, and what "active" means). */
export function activeFilter(f: SampleFilter): SampleFilter {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(f)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (typeof v === 'string' && v.trim() === '') continue;
    if (typeof v === 'object' && !Array.isArray(v) && Object.values(v as object).every((x) => x === undefined)) continue;
    out[k] = v;
  }
  return out as SampleFilter;
}

export function createTriageStore(api: WorkbenchApi, pageSize = 200): StoreApi<TriageState> {
  return createStore<TriageState>((set, get) => {
    let inflight = new Map<number, Promise<void>>();
    const fetchPage = async (page: number): Promise<void> => {
      const { runId, generation, filter, sort, desc } = get();
      if (!runId) return;
      try {
        const res = await api.call('triageSamples', { run_id: runId, filter: activeFilter(filter), sort, desc, offset: page * pageSize, limit: pageSize });
        if (get().generation !== generation) return;
        set((s) => ({ pages: { ...s.pages, [page]: res.rows }, total: res.total, runTotal: res.run_total, facets: res.facets, ranges: res.ranges, error: null }));
      } catch (e) {
        if (get().generation === generation) set({ error: toShownError(e) });
      }
    };
    const loadPage = (page: number): Promise<void> => {
      const running = inflight.get(page);
      if (running) return running;
      const p = fetchPage(page).finally(() => {
        if (inflight.get(page) === p) inflight.delete(page);
      });
      inflight.set(page, p);
      return p;
    };
    /** A new query: drop loaded pages, keep the facets shown until the answer replaces them. */
    const requery = async (keepSelection = false): Promise<void> => {
      inflight = new Map();
      set((s) => ({ pages: {}, total: null, generation: s.generation + 1, ...(keepSelection ? {} : { selected: 0 }) }));
      await get().ensureRows(0, pageSize);
      const { total, selected } = get();
      if (total !== null && selected >= total) set({ selected: Math.max(0, total - 1) });
    };
    const annotate = async (args: { sample_id: string; step: number | null; op: 'tag' | 'untag' | 'note' | 'delete_note'; tag?: string; text?: string; target?: string }) => {
      const runId = get().runId;
      if (!runId) return;
      try {
        const author = get().author.trim();
        const sample = await api.call('annotate', { run_id: runId, ...args, ...(author ? { author } : {}) });
        set((s) => {
          const samples = { ...s.annotations.samples };
          if (sample.tags.length || sample.notes.length) samples[args.sample_id] = sample;
          else delete samples[args.sample_id];
          return { annotations: { samples }, annotateError: null };
        });
        // Tags are a facet: the rows and counts change.
        await requery(true);
      } catch (e) {
        set({ annotateError: toShownError(e) });
      }
    };

    return {
      runId: null,
      filter: {},
      sort: 'index',
      desc: false,
      mode: 'list',
      total: null,
      runTotal: null,
      pageSize,
      pages: {},
      facets: null,
      ranges: null,
      error: null,
      selected: 0,
      generation: 0,
      taxonomy: null,
      annotations: { samples: {} },
      annotateError: null,
      author: '',

      open: async (runId) => {
        if (runId === get().runId) return;
        inflight = new Map();
        set({ runId, pages: {}, total: null, selected: 0, generation: get().generation + 1, filter: {}, facets: null, ranges: null, error: null, annotations: { samples: {} }, annotateError: null, runTotal: null });
        if (!runId) return;
        const tax = get().taxonomy
          ? Promise.resolve()
          : api.call('getTaxonomy', {}).then(
              (taxonomy) => set({ taxonomy }),
              (e) => set({ annotateError: toShownError(e) }),
            );
        await Promise.all([requery(), get().loadAnnotations(), tax]);
      },
      setFilter: (f) => {
        set((s) => ({ filter: { ...s.filter, ...f } }));
        void requery();
      },
      toggleFacet: (facet, value) => {
        const cur = (get().filter[facet] as string[] | undefined) ?? [];
        const next = cur.includes(value) ? cur.filter((v) => v !== value) : [...cur, value];
        get().setFilter({ [facet]: next.length ? next : undefined } as Partial<SampleFilter>);
      },
      clearFilter: () => {
        set({ filter: {} });
        void requery();
      },
      setSort: (sort, desc) => {
        set((s) => ({ sort, desc: desc ?? s.desc }));
        void requery();
      },
      setMode: (mode) => set({ mode }),
      ensureRows: async (start, end) => {
        const { total, pages } = get();
        const last = total === null ? end : Math.min(end, total);
        const wanted: number[] = [];
        for (let p = Math.floor(Math.max(0, start) / pageSize); p * pageSize < Math.max(last, 1); p++) if (!pages[p]) wanted.push(p);
        await Promise.all(wanted.map(loadPage));
      },
      rowAt: (index) => get().pages[Math.floor(index / pageSize)]?.[index % pageSize],
      move: async (delta) => {
        const { total, selected } = get();
        if (!total) return 0;
        const next = Math.min(total - 1, Math.max(0, selected + delta));
        set({ selected: next });
        await get().ensureRows(next, next + 1);
        return next;
      },
      select: (index) => set({ selected: index }),
      indexOf: (sampleId) => {
        for (const [p, rows] of Object.entries(get().pages)) {
          const i = rows.findIndex((r) => r.result.id === sampleId);
          if (i >= 0) return Number(p) * pageSize + i;
        }
        return -1;
      },
      reload: () => requery(true),
      loadAnnotations: async () => {
        const runId = get().runId;
        if (!runId) return;
        try {
          const annotations = await api.call('getAnnotations', { run_id: runId });
          if (get().runId === runId) set({ annotations });
        } catch (e) {
          set({ annotateError: toShownError(e) });
        }
      },
      toggleTag: async (sampleId, step, tag) => {
        const on = hasTag(get().annotations.samples[sampleId], step, tag);
        await annotate({ sample_id: sampleId, step, op: on ? 'untag' : 'tag', tag });
      },
      addNote: async (sampleId, step, text) => {
        if (!text.trim()) return;
        await annotate({ sample_id: sampleId, step, op: 'note', text });
      },
      deleteNote: async (sampleId, noteId) => {
        await annotate({ sample_id: sampleId, step: null, op: 'delete_note', target: noteId });
      },
      setAuthor: (author) => set({ author }),
    };
  });
}
