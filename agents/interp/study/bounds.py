"""How sure a retargeting figure is, from one sample of targets on which two interventions were
played (each target's episode under both: a paired sample).

`paired_gain`: the gain in success of one intervention over another and its standard error.
`ratio_lower_bound`: a lower confidence bound on the ratio of their successes (the table's
"x none"), by the delta method on the log ratio: with ``d_i = hit_i / p_hit - base_i / p_base``,
``SE(log ratio) ~ sd(d) / sqrt(n)``, which holds the pairing (targets both reach, or neither).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np


def paired_gain(hit: np.ndarray, base: np.ndarray) -> tuple[float, float]:
    """The mean of ``hit - base`` (``[K]`` success flags of two interventions on the same
    targets) and its standard error."""
    d = np.asarray(hit, dtype=float) - np.asarray(base, dtype=float)
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))


def ratio_lower_bound(hit: np.ndarray, base: np.ndarray, confidence: float = 0.95) -> float:
    """A one-sided lower bound, at ``confidence``, on ``P(hit) / P(base)`` from success flags
    ``[K]`` of two interventions on the same targets. Raises `ValueError` when ``base`` never
    succeeds (no ratio) or ``hit`` never does (no bound but 0)."""
    x, y = np.asarray(hit, dtype=float), np.asarray(base, dtype=float)
    p, q = float(x.mean()), float(y.mean())
    if q == 0 or p == 0:
        raise ValueError(f"no ratio to bound: success {p:.3f} over {q:.3f}")
    se = float((x / p - y / q).std(ddof=1) / math.sqrt(len(x)))
    return p / q * math.exp(-NormalDist().inv_cdf(confidence) * se)
