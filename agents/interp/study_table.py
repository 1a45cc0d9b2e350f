"""The study's table and plot: one row per measure, one column per agent
(`agents.interp.study` measures them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def _splice_counts(r: dict[str, Any]) -> list[int]:
    """Sizes of the top-channel sets whose splice (computed once) was measured."""
    inter = r["retargeting"]["interventions"]
    return sorted(
        int(k.split()[1]) for k in inter if k.startswith("top ") and k.endswith("computed once")
    )


def by_size(names: list[str]) -> list[str]:
    """Top-channel settings ("top <n> channels...") smallest set first, whatever order a saved
    file gave them: the best of them is then the smallest on a tie."""
    return sorted(names, key=lambda n: int(n.split()[1]))


def best_setting(block: dict[str, Any]) -> dict[str, Any]:
    """The channel sets that retarget best in a retargeting ``block`` (``r["retargeting"]`` or
    ``r["area_setting"]``), one with the cheese present and one with it removed (the goal may
    be met in either), and their figures."""
    inter = block["interventions"]
    channel_keys = by_size([k for k in inter if k.startswith("top ") and k.endswith(" channels")])
    best = max(channel_keys, key=lambda k: inter[k]["success"]["p"])
    removed = max(
        (k + ", cheese removed" for k in channel_keys), key=lambda k: inter[k]["success"]["p"]
    )
    value = block["values"][best.removesuffix(" channels")]
    value_removed = block["values"][removed.removesuffix(" channels, cheese removed")]
    return {
        "best_channels": best,
        "best_multiple": value["multiple"],
        "best_channels_removed": removed.removesuffix(", cheese removed"),
        # measurements older than the search with the cheese removed used one value for both
        "best_multiple_removed": value_removed.get("multiple_removed", value_removed["multiple"]),
        "none": inter["none"]["success"]["p"],
        "removed": inter["cheese removed"]["success"]["p"],
        "real_cheese": inter["real cheese moved"]["success"]["p"],
        "channels_present": inter[best]["success"]["p"],
        "channels_removed": inter[removed]["success"]["p"],
        "x_none": inter[best]["x_none"],
        "x_real_cheese": inter[best]["x_real_cheese"],
        "x_none_removed": inter[removed]["x_none"],
        "x_real_cheese_removed": inter[removed]["x_real_cheese"],
    }


def headline(r: dict[str, Any]) -> dict[str, Any]:
    """The figures of one agent that go into the table's row."""
    inter = r["retargeting"]["interventions"]
    best_set = best_setting(r["retargeting"])
    best = best_set["best_channels"]
    removed = best_set["best_channels_removed"] + ", cheese removed"
    splice = f"top {max(_splice_counts(r))} splice, computed once"  # the most channels
    steering = "steering " + splice
    directions = "directions " + splice
    return {
        # which intervention each figure below is
        "keys": {
            "none": "none",
            "real_cheese": "real cheese moved",
            "channels_present": best,
            "channels_removed": removed,
            "splice_once": splice,
            "steering_splice_once": steering,
            "directions_splice_once": directions,
            "layer_splice_once": "whole-layer splice, computed once",
        },
        **best_set,
        "splice_once": inter[splice]["success"]["p"],
        "splice_once_x_real_cheese": inter[splice]["x_real_cheese"],
        "steering_splice_once": inter[steering]["success"]["p"],
        "steering_splice_once_x_none": inter[steering]["x_none"],
        "steering_splice_once_x_real_cheese": inter[steering]["x_real_cheese"],
        "directions_splice_once": inter[directions]["success"]["p"],
        "directions_splice_once_x_none": inter[directions]["x_none"],
        "directions_splice_once_x_real_cheese": inter[directions]["x_real_cheese"],
        "layer_splice_once_x_real_cheese": inter["whole-layer splice, computed once"][
            "x_real_cheese"
        ],
    }


DISTANCES = ("0", "1-4", "5-9", "10-24")


def by_distance(r: dict[str, Any], intervention: str) -> str:
    """Success of one intervention by steps from the path to the top-right."""
    cells = r["retargeting"]["interventions"][intervention]["success_by_path_distance"]
    return " / ".join(
        f"{cells[d]['p']:.2f}" if d in cells and cells[d]["n"] else "–" for d in DISTANCES
    )


# steps from the mouse's start to the target, as bins of `success_by_distance` merged
REACH = {"1-4": ("1-2", "3-4"), "5-12": ("5-8", "9-12"), "13+": ("13+",)}


def by_reach(r: dict[str, Any], intervention: str) -> str:
    """Success of one intervention by steps from the mouse's start to the target."""
    cells = r["retargeting"]["interventions"][intervention]["success_by_distance"]
    out = []
    for bins in REACH.values():
        got = [cells[b] for b in bins if b in cells and cells[b]["n"]]
        n = sum(c["n"] for c in got)
        out.append(f"{sum(c['p'] * c['n'] for c in got) / n:.2f}" if n else "–")
    return " / ".join(out)


def _splices(r: dict[str, Any], ranking: str = "") -> str:
    """Success (and its ratio to the real cheese moved) of each splice computed once, of the
    top channels by tracking (``ranking=""``) or by steering (``"steering "``)."""
    inter = r["retargeting"]["interventions"]
    keys = [f"{ranking}top {c} splice, computed once" for c in _splice_counts(r)]
    cells = [inter[k] for k in [*keys, "whole-layer splice, computed once"]]

    def ratio(x: float | None) -> str:
        return "–" if x is None else f"{x:.2f}"

    return " / ".join(f"{c['success']['p']:.2f} ({ratio(c['x_real_cheese'])})" for c in cells)


def _locality(r: dict[str, Any]) -> str:
    """Where the cheese's move sits: at the cheese's cells, in their 3 x 3, an even spread."""
    loc = r["locality"]  # results of older versions gain it before a table is made
    return f"{loc['cell']:.2f} / {loc['3x3']:.2f} ({loc['even']:.2f})"


def _shares(r: dict[str, Any]) -> str:
    """The share of the cheese's move held by the top k directions vs the top k channels."""
    d = r["directions"]
    return " / ".join(f"{a:.2f} vs {b:.2f}" for a, b in zip(d["share"], d["channel_share"]))


def table(results: list[dict[str, Any]]) -> list[str]:
    """The study's Markdown table, one column per agent."""

    def fmt(x: Any, spec: str = ".3f") -> str:
        return "–" if x is None else format(x, spec)

    heads = [headline(r) for r in results]

    def setting(h: dict[str, Any]) -> str:
        return (
            f"{h['best_channels']} (x{h['best_multiple']:g}): {fmt(h['channels_present'])} = "
            f"{fmt(h['x_none'], '.2f')}x none, {fmt(h['x_real_cheese'], '.2f')}x real cheese"
        )

    def removed(h: dict[str, Any]) -> str:
        return (
            f"{h['best_channels_removed']} (x{h['best_multiple_removed']:g}): "
            f"{fmt(h['channels_removed'])} = {fmt(h['x_none_removed'], '.2f')}x none, "
            f"{fmt(h['x_real_cheese_removed'], '.2f')}x real cheese"
        )

    def area(r: dict[str, Any]) -> str:
        if "area_setting" not in r:  # results of older versions gain it before a table is made
            return "–"
        a = best_setting(r["area_setting"])
        return (
            f"{setting(a)}; removed {removed(a)} (none {fmt(a['none'])}, "
            f"real cheese {fmt(a['real_cheese'])})"
        )

    def binned(by: Callable[[dict[str, Any], str], str], base: str, channels: str) -> list[str]:
        """Each agent's ``base`` intervention; its best channels (``channels`` of `headline`'s
        keys); the real cheese moved, each binned by ``by``."""
        return [
            "; ".join(by(r, k) for k in (base, h["keys"][channels], "real cheese moved"))
            for r, h in zip(results, heads)
        ]

    rows: list[tuple[str, list[str]]] = [
        ("observation", [r["agent"]["observation"] for r in results]),
        ("network", [r["agent"]["network"] for r in results]),
        (
            "hooked layer",
            [f"`{r['agent']['hook']}` {r['agent']['hook_shape']}" for r in results],
        ),
        ("parameters", [f"{r['agent']['parameters'] / 1e6:.2f}M" for r in results]),
        ("training steps", [f"{r['agent']['steps'] / 1e6:.2f}M" for r in results]),
        (
            "training time (CPU)",
            [
                "–"
                if r["agent"].get("train_minutes") is None
                else f"{r['agent']['train_minutes']:.0f} min ({r['agent'].get('cpu') or '?'})"
                for r in results
            ],
        ),
        (
            "P(cheese) train / test / decision square",
            [
                " / ".join(
                    fmt(r["behaviour"][d]["p"]) for d in ("train", "test", "test_decision_square")
                )
                for r in results
            ],
        ),
        (
            f"channels tracking the cheese (>= {results[0]['channels']['threshold']:g}); best",
            [
                f"{r['channels']['passing']}; {r['channels']['tracking_accuracy'][0]:.2f}"
                for r in results
            ],
        ),
        (
            "resampling top channels: same place / elsewhere; random",
            [
                f"{100 * r['resampling']['same_place']:.2f} % / "
                f"{100 * r['resampling']['elsewhere']:.2f} %; "
                + "-".join(f"{100 * x:.2f}" for x in sorted(r["resampling"]["random_elsewhere"]))
                + " %"
                for r in results
            ],
        ),
        (
            "retarget: no intervention; cheese removed, no patch",
            [f"{fmt(h['none'])}; {fmt(h['removed'])}" for h in heads],
        ),
        ("retarget: real cheese moved", [fmt(h["real_cheese"]) for h in heads]),
        ("retarget: best channel set (value), cheese present", [setting(h) for h in heads]),
        ("... cheese removed (the best set so)", [removed(h) for h in heads]),
        (
            "... set over the target's 3x3 instead (value searched again; own targets: "
            "none, real cheese)",
            [area(r) for r in results],
        ),
        (
            "retarget by steps from the path to the top-right ("
            + " / ".join(DISTANCES)
            + "): none; best channels; real cheese",
            binned(by_distance, "none", "channels_present"),
        ),
        (
            "retarget by steps from the mouse to the target ("
            + " / ".join(REACH)
            + "), cheese removed: no patch; best channels; real cheese moved",
            binned(by_reach, "cheese removed", "channels_removed"),
        ),
        (
            "position invariance: the cheese's move spliced once, top "
            + " / ".join(str(k) for k in _splice_counts(results[0]))
            + " channels / whole layer: success (x real cheese)",
            [_splices(r) for r in results],
        ),
        (
            "... the top channels by steering instead (ranked by what the whole-layer splice "
            "loses without each, on other mazes); largest loss",
            [_splices(r, "steering ") + f"; {r['steering']['loss'][0]:.3f}" for r in results],
        ),
        (
            "... the top principal directions of the cheese's move instead of channels (found on "
            "other mazes); share of the move they hold vs as many channels",
            [_splices(r, "directions ") + "; " + _shares(r) for r in results],
        ),
        (
            "locality: share of the cheese's move at its two cells (old, new) / in their 3x3 "
            "(an even spread: cells)",
            [_locality(r) for r in results],
        ),
    ]
    header = "| measure | " + " | ".join(f"`{r['label']}`" for r in results) + " |"
    lines = [header, "| --- |" + " --- |" * len(results)]
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows]
    return lines


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
            else best["best_channels_removed"] + ", cheese removed"
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
    most = max(_splice_counts(results[0]))
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
