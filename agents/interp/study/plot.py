"""The study's plot: retargeting success of each agent under the table's main interventions,
with 95 % intervals (``study.png``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agents.interp.interventions import REMOVED
from agents.interp.study.headline import best_setting, headline, splice_counts


def _cell(r: dict[str, Any], h: dict[str, Any], key: str) -> dict[str, float]:
    """The success (``p``, ``lo``, ``hi``) of the plot's bar ``key`` for one agent (zero-height
    where the agent was not measured so)."""
    if key.startswith("area_"):
        if "area_setting" not in r:
            return {"p": 0.0, "lo": 0.0, "hi": 0.0}
        area = r["area_setting"]
        best = best_setting(area)
        name = (
            best["best_channels"]
            if key == "area_present"
            else best["best_channels_removed"] + REMOVED
        )
        return area["interventions"][name]["success"]
    return r["retargeting"]["interventions"][h["keys"][key]]["success"]


#: Agents per row of the study's plot.
_PER_ROW = 8


def plot_study(results: list[dict[str, Any]], path: Path) -> None:
    """Retargeting success of each agent with its 95 % interval: none, the best channels
    (cheese present and removed; at the target's position and over its 3 x 3), the splices
    computed once (the most top channels; the whole layer), and the real cheese moved."""
    from agents.interp.plots import figure_module, save_figure

    plt = figure_module()
    most = max(splice_counts(results[0]))
    bars = [
        ("no intervention", "none"),
        ("best channels, cheese present", "channels_present"),
        ("best channels, cheese removed", "channels_removed"),
        ("best channels over the target's 3x3, cheese present", "area_present"),
        ("best channels over the target's 3x3, cheese removed", "area_removed"),
        (f"top {most} channels by tracking, spliced once", "splice_once"),
        (f"top {most} channels by steering, spliced once", "steering_splice_once"),
        (f"top {most} principal directions, spliced once", "directions_splice_once"),
        ("whole layer's splice, computed once", "layer_splice_once"),
        ("real cheese moved", "real_cheese"),
    ]
    heads = [headline(r) for r in results]
    # Rows of at most _PER_ROW agents, balanced, so that a long study stays readable.
    rows = -(-len(results) // _PER_ROW)
    per_row = -(-len(results) // rows)
    fig, axes = plt.subplots(
        rows, 1, figsize=(5.0 + 2.0 * per_row, 0.6 + 3.8 * rows), squeeze=False
    )
    width = 0.8 / len(bars)
    for row, ax in enumerate(axes[:, 0]):
        chunk = slice(row * per_row, (row + 1) * per_row)
        part, part_heads = results[chunk], heads[chunk]
        x = np.arange(len(part))
        for k, (name, key) in enumerate(bars):
            cells = [_cell(r, h, key) for r, h in zip(part, part_heads)]
            p = np.array([c["p"] for c in cells])
            err = np.array([[c["p"] - c["lo"] for c in cells], [c["hi"] - c["p"] for c in cells]])
            offset = (k - (len(bars) - 1) / 2) * width
            ax.bar(x + offset, p, width, yerr=err, capsize=2, label=name)
        ax.set_xticks(x, [r["label"] for r in part])
        ax.set_xlim(-0.5, per_row - 0.5)
        ax.set_ylabel("P(reach the target\nwithin 2x its shortest path)")
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    counts = sorted(r["retargeting"]["targets"] for r in results)
    n = f"{counts[0]}" if counts[0] == counts[-1] else f"{counts[0]}-{counts[-1]}"
    axes[0, 0].set_title(
        f"Retargeting by agent ({n} targets each; channels at their best value; 95 % intervals)",
        fontsize=10,
    )
    axes[0, 0].legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.005, 1.0))
    fig.tight_layout()
    save_figure(fig, path)
