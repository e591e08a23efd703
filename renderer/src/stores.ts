/**
 * The renderer's state (zustand 5). Stores are created from a {@link WorkbenchApi} with the vanilla
 * `createStore`, so they run in Node for unit tests (test/unit/renderer-stores.test.ts); React reads
 * them through `useStore` (see `context.tsx`).
 *
 * - ui: the current view and what is open in it;
 * - runs: the runs list with its filters, the open run and its samples, loaded page by page;
 * - samples: per-sample timelines (recorded + live events), counters, console cells, host progress.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { WorkbenchApi } from '../../shared/api.ts';
import type { CellResult } from '../../shared/kernel.ts';
import type { SampleResult } from '../../shared/run.ts';
import type { ArtifactRef, HostEvent, RunDetail, RunQuery, RunRow } from '../../shared/workbench.ts';
import { type ShownError, toShownError } from './api.ts';
import { addConsoleResult, emptyTimeline, foldEvent, type Timeline } from './timeline.ts';

// ---------------------------------------------------------------------------------------------------
// UI

export type View = 'ask' | 'runs' | 'compare' | 'cluster' | 'settings';

export interface InspectorTarget {
  artifact: ArtifactRef;
  kind: string;
  label?: string;
}

export interface UiState {
  view: View;
  setView: (view: View) => void;
  /** The sample the Ask view follows (the last question asked). */
  askTarget: { run_id: string; sample_id: string } | null;
  setAskTarget: (t: { run_id: string; sample_id: string } | null) => void;
  /** Runs view navigation: run list → run → sample. */
  openRunId: string | null;
  openSampleId: string | null;
  openRun: (runId: string | null) => void;
  openSample: (sampleId: string | null) => void;
  /** The open run's tab: its samples (triage) or its results (ResultsView); kept across runs. */
  runTab: 'samples' | 'results';
  setRunTab: (tab: 'samples' | 'results') => void;
  /** The artifact open in the 3D inspector. */
  inspector: InspectorTarget | null;
  setInspector: (t: InspectorTarget | null) => void;
  /** Console drafts per sample key (`run/sample`): the inspector's "insert code" lands here. */
  drafts: Record<string, string>;
  setDraft: (key: string, code: string) => void;
  insertCode: (key: string, code: string) => void;
  /** Runs picked for comparison (Runs list checkboxes, Compare view), in the order picked: the first is the baseline. */
  compareRunIds: string[];
  setCompareRuns: (ids: string[]) => void;
}

export const sampleKey = (runId: string, sampleId: string): string => `${runId}/${sampleId}`;

export function createUiStore(): StoreApi<UiState> {
  return createStore<UiState>((set) => ({
    view: 'ask',
    setView: (view) => set({ view }),
    askTarget: null,
    setAskTarget: (askTarget) => set({ askTarget }),
    openRunId: null,
    openSampleId: null,
    openRun: (openRunId) => set({ openRunId, openSampleId: null }),
    openSample: (openSampleId) => set({ openSampleId }),
    runTab: 'samples',
    setRunTab: (runTab) => set({ runTab }),
    inspector: null,
    setInspector: (inspector) => set({ inspector }),
    compareRunIds: [],
    setCompareRuns: (compareRunIds) => set({ compareRunIds }),
    drafts: {},
    setDraft: (key, code) => set((s) => ({ drafts: { ...s.drafts, [key]: code } })),
    insertCode: (key, code) =>
      set((s) => {
        const cur = s.drafts[key] ?? '';
        return { drafts: { ...s.drafts, [key]: cur && !cur.endsWith('\n') ? `${cur}\n${code}` : cur + code } };
      }),
  }));
}

// ---------------------------------------------------------------------------------------------------
// Runs

export interface RunsState {
  filters: RunQuery;
  runs: RunRow[] | null;
  runsLoading: boolean;
  runsError: ShownError | null;
  setFilters: (f: Partial<RunQuery>) => void;
  loadRuns: () => Promise<void>;

  runId: string | null;
  detail: RunDetail | null;
  detailError: ShownError | null;
  /** Open a run (its detail); the triage store (triage-store.ts) loads its samples. */
  openRun: (runId: string | null) => Promise<void>;
  /** Fetch the open run's detail again (done count, progress) without reloading its sample pages. */
  refreshDetail: () => Promise<void>;
}

const cleanQuery = (q: RunQuery): RunQuery => {
  const out: RunQuery = {};
  for (const [k, v] of Object.entries(q) as [keyof RunQuery, string | undefined][]) if (v) out[k] = v as never;
  return out;
};

export function createRunsStore(api: WorkbenchApi): StoreApi<RunsState> {
  return createStore<RunsState>((set, get) => {
    return {
      filters: {},
      runs: null,
      runsLoading: false,
      runsError: null,
      setFilters: (f) => {
        set((s) => ({ filters: { ...s.filters, ...f } }));
        void get().loadRuns();
      },
      loadRuns: async () => {
        const query = cleanQuery(get().filters);
        set({ runsLoading: true });
        try {
          const runs = await api.call('listRuns', query);
          // Drop an answer to an older query.
          if (JSON.stringify(cleanQuery(get().filters)) !== JSON.stringify(query)) return;
          set({ runs, runsError: null, runsLoading: false });
        } catch (e) {
          set({ runsError: toShownError(e), runsLoading: false });
        }
      },

      runId: null,
      detail: null,
      detailError: null,
      openRun: async (runId) => {
        set({ runId, detail: null, detailError: null });
        if (!runId) return;
        try {
          const detail = await api.call('getRun', { run_id: runId });
          if (get().runId === runId) set({ detail });
        } catch (e) {
          if (get().runId === runId) set({ detailError: toShownError(e) });
        }
      },
      refreshDetail: async () => {
        const id = get().runId;
        if (!id) return;
        try {
          const detail = await api.call('getRun', { run_id: id });
          if (get().runId === id) set({ detail });
        } catch {
          /* the next poll tries again; the shown detail stays */
        }
      },
    };
  });
}

// ---------------------------------------------------------------------------------------------------
// Samples (timelines, live state, console)

export interface SampleState {
  runId: string;
  sampleId: string;
  timeline: Timeline;
  /** Recorded events are being fetched. */
  loading: boolean;
  loadError: ShownError | null;
  /** Running now (live events keep arriving). */
  live: boolean;
  counters: { prompt_tokens: number; completion_tokens: number; elapsed_s: number } | null;
  /** The result once the sample ended (from sample_done), or from the run's samples table. */
  result: SampleResult | null;
  /** Why a live sample failed to start or ended in error (sample_done.error). */
  doneError: string | null;
  consolePending: boolean;
  consoleError: ShownError | null;
}

export interface SamplesState {
  samples: Record<string, SampleState>;
  /** Long host tasks by name (perception start, replay kernel): last message and whether done. */
  progress: Record<string, { message: string; done: boolean; at: number }>;
  /** Fold one host event into the state (live run events, counters, done, progress). */
  applyHostEvent: (e: HostEvent) => void;
  /** Register a sample that was just started (Ask), so events are shown from the first one. */
  track: (runId: string, sampleId: string) => void;
  /** Load a sample's recorded events (and console cells); live events fold on top. */
  load: (runId: string, sampleId: string, attempt?: number) => Promise<void>;
  /** Run a console cell on a sample; the result is added as a human step. */
  runConsole: (runId: string, sampleId: string, code: string) => Promise<CellResult | null>;
  stop: (runId: string, sampleId: string) => Promise<ShownError | null>;
}

/** Retries (250 ms, 500 ms, … 4 s) of loading a live sample whose record does not exist yet. */
const LIVE_LOAD_RETRIES = 5;

const newSample = (runId: string, sampleId: string): SampleState => ({
  runId,
  sampleId,
  timeline: emptyTimeline(),
  loading: false,
  loadError: null,
  live: false,
  counters: null,
  result: null,
  doneError: null,
  consolePending: false,
  consoleError: null,
});

export function createSamplesStore(api: WorkbenchApi): StoreApi<SamplesState> {
  return createStore<SamplesState>((set, get) => {
    const update = (runId: string, sampleId: string, f: (s: SampleState) => Partial<SampleState>): void =>
      set((st) => {
        const key = sampleKey(runId, sampleId);
        const cur = st.samples[key] ?? newSample(runId, sampleId);
        const patch = f(cur);
        return { samples: { ...st.samples, [key]: { ...cur, ...patch } } };
      });

    return {
      samples: {},
      progress: {},
      applyHostEvent: (e) => {
        switch (e.type) {
          case 'run_event':
            update(e.run_id, e.sample_id, (s) => {
              const timeline = foldEvent(s.timeline, e.event);
              // A termination ends the live view even before sample_done arrives.
              return { timeline, live: e.event.type !== 'termination' && !s.result };
            });
            break;
          case 'counters':
            update(e.run_id, e.sample_id, () => ({ counters: { prompt_tokens: e.prompt_tokens, completion_tokens: e.completion_tokens, elapsed_s: e.elapsed_s } }));
            break;
          case 'sample_done':
            update(e.run_id, e.sample_id, () => ({ live: false, result: e.result, doneError: e.error }));
            break;
          case 'progress':
            set((st) => ({ progress: { ...st.progress, [e.task]: { message: e.message, done: e.done, at: Date.now() } } }));
            break;
        }
      },
      track: (runId, sampleId) => update(runId, sampleId, (s) => ({ live: !s.result })),
      load: async (runId, sampleId, attempt = 0) => {
        update(runId, sampleId, () => ({ loading: true, loadError: null }));
        try {
          const res = await api.call('sampleEvents', { run_id: runId, sample_id: sampleId });
          update(runId, sampleId, (s) => {
            // Live events that arrived first stay; the recorded ones fold in (duplicates ignored).
            let tl = s.timeline;
            for (const ev of res.events) tl = foldEvent(tl, ev, 'agent');
            for (const ev of res.console) tl = foldEvent(tl, ev, 'human');
            // A finished sample's recorded result (ground truth, score) comes with its events.
            const result = s.result ?? res.result ?? null;
            return { timeline: tl, loading: false, live: res.live && !result, result };
          });
        } catch (e) {
          // A sample that was just started may not have its folder yet: retry while it is live.
          const cur = get().samples[sampleKey(runId, sampleId)];
          if (cur?.live && attempt < LIVE_LOAD_RETRIES) {
            await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
            return get().load(runId, sampleId, attempt + 1);
          }
          update(runId, sampleId, () => ({ loading: false, loadError: toShownError(e) }));
        }
      },
      runConsole: async (runId, sampleId, code) => {
        update(runId, sampleId, () => ({ consolePending: true, consoleError: null }));
        try {
          const result = await api.call('consoleCell', { run_id: runId, sample_id: sampleId, code });
          update(runId, sampleId, (s) => ({ consolePending: false, timeline: addConsoleResult(s.timeline, result) }));
          return result;
        } catch (e) {
          update(runId, sampleId, () => ({ consolePending: false, consoleError: toShownError(e) }));
          return null;
        }
      },
      stop: async (runId, sampleId) => {
        try {
          await api.call('stop', { run_id: runId, sample_id: sampleId });
          return null;
        } catch (e) {
          return toShownError(e);
        }
      },
    };
  });
}

/** The sample's state, or a fresh empty one (for selectors that must not return undefined). */
export const getSample = (st: SamplesState, runId: string, sampleId: string): SampleState | undefined => st.samples[sampleKey(runId, sampleId)];
