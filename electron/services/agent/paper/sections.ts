/**
 * Prompt sections the `paper` system prompt and the `paper` planner share (docs/paper-parity.md rows 5 and
 * 18.1): the tool reference, `show()`, visual access (`vlm.*`), coordinate systems, robust computation and
 * cross-validation. The wording is ours; the structure and the information follow the original's sections.
 */
import { firstList, type SessionFacts } from './session.ts';

/** Frames one Reconstruct call accepts, and native video frames one SAM3 video call may cover. */
export const RECONSTRUCT_MAX_FRAMES = 64;
export const SAM3_MAX_VIDEO_FRAMES = 1000;

const reconstructNotes = (): string => `### tools.Reconstruct: 3D reconstruction (GPU)
- \`tools.Reconstruct.Reconstruct(frames)\` returns a \`Reconstruction\`.
  - **At most ${RECONSTRUCT_MAX_FRAMES} frames**; more raise an error, so subsample first (\`InputImages[::k]\`).
  - 8 to 32 frames usually give the best result; more add little.
  - Absolute frame indices are read from the frames; pass \`frame_indices=\` only for plain images.
  - The world is gravity-aligned: +Y points up, the floor is near Y = 0, the first camera looks along -Z.
  - Point maps have the resolution of the input frames, so SAM3 masks index them without resizing.

**Reconstruction attributes**, indexed by ABSOLUTE frame index (not a list position):
\`\`\`
recon.frame_indices            # list[int], the absolute frame indices
recon.num_frames               # int
recon.metric_scale             # float, the backend's scale (informational; points are in metres)
recon.depth[fi]                # (H, W) float32 depth at frame fi
recon.extrinsics[fi]           # (4, 4) float64 camera-to-world pose
recon.intrinsics[fi]           # dict with fx, fy, cx, cy
recon.points[fi]               # (H, W, 3) float32 world XYZ
recon.points.points            # (N, H, W, 3) float32, all frames
recon.points.confidence        # (N, H, W) float32
recon.extrinsics.camera_poses  # (N, 4, 4) float64
\`\`\`

**Top-down view**: \`recon.render_bev(...)\` returns an image for \`show()\`. Use it to understand the layout,
relative positions or movements seen from above (which side of the bed is the lamp on, where is the person walking).

| argument | type | default | meaning |
|---|---|---|---|
| \`masks\` | \`PerFrameMask\` or (N, N_obj, H, W) bool | \`None\` | the objects to draw |
| \`labels\` | \`list[str]\` | \`None\` | object names (needed with a raw array) |
| \`ref_frame\` | \`int\` | \`0\` | absolute frame index whose camera orients the view (0: the first reconstructed frame) |
| \`ego_trajectory\` | \`bool\` | \`True\` | draw the camera's path (dashed, green to yellow) |

No point cloud is drawn: without masks and without the camera path the plot is empty. Objects that stay put get a
labelled oriented box; moving objects get a path coloured from **red** (first frame) to **blue** (last frame), a
dot where they start and an arrowhead showing the direction of motion, labelled at its middle. One frame is
enough; with one frame every object gets a box.
\`\`\`python
recon = tools.Reconstruct.Reconstruct(InputImages[:32])
show(recon.render_bev(masks=seg))                                 # objects from SAM3 masks
show(recon.render_bev(masks=mask_array, labels=["sofa", "lamp"]))  # a raw mask array
show(recon.render_bev(masks=seg, ref_frame=recon.frame_indices[5]))  # seen from another camera
\`\`\`

**Camera pose** (camera-to-world): \`pose = recon.extrinsics[fi]\`; \`pose[:3, 3]\` position, \`pose[:3, 0]\` image right,
\`pose[:3, 1]\` image DOWN (not world up), \`pose[:3, 2]\` forward into the scene.`;

const sam3VideoNotes = (): string => `
**Video methods** (track objects through the source video; slow, about 15 s):
- **At most ${SAM3_MAX_VIDEO_FRAMES} video frames per call.** Choose a window with \`start_frame\` / \`end_frame\` (absolute video
  frames, end excluded); a longer window raises an error.
- \`prompt_frame_idx\` counts from the window's start (0 = \`start_frame\`): with \`start_frame=100, end_frame=200\`,
  \`prompt_frame_idx=0\` prompts on video frame 100.
- \`video_index\` (from 1) picks the video: 1 for single-video samples, N for \`InputImages_N\` in multi-video samples.
- The resulting \`PerFrameMask\` uses absolute video frame indices.
- \`tools.SAM3.segment_video_by_text(prompts, labels=None, prompt_frame_idx=0, frame_indices=None, start_frame=None, end_frame=None, video_index=1)\`:
  one text prompt per object, e.g. \`["red car", "walking person"]\`.
- \`tools.SAM3.segment_video_by_points(points_per_object, point_labels_per_object, labels, prompt_frame_idx=0, start_frame=None, end_frame=None, video_index=1)\`:
  pixel clicks on the prompt frame, one list per object (\`[[[100, 200]], [[300, 150]]]\`, labels \`[[1], [1]]\`); only to track one object through frames.
- \`tools.SAM3.segment_video_by_box(boxes, labels, prompt_frame_idx=0, start_frame=None, end_frame=None, video_index=1)\`:
  one pixel box \`[x1, y1, x2, y2]\` per object on the prompt frame, as many labels as boxes.
`;

const sam3Notes = (f: SessionFacts): string => {
  const v = firstList(f);
  return `### tools.SAM3: segmentation (GPU)

SAM3 takes text, point or box prompts. Text finds every matching instance without coordinates; points and boxes
pick one particular object.

**Text**: \`seg = tools.SAM3.segment_image_by_text(image, "chair")\` (every chair found).

**Coordinates from the grounding VLM** (one particular instance):
1. ask \`vlm.locate\` for a centre point or a box on the 0-1000 scale (see "Using vlm.locate");
2. read the numbers from its answer;
3. convert them to pixels: \`tools.Geometry.normalized_to_pixel((x1, y1, x2, y2), W, H)\`;
4. pass the pixels to a point or box method.

Text when the object is distinctive or you want all instances; points or a box for one instance among similar
ones, or when text gives an empty mask.

**Image methods** (always available, fast):
1. \`tools.SAM3.segment_image_by_points(image, points, point_labels, label="object")\`: pixel clicks \`[[x, y]]\` on one
   image, \`point_labels\` 1 for foreground and 0 for background.
2. \`tools.SAM3.segment_image_by_box(image, box, label="object")\`: a pixel box \`[x1, y1, x2, y2]\`.
3. \`tools.SAM3.segment_image_by_text(image, prompt, label=None, confidence_threshold=0.3)\`: every instance;
   \`seg.num_objects\` counts them; raises when nothing is found.
${f.isVideo ? sam3VideoNotes() : ''}
- \`tools.SAM3.is_object_exist(images, object_name)\` returns \`{"exists": [bool, ...], "counts": [int, ...], "summary": str}\`:
  whether, and how many times, the object appears in each image.

**PerFrameMask**, indexed by ABSOLUTE frame index:
\`\`\`
seg.frame_indices                       # list[int], e.g. [15] for one image
seg.labels, seg.num_frames, seg.num_objects
fi = seg.frame_indices[0]               # always take fi from here, never 0
seg.get_mask(frame=fi, object=0)        # (H, W) bool; object by index or by label
seg[fi]                                 # (N_obj, H, W) bool
seg.get_centroid_3d(recon, frame=fi, object=0)    # (3,) median of the mask's confident 3D points; NaN if the mask is empty
seg.get_masked_points(recon, frame=fi, object=0)  # (K, 3) world points under the mask
seg.visualize(fi)                       # an overlay image to show()
\`\`\`

**Check a segmentation in two steps**: first the numbers, then look.
\`\`\`
for fi in seg.frame_indices:
    for i, label in enumerate(seg.labels):
        print(fi, label, seg.get_mask(frame=fi, object=i).sum())   # 0 pixels: it failed, try another prompt
img = ${v}[5]
seg = tools.SAM3.segment_image_by_text(img, "chair")
show([img, seg.visualize(seg.frame_indices[0])])                    # does the mask cover the right object?
\`\`\`
Masks have the size of the bound frames.`;
};

/** Markdown headings pushed two levels down, so the generated reference nests under "Available tools". */
const demoteHeadings = (md: string): string => md.replace(/^(#{1,4}) /gm, '$1## ');

/** Section "available tools": notes on Reconstruct and SAM3, then the generated reference (all tools). */
export function toolsSection(f: SessionFacts, apiDoc: string): string {
  return [
    '## Available tools',
    'Call them as `tools.X.method(...)`.',
    reconstructNotes(),
    sam3Notes(f),
    '### Reference (generated from the runtime: Reconstruct, SAM3, Graph, Time, Mask, Geometry, Draw and the other names)',
    demoteHeadings(apiDoc.trim()),
  ].join('\n\n');
}

/** Section `show()`: the main way to see, its arguments, uses, the image budget, no long frame lists. */
export function showSection(f: SessionFacts, budget: number): string {
  const v = firstList(f);
  return `## Looking at images: \`show()\` (your main way to see)

\`show(*images, label="")\` puts images into the next feedback message, where **you look at them yourself**.

| argument | type | meaning |
|---|---|---|
| \`images\` | frames, PIL images, uint8 arrays, overlays (\`VisualFeedback\`), or lists of them | what to attach |
| \`label\` | \`str\` | the caption drawn above each image (default: the source text of the first argument) |

Use it a lot:
- **Look at frames**: \`show(${v}[i])\` to see an annotated frame and find objects yourself.
- **Check intermediate results**: \`show(recon.render_bev(masks=seg))\`, mask overlays, depth maps.
- **Plots**: \`plt.show()\` is captured: every open figure is attached like a \`show()\`.
- **Budget: ${budget} images** over the whole session. After each step that shows images, the feedback reports what
  is left under \`[show() budget]\`.
- **Never pass long runs of frames** such as \`show(${v}[:40])\`; pick the few that tell most:
  \`show(${v}[0], ${v}[20], ${v}[45])\`.`;
}

/** Section visual access: `show`, `vlm.locate`, `vlm.ask_with_thinking`; which evidence; recipes; pitfalls. */
export function visualAccessSection(): string {
  return `## Visual access: \`show\`, \`vlm.locate\`, \`vlm.ask_with_thinking\`

Three ways to get visual information:
- \`show(images)\`: the images come back in the next feedback and you look at them yourself.
- \`vlm.locate(images, question) -> str\`: a grounding model gives the position of something you describe. At most 8
  images per call.
- \`vlm.ask_with_thinking(images, question) -> str\`: a separate visual reasoner thinks about the frames you pass
  and answers in text. At most 64 images per call.

### Which tool for which evidence
- \`vlm.locate\`: pixel position of an object you can put into words.
- \`tools.SAM3\`: a mask per frame from a point, box or text prompt.
- \`tools.Reconstruct\`: 3D geometry, depth and camera poses over a range of frames.
- \`tools.Geometry\`: arithmetic on coordinates and arrays.
- \`tools.Mask\`: mask statistics (centroid, area, IoU).
- \`show()\`: you look and decide.
- \`vlm.ask_with_thinking\`: a text answer about the frames from a separate reasoner.

A tool is the right choice when the question needs its kind of evidence AND it is likely to work on this very
input, which depends on the input as much as on the question: \`tools.Reconstruct\` is strong when the camera moves and the scene has
structure, weaker otherwise; \`vlm.locate\` needs a target you can describe.

\`vlm.ask_with_thinking\` is for two cases:
  (a) the question needs evidence that none of the specialised tools gives;
  (b) a specialised tool was the right kind but its result on this input does not answer the question (it failed,
      is ambiguous, or contradicts itself).

\`show()\` is for the judgements you want to make by looking.

### Using vlm.locate
Ask for coordinates on the 0-1000 scale and for numbers only:
- centre point, for \`tools.SAM3.segment_image_by_points()\`:
  \`vlm.locate(image, "The (x, y) centre of <object> on a 0-1000 scale. Answer with the numbers only.")\`
- box, for \`tools.SAM3.segment_image_by_box()\`:
  \`vlm.locate(image, "The box (x1, y1, x2, y2) around <object> on a 0-1000 scale. Answer with the numbers only.")\`
Then convert to pixels:
\`\`\`
px, py = tools.Geometry.normalized_to_pixel((vlm_x, vlm_y), W, H)
\`\`\`
Coordinates guessed by eye are unreliable: ground them with \`vlm.locate\`.

When the target is absent or ambiguous, \`vlm.locate\` answers \`Not visible\` (maybe followed by a short note).
Check for it before reading numbers from the answer; if you get it, try another frame, describe the target
better, or first find the right frame with \`vlm.ask_with_thinking\`.

### Using vlm.ask_with_thinking
Each call is independent: it sees only the images and the question you give it. Keep your own conclusions, earlier
answers and expected answers out of the question; word it neutrally, so that the answer rests on the images alone.

Pass the frames the question is about (at most 64); unrelated frames only add noise.

Call it again as often as useful:
- after an answer that it cannot tell from the images, with other frames or other wording;
- to confirm an answer, with different frames, or look yourself with \`show()\`.

Agreement across calls counts for more than a single answer; disagreement means the question leaves too much open:
rephrase it or pass frames that say more.

### Pitfalls
- **NEVER** assign to \`vlm\` or \`feedback\`: \`vlm = vlm.locate(...)\` wipes out the module. Use other names:
  \`coords = vlm.locate(...)\`, \`reply = vlm.ask_with_thinking(...)\`.`;
}

/** Section coordinate systems: four spaces, the pose convention, the gravity-aligned world, a direction recipe. */
export function coordinateSection(): string {
  return `## Coordinate systems: which frame of reference does the question mean?

Spatial questions nearly always assume a coordinate system without naming it. Settling which one comes first: the
wrong one gives the wrong answer however exact the computation.

### Four spaces that can disagree
- **Pixel space** (the 2D image): where things appear. An image position is a projection that mixes camera motion
  with object motion (something drifting right in the image may have moved right, or the camera turned left, or
  both). **What pixels suggest about motion or spatial relations is ambiguous** and is never evidence for a claim
  about the real world.
- **Camera space** (3D, relative to the camera at one frame): left, right, in front, behind as seen from that
  viewpoint. It changes from frame to frame as the camera moves: "left" at frame 10 may be "behind" at frame 60.
  Every camera-relative claim must say **which frame's camera**.
- **World space** (3D, fixed): coordinates that do not move with the camera. Positions stay consistent over time;
  real distances, speeds and paths live here. Its axes come from the reconstruction (anchored to the first camera)
  and carry no compass meaning.
- **Object-centred** (relative to where an object faces): "to the car's left", "in front of the person". Not the
  camera's view: an object facing the camera has its left and right **mirrored**. Find its heading first, then
  define left, right, front and behind from it.

### Conventions
- Reconstruct's camera poses are 4x4 camera-to-world matrices (OpenCV axes). Columns: \`pose[:3, 0]\` right,
  \`pose[:3, 1]\` down, \`pose[:3, 2]\` forward, \`pose[:3, 3]\` position.
- The reconstructed world is gravity-aligned relative to the first camera:
  - **+Y** up (against gravity);
  - **-Z** the first camera's viewing direction (into the scene);
  - **+X** to the first camera's right.

### Left / right / front / behind, computed
**Always compute directions this way; never judge them from the 2D image.**
\`\`\`python
fi = seg.frame_indices[0]                                 # an absolute frame index
target = seg.get_centroid_3d(recon, frame=fi, object=0)   # (3,) world position; NaN if the mask is empty
pose = recon.extrinsics[fi]                               # camera-to-world at the SAME frame
to_target = target - pose[:3, 3]                          # from the camera to the target, in world axes
front = np.dot(to_target, pose[:3, 2])                    # > 0 in front, < 0 behind
right = np.dot(to_target, pose[:3, 0])                    # > 0 right, < 0 left
\`\`\``;
}

/** Section robust computation. */
export function robustSection(): string {
  return `## Robust computation
- **Aggregate with \`np.median()\`, not \`np.mean()\`.** Drop points of low confidence (\`recon.points.confidence\`) before
  computing positions.
- **Never rely on one frame.** Compare several: values that agree are reliable, single outliers are noise.
- **Think in metric units, not pixels.** Convert to metres, degrees or m/s before judging a difference (a 2-pixel shift
  means nothing without depth).
- **Check magnitudes** against common sense (a walking person 1-2 m/s, a car 10-30 m/s, angle noise under 2°, a real
  turn over 5°). Implausible values point to bad inputs.
- **Print values before concluding.** When the margin is small compared with the noise, say the confidence is low.`;
}

/** Section cross-validation: two independent lines of evidence, what each source is good at, a diagnostic protocol. */
export function crossValidationSection(): string {
  return `## Cross-validation

No source of evidence is reliable on its own. Support every spatial conclusion with at least two independent lines
of evidence before you answer.

### What each source is good and bad at
- **Looking** (\`show()\`): good at identity, appearance, what the scene is, rough layout. Bad at metric quantities,
  exact spatial relations, and telling real motion from apparent motion.
- **Geometry** (Reconstruct, SAM3, code): good at metric distances, angles, 3D positions, numeric comparisons. Only as
  good as its inputs: a wrong mask or a noisy reconstruction leads to a wrong answer.
- **Visualisations** (BEV, depth maps, plots): good for sanity checks and debugging, but lossy: a BEV is a 2D
  projection of 3D data whose look depends on the reference frame, the scale and the rendering. A picture that
  "looks wrong" does not prove the data wrong.
- **Reasoning** (code, maths): good at combining evidence and checking consistency; only as sound as its premises.

### When two sources disagree
Do NOT choose one by intuition. A disagreement has a **cause**: find it by tracing each chain of evidence back to
its inputs.
1. **Name the conflicting claim**, e.g. "the dot product says RIGHT, the BEV shows the object on the left".
2. **Audit the computation**, printing each step: are the masks non-empty and on the right objects (\`show()\` the
   overlay)? Are the 3D coordinates finite and plausible? Is the right frame index used (pose and centroid from the
   same frame)? Is it the intended coordinate system (camera or world)?
3. **Audit the visual evidence**: could the 2D picture mislead (projection, foreshortening, reference frame)? Are you
   reading the plot's axes and labels right? Is it an impression or a measurement?
4. **Find the concrete mistake**: a wrong mask, a wrong frame, a wrong coordinate system, a misleading projection.
   If neither chain shows one, you do not know enough to overrule either: gather more evidence.
5. **Never overrule evidence by intuition.** A feeling that something looks wrong diagnoses nothing: point to the
   broken step before you change the answer.`;
}
