"""PNG plots of the analyses (matplotlib's object API: no global backend is touched, so the
same functions draw in a script, in a test and inline in a notebook)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from mazegen.files import atomic_write_bytes


class _Figures:
    """``subplots`` and ``close`` as pyplot has them, on figures of their own: library plots
    neither pick nor change the process's matplotlib backend (a notebook's inline one stays)."""

    @staticmethod
    def subplots(*args: Any, figsize: tuple[float, float] | None = None, **kwargs: Any) -> Any:
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
        return fig, fig.subplots(*args, **kwargs)

    @staticmethod
    def close(fig: Any) -> None:
        fig.clear()


def figure_module() -> _Figures:
    """What the plots draw with (see `_Figures`)."""
    return _Figures()


def png_bytes(fig: Any, dpi: int = 110) -> bytes:
    """A figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def save_figure(fig: Any, path: Path) -> None:
    """Writes a matplotlib figure as PNG, atomically."""
    atomic_write_bytes(path, png_bytes(fig))


def _err(stats: list[dict[str, float]]) -> tuple[np.ndarray, np.ndarray]:
    p = np.array([s["p"] for s in stats])
    return p, np.array([[s["p"] - s["lo"] for s in stats], [s["hi"] - s["p"] for s in stats]])


# Plain-language names of the behavioural regression's features (agents.interp.divergence).
FEATURE_NAMES = {
    "path_to_cheese": "path length, start to cheese",
    "dsq_to_cheese": "path length, decision square to cheese",
    "dsq_to_corner": "path length, decision square to top-right corner",
    "cheese_to_corner_path": "path length, cheese to top-right corner",
    "cheese_to_corner_euclid": "straight-line distance, cheese to top-right corner",
    "dsq_to_cheese_euclid": "straight-line distance, decision square to cheese",
    "start_to_cheese_euclid": "straight-line distance, start to cheese",
    "inner_size": "maze size",
}


def plot_p_cheese_vs_distance(result: dict[str, Any], path: Path) -> None:
    plt = figure_module()
    fig, ax = plt.subplots(figsize=(6, 3.9))
    for name, label in (("test", "test distribution"), ("paired_test", "paired (moved) mazes")):
        bins = result[name]["p_cheese_by_distance_from_top_right"]["bins"]
        x = [(b["dist_lo"] + b["dist_hi"]) / 2 for b in bins]
        p, err = _err(bins)
        n = sum(int(b["n"]) for b in bins)
        ax.errorbar(x, p, yerr=err, marker="o", capsize=3, label=f"{label} (n={n})")
    train = result["train"]["p_cheese"]
    ax.axhline(
        train["p"],
        color="k",
        ls="--",
        lw=1,
        label=f"training distribution, all mazes (n={int(train['n'])})",
    )
    ax.set_title(
        "The farther the cheese from the top-right, the less often it is found", fontsize=10
    )
    ax.set_xlabel("cheese's straight-line distance from the inner top-right corner (squares)")
    ax.set_ylabel("P(reach cheese), 95 % CI")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def plot_decision_square(result: dict[str, Any], path: Path) -> None:
    plt = figure_module()
    fig, ax = plt.subplots(figsize=(6, 3.9))
    kinds = ("cheese", "top_right", "back")
    labels = {"test": "test distribution", "paired_test": "paired (moved) mazes"}
    for k, name in enumerate(("test", "paired_test")):
        ds = result[name]["decision_square"]
        stats = [ds[f"p_{c}"] for c in kinds]
        p, err = _err(stats)
        ax.bar(
            np.arange(3) + 0.38 * k,
            p,
            width=0.38,
            yerr=err,
            capsize=3,
            label=f"{labels[name]}: {ds['n_reached']} of {ds['n_decision_mazes']} mazes "
            "reached the square",
        )
    ax.set_xticks(
        np.arange(3) + 0.19,
        ["toward the cheese", "toward the top-right", "back the way it came"],
    )
    ax.set_title("First move on leaving the decision square", fontsize=10)
    ax.set_ylabel("share of episodes, 95 % CI")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def plot_regression(result: dict[str, Any], path: Path) -> None:
    reg = result["regression"]
    if not reg.get("coefficients"):
        return
    plt = figure_module()
    names = list(reg["coefficients"])
    coef = [reg["coefficients"][n] for n in names]
    std = [reg["stability"][n]["std"] or 0.0 for n in names]
    fig, ax = plt.subplots(figsize=(7, 3.9))
    ax.barh([FEATURE_NAMES.get(n, n) for n in names], coef, xerr=std, capsize=3, color="tab:purple")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("L1 logistic coefficient (features standardized; bar: bootstrap std)")
    ax.set_title(
        f"What predicts reaching the cheese (test mazes with a decision square, n={reg['n']}):\n"
        f"accuracy {reg['cv_accuracy']:.3f} vs base rate {reg['base_rate']:.3f}; "
        "negative = makes the cheese less likely",
        fontsize=9,
    )
    save_figure(fig, path)


def plot_region_sweep(rows: list[dict[str, Any]], path: Path) -> None:
    plt = figure_module()
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
    save_figure(fig, path)


def _maze_axes(ax: Any, state: Any, region: int | None = None) -> None:
    from mazegen import render_frame

    frame = render_frame(state, square_px=8, region=region)
    w = state.world_size
    ax.imshow(frame, extent=(-0.5, w - 0.5, w - 0.5, -0.5))
    ax.set_xticks([])
    ax.set_yticks([])


def plot_vector_fields(
    state: Any,
    fields: dict[str, np.ndarray],
    squares: list[tuple[int, int]],
    path: Path,
    region: int | None = None,
) -> None:
    """Side-by-side action-probability arrows on every open square.

    Args:
        fields: label -> ``[K, 5]`` direction probabilities (up, down, left, right, noop).
        squares: The K squares.
    """
    plt = figure_module()
    fig, axes = plt.subplots(1, len(fields), figsize=(4.2 * len(fields), 4.4))
    axes = np.atleast_1d(axes)
    sq = np.array(squares)
    for ax, (label, p) in zip(axes, fields.items()):
        _maze_axes(ax, state, region)
        dx = p[:, 3] - p[:, 2]
        dy = p[:, 1] - p[:, 0]  # rows grow downward, as in the image
        ax.quiver(
            sq[:, 1],
            sq[:, 0],
            dx,
            dy,
            color="tab:red",
            angles="xy",
            scale_units="xy",
            scale=1.6,
            width=0.006,
        )
        ax.set_title(label, fontsize=9)
    save_figure(fig, path)


def plot_heatmaps(maps: dict[str, np.ndarray], path: Path, title: str) -> None:
    """One heatmap per label (``[W, W]``, NaN where undefined), shared 0..1 colour scale."""
    plt = figure_module()
    cols = min(len(maps), 5)
    rows = -(-len(maps) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows + 0.4), squeeze=False)
    axes = axes.ravel()
    for ax in axes[len(maps) :]:
        ax.axis("off")
    im = None
    for ax, (label, m) in zip(axes, maps.items()):
        im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    if im is not None:
        bar = fig.colorbar(im, ax=list(axes), shrink=0.8)
        bar.set_label("share of targets reached (blank: never a target)")
    save_figure(fig, path)


def plot_channel_maps(
    state: Any, maps: dict[str, np.ndarray], path: Path, title: str | None = None
) -> None:
    """The maze and, per label, an activation map ``[h, w]`` aligned with it (each on its own
    diverging scale: red where the activation is higher with the cheese, blue lower)."""
    plt = figure_module()
    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(2.8 * (len(maps) + 1), 3.4))
    _maze_axes(axes[0], state)
    axes[0].set_title("maze (cheese: yellow)", fontsize=9)
    for ax, (label, m) in zip(axes[1:], maps.items()):
        lim = float(np.abs(m).max()) + 1e-9
        ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"{label} (max |diff| {lim:.2f})", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        title
        or "Activation with the cheese minus without it, per channel (red: higher with the cheese)",
        fontsize=10,
    )
    save_figure(fig, path)


def plot_map_pairs(
    state: Any,
    pairs: dict[str, tuple[np.ndarray, np.ndarray]],
    rows: tuple[str, str],
    path: Path,
    title: str,
    mark: tuple[int, int] | None = None,
) -> None:
    """The maze, and per label two maps ``[h, w]`` of it (a layer's map: coarser than the maze
    where the layer pools), one above the other (named
    by ``rows``) on one diverging scale per label, so that the two compare (e.g. a change as
    the network computes it and as a model predicts it); ``mark``: a square of the maze drawn
    as a red cross (a target)."""
    plt = figure_module()
    n = len(pairs) + 1
    fig, axes = plt.subplots(2, n, figsize=(2.4 * n, 5.6), squeeze=False)
    _maze_axes(axes[0, 0], state)
    axes[0, 0].set_title("maze (cheese: yellow" + (", target: x)" if mark else ")"), fontsize=9)
    if mark is not None:
        axes[0, 0].plot(mark[1], mark[0], "x", color="red", markersize=9, markeredgewidth=2.5)
    axes[1, 0].axis("off")
    for col, (label, maps) in enumerate(pairs.items(), start=1):
        lim = float(max(np.abs(m).max() for m in maps)) + 1e-9
        for row, m in enumerate(maps):
            ax = axes[row, col]
            ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
            scale = f"\n(max |value| {lim:.2f})" if row == 0 else ""
            ax.set_title(f"{label}, {rows[row]}{scale}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(top=0.78, hspace=0.3)
    save_figure(fig, path)


def plot_kernel(kernel: np.ndarray, path: Path, title: str) -> None:
    """Each channel of a ``[C, k, k]`` pattern (e.g. a goal field), shared diverging scale;
    the centre cell is where the target sits."""
    plt = figure_module()
    c = kernel.shape[0]
    cols = min(c, 8)
    rows = -(-c // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.7 * rows + 0.5), squeeze=False)
    lim = float(np.abs(kernel).max()) + 1e-9
    for k, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= c:
            ax.axis("off")
            continue
        ax.imshow(kernel[k], cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"ch {k}", fontsize=7)
    fig.suptitle(f"{title} (red +, blue -, max |value| {lim:.2f})", fontsize=9)
    save_figure(fig, path)
