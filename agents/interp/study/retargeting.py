"""The study's retargeting: the top 1 / 3 / 11 cheese channels set at the target, each at the
value that retargets best on other mazes, against the table's baselines and the cheese's move
spliced once, all rows of the retargeting table (`agents.interp.interventions`) played on the
same targets.

- `retargeting`: the channels at the target's cell, cheese present and removed; no
  intervention, the cheese removed, the real cheese moved; the cheese's move spliced once over
  the top channels by tracking and by steering, the top principal directions, the whole layer.
- `area_setting`: the channels set over the target's 3 x 3 instead (value searched again), on
  its own draw of targets with its own baselines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agents.interp.interventions import (
    Intervention,
    Trial,
    along,
    channels_set,
    cheese_removed,
    no_intervention,
    only_channels,
    play,
    real_cheese_moved,
    splice,
    with_ratios,
)
from agents.interp.study.agent import Agent
from agents.interp.study.cheese_channels import Ranking
from agents.interp.value_search import CONDITIONS, ValueSearch, pick_multiple, search_values
from agents.settings.levels import STUDY_RETARGET_OFFSET, STUDY_SEARCH_OFFSET

# The area of `area_setting`: positions within this many of the target's (Chebyshev): its 3 x 3.
AREA_RADIUS = 1


@dataclass(frozen=True)
class Plan:
    """How the study retargets.

    Attributes:
        mazes: Training-distribution mazes whose squares are the targets.
        search_mazes: Other mazes on which each channel set's value is searched.
        per_maze: Targets drawn per maze (0: every open square).
        counts: Sizes of the top-channel sets.
        multiples: Values tried, as multiples of the largest activation the set reaches.
        budget: Success is reaching the target within this many times its shortest path.
    """

    mazes: int
    search_mazes: int
    per_maze: int
    counts: Sequence[int]
    multiples: Sequence[float]
    budget: float

    def sizes(self, channels: int) -> list[int]:
        """The set sizes measured in a layer of ``channels`` channels, smallest first."""
        return sorted({min(k, channels) for k in self.counts})


def best_multiple(
    agent: Agent,
    plan: Plan,
    channels: list[int],
    largest: float,
    rng: np.random.Generator,
    radius: int = 0,
) -> dict[str, Any]:
    """The multiples of ``largest`` at which setting ``channels`` at the target (and within
    ``radius`` of it) retargets best on search mazes drawn with ``rng``, with the cheese present
    (``multiple``) and removed (``multiple_removed``); ``tried`` and ``tried_removed`` hold the
    success of every multiple (the smallest wins a tie)."""
    trial = agent.trial(STUDY_SEARCH_OFFSET, plan.search_mazes, plan.per_maze, rng, plan.budget)
    searched = search_values(
        trial, ValueSearch(channels, largest, plan.multiples, radius, CONDITIONS)
    )
    found: dict[str, Any] = {}
    for condition, tried in searched.items():
        suffix = "" if condition == "present" else "_" + condition
        found["multiple" + suffix] = pick_multiple(tried, plan.multiples)
        found["tried" + suffix] = tried
    return found


def channel_settings(
    agent: Agent, plan: Plan, ranking: Ranking, rng: np.random.Generator, radius: int = 0
) -> tuple[dict[str, Any], list[Intervention]]:
    """The top channels of each size set at the target (and within ``radius`` of it), each at
    its best multiple of its largest activation (`best_multiple`): ``"top k"`` -> what was
    searched and chosen, and the rows (cheese present, then removed, for each size)."""
    values: dict[str, Any] = {}
    rows: list[Intervention] = []
    for k in plan.sizes(len(ranking.ranked)):
        channels = ranking.ranked[:k]
        largest = ranking.found.largest(channels)
        best = best_multiple(agent, plan, channels, largest, rng, radius)
        value, value_removed = best["multiple"] * largest, best["multiple_removed"] * largest
        values[f"top {k}"] = {
            "channels": channels,
            **best,
            "value": value,
            "value_removed": value_removed,
        }
        rows.append(channels_set(f"top {k} channels", channels, value, radius))
        rows.append(channels_set(f"top {k} channels", channels, value_removed, radius, True))
    return values, rows


def baselines() -> list[Intervention]:
    """No intervention, the cheese removed, the real cheese moved."""
    return [no_intervention(), cheese_removed(), real_cheese_moved()]


def outcomes(rows: list[Intervention], trial: Trial) -> dict[str, Any]:
    """Every row's summary on ``trial``, its success also as a multiple of no intervention's
    and the real cheese's."""
    return with_ratios({k: o.summary for k, o in play(rows, trial).items()})


def retargeting(
    agent: Agent,
    plan: Plan,
    ranking: Ranking,
    steering: list[int],
    directions: torch.Tensor,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Retargeting with the top channels at their best value (cheese present and removed), the
    baselines, and the cheese's move spliced once: over the top channels by tracking
    (``ranking``), by ``steering``, along the top principal ``directions`` (``[C, C]``, one a
    column), and over the whole layer. Targets drawn with ``rng``."""
    trial = agent.trial(STUDY_RETARGET_OFFSET, plan.mazes, plan.per_maze, rng, plan.budget)
    values, settings = channel_settings(agent, plan, ranking, rng)
    rows = [*baselines(), *settings]
    for k in plan.sizes(len(ranking.ranked)):  # how many channels the invariant part needs
        rows.append(splice(f"top {k}", only_channels(ranking.ranked[:k])))
        rows.append(splice(f"steering top {k}", only_channels(steering[:k])))
        rows.append(splice(f"directions top {k}", along(directions, k)))
    rows.append(splice("whole-layer"))
    return {
        "targets": int(len(trial.targets.maze)),
        "values": values,
        "interventions": outcomes(rows, trial),
    }


def area_setting(agent: Agent, plan: Plan, ranking: Ranking, seed: int) -> dict[str, Any]:
    """Retargeting with the top channels set over the target's 3 x 3 (`AREA_RADIUS`), cheese
    present and removed, each at its own best multiple, against the baselines on the same
    targets. Its own generator (``[seed, 2]``) and targets, so that it could be added to
    measurements taken before it."""
    rng = np.random.default_rng([seed, 2])
    trial = agent.trial(STUDY_RETARGET_OFFSET, plan.mazes, plan.per_maze, rng, plan.budget)
    values, settings = channel_settings(agent, plan, ranking, rng, AREA_RADIUS)
    return {
        "radius": AREA_RADIUS,
        "targets": int(len(trial.targets.maze)),
        "values": values,
        "interventions": outcomes([*baselines(), *settings], trial),
    }
