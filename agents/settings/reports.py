"""The settings of the commands that report on several runs or on the machine: ``benchmark``,
``study``, ``ship`` and ``curves`` (the table of commands is in `agents.settings.commands`, which
re-exports these)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from agents.settings.base import CONF, ConfigError, at_least
from agents.settings.levels import STUDY_MAZE_SET_STRIDE, STUDY_MAZE_SETS


@dataclass
class BenchmarkConfig:
    """Settings of ``python -m experiments.benchmark``.

    Attributes:
        seconds: Length of each timed window (environment figures).
        repeats: Timed windows or calls per figure (the median is printed).
        threads: Torch thread counts for the peak and training figures.
        environment: Measure the environment (and procgen's maze beside it).
        train: Measure the CPU's peak and PPO training throughput.
        eval: Measure the evaluation time and the hook overhead.
        presets: Presets whose training throughput, share of peak and time split are measured.
        rollouts: Timed rollouts per training figure (each two minibatches long).
        overrides: Training settings applied to every preset, e.g. ``"overrides=['num_envs=16']"``.
        matmul_size: Side of the square matmul that measures the peak.
        procgen_python: Python of a venv with procgen-mirror (``make peer-venv``), the peer.
        json: Also write the figures to this JSON file.
    """

    seconds: float = 1.0
    repeats: int = 3
    threads: list[int] = field(default_factory=lambda: [1, 2])
    environment: bool = True
    train: bool = True
    eval: bool = True
    presets: list[str] = field(default_factory=lambda: ["quick", "easy", "hard"])
    rollouts: int = 2
    overrides: list[str] = field(default_factory=list)
    matmul_size: int = 1024
    procgen_python: str = ".venv-procgen/bin/python"
    json: str | None = None


def validate_benchmark(cfg: BenchmarkConfig) -> None:
    if cfg.seconds <= 0:
        raise ConfigError(f"seconds must be > 0, got {cfg.seconds!r}; set seconds=1 or so")
    at_least(1, *((n, getattr(cfg, n)) for n in ("repeats", "rollouts", "matmul_size")))
    if not cfg.threads or any(t < 1 for t in cfg.threads):
        raise ConfigError(f"threads must list thread counts >= 1, got {list(cfg.threads)}")
    unknown = [p for p in cfg.presets if not (CONF / "experiment" / f"{p}.yaml").is_file()]
    if unknown:
        raise ConfigError(f"unknown preset(s) {unknown}: see conf/experiment/")


@dataclass
class StudyConfig:
    """Settings of ``python -m experiments.study``: the same mechanistic measurements on a list
    of agents, into one table.

    Attributes:
        runs: Run folders, checkpoints or shipped names, one per agent.
        labels: A name per agent of ``runs`` for the table (default: the run folders' names).
        sweep: A multirun folder (``python -m experiments.train -m ...``): every trained run in
            it is measured after ``runs``, labelled by its experiment's name.
        out: Report folder (``study.json``, ``study.md``, ``study.png``).
        hook: Layer to read and patch (None: each network's default, the 2023 layer on IMPALA).
        behaviour_mazes: Held-out mazes per distribution for P(cheese).
        mazes: Test mazes for finding the cheese channels.
        tracking_threshold: A channel "passes" when its activation change peaks at the cheese
            in at least this share of mazes.
        resample_mazes: Mazes of the resampling test (2023: 0.88 % / 1.26 % vs 0.54-0.60 %).
        resample_channels: How many top channels are resampled.
        retarget_mazes: Training-distribution mazes whose squares are retargeting targets.
        targets_per_maze: Targets drawn per maze (0: every open square).
        search_mazes: Other mazes on which each channel set's value is searched.
        channel_counts: Sizes of the top-channel sets set at the target (2023: 1, 7, 11).
        multiples: Values tried, as multiples of the largest activation the set reaches.
        budget_factor: Success is reaching the target within this many times its shortest path.
        seed: Seed of sampled actions and drawn targets.
        maze_set: Which set of held-out mazes every measurement is taken on: 0 is the
            table's; 1-9 are others, disjoint from it and from each other (to confirm a figure on
            fresh mazes, e.g. that of a checkpoint chosen by its figure).
        maze_sets: Measure on each of these sets instead (into ``<out>/set<k>``) and pool them
            (``<out>/pooled.json``, ``pooled.md``): each intervention's success over all their
            targets, with the standard error of its ratio to no intervention across the sets.
        torch_threads: Torch CPU threads.
    """

    runs: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    sweep: str | None = None
    out: str = "outputs/study/report"
    hook: str | None = None
    behaviour_mazes: int = 500
    mazes: int = 200
    tracking_threshold: float = 0.5
    resample_mazes: int = 100
    resample_channels: int = 3
    retarget_mazes: int = 40
    targets_per_maze: int = 20
    search_mazes: int = 10
    channel_counts: list[int] = field(default_factory=lambda: [1, 3, 11])
    multiples: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0, 2.0, 4.0, 8.0])
    budget_factor: float = 2.0
    seed: int = 0
    maze_set: int = 0
    maze_sets: list[int] = field(default_factory=list)
    torch_threads: int = 1


def _runs_and_labels(runs: list[str], labels: list[str], example: str) -> None:
    if not runs:
        raise ConfigError(f"give the runs to compare: {example}")
    if labels and len(labels) != len(runs):
        raise ConfigError(f"got {len(labels)} labels for {len(runs)} runs")


def validate_study(cfg: StudyConfig) -> None:
    if cfg.sweep is None:
        _runs_and_labels(
            cfg.runs, cfg.labels, "runs=[easy,outputs/study/rgb,...] and/or sweep=<multirun folder>"
        )
    elif cfg.labels and len(cfg.labels) != len(cfg.runs):
        raise ConfigError(
            f"got {len(cfg.labels)} labels for {len(cfg.runs)} runs (labels name the runs= "
            "agents; a sweep's runs are labelled by their experiment's name)"
        )
    for name in (
        "behaviour_mazes",
        "mazes",
        "resample_mazes",
        "resample_channels",
        "retarget_mazes",
        "search_mazes",
        "torch_threads",
    ):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    at_least(0, ("targets_per_maze", cfg.targets_per_maze), ("seed", cfg.seed))
    if not cfg.channel_counts or min(cfg.channel_counts) < 1:
        raise ConfigError(f"channel_counts must list sizes >= 1, got {list(cfg.channel_counts)}")
    if not cfg.multiples or not all(math.isfinite(m) and m > 0 for m in cfg.multiples):
        raise ConfigError(f"multiples must be positive numbers, got {list(cfg.multiples)}")
    if not 0 < cfg.tracking_threshold <= 1:
        raise ConfigError(f"tracking_threshold must be in (0, 1], got {cfg.tracking_threshold}")
    at_least(1, ("budget_factor", cfg.budget_factor))
    if not 0 <= cfg.maze_set < STUDY_MAZE_SETS:
        raise ConfigError(f"maze_set must be 0-{STUDY_MAZE_SETS - 1}, got {cfg.maze_set}")
    if cfg.maze_sets and cfg.maze_set:
        raise ConfigError("give maze_set=<k> (one set) or maze_sets=[...] (pooled), not both")
    if len(set(cfg.maze_sets)) != len(cfg.maze_sets) or not all(
        0 <= k < STUDY_MAZE_SETS for k in cfg.maze_sets
    ):
        raise ConfigError(
            f"maze_sets must list different sets among 0-{STUDY_MAZE_SETS - 1}, "
            f"got {list(cfg.maze_sets)}"
        )
    widest = max(
        cfg.behaviour_mazes, cfg.mazes, 6 * cfg.resample_mazes, cfg.retarget_mazes, cfg.search_mazes
    )
    if (cfg.maze_set or any(cfg.maze_sets)) and widest > STUDY_MAZE_SET_STRIDE:
        raise ConfigError(
            f"on a maze set other than 0 each maze count must fit in {STUDY_MAZE_SET_STRIDE} "
            f"levels (resample_mazes: 6 x), got {widest}"
        )


@dataclass
class ShipConfig:
    """Settings of ``python -m experiments.ship``.

    Attributes:
        run: The finished run folder.
        name: The shipped policy's name.
    """

    run: str = ""
    name: str = ""


def validate_ship(cfg: ShipConfig) -> None:
    for key, what in (("run", "finished run folder"), ("name", "policy name")):
        if not getattr(cfg, key):
            raise ConfigError(f"{key} is missing: give {key}=<{what}>")


@dataclass
class CurvesConfig:
    """Settings of ``experiments.curves``.

    Attributes:
        runs: Run folders.
        labels: A legend label per run (default: the folder names).
        out: The PNG to write.
    """

    runs: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    out: str = "outputs/curves.png"


def validate_curves(cfg: CurvesConfig) -> None:
    _runs_and_labels(cfg.runs, cfg.labels, "runs=[outputs/easy/<run>]")
