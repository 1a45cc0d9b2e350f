"""What every analysis of ``python -m experiments.patch`` gets (`Context`) and returns
(`Report`), and its settings (`PatchConfig`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.analysis.activations import default_hook
from agents.analysis.hooks import check_names
from agents.config import ConfigError
from agents.loading import LoadedPolicy, load_policy
from agents.networks import MazeNet
from agents.sb3 import maze_net
from mazegen import MazeConfig, generate_levels
from mazegen.levels import ANALYSIS_OFFSET
from mazegen.state import BatchState


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
        value: Value the channels are set to at the target (None: 2x their largest activation).
        amplify: Coefficient of the "virtual cheese" vector intervention.
        coeff: Coefficient of the steering vector (cheese vector: subtracted with -1).
        budget_factor: Retargeting succeeds when the target is reached within this many times
            its shortest-path distance.
        any_time: Also play every retargeting episode to the env's max_steps and report
            success within it (slower).
        targets_per_maze: Retarget to at most this many squares per maze (0: every open
            square), drawn at random.
        goal_field: Also fit and measure learned goal fields in ``retarget`` (see
            `agents.analysis.goal_field`): one alone, one with the real cheese on the target.
        field_hook: Layer of the goal field (None: the network's first spatial layer).
        field_size: Side of the goal field in activation-map cells (odd).
        field_steps: Gradient steps of each fit.
        field_mazes: Training-distribution mazes the fields are fitted on (levels disjoint from
            the evaluated ones).
        field_scale: Multiplies the fitted field when it is applied.
        seed: Seed of sampled actions.
        maze_index: Which maze the vector-field analysis draws.
        torch_threads: Torch CPU threads.
        unsafe_pickle: Also load old checkpoints that only unpickling can read (runs code from
            the file: only for files you trust).
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
    amplify: float = 3.0
    coeff: float = -1.0
    budget_factor: float = 2.0
    any_time: bool = False
    targets_per_maze: int = 0
    goal_field: bool = True
    field_hook: str | None = None
    field_size: int = 13
    field_steps: int = 600
    field_mazes: int = 200
    field_scale: float = 1.0
    seed: int = 0
    maze_index: int = 0
    torch_threads: int = 1
    unsafe_pickle: bool = False


def validate(cfg: PatchConfig) -> None:
    if cfg.mazes < 1 or cfg.num_channels < 1 or cfg.torch_threads < 1:
        raise ConfigError("mazes, num_channels and torch_threads must be >= 1")
    if cfg.budget_factor < 1:
        raise ConfigError(f"budget_factor must be >= 1, got {cfg.budget_factor}")
    if cfg.field_size < 1 or cfg.field_size % 2 == 0:
        raise ConfigError(f"field_size must be an odd number >= 1, got {cfg.field_size}")
    if cfg.targets_per_maze < 0:
        raise ConfigError(f"targets_per_maze must be >= 0, got {cfg.targets_per_maze}")
    if cfg.field_steps < 1 or cfg.field_mazes < 1:
        raise ConfigError("field_steps and field_mazes must be >= 1")
    if cfg.start_level is not None and cfg.start_level < 0:
        raise ConfigError(f"start_level must be >= 0, got {cfg.start_level}")
    if cfg.seed < 0:
        raise ConfigError(f"seed must be >= 0, got {cfg.seed}")
    for name in ("value", "amplify", "coeff", "budget_factor", "field_scale"):
        x = getattr(cfg, name)
        if x is not None and not math.isfinite(x):
            raise ConfigError(f"{name} must be a finite number, got {x}")
    if not 0 <= cfg.maze_index < cfg.mazes:
        raise ConfigError(f"maze_index must be in [0, mazes={cfg.mazes}), got {cfg.maze_index}")


@dataclass
class Context:
    """Built once per command and handed to the analysis.

    Attributes:
        cfg: The command's settings.
        policy: The loaded policy (config, source, run folder).
        net: Its hookable network (modules shared with the policy).
        hook: The layer analysed (``cfg.hook`` or the network's default).
        env: The training distribution on held-out levels.
        test_env: The test distribution (cheese outside the training region).
        region: n of the top-right n x n region.
        levels: The held-out levels analysed (``cfg.mazes`` of them).
        rng: Source of sampled actions and random choices.
        out: The report folder.
    """

    cfg: PatchConfig
    policy: LoadedPolicy
    net: MazeNet
    hook: str
    env: MazeConfig
    test_env: MazeConfig
    region: int
    levels: range
    rng: np.random.Generator
    out: Path

    def channels(self, found: Any) -> list[int]:
        """``cfg.channels``, or the top ``cfg.num_channels`` of a `FoundChannels`."""
        from agents.analysis.hooks import HookError

        chosen = (
            list(self.cfg.channels) or [r["channel"] for r in found.top][: self.cfg.num_channels]
        )
        bad = [c for c in chosen if not 0 <= c < found.channels_in_layer]
        if bad:
            raise HookError(
                f"channel(s) {bad} out of range: {self.hook} has {found.channels_in_layer} channels"
            )
        return chosen

    def mazes(self, test: bool = True) -> BatchState:
        """The analysed mazes, from the test (default) or the training distribution."""
        return generate_levels(self.levels, self.test_env if test else self.env)


@dataclass
class Report:
    """An analysis' result: JSON-able ``data`` (no private keys, arrays as lists), Markdown
    ``lines`` for ``summary.md`` and the console, and the PNG files it wrote into ``out``."""

    data: dict[str, Any]
    lines: list[str]
    figures: list[str] = field(default_factory=list)


def build_context(cfg: PatchConfig) -> Context:
    """Loads the policy and fixes the mazes, the hook and the report folder."""
    import torch

    torch.set_num_threads(cfg.torch_threads)
    policy = load_policy(cfg.run, unsafe_pickle=cfg.unsafe_pickle)
    net = maze_net(policy.model)
    hook = cfg.hook or default_hook(net)
    check_names(net, [hook])
    env = policy.config.env.held_out()
    start = (
        cfg.start_level
        if cfg.start_level is not None
        else policy.config.eval.start_level + ANALYSIS_OFFSET
    )
    if cfg.out:
        out = Path(cfg.out)
    elif policy.shipped:
        out = Path("outputs/patch") / policy.run.name / cfg.analysis
    else:
        out = policy.run / "patch" / cfg.analysis
    return Context(
        cfg=cfg,
        policy=policy,
        net=net,
        hook=hook,
        env=env,
        test_env=env.test_distribution(),
        region=env.eval_region,
        levels=range(start, start + cfg.mazes),
        rng=np.random.default_rng(cfg.seed),
        out=out,
    )
