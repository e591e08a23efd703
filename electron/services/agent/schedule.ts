/**
 * The order a batch runs its samples in. Samples about the same media (VSI-Bench asks ~18 questions per scene video)
 * run one after another, so the perception server's result cache, its single-flight of identical requests and the
 * kernels' frame cache are hit instead of computing the same reconstruction again minutes later, after it may have
 * been evicted. Within a group, and between groups, the dataset's order is kept (the first sample of each group
 * decides where the group goes).
 */
import type { SampleSpec } from '../../../shared/run.ts';

/** How a batch orders its samples: `media` groups samples with the same inputs; `dataset` keeps the file's order. */
export type SampleOrder = 'media' | 'dataset';

/** The media a sample reads: the paths of its inputs (and their depth, camera and pose files), in order. */
export function mediaKey(sample: SampleSpec): string {
  return JSON.stringify(sample.inputs.map((inp) => {
    const v = inp as Record<string, unknown>;
    return [v['kind'], v['path'] ?? null, v['files'] ?? null, v['depth'] ?? null, v['camera'] ?? null, v['poses'] ?? null];
  }));
}

/**
 * The samples in run order: with `media`, grouped by {@link mediaKey}, each group where its first sample was,
 * dataset order inside a group (a stable grouping: the same samples always give the same order, so --resume
 * continues the same schedule). With `dataset`, unchanged.
 */
export function scheduleSamples(samples: readonly SampleSpec[], order: SampleOrder = 'media'): SampleSpec[] {
  if (order === 'dataset') return [...samples];
  const groups = new Map<string, SampleSpec[]>();
  for (const s of samples) {
    const key = mediaKey(s);
    const g = groups.get(key);
    if (g) g.push(s);
    else groups.set(key, [s]);
  }
  return [...groups.values()].flat();
}
