"""The study's Markdown table: one row per measure, one column per agent, read from the
saved results (`agents.interp.study.headline` picks each agent's figures)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents.interp.interventions import CHEESE_REMOVED, NONE, REAL_CHEESE_MOVED, splice_label
from agents.interp.study.features import feature_cells, follow_cell
from agents.interp.study.headline import (
    DISTANCES,
    REACH,
    WHOLE_LAYER,
    best_setting,
    by_distance,
    by_reach,
    headline,
    splice_counts,
)


def _splices(r: dict[str, Any], ranking: str = "") -> str:
    """Success (and its ratio to the real cheese moved) of each splice computed once, of the
    top channels by tracking (``ranking=""``) or by steering (``"steering "``)."""
    inter = r["retargeting"]["interventions"]
    keys = [splice_label(f"{ranking}top {c}") for c in splice_counts(r)]
    cells = [inter[k] for k in [*keys, WHOLE_LAYER]]

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
            "; ".join(by(r, k) for k in (base, h["keys"][channels], REAL_CHEESE_MOVED))
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
            binned(by_distance, NONE, "channels_present"),
        ),
        (
            "retarget by steps from the mouse to the target ("
            + " / ".join(REACH)
            + "), cheese removed: no patch; best channels; real cheese moved",
            binned(by_reach, CHEESE_REMOVED, "channels_removed"),
        ),
        (
            "position invariance: the cheese's move spliced once, top "
            + " / ".join(str(k) for k in splice_counts(results[0]))
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
    cells = [feature_cells(r["features"]) if "features" in r else ("–",) * 3 for r in results]
    rows += [
        ("SAE at the hooked layer (`python -m experiments.sae train`)", [c[0] for c in cells]),
        (
            "best SAE features set at the target (<= 11; value, erasure searched apart): "
            "cheese present; removed (x real cheese)",
            [c[1] for c in cells],
        ),
        (
            "the layer's ceiling (the cheese's difference added, scale and place searched "
            "apart): cheese present; removed",
            [c[2] for c in cells],
        ),
        (
            "the top SAE features written at every step by a follow map (a small network "
            "predicting their change from the maze; `python -m experiments.sae follow-map`), "
            "cheese present, pooled over maze sets that picked nothing, scale search-picked",
            [follow_cell(r.get("follow_maps") or []) for r in results],
        ),
    ]
    header = "| measure | " + " | ".join(f"`{r['label']}`" for r in results) + " |"
    lines = [header, "| --- |" + " --- |" * len(results)]
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows]
    return lines
