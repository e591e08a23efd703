/**
 * What the `paper` prompts say about the session, read from the PolicyContext: the bound inputs (from the
 * summary lines prepare() returned), the key frames (variable, list position, absolute frame index;
 * docs/paper-parity.md row 2) and the instruction (question, benchmark hint, options; row 18.3).
 */
import type { CellImage } from '../../../../shared/kernel.ts';
import type { SampleSpec } from '../../../../shared/run.ts';
import type { PolicyContext } from '../policy.ts';

/** One bound input. Counts are null when the summary does not say. */
export interface BoundInput {
  /** The frame list's name: `InputImages`, or `InputImages_k` with several inputs. */
  variable: string;
  /** Its Metadata's name (`Metadata`, or `Metadata_k` when the kernel binds one per input). */
  metadata: string;
  /** `video`, `images`, `rgbd`, `rgbd_sample`, or null. */
  kind: string | null;
  /** Source file or folder name. */
  name: string | null;
  /** Frames bound in the list. */
  numImages: number | null;
  /** Frames in the source. */
  totalFrames: number | null;
  fps: number | null;
  durationSec: number | null;
}

/** One key frame: where it is in the kernel and which source frame it is. */
export interface KeyFrameRef {
  variable: string;
  listIndex: number | null;
  frameIndex: number | null;
}

export interface SessionFacts {
  inputs: BoundInput[];
  /** Several frame lists (`InputImages_1..V`, no `InputImages`). */
  multi: boolean;
  isVideo: boolean;
  /** Bound frames over all inputs, or null when a count is unknown. */
  totalBound: number | null;
  keyFrames: KeyFrameRef[];
}

const num = (re: RegExp, s: string): number | null => {
  const m = re.exec(s);
  return m?.[1] !== undefined ? Number(m[1]) : null;
};

/** Suffix `_k` of a bound name (`''` for none). */
const suffixOf = (name: string): string => /_(\d+)$/.exec(name)?.[0] ?? '';

/**
 * The bound inputs, from prepare()'s summary (`InputImages = InputImages(200 frames, …)`, `Metadata =
 * Metadata(video /path/x.mp4); video: 200 frames, 30 fps, 6.67 s, …; bound: 200 frames, …`); when the summary
 * names no frame list, one entry per sample input with what the sample says.
 */
export function boundInputs(sample: SampleSpec, summary: string): BoundInput[] {
  const lines = summary.split('\n').map((l) => /^(\w+) = (.*)$/.exec(l.trim())).filter((m): m is RegExpExecArray => m !== null);
  const metas = new Map(lines.filter((m) => /^Metadata(_\d+)?$/.test(m[1]!)).map((m) => [suffixOf(m[1]!), { name: m[1]!, text: m[2]! }]));
  const lists = lines.filter((m) => /^InputImages(_\d+)?$/.test(m[1]!));
  if (!lists.length) {
    return sample.inputs.map((inp, i) => ({
      variable: sample.inputs.length > 1 ? `InputImages_${i + 1}` : 'InputImages',
      metadata: sample.inputs.length > 1 ? `Metadata_${i + 1}` : 'Metadata',
      kind: inp.kind, name: inp.path.split(/[\\/]/).pop() ?? null,
      numImages: null, totalFrames: null, fps: null, durationSec: null,
    }));
  }
  return lists.map((m) => {
    const variable = m[1]!;
    const meta = metas.get(suffixOf(variable)) ?? (metas.size === 1 ? [...metas.values()][0] : undefined);
    const t = meta?.text ?? '';
    const head = /^Metadata\((\w+) ([^)]*)\)/.exec(t);
    return {
      variable,
      metadata: meta?.name ?? 'Metadata',
      kind: head?.[1] ?? null,
      name: head?.[2]?.split(/[\\/]/).pop() ?? null,
      numImages: num(/\bbound: (\d+) frames?/, t) ?? num(/^InputImages\((\d+) frames?/, m[2]!),
      totalFrames: num(/\b(?:video|source): (\d+) /, t),
      fps: num(/, (\d+(?:\.\d+)?) fps\b/, t),
      durationSec: num(/, (\d+(?:\.\d+)?) s\b/, t),
    };
  });
}

/** Python's `round()` (half to even). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** List positions of `k` key frames over `n` bound frames: all of them if k ≥ n, else round(i(n−1)/(k−1)). */
export function keyFramePositions(n: number, k: number): number[] {
  if (k >= n) return Array.from({ length: n }, (_, i) => i);
  if (k <= 1) return k === 1 ? [0] : [];
  return Array.from({ length: k }, (_, i) => roundHalfEven((i * (n - 1)) / (k - 1)));
}

/**
 * Where each key frame is: from the image's `frame` metadata (the paper key-frame selection publishes it), else
 * from its label: `InputImages[12]` / `InputImages_2[12]` give the variable and list position, `frame 74` the
 * absolute frame index, `input 2 …` the variable `InputImages_2`. A position neither gives is recomputed with the
 * key-frame rule from that input's frame count.
 */
export function keyFrameRefs(frames: CellImage[], inputs: BoundInput[]): KeyFrameRef[] {
  const single = inputs.length === 1 ? inputs[0]!.variable : 'InputImages';
  const refs = frames.map((f): KeyFrameRef => {
    if (f.frame) return { variable: f.frame.input, listIndex: f.frame.position, frameIndex: f.frame.frame_index };
    const label = f.label ?? '';
    const listed = /\b(InputImages(?:_\d+)?)\[(\d+)\]/.exec(label);
    const input = /^input (\d+)\b/i.exec(label);
    return {
      variable: listed?.[1] ?? (input ? `InputImages_${input[1]}` : single),
      listIndex: listed ? Number(listed[2]) : null,
      frameIndex: num(/\bframe (\d+)\b/i, label),
    };
  });
  for (const input of inputs) {
    const mine = refs.filter((r) => r.variable === input.variable);
    if (input.numImages === null || mine.every((r) => r.listIndex !== null)) continue;
    const positions = keyFramePositions(input.numImages, mine.length);
    mine.forEach((r, i) => (r.listIndex ??= positions[i] ?? null));
  }
  return refs;
}

export function sessionFacts(ctx: PolicyContext): SessionFacts {
  const inputs = boundInputs(ctx.sample, ctx.inputSummary);
  const counts = inputs.map((i) => i.numImages);
  return {
    inputs,
    multi: inputs.length > 1,
    isVideo: inputs.some((i) => i.kind === 'video') || (inputs.every((i) => i.kind === null) && ctx.sample.inputs.some((i) => i.kind === 'video')),
    totalBound: counts.every((c) => c !== null) ? counts.reduce<number>((a, c) => a + c!, 0) : null,
    keyFrames: keyFrameRefs(ctx.keyFrames, inputs),
  };
}

/** The name the prompts use for the frame lists: `InputImages`, or `InputImages_1..V`. */
export const listsName = (f: SessionFacts): string => (f.multi ? `InputImages_1..${f.inputs.length}` : 'InputImages');

/** The first frame list (examples in the prompts). */
export const firstList = (f: SessionFacts): string => f.inputs[0]?.variable ?? 'InputImages';

/**
 * The key-frame mapping, one line per key frame (`prefix#i → variable[position], frame N`); with more than 16
 * key frames only the first 5 and the last 5, with a line naming how many are left out.
 */
export function keyFrameMapping(f: SessionFacts, prefix = ''): string {
  const line = (r: KeyFrameRef, i: number): string =>
    `  ${prefix}#${i + 1} → ${r.variable}[${r.listIndex ?? '?'}]${r.frameIndex !== null ? `, ${f.isVideo ? 'video frame' : 'frame'} ${r.frameIndex}` : ''}`;
  const k = f.keyFrames;
  if (k.length <= 16) return k.map(line).join('\n');
  return [...k.slice(0, 5).map(line), `  … ${k.length - 10} more key frames …`, ...k.slice(-5).map((r, j) => line(r, k.length - 5 + j))].join('\n');
}

/** The input description line(s): `VIDEO: N frames at F FPS.` (or N sampled from T), `N static images.`. */
export function inputDescription(f: SessionFacts): string {
  const fmt = (x: number | null): string => (x === null ? '?' : String(x));
  const video = (i: BoundInput): string => {
    const same = i.numImages !== null && i.numImages === i.totalFrames;
    const counts = same || i.totalFrames === null ? `${fmt(i.numImages)} frames` : `${fmt(i.numImages)} sampled frames from ${fmt(i.totalFrames)} total`;
    return `${counts} at ${fmt(i.fps)} FPS.${i.durationSec ? ` Duration: ${i.durationSec.toFixed(1)}s.` : ''}`;
  };
  if (f.multi) {
    const per = f.inputs.map((i) => {
      const bits = [`${fmt(i.numImages)} frames`, ...(i.fps ? [`${i.fps} FPS`] : []), ...(i.durationSec ? [`${i.durationSec.toFixed(1)}s`] : [])];
      return `  ${i.variable}${i.name ? ` (${i.name})` : ''}: ${bits.join(', ')}`;
    });
    const head = f.isVideo ? `MULTI-VIDEO INPUT: ${f.inputs.length} videos` : `MULTI-INPUT: ${f.inputs.length} inputs`;
    return [`${head}, ${fmt(f.totalBound)} total frames.`, ...per].join('\n');
  }
  const only = f.inputs[0];
  if (only && only.kind === 'video') return `VIDEO: ${video(only)}`;
  return `${fmt(only?.numImages ?? null)} static images.`;
}

/** VSI-Bench's question types (how a sample is recognised as VSI-Bench). */
const VSI_BENCH_TYPES = new Set([
  'object_counting', 'object_abs_distance', 'object_size_estimation', 'room_size_estimation', 'object_rel_distance',
  'object_rel_direction_easy', 'object_rel_direction_medium', 'object_rel_direction_hard', 'route_planning', 'obj_appearance_order',
]);

/** Per-benchmark hints (our wording of the original's), keyed by the id prefix that names the benchmark. */
const HINTS: [prefix: string, hint: string][] = [
  ['vsibench', 'The images are frames of one video.\nFor a multiple-choice question, reply with the letter of the right option only.\nFor a numerical question, reply with one number.'],
  ['mmsivideo', 'Choose the best of the options below and answer with its letter alone.'],
  ['videommev2', 'Answer with the letter (A, B, C or D) of the correct option, nothing else.'],
  ['videomme', 'Answer with the letter (A, B, C or D) of the correct option, nothing else.'],
  ['cvbench', 'The sample holds 2 to 4 separate videos, each bound in the kernel as its own `InputImages_<N>` (from 1). ' +
    'To compare videos, give `vlm.ask_with_thinking(...)` frames from several of them. Answer a multiple-choice ' +
    "question with the option letter (A/B/C/D) and a yes/no question with 'Yes' or 'No'."],
  ['blink', 'Choose the best of the options below; answer with one letter in parentheses, like (A).'],
  ['mmsi', 'Reply with the letter of the right option only.'],
];

/** The benchmark hint for a sample (VSI-Bench by question type, others by the sample id's prefix), or null. */
export function benchmarkHint(sample: SampleSpec): string | null {
  // The paper's hint for the benchmark (by `benchmark`, else the id's prefix); otherwise the benchmark's own
  // instruction (`spatialclaw eval` samples carry one, in our words; docs/paper-parity.md).
  const id = (sample.benchmark ?? sample.id).toLowerCase().replace(/[-_.]/g, '');
  if (sample.question_type && VSI_BENCH_TYPES.has(sample.question_type)) return HINTS[0]![1];
  return HINTS.find(([prefix]) => id.startsWith(prefix))?.[1] ?? sample.instruction ?? null;
}

/** The instruction: the question, a blank line, the benchmark hint, then one line per option (`A. text`). */
export function instructionText(sample: SampleSpec): string {
  const hint = benchmarkHint(sample);
  const options = (sample.choices ?? []).map((c, i) => (/^\(?[A-Z][.):]/.test(c.trim()) ? c.trim() : `${String.fromCharCode(65 + i)}. ${c.trim()}`));
  return [sample.question, ...(hint ? ['', hint] : options.length ? [''] : []), ...options].join('\n');
}
