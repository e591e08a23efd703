/**
 * `infra-errors.jsonl` of a run folder: the samples an infrastructure fault hurt (shared/run.ts `InfraError`), which
 * are left out of samples.jsonl so that they are not scored and `--resume` redoes them. A sample is done iff its line
 * is in samples.jsonl; this file only says why one is missing (docs/run-format.md, "infra-errors.jsonl").
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type InfraError, InfraErrorSchema } from '../../../shared/run.ts';
import { shardDir, shardIndices } from './layout.ts';

export const INFRA_ERRORS_JSONL = 'infra-errors.jsonl';

/**
 * Append one line (a single O_APPEND write: the lines of this process's concurrent samples never interleave).
 * @param folder the writer's own folder: the run folder, or `shards/<kkk>/` of a shard (RunWriter.ownDir), so that
 *   the nodes of a sharded run never append to one file (docs/cluster.md).
 */
export function appendInfraError(folder: string, e: InfraError): void {
  appendFileSync(join(folder, INFRA_ERRORS_JSONL), `${JSON.stringify(InfraErrorSchema.parse(e))}\n`);
}

/**
 * The last line per sample id of the run's infra-errors.jsonl (and its shards'), oldest first ([] without any). Lines that are torn
 * or invalid are skipped: the file explains, it never decides what is done.
 */
export function readInfraErrors(dir: string): InfraError[] {
  const byId = new Map<string, InfraError>();
  const paths = [join(dir, INFRA_ERRORS_JSONL), ...shardIndices(dir).map((k) => join(shardDir(dir, k), INFRA_ERRORS_JSONL))].filter((p) => existsSync(p));
  for (const line of paths.flatMap((p) => readFileSync(p, 'utf8').split('\n'))) {
    if (!line.trim()) continue;
    try {
      const e = InfraErrorSchema.parse(JSON.parse(line));
      byId.delete(e.id);
      byId.set(e.id, e);
    } catch {
      /* a torn last line */
    }
  }
  return [...byId.values()];
}
