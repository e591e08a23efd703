/** The one run-id scheme (electron/services/runs/layout.ts), for the workbench, `ask` and `demo`. */
import { describe, expect, it } from 'vitest';
import { newRunId } from '../../electron/services/runs/layout.ts';

const AT = new Date('2025-11-21T10:35:12.345Z');

describe('newRunId', () => {
  it('is YYYYMMDD-HHMMSS-xxxx in UTC, with an optional prefix', () => {
    expect(newRunId(AT)).toMatch(/^20251121-103512-[0-9a-f]{4}$/);
    expect(newRunId('demo', AT)).toMatch(/^demo-20251121-103512-[0-9a-f]{4}$/);
    expect(newRunId('ask_2')).toMatch(/^ask_2-\d{8}-\d{6}-[0-9a-f]{4}$/);
    expect(newRunId()).toMatch(/^\d{8}-\d{6}-[0-9a-f]{4}$/);
  });

  it('sorts by creation time within a prefix', () => {
    const ids = [new Date('2025-11-21T10:35:13Z'), new Date('2024-01-02T00:00:00Z'), AT].map((d) => newRunId('demo', d));
    expect([...ids].sort().map((id) => id.slice(5, 20))).toEqual(['20240102-000000', '20251121-103512', '20251121-103513']);
  });

  it('refuses a prefix that is no safe folder-name part', () => {
    for (const bad of ['', '-x', 'a/b', '..', 'a b', 'x'.repeat(33)]) {
      expect(() => newRunId(bad)).toThrow(/run id prefix .* is invalid: use a letter or digit/);
    }
  });
});
