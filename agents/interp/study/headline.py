"""Reading one agent's saved study result: its best channel sets and the figures of its
table column (`headline`), and success by distance from the path or from the mouse. The labels
read are the retargeting table's (`agents.interp.interventions`)."""

from __future__ import annotations

from typing import Any

from agents.interp.interventions import (
    CHEESE_REMOVED,
    NONE,
    REAL_CHEESE_MOVED,
    REMOVED,
    splice_label,
)

#: The splice of the cheese's move into the whole layer.
WHOLE_LAYER = splice_label("whole-layer")


def splice_counts(r: dict[str, Any]) -> list[int]:
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
    removed = max((k + REMOVED for k in channel_keys), key=lambda k: inter[k]["success"]["p"])
    value = block["values"][best.removesuffix(" channels")]
    value_removed = block["values"][removed.removesuffix(" channels" + REMOVED)]
    return {
        "best_channels": best,
        "best_multiple": value["multiple"],
        "best_channels_removed": removed.removesuffix(REMOVED),
        # measurements older than the search with the cheese removed used one value for both
        "best_multiple_removed": value_removed.get("multiple_removed", value_removed["multiple"]),
        "none": inter[NONE]["success"]["p"],
        "removed": inter[CHEESE_REMOVED]["success"]["p"],
        "real_cheese": inter[REAL_CHEESE_MOVED]["success"]["p"],
        "channels_present": inter[best]["success"]["p"],
        "channels_removed": inter[removed]["success"]["p"],
        "x_none": inter[best]["x_none"],
        "x_real_cheese": inter[best]["x_real_cheese"],
        "x_none_removed": inter[removed]["x_none"],
        "x_real_cheese_removed": inter[removed]["x_real_cheese"],
    }


def headline(r: dict[str, Any]) -> dict[str, Any]:
    """The figures of one agent that go into the table's column, with ``keys``: which row of
    the retargeting table each is."""
    inter = r["retargeting"]["interventions"]
    best_set = best_setting(r["retargeting"])
    most = max(splice_counts(r))  # the most channels
    splice = splice_label(f"top {most}")
    steering = splice_label(f"steering top {most}")
    directions = splice_label(f"directions top {most}")
    return {
        "keys": {
            "none": NONE,
            "real_cheese": REAL_CHEESE_MOVED,
            "channels_present": best_set["best_channels"],
            "channels_removed": best_set["best_channels_removed"] + REMOVED,
            "splice_once": splice,
            "steering_splice_once": steering,
            "directions_splice_once": directions,
            "layer_splice_once": WHOLE_LAYER,
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
        "layer_splice_once_x_real_cheese": inter[WHOLE_LAYER]["x_real_cheese"],
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
