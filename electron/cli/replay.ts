/**
 * `spatialclaw replay RUN SAMPLE`: re-execute a recorded sample's cells in a fresh kernel prepared on the
 * same inputs, without a model, and report where each outcome differs from the record (status, answer,
 * error, stdout). Used to re-check a run after a tool or an input changes.
 *
 * The cells and their order are those of ReplayService (electron/services/app/replay.ts), the same rule as
 * the workbench console's restore: every cell that reached the kernel and finished there, agent and console
 * cells, in the order they ran; `rejected`, `timeout` and `kernel_died` cells are listed as not replayed.
 */
import { resolve } from 'node:path';
import { createServices } from '../services/app/index.ts';
import { NOT_REPLAYED, type RecordedCell, selectReplayCells } from '../services/app/replay.ts';
import { readRunInfo, readSampleEvents } from '../services/runs/reader.ts';
import { readConsole } from '../services/workbench/runs.ts';

const label = (c: RecordedCell): string => `${c.result.origin === 'human' ? 'console cell' : 'cell'} ${c.result.index}`;

/** run.json's config, or {} when the folder has none (the record of the sample is all replay needs). */
function runConfigOf(dir: string): Record<string, unknown> {
  try {
    return readRunInfo(dir).config;
  } catch {
    return {};
  }
}

/**
 * Replay one sample; returns the exit code: 0 when every replayed cell reproduces the record, 1 otherwise.
 * `perception`: a target as for `ask` ("local" starts one); without it, the server the run used if this
 * host can reach it (registered, token set), else none.
 */
export async function replay(runDir: string, sampleId: string, o: { perception?: string }): Promise<number> {
  const dir = resolve(runDir);
  const { replay: cells, skipped } = selectReplayCells(readSampleEvents(dir, sampleId), readConsole(dir, sampleId));
  for (const c of skipped) console.log(`${label(c)}: not replayed (${c.result.status}: ${NOT_REPLAYED[c.result.status as keyof typeof NOT_REPLAYED]})`);
  if (cells.length === 0) {
    console.log(`sample ${sampleId} has no replayable cells: nothing to replay`);
    return 0;
  }
  // One restored kernel: no warm pool.
  const services = createServices({ perception: o.perception, poolSize: 0 });
  try {
    const config = services.settings.config();
    const perception = config.perception !== null ? await services.perception.resolve(config.perception) : services.perception.forReplay(runConfigOf(dir));
    const restored = await services.replay.restore(dir, sampleId, {
      perception,
      onCell: ({ recorded, now, differences }) => {
        const same = `same (${now.status}${now.answer ? `, answer ${JSON.stringify(now.answer.answer)}` : ''})`;
        console.log(`${label(recorded)}: ${differences.length ? `DIFFERENT (${differences.join('; ')})` : same}`);
      },
    });
    await (await services.kernels.runtime()).closeSession(restored.session);
    const differing = restored.cells.filter((c) => c.differences.length > 0).length;
    console.log(differing ? `${differing} of ${cells.length} cells differ from the record` : `all ${cells.length} cells reproduce the record`);
    return differing ? 1 : 0;
  } finally {
    await services.close();
  }
}
