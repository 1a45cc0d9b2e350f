"""What a resumed training run may change, and the config it continues with.

A resumed run keeps its task (the environment), its network, its held-out levels and its
reward normalization; it may change how long it runs, how it is watched and how it goes on
learning (`RESUMABLE`). `resume_config` merges the stored config with the overrides it can
honour and names, in one line, any it cannot.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from agents.settings.base import ConfigError
from agents.settings.train import PPOConfig, TrainConfig, validate

# What a resumed run may change: how long it runs, how it is watched, and how it goes on
# learning (a PPO setting or a curriculum threshold takes effect from the resumed step, like a
# schedule); not the task (env), the network, the held-out levels or the reward normalization.
RESUMABLE = (
    "total_steps",
    "checkpoint_every",
    "checkpoint_keep",
    "eval.every_steps",
    "eval.episodes",
    "eval.final_episodes",
    "eval.video",
    "device",
    "torch_threads",
    "torch_threads_chosen",
    "precision",
    "precision_chosen",
    "progress",
    "curriculum.advance_at",
    "curriculum.min_episodes",
    "curriculum.max_stage_steps",
    *(
        f"agent.ppo.{f.name}"
        for f in fields(PPOConfig)
        if f.name != "normalize_reward"  # its statistics exist only if it was on
    ),
)
# Command-line keys that are not settings of the run.
_NOT_SETTINGS = ("resume", "unsafe_pickle")


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    from dataclasses import fields, is_dataclass

    if not is_dataclass(obj):
        return {prefix: obj}
    out: dict[str, Any] = {}
    for f in fields(obj):
        out.update(_flat(getattr(obj, f.name), f"{prefix}{f.name}."))
    return {k.rstrip("."): v for k, v in out.items()}


def _touched(overrides: list[str]) -> list[str]:
    """Setting prefixes that command-line overrides touch (``""``: an experiment preset, all)."""
    keys = []
    for o in overrides:
        key = o.split("=", 1)[0].lstrip("+~")
        if key.startswith("hydra") or key in _NOT_SETTINGS:
            continue
        keys.append("" if key == "experiment" else key)
    return keys


def resume_config(stored: TrainConfig, given: TrainConfig, overrides: list[str]) -> TrainConfig:
    """The config a resumed run continues with: ``stored`` plus the overrides it can honour.

    Args:
        stored: The run's own config.
        given: The config the command line composed (defaults plus ``overrides``).
        overrides: The command line's ``key=value`` overrides.

    Raises:
        ConfigError: An override changes a setting a resumed run cannot change (the env, the
            network, PPO): one line naming it.
    """
    import dataclasses

    old, new = _flat(stored), _flat(given)
    prefixes = _touched(overrides)
    touched = [k for k in new if any(k == p or k.startswith(p + ".") or p == "" for p in prefixes)]
    changed = [k for k in touched if k not in _NOT_SETTINGS and new[k] != old.get(k)]
    refused = [k for k in changed if k not in RESUMABLE]
    if refused:
        k = refused[0]
        raise ConfigError(
            f"resume keeps the run's own {k} ({old.get(k)!r}, not {new[k]!r}): a resumed run "
            "can change its length, monitoring, compute, PPO settings and curriculum thresholds, "
            f"not its env, network, seed or held-out levels; start a new run to change {k}"
        )

    def replaced(obj: Any, path: list[str], value: Any) -> Any:
        if len(path) == 1:
            return dataclasses.replace(obj, **{path[0]: value})
        return dataclasses.replace(
            obj, **{path[0]: replaced(getattr(obj, path[0]), path[1:], value)}
        )

    out = stored
    for k in changed:
        out = replaced(out, k.split("."), new[k])
    validate(out)
    return out
