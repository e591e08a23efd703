/**
 * A process appending to a run's annotations journal through appendAnnotation (electron/services/runs/annotations.ts),
 * for test/integration/annotations.test.ts: several at once (two windows, the CLI), or one killed mid-loop.
 *
 *   node --import tsx test/helpers/annotate-child.ts <run dir> <writer k> <count>   append writerEntries(k, count)
 *   node --import tsx test/helpers/annotate-child.ts <run dir> <writer k> --loop     append notes until killed
 *
 * Prints `READY` and waits for a line on stdin before it starts (so that writers start together), `DONE` at the end;
 * with --loop, `WROTE <n>` after every 25th entry (each already fsynced).
 */
import { writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AnnotationEntry, DEFAULT_TAXONOMY } from '../../shared/annotations.ts';
import { appendAnnotation } from '../../electron/services/runs/annotations.ts';

/** The samples the writers annotate (those of test/helpers/run-writer-child.ts's run). */
export const SAMPLES = ['s000', 's001', 's002'];

/** Entry i of writer k: its id, 4 hex digits of k then 12 of i, so a test can tell every entry apart. */
export const entryId = (k: number, i: number): string => `${k.toString(16).padStart(4, '0')}${i.toString(16).padStart(12, '0')}`;

/**
 * The entries writer k appends, in order. Each writer toggles its own tag (tag k of the default taxonomy) on six
 * targets (three samples, whole and step 1), writes notes, and deletes some of its own notes, so the folded result of
 * all writers does not depend on how their appends interleave (only the order of tags and notes does).
 */
export function writerEntries(k: number, count: number): AnnotationEntry[] {
  const tagId = DEFAULT_TAXONOMY.tags[k]!.id;
  const out: AnnotationEntry[] = [];
  let toggles = 0;
  for (let i = 0; i < count; i++) {
    const base = { id: entryId(k, i), t: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i)).toISOString(), author: `writer${k}` };
    if (i % 5 === 0 || i % 5 === 2) {
      const target = toggles % 6;
      const op = Math.floor(toggles / 6) % 2 === 0 ? 'tag' : 'untag';
      toggles++;
      out.push({ ...base, op, sample_id: SAMPLES[target % 3]!, step: target < 3 ? null : 1, tag: tagId });
    } else if (i % 5 === 4) {
      // Delete the note written three entries before (entry i - 3 is a note: i - 3 ≡ 1 mod 5), on every other round.
      const noteId = entryId(k, i - 3);
      const sample = SAMPLES[(i - 3) % 3]!;
      if (Math.floor(i / 5) % 2 === 0) out.push({ ...base, op: 'delete_note', sample_id: sample, step: null, target: noteId });
      else out.push({ ...base, op: 'note', sample_id: sample, step: 1, text: `writer ${k} entry ${i}: kept` });
    } else {
      out.push({ ...base, op: 'note', sample_id: SAMPLES[i % 3]!, step: i % 2 ? 1 : null, text: `writer ${k} entry ${i}` });
    }
  }
  return out;
}

function waitForGo(): Promise<void> {
  return new Promise((res) => {
    process.stdin.once('data', () => {
      process.stdin.pause();
      res();
    });
  });
}

async function main(argv: string[]): Promise<void> {
  const [dirArg, kArg, countArg] = argv;
  if (!dirArg || !kArg || !countArg) throw new Error('usage: annotate-child.ts <run dir> <writer k> <count | --loop>');
  const dir = resolve(dirArg);
  const k = Number(kArg);
  writeSync(1, 'READY\n');
  await waitForGo();
  if (countArg === '--loop') {
    // Notes of growing length (up to ~20 kB) so that writes span several pages.
    for (let i = 0; ; i++) {
      const text = `writer ${k} loop ${i} `.padEnd(200 + ((i * 997) % 19_000), 'x');
      appendAnnotation(dir, { id: entryId(k, i), t: new Date().toISOString(), author: `writer${k}`, op: 'note', sample_id: SAMPLES[i % 3]!, step: null, text });
      if ((i + 1) % 25 === 0) writeSync(1, `WROTE ${i + 1}\n`);
    }
  }
  // A pause every 10 entries: the writers, started together, overlap for certain even on a busy 2-core machine
  // (without it one writer could finish its 250 fsynced appends before another is scheduled).
  let i = 0;
  for (const e of writerEntries(k, Number(countArg))) {
    appendAnnotation(dir, e);
    if (++i % 10 === 0) await new Promise((r) => setTimeout(r, 2));
  }
  writeSync(1, 'DONE\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`annotate-child: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
