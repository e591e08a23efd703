/**
 * The host's one durable write (electron/services/fs/atomic.ts): what is written, with which mode, and
 * that a failed write leaves neither a half-written target nor a temporary file.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic, writeJsonAtomic } from '../../electron/services/fs/atomic.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'atomic-'));
const mode = (path: string) => statSync(path).mode & 0o777;

describe('writeJsonAtomic', () => {
  it('writes pretty JSON with a trailing newline, replacing the old file', () => {
    const dir = tmp();
    const path = join(dir, 'run.json');
    writeFileSync(path, 'old contents');
    writeJsonAtomic(path, { id: 'r1', n: [1, 2], nested: { ok: true } });
    expect(readFileSync(path, 'utf8')).toBe('{\n  "id": "r1",\n  "n": [\n    1,\n    2\n  ],\n  "nested": {\n    "ok": true\n  }\n}\n');
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ id: 'r1', n: [1, 2], nested: { ok: true } });
    expect(readdirSync(dir)).toEqual(['run.json']);
  });

  it('creates the file with mode 0o600 when asked (0o644 by default)', () => {
    const dir = tmp();
    writeJsonAtomic(join(dir, 'secret.json'), { a: 1 }, { mode: 0o600 });
    expect(mode(join(dir, 'secret.json'))).toBe(0o600);
    writeJsonAtomic(join(dir, 'plain.json'), { a: 1 });
    expect(mode(join(dir, 'plain.json')) & ~0o644).toBe(0); // the umask may take bits away, never add them
  });

  it('leaves no temporary file and the old target when the write fails', () => {
    const dir = tmp();
    // The target is a non-empty folder: the temp file is written, the rename over it fails.
    mkdirSync(join(dir, 'target.json', 'inside'), { recursive: true });
    expect(() => writeJsonAtomic(join(dir, 'target.json'), { a: 1 })).toThrow(/EISDIR|ENOTEMPTY|EEXIST|EPERM/);
    expect(readdirSync(dir)).toEqual(['target.json']);
    expect(readdirSync(join(dir, 'target.json'))).toEqual(['inside']);
  });

  it('writes nothing for a value JSON cannot hold, and fails cleanly in a missing folder', () => {
    const dir = tmp();
    expect(() => writeJsonAtomic(join(dir, 'big.json'), { n: 1n })).toThrow(TypeError);
    expect(() => writeJsonAtomic(join(dir, 'no', 'such', 'x.json'), { a: 1 })).toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('writeFileAtomic', () => {
  it('writes strings and bytes exactly', () => {
    const dir = tmp();
    writeFileAtomic(join(dir, 'a.txt'), 'héllo\n');
    writeFileAtomic(join(dir, 'b.bin'), Buffer.from([0, 1, 2, 255]));
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('héllo\n');
    expect([...readFileSync(join(dir, 'b.bin'))]).toEqual([0, 1, 2, 255]);
    expect(readdirSync(dir).sort()).toEqual(['a.txt', 'b.bin']);
  });
});
