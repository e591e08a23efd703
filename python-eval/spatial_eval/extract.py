"""Steps of answer extraction that several benchmarks' released code share, each written once.

A scorer's chain stays in its own module, written as these steps in the order of the code it follows; a step is used
only where that code does exactly this step (the same pattern, letter range, case rule, first or last match). Every
function says which released code has it; "SpatialClaw" is NVlabs/SpatialClaw ``spatial_agent/evals/<name>.py`` at
b062f829. Steps return ``""`` when they find nothing, so a chain reads ``step_1(t) or step_2(t) or ...``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Literal

BoxedStyle = Literal["spaced", "tight", "wrapped"]
"""``"spaced"``: ``\\boxed{ X }`` (spaces allowed inside); ``"tight"``: ``\\boxed{X}`` only; ``"wrapped"``: spaces,
an optional ``(`` before and ``.`` or ``)`` after the letter, ``\\boxed{ (X) }``."""

_BOXED: dict[BoxedStyle, str] = {
    "spaced": r"\\boxed\{{\s*([{}])\s*\}}",
    "tight": r"\\boxed\{{([{}])\}}",
    "wrapped": r"\\boxed\{{\s*\(?\s*([{}])\s*[.)]?\s*\}}",
}

DOUBLE_TICKS = re.compile(r"``([^`]*)``")
SINGLE_TICKS = re.compile(r"`([^`]*)`")
_CAPITAL_AD = re.compile(r"\b([A-D])\b")
_LONE_AD = re.compile(r"\b([A-D])\b(?!\s[a-zA-Z])")
_NO_PUNCT = str.maketrans("", "", string.punctuation)
_ANSWER_BLOCK = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)
_OPTION = re.compile(r"([A-Da-d])[.)]\s*(.*)")
_OPTION_INDENTED = re.compile(r"\s*([A-Da-d])[.)]\s*(.*)")
_DIGITS = re.compile(r"(\d+(?:\.\d+)?)")


@cache
def _compiled(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


# --- letters by pattern ------------------------------------------------------------------------------------------


def pattern_letter(text: str, patterns: Iterable[re.Pattern[str]], *, last: bool = False) -> str:
    """The first of ``patterns`` that matches anywhere in ``text`` decides: group 1 of its first match (``last``: of
    its last match), upper-cased; ``""`` when none matches. Each pattern searches the whole text, so an earlier
    pattern wins over an earlier position."""
    for pattern in patterns:
        if last:
            matches = list(pattern.finditer(text))
            found = matches[-1] if matches else None
        else:
            found = pattern.search(text)
        if found:
            return found.group(1).upper()
    return ""


def boxed_letter(
    text: str, letters: str = "A-D", flags: int = 0, *, style: BoxedStyle = "spaced", last: bool = False
) -> str:
    """``\\boxed{X}`` with X in the character class ``[letters]`` (``flags``, e.g. ``re.I``), upper-cased; the first
    one (``last``: the last one); ``""`` when there is none. ``style`` (see :data:`BoxedStyle`) is what may surround X.

    Spaced: SpatialClaw mmsi.py and paibench.py (``A-D``, ``re.I``), vsibench.py, spbench.py, osibench.py, cvbench.py
    (``A-Da-d``), spatialtree.py (``A-Za-z``), mindcube.py (``A-E``, ``re.I``). Tight: SpatialClaw base.py
    ``BaseBenchmark.extract_answer`` (``A-Za-z``), sparbench.py (``A-Da-d``), perceptioncomp.py (``A-Ea-e``),
    blink.py (``A-Ea-e``, the last one), videommev2.py (``A-H``). Wrapped: SpatialClaw viewspatial.py and dsibench.py
    (``A-Da-d``).
    """
    return pattern_letter(text, (_compiled(_BOXED[style].format(letters), flags),), last=last)


def marked_letter(text: str, letters: str = "A-D", flags: int = re.IGNORECASE) -> str:
    """The letter of the first of ``X.`` (``\\bX\\.``), ``(X)``, ``X:`` (``\\bX:``) that occurs, tried in that order
    over the whole text (so ``"(B). A."`` gives ``A``), X in ``[letters]`` with ``flags``; upper-cased.

    SpatialClaw mmsi.py, paibench.py, vsibench.py, spbench.py, osibench.py, cvbench.py (``A-D``, any case) and
    spatialtree.py (``A-K``, any case).
    """
    marks = (rf"\b([{letters}])\.", rf"\(([{letters}])\)", rf"\b([{letters}]):")
    return pattern_letter(text, (_compiled(m, flags) for m in marks))


def punct_letter(text: str, letters: str = "A-Za-z") -> str:
    """The first letter of ``[letters]`` followed (after an optional ``)``) by ``.``, ``:`` or ``)``, an opening
    ``(`` before it allowed: ``\\(?([X])\\)?[.:)]``; upper-cased. Any word's last letter before a period counts
    (``"Answer: B"`` gives ``R``).

    SpatialClaw base.py ``BaseBenchmark.extract_answer`` (``A-Za-z``) and sparbench.py ``_extract_mca``
    (``A-Da-d``).
    """
    return pattern_letter(text, (_compiled(rf"\(?([{letters}])\)?[\.\:\)]"),))


def lone_letter(text: str) -> str:
    """The first upper-case A-D standing alone and not followed by a space and a letter
    (``\\b([A-D])\\b(?!\\s[a-zA-Z])``): ``"B because"`` gives nothing, ``"B)"`` gives ``B``.

    MMSI-Bench's ``extract_single_choice_with_word_boundary`` (vlmeval/dataset/mmsi_bench.py at 5de2f3d2) and
    SpatialClaw mmsi.py / paibench.py.
    """
    return pattern_letter(text, (_LONE_AD,))


def backtick_letter(text: str) -> str:
    """The first upper-case A-D standing alone inside the first ````...````, else inside the first ```...```.

    SpatialClaw mmsi.py and paibench.py (``extract_answer``'s first step).
    """
    for ticks in (DOUBLE_TICKS, SINGLE_TICKS):
        m = ticks.search(text)
        if m:
            inner = _CAPITAL_AD.search(m.group(1))
            if inner:
                return inner.group(1).upper()
    return ""


# --- one letter --------------------------------------------------------------------------------------------------


def one_letter(token: str, letters: str = "ABCD") -> str:
    """``token`` upper-cased when it is one character whose upper case is in ``letters``, else ``""``: the
    ``len(x) == 1 and x.upper() in "ABCD"`` test of SpatialClaw's vsibench.py, osibench.py, spbench.py, mmsi.py,
    paibench.py, sparbench.py and dsibench.py (on a first token, a cleaned text or a first character)."""
    upper = token.upper()
    return upper if len(token) == 1 and upper in letters else ""


def bare_letter(text: str) -> str:
    """The text with ASCII punctuation and spaces removed, when that is one letter A-D (any case): SpatialClaw
    mmsi.py and paibench.py (``extract_answer``'s last step)."""
    return one_letter(text.translate(_NO_PUNCT).replace(" ", ""))


def only_letter(text: str, keep: str = "A-Za-z", letters: str = string.ascii_uppercase) -> str:
    """The text with every character outside ``[keep]`` removed, when that leaves one character whose upper case is in
    ``letters``: the reply's only letter.

    SpatialClaw base.py ``BaseBenchmark.extract_answer`` (``A-Za-z``), perceptioncomp.py (``A-Za-z``, then A-E only),
    sparbench.py, cvbench.py and viewspatial.py (``A-Da-d``).
    """
    return one_letter(re.sub(f"[^{keep}]", "", text), letters)


def first_token_letter(text: str, letters: str = "A-Da-d") -> str:
    """The first ``' '``-separated token, stripped, when it is one letter of ``[letters]`` with an optional ``.``:
    that letter upper-cased; else ``""``.

    SpatialLadder's ``fuzzy_matching`` (ZJU-REAL/SpatialLadder eval_spld/data_utils/vsi_utils.py at 87320bea,
    ``A-D``), SpatialClaw spbench.py ``_fuzzy_matching_mc`` (``A-Da-d``) and spatialtree.py ``_extract_mc_answer``
    (``A-Za-z``); each falls back to the whole stripped text.
    """
    token = text.split(" ")[0].strip()
    return token.rstrip(".").upper() if _compiled(rf"^[{letters}]\.?$").search(token) else ""


def vsi_first_token(prediction: str) -> str:
    """VSI-Bench's ``fuzzy_matching`` (thinking-in-space lmms_eval/tasks/vsibench/utils.py at e6a72f39; also VLM-3R's
    vstibench utils.py at 6dd1264c and SpatialClaw's vsibench.py, vstibench.py, osibench.py): the text before the
    first single space, trailing dots removed, then stripped.

    ``"B. chair"`` -> ``"B"``; ``" B"`` -> ``""`` (a leading space makes the first token empty); ``"(B)"`` ->
    ``"(B)"``; ``"B\\nC"`` -> ``"B\\nC"`` (only ``' '`` splits).
    """
    return prediction.split(" ")[0].rstrip(".").strip()


def base_answer(prediction: str | None) -> str:
    """SpatialClaw's ``BaseBenchmark.extract_answer`` (``spatial_agent/evals/base.py`` at b062f829), which its
    mmsivideo.py, omnispatial.py and videomme.py use: ``\\boxed{X}`` (any letter, no spaces); else the first letter
    followed by ``.``, ``:`` or ``)`` (:func:`punct_letter`); else the reply's only letter; else the stripped reply.
    Letters are upper-cased; ``""`` for a blank or None reply."""
    if not prediction:
        return ""
    return (
        boxed_letter(prediction, "A-Za-z", style="tight")
        or punct_letter(prediction)
        or only_letter(prediction)
        or prediction.strip()
    )


# --- option texts ------------------------------------------------------------------------------------------------


def options_by_letter(
    choices: Sequence[object] | None, *, indented: bool = False, by_position: bool = False
) -> dict[str, str]:
    """``["A. left", "B) right", ...]`` -> ``{"A": "left", "B": "right"}``: an option starting with a letter A-D (any
    case) and ``.`` or ``)`` is keyed by that letter upper-cased, its text stripped; any other option, stripped, gets
    the next letter (``chr(65 + number of options so far)``), or with ``by_position`` the letter of its position.

    SpatialClaw's ``_parse_options`` of vsibench.py and spbench.py; cvbench.py's ``_parse_mc_options`` allows spaces
    before the letter (``indented``); osibench.py's strips each option first and uses ``by_position``.
    """
    pattern = _OPTION_INDENTED if indented else _OPTION
    out: dict[str, str] = {}
    for i, opt in enumerate(choices or ()):
        m = pattern.match(str(opt))
        if m:
            out[m.group(1).upper()] = m.group(2).strip()
        else:
            out[chr(65 + (i if by_position else len(out)))] = str(opt).strip()
    return out


def option_text_letter(text: str, options: Mapping[str, str], *, trailing_dots: bool = False) -> str:
    """The key (as given) of the first option whose text equals the reply, both lower-cased and stripped (and, with
    ``trailing_dots``, stripped of trailing ``.``); ``""`` when none does.

    SpatialClaw vsibench.py, spbench.py, osibench.py (``_extract_mc_answer``'s option-text step) and cvbench.py
    (``trailing_dots``).
    """
    low = text.lower().strip()
    if trailing_dots:
        low = low.rstrip(".")
    for key, value in options.items():
        option = value.lower().strip()
        if (option.rstrip(".") if trailing_dots else option) == low:
            return key
    return ""


# --- tags and phrases --------------------------------------------------------------------------------------------


def answer_block(text: str) -> str | None:
    """The text of the last ``<answer>...</answer>`` block (spaces around it and then the text itself stripped), or
    None when there is no block: PerceptionComp's ``api_evaluate.py`` (hrinnnn/PerceptionComp at bf4146fe) and
    SpatialClaw cvbench.py."""
    found = _ANSWER_BLOCK.findall(text)
    return found[-1].strip() if found else None


LMMS_ANSWER_PHRASES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option is",
    "The correct option is",
    "Best answer:",
    "Best option:",
)
"""The answer phrases lmms-eval's ``extract_characters_regex`` deletes, in its order (the PAI-Bench ``pai_reason``
task, CVBench's ``mvr`` task; Video-MME-v2 adds some around them)."""


def remove_phrases(text: str, phrases: Sequence[str] = LMMS_ANSWER_PHRASES) -> str:
    """``extract_characters_regex``'s first step: the stripped text with every occurrence of each phrase deleted, in
    the order given (the result is not stripped again)."""
    s = text.strip()
    for phrase in phrases:
        s = s.replace(phrase, "")
    return s


def first_choice_char(s: str, pattern: re.Pattern[str], check: re.Pattern[str] | None = None) -> str | None:
    """``extract_characters_regex``'s last step: None for more than 10 words without a match of ``check`` (default:
    ``pattern``); else the first match of ``pattern`` anywhere (group 0), None when there is none.

    Leymore/lmms-eval pai-reason/utils.py at d56ac95b, Hokhim2/CVBench mvr/utils.py at f8dc8f75, the Video-MME
    ``eval_your_results.py`` (thanku-all/parse_answer at afd52cfe) and Video-MME-v2 ``test_video_mme_v2.py`` at
    b24176a1 (and SpatialClaw's videommev2.py).
    """
    if len(s.split()) > 10 and not (check or pattern).search(s):
        return None
    m = pattern.search(s)
    return m.group(0) if m else None


# --- numbers -----------------------------------------------------------------------------------------------------

ONE_TO_TEN: tuple[tuple[str, str], ...] = (
    ("one", "1"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
)
SPATIALCLAW_NUMBER_WORDS = (*ONE_TO_TEN, ("zero", "0"))
"""SpatialClaw's number words (spbench.py and spatialtree.py ``_fuzzy_matching_num``), in the order checked."""


def number_text(text: str, words: Sequence[tuple[str, str]] = SPATIALCLAW_NUMBER_WORDS) -> str | None:
    """``_fuzzy_matching_num``: the digits of the first of ``words`` (in their order) that occurs as a whole word in
    the stripped, lower-cased text; else the first unsigned ``\\d+(\\.\\d+)?``; else None.

    SpatialClaw spbench.py and spatialtree.py (:data:`SPATIALCLAW_NUMBER_WORDS`); SpatialLadder vsi_utils.py at
    87320bea with its longer list.
    """
    low = text.strip().lower()
    for word, digits in words:
        if re.search(r"\b" + word + r"\b", low):
            return digits
    m = _DIGITS.search(low)
    return m.group(1) if m else None
