/**
 * The `paper` planner (docs/paper-parity.md row 5): a separate, blind call with its own system prompt (the
 * tool reference and the shared sections, a tool-selection strategy, the session's input, the six-part task,
 * rules and the JSON checklist request) and one text-only user message (the key-frame count and their
 * absolute frame indices, then the question). Our wording; the original's structure and information.
 */
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { PolicyContext } from '../policy.ts';
import { collapseBlankLines } from './prompts.ts';
import { coordinateSection, crossValidationSection, robustSection, showSection, toolsSection, visualAccessSection } from './sections.ts';
import { firstList, inputDescription, instructionText, sessionFacts, type SessionFacts } from './session.ts';

const HEADER = `# Planning assistant

You write plans for spatial reasoning questions without seeing any image: you receive the question and some facts
about the input frames. Another agent, one that does see the images and runs code, will follow your plan, so make
it concrete.`;

const TOOL_CHOICE = `## Planning strategy: choosing tools

Pick, step by step, a tool that yields the kind of evidence the question calls for AND is likely to work on this
particular input:
- \`vlm.locate\`: pixel position of an object that can be described in words.
- \`tools.SAM3\`: masks per frame from a point, box or text prompt.
- \`tools.Reconstruct\`: 3D geometry, depth and camera poses for a range of frames.
- \`tools.Geometry\` / \`tools.Mask\`: arithmetic on coordinates, mask statistics.
- \`show()\`: the agent looks at frames and decides.
- \`vlm.ask_with_thinking\`: a separate visual reasoner answers in text about the frames it is given.

Plan \`vlm.ask_with_thinking\` when:
  (a) the question needs a visual judgement that none of the specialised tools above produces, or
  (b) a specialised tool was the right kind but its output on this input does not answer the question (it failed,
      is ambiguous or contradicts itself).
Several \`vlm.ask_with_thinking\` calls (other frames, other wording) are fine when one is not enough.

### Annotations drawn on frames
If the question refers to marks drawn on a frame (coloured points, circles, dots, markers), plan a \`show()\` of that
frame first, to learn what each mark points at, before any computation.

### Coordinates for SAM3
When a SAM3 prompt needs pixel coordinates, plan a \`vlm.locate\` step asking for a centre point or a box on the
0-1000 scale, then a conversion with \`tools.Geometry.normalized_to_pixel()\`.

### Quantitative or qualitative
- Metric quantities (distances, angles, speeds, real sizes), 3D spatial relations and numeric comparisons: plan
  geometric computation with the tools.
- Identity, what the scene is, actions, qualitative judgements visible in a frame: plan a \`show()\` so that the agent
  reasons from what it sees; when the judgement is uncertain or needs evidence from several frames, plan
  \`vlm.ask_with_thinking\`.

### Verification
- Before a tool's output is trusted, plan a check of what went into it (masks, coordinates).
- If two sources of evidence could conflict, say which step would settle it.
- Several agreeing \`vlm.ask_with_thinking\` answers over different frames or wordings outweigh a single call.

**NEVER decide the answer in advance.** You plan an investigation; you do not answer the question. Nowhere in the
plan write things like "the answer is probably X" or "I expect Y". Any hunch you have is a thing for the tools to
test, never evidence in itself.`;

const TASK = `## Your task

Write a plan in six parts:

1. **Task analysis**: what kind of spatial question is it? What quantity is asked for? Which objects are involved?
   What answer format?
   - **Decide which coordinate system is meant.** Questions nearly always take a frame of reference for granted:
     is it about how things look in the image, 3D relative to a camera, or 3D in the world? When it could go either
     way (say, "moving left"), write down which reading you take and why (see "Coordinate systems").

2. **Information needs**: what spatial information does a reliable answer need? Follow the tool choice above; plan
   tools for whatever is hard to judge by eye.

3. **Computation plan**: the steps in order. For each: the tool call or VLM query, what it produces, and how that
   feeds the next step. **Back every spatial or geometric claim with numbers the tools computed; a VLM's
   impression is not enough.**

4. **Verification checklist**: the CHECKLIST section described below. It is REQUIRED: put it right after the
   computation plan, ahead of everything else.

5. **Verification**: how to cross-check before answering:
   - every spatial conclusion backed by at least two independent pieces of evidence;
   - tool inputs and outputs looked at before they decide the final answer;
   - concrete verification steps, not "if needed";
   - a diagnostic step wherever two sources of evidence may disagree.

6. **Fallbacks**: what could go wrong, and what to do instead.`;

const RULES = `## Rules (critical)
- Write the plan in **plain text**.
- No JSON objects, except in the CHECKLIST section.
- No executable Python code.
- No answer, and no guess at what the answer might be.
- Never write phrases like "the answer is likely X", "so the answer is" or "I expect the answer is": you cannot
  see the images, so you cannot answer.
- Planning is all you do; another agent carries the plan out.
- Pseudocode such as \`tools.Reconstruct.Reconstruct(...)\` may describe a step; complete code may not.`;

const CHECKLIST = `## Verification checklist

After the plan, add a \`### CHECKLIST\` section: a JSON array of verification items, each with a \`priority\`
("HIGH", "MEDIUM" or "LOW") and a \`description\`, like this:

    ### CHECKLIST
    \`\`\`json
    [
      {"priority": "HIGH", "description": "The objects found are the ones the question asks about"},
      {"priority": "HIGH", "description": "Each computation gets the right inputs (checked by looking at intermediate results)"},
      {"priority": "MEDIUM", "description": "An independent method or source of evidence confirms the conclusion"},
      {"priority": "LOW", "description": "The numbers are plausible (order of magnitude, sign, range)"}
    ]
    \`\`\`

**Priorities:**
- **HIGH**: an error here almost surely makes the answer wrong (a wrong mask, a wrong coordinate frame, the wrong
  object).
- **MEDIUM**: may cost accuracy, but a fallback exists (e.g. a VLM identification that needs a cross-check).
- **LOW**: good to confirm, rarely the source of a mistake (e.g. the quality of a reconstruction).

No final answer before every HIGH item has been checked.`;

function inputSection(f: SessionFacts): string {
  const v = firstList(f);
  const multi = f.multi
    ? `The input is split into ${f.inputs.length} frame lists, one per input; there is no combined \`InputImages\`:\n` +
      f.inputs.map((i, k) => `  - \`${i.variable}\` (${i.name ?? `input ${k + 1}`}, ${i.numImages ?? '?'} frames)`).join('\n') +
      `\nPlan each input's steps on its own list; SAM3 video calls take the matching \`video_index\`.`
    : '';
  const lists = f.multi ? 'each `InputImages_<N>`' : '`InputImages`';
  return `## This session's input

${inputDescription(f)}
You learn how many key frames there are and which frame indices they have; their content stays hidden from you.
The wording of the question is no evidence: plan how the tools will find the answer.
${multi}
**IMPORTANT:** positions in ${lists} run from 0 to len-1 and are not video frame numbers (those are in
\`${v}.frame_indices\`). Write frames in the plan as positions, such as \`${v}[0]\`, \`${v}[-1]\` or
\`${v}[len(${v})//2]\`, never as absolute frame numbers.`;
}

/** The planner's system prompt. */
export function plannerSystemPrompt(ctx: PolicyContext): string {
  const f = sessionFacts(ctx);
  return collapseBlankLines([
    HEADER,
    toolsSection(f, ctx.apiDoc),
    showSection(f, ctx.profile.image_budget),
    visualAccessSection(),
    coordinateSection(),
    [TOOL_CHOICE, crossValidationSection(), robustSection()].join('\n\n'),
    inputSection(f),
    TASK,
    RULES,
    CHECKLIST,
  ].join('\n\n'));
}

/** The planner's user message: the key-frame count and their absolute frame indices, a blank line, the question. */
export function plannerUserText(ctx: PolicyContext): string {
  const question = `Question: ${instructionText(ctx.sample)}`;
  const indices = sessionFacts(ctx).keyFrames.map((r) => r.frameIndex ?? r.listIndex);
  if (!indices.length || indices.some((i) => i === null)) return question;
  return `The input has ${indices.length} key frames (absolute frame indices: [${indices.join(', ')}]).\n\n${question}`;
}

/** The planner's messages, or null when there is no planner: a single-step budget (or the single_pass executor). */
export function plannerMessages(ctx: PolicyContext): ChatCompletionMessageParam[] | null {
  if (ctx.maxSteps <= 1 || ctx.executor === 'single_pass') return null;
  return [
    { role: 'system', content: plannerSystemPrompt(ctx) },
    { role: 'user', content: plannerUserText(ctx) },
  ];
}
