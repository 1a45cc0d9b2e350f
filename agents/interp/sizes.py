"""Sizes of a command run on a bare 2023 checkpoint: smaller by default, with the full size's time.

The 2023 network (IMPALA at 4x width) costs ~16x the shipped agents per observation (~35 ms on
one core of the slower CPU of `docs/speed.md`), so ``evaluate`` and the analyses at their usual
sizes would take hours. Unless ``pth.full=true``, a bare 2023 checkpoint runs them at the sizes
of `SMALL` (a size already smaller is kept); the command says so before it starts and, when it
is done, how long the sizes it was given would have taken (its time scaled by the largest
ratio of given to run size: the run's cost grows about linearly with each of them).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from agents.policy.loading import LoadedPolicy

#: Command settings -> the size a bare 2023 checkpoint runs them at by default.
SMALL: dict[str, int] = {
    "episodes": 50,
    "divergence_mazes": 20,
    "resamples": 20,
    "mazes": 40,
    "search_mazes": 4,
    "field_mazes": 20,
    "field_steps": 200,
    "targets_per_maze": 10,
}

#: The sizes each command's run time grows with (the ones it shrinks and reports); a command
#: not listed (``hooks``) runs no mazes.
USES: dict[str, tuple[str, ...]] = {
    "evaluate": ("episodes", "divergence_mazes", "resamples"),
    "cheese-vector": ("mazes",),
    "top-right-vector": ("mazes",),
    "vector-field": ("mazes",),
    "find-channels": ("mazes",),
    "resample-channels": ("mazes",),
    "retarget": ("mazes", "search_mazes", "targets_per_maze", "field_mazes", "field_steps"),
}

C = TypeVar("C")


def shrink(cfg: C, policy: LoadedPolicy) -> tuple[C, dict[str, tuple[int, int]]]:
    """``cfg`` with the sizes of `SMALL` for a bare 2023 checkpoint (unless ``cfg.pth.full``),
    and ``{setting: (given, run)}`` of what changed (empty for every other policy)."""
    if not policy.bare or cfg.pth.full:  # type: ignore[attr-defined]
        return cfg, {}
    uses = USES.get(getattr(cfg, "analysis", "evaluate"), ())
    changed = {
        name: (int(getattr(cfg, name)), SMALL[name])
        for name in uses
        if getattr(cfg, name) > SMALL[name]
    }
    new = dataclasses.replace(cfg, **{k: v for k, (_, v) in changed.items()})  # type: ignore[type-var]
    if hasattr(new, "maze_index"):
        new.maze_index = min(new.maze_index, new.mazes - 1)  # type: ignore[attr-defined]
    return new, changed


def announce(changed: dict[str, tuple[int, int]]) -> str | None:
    """The line printed before a shrunk run (None when nothing changed)."""
    if not changed:
        return None
    sizes = ", ".join(f"{k}={run} (of {given})" for k, (given, run) in changed.items())
    return (
        f"2023 checkpoint (~16x the shipped network's cost per observation): running {sizes} "
        "to finish in minutes; pth.full=true runs the sizes given"
    )


def full_time(changed: dict[str, tuple[int, int]], seconds: float) -> str | None:
    """The line printed after a shrunk run: how long the given sizes would take."""
    if not changed:
        return None
    ratio = max(given / run for given, run in changed.values())
    return (
        f"took {seconds:.0f} s; at the sizes given the run would take ~"
        f"{seconds * ratio / 60:.0f} min ({ratio:.0f}x; pth.full=true)"
    )


def record(changed: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """What a report records of the shrinking (``{}`` when nothing changed)."""
    if not changed:
        return {}
    return {"sizes_2023": {k: {"given": g, "run": r} for k, (g, r) in changed.items()}}
