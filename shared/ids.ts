/** Ids the workbench addresses runs and samples by (folder names under the runs root, never paths). */
import { z } from 'zod';

/** A run is addressed by its folder name under the runs root (never a path). */
export const RunIdSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,200}$/, 'a run id is a folder name under the runs root').refine((s) => s !== '.' && s !== '..', 'not a run id');
/** A sample id: its folder name under `samples/` (shared/run.ts SampleSpec.id). */
export const SampleIdSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/).refine((s) => s !== '.' && s !== '..', 'not a sample id');
