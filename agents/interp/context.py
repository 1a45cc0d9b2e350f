"""What every analysis of ``python -m experiments.patch`` gets (`Context`) and returns
(`Report`); its settings are `agents.settings.commands.PatchConfig`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.interp.sizes import shrink
from agents.policy.hooked import HookedMazeNet, HookError
from agents.policy.loading import LoadedPolicy, load_policy
from agents.settings.commands import PatchConfig, validate_patch
from agents.settings.levels import ANALYSIS_OFFSET
from mazegen import MazeConfig, generate_levels
from mazegen.state import BatchState


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
        shrunk: ``{setting: (given, run)}`` of the sizes made smaller for a 2023 checkpoint
            (`agents.interp.sizes`).
    """

    cfg: PatchConfig
    policy: LoadedPolicy
    net: HookedMazeNet
    hook: str
    env: MazeConfig
    test_env: MazeConfig
    region: int
    levels: range
    rng: np.random.Generator
    out: Path
    shrunk: dict[str, tuple[int, int]] = field(default_factory=dict)

    def channels(self, found: Any) -> list[int]:
        """``cfg.channels``, or the top ``cfg.num_channels`` of a `FoundChannels`."""
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
    """Validates the settings, loads the policy and fixes the mazes, the hook and the report
    folder."""
    import torch

    validate_patch(cfg)
    torch.set_num_threads(cfg.torch_threads)
    policy = load_policy(cfg.run, unsafe_pickle=cfg.unsafe_pickle, pth=cfg.pth)
    cfg, shrunk = shrink(cfg, policy)
    net = policy.net
    hook = net.resolve(cfg.hook)
    env = policy.config.env.held_out()
    start = (
        cfg.start_level
        if cfg.start_level is not None
        else policy.config.eval.start_level + ANALYSIS_OFFSET
    )
    out = Path(cfg.out) if cfg.out else policy.report_dir("patch", cfg.analysis)
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
        shrunk=shrunk,
    )
