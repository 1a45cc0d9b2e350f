"""The settings of every command but training (`agents.settings.train`): one dataclass each,
the Hydra schema of its ``conf/<command>.yaml``, with its validation (one-line `ConfigError`).

==============================  ==================  ======================================
command                         schema              runs
==============================  ==================  ======================================
``python -m experiments.train``     `TrainConfig`       `agents.train.training.start`
``python -m experiments.evaluate``  `EvaluateConfig`    `agents.interp.evaluate`
``python -m experiments.patch``     `PatchConfig`       `agents.interp.registry.run_analysis`
``python -m experiments.study``     `StudyConfig`       `agents.interp.study.run.run_study`
``python -m experiments.play``      `PlayConfig`        `agents.play.app.play`
``python -m experiments.curves``    `CurvesConfig`      `agents.interp.curves`
``python -m experiments.ship``      `ShipConfig`        `agents.train.ship.ship`
``python -m experiments.benchmark`` `BenchmarkConfig`   `agents.benchmark.report`
==============================  ==================  ======================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from agents.settings.base import ConfigError, at_least
from agents.settings.pth import PthConfig, validate_pth
from agents.settings.reports import (  # re-exported: every command's schema is importable here
    BenchmarkConfig,
    CurvesConfig,
    ShipConfig,
    StudyConfig,
    validate_benchmark,
    validate_curves,
    validate_ship,
    validate_study,
)

#: The analyses of ``python -m experiments.patch`` (`agents.interp.registry` maps each to its
#: function).
ANALYSIS_NAMES = (
    "hooks",
    "cheese-vector",
    "top-right-vector",
    "vector-field",
    "find-channels",
    "resample-channels",
    "retarget",
)
#: ``compare=`` values of the viewer's recorder -> the session's patch they show
COMPARABLE = {"cheese-vector": "cheese_vector"}


@dataclass
class EvaluateConfig:
    """Settings of ``python -m experiments.evaluate``.

    Attributes:
        run: A run folder, a checkpoint, or None for the shipped policy.
        out: Output folder (default ``<run>/eval``; ``outputs/eval/pretrained`` for the shipped
            policy).
        episodes: Held-out mazes per distribution.
        start_level: First held-out level (None: the run's ``eval.start_level``).
        seed: Seed of sampled actions and of the moved cheese positions.
        deterministic: Greedy actions instead of sampled ones.
        divergence_mazes: Paired mazes whose action distributions are compared on every square.
        resamples: Bootstrap resamples of the behavioural regression.
        sweep: A multirun folder: evaluate every run in it and plot P(cheese) against region.
        torch_threads: Torch CPU threads.
        unsafe_pickle: Also load old checkpoints that only unpickling can read (runs code from
            the file: only for files you trust).
        pth: A bare 2023 checkpoint's environment and sizes (`agents.settings.pth`).
    """

    run: str | None = None
    out: str | None = None
    episodes: int = 1000
    start_level: int | None = None
    seed: int = 0
    deterministic: bool = False
    divergence_mazes: int = 200
    resamples: int = 50
    sweep: str | None = None
    torch_threads: int = 1
    unsafe_pickle: bool = False
    pth: PthConfig = field(default_factory=PthConfig)


def validate_evaluate(cfg: EvaluateConfig) -> None:
    at_least(1, *((n, getattr(cfg, n)) for n in ("episodes", "divergence_mazes", "torch_threads")))
    at_least(0, ("resamples", cfg.resamples), ("start_level", cfg.start_level), ("seed", cfg.seed))
    if cfg.run is not None and cfg.sweep is not None:
        raise ConfigError("give either run=<folder> or sweep=<multirun folder>, not both")
    validate_pth(cfg.pth)


@dataclass
class PatchConfig:
    """Settings of ``python -m experiments.patch <analysis>``.

    Attributes:
        analysis: One of cheese-vector, top-right-vector, find-channels, retarget, vector-field,
            hooks (list hook names and shapes).
        run: Run folder or checkpoint (None: the shipped policy).
        out: Report folder (default ``<run>/patch/<analysis>``, or
            ``outputs/patch/<analysis>`` for the shipped policy).
        hook: Layer to read and patch (None: the network's default layer).
        mazes: Held-out mazes used.
        start_level: First held-out level (None: the run's eval.start_level + 10^6).
        channels: Channels to retarget and resample (empty: those found by find-channels).
        num_channels: How many discovered channels form the "top" set when ``channels`` is
            empty (retarget also tries the single best and all well-tracking ones).
        value: Value the channels are set to at the target (None: 2x their largest activation,
            or the best of ``multiples``).
        multiples: Retarget searches each channel set's value over these multiples of its
            largest activation (cheese present, on ``search_mazes`` mazes of their own) and sets
            it at the best one, as the study does (empty: ``value``).
        search_mazes: Training-distribution mazes the value is searched on.
        radius: Retarget sets the channels at every position within this many of the target's
            in the hooked layer (0: its own; 1: its 3 x 3, for a code spread over the cheese's
            neighbourhood).
        amplify: Coefficient of the "virtual cheese" vector intervention.
        coeff: Coefficient of the steering vector (cheese vector: subtracted with -1).
        budget_factor: Retargeting succeeds when the target is reached within this many times
            its shortest-path distance.
        any_time: Also play every retargeting episode to the env's max_steps and report
            success within it (slower).
        targets_per_maze: Retarget to at most this many squares per maze (0: every open
            square), drawn at random.
        goal_field: Also fit and measure learned goal fields in ``retarget`` (see
            `agents.interp.goal_field`): one alone, one with the real cheese on the target.
        field_hook: Layer of the goal field (None: the network's first spatial layer).
        field_size: Side of the goal field in activation-map cells (odd).
        field_steps: Gradient steps of each fit.
        field_batch: Samples per gradient step of each fit (its held-out loss is taken on four
            times as many).
        field_mazes: Training-distribution mazes the fields are fitted on (levels disjoint from
            the evaluated ones).
        field_scale: Multiplies the fitted field when it is applied.
        seed: Seed of sampled actions.
        maze_index: Which maze the vector-field analysis draws.
        torch_threads: Torch CPU threads.
        unsafe_pickle: Also load old checkpoints that only unpickling can read (runs code from
            the file: only for files you trust).
        pth: A bare 2023 checkpoint's environment and sizes (`agents.settings.pth`).
    """

    analysis: str = "hooks"
    run: str | None = None
    out: str | None = None
    hook: str | None = None
    mazes: int = 200
    start_level: int | None = None
    channels: list[int] = field(default_factory=list)
    num_channels: int = 1
    value: float | None = None
    multiples: list[float] = field(default_factory=list)
    search_mazes: int = 10
    radius: int = 0
    amplify: float = 3.0
    coeff: float = -1.0
    budget_factor: float = 2.0
    any_time: bool = False
    targets_per_maze: int = 0
    goal_field: bool = True
    field_hook: str | None = None
    field_size: int = 13
    field_steps: int = 600
    field_batch: int = 1024
    field_mazes: int = 200
    field_scale: float = 1.0
    seed: int = 0
    maze_index: int = 0
    torch_threads: int = 1
    unsafe_pickle: bool = False
    pth: PthConfig = field(default_factory=PthConfig)


def validate_patch(cfg: PatchConfig) -> None:
    if cfg.analysis not in ANALYSIS_NAMES:
        raise ConfigError(
            f"analysis must be one of {', '.join(ANALYSIS_NAMES)}; got {cfg.analysis!r}"
        )
    at_least(1, ("mazes", cfg.mazes), ("num_channels", cfg.num_channels))
    at_least(1, ("torch_threads", cfg.torch_threads), ("budget_factor", cfg.budget_factor))
    if cfg.field_size < 1 or cfg.field_size % 2 == 0:
        raise ConfigError(f"field_size must be an odd number >= 1, got {cfg.field_size}")
    at_least(0, ("targets_per_maze", cfg.targets_per_maze))
    if isinstance(cfg.radius, bool) or not isinstance(cfg.radius, int) or cfg.radius < 0:
        raise ConfigError(f"radius must be an integer >= 0, got {cfg.radius!r}")
    at_least(1, ("field_steps", cfg.field_steps), ("field_mazes", cfg.field_mazes))
    at_least(1, ("field_batch", cfg.field_batch))
    at_least(0, ("start_level", cfg.start_level), ("seed", cfg.seed))
    for name in ("value", "amplify", "coeff", "budget_factor", "field_scale"):
        x = getattr(cfg, name)
        if x is not None and not math.isfinite(x):
            raise ConfigError(f"{name} must be a finite number, got {x}")
    if not 0 <= cfg.maze_index < cfg.mazes:
        raise ConfigError(f"maze_index must be in [0, mazes={cfg.mazes}), got {cfg.maze_index}")
    if not all(math.isfinite(m) and m > 0 for m in cfg.multiples):
        raise ConfigError(f"multiples must be positive numbers, got {list(cfg.multiples)}")
    if cfg.multiples and cfg.value is not None:
        raise ConfigError("set value or multiples (a searched value), not both")
    at_least(1, ("search_mazes", cfg.search_mazes))
    validate_pth(cfg.pth)


@dataclass
class PlayConfig:
    """Settings of the viewer.

    Attributes:
        run: Run folder or checkpoint (None: the shipped policy).
        mode: ``watch``, ``human`` (play yourself) or ``record`` (headless video).
        distribution: ``train`` or ``test`` mazes to start with.
        episodes: Episodes to record (record mode).
        out: Video path for record mode (.gif or .mp4).
        fps: Frames per second of the recorded video.
        save_dir: Where the ``s`` key saves states and screenshots.
        seed: Seed of the sampled actions.
        goal_field: A ``goal_fields.npz`` from ``experiments.patch retarget``: the ``t`` key
            then steers with that learned field instead of the cheese channel.
        compare: Record mode: a patch to show beside the unpatched policy on the same mazes
            with the same seed (``cheese-vector``: the maze's cheese vector subtracted).
        unsafe_pickle: Also load old checkpoints that only unpickling can read (runs code from
            the file: only for files you trust).
        pth: A bare 2023 checkpoint's environment and sizes (`agents.settings.pth`).
    """

    run: str | None = None
    mode: str = "watch"
    distribution: str = "test"
    episodes: int = 3
    out: str = "outputs/play/rollout.gif"
    fps: int = 8
    save_dir: str = "outputs/play"
    seed: int = 0
    goal_field: str | None = None
    compare: str | None = None
    unsafe_pickle: bool = False
    pth: PthConfig = field(default_factory=PthConfig)


def validate_play(config: PlayConfig) -> None:
    if config.mode not in ("watch", "human", "record"):
        raise ConfigError(f"mode must be watch, human or record, got {config.mode!r}")
    if config.distribution not in ("train", "test"):
        raise ConfigError(f"distribution must be train or test, got {config.distribution!r}")
    at_least(1, ("episodes", config.episodes), ("fps", config.fps))
    at_least(0, ("seed", config.seed))
    validate_pth(config.pth)
    if config.compare is not None and config.compare not in COMPARABLE:
        raise ConfigError(f"compare must be one of {', '.join(COMPARABLE)}, got {config.compare!r}")
    if config.compare is not None and config.mode != "record":
        raise ConfigError("compare= makes a side-by-side recording: add mode=record")


__all__ = [
    "ANALYSIS_NAMES",
    "COMPARABLE",
    "BenchmarkConfig",
    "CurvesConfig",
    "EvaluateConfig",
    "PatchConfig",
    "PlayConfig",
    "ShipConfig",
    "StudyConfig",
    "validate_benchmark",
    "validate_curves",
    "validate_evaluate",
    "validate_patch",
    "validate_play",
    "validate_ship",
    "validate_study",
]
