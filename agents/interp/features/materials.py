"""What a retargeting measurement reads off the mazes before it searches, and its feature rows.

The test mazes rank the features (by tracking) and the channels; the search mazes give the
cheese's features (those an erasure takes out), the features' mean change around the cheese by
radius, and, on the search targets, the **move features** (those the cheese's move is in); the
wall map and the conv map predict the move features' change from the maze. `Materials.row`
builds every feature row of `agents.interp.features.retarget` from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from agents.interp.channels import FoundChannels, find_cheese_channels
from agents.interp.features.conv_map import fit_conv_map
from agents.interp.features.dictionary import Sae
from agents.interp.features.find import (
    FoundFeatures,
    cheese_features,
    cheese_maps,
    find_cheese_features,
)
from agents.interp.features.rows import features_set, move_features
from agents.interp.features.wall_map import MazeMap, fit_wall_map, placed_changes
from agents.interp.interventions import Intervention, Trial
from agents.interp.study.agent import Agent
from agents.settings.levels import FIT_OFFSET, STUDY_SEARCH_OFFSET
from agents.settings.sae import SaeConfig
from mazegen import generate_levels

#: How the top features are written at the target: set there, or their pattern around it (the
#: mean change over the 3 x 3 around the cheese on the test mazes); ``map<r>`` kinds (one per
#: ``cfg.radii``) write their change within r of the cheese, averaged on the search mazes.
KINDS = ("set", "pattern")
#: The erasures by radius tried with a map kind (`agents.interp.features.rows.features_set`).
NEAR_MODES = ("near", "layer")


@dataclass
class Materials:
    """The features, maps and search trial of one measurement (`gather`)."""

    sae: Sae
    found: FoundFeatures  # ranked by tracking on the test mazes
    channels: FoundChannels  # the same for the layer's channels
    erasable: list[int]  # the cheese's features on the search mazes, most first
    maps: dict[int, torch.Tensor]  # radius r -> [F, 2r + 1, 2r + 1] mean change around the cheese
    patterns: torch.Tensor  # [F, 3, 3]
    search: Trial  # the search targets
    by_move: list[int]  # every feature by its share of the cheese's move on them, most first
    mazemaps: dict[str, MazeMap]  # "wall" / "conv": the move features' change from the maze
    kinds: tuple[str, ...]  # every kind of feature row: KINDS, map<r>, then the maze maps

    def features(self, kind: str, n: int) -> list[int]:
        """The top ``n`` features a ``kind`` writes: the move features for a map of the maze,
        else those that track the cheese."""
        return self.by_move[:n] if kind in self.mazemaps else self.found.ranked[:n]

    def row(
        self,
        kind: str,
        n: int,
        m: float,
        erase: int = 0,
        mode: str = "zeroed",
        removed: bool = False,
        label: str | None = None,
    ) -> Intervention:
        """``kind`` "set": the top n set to m x their largest activation at the target;
        "pattern" / "map<r>" / a map of the maze: m x their change written around the target.
        ``erase``: how many cheese features, or with ``mode`` "near" / "layer" the radius around
        the cheese erased ("predicted": none; a maze map's own map at the cheese subtracted)."""
        feats = self.features(kind, n)
        map_n = self.mazemaps[kind].take(n) if kind in self.mazemaps else None
        if kind == "set":
            value, pattern = m * float(self.found.largest[feats].max()), None
        elif kind == "pattern":
            value, pattern = m, self.patterns[feats]
        elif kind in self.mazemaps:
            value, pattern = m, None
        else:
            value, pattern = m, self.maps[int(kind[3:])][feats]
        by_radius = mode in NEAR_MODES  # else `erase` counts cheese features
        return features_set(
            self.sae, feats, value, () if by_radius else self.erasable[:erase], mode, removed,
            label, pattern, erase if by_radius else None, map_n,
        )  # fmt: skip


def gather(agent: Agent, sae: Sae, cfg: SaeConfig, rng: np.random.Generator) -> Materials:
    """Reads the mazes: ``cfg.mazes`` test mazes, ``cfg.search_mazes`` search mazes (their
    targets drawn with ``rng``); with ``cfg.wall_radius`` the wall map (fit on cheese placements
    in the test mazes), with ``cfg.conv_mazes`` the conv map (on the maze set's fit mazes)."""
    net, hook = agent.net, agent.hook
    top = max(cfg.counts)
    tests = generate_levels(range(agent.start, agent.start + cfg.mazes), agent.test_env)
    found = find_cheese_features(net, hook, sae, tests, agent.test_env)
    channels = find_cheese_channels(net, hook, tests, agent.test_env, top=top)
    first = agent.start + STUDY_SEARCH_OFFSET
    searched = generate_levels(range(first, first + cfg.search_mazes), agent.env)
    erasable = cheese_features(net, hook, sae, searched, agent.env)
    maps = {
        r: torch.as_tensor(m, dtype=torch.float32)
        for r, m in cheese_maps(net, hook, sae, searched, agent.env, list(cfg.radii)).items()
    }
    search = agent.trial(STUDY_SEARCH_OFFSET, cfg.search_mazes, cfg.targets_per_maze, rng, 2.0)
    by_move = move_features(sae, search)
    mazemaps: dict[str, MazeMap] = {}
    if cfg.wall_radius:
        placed = placed_changes(
            net, hook, sae, tests, agent.test_env, by_move[:top],
            np.random.default_rng([cfg.seed, 38, 1]), cfg.wall_placements,
        )  # fmt: skip
        mazemaps["wall"] = fit_wall_map(*placed, by_move[:top], cfg.wall_radius)
    if cfg.conv_mazes:
        first = agent.start + FIT_OFFSET
        fits = generate_levels(range(first, first + cfg.conv_mazes), agent.test_env)
        mazemaps["conv"] = fit_conv_map(
            net, hook, sae, fits, agent.test_env, by_move[:top],
            np.random.default_rng([cfg.seed, 38, 2]), cfg.wall_placements, cfg.conv_steps,
        )  # fmt: skip
    kinds = KINDS + tuple(f"map{r}" for r in cfg.radii) + tuple(mazemaps)
    patterns = torch.as_tensor(found.pattern, dtype=torch.float32)
    return Materials(
        sae, found, channels, erasable, maps, patterns, search, by_move, mazemaps, kinds
    )
