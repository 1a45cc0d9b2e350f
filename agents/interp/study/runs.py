"""Which agents a study measures, and what their columns are called."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from agents.run.folder import read_config, sweep_runs


def labelled_runs(
    runs: Sequence[str], labels: Sequence[str], sweep: str | None
) -> list[tuple[str, str]]:
    """``(label, run)`` of every agent: ``runs`` (labelled by ``labels`` or their folder
    names), then the trained runs of the multirun folder ``sweep`` labelled by their
    experiment's name (and their folder's where two share one)."""
    given = list(zip(list(labels) or [Path(r).name for r in runs], runs))
    if sweep is None:
        return given
    swept = [(read_config(run).name, run) for run in sweep_runs(sweep)]
    names = [name for name, _ in given + swept]
    return given + [
        (f"{name}_{run.name}" if names.count(name) > 1 else name, str(run)) for name, run in swept
    ]
