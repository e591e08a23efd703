/**
 * The `paper` main conversation's opening: the system prompt (docs/paper-parity.md row 18.1: its thirteen
 * sections in order, our wording) and the first user messages (row 2: header with counts and the key-frame
 * mapping, the key frames, the instruction; row 5: the plan and the transition message after them).
 */
import type { ChatCompletionContentPart, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { CellImage } from '../../../../shared/kernel.ts';
import type { PolicyContext } from '../policy.ts';
import type { Executor } from '../prompt.ts';
import { stripThinking } from './parse.ts';
import { coordinateSection, crossValidationSection, robustSection, showSection, toolsSection, visualAccessSection } from './sections.ts';
import { inputDescription, instructionText, keyFrameMapping, listsName, sessionFacts, type SessionFacts } from './session.ts';

/** Runs of blank lines collapse to one. */
export const collapseBlankLines = (text: string): string => text.replace(/\n{3,}/g, '\n\n').trim();

/** A key frame (or any CellImage) as an image part of a user message. */
export const imagePart = (im: CellImage): ChatCompletionContentPart => ({ type: 'image_url', image_url: { url: `data:image/png;base64,${im.png ?? ''}` } });

const headerSection = (f: SessionFacts): string => {
  const inputs = f.multi
    ? `\`InputImages_1\`..\`InputImages_${f.inputs.length}\` (one frame list per input) and \`Metadata\``
    : '`InputImages` (a list of frames) and `Metadata`';
  return `# Spatial reasoning agent

Your job: answer questions about space and motion in images and videos, by writing Python that a Jupyter kernel runs.
Your input is ${inputs}; the section "This session's input" below gives the details.`;
};

function responseFormatSection(executor: Executor): string {
  if (executor === 'tool_call') {
    return `## Reply format (required)

Every reply is exactly one tool call: a JSON object in a \`\`\`json block,
\`{"tool": "tools.Geometry.distance", "args": ["$p", "$q"], "kwargs": {}, "assign": "d"}\`.
- \`tool\`: a dotted callable (a tool method, \`vlm.locate\`, \`show\`, \`ReturnAnswer\`, ...);
- \`args\` / \`kwargs\`: JSON values; a string beginning with "$" names a kernel variable ("$recon" is \`recon\`);
- \`assign\`: the variable that receives the result, or null.
The call runs as one Python assignment (\`d = tools.Geometry.distance(p, q)\`) and its value is reported back.`;
  }
  return `## Reply format (required)

Every reply MUST have exactly these four bold sections:

**Purpose**: what this step is for

**Reasoning**: your reasoning, step by step

**Next Goal**: what you intend to do after this step

**Code**:
\`\`\`python
# your cell, exactly as it should run
print(len(InputImages))
\`\`\`

Each of the four sections must be present, and the code sits in a \`\`\`python block.`;
}

const returnAnswerSection = (): string => `## ReturnAnswer: submitting the final answer

\`\`\`python
ReturnAnswer("C")                            # the letter of an option
ReturnAnswer(4)                              # an integer
ReturnAnswer(2.75)                           # a float
ReturnAnswer("the lamp is left of the bed")  # free text
\`\`\`

It takes a \`str\`, an \`int\` or a \`float\`. One call submits your final answer and ends the session.`;

function codeRulesSection(f: SessionFacts): string {
  const lists = f.multi ? f.inputs.map((i) => `\`${i.variable}\``).join(', ') : '`InputImages`';
  return `## Code rules

- **Already imported** (do not import them again): \`numpy as np\`, \`math\`, \`collections\`, \`itertools\`, \`functools\`,
  \`matplotlib\`, \`matplotlib.pyplot as plt\`, \`scipy\` (with \`ndimage\`, \`spatial\`, \`signal\`, \`optimize\`).
- **Not allowed** (a safety check rejects the cell): \`os\`, \`subprocess\`, \`sys\` and other system modules, reading
  or writing files (\`open()\`, saving or loading), the network, \`exec()\`, \`eval()\`, dunder attributes.
- Print with \`print()\`. Names starting with \`_\` are private.
- Each reply does one logical step, in short code.
- **NEVER** assign to the built-in names: \`feedback\`, \`tools\`, ${lists}, \`Metadata\`, \`ReturnAnswer\`, \`show\`, \`vlm\`.`;
}

function workflowSection(maxSteps: number): string {
  if (maxSteps <= 1) {
    return `## Workflow: ONE STEP ONLY
There is **only one code step**, with no retry. That one cell MUST:
1. gather all the evidence it needs (looking, tool calls, computation);
2. end by calling \`ReturnAnswer(...)\` with your final answer.

Without \`ReturnAnswer\` the session is stopped and the answer is guessed.
Nothing can wait for a later step, since none follows.`;
  }
  return `## Workflow
A plan has been prepared for you. **Stick to it**, writing the code for each of its steps.
- Run the tool calls the plan names, and leave none of its steps out.
- **Cross-validate**: before you answer, make sure at least two independent lines of evidence support the
  conclusion. If what you see and what you compute disagree, find out why before concluding.
- Prefer quantitative methods to visual judgement when they are available, after checking that their inputs (masks,
  coordinates) are right.

## Budget: ${maxSteps} steps.`;
}

function listAccess(f: SessionFacts): string {
  if (f.multi) {
    return `- ${f.inputs.map((i) => `\`${i.variable}\``).join(', ')}: one frame list per input (${f.totalBound ?? '?'} frames in all).
  There is **no combined \`InputImages\`**; use the per-input lists.
  - \`InputImages_<N>[i]\` is a frame (a PIL image with a \`.frame_index\` attribute).
  - \`i\` is a position in that input's list (0 to len-1), NOT an absolute video frame number.
  - \`InputImages_<N>[a:b]\` is again a frame list and keeps its frame indices.
  - \`InputImages_<N>.frame_indices\`: the absolute frame indices of input N (its own, not concatenated).
  - **The key frames in your first message are a SUBSET of these lists.**`;
  }
  const n = f.inputs[0]?.numImages ?? null;
  return `- \`InputImages\`: every one of the ${n === null ? '' : `${n} `}bound frames, of which the key frames are only a few; any of them can go to \`show()\`.
  - \`InputImages[i]\` is a frame (a PIL image with a \`.frame_index\` attribute).
  - **\`i\` counts positions in the list (0 to ${n === null ? 'len-1' : n - 1}); it is NOT a video frame number.** \`img.frame_index\` gives the absolute frame number.
  - \`InputImages[a:b]\` is again an \`InputImages\` and keeps the frame indices.
  - \`InputImages.frame_indices\`: the absolute frame index of every entry (e.g. [0, 10, 20, ...]).
  - Example: with \`InputImages.frame_indices == [0, 10, 20]\`, \`InputImages[2]\` is video frame 20.
  - **The key frames in your first message are a SUBSET of InputImages**; most entries are not among them.`;
}

function metadataLines(f: SessionFacts): string {
  const val = (x: number | null): string => (x === null ? 'None' : String(x));
  const line = (i: SessionFacts['inputs'][number]): string =>
    `- \`${i.metadata}\`: \`is_video=${i.kind === 'video' ? 'True' : 'False'}\`, \`fps=${val(i.fps)}\`, \`total_frames=${val(i.totalFrames)}\`, ` +
    `\`num_images=${val(i.numImages)}\`${i.durationSec ? `, \`duration_sec=${i.durationSec.toFixed(1)}\`` : ''}`;
  const lines = [...new Map(f.inputs.map((i) => [i.metadata, line(i)])).values()];
  lines.push(`  - \`${f.inputs[0]?.metadata ?? 'Metadata'}.source\`: the path of the input as given (video file, image file or folder)`);
  if (f.multi) {
    lines.push(`
### Several inputs
This sample has ${f.inputs.length} separate inputs, each bound as its own \`InputImages_<N>\` (from 1); there is no
\`InputImages\`. Pass them to the tools like a single \`InputImages\`:
\`\`\`python
seg = tools.SAM3.segment_image_by_text(InputImages_1[0], "red car")
recon = tools.Reconstruct.Reconstruct(InputImages_2[:32])
seg = tools.SAM3.segment_video_by_text(["person"], video_index=2)   # track in the second video
\`\`\`
Analyse each input on its own when needed, then compare them for questions about several.`);
  }
  return lines.join('\n');
}

function sessionSection(ctx: PolicyContext, f: SessionFacts): string {
  const k = ctx.keyFrames.length;
  const intro = k
    ? `Your first message holds ${k} **key frames**, an overview sampled from ${listsName(f)}. Call \`show(image)\` to look at other frames or at intermediate results.`
    : 'You see images by calling `show(image)`: they come back in the next feedback. `show()` is your main way to look.';
  return [
    "## This session's input",
    intro,
    inputDescription(f),
    [listAccess(f), ...(k ? [`- **Key frames and where they are:**\n${keyFrameMapping(f, 'Key frame ')}`] : []), metadataLines(f)].join('\n'),
  ].join('\n\n');
}

/** The main system prompt (row 18.1), built per sample. */
export function paperSystemPrompt(ctx: PolicyContext): string {
  const f = sessionFacts(ctx);
  return collapseBlankLines([
    headerSection(f),
    responseFormatSection(ctx.executor),
    showSection(f, ctx.profile.image_budget),
    visualAccessSection(),
    toolsSection(f, ctx.apiDoc),
    coordinateSection(),
    robustSection(),
    crossValidationSection(),
    returnAnswerSection(),
    codeRulesSection(f),
    workflowSection(ctx.executor === 'single_pass' ? 1 : ctx.maxSteps),
    sessionSection(ctx, f),
  ].join('\n\n'));
}

/** The first user message (row 2): a header with the counts and the mapping, the key frames, the instruction. */
export function firstUserMessage(ctx: PolicyContext): ChatCompletionMessageParam {
  const instruction = instructionText(ctx.sample);
  if (!ctx.keyFrames.length) return { role: 'user', content: instruction };
  const f = sessionFacts(ctx);
  const across = f.multi ? ` (over ${f.inputs.length} inputs)` : '';
  const total = f.totalBound !== null ? ` (${f.totalBound} frames in all)` : '';
  const header = `These ${ctx.keyFrames.length} key frames are a subset of ${listsName(f)}${across}${total}, chosen as a visual overview.\n` +
    `Key frames in order (position → variable[list index] → frame):\n${keyFrameMapping(f)}`;
  return {
    role: 'user',
    content: [{ type: 'text', text: header }, ...ctx.keyFrames.map(imagePart), { type: 'text', text: instruction }],
  };
}

/** The two user messages that hand the plan over (row 5): the plan verbatim, then the transition. */
export function planMessages(executor: Executor, plan: string): ChatCompletionMessageParam[] {
  const format = executor === 'tool_call'
    ? 'one JSON tool call in a ```json block'
    : 'the four sections **Purpose**, **Reasoning**, **Next Goal** and **Code**, the code in a ```python block';
  return [
    { role: 'user', content: `The plan to follow:\n\n${stripThinking(plan)}` },
    { role: 'user', content: `Plan accepted. Now carry it out one step at a time. Every reply MUST follow the required format: ${format}. Begin with step 1 of the plan.` },
  ];
}
