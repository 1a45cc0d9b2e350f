"""Which layer to train an SAE on: each layer's **ceiling**, the best fixed write of the cheese's
move there (`agents.interp.features.ceiling.difference_added`: the layer with the cheese on the
target minus the layer as played, the mouse at the start, added at every step over the whole
layer or around the target, at each of ``cfg.scales``), with the cheese present and removed.

A few features set at a target can at best do what such a write does at their layer, so a layer
whose ceiling is below a goal cannot reach it through its features. Every layer is measured on
the same targets and sampled actions (the generator restarts at each layer): the place and
scale are picked on the search mazes (`STUDY_SEARCH_OFFSET`), whose rates are what a layer
should be picked by; the figures on the retargeting mazes (`STUDY_RETARGET_OFFSET`) are those a
measurement at the picked layer reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.interp.features.ceiling import (
    BOUND,
    CONDITIONS,
    ceiling_rows,
    cheese_shown,
    difference_added,
    pick_ceiling,
)
from agents.interp.interventions import NONE, REAL_CHEESE_MOVED, ratio, successes
from agents.interp.study.agent import study_agent
from agents.interp.study.retargeting import baselines
from agents.policy.hooked import HookedMazeNet
from agents.policy.loading import LoadedPolicy
from agents.settings.levels import STUDY_RETARGET_OFFSET, STUDY_SEARCH_OFFSET
from agents.settings.sae import SaeConfig

#: The key of each condition in a layer's figures.
SUFFIX = {False: "present", True: "removed"}


def stream_layers(net: HookedMazeNet) -> list[str]:
    """The layers a channel map flows through, in the network's order: every hook with a map
    of more than one position that is a stage's output (a residual block's sum, a block's
    pooled map, a top-level ReLU), not the inside of a residual block."""
    out = []
    for hook, shape in net.shapes.items():
        if len(shape) != 3 or shape[1] * shape[2] < 2:
            continue
        last = hook.rsplit(".", 1)[-1]
        top_relu = last.startswith("relu") and ".res" not in hook
        if last in ("resadd_out", "maxpool_out") or top_relu:
            out.append(hook)
    return out


def layer_ceilings(policy: LoadedPolicy, cfg: SaeConfig) -> dict[str, Any]:
    """Each of ``cfg.layers`` (empty: `stream_layers`) measured: the ceiling's place and scale
    picked on ``cfg.search_mazes`` mazes, then played on ``cfg.retarget_mazes`` mazes of
    ``cfg.maze_set``, beside no intervention, the real cheese moved and the maze's bound with
    the cheese present (`cheese_shown`), which do not depend on the layer: played once, on the
    same targets. Returns ``{"layers": [...]}``, each entry the hook, its shape, the picks and
    both mazes' rates, ``baselines``, ``bound`` (its figures) and ``best``: the layer whose
    ceiling with the cheese present succeeds most on the search mazes."""
    hooks = list(cfg.layers) or stream_layers(policy.net)
    layers: list[dict[str, Any]] = []
    base: dict[str, dict[str, float]] = {}
    bound: dict[str, Any] = {}
    for hook in hooks:
        agent = study_agent(policy.run.name, policy, hook, cfg.maze_set)
        rng = np.random.default_rng([cfg.seed, 38])  # the same targets at each layer
        search = agent.trial(STUDY_SEARCH_OFFSET, cfg.search_mazes, cfg.targets_per_maze, rng, 2.0)
        report = agent.trial(
            STUDY_RETARGET_OFFSET, cfg.retarget_mazes, cfg.targets_per_maze, rng, 2.0
        )
        if not base:  # and the maze's bound with the cheese present (`cheese_shown`)
            trials = {"search": search, "report": report}
            base = {name: _rates(successes(baselines(), t)) for name, t in trials.items()}
            got = successes([cheese_shown()], report)
            bound = {"report": _figures(got[BOUND], base["report"])}
        hit = successes(ceiling_rows(cfg.scales), search)
        picks = {SUFFIX[rem]: pick_ceiling(hit, cfg.scales, rem) for rem in CONDITIONS}
        chosen = {
            SUFFIX[rem]: difference_added(p["where"], p["scale"], rem)
            for rem, p in zip(CONDITIONS, picks.values())
        }
        got = successes(list(chosen.values()), report)
        layers.append(
            {
                "hook": agent.hook,
                "shape": list(agent.net.shapes[agent.hook]),
                "picks": picks,
                "search": {c: float(hit[row.label].mean()) for c, row in chosen.items()},
                "report": {c: _figures(got[r.label], base["report"]) for c, r in chosen.items()},
            }
        )
    best = max(layers, key=lambda e: e["search"]["present"])["hook"]
    return {
        "layers": layers,
        "baselines": base,
        "bound": bound,
        "best": best,
        "maze_set": cfg.maze_set,
    }


def _rates(hit: dict[str, np.ndarray]) -> dict[str, float]:
    """No intervention's and the real cheese's success rates, and the number of targets."""
    return {
        "none": float(hit[NONE].mean()),
        "real_cheese": float(hit[REAL_CHEESE_MOVED].mean()),
        "targets": len(hit[NONE]),
    }


def _figures(hit: np.ndarray, base: dict[str, float]) -> dict[str, float | None]:
    """A row's success rate and its ratios to no intervention and to the real cheese moved."""
    p = float(hit.mean())
    return {
        "p": p,
        "x_none": ratio(p, base["none"]),
        "x_real_cheese": ratio(p, base["real_cheese"]),
    }


def layer_lines(result: dict[str, Any]) -> list[str]:
    """The printed table: one line a layer, then the layer the search mazes pick."""
    b = result["baselines"]["report"]
    lines = [
        f"on {b['targets']} targets: no intervention {b['none']:.3f}, the real cheese moved "
        f"{b['real_cheese']:.3f}"
    ]
    for e in result["layers"]:
        s, r = e["search"], e["report"]
        cells = []
        for cond in SUFFIX.values():
            p, f = e["picks"][cond], r[cond]
            cells.append(
                f"{cond} {f['p']:.3f} ({f['x_none']:.2f}x none, {f['x_real_cheese']:.2f}x real "
                f"cheese; {p['where']} x{p['scale']:g}, search {s[cond]:.3f})"
            )
        shape = "x".join(map(str, e["shape"]))
        lines.append(f"- {e['hook']} [{shape}]: ceiling " + "; ".join(cells))
    lines.append(f"highest ceiling with the cheese present on the search mazes: {result['best']}")
    if result.get("bound"):
        f = result["bound"]["report"]
        lines.append(
            f"the maze's bound with the cheese present (the cheese shown on the target at every "
            f"step): {f['p']:.3f} ({f['x_none']:.2f}x none, {f['x_real_cheese']:.2f}x real cheese)"
        )
    return lines
