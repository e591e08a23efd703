import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/**
 * Launch Debian's chromium headless through playwright-core (no downloaded browser).
 * Software WebGL (SwiftShader) is enabled for the 3D views.
 */
export async function launchChromium(): Promise<BrowserContext> {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`chromium not found at ${executablePath}: install it (sudo apt-get install -y chromium) or set CHROMIUM_PATH`);
  }
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'sc-chromium-')), {
    executablePath,
    headless: true,
    args: [
      ...(isRoot ? ['--no-sandbox'] : []),
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-angle=swiftshader',
      '--enable-unsafe-swiftshader',
    ],
  });
}
