/** Fixtures of the paper-policy unit tests: a PolicyContext for test/fixtures/video_bedroom/bedroom.mp4 and CellResults. */
import { type CellImage, type CellResult, CellResultSchema } from '../../shared/kernel.ts';
import { PROFILES } from '../../shared/profiles.ts';
import type { SampleSpec } from '../../shared/run.ts';
import type { PolicyContext } from '../../electron/services/agent/policy.ts';

/** prepare()'s summary of bedroom.mp4 bound with every frame at 768 px (as spatial_runtime prints it). */
export const BEDROOM_SUMMARY = [
  'InputImages = InputImages(200 frames, indices 0..199, 768x432, video bedroom.mp4)',
  'Metadata = Metadata(video /data/bedroom.mp4); video: 200 frames, 30 fps, 6.67 s, 960x540 (W x H); bound: 200 frames, ' +
    '768x432 (resized from 960x540, full field of view); frame_indices: 0, 1, 2, 3, 4, 5, 6, ..., 198, 199; intrinsics: unknown; depth: no; poses: none',
].join('\n');

/** The 32 key frames of 200 (round half to even), labelled `frame <absolute index>` like spatial_runtime.session.key_frames. */
export const KEY_FRAME_INDICES = [0, 6, 13, 19, 26, 32, 39, 45, 51, 58, 64, 71, 77, 83, 90, 96, 103, 109, 116, 122, 128, 135, 141, 148, 154, 160, 167, 173, 180, 186, 193, 199];

export const keyFrame = (frame: number, i: number, label = `frame ${frame}`): CellImage => ({
  label, index: i, width: 768, height: 432, source: 'show', png: `PNG${frame}`,
});

export const API_DOC = '## Pre-loaded names\n\n- `np` (module numpy): NumPy.\n- API-DOC-MARKER `tools.Geometry.normalized_to_pixel(coords, W, H)`';

export const VSI_SAMPLE: SampleSpec = {
  id: 'bedroom-1',
  question: 'Which object is closer to the bed, the lamp or the door?',
  choices: ['A. lamp', 'B. door'],
  inputs: [{ kind: 'video', path: '/data/bedroom.mp4' }],
  question_type: 'object_rel_distance',
};

export function context(over: Partial<PolicyContext> = {}): PolicyContext {
  return {
    sample: VSI_SAMPLE,
    executor: 'code',
    maxSteps: 30,
    apiDoc: API_DOC,
    inputSummary: BEDROOM_SUMMARY,
    keyFrames: KEY_FRAME_INDICES.map((f, i) => keyFrame(f, i)),
    profile: PROFILES.paper,
    ...over,
  };
}

/** A CellResult through its zod schema (so the fixture is a valid record). */
export function cell(over: Partial<CellResult> = {}): CellResult {
  return CellResultSchema.parse({
    index: 1, origin: 'agent', code: 'x = 1', status: 'ok', startedAt: '2026-01-01T00:00:00.000Z', durationMs: 250,
    stdout: '', stderr: '', result: null, error: null, violations: [], images: [], answer: null, artifacts: [], variables: [], notes: [],
    ...over,
  });
}

/** A show() image of a cell. */
export const shown = (index: number, label: string | null = null, source: CellImage['source'] = 'show'): CellImage => ({
  label, index, width: 768, height: 432, source, png: 'AAAA',
});

/** IPython's traceback of `a = 1\nb = undefined_name\nc = 3` (colours off). */
export const NAME_ERROR = {
  ename: 'NameError',
  evalue: "name 'undefined_name' is not defined",
  traceback: [
    '---------------------------------------------------------------------------',
    'NameError                                 Traceback (most recent call last)',
    'Cell In[3], line 2\n      1 a = 1\n----> 2 b = undefined_name\n      3 c = 3\n',
    "NameError: name 'undefined_name' is not defined",
  ],
  lineno: 2,
  line: 'b = undefined_name',
};

/** IPython's traceback of an exception raised at `line` of a cell (the cell's own frame). */
export function zeroDivision(line: number, source = '1/0'): CellResult['error'] {
  return {
    ename: 'ZeroDivisionError',
    evalue: 'division by zero',
    traceback: [
      '---------------------------------------------------------------------------',
      'ZeroDivisionError                         Traceback (most recent call last)',
      `Cell In[7], line ${line}\n----> ${line} ${source}\n`,
      'ZeroDivisionError: division by zero',
    ],
    lineno: line,
    line: source,
  };
}

/** A variable summary line as the paper kernel prints it. */
export const variable = (name: string, line: string, size_mb: number | null = null): CellResult['variables'][number] => ({
  name, type: line.split(', ')[0]!, size_mb, line: `${name}: ${line}`,
});
