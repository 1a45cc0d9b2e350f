"""Retargeting through SAE features, against the channels, the principal directions, the
layer's ceiling and the real cheese moved, on the study's mazes (`agents.interp.study.agent`).

Everything chosen is chosen on the search mazes (`STUDY_SEARCH_OFFSET`;
`agents.interp.features.search`): each set's value (a multiple of its largest activation), the
erasure (how many of the cheese's features, zeroed or replaced by their cheese-removed values),
the ceiling's scale and place. The features are ranked on the analysis' test mazes; the figures
reported come from the retargeting mazes (`STUDY_RETARGET_OFFSET`) of ``maze_set``, none of
which picked anything. `measure` runs the searches, then plays `report_rows` and writes
`report`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.interp.features.ceiling import CONDITIONS, cheese_shown, difference_added
from agents.interp.features.dictionary import Sae
from agents.interp.features.every_step import EVERY_STEP, every_step_splice
from agents.interp.features.materials import NEAR_MODES, gather
from agents.interp.features.search import SUFFIX, Searches
from agents.interp.features.upstream import check_upstream
from agents.interp.features.wall_map import WallMap
from agents.interp.interventions import (
    Intervention,
    Trial,
    along,
    channels_set,
    play,
    splice,
    with_ratios,
)
from agents.interp.study.agent import Agent
from agents.interp.study.retargeting import baselines
from agents.interp.subspace import principal_directions
from agents.settings.levels import STUDY_RETARGET_OFFSET
from agents.settings.sae import SaeConfig


def outcomes(rows: list[Intervention], trial: Trial) -> dict[str, Any]:
    """Every row's summary on ``trial`` with its ratio to no intervention and to the real cheese
    moved; the rows that patch alone (`ReplacingAct`) play one by one, the rest as one batch."""
    alone = [r for r in rows if "replaced" in r.label or r.label.endswith(EVERY_STEP)]
    done = {k: o.summary for k, o in play([r for r in rows if r not in alone], trial).items()}
    for r in alone:
        done.update({k: o.summary for k, o in play([r], trial).items()})
    return with_ratios({row.label: done[row.label] for row in rows})


def measure(agent: Agent, sae: Sae, cfg: SaeConfig, erase_sae: Sae | None = None) -> dict[str, Any]:
    """Searches on the search mazes (`Searches`), then plays every chosen row on the
    retargeting mazes. ``erase_sae``: the SAE of ``cfg.erase_hook`` whose features the upstream
    rows replace (None: the whole vector there)."""
    rng = np.random.default_rng([cfg.seed, 38])
    if cfg.erase_hook:
        check_upstream(agent.net, agent.hook, cfg.erase_hook)
    searches = Searches(gather(agent, sae, cfg, rng), cfg, erase_sae)
    searches.values()
    searches.erasures()
    searches.upstream_radii()
    trial = agent.trial(STUDY_RETARGET_OFFSET, cfg.retarget_mazes, cfg.targets_per_maze, rng, 2.0)
    final = report_rows(searches)
    return report(agent, searches, trial, outcomes(final, trial))


def report_rows(searches: Searches) -> list[Intervention]:
    """Every row the report plays, as the searches chose them: the baselines and the top
    principal directions' splice; for each count the feature and channel sets (cheese present
    and removed), each kind's picked erasure (and a maze map's fixed write), the splices, the
    move features' splice at every step; the bound's feature counts; the ceiling; the maze's
    bound; the search's best feature row; the upstream rows."""
    mat, counts, picks = searches.mat, searches.counts, searches.picks
    directions, _ = principal_directions(mat.search.cheese_move)
    k_dir = min(max(counts), directions.shape[1])
    final: list[Intervention] = [
        *baselines(),
        splice(f"directions top {k_dir}", along(directions, k_dir)),
    ]
    for n in counts:
        for rem in CONDITIONS:
            for kind in mat.kinds:
                final.append(mat.row(kind, n, picks[f"{kind} {n}{SUFFIX[rem]}"]["multiple"],
                                     removed=rem))  # fmt: skip
            c = picks[f"channels {n}{SUFFIX[rem]}"]
            final.append(channels_set(f"top {n} channels", c["channels"], c["value"], removed=rem))
        for kind in mat.kinds:
            er = picks[f"erasure {kind} {n}"]
            if er["count"]:
                m = searches.multiple(kind, n, er["mode"])
                final.append(mat.row(kind, n, m, er["count"], er["mode"]))
            if kind in mat.mazemaps and er["mode"] != "predicted":  # the fixed write, too
                final.append(
                    mat.row(kind, n, searches.multiple(kind, n, "predicted"), 1, "predicted")
                )
        for name in searches.ranking:
            for rem in CONDITIONS:
                sc = picks[f"{name}splice {n}{SUFFIX[rem]}"]["scale"]
                final.append(searches.splice_row(name, n, sc, rem))
        # the move features' splice taken again at every step, at the scale picked for it once
        sc = picks[f"move splice {n}"]["scale"]
        final.append(every_step_splice(mat.sae, mat.by_move[:n], sc, "move "))
    # how many features the bound needs: twice the most, and the whole dictionary, x1
    for n in sorted({2 * max(counts), len(mat.by_move)} - set(counts)):
        final.append(every_step_splice(mat.sae, mat.by_move[:n], 1.0, "move "))
    for rem in CONDITIONS:
        c = picks[f"ceiling{SUFFIX[rem]}"]
        final.append(difference_added(c["where"], c["scale"], rem))
    final.append(cheese_shown())
    # the search's best feature row, reported under its own name (a kind's erasure pick may be
    # a whole-vector one, which leaves it out above)
    kind, n, e, mode = searches.best()[0]
    picked = mat.row(kind, n, searches.multiple(kind, n, mode), e, mode)
    if picked.label not in {r.label for r in final}:
        final.append(picked)
    for name, up in searches.upstream.items():
        up_kind, up_n = name.split()
        final.append(searches.upstream_row(up_kind, int(up_n), up["radius"]))
    return final


def report(
    agent: Agent, searches: Searches, trial: Trial, played: dict[str, Any]
) -> dict[str, Any]:
    """The measurement's JSON: what was read and picked on the search mazes, and ``played``
    (`outcomes` of `report_rows` on ``trial``)."""
    mat, cfg = searches.mat, searches.cfg
    best, best_layer = searches.best()
    b_kind, b_n, b_e, b_mode = best
    b_feats = mat.features(b_kind, b_n)
    m = searches.multiple(b_kind, b_n, b_mode)
    chosen_pattern = (
        mat.patterns[b_feats]
        if b_kind == "pattern"
        else mat.maps[int(b_kind[3:])][b_feats]
        if b_kind.startswith("map")
        else None
    )
    wall, conv = mat.mazemaps.get("wall"), mat.mazemaps.get("conv")
    top = max(searches.counts)
    return {
        "hook": agent.hook,
        "targets": int(len(trial.targets.maze)),
        "search_targets": int(len(mat.search.targets.maze)),
        "tracking": mat.found.top(),
        "erasable": mat.erasable[: max(cfg.erase_counts)],
        "move_features": mat.by_move[:top],
        "maps": {  # the top features' mean change around the cheese, by radius
            str(r): mat.maps[r][mat.found.ranked[:top]].tolist() for r in cfg.radii
        },
        "wall_map": None  # how well the walls predict the move features' change (held out)
        if not isinstance(wall, WallMap)
        else {"radius": wall.radius, "fve": wall.fve, "fve_averaged": wall.fve_averaged},
        "conv_map": None  # and the whole maze, through the conv map
        if conv is None
        else {"mazes": cfg.conv_mazes, "steps": cfg.conv_steps, "fve": conv.fve},
        "picks": searches.picks,
        "best_present": {  # the feature row with the cheese present that the search picked
            "kind": b_kind,
            "features": b_feats,
            "multiple": m,
            "value": float(
                m * (float(mat.found.largest[b_feats].max()) if b_kind == "set" else 1.0)
            ),
            "pattern": None if chosen_pattern is None else chosen_pattern.tolist(),
            "wall_map": mat.mazemaps[b_kind].take(b_n).to_json()
            if b_kind in mat.mazemaps
            else None,
            "erase": [] if b_mode in (*NEAR_MODES, "predicted") else mat.erasable[:b_e],
            "mode": b_mode,
            "radius": b_e if b_mode in NEAR_MODES else None,
            "label": mat.row(b_kind, b_n, m, b_e, b_mode).label,  # its row in ``interventions``
            "key": list(best),
            "search_success": float(searches.hit[str(best)].mean()),
        },  # fmt: skip
        "best_present_layer": None
        if best_layer is None
        else {
            "label": searches.erase_row(best_layer).label,
            "search_success": float(searches.hit[str(best_layer)].mean()),
        },
        "upstream": None  # the cheese erased at an earlier layer under each map's write
        if not searches.upstream
        else {"hook": cfg.erase_hook, "tag": cfg.erase_tag, "picks": searches.upstream},
        "interventions": played,
    }
