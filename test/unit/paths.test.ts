import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { appRoot, dataDir, samplesDir } from '../../electron/services/paths.ts';
import { PythonNotFoundError, resolvePython } from '../../electron/services/python.ts';
import { stripAnsi } from '../../electron/services/jupyter/execute.ts';

describe('paths', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('finds the project root and the bundled sample', () => {
    expect(existsSync(join(appRoot(), 'python-runtime'))).toBe(true);
    expect(existsSync(join(samplesDir(), 'rgbd_room', 'sample.json'))).toBe(true);
  });

  it('honours SPATIALCLAW_HOME and creates it', () => {
    const home = join(mkdtempSync(join(tmpdir(), 'sc-')), 'nested', 'home');
    vi.stubEnv('SPATIALCLAW_HOME', home);
    expect(dataDir()).toBe(home);
    expect(existsSync(home)).toBe(true);
  });

  it('names SPATIALCLAW_PYTHON when it points nowhere', () => {
    vi.stubEnv('SPATIALCLAW_PYTHON', '/no/such/python');
    expect(() => resolvePython()).toThrow(PythonNotFoundError);
    expect(() => resolvePython()).toThrow(/SPATIALCLAW_PYTHON=\/no\/such\/python does not exist/);
  });
});

describe('stripAnsi', () => {
  it('removes IPython colour codes from tracebacks', () => {
    expect(stripAnsi('\u001b[0;31mZeroDivisionError\u001b[0m: division by zero')).toBe('ZeroDivisionError: division by zero');
  });
});
