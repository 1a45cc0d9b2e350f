"""PNG plots of the analyses (matplotlib, headless)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from agents.runs import atomic_write_bytes


def _figure():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _figure().close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _err(stats: list[dict[str, float]]) -> tuple[np.ndarray, np.ndarray]:
    p = np.array([s["p"] for s in stats])
    return p, np.array([[s["p"] - s["lo"] for s in stats], [s["hi"] - s["p"] for s in stats]])


def plot_p_cheese_vs_distance(result: dict[str, Any], path: Path) -> None:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, label in (("test", "test distribution"), ("paired_test", "paired (moved) mazes")):
        bins = result[name]["p_cheese_by_distance_from_top_right"]["bins"]
        x = [(b["dist_lo"] + b["dist_hi"]) / 2 for b in bins]
        p, err = _err(bins)
        ax.errorbar(x, p, yerr=err, marker="o", capsize=3, label=label)
    ax.axhline(
        result["train"]["p_cheese"]["p"], color="k", ls="--", lw=1, label="training distribution"
    )
    ax.set_xlabel("cheese's distance from the top-right corner (squares)")
    ax.set_ylabel("P(reach cheese)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_decision_square(result: dict[str, Any], path: Path) -> None:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    kinds = ("cheese", "top_right", "back")
    for k, name in enumerate(("test", "paired_test")):
        stats = [result[name]["decision_square"][f"p_{c}"] for c in kinds]
        p, err = _err(stats)
        ax.bar(
            np.arange(3) + 0.38 * k,
            p,
            width=0.38,
            yerr=err,
            capsize=3,
            label=f"{name} (n={result[name]['decision_square']['n_reached']})",
        )
    ax.set_xticks(np.arange(3) + 0.19, ["toward cheese", "toward top-right", "back"])
    ax.set_ylabel("share of first moves at the decision square")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_regression(result: dict[str, Any], path: Path) -> None:
    reg = result["regression"]
    if not reg.get("coefficients"):
        return
    plt = _figure()
    names = list(reg["coefficients"])
    coef = [reg["coefficients"][n] for n in names]
    std = [reg["stability"][n]["std"] or 0.0 for n in names]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.barh(names, coef, xerr=std, capsize=3, color="tab:purple")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("L1 logistic coefficient (standardized; bootstrap std)")
    ax.set_title(
        f"accuracy {reg['cv_accuracy']:.3f} vs base rate {reg['base_rate']:.3f}", fontsize=9
    )
    _save(fig, path)


def plot_region_sweep(rows: list[dict[str, Any]], path: Path) -> None:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for key, label in (("test", "test distribution"), ("train", "training distribution")):
        pts = sorted((r["region"], r[key]) for r in rows)
        x = [a for a, _ in pts]
        p, err = _err([b for _, b in pts])
        ax.errorbar(x, p, yerr=err, marker="o", capsize=3, label=label)
    ax.set_xlabel("training cheese region n (top-right n x n)")
    ax.set_ylabel("P(reach cheese)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    _save(fig, path)
