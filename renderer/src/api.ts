import type { WorkbenchApi } from '../../shared/api.ts';
import { WorkbenchError } from '../../shared/api.ts';

declare global {
  interface Window {
    /** Set by the Electron preload (contextBridge); absent in a browser. */
    spatialclaw?: WorkbenchApi;
  }
}

/** sessionStorage key of the `spatialclaw serve` token (per tab; gone when the tab closes). */
export const TOKEN_KEY = 'spatialclaw.token';

/** What the transport pick needs from the page (injected so it is testable without a DOM). */
export interface TransportEnv {
  /** `window.spatialclaw`, when the Electron preload set it. */
  bridge: WorkbenchApi | undefined;
  location: { hash: string; origin: string; pathname: string; search: string };
  /** sessionStorage (or null where storage is disabled). */
  storage: { getItem(key: string): string | null; setItem(key: string, value: string): void } | null;
  history: { replaceState(data: unknown, unused: string, url?: string | null): void } | null;
  createHttpApi: (opts: { baseUrl: string; token: string }) => WorkbenchApi;
}

export type TransportPick =
  | { api: WorkbenchApi; transport: 'electron' | 'http'; reason: null }
  | { api: null; transport: null; reason: string };

/** Read `token=…` from a location hash (`#token=abc` or `#a=b&token=abc`). */
export function tokenFromHash(hash: string): string | null {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const t = params.get('token');
  return t && t.trim() ? t.trim() : null;
}

/**
 * Pick the transport at start-up:
 * 1. `window.spatialclaw` (the Electron preload);
 * 2. a token in `location.hash` (`#token=…`, as printed by `spatialclaw serve`): moved to
 *    sessionStorage and stripped from the URL (history.replaceState), so it is neither bookmarked nor
 *    left in the address bar; then the HTTP client on `location.origin`;
 * 3. a token already in sessionStorage (a reload of the same tab);
 * else no transport, with the reason to show.
 */
export function pickTransport(env: TransportEnv): TransportPick {
  if (env.bridge) return { api: env.bridge, transport: 'electron', reason: null };
  const fromHash = tokenFromHash(env.location.hash);
  if (fromHash) {
    try {
      env.storage?.setItem(TOKEN_KEY, fromHash);
    } catch {
      // Storage can be disabled; the token still works for this page load.
    }
    env.history?.replaceState(null, '', env.location.pathname + env.location.search);
  }
  let token = fromHash;
  if (!token) {
    try {
      token = env.storage?.getItem(TOKEN_KEY) ?? null;
    } catch {
      token = null;
    }
  }
  if (!token) {
    return { api: null, transport: null, reason: 'Not connected: open the URL printed by `spatialclaw serve` (it ends in #token=…).' };
  }
  if (!/^https?:/.test(env.location.origin)) {
    return { api: null, transport: null, reason: `Not connected: this page was not served over HTTP (${env.location.origin}); open the URL printed by \`spatialclaw serve\`.` };
  }
  return { api: env.createHttpApi({ baseUrl: env.location.origin, token }), transport: 'http', reason: null };
}

/** A failure as the UI shows it: what went wrong and how to fix it. */
export interface ShownError {
  message: string;
  fix: string | null;
  method: string | null;
}

/** Turn anything thrown by a host call into what the UI shows (never a blank). */
export function toShownError(e: unknown): ShownError {
  if (e instanceof WorkbenchError) return { message: e.message || 'the host call failed', fix: e.fix, method: e.method };
  if (e && typeof e === 'object' && 'message' in e) {
    const o = e as { message: unknown; fix?: unknown; method?: unknown };
    return {
      message: String(o.message) || 'unknown error',
      fix: typeof o.fix === 'string' ? o.fix : null,
      method: typeof o.method === 'string' ? o.method : null,
    };
  }
  return { message: String(e), fix: null, method: null };
}
