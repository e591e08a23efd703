/**
 * Prompts of the code-as-action agent: the system prompt (tool API generated from the runtime's
 * docstrings, coordinate conventions, rules, step budget, answer format), the planner prompt, the
 * first user message and the format reminder.
 */
import type { SampleSpec } from '../../../shared/run.ts';

export type Executor = 'code' | 'single_pass' | 'tool_call';

const CONVENTIONS = `## Conventions
- Units are metres; depth is metric depth along the camera z axis.
- Cameras: extrinsics are camera-to-world 4x4 matrices in OpenCV axes (x right, y down, z forward).
- Reconstructions are gravity-aligned: +Y is up, the floor is at Y = 0, the first camera looks toward -Z.
- Intrinsics K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] in pixels; pixel (u, v) = (column, row), origin at the
  centre of the top-left pixel.
- Frame indices are ABSOLUTE indices in the source video (InputImages[k].frame_index), not list positions.`;

const RULES = `## Rules
- The kernel is persistent: variables from earlier cells are still there.
- Do not read or write files, import os/sys/subprocess, use eval/exec or dunder attributes: a safety check
  rejects such cells. The inputs are already loaded.
- Check intermediate results (print shapes and values, show() images) before you rely on them.
- Measure; do not guess. Prefer 3D geometry from tools.Reconstruct over judging sizes from pixels.
- Finish by calling ReturnAnswer(answer) with a str (the option letter for multiple choice), an int or a float.`;

function formatSection(executor: Executor): string {
  if (executor === 'tool_call') {
    return `## Answer format
Each step, reply with exactly one JSON object in a \`\`\`json block:
{"tool": "<callable, e.g. tools.Geometry.distance or ReturnAnswer>", "args": [...], "kwargs": {...}, "assign": "<variable name or null>"}
Strings that start with "$" are references to kernel variables ("$recon" means the variable recon).
It runs as one assignment, e.g. d = tools.Geometry.distance(p, q).`;
  }
  return `## Answer format
Each step, reply with these four sections, the code in exactly one \`\`\`python block:
Purpose: why this step
Reasoning: what you know so far and what it implies
Next Goal: what this cell will establish
Code:
\`\`\`python
# the cell to run
\`\`\`${executor === 'single_pass' ? '\nYou have ONE cell: it must do all the work and end with ReturnAnswer(...).' : ''}`;
}

/** The system prompt. `apiDoc` is `python -m spatial_runtime.apidoc`'s output. */
export function systemPrompt(apiDoc: string, executor: Executor, maxSteps: number): string {
  const budget = executor === 'single_pass'
    ? 'You have exactly one step.'
    : `You have at most ${maxSteps} steps (cells). Each step's output (stdout, errors, new variables, show() images) comes back to you.`;
  return [
    'You answer spatial questions about videos and images by writing Python that runs in a persistent Jupyter kernel. ' +
      'The input frames and perception tools are already loaded. ' + budget,
    formatSection(executor),
    RULES,
    CONVENTIONS,
    '## Tool reference (generated from the runtime)',
    apiDoc.trim(),
  ].join('\n\n');
}

/** The question as the model sees it, with its choices. */
export function questionText(sample: SampleSpec): string {
  // A benchmark's own format instruction replaces the generic one.
  const how = sample.instruction ?? (sample.choices?.length ? 'Answer with the option letter.' : '');
  const choices = sample.choices?.length ? `\nChoices:\n${sample.choices.join('\n')}` : '';
  return `Question: ${sample.question}${choices}${how ? `\n${how}` : ''}`;
}

/** The planner's prompt: question and input metadata, no images. */
export function plannerPrompt(sample: SampleSpec, inputSummary: string): string {
  return [
    'Plan how to answer this spatial question with Python and the perception tools (3D reconstruction, segmentation, geometry).',
    questionText(sample),
    `Inputs:\n${inputSummary}`,
    'Reply with a short numbered plan and a checklist of what must be verified before answering. No code.',
  ].join('\n\n');
}

/** Text of the first user message (key frames are attached as images). */
export function firstUserText(sample: SampleSpec, inputSummary: string, plan: string | null, keyFrameLabels: string[]): string {
  return [
    keyFrameLabels.length ? `Key frames attached: ${keyFrameLabels.join(', ')}.` : 'No key frames attached.',
    `Inputs bound in the kernel:\n${inputSummary}`,
    questionText(sample),
    plan ? `Plan:\n${plan}` : '',
  ].filter(Boolean).join('\n\n');
}

export function formatReminder(executor: Executor, problem: string): string {
  return executor === 'tool_call'
    ? `Your reply could not be used: ${problem}. Reply with one \`\`\`json block holding {"tool": ..., "args": [...], "kwargs": {...}, "assign": ...}.`
    : `Your reply could not be used: ${problem}. Reply with Purpose, Reasoning, Next Goal and Code, the code in exactly one \`\`\`python block.`;
}

export const LAST_STEP_WARNING = 'Warning: only one step remains. Call ReturnAnswer(...) with your best answer in the next cell.';

/** The direct-answer fallback prompt. */
export function directAnswerPrompt(sample: SampleSpec, findings: string): string {
  return [
    questionText(sample),
    findings ? `What was found so far:\n${findings}` : '',
    'Give your best final answer. Put it in \\boxed{...} on the last line.',
  ].filter(Boolean).join('\n\n');
}
