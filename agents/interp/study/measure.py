"""Every measurement of the study on one agent (`measure`), each handed the settings it needs
out of the study's `StudyConfig`; or only some of them (those a saved result lacks), taken
exactly as they are taken with the rest."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

import numpy as np

from agents.interp.study.agent import Agent, describe
from agents.interp.study.behaviour import behaviour
from agents.interp.study.cheese_channels import rank_channels, resampling
from agents.interp.study.move import directions_of, locality_of, search_trial, steering_ranked
from agents.interp.study.retargeting import Plan, area_setting, retargeting
from agents.settings.commands import StudyConfig

#: What `measure` records for an agent, beside its label, description and time.
MEASUREMENTS = (
    "behaviour",
    "channels",
    "resampling",
    "steering",
    "directions",
    "locality",
    "retargeting",
    "area_setting",
)


def measure(
    agent: Agent, cfg: StudyConfig, names: Collection[str] = MEASUREMENTS
) -> dict[str, Any]:
    """The measurements ``names`` (all of `MEASUREMENTS` by default) of the study on one agent.

    Retargeting and resampling draw from one generator (``cfg.seed``), in that order; a
    measurement that is taken on its own (`agents.interp.study.cache.ADDED_IN`) draws from its
    own, so that it comes out the same with the others or without them.
    """
    plan = Plan(
        cfg.retarget_mazes,
        cfg.search_mazes,
        cfg.targets_per_maze,
        cfg.channel_counts,
        cfg.multiples,
        cfg.budget_factor,
    )
    unknown = sorted(set(names) - set(MEASUREMENTS))
    if unknown:
        raise ValueError(f"no measurement named {unknown}; the study takes {MEASUREMENTS}")
    rng = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"label": agent.label, "agent": describe(agent)}
    ranking = rank_channels(agent, cfg.mazes)
    if "behaviour" in names:
        out["behaviour"] = behaviour(agent, cfg.behaviour_mazes)
    if "channels" in names:
        out["channels"] = ranking.summary(cfg.tracking_threshold)
    if "resampling" in names:
        count = cfg.resample_channels
        out["resampling"] = resampling(agent, ranking.ranked, cfg.resample_mazes, count, rng)
    move = search_trial(agent, plan, cfg.seed)
    steering: dict[str, Any] = {}
    if {"steering", "retargeting"} & set(names):
        steering = steering_ranked(move)
        out["steering"] = {k: v[:16] if isinstance(v, list) else v for k, v in steering.items()}
    directions = directions_of(move, plan.sizes(len(ranking.ranked)))
    out["directions"] = {k: v for k, v in directions.items() if k != "directions"}
    if "locality" in names:
        out["locality"] = locality_of(move)
    if "retargeting" in names:
        out["retargeting"] = retargeting(
            agent, plan, ranking, steering["ranked"], directions["directions"], rng
        )
    if "area_setting" in names:
        out["area_setting"] = area_setting(agent, plan, ranking, cfg.seed)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return {k: v for k, v in out.items() if k in names or k in ("label", "agent", "seconds")}
