"""Learning curves from a run's TensorBoard events: held-out P(cheese) against environment steps
and against training wall time, for one or more runs side by side."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agents.run.folder import TB, RunError
from agents.settings.commands import CurvesConfig, validate_curves


@dataclass
class Curve:
    """One run's held-out evaluations, in step order.

    Attributes:
        label: The run's name in a legend.
        steps: ``[T]`` environment steps.
        minutes: ``[T]`` training wall minutes at each point (over all sessions of the run;
            NaN where the run did not log them).
        train: ``[T]`` P(cheese), training distribution.
        test: ``[T]`` P(cheese), test distribution.
        test_decision: ``[T]`` P(cheese), test mazes with a decision square (NaN if not logged).
        max_size: ``[T]`` the curriculum's largest maze size (NaN without a curriculum).
    """

    label: str
    steps: np.ndarray
    minutes: np.ndarray
    train: np.ndarray
    test: np.ndarray
    test_decision: np.ndarray
    max_size: np.ndarray


def _scalars(run: Path) -> dict[str, dict[int, float]]:
    """``{tag: {step: value}}``, plus ``{tag}@wall`` with each point's wall time."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, dict[int, float]] = {}
    files = sorted((run / TB).rglob("events.out.tfevents.*"))
    if not files:
        raise RunError(f"{run} has no TensorBoard events under {TB}/")
    for path in files:
        acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            events = acc.Scalars(tag)
            out.setdefault(tag, {}).update({e.step: e.value for e in events})
            out.setdefault(f"{tag}@wall", {}).update({e.step: e.wall_time for e in events})
    return out


def read_curve(run: Path, label: str | None = None) -> Curve:
    """The held-out curve of a run folder."""
    s = _scalars(run)
    if "eval/train/p_cheese" not in s:
        raise RunError(f"{run} has no held-out evaluations (eval/train/p_cheese) yet")
    steps = np.array(sorted(s["eval/train/p_cheese"]))

    def col(tag: str) -> np.ndarray:
        values = s.get(tag, {})
        return np.array([values.get(int(t), np.nan) for t in steps], dtype=float)

    size = s.get("curriculum/max_size", {})
    size_steps = np.array(sorted(size)) if size else np.array([], dtype=int)
    max_size = np.full(steps.size, np.nan)
    for i, t in enumerate(steps):  # the stage in force at each evaluation
        before = size_steps[size_steps <= t]
        if before.size:
            max_size[i] = size[int(before[-1])]
    minutes = col("time/train_minutes")
    if np.isnan(minutes).any():  # runs from before the tag: wall clock, pauses removed
        wall = col("eval/train/p_cheese@wall")
        dt = np.diff(wall)
        typical = float(np.median(dt)) if dt.size else 0.0
        dt = np.where(dt > 3 * typical, typical, dt)  # a gap between sessions, not training
        minutes = np.concatenate([[0.0], np.cumsum(dt)]) / 60
    return Curve(
        label or run.name,
        steps,
        minutes,
        col("eval/train/p_cheese"),
        col("eval/test/p_cheese"),
        col("eval/test/p_cheese_decision"),
        max_size,
    )


def _branch_point(curve: Curve, earlier: list[Curve]) -> int:
    """The index of the last point ``curve`` shares with an earlier curve (a run resumed in a
    copy of another shares its history up to the copy), so that only its own part is drawn;
    0 if it shares none."""
    start = 0
    for other in earlier:
        n = min(curve.steps.size, other.steps.size)
        same = (curve.steps[:n] == other.steps[:n]) & (curve.train[:n] == other.train[:n])
        shared = int(np.argmin(same)) if not same.all() else n
        start = max(start, shared - 1)
    return start


def plot_curves(curves: list[Curve], path: Path, target: float | None = 0.9) -> None:
    """Two panels: held-out P(cheese) against steps and against wall minutes; solid lines are
    the training distribution, dashed the test distribution, dotted the test mazes with a
    decision square."""
    from agents.interp.plots import figure_module, save_figure

    plt = figure_module()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    for k, c in enumerate(curves):
        color = f"C{k}"
        start = _branch_point(c, curves[:k])
        for ax, x in ((axes[0], c.steps / 1e6), (axes[1], c.minutes)):
            ok = ~np.isnan(x) & (np.arange(x.size) >= start)
            ax.plot(x[ok], c.train[ok], "-o", ms=3, color=color, label=f"{c.label}: training dist.")
            ax.plot(x[ok], c.test[ok], "--", color=color, label=f"{c.label}: test dist.")
            dec = ok & ~np.isnan(c.test_decision)
            if dec.any():
                ax.plot(
                    x[dec],
                    c.test_decision[dec],
                    ":",
                    color=color,
                    label=f"{c.label}: test, decision-square mazes",
                )
    for ax, xlabel in zip(axes, ("environment steps (millions)", "training wall time (minutes)")):
        if target is not None:
            ax.axhline(target, color="grey", lw=0.8)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("held-out P(reach cheese)")
    axes[0].set_ylim(0, 1)
    n = "200"  # EvalConfig.episodes default; the last point is the final 1,000-maze evaluation
    fig.suptitle(
        f"Held-out P(cheese) during training ({n} mazes per point per distribution; grey line: 0.9)"
    )
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.035 * ((len(labels) + 1) // 2), 1, 1))
    save_figure(fig, path)


def curves_command(cfg: CurvesConfig) -> None:
    """``python -m experiments.curves``: plots the runs' curves into ``cfg.out``."""
    validate_curves(cfg)
    labels: list[str | None] = list(cfg.labels) or [None] * len(cfg.runs)
    curves = [read_curve(Path(r), lab) for r, lab in zip(cfg.runs, labels)]
    plot_curves(curves, Path(cfg.out))
    for c in curves:
        print(
            f"{c.label}: {len(c.steps)} evaluations to {c.steps[-1]:,} steps; last held-out "
            f"P(cheese) train {c.train[-1]:.3f}, test {c.test[-1]:.3f}"
        )
    print(f"wrote {cfg.out}")
