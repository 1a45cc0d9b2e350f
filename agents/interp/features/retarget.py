"""Retargeting through SAE features, against the channels, the principal directions, the
layer's ceiling and the real cheese moved, on the study's mazes (`agents.interp.study.agent`).

Everything chosen is chosen on the search mazes (`STUDY_SEARCH_OFFSET`): each set's value (a
multiple of its largest activation), the erasure (how many of the cheese's features, zeroed or
replaced by their cheese-removed values), the ceiling's scale and place. The features are ranked
on the analysis' test mazes; the figures reported come from the retargeting mazes
(`STUDY_RETARGET_OFFSET`) of ``maze_set``, none of which picked anything.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.interp.features.ceiling import (
    CONDITIONS,
    best_of,
    ceiling_rows,
    cheese_shown,
    difference_added,
    pick_ceiling,
)
from agents.interp.features.dictionary import Sae
from agents.interp.features.every_step import EVERY_STEP, every_step_splice
from agents.interp.features.materials import KINDS, NEAR_MODES, gather
from agents.interp.features.rows import features_splice
from agents.interp.features.upstream import check_upstream, erased_before
from agents.interp.features.wall_map import WallMap
from agents.interp.interventions import (
    NONE,
    REAL_CHEESE_MOVED,
    Intervention,
    Trial,
    along,
    channels_set,
    play,
    splice,
    successes,
)
from agents.interp.study.agent import Agent
from agents.interp.study.retargeting import baselines
from agents.interp.subspace import principal_directions
from agents.settings.levels import STUDY_RETARGET_OFFSET
from agents.settings.sae import SaeConfig

MODES = ("zeroed", "replaced")


def outcomes(rows: list[Intervention], trial: Trial) -> dict[str, Any]:
    """Every row's summary on ``trial`` with its ratio to no intervention and to the real cheese
    moved; the rows that patch alone (`ReplacingAct`) play one by one, the rest as one batch."""
    alone = [r for r in rows if "replaced" in r.label or r.label.endswith(EVERY_STEP)]
    done = {k: o.summary for k, o in play([r for r in rows if r not in alone], trial).items()}
    for r in alone:
        done.update({k: o.summary for k, o in play([r], trial).items()})
    none, cheese = done[NONE]["success"]["p"], done[REAL_CHEESE_MOVED]["success"]["p"]
    results = {row.label: done[row.label] for row in rows}
    for summary in results.values():
        p = summary["success"]["p"]
        summary["x_none"] = p / none if none else None
        summary["x_real_cheese"] = p / cheese if cheese else None
    return results


def measure(agent: Agent, sae: Sae, cfg: SaeConfig, erase_sae: Sae | None = None) -> dict[str, Any]:
    """Searches on the search mazes, then plays every chosen row on the retargeting mazes.
    ``erase_sae``: the SAE of ``cfg.erase_hook`` whose features the upstream rows replace
    (None: the whole vector there)."""
    rng = np.random.default_rng([cfg.seed, 38])
    if cfg.erase_hook:
        check_upstream(agent.net, agent.hook, cfg.erase_hook)
    mat = gather(agent, sae, cfg, rng)
    found, channels, by_move, mazemaps, kinds = (
        mat.found, mat.channels, mat.by_move, mat.mazemaps, mat.kinds
    )  # fmt: skip
    search, erasable, feature_row = mat.search, mat.erasable, mat.row
    ranked_ch = [r["channel"] for r in channels.top]
    counts = sorted({min(n, sae.width) for n in cfg.counts})

    # values of the feature and channel sets, the ceiling's scale and place
    rows: list[Intervention] = []
    for n in counts:
        chans = ranked_ch[: min(n, len(ranked_ch))]
        for m in cfg.multiples:
            for rem in CONDITIONS:
                for kind in kinds:
                    rows.append(feature_row(kind, n, m, removed=rem, label=f"{kind}{n} x{m}"))
                big_c = channels.largest(chans)
                rows.append(channels_set(f"c{n} x{m}", chans, m * big_c, removed=rem))
    rows += ceiling_rows(cfg.scales)
    # the diagnostic splice in features: the tracking ones, or those the cheese's move is in
    ranking = {"": found.ranked, "move ": by_move}

    def splice_row(name: str, n: int, s: float, rem: bool) -> Intervention:
        return features_splice(sae, ranking[name][:n], s, rem, name)

    rows += [
        splice_row(name, n, s, rem)
        for name in ranking
        for n in counts
        for s in cfg.scales
        for rem in CONDITIONS
    ]
    hit = successes(rows, search)
    sfx = {False: "", True: ", cheese removed"}
    picks: dict[str, Any] = {}
    multiples = list(cfg.multiples)
    for n in counts:
        chans = ranked_ch[: min(n, len(ranked_ch))]
        for rem in CONDITIONS:
            for kind in kinds:
                m, tried = best_of(hit, multiples, lambda m: f"{kind}{n} x{m}" + sfx[rem])  # noqa: B023
                picks[f"{kind} {n}{sfx[rem]}"] = {"multiple": m, "tried": tried}
            m, tried = best_of(hit, multiples, lambda m: f"c{n} x{m}" + sfx[rem])  # noqa: B023
            value = m * channels.largest(chans)
            picks[f"channels {n}{sfx[rem]}"] = {"channels": chans, "value": value, "tried": tried}
    for name in ranking:
        for n in counts:
            for rem in CONDITIONS:
                lab = lambda s: splice_row(name, n, s, rem).label  # noqa: B023, E731
                s, tried = best_of(hit, list(cfg.scales), lab)
                picks[f"{name}splice {n}{sfx[rem]}"] = {"scale": s, "tried": tried}
    for rem in CONDITIONS:
        picks[f"ceiling{sfx[rem]}"] = pick_ceiling(hit, cfg.scales, rem)

    # the erasure with the cheese present: how many of the cheese's features, zeroed or
    # replaced; with a map kind, every cheese feature replaced or everything within a radius of
    # the cheese (features, or the whole vector) replaced by its cheese-removed value
    erasures = [
        (kind, n, e, mode)
        for kind in KINDS
        for n in counts
        for e in cfg.erase_counts
        for mode in MODES
        if e > 0 or mode == "zeroed"
    ]
    erasures += [
        (kind, n, e, mode)
        for kind in kinds[len(KINDS) :]
        for n in counts
        for e, mode in [(max(cfg.erase_counts), "replaced")]
        + [(r, m) for r in cfg.erase_radii for m in NEAR_MODES]
        + ([(1, "predicted")] if kind in mazemaps else [])
        if e > 0
    ]

    def multiple(kind: str, n: int, mode: str) -> float:
        """A value for a row with an erasure: a replacement makes the maze look as if it had no
        cheese, so it takes the value searched with the cheese removed."""
        return float(picks[f"{kind} {n}" + sfx[mode != "zeroed"]]["multiple"])

    def erase_row(key: tuple[str, int, int, str]) -> Intervention:
        kind, n, e, mode = key
        return feature_row(kind, n, multiple(kind, n, mode), e, mode, label=str(key))

    erase_rows = [erase_row(k) for k in erasures]
    alone = {str(k) for k in erasures if k[3] not in ("zeroed", "predicted")}  # one by one
    hit = successes([r for r in erase_rows if r.label not in alone], search)
    for r in erase_rows:
        if r.label in alone:
            hit.update(successes([r], search))
    for kind in kinds:
        for n in counts:
            mine = [k for k in erasures if k[:2] == (kind, n)]
            pick, tried = best_of(hit, mine, lambda k: str(k))
            picks[f"erasure {kind} {n}"] = {"count": pick[2], "mode": pick[3], "tried": tried}

    # the cheese erased at an earlier layer under each map's write (the value searched with
    # the cheese removed), the radius searched
    def upstream_row(kind: str, n: int, radius: int) -> Intervention:
        assert cfg.erase_hook
        row = feature_row(kind, n, multiple(kind, n, "replaced"))
        return erased_before(row, cfg.erase_hook, radius, erase_sae)

    ups = [(kind, n, r) for kind in mazemaps for n in counts for r in cfg.erase_radii]
    ups = ups if cfg.erase_hook else []
    for up_key in ups:
        hit.update(successes([upstream_row(*up_key)], search))
    upstream: dict[str, Any] = {}
    for kind in mazemaps if ups else ():
        for n in counts:
            lab = lambda r: upstream_row(kind, n, r).label  # noqa: B023, E731
            r, tried = best_of(hit, list(cfg.erase_radii), lab)
            upstream[f"{kind} {n}"] = {"radius": r, "label": lab(r), "tried": tried}
    # the best feature row (an erasure of the whole vector touches the SAE's error too: apart)
    best = max((k for k in erasures if k[3] != "layer"), key=lambda k: float(hit[str(k)].mean()))
    layer = [k for k in erasures if k[3] == "layer"]
    best_layer = max(layer, key=lambda k: float(hit[str(k)].mean())) if layer else None
    b_kind, b_n, b_e, b_mode = best
    b_feats = mat.features(b_kind, b_n)
    chosen_pattern = (
        mat.patterns[b_feats]
        if b_kind == "pattern"
        else mat.maps[int(b_kind[3:])][b_feats]
        if b_kind.startswith("map")
        else None
    )

    # the report: every chosen row on mazes that chose nothing
    trial = agent.trial(STUDY_RETARGET_OFFSET, cfg.retarget_mazes, cfg.targets_per_maze, rng, 2.0)
    directions, _ = principal_directions(search.cheese_move)
    k_dir = min(max(counts), directions.shape[1])
    final: list[Intervention] = [
        *baselines(),
        splice(f"directions top {k_dir}", along(directions, k_dir)),
    ]
    for n in counts:
        for rem in CONDITIONS:
            for kind in kinds:
                final.append(feature_row(kind, n, picks[f"{kind} {n}{sfx[rem]}"]["multiple"],
                                         removed=rem))  # fmt: skip
            c = picks[f"channels {n}{sfx[rem]}"]
            final.append(channels_set(f"top {n} channels", c["channels"], c["value"], removed=rem))
        for kind in kinds:
            er = picks[f"erasure {kind} {n}"]
            if er["count"]:
                m = multiple(kind, n, er["mode"])
                final.append(feature_row(kind, n, m, er["count"], er["mode"]))
            if kind in mazemaps and er["mode"] != "predicted":  # the fixed write, reported too
                final.append(feature_row(kind, n, multiple(kind, n, "predicted"), 1, "predicted"))
        for name in ranking:
            for rem in CONDITIONS:
                sc = picks[f"{name}splice {n}{sfx[rem]}"]["scale"]
                final.append(splice_row(name, n, sc, rem))
        # the move features' splice taken again at every step, at the scale picked for it once
        sc = picks[f"move splice {n}"]["scale"]
        final.append(every_step_splice(sae, by_move[:n], sc, "move "))
    # how many features the bound needs: twice the most, and the whole dictionary, x1
    for n in sorted({2 * max(counts), len(by_move)} - set(counts)):
        final.append(every_step_splice(sae, by_move[:n], 1.0, "move "))
    for rem in CONDITIONS:
        c = picks[f"ceiling{sfx[rem]}"]
        final.append(difference_added(c["where"], c["scale"], rem))
    final.append(cheese_shown())
    # the search's best feature row, reported under its own name (a kind's erasure pick may be
    # a whole-vector one, which leaves it out above)
    picked = feature_row(b_kind, b_n, multiple(b_kind, b_n, b_mode), b_e, b_mode)
    if picked.label not in {r.label for r in final}:
        final.append(picked)
    for name, up in upstream.items():
        up_kind, up_n = name.split()
        final.append(upstream_row(up_kind, int(up_n), up["radius"]))
    played = outcomes(final, trial)
    wall, conv = mazemaps.get("wall"), mazemaps.get("conv")
    return {
        "hook": agent.hook,
        "targets": int(len(trial.targets.maze)),
        "search_targets": int(len(search.targets.maze)),
        "tracking": found.top(),
        "erasable": erasable[: max(cfg.erase_counts)],
        "move_features": by_move[: max(counts)],
        "maps": {  # the top features' mean change around the cheese, by radius
            str(r): mat.maps[r][found.ranked[: max(counts)]].tolist() for r in cfg.radii
        },
        "wall_map": None  # how well the walls predict the move features' change (held out)
        if not isinstance(wall, WallMap)
        else {"radius": wall.radius, "fve": wall.fve, "fve_averaged": wall.fve_averaged},
        "conv_map": None  # and the whole maze, through the conv map
        if conv is None
        else {"mazes": cfg.conv_mazes, "steps": cfg.conv_steps, "fve": conv.fve},
        "picks": picks,
        "best_present": {  # the feature row with the cheese present that the search picked
            "kind": b_kind,
            "features": b_feats,
            "multiple": multiple(b_kind, b_n, b_mode),
            "value": float(
                multiple(b_kind, b_n, b_mode)
                * (float(found.largest[b_feats].max()) if b_kind == "set" else 1.0)
            ),
            "pattern": None if chosen_pattern is None else chosen_pattern.tolist(),
            "wall_map": mazemaps[b_kind].take(b_n).to_json() if b_kind in mazemaps else None,
            "erase": [] if b_mode in (*NEAR_MODES, "predicted") else erasable[:b_e],
            "mode": b_mode,
            "radius": b_e if b_mode in NEAR_MODES else None,
            "label": picked.label,  # its row in ``interventions``
            "key": list(best),
            "search_success": float(hit[str(best)].mean()),
        },  # fmt: skip
        "best_present_layer": None
        if best_layer is None
        else {
            "label": erase_row(best_layer).label,
            "search_success": float(hit[str(best_layer)].mean()),
        },
        "upstream": None  # the cheese erased at an earlier layer under each map's write
        if not upstream
        else {"hook": cfg.erase_hook, "tag": cfg.erase_tag, "picks": upstream},
        "interventions": played,
    }
