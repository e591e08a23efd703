import { createContext, type ReactNode, useContext, useEffect, useMemo } from 'react';
import { useStore } from 'zustand';
import type { StoreApi } from 'zustand/vanilla';
import type { WorkbenchApi } from '../../shared/api.ts';
import { createRunsStore, sampleKey, createSamplesStore, createUiStore, type RunsState, type SamplesState, type UiState } from './stores.ts';
import { createTriageStore, type TriageState } from './triage-store.ts';

/** The UI store exists without a host connection (navigation still works). */
export const uiStore: StoreApi<UiState> = createUiStore();
export function useUi<T>(selector: (s: UiState) => T): T {
  return useStore(uiStore, selector);
}

interface HostStores {
  api: WorkbenchApi;
  runs: StoreApi<RunsState>;
  samples: StoreApi<SamplesState>;
  triage: StoreApi<TriageState>;
}

const HostContext = createContext<HostStores | null>(null);

/** Creates the host-bound stores and routes host events into them for the app's lifetime. */
export function HostProvider({ api, children }: { api: WorkbenchApi; children: ReactNode }) {
  const stores = useMemo<HostStores>(() => ({ api, runs: createRunsStore(api), samples: createSamplesStore(api), triage: createTriageStore(api) }), [api]);
  useEffect(
    () =>
      api.subscribe((e) => {
        const st = stores.samples.getState();
        st.applyHostEvent(e);
        // A sample that ended: fold in the recorded journal too, in case the event stream dropped
        // events (a reconnect); duplicates are ignored by the fold.
        if (e.type === 'sample_done' && st.samples[sampleKey(e.run_id, e.sample_id)]) void st.load(e.run_id, e.sample_id);
      }),
    [api, stores],
  );
  return <HostContext.Provider value={stores}>{children}</HostContext.Provider>;
}

function useHost(): HostStores {
  const h = useContext(HostContext);
  if (!h) throw new Error('HostProvider missing: host views need a connection');
  return h;
}

export const useApi = (): WorkbenchApi => useHost().api;
export const useRunsStore = (): StoreApi<RunsState> => useHost().runs;
export const useSamplesStore = (): StoreApi<SamplesState> => useHost().samples;

export const useTriageStore = (): StoreApi<TriageState> => useHost().triage;
export function useTriage<T>(selector: (s: TriageState) => T): T {
  return useStore(useHost().triage, selector);
}

export function useRuns<T>(selector: (s: RunsState) => T): T {
  return useStore(useHost().runs, selector);
}
export function useSamples<T>(selector: (s: SamplesState) => T): T {
  return useStore(useHost().samples, selector);
}
