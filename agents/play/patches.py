"""The viewer's patch toggles (subtract the cheese vector, retarget), built on the analyses."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from agents.policy.rollout import ActFn
from mazegen import MazeConfig, generate_levels
from mazegen.levels import HELD_OUT_START, VIEWER_FIT_OFFSET
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
    - ``retarget``: the top cheese-tracking channel set to twice its largest activation at
      the clicked target square; with ``goal_field``, that field centred on the target.
    """

    from agents.interp.activations import activations, map_position, patched_act_fn
    from agents.interp.channels import find_cheese_channels
    from agents.interp.patches import add_vector, set_channels
    from agents.interp.vectors import cheese_vector

    layer = hook or net.default_hook
    test_cfg = config.held_out().test_distribution()
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
            gf = goal_field
            shape = activations(net, gf.hook, BatchState.stack([state]), config).shape[2:]
            fpos = map_position(np.array([target]), config.world_size, tuple(shape))
            return patched_act_fn(net, lambda idx: {gf.hook: gf.patch(fpos)})
        if not found:
            res = find_cheese_channels(
                net,
                layer,
                generate_levels(
                    range(
                        HELD_OUT_START + VIEWER_FIT_OFFSET,
                        HELD_OUT_START + VIEWER_FIT_OFFSET + mazes,
                    ),
                    test_cfg,
                ),
                test_cfg,
            )
            ch = res.top[0]["channel"]
            found.update(channel=ch, value=2.0 * res.largest([ch]), shape=res.with_cheese.shape[1:])
        pos = map_position(np.array([target]), config.world_size, found["shape"])[0]
        patch = set_channels([found["channel"]], (int(pos[0]), int(pos[1])), found["value"])
        return patched_act_fn(net, lambda idx: {layer: patch})

    return {"cheese_vector": subtract_cheese, "retarget": retarget}
