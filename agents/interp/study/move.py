"""What the cheese's move in the hooked layer says about the code, on the search mazes (apart
from the measured ones): which channels carry what steers (`steering_ranked`), whether a few
principal directions hold it better than as many channels (`directions_of`), and where in the
map it sits (`locality_of`).

The move is `agents.interp.interventions.Trial.cheese_move` of the search trial
(`search_trial`): the activation change of moving the cheese to each target."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from agents.interp.activations import map_position
from agents.interp.interventions import Trial, only_channels, splice, successes
from agents.interp.study.agent import Agent
from agents.interp.study.retargeting import Plan
from agents.interp.subspace import channel_share, near_share, principal_directions
from agents.settings.levels import STUDY_SEARCH_OFFSET


def search_trial(agent: Agent, plan: Plan, seed: int) -> Trial:
    """The cheese moved to the targets of the plan's search mazes. Its own generator
    (``[seed, 1]``): the other measurements draw the same targets as without it."""
    rng = np.random.default_rng([seed, 1])
    return agent.trial(STUDY_SEARCH_OFFSET, plan.search_mazes, plan.per_maze, rng, plan.budget)


def steering_ranked(trial: Trial) -> dict[str, Any]:
    """Channels ranked by what they carry of the steering signal, not by tracking: how much
    the whole layer's splice (computed once) loses without each channel on ``trial``. A code
    held by a few channels shows a few large losses; a distributed one, many small. The whole
    layer and its C leave-one-out splices play as one batch."""
    n = trial.net.shapes[trial.hook][0]
    rows = [splice("whole-layer")]
    rows += [
        splice(f"without {c}", only_channels([k for k in range(n) if k != c])) for c in range(n)
    ]
    hit = successes(rows, trial)
    p = [float(hit[row.label].mean()) for row in rows]
    loss = {c: p[0] - p[c + 1] for c in range(n)}
    ranked = sorted(range(n), key=lambda c: -loss[c])
    return {"ranked": ranked, "loss": [loss[c] for c in ranked], "whole_layer": p[0]}


def directions_of(trial: Trial, counts: Sequence[int]) -> dict[str, Any]:
    """The principal directions of the cheese's move (``directions`` ``[C, C]``, one a
    column), and the share of the move that the top ``k`` directions and the top ``k``
    channels hold, for each ``k`` of ``counts``."""
    directions, share = principal_directions(trial.cheese_move)
    by_channel = channel_share(trial.cheese_move)
    ks = sorted({min(k, len(share)) for k in counts})
    return {
        "directions": directions,
        "counts": ks,
        "share": [float(share[k - 1]) for k in ks],
        "channel_share": [float(by_channel[k - 1]) for k in ks],
    }


def locality_of(trial: Trial) -> dict[str, float]:
    """Where the cheese's move sits in the hooked layer: its share at the cheese's old and new
    positions (``cell``) and in their 3 x 3 (``3x3``), and the share an even spread over the
    map would put in the cells (``even``)."""
    shape = trial.net.shapes[trial.hook]
    before = map_position(trial.states.cheese, trial.setting.config.world_size, shape)
    cells = torch.as_tensor(np.stack([before, trial.positions], axis=1))  # [targets, 2, 2]
    h, w = shape[-2:]
    return {
        "cell": near_share(trial.cheese_move, cells, 0),
        "3x3": near_share(trial.cheese_move, cells, 1),
        "even": 2.0 / (h * w),
    }
