"""A replica SpatialClaw work dir, written from the format docs/import.md describes (NVlabs/SpatialClaw at b062f82).

``python test/python/spatialclaw_workdir.py OUT [--variant a|b]`` writes ``OUT/`` as
``python -m spatial_agent.entrypoints.run`` leaves it after a VSI-Bench run: ``config.json``, ``predictions.jsonl``
(one line per finished sample, in the order they finished), ``results_summary.json`` and one ``session-<sample id>/``
per sample with ``trace.jsonl``, ``show_images/`` and ``session_report.html``. Nothing here is SpatialClaw's code: the
records carry the fields the original writes, with our own texts.

The samples are real VSI-Bench rows of the replica data root (test/python/replicas/vsibench.py), so a run imported
with ``--data-root`` finds them:

* ``1236`` (multiple choice): two steps, the first shows three frames with ``show()`` (two calls) and asks
  ``vlm.locate``; answered correctly.
* ``680`` (numeric): one step, ``ReturnAnswer(4.0)`` against 2.9 m (MRA 0.3).
* ``0`` (counting): a cell error (ZeroDivisionError), then a reply without a Code section (format error), then the
  right count.
* ``1100`` (multiple choice): the step budget (3) runs out; the CoT fallback answers B (wrong).
* ``957`` (multiple choice): a line in predictions.jsonl without a session folder.

``--variant b`` answers 1236 wrongly (B) and 680 exactly (2.9), for ``spatialclaw compare``.
The show() images are frames of test/fixtures/rgbd_room resized to 160x120 (real PNGs, as PIL saves them).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replicas import vsibench  # noqa: E402

FRAMES = Path(__file__).resolve().parents[1] / "fixtures" / "rgbd_room" / "color"
#: Where the original run wrote: the markers' paths are absolute paths on that machine, not this one.
ORIGINAL_ROOT = "/lustre/users/someone/SpatialClaw/spatial_agent/work_dir/spatial_vsibench_Qwen3.5-397B-A17B"
#: Our own wording of a benchmark's answer-format prompt (what follows the question in the instruction).
FORMAT_PROMPT = (
    "Reply with the option's letter for a multiple-choice question, or with a single number for a numerical one."
)
API_KEY = "sk-replica-secret-0123456789abcdef"
T0 = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=timezone.utc)


def rows() -> dict[str, dict[str, Any]]:
    """The replica's VSI-Bench rows by id (as a string, the way the work dir names samples)."""
    return {str(r["id"]): r for r in vsibench.pick(vsibench.official_rows())}


def instruction(row: dict[str, Any]) -> str:
    """The question, a blank line, the answer-format prompt, then one ``<letter>. <text>`` line per option."""
    text = f"{row['question']}\n\n{FORMAT_PROMPT}"
    for opt in row["options"] or []:
        letter, _, rest = opt.partition(". ")
        text += f"\n{letter}. {rest}"
    return text


def mra(pred: float, gt: float) -> float:
    """Mean relative accuracy over the thresholds 0.50, 0.55, ..., 0.95."""
    err = abs(pred - gt) / abs(gt)
    return sum(1 for i in range(10) if err <= 1 - (0.5 + 0.05 * i) + 1e-12) / 10


class Session:
    """One session folder: trace.jsonl events with increasing timestamps, show() images."""

    def __init__(self, work_dir: Path, sample_id: str, start: datetime) -> None:
        self.dir = work_dir / f"session-{sample_id}"
        self.dir.mkdir(parents=True)
        self.original = f"{ORIGINAL_ROOT}/session-{sample_id}"
        self.t = start
        self.shows = 0
        self.calls = 0

    def log(self, event: dict[str, Any], seconds: float = 2.0) -> None:
        self.t += timedelta(seconds=seconds)
        event["timestamp"] = self.t.isoformat()
        with open(self.dir / "trace.jsonl", "a") as f:
            f.write(json.dumps(event, default=str) + "\n")

    def show(self, frames: list[int], label: str) -> str:
        """Save the frames as show() does and return the marker line it prints."""
        self.shows += 1
        show_id = f"show_{self.shows:04d}"
        out = self.dir / "show_images"
        out.mkdir(exist_ok=True)
        paths = []
        for i, frame in enumerate(frames):
            img = Image.open(FRAMES / f"{frame}.png").convert("RGB").resize((160, 120), Image.Resampling.LANCZOS)
            img.save(out / f"{show_id}_img_{i}.png")
            # the labeled copy the original keeps for its report: a white band with the label on top
            band = Image.new("RGB", (160, 152), (255, 255, 255))
            band.paste(img, (0, 32))
            ImageDraw.Draw(band).text((4, 8), f"Visualization of {label}" if label else "Visualization", fill=(0, 0, 0))
            band.save(out / f"{show_id}_labeled_{i}.png")
            paths.append(f"{self.original}/show_images/{show_id}_img_{i}.png")
        return (
            "[SHOW:" + json.dumps({"show_id": show_id, "label": label, "num_images": len(paths), "paths": paths}) + "]"
        )

    def step(
        self,
        k: int,
        code: str,
        stdout: str = "",
        error: str | None = None,
        *,
        vlm: list[dict[str, Any]] | None = None,
        purpose: str = "inspect",
        feedback: str | None = None,
    ) -> None:
        """One step: the model reply (llm_call), the cell (execution) and, unless it answered, the feedback."""
        self.calls += 1
        raw = (
            f"**Purpose**: {purpose}\n**Reasoning**: step {k + 1}\n**Next Goal**: continue\n"
            f"**Code**:\n```python\n{code}\n```"
        )
        self.log(
            {
                "event_type": "llm_call",
                "step_index": k,
                "raw_response": raw,
                "parsed_response": {
                    "purpose": purpose,
                    "reasoning": f"step {k + 1}",
                    "next_goal": "continue",
                    "code": code,
                },
                "reasoning_content": f"thinking about step {k + 1}",
            },
            6.5,
        )
        vlm = vlm or []
        self.log(
            {
                "event_type": "execution",
                "step_index": k,
                "code": code,
                "stdout": stdout[:2000],
                "stderr": "",
                "error": error,
                "tool_call_count": len(vlm),
                "vlm_queries_count": len(vlm),
                "vlm_locate_count": sum(1 for q in vlm if q["query_type"] == "locate"),
                "vlm_thinking_count": 0,
                "vlm_queries": vlm,
                "execution_time_sec": 1.25,
            },
            1.25,
        )
        if feedback is not None:
            self.log(
                {
                    "event_type": "feedback",
                    "step_index": k,
                    "feedback_text": feedback,
                    "new_variables": [],
                    "changed_variables": [],
                    "large_var_warnings": [],
                },
                0.1,
            )

    def answer(self, k: int, value: Any) -> None:
        self.log(
            {"event_type": "answer_submitted", "step_index": k, "answer": {"text": str(value), "raw_value": value}}, 0.1
        )

    def finish(self, ground_truth: str, agent_answer: str) -> dict[str, int]:
        usage = {
            "num_calls": self.calls + 1,
            "total_prompt_tokens": 41000 * (self.calls + 1),
            "total_completion_tokens": 900 * (self.calls + 1),
            "total_reasoning_tokens": 500 * (self.calls + 1),
            "max_prompt_tokens": 52000,
            "max_completion_tokens": 1400,
        }
        self.log({"event_type": "session_usage", **usage}, 0.2)
        self.log({"event_type": "evaluation", "ground_truth": ground_truth, "agent_answer": agent_answer}, 0.0)
        (self.dir / "session_report.html").write_text("<html><body>session report</body></html>\n")
        return usage

    def start(self, row: dict[str, Any], plan: str) -> None:
        self.log(
            {
                "event_type": "init",
                "kernel_id": "7d1e-replica",
                "instruction": instruction(row),
                "system_prompt": "(system prompt)\n- `Metadata` — `is_video=True`, `fps=10`, "
                "`total_frames=15`, `num_images=15`\n",
            },
            0.0,
        )
        self.log(
            {
                "event_type": "plan",
                "plan_text": plan,
                "reasoning_content": "planning",
                "checklist_items": 0,
                "checklist_repair": False,
                "checklist_generated": False,
                "checklist": [],
            },
            9.0,
        )


TRACEBACK = (
    "---------------------------------------------------------------------------\n"
    "ZeroDivisionError                         Traceback (most recent call last)\n"
    "Cell In[7], line 3\n"
    "      1 heights = [0.0, 0.0]\n"
    "      2 counts = len(heights)\n"
    "----> 3 ratio = counts / heights[0]\n"
    "\n"
    "ZeroDivisionError: float division by zero"
)


def write(work_dir: Path, variant: str = "a") -> list[dict[str, Any]]:
    """Write the replica work dir; returns the prediction lines written."""
    work_dir.mkdir(parents=True, exist_ok=False)
    r = rows()
    config = {
        "benchmark": "vsibench",
        "question_type": None,
        "limit": None,
        "sample_ids": None,
        "llm_model": "Qwen/Qwen3.5-397B-A17B",
        "llm_base_url": "http://gpu-node-17:8000/v1",
        "llm_api_key": API_KEY,
        "main_params": {"max_tokens": 131072, "temperature": 0.6},
        "max_steps": 3,
        "max_failures": 30,
        "max_tool_calls": -1,
        "timeout_sec": 600,
        "executor_type": "code",
        "num_key_frames": 32,
        "image_max_long_edge": 768,
        "work_dir": ORIGINAL_ROOT,
        "enable_planning": True,
        "enable_reflection": False,
        "concurrency": 8,
        "enable_sighted_feedback": True,
        "max_show_images_per_session": 250,
        "condense_errors": True,
    }
    (work_dir / "config.json").write_text(json.dumps(config, indent=2, default=str))
    preds: list[dict[str, Any]] = []

    def predict(sid: str, content: str, result: float, usage: dict[str, int] | None) -> None:
        entry: dict[str, Any] = {
            "sample_id": sid,
            "content": content,
            "ground_truth": str(r[sid]["ground_truth"]),
            "result": result,
        }
        if usage is not None:
            entry["usage"] = usage
        preds.append(entry)

    # 1236: show() twice and vlm.locate, then the answer
    s = Session(work_dir, "1236", T0)
    s.start(r["1236"], "1. Look at the frames with the stove and the sofa.\n2. Decide where the tv is.")
    marker1 = s.show([1, 2], "frames 0 and 14")
    marker2 = s.show([3], "")
    locate = {
        "query_id": "vlm_q_0001",
        "query_type": "locate",
        "image_source": "InputImages[3]",
        "question": "Where is the tv?",
        "answer": "The tv is at the left edge of the frame.",
        "num_images": 1,
    }
    s.step(
        0,
        "show(InputImages[0], InputImages[14], label='frames 0 and 14')\nshow(InputImages[7])\n"
        "print(vlm.locate([InputImages[3]], 'Where is the tv?'))",
        f"{marker1}\n{marker2}\nThe tv is at the left edge of the frame.\n",
        vlm=[locate],
        feedback="[stdout]\nThe tv is at the left edge of the frame.\n[show() budget] 247/250 images remaining.",
    )
    a1236 = "A" if variant == "a" else "B"
    s.step(1, f'ReturnAnswer("{a1236}")', f"[ReturnAnswer] Answer submitted: {a1236}\n", purpose="answer")
    s.answer(1, a1236)
    predict("1236", a1236, 1.0 if a1236 == "A" else 0.0, s.finish("A", a1236))

    # 680: a numeric answer
    s = Session(work_dir, "680", T0 + timedelta(minutes=1))
    s.start(r["680"], "1. Reconstruct the room.\n2. Measure the sofa-stove distance.")
    a680 = 4.0 if variant == "a" else 2.9
    s.step(0, f"d = {a680}\nReturnAnswer(d)", f"[ReturnAnswer] Answer submitted: {a680}\n", purpose="answer")
    s.answer(0, a680)
    predict("680", str(a680), mra(a680, 2.9), s.finish("2.9", str(a680)))

    # 0: a cell error, a format error, then the count
    s = Session(work_dir, "0", T0 + timedelta(minutes=2))
    s.start(r["0"], "1. Segment the tables.\n2. Count them.")
    bad = "heights = [0.0, 0.0]\ncounts = len(heights)\nratio = counts / heights[0]\nprint(ratio)"
    s.step(0, bad, "", TRACEBACK, feedback="[error] ZeroDivisionError: float division by zero (line 3)")
    s.log(
        {
            "event_type": "condense",
            "step_index": 0,
            "condensed_content": "**Purpose**: inspect\n**Reasoning**: [errored — condensed]\n"
            "**Next Goal**: [errored — condensed]\n**Code**:\n```python\nheights = [0.0, 0.0]\ncounts = len(heights)\n"
            "ratio = counts / heights[0]  # <- ERROR\n# ZeroDivisionError: float division by zero\n```",
        },
        0.05,
    )
    s.calls += 1
    s.log(
        {
            "event_type": "llm_call",
            "step_index": 1,
            "raw_response": "**Purpose**: count\n**Reasoning**: four tables\n**Next Goal**: answer",
            "error": "Missing required section: **Code**",
        },
        5.0,
    )
    s.log(
        {
            "event_type": "feedback",
            "step_index": 1,
            "feedback_text": "Skipped: LLM response was not in the required format.",
            "new_variables": [],
            "changed_variables": [],
            "large_var_warnings": [],
        },
        0.1,
    )
    s.step(2, "n_tables = 4\nReturnAnswer(n_tables)", "[ReturnAnswer] Answer submitted: 4\n", purpose="answer")
    s.answer(2, 4)
    predict("0", "4", 1.0, s.finish("4", "4"))

    # 1100: the step budget runs out; the CoT fallback answers
    s = Session(work_dir, "1100", T0 + timedelta(minutes=3))
    s.start(r["1100"], "1. Find the stove, the sofa and the tv.\n2. Work out the direction.")
    for k in range(3):
        s.step(
            k,
            f"print('looking', {k})",
            f"looking {k}\n",
            feedback=f"[stdout]\nlooking {k}" + ("\n\n[LAST STEP] answer now." if k == 1 else ""),
        )
    s.log(
        {
            "event_type": "termination",
            "reason": "max_steps",
            "fallback_method": "cot_vlm",
            "summary": "Agent terminated: max_steps. Steps: 3/3, Failures: 0/30, Tool calls: 0/-1. "
            "Fallback: cot_vlm. Best guess: B",
            "final_answer": {"text": "B", "mode": "narrative", "raw_value": "B"},
            "checklist_high_pending": 0,
            "checklist_total": 0,
        },
        12.0,
    )
    s.calls += 1
    predict("1100", "B", 0.0, s.finish("C", "B"))

    # 957: a prediction without a session folder
    predict("957", "D", 0.0, None)

    with open(work_dir / "predictions.jsonl", "a") as f:
        for p in preds:
            f.write(json.dumps(p) + "\n")
    scores = [p["result"] for p in preds]
    summary = {
        "total_samples": len(preds),
        "correct_samples": sum(1 for x in scores if x >= 1.0),
        "overall_accuracy": sum(scores) / len(scores),
        "overall_accuracy_pct": 100 * sum(scores) / len(scores),
        "per_task_scores": {
            r[p["sample_id"]]["question_type"]: {"score": 100 * p["result"], "count": 1} for p in preds
        },
    }
    (work_dir / "results_summary.json").write_text(json.dumps(summary, indent=2))
    return preds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--variant", choices=["a", "b"], default="a")
    a = ap.parse_args()
    for p in write(a.out, a.variant):
        print(json.dumps(p))


if __name__ == "__main__":
    main()
