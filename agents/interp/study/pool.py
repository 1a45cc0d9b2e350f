"""One agent's study figures pooled over disjoint maze sets (``maze_sets=[...]``).

A single set's 700 retargeting targets move a ratio to no intervention by about ±0.2x, so a
figure that decides a goal is read over several sets. Each set is measured exactly as the
study measures one (every channel set's value searched on that set's own search mazes), and
the pooled success of an intervention is the target-weighted mean of its per-set successes.
The standard error of a pooled ratio is taken from the spread of the per-set ratios, which
holds everything that moves them (the draw of mazes and targets, sampled actions, the value
search) and the pairing of an intervention with no intervention on the same targets.
"""

from __future__ import annotations

import math
from typing import Any

from agents.interp.interventions import BASELINES, NONE, REAL_CHEESE_MOVED, REMOVED, ratio
from agents.interp.study.headline import by_size

# The behaviour measurement's distributions, in the table's order (saved files sort keys).
DISTRIBUTIONS = ("train", "test", "test_decision_square")


def _weighted(parts: list[tuple[float, int]]) -> float:
    return sum(p * n for p, n in parts) / sum(n for _, n in parts)


def _x(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def _spread(values: list[float]) -> float | None:
    """Standard error of the mean of ``values`` (None for fewer than two)."""
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return math.sqrt(var / len(values))


def _multiples(r: dict[str, Any], name: str) -> float | None:
    """The searched multiple behind the retargeting intervention ``name`` (None for none)."""
    if not name.startswith("top ") or "splice" in name:
        return None
    count = name.split()[1]
    found = r["retargeting"]["values"][f"top {count}"]
    return float(found["multiple_removed" if name.endswith(REMOVED) else "multiple"])


def pool_agent(per_set: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Pools one agent's study results (``{maze set: result}``) into one figure per
    intervention: success, x no intervention and x the real cheese moved, each set's ratio to
    no intervention and the standard error across sets."""
    sets = sorted(per_set)
    results = [per_set[k] for k in sets]
    targets = [int(r["retargeting"]["targets"]) for r in results]
    names = [
        n
        for n in results[0]["retargeting"]["interventions"]
        if all(n in r["retargeting"]["interventions"] for r in results)
    ]

    def success(r: dict[str, Any], name: str) -> float:
        return float(r["retargeting"]["interventions"][name]["success"]["p"])

    none = _weighted([(success(r, NONE), n) for r, n in zip(results, targets)])
    real = _weighted([(success(r, REAL_CHEESE_MOVED), n) for r, n in zip(results, targets)])
    pooled: dict[str, Any] = {}
    for name in names:
        p = _weighted([(success(r, name), n) for r, n in zip(results, targets)])
        # a set where no intervention never succeeds has no ratio (None), and no say in the SE
        ratios = [ratio(success(r, name), success(r, NONE)) for r in results]
        pooled[name] = {
            "success": p,
            "success_by_set": [success(r, name) for r in results],
            "x_none": ratio(p, none),
            "x_real_cheese": ratio(p, real),
            "x_none_by_set": ratios,
            "x_none_se": _spread([x for x in ratios if x is not None]),
            "multiples": [_multiples(r, name) for r in results],
        }
    behaviour = {
        dist: _weighted(
            [(float(r["behaviour"][dist]["p"]), int(r["behaviour"][dist]["n"])) for r in results]
        )
        for dist in DISTRIBUTIONS
    }
    return {
        "label": results[0]["label"],
        "maze_sets": sets,
        "targets": sum(targets),
        "behaviour": behaviour,
        "retargeting": pooled,
    }


def best_pooled(pooled: dict[str, Any], removed: bool) -> str | None:
    """The top-channel setting with the highest pooled success (cheese removed or present)."""
    settings = by_size(
        [
            n
            for n in pooled["retargeting"]
            if n.startswith("top ") and "splice" not in n and n.endswith(REMOVED) == removed
        ]
    )
    return max(settings, key=lambda n: pooled["retargeting"][n]["success"], default=None)


def _figure(pooled: dict[str, Any], name: str) -> str:
    f = pooled["retargeting"][name]
    if name == NONE:
        return f"{f['success']:.3f} (sets {' / '.join(f'{p:.3f}' for p in f['success_by_set'])})"
    se = "" if f["x_none_se"] is None else f", SE {f['x_none_se']:.2f}x"
    sets = " / ".join(_x(x) for x in f["x_none_by_set"])
    text = f"{f['success']:.3f} = {_x(f['x_none'])}x none{se} / {_x(f['x_real_cheese'])}x real"
    multiples = [m for m in f["multiples"] if m is not None]
    at = f" at x{'/'.join(f'{m:g}' for m in multiples)}" if multiples else ""
    return f"{text}{at} (sets {sets})"


def pooled_table(agents: list[dict[str, Any]]) -> list[str]:
    """A markdown table: one column per agent, the pooled figures as rows."""
    rows: list[tuple[str, list[str]]] = [
        (
            "maze sets; retargeting targets",
            [f"{', '.join(map(str, a['maze_sets']))}; {a['targets']:,}" for a in agents],
        ),
        (
            "held-out P(cheese) train / test / decision square",
            [" / ".join(f"{v:.3f}" for v in a["behaviour"].values()) for a in agents],
        ),
    ]
    names = [n for n in agents[0]["retargeting"] if n.startswith("top ") and "splice" not in n]
    baselines = [n for n in BASELINES if n in agents[0]["retargeting"]]
    # present before removed (a stable sort), each smallest set first
    settings = sorted(by_size(names), key=lambda n: n.endswith(REMOVED))
    for name in [*baselines, *settings]:
        rows.append((name, [_figure(a, name) if name in a["retargeting"] else "–" for a in agents]))
    for removed in (False, True):
        label = "best set, cheese " + ("removed" if removed else "present")
        rows.append((label, [str(best_pooled(a, removed)) for a in agents]))
    header = "| pooled over maze sets | " + " | ".join(a["label"] for a in agents) + " |"
    lines = [header, "| --- |" + " --- |" * len(agents)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    return lines
