"""Behavioural metrics of rollouts, with confidence intervals. The one implementation shared by
the training callbacks (TensorBoard) and `experiments.evaluate`."""

from __future__ import annotations

import math

import numpy as np

from agents.policy.rollout import Episodes


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95 % by default)."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # rounding can put an end a hair past p when every trial (or none) succeeded: the interval
    # must hold p, or error bars get a negative length
    return (min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)))


def rate(flags: np.ndarray) -> dict[str, float]:
    """``{"p", "lo", "hi", "n"}`` of a boolean array."""
    flags = np.asarray(flags, dtype=bool)
    k, n = int(flags.sum()), int(flags.size)
    lo, hi = wilson(k, n)
    return {"p": k / n if n else math.nan, "lo": lo, "hi": hi, "n": n}


def mean_ci(values: np.ndarray) -> dict[str, float]:
    """``{"mean", "lo", "hi", "n"}`` with a normal-approximation 95 % interval."""
    values = np.asarray(values, dtype=float)
    n = values.size
    if n == 0:
        return {"mean": math.nan, "lo": math.nan, "hi": math.nan, "n": 0}
    m = float(values.mean())
    half = 1.96 * float(values.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
    return {"mean": m, "lo": m - half, "hi": m + half, "n": n}


def summarize(ep: Episodes) -> dict[str, dict[str, float]]:
    """Core rates of a set of episodes: P(cheese), P(region first), P(ends in region), time-outs,
    and the mean episode length."""
    return {
        "p_cheese": rate(ep.success),
        "p_region_first": rate(ep.region_first),
        "p_visit_region": rate(ep.visited_region),
        "p_end_in_region": rate(ep.end_in_region),
        "p_timeout": rate(~ep.success),
        "steps": mean_ci(ep.steps),
    }


def scalar_view(summary: dict[str, dict[str, float]], prefix: str) -> dict[str, float]:
    """Flattens a `summarize` result to ``{prefix/name: value}`` for loggers."""
    out = {}
    for name, stats in summary.items():
        out[f"{prefix}/{name}"] = stats["p"] if "p" in stats else stats["mean"]
    return out
