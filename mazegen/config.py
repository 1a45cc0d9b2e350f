"""`MazeConfig`: every knob of the maze distribution and the environment, validated in one place.

The same dataclass is the Hydra structured-config schema of the `env` group (see `conf/`), so a
value that is accepted on the command line is exactly a value the environment accepts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from mazegen.levels import held_out_start, training_levels

OBS_MODES = ("rgb", "grid")
ACTION_MODES = ("procgen", "cardinal")


class MazeConfigError(ValueError):
    """A maze or environment setting is out of its allowed range."""


@dataclass
class MazeConfig:
    """Settings of the maze distribution and the environment.

    Attributes:
        world_size: Side W of the square world (odd, >= 3). Procgen: 15 easy, 25 hard.
        min_size: Smallest inner maze size (odd, 3 <= min_size <= max_size).
        max_size: Largest inner maze size (odd, <= world_size). Sizes are uniform over odd values.
        cheese_region: Training distribution: cheese on an open square of the inner top-right
            n x n (n clipped to the maze size; 1 = the corner itself). None: anywhere.
        cheese_exclude_region: Test distribution: cheese anywhere *outside* the inner top-right
            n x n (needs min_size > n). Exclusive with ``cheese_region``.
        obs_mode: ``"rgb"`` (3 x obs_size x obs_size uint8) or ``"grid"`` (3 x W x W, {0, 1}).
        action_mode: ``"procgen"`` (15 actions) or ``"cardinal"`` (4 actions).
        obs_size: Side of the RGB observation in pixels (procgen: 64).
        max_steps: Episode is truncated after this many steps (procgen: 500).
        num_levels: Number of distinct levels (0 = unlimited), as in procgen.
        start_level: First level number; level i is generated from seed start_level + i.
        reward: Reward for reaching the cheese.
        procgen: Levels and pixels as procgen's ``maze``: level L is procgen's level L (inner
            size, walls, start, cheese, background) and the observation is procgen's 64 x 64
            frame pixel for pixel (textures from ``make procgen-textures``). Requires
            obs_mode "rgb", action_mode "procgen", obs_size 64, world_size 15 (easy) or 25
            (hard), sizes 3..world_size; ``cheese_region`` acts as procgenAISC's
            ``rand_region`` (None: vanilla maze, cheese anywhere). Held-out levels are
            ``[2**31 - 2**24, 2**31 - 1)``.
    """

    world_size: int = 25
    min_size: int = 3
    max_size: int = 25
    cheese_region: int | None = None
    cheese_exclude_region: int | None = None
    obs_mode: str = "rgb"
    action_mode: str = "procgen"
    obs_size: int = 64
    max_steps: int = 500
    num_levels: int = 0
    start_level: int = 0
    reward: float = 10.0
    procgen: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raises `MazeConfigError` with a one-line message naming the allowed values."""
        for name in (
            "world_size",
            "min_size",
            "max_size",
            "obs_size",
            "max_steps",
            "num_levels",
            "start_level",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise MazeConfigError(f"{name} must be an integer, got {value!r}")
        w, lo, hi = self.world_size, self.min_size, self.max_size
        if w < 3 or w % 2 == 0:
            raise MazeConfigError(f"world_size must be an odd integer >= 3, got {w}")
        if lo < 3 or lo % 2 == 0 or hi % 2 == 0:
            raise MazeConfigError(
                f"min_size and max_size must be odd integers >= 3, got min_size={lo}, max_size={hi}"
            )
        if lo > hi:
            raise MazeConfigError(f"min_size ({lo}) must be <= max_size ({hi})")
        if hi > w:
            raise MazeConfigError(f"max_size ({hi}) must be <= world_size ({w})")
        for name in ("cheese_region", "cheese_exclude_region"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise MazeConfigError(f"{name} must be None or an integer >= 1, got {value!r}")
        if self.cheese_region is not None and self.cheese_exclude_region is not None:
            raise MazeConfigError(
                "set at most one of cheese_region (train) and cheese_exclude_region (test)"
            )
        if self.cheese_exclude_region is not None and self.cheese_exclude_region >= lo:
            raise MazeConfigError(
                f"cheese_exclude_region ({self.cheese_exclude_region}) must be < min_size ({lo}) "
                "so that every maze has open squares outside the region"
            )
        if self.obs_mode not in OBS_MODES:
            raise MazeConfigError(f"obs_mode must be one of {OBS_MODES}, got {self.obs_mode!r}")
        if self.action_mode not in ACTION_MODES:
            raise MazeConfigError(
                f"action_mode must be one of {ACTION_MODES}, got {self.action_mode!r}"
            )
        if self.obs_size < w:
            raise MazeConfigError(
                f"obs_size ({self.obs_size}) must be >= world_size ({w}) so every square is visible"
            )
        if self.max_steps < 1:
            raise MazeConfigError(f"max_steps must be >= 1, got {self.max_steps}")
        if (
            isinstance(self.reward, bool)
            or not isinstance(self.reward, (int, float))
            or not math.isfinite(self.reward)
        ):
            raise MazeConfigError(f"reward must be a finite number, got {self.reward!r}")
        if self.num_levels < 0 or self.start_level < 0:
            raise MazeConfigError(
                f"num_levels and start_level must be >= 0, got {self.num_levels}, "
                f"{self.start_level}"
            )
        if not isinstance(self.procgen, bool):
            raise MazeConfigError(f"procgen must be true or false, got {self.procgen!r}")
        if self.procgen:
            self._validate_procgen()
        limit = held_out_start(self.procgen)
        first, end = training_levels(self.start_level, self.num_levels, self.procgen)
        if first >= limit or end > limit:
            raise MazeConfigError(
                f"training levels [{first}, {end}) must lie below {limit}, "
                "where the held-out levels start; lower start_level or num_levels"
            )

    def _validate_procgen(self) -> None:
        wanted = {"obs_mode": "rgb", "action_mode": "procgen", "obs_size": 64}
        for name, value in wanted.items():
            if getattr(self, name) != value:
                raise MazeConfigError(
                    f"procgen=true needs {name}={value!r} (procgen's frame), "
                    f"got {getattr(self, name)!r}"
                )
        if self.world_size not in (15, 25):
            raise MazeConfigError(
                f"procgen=true needs world_size 15 (easy) or 25 (hard), got {self.world_size}"
            )
        if (self.min_size, self.max_size) != (3, self.world_size):
            raise MazeConfigError(
                f"procgen=true draws inner sizes 3..{self.world_size} as procgen does; set "
                f"min_size=3 and max_size={self.world_size} (got {self.min_size}, {self.max_size})"
            )
        if self.cheese_exclude_region is not None:
            raise MazeConfigError(
                "procgen=true has no cheese_exclude_region (procgen cannot place the cheese "
                "outside a region); use cheese_region=None for cheese anywhere"
            )

    def test_distribution(self) -> MazeConfig:
        """The held-out test distribution: the cheese anywhere outside the training region.

        Mazes too small to have a square outside the region are left out (min_size is raised
        to the smallest odd size above the region). Without a training region: unchanged.
        """
        n = self.cheese_region
        if n is None:
            return self
        if self.procgen:  # procgen's vanilla maze: the cheese anywhere but the start
            return self.replace(cheese_region=None)
        lo = max(self.min_size, n + 1 + n % 2)
        if lo > self.max_size:
            raise MazeConfigError(
                f"cheese_region={n} covers every maze up to max_size={self.max_size}: "
                "there is no test distribution outside it"
            )
        return self.replace(cheese_region=None, cheese_exclude_region=n, min_size=lo)

    def held_out(self) -> MazeConfig:
        """This distribution on any level (``num_levels=0``, ``start_level=0``): the config
        held-out mazes are generated with, by level number."""
        return self.replace(num_levels=0, start_level=0)

    @property
    def eval_region(self) -> int:
        """n of the top-right n x n region whose visits are measured (1, the corner, when the
        cheese is not confined to a region)."""
        return self.cheese_region if self.cheese_region is not None else 1

    def replace(self, **changes: Any) -> MazeConfig:
        """Returns a validated copy with some fields changed."""
        return from_dict({**asdict(self), **changes})


def from_dict(values: dict[str, Any]) -> MazeConfig:
    """Builds a `MazeConfig`, rejecting unknown keys with the list of known ones."""
    known = {f.name for f in fields(MazeConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise MazeConfigError(f"unknown env setting(s) {unknown}; known: {sorted(known)}")
    return MazeConfig(**values)
