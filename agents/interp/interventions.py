"""The retargeting intervention table: every way the project sends the mouse to a target
square, as rows played on the same targets, under one set of labels. ``python -m
experiments.patch retarget``, the study (`agents.interp.study`) and the viewer's retarget toggle
(`agents.play.patches`) all build their interventions here.

A `Trial` is where a table is played: one episode per target (its maze's start state and the
target square), the hooked network and layer, and how episodes are played and scored. What
several rows share it computes once, on first use: each target's position in a layer
(`Trial.positions`, `Trial.positions_in`), the mazes with the cheese removed (`Trial.removed`)
or moved to the target (`Trial.moved`), and **the cheese's move**: the activation change of
moving the cheese to the target (`Trial.cheese_move`, the one place it is computed).

A row is an `Intervention`: a label and ``build(trial) -> (start states, policy)``. `play`
plays a list of rows on a trial, as one batched rollout where it can, and returns each label's
`agents.interp.retarget.Outcome`; `successes` gives the success flags alone (no path
probability), for searches.

=========================================  ==================================================
label (what every report prints)           row
=========================================  ==================================================
``none``                                   `no_intervention`: the maze as it is
``cheese removed``                         `cheese_removed`: no cheese, no patch
``real cheese moved``                      `real_cheese_moved`: the cheese on the target
``<set>`` (``top 3 channels``,             `channels_set`: channels set to a value at the
``channel 55``, ...); ``<set>, cheese      target's position in the layer (and within a
removed``                                  radius of it), the 2023 channel-55 intervention
``<which> splice[ xN], computed once``     `splice`: the cheese's move, taken with the mouse at
(``top 3``, ``whole-layer``, ...)          the start, added at every step (N times; restricted
                                           to channels with `only_channels` or to principal
                                           directions with `along`)
``goal field``, ``goal field, cheese       `goal_field_row`: a learned goal field
vector subtracted``, ``cheese removed +    (`agents.interp.goal_field`) centred on the target
goal field``, ``real cheese moved + goal
field``
=========================================  ==================================================

**Adding a kind of intervention** is adding a row; nothing else changes (`play`, the value
search, the study and ``patch retarget`` take any row). Write a function that returns
``Intervention(label, build)``, where ``build(trial)`` returns the start states
(``trial.states``, ``trial.removed`` or ``trial.moved``) and a policy made by
`agents.interp.activations.patched_act_fn` on ``trial.net`` (so that it plays in the same batch
as the other rows); ``patches(idx)`` receives the episodes' indices into the trial's targets.
A sparse-autoencoder feature set at the target, for example::

    def features_set(label: str, sae: Sae, features: list[int], value: float) -> Intervention:
        def build(trial: Trial) -> Arm:
            pos = trial.positions  # [K, 2] each target's (row, col) in trial.hook's map

            def patches(idx: np.ndarray) -> Patches:
                return {trial.hook: sae.setting(features, pos[idx], value)}  # x -> x'

            return trial.states, patched_act_fn(trial.net, patches)

        return Intervention(label, build)

and "the cheese's features removed where they fire" builds on ``trial.states`` the same way.
Name the row in the words of this table (what is done, then ``, cheese removed`` when it plays
without the cheese), so that a report reads alike whatever made it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch

from agents.interp.activations import (
    Setting,
    activations,
    map_position,
    patched_act_fn,
    without_cheese,
)
from agents.interp.goal_field import GoalField
from agents.interp.patches import add_vector, set_channels
from agents.interp.retarget import Outcome, Targets, reached_each, retarget
from agents.interp.subspace import project
from agents.interp.vectors import cheese_vector
from agents.policy.hooked import HookedMazeNet, Patches, PatchFn
from agents.policy.rollout import ActFn
from mazegen.actions import ACTION_DIRECTIONS
from mazegen.state import BatchState

#: What a row builds: the start states ``[K]`` it plays from and the policy that plays them.
Arm = tuple[BatchState, ActFn]


@dataclass(frozen=True)
class Trial:
    """Where a table of interventions is played: one episode per target.

    Attributes:
        net: The network patched.
        hook: The layer the rows read and patch.
        states: ``[K]`` each target's episode start, the cheese where its maze has it.
        targets: ``[K]`` the targets (`agents.interp.retarget.targets_of`).
        setting: The environment, region and random generator the episodes are played with.
        budget_factor: Success is reaching the target within this many times its shortest path.
        any_time: Play each episode to its ``max_steps`` instead of stopping at the budget (and
            also report success within them).
    """

    net: HookedMazeNet
    hook: str
    states: BatchState
    targets: Targets
    setting: Setting
    budget_factor: float = 2.0
    any_time: bool = False

    def positions_in(self, hook: str) -> np.ndarray:
        """``[K, 2]`` each target's position in ``hook``'s activation map."""
        return map_position(
            self.targets.squares, self.setting.config.world_size, self.net.shapes[hook]
        )

    @cached_property
    def positions(self) -> np.ndarray:
        """``[K, 2]`` each target's position in the trial's layer."""
        return self.positions_in(self.hook)

    @cached_property
    def removed(self) -> BatchState:
        """The start states without their cheese."""
        return without_cheese(self.states)

    @cached_property
    def moved(self) -> BatchState:
        """The start states with the cheese moved to the target."""
        return self.states.placed(cheese=self.targets.squares.copy())

    @cached_property
    def layer_played_and_moved(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``([K, C, H, W], [K, C, H, W])``: the trial's layer with the mouse at the start, as
        played and with the cheese moved to the target."""
        config = self.setting.config
        return (
            activations(self.net, self.hook, self.states, config),
            activations(self.net, self.hook, self.moved, config),
        )

    @cached_property
    def cheese_move(self) -> torch.Tensor:
        """``[K, C, H, W]`` the cheese's move: the activation change at the trial's layer of
        moving the cheese to the target, the mouse at the start."""
        played, moved = self.layer_played_and_moved
        return moved - played

    def unpatched(self) -> ActFn:
        """The policy as it is (an act of the batch, so that it plays with the patched rows)."""
        return patched_act_fn(self.net, lambda idx: {})


@dataclass(frozen=True)
class Intervention:
    """One row of the table: ``build(trial)`` gives the states it starts from and its policy."""

    label: str
    build: Callable[[Trial], Arm]


#: The baselines' labels, in the order reports show them.
NONE, CHEESE_REMOVED, REAL_CHEESE_MOVED = BASELINES = (
    "none",
    "cheese removed",
    "real cheese moved",
)
#: Appended to a row's label when it plays with the cheese removed.
REMOVED = ", cheese removed"


def no_intervention() -> Intervention:
    """``none``: the maze as it is, the policy unpatched."""
    return Intervention(NONE, lambda t: (t.states, t.unpatched()))


def cheese_removed() -> Intervention:
    """``cheese removed``: the cheese taken away, the policy unpatched."""
    return Intervention(CHEESE_REMOVED, lambda t: (t.removed, t.unpatched()))


def real_cheese_moved() -> Intervention:
    """``real cheese moved``: the cheese on the target, the policy unpatched."""
    return Intervention(REAL_CHEESE_MOVED, lambda t: (t.moved, t.unpatched()))


def channels_set(
    name: str,
    channels: Sequence[int],
    value: float,
    radius: int = 0,
    removed: bool = False,
) -> Intervention:
    """``<name>``: ``channels`` set to ``value`` at each target's position in the layer, and
    at every position within ``radius`` of it (the 2023 channel-55 intervention); with
    ``removed``, on the mazes without their cheese (``<name>, cheese removed``)."""
    chosen = list(channels)

    def build(t: Trial) -> Arm:
        pos = t.positions

        def patches(idx: np.ndarray) -> Patches:
            return {t.hook: set_channels(chosen, pos[idx], value, radius)}

        return (t.removed if removed else t.states), patched_act_fn(t.net, patches)

    return Intervention(name + (REMOVED if removed else ""), build)


Restrict = Callable[[torch.Tensor], torch.Tensor]


def only_channels(channels: Sequence[int]) -> Restrict:
    """The part of a move ``[K, C, H, W]`` in ``channels`` (the others zeroed)."""
    chosen = list(channels)

    def restrict(delta: torch.Tensor) -> torch.Tensor:
        keep = torch.zeros_like(delta)
        keep[:, chosen] = 1.0
        return delta * keep

    return restrict


def along(directions: torch.Tensor, k: int) -> Restrict:
    """The part of a move ``[K, C, H, W]`` along the first ``k`` columns of ``directions``
    (``[C, C]``, orthonormal; `agents.interp.subspace.principal_directions`)."""
    return lambda delta: project(delta, directions, k)


def splice_label(which: str, scale: float = 1.0) -> str:
    """The label of `splice` (``top 3`` -> ``top 3 splice, computed once``)."""
    times = "" if scale == 1 else f" x{scale:g}"
    return f"{which} splice{times}, computed once"


def splice(which: str, restrict: Restrict | None = None, scale: float = 1.0) -> Intervention:
    """``<which> splice[ x<scale>], computed once``: the cheese's move (`Trial.cheese_move`,
    taken once with the mouse at the start), restricted by ``restrict``, added ``scale`` times
    at every step wherever the mouse is. A code that holds the cheese's place whatever the
    mouse's keeps steering so; the whole layer's at 3x is the 2023 "virtual cheese"."""

    def build(t: Trial) -> Arm:
        delta = t.cheese_move if restrict is None else restrict(t.cheese_move)

        def patches(idx: np.ndarray) -> Patches:
            d = delta[torch.as_tensor(idx)]
            return {t.hook: lambda x: x + scale * d.to(x.dtype)}

        return t.states, patched_act_fn(t.net, patches)

    return Intervention(splice_label(which, scale), build)


#: Where a goal-field row starts from -> its label's prefix.
_FIELD_STARTS = {"states": "", "removed": "cheese removed + ", "moved": "real cheese moved + "}


def goal_field_row(
    field: GoalField, start: str = "states", cheese_vector_subtracted: bool = False
) -> Intervention:
    """``goal field``: a learned goal field centred on each target (at its own layer), from
    the maze as it is, without its cheese (``start="removed"``: ``cheese removed + goal
    field``) or with the cheese on the target (``"moved"``: ``real cheese moved + goal
    field``); with ``cheese_vector_subtracted``, the maze's cheese vector (with minus without
    the cheese, at the trial's layer) is subtracted too."""
    if start not in _FIELD_STARTS:
        raise ValueError(f"start must be one of {sorted(_FIELD_STARTS)}, got {start!r}")
    label = _FIELD_STARTS[start] + "goal field"

    def build(t: Trial) -> Arm:
        pos = t.positions_in(field.hook)
        states = {"states": t.states, "removed": t.removed, "moved": t.moved}[start]
        vectors = None
        if cheese_vector_subtracted:
            vectors = cheese_vector(t.net, t.hook, t.states, t.setting.config)  # [K, C, H, W]

        def patches(idx: np.ndarray) -> Patches:
            chosen: dict[str, list[PatchFn]] = {field.hook: [field.patch(pos[idx])]}
            if vectors is not None:
                v = add_vector(vectors[torch.as_tensor(idx)], -1.0)
                chosen.setdefault(t.hook, []).append(v)
            return chosen

        return states, patched_act_fn(t.net, patches)

    return Intervention(
        label + (", cheese vector subtracted" if cheese_vector_subtracted else ""), build
    )


def arms(rows: Sequence[Intervention], trial: Trial) -> dict[str, Arm]:
    """Each row built on ``trial``, by label (labels must differ)."""
    labels = [r.label for r in rows]
    twice = sorted({x for x in labels if labels.count(x) > 1})
    if twice:
        raise ValueError(f"two rows of a table share the label(s) {twice}")
    return {r.label: r.build(trial) for r in rows}


def play(rows: Sequence[Intervention], trial: Trial) -> dict[str, Outcome]:
    """Every row played on the trial's targets (one batched rollout when every policy patches
    the trial's network): success, path probability and their breakdowns, by label."""
    return retarget(
        arms(rows, trial),
        trial.targets,
        trial.setting,
        ACTION_DIRECTIONS[trial.setting.config.action_mode],
        trial.budget_factor,
        trial.any_time,
    )


def successes(rows: Sequence[Intervention], trial: Trial) -> dict[str, np.ndarray]:
    """``[K]`` whether each row's episode reached its target within the budget, by label: the
    success of `play` without the rest of its figures (what a search needs)."""
    return reached_each(arms(rows, trial), trial.targets, trial.setting, trial.budget_factor)


def ratio(p: float, base: float) -> float | None:
    """``p`` as a multiple of ``base`` (None where ``base`` is 0)."""
    return p / base if base > 0 else None


def with_ratios(summaries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``summaries`` (`play`'s, by label, the baselines among them), each given its success as
    a multiple of no intervention's (``x_none``) and of the real cheese moved's
    (``x_real_cheese``); returns them."""
    none = summaries[NONE]["success"]["p"]
    cheese = summaries[REAL_CHEESE_MOVED]["success"]["p"]
    for summary in summaries.values():
        summary["x_none"] = ratio(summary["success"]["p"], none)
        summary["x_real_cheese"] = ratio(summary["success"]["p"], cheese)
    return summaries
