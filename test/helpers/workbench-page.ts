/**
 * A chromium page on a running `spatialclaw serve` (Debian's chromium through playwright-core, test/helpers/browser.ts),
 * for the e2e tests: it records page errors and the host methods the page calls.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium } from './browser.ts';
import type { Serve } from './serve.ts';

export interface WorkbenchPage {
  browser: BrowserContext;
  page: Page;
  /** Uncaught page errors and console errors, except Chromium's line for each 4xx answer (tests cause some on purpose). */
  pageErrors: string[];
  /** Host methods the page called (`/api/call/<method>`), in order. */
  calls: string[];
  /** How many times the page called `method`. */
  count: (method: string) => number;
}

/** Launch chromium, open a page of `viewport` size, and (unless `goto: false`) load the workbench with the token. */
export async function openWorkbenchPage(serve: Serve, o: { width?: number; height?: number; goto?: boolean } = {}): Promise<WorkbenchPage> {
  const browser = await launchChromium();
  const page = await browser.newPage();
  await page.setViewportSize({ width: o.width ?? 1500, height: o.height ?? 950 });
  const pageErrors: string[] = [];
  const calls: string[] = [];
  page.on('request', (r) => {
    const m = /\/api\/call\/(\w+)$/.exec(r.url());
    if (m) calls.push(m[1]!);
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    // Chromium logs every 4xx answer as a console error; a refused call shows up in the page (and fails a wait) anyway.
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) pageErrors.push(m.text());
  });
  if (o.goto !== false) await page.goto(`${serve.url}/#token=${serve.token}`);
  return { browser, page, pageErrors, calls, count: (method) => calls.filter((c) => c === method).length };
}
