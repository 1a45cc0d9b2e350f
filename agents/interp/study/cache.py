"""The study's saved measurements: each agent's result is written to
``<out>/agents/<label>.json`` with the key it was measured under, and read back instead of
measured again while the key holds (a stopped or extended study does not measure the finished
agents again; the committed results in ``docs/study/`` rebuild the table in seconds).

The key (`measurement_key`) is the agent's weights (checkpoint file, size, steps), every setting
of the measurement, and `MEASUREMENTS_VERSION`, which is raised whenever what
`agents.interp.study.measure.measure` records changes. A version that only added a measurement
(`ADDED_IN`) leaves older results reusable: they gain it (`reusable` names what to add).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agents.policy.loading import LoadedPolicy
from agents.settings.commands import StudyConfig
from mazegen.files import jsonable, read_json_object, write_json

# Raised whenever what `measure` records changes, so that saved measurements are taken again.
MEASUREMENTS_VERSION = 7
# Versions that only added a measurement, leaving the others as they were: saved measurements
# of the version before gain it instead of being taken again (half an hour a study).
# (6 changed the value search: the cheese removed searched on its own, from 0.25x.)
ADDED_IN = {5: "locality", 7: "area_setting"}
# Settings added after measurements were saved, with their defaults: at the default a setting is
# left out of the key, so what was measured before it existed stays reusable.
LATER_SETTINGS: dict[str, Any] = {"maze_set": 0}
# Settings that do not change what is measured: which agents, their labels, where it is written.
NOT_MEASURED = {"runs", "labels", "sweep", "out", "torch_threads", "maze_sets"}


def measurement_key(policy: LoadedPolicy, cfg: StudyConfig) -> dict[str, Any]:
    """What one agent's measurements depend on: its weights (checkpoint file, size, steps) and
    every setting of the measurement. The checkpoint's path is relative to the working
    directory where it lies inside it, so that a committed result is reused by any checkout."""
    source = policy.source.resolve()
    here = Path.cwd().resolve()
    settings = {
        k: v
        for k, v in vars(cfg).items()
        if k not in NOT_MEASURED and not (k in LATER_SETTINGS and v == LATER_SETTINGS[k])
    }
    return {
        "measurements": MEASUREMENTS_VERSION,
        "checkpoint": str(source.relative_to(here) if source.is_relative_to(here) else source),
        "bytes": policy.source.stat().st_size,
        "steps": policy.steps,
        "settings": settings,
    }


def saved_path(out: Path, label: str) -> Path:
    """Where an agent's measurements are saved in the report folder ``out``."""
    return out / "agents" / f"{label}.json"


def reusable(part: Path, key: dict[str, Any]) -> tuple[dict[str, Any], list[str]] | None:
    """The measurements saved in ``part`` when they were taken under ``key``, or under an older
    version whose successors only added measurements, with the names of those to add; None
    when they must be taken again."""
    saved = read_json_object(part)
    result, old = saved.get("result"), saved.get("key")
    if not isinstance(result, dict) or not isinstance(old, dict):
        return None
    want = json.loads(json.dumps(jsonable(key)))
    version = old.get("measurements")
    if not isinstance(version, int) or {**old, "measurements": want["measurements"]} != want:
        return None
    later = range(version + 1, want["measurements"] + 1)
    if not all(v in ADDED_IN for v in later):
        return None
    return result, [ADDED_IN[v] for v in later]


def save(part: Path, key: dict[str, Any], result: dict[str, Any]) -> None:
    """Writes one agent's measurements with their key (atomically)."""
    write_json(part, {"key": key, "result": result})
