/**
 * The UI must not depend on glyphs Debian's chromium cannot draw with the fonts the setup installs (DejaVu, no
 * emoji font): an emoji-presentation character renders as an empty box there (issue 15, papercut "the folder
 * browser's icons render as empty boxes"). Icons are inline SVG (components/PathPicker.tsx `Icon`) or words.
 * The e2e test test/e2e/papercuts-forms.test.ts checks the rendered folder browser and keeps a screenshot.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { Icon } from '../../renderer/src/components/PathPicker.tsx';

const SRC = join(import.meta.dirname, '..', '..', 'renderer', 'src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : /\.(tsx?|css|html)$/.test(e.name) ? [join(dir, e.name)] : []));
}

describe('renderer glyphs', () => {
  it('uses no emoji-presentation characters (no emoji font in Debian chromium)', () => {
    const found: string[] = [];
    for (const f of files(SRC)) {
      readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
        for (const ch of line.match(/\p{Emoji_Presentation}/gu) ?? []) found.push(`${relative(SRC, f)}:${i + 1}: U+${ch.codePointAt(0)!.toString(16).toUpperCase()} ${ch}`);
      });
    }
    expect(found).toEqual([]);
  });

  it('draws the folder browser icons as inline SVG with no text', () => {
    for (const kind of ['folder', 'file', 'close', 'up'] as const) {
      const html = renderToStaticMarkup(createElement(Icon, { kind }));
      expect(html).toMatch(/^<svg [^>]*>.*<path [^>]*d="M[^"]+"/);
      expect(html).toContain(`class="icon icon-${kind}"`);
      expect(html).toContain('aria-hidden="true"');
      expect(html.replace(/<[^>]+>/g, '')).toBe('');
    }
  });
});
