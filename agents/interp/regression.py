"""Behavioural regression: which maze features predict "gets the cheese" (as in the 2023 maze
analysis: L1 logistic regression on standardized features, accuracy vs. base rate, coefficient
stability across resamples)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _sklearn_has_l1_ratio_only() -> bool:
    """scikit-learn >= 1.8, read from its installed metadata: importing it costs 1-2 s on a fast
    CPU (scipy's stats), paid only by the regression itself."""
    from importlib.metadata import version

    major, minor = (int(x) for x in version("scikit-learn").split(".")[:2])
    return (major, minor) >= (1, 8)


def behavioural_regression(
    features: dict[str, np.ndarray],
    outcome: np.ndarray,
    *,
    resamples: int = 50,
    c: float = 1.0,
    seed: int = 0,
    folds: int = 5,
) -> dict[str, Any]:
    """L1 logistic regression of ``outcome`` on standardized ``features``.

    Args:
        features: name -> ``[N]`` values.
        outcome: ``[N]`` bool.
        resamples: Bootstrap resamples for coefficient stability.
        c: Inverse L1 strength (sklearn's ``C``).
        seed: Resampling seed.
        folds: Cross-validation folds for the accuracy.

    Returns:
        ``n``, ``base_rate`` (majority-class accuracy), ``cv_accuracy``, ``coefficients``
        (fit on all data, per standardized feature), and per feature the bootstrap ``mean``,
        ``std`` and ``sign_agreement`` (share of resamples with the full fit's sign).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    names = list(features)
    x = np.stack([np.asarray(features[k], dtype=float) for k in names], axis=1)
    y = np.asarray(outcome, dtype=bool)
    n = y.size
    base = max(y.mean(), 1 - y.mean()) if n else float("nan")
    if n < 2 * folds or y.all() or not y.any():
        return {
            "n": int(n),
            "base_rate": float(base),
            "cv_accuracy": None,
            "coefficients": {},
            "stability": {},
            "note": "too few episodes or one class only",
        }
    std = x.std(axis=0)
    std[std == 0] = 1.0
    z = (x - x.mean(axis=0)) / std

    def model() -> LogisticRegression:
        # scikit-learn >= 1.8 deprecates penalty= in favour of l1_ratio
        if _sklearn_has_l1_ratio_only():
            return LogisticRegression(l1_ratio=1.0, C=c, solver="liblinear", max_iter=1000)
        return LogisticRegression(penalty="l1", C=c, solver="liblinear", max_iter=1000)

    min_class = int(min(y.sum(), (~y).sum()))
    k = max(2, min(folds, min_class))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    acc = float(cross_val_score(model(), z, y, cv=cv, scoring="accuracy").mean())
    full = model().fit(z, y).coef_[0]
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(resamples):
        idx = rng.integers(0, n, size=n)
        if y[idx].all() or not y[idx].any():
            continue
        boot.append(model().fit(z[idx], y[idx]).coef_[0])
    b = np.array(boot) if boot else np.zeros((0, len(names)))
    stability = {}
    for j, name in enumerate(names):
        col = b[:, j] if b.size else np.array([])
        stability[name] = {
            "mean": float(col.mean()) if col.size else None,
            "std": float(col.std()) if col.size else None,
            "sign_agreement": float((np.sign(col) == np.sign(full[j])).mean())
            if col.size
            else None,
        }
    return {
        "n": int(n),
        "base_rate": float(base),
        "cv_accuracy": acc,
        "coefficients": {name: float(full[j]) for j, name in enumerate(names)},
        "stability": stability,
    }
