"""The viewer's patch toggles (subtract the cheese vector, retarget), built on the analyses."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from agents.policy.rollout import ActFn
from agents.settings.levels import VIEWER_FIT_OFFSET
from mazegen import MazeConfig, generate_levels
from mazegen.levels import HELD_OUT_START
from mazegen.state import BatchState, MazeState

if TYPE_CHECKING:
    from agents.interp.goal_field import GoalField
    from agents.policy.hooked import HookedMazeNet


def patch_factories(
    net: HookedMazeNet,
    config: MazeConfig,
    hook: str | None = None,
    mazes: int = 100,
    goal_field: GoalField | None = None,
) -> dict[str, Callable[[MazeState, tuple[int, int] | None], ActFn]]:
    """The viewer's patch toggles, built on the patching library.

    - ``cheese_vector``: subtract the current maze's cheese vector (taken at its start).
    - ``retarget``: a row of the retargeting table (`agents.interp.interventions`) on the
      clicked target square: the top cheese-tracking channel set to twice its largest
      activation there; with ``goal_field``, that field centred on the target.
    """

    from agents.interp.activations import Setting, patched_act_fn
    from agents.interp.channels import find_cheese_channels
    from agents.interp.interventions import Trial, channels_set, goal_field_row
    from agents.interp.patches import add_vector
    from agents.interp.retarget import targets_at
    from agents.interp.vectors import cheese_vector

    layer = hook or net.default_hook
    test_cfg = config.held_out().test_distribution()
    setting = Setting(config, config.eval_region, np.random.default_rng(0))  # never played here
    found: dict[str, Any] = {}

    def subtract_cheese(state: MazeState, _target: tuple[int, int] | None) -> ActFn:
        if state.cheese is None:
            return patched_act_fn(net, lambda idx: {})
        vec = cheese_vector(net, layer, BatchState.stack([state]), config)[0]
        return patched_act_fn(net, lambda idx: {layer: add_vector(vec, -1.0)})

    def retarget(state: MazeState, target: tuple[int, int] | None) -> ActFn:
        if target is None:
            return patched_act_fn(net, lambda idx: {})
        if goal_field is not None:
            row = goal_field_row(goal_field)
        else:
            if not found:
                first = HELD_OUT_START + VIEWER_FIT_OFFSET
                fit_on = generate_levels(range(first, first + mazes), test_cfg)
                res = find_cheese_channels(net, layer, fit_on, test_cfg)
                ch = res.top[0]["channel"]
                found.update(channel=ch, value=2.0 * res.largest([ch]))
            row = channels_set(f"channel {found['channel']}", [found["channel"]], found["value"])
        states = BatchState.stack([state])
        trial = Trial(net, layer, states, targets_at(states, np.array([target])), setting)
        return row.build(trial)[1]

    return {"cheese_vector": subtract_cheese, "retarget": retarget}
