import type { WorkbenchApi } from '../../shared/api.ts';

declare global {
  interface Window {
    /** Set by the Electron preload; absent in browser mode until `spatialclaw serve` provides its client. */
    spatialclaw?: WorkbenchApi;
  }
}

/** The transport the renderer runs on, picked at start-up. */
export function getApi(): WorkbenchApi | null {
  return window.spatialclaw ?? null;
}
