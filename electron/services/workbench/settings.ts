/**
 * Workbench settings: `<data dir>/settings.json`, validated with SettingsSchema (shared/workbench.ts).
 * Absent file: the defaults. A corrupt file is an error naming the file; it is never overwritten
 * silently (saving replaces it only when the user saves new settings).
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { type Settings, SettingsSchema } from '../../../shared/workbench.ts';
import { dataDir } from '../paths.ts';

export class SettingsError extends Error {
  override name = 'SettingsError';
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

export function settingsPath(): string {
  return join(dataDir(), 'settings.json');
}

/**
 * Parse the text of a settings file. Missing fields get their defaults.
 * @throws SettingsError naming `file` and the field when it is not JSON or not valid settings.
 */
export function parseSettings(text: string, file: string): Settings {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SettingsError(`${file} is not valid JSON (${e instanceof Error ? e.message : String(e)})`, `fix the file or delete it to go back to the defaults`);
  }
  const r = SettingsSchema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ');
    throw new SettingsError(`${file} holds invalid settings: ${issues}`, `fix the named fields or delete ${file} to go back to the defaults`);
  }
  return r.data;
}

/** The settings; the defaults when the file does not exist. @throws SettingsError */
export function loadSettings(file: string = settingsPath()): Settings {
  if (!existsSync(file)) return SettingsSchema.parse({});
  return parseSettings(readFileSync(file, 'utf8'), file);
}

/** Validate and write the settings atomically (temp file, fsync, rename). @returns what was saved. */
export function saveSettings(value: z.input<typeof SettingsSchema>, file: string = settingsPath()): Settings {
  const s = SettingsSchema.parse(value);
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, `${JSON.stringify(s, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  return s;
}
