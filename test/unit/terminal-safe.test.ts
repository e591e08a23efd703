import { describe, expect, it } from 'vitest';
import { printEvent } from '../../electron/cli/ask.ts';
import { terminalSafe } from '../../electron/cli/terminal.ts';
import type { RunEvent } from '../../shared/run.ts';

// Any C0/C1 control character or bidi override other than \n and \t reaching the terminal.
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('terminalSafe', () => {
  it('shows a clear-screen sequence as text', () => {
    expect(terminalSafe('before\x1b[2J\x1b[Hafter')).toBe('before\\x1b[2J\\x1b[Hafter');
  });

  it('shows an OSC window-title sequence (BEL- and ST-terminated) as text', () => {
    expect(terminalSafe('\x1b]0;pwned\x07x')).toBe('\\x1b]0;pwned\\x07x');
    expect(terminalSafe('\x1b]2;pwned\x1b\\x')).toBe('\\x1b]2;pwned\\x1b\\x');
    expect(terminalSafe('\u009d0;pwned\u009c')).toBe('\\x9d0;pwned\\x9c');
  });

  it('shows a bell and other C0 controls', () => {
    expect(terminalSafe('ding\x07\x00\x08\x7f')).toBe('ding\\x07\\x00\\x08\\x7f');
  });

  it('keeps a carriage return from overwriting the line, but turns CRLF into LF', () => {
    expect(terminalSafe('rm -rf ~\rprint("hello")')).toBe('rm -rf ~\\rprint("hello")');
    expect(terminalSafe('a\r\nb')).toBe('a\nb');
  });

  it('shows bidirectional overrides', () => {
    expect(terminalSafe('abc\u202edcba')).toBe('abc\\u202edcba');
  });

  it('keeps plain text, unicode, newlines and tabs unchanged', () => {
    const s = 'x = 1\n\ty = "é 深度 ✓"\n';
    expect(terminalSafe(s)).toBe(s);
  });
});

describe('printEvent (the ask live view)', () => {
  const base = { t: '2026-01-01T00:00:00Z', step: 1 };
  const hostile = 'ok\x1b[2J\x1b]0;title\x07\x07\rhidden\r\n';
  const events: RunEvent[] = [
    { ...base, type: 'plan', text: `plan ${hostile}`, error: null },
    {
      ...base, type: 'model_call', role: 'main', endpoint: 'e', latency_ms: 1, attempts: 1,
      usage: { prompt_tokens: 0, completion_tokens: 0 }, raw: '', reasoning: null,
      parsed: { purpose: `look ${hostile}`, code: `print(1)${hostile}` }, parse_error: null,
    },
    { ...base, type: 'observation', text: `out ${hostile}`, images: [] },
    { ...base, type: 'answer', answer: `A\u009b2J`, source: 'submitted' },
    { ...base, type: 'termination', reason: 'error', detail: hostile },
  ];

  for (const e of events) {
    it(`prints no raw control character for a ${e.type} event`, () => {
      let printed = '';
      printEvent(e, (s) => { printed += s; });
      expect(printed).not.toBe('');
      expect(printed).not.toMatch(RAW_CONTROL);
    });
  }

  it('shows the escape codes of an observation as text', () => {
    let printed = '';
    printEvent(events[2]!, (s) => { printed += s; });
    expect(printed).toContain('out ok\\x1b[2J\\x1b]0;title\\x07\\x07\\rhidden');
  });
});
