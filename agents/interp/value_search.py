"""The value a channel patch is set to, searched: the multiple of the channels' largest
activation at which setting them at the target retargets best, on mazes of their own (the
study, and ``python -m experiments.patch retarget multiples=[...]``).

A value that is too small leaves the policy as it was; one that is too large is no code the
network ever saw (`easy_spread`'s channel steers at 1x and does nothing at 2x), so no fixed
multiple fits every agent. The search plays one `agents.interp.interventions.channels_set` row
per multiple and condition, all in one batched rollout on the search trial."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agents.interp.interventions import Intervention, Trial, channels_set, successes
from agents.policy.metrics import rate

#: The conditions a search may play: the cheese where the maze has it, or removed.
CONDITIONS = ("present", "removed")


@dataclass(frozen=True)
class ValueSearch:
    """What `search_values` tries.

    Attributes:
        channels: The channels set at the target.
        largest: The largest activation those channels reach (the unit of the multiples).
        multiples: The multiples of ``largest`` tried.
        radius: Also set every position within this many of the target's.
        conditions: Which of `CONDITIONS` each multiple is tried in (a value that competes with
            the cheese need not be the one that replaces it).
    """

    channels: Sequence[int]
    largest: float
    multiples: Sequence[float]
    radius: int = 0
    conditions: Sequence[str] = ("present",)


def _row(search: ValueSearch, multiple: float, condition: str) -> Intervention:
    return channels_set(
        f"x{multiple:g}",
        search.channels,
        multiple * search.largest,
        search.radius,
        removed=condition == "removed",
    )


def search_values(trial: Trial, search: ValueSearch) -> dict[str, dict[str, float]]:
    """Retargeting success on ``trial`` of the channels set to each multiple, per condition:
    ``{condition: {f"{multiple:g}": success}}``."""
    unknown = [c for c in search.conditions if c not in CONDITIONS]
    if unknown:
        raise ValueError(f"conditions must be among {CONDITIONS}, got {unknown}")
    rows = [_row(search, m, c) for m in search.multiples for c in search.conditions]
    hit = successes(rows, trial)
    return {
        c: {f"{m:g}": float(rate(hit[_row(search, m, c).label])["p"]) for m in search.multiples}
        for c in search.conditions
    }


def pick_multiple(tried: dict[str, float], multiples: Sequence[float]) -> float:
    """The multiple with the highest success in ``tried`` (the smallest on a tie: the least
    unlike the activations the network saw)."""
    return min(multiples, key=lambda m: (-tried[f"{m:g}"], m))
