"""Metric pieces several benchmarks' released code share, each with the exact arithmetic of its source.

Every function here says which released code it follows; a benchmark whose code differs (another threshold set, a
strict ``<`` instead of ``<=``) keeps its own version in its module rather than bending these. Answer extraction
steps are in :mod:`spatial_eval.extract`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MRA_THRESHOLDS = np.linspace(0.5, 0.95, int((0.95 - 0.5) / 0.05 + 2))
"""The 10 MRA thresholds 0.50, 0.55 ... 0.95 as every MRA below builds them: ``np.linspace(.5, .95, int((.95 - .5) /
.05 + 2))``, float64."""


def to_float(value: Any) -> float | None:
    """``float(value)``, or None when Python's ``float`` refuses it (thinking-in-space ``to_float``).

    So ``"2.5"`` -> 2.5, ``" 3 "`` -> 3.0, ``"1e3"`` -> 1000.0, ``"inf"`` -> inf, but ``"2.5m"``, ``"1,200"``,
    ``"four"`` and ``""`` -> None.
    """
    try:
        return float(value)
    except BaseException:  # noqa: BLE001 - the released code catches everything here
        return None


def mra_share(error: float, thresholds: np.ndarray = MRA_THRESHOLDS) -> float:
    """The threshold step of every mean relative accuracy here: the share of ``thresholds`` t with ``error <= 1 - t``,
    compared in float64 exactly as written (no slack); a NaN error passes no threshold.

    Its callers differ only in the error they pass: ``abs(p - g) / g`` (thinking-in-space, :func:`vsi_mra`),
    ``abs(p - g) / abs(g)`` (:func:`abs_mra`: SpatialClaw's vsibench.py / spatialtree.py, OSI-Bench), SPAR's
    ``abs((p - g) / g)`` or ``abs(p - g)`` for g = 0 (``sparbench.spar_mra``).
    """
    if math.isnan(error):
        return 0.0
    return float((error <= 1 - thresholds).mean())


def abs_mra(pred: float, gt: float) -> float:
    """MRA with the error divided by ``|gt|``: :func:`mra_share` of ``abs(pred - gt) / abs(gt)`` over the 10 thresholds,
    for a non-zero ``gt`` (callers handle 0 their own way).

    The arithmetic of SpatialClaw's ``mean_relative_accuracy`` (``spatial_agent/evals/vsibench.py`` and
    ``spatialtree.py`` at b062f829) and of OSI-Bench's MRA (harmlessSR/OpenBench
    ``VLMEvalKit/vlmeval/dataset/OSIBench/utils.py`` at 2300b0f4, both of its scorers).
    """
    return mra_share(abs(pred - gt) / abs(gt))


def vsi_mra(
    pred: float | None, gt: float | None, start: float = 0.5, end: float = 0.95, interval: float = 0.05
) -> float:
    """VSI-Bench's ``mean_relative_accuracy``: the share of ``np.linspace(start, end, int((end-start)/interval + 2))``
    thresholds t with ``abs(pred - gt) / gt <= 1 - t``, compared in float64 exactly as written (no slack).

    With the defaults the grid has 10 points (0.50 ... 0.95). A None prediction or ground truth scores 0 (the
    released code catches the TypeError). A ground truth of 0 raises ZeroDivisionError in the released code
    (Python float division); here it scores 1 for a prediction of exactly 0, else 0, and VSI-Bench has no such row.
    A negative ground truth keeps the released sign behaviour (``/ gt``, not ``/ |gt|``).
    """
    if pred is None or gt is None:
        return 0.0
    if gt == 0:
        return 1.0 if pred == 0 else 0.0
    n = int((end - start) / interval + 2)
    return mra_share(abs(pred - gt) / gt, np.linspace(start, end, n))
