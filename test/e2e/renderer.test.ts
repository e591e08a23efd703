import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { type PreviewServer, preview } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.ts';
import { ROOT } from '../helpers/cli.ts';

// Runs after the `build` stage (electron-vite build) has written out/.
const OUT = join(ROOT, 'out');

describe('electron-vite build output', () => {
  it('emits the preload as CommonJS (sandboxed preloads cannot load ESM)', () => {
    const preload = join(OUT, 'preload', 'index.cjs');
    expect(existsSync(preload), `${preload} missing: run \`npm run build\``).toBe(true);
    const src = readFileSync(preload, 'utf8');
    expect(src).toMatch(/require\(["']electron["']\)/);
    expect(src).not.toMatch(/^\s*import\s/m);
    expect(src).not.toMatch(/^\s*export\s/m);
    // A sandboxed preload can require only electron (and a few node built-ins): zod etc. must be bundled in.
    const required = [...src.matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1]);
    expect([...new Set(required)]).toEqual(['electron']);
  });

  it('emits the main process and the renderer', () => {
    expect(existsSync(join(OUT, 'main', 'index.js'))).toBe(true);
    expect(readFileSync(join(OUT, 'renderer', 'index.html'), 'utf8')).toContain('Content-Security-Policy');
  });
});

describe('renderer in chromium', () => {
  let server: PreviewServer;
  let browser: BrowserContext;
  let url: string;

  beforeAll(async () => {
    server = await preview({
      configFile: false,
      root: join(ROOT, 'renderer'),
      base: './',
      build: { outDir: join(OUT, 'renderer') },
      preview: { host: '127.0.0.1', port: 0, strictPort: false },
      logLevel: 'error',
    });
    url = server.resolvedUrls?.local[0] ?? '';
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((r) => server?.httpServer.close(() => r()));
  });

  it('mounts the workbench shell and switches views', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(url);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('SpatialClaw Workbench');
    await expect(page.getByRole('heading', { level: 2 }).textContent()).resolves.toBe('Ask');
    await page.getByRole('button', { name: 'Settings' }).click();
    await expect(page.getByRole('heading', { level: 2 }).textContent()).resolves.toBe('Settings');
    expect(await page.getByRole('button', { name: 'Settings' }).getAttribute('aria-pressed')).toBe('true');
    // Plain browser without a host connection says so instead of failing silently.
    await expect(page.getByTestId('transport').textContent()).resolves.toBe('no host connection');
    // ... and says how to connect (the URL printed by `spatialclaw serve`).
    await expect(page.getByRole('alert').textContent()).resolves.toContain('spatialclaw serve');
    mkdirSync(join(ROOT, 'test', '.artifacts'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test', '.artifacts', 'renderer-shell.png') });
    expect(errors).toEqual([]);
  });
});
