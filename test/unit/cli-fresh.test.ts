import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain .mjs module without types
import { freshBundle, sourceStamp } from '../../build/cli-fresh.mjs';

/** A fake root: two CLI sources and a built bundle stamped with their state. */
function fakeRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'cli-fresh-'));
  mkdirSync(join(root, 'electron', 'cli'), { recursive: true });
  mkdirSync(join(root, 'shared'), { recursive: true });
  writeFileSync(join(root, 'electron', 'cli', 'main.ts'), 'x');
  writeFileSync(join(root, 'shared', 'run.ts'), 'y');
  const past = new Date(Date.now() - 60_000);
  utimesSync(join(root, 'electron', 'cli', 'main.ts'), past, past);
  utimesSync(join(root, 'shared', 'run.ts'), past, past);
  mkdirSync(join(root, 'out', 'cli'), { recursive: true });
  writeFileSync(join(root, 'out', 'cli', 'main.mjs'), '');
  writeFileSync(join(root, 'out', 'cli', 'sources.json'), JSON.stringify(sourceStamp(root)));
  return root;
}

describe('the compiled CLI is used only when it was built from the current sources', () => {
  it('is current right after the build', () => {
    const root = fakeRoot();
    expect(freshBundle(root)).toBe(join(root, 'out', 'cli', 'main.mjs'));
  });

  it('is stale after a source is edited, added or removed', () => {
    const edited = fakeRoot();
    writeFileSync(join(edited, 'shared', 'run.ts'), 'changed');
    expect(freshBundle(edited)).toBeNull();
    const added = fakeRoot();
    const past = new Date(Date.now() - 120_000);
    writeFileSync(join(added, 'electron', 'cli', 'new.ts'), 'z');
    utimesSync(join(added, 'electron', 'cli', 'new.ts'), past, past); // an old file copied in still counts
    expect(freshBundle(added)).toBeNull();
  });

  it('is absent without a bundle or its stamp', () => {
    const root = fakeRoot();
    writeFileSync(join(root, 'out', 'cli', 'sources.json'), 'not json');
    expect(freshBundle(root)).toBeNull();
    expect(freshBundle(mkdtempSync(join(tmpdir(), 'cli-none-')))).toBeNull();
  });
});
