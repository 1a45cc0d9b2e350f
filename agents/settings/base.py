"""What every command's settings share: the error they raise, where their YAML lives, and the
conversion of a Hydra config into a validated dataclass."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mazegen.config import MazeConfigError

#: The Hydra config folder: one YAML per command, and the groups of a training run.
CONF = Path(__file__).resolve().parents[2] / "conf"


class ConfigError(ValueError):
    """A training, evaluation or analysis setting is invalid."""


def positive(name: str, value: Any) -> None:
    """Raises `ConfigError` unless ``value`` is a positive finite number."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")


def too_low(low: float, name: str, value: Any) -> str | None:
    """The one-line problem of setting ``name`` at ``value`` below ``low`` (its name, its value
    and what to set instead), or None (also for an unset ``None``)."""
    if value is None or value >= low:
        return None
    return f"{name} must be >= {low:g}, got {value!r}; set {name}={low:g} or more"


def at_least(low: float, *named: tuple[str, Any]) -> None:
    """Raises `ConfigError` naming the first ``(name, value)`` below ``low`` (a check of several
    settings still names the one that is wrong)."""
    for name, value in named:
        problem = too_low(low, name, value)
        if problem:
            raise ConfigError(problem)


def finite(name: str, value: Any) -> None:
    """Raises `ConfigError` if ``value`` is a float that is NaN or infinite."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")


def to_object(cfg: Any, schema: type) -> Any:
    """An OmegaConf config -> an instance of the dataclass ``schema`` (one-line errors)."""
    from omegaconf import OmegaConf

    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), cfg))
    except MazeConfigError as e:
        raise ConfigError(f"env: {e}") from None
    except Exception as e:  # omegaconf's validation errors
        first = str(e).strip().splitlines()[0]
        raise ConfigError(f"invalid config: {first}") from None
