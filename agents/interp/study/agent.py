"""One agent as the study measures it: its hooked layer, its held-out mazes, and what it is and
cost (`describe`, for the table's first rows)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.interp.activations import Setting
from agents.interp.interventions import Trial
from agents.interp.retarget import targets_of
from agents.policy.hooked import HookedMazeNet
from agents.policy.loading import LoadedPolicy
from agents.run.folder import read_history
from agents.settings.levels import ANALYSIS_OFFSET, STUDY_MAZE_SET_STRIDE
from mazegen import MazeConfig, generate_levels
from mazegen.files import read_json_object


@dataclass
class Agent:
    """One agent of the study and the mazes it is measured on.

    Attributes:
        label: Its column's name.
        policy: The loaded policy.
        net: Its hookable network.
        hook: The layer read and patched.
        env: The training distribution on held-out levels.
        test_env: The test distribution (cheese anywhere).
        start: The first level of its analysis mazes (its maze set's).
        behaviour_start: The first level of its held-out P(cheese) (its maze set's).
    """

    label: str
    policy: LoadedPolicy
    net: HookedMazeNet
    hook: str
    env: MazeConfig
    test_env: MazeConfig
    start: int
    behaviour_start: int

    @property
    def setting(self) -> Setting:
        """How its episodes are played: a fresh generator each time (each measurement's
        rollouts are drawn alike whatever was measured before it)."""
        return Setting(self.env, self.env.eval_region, np.random.default_rng(0))

    def trial(
        self, offset: int, mazes: int, per_maze: int, rng: np.random.Generator, budget: float
    ) -> Trial:
        """A retargeting trial on ``mazes`` training-distribution mazes from ``start + offset``,
        ``per_maze`` targets drawn in each with ``rng`` (0: every open square), success within
        ``budget`` times the shortest path."""
        first = self.start + offset
        base = generate_levels(range(first, first + mazes), self.env)
        targets = targets_of(base, per_maze, rng)
        return Trial(self.net, self.hook, base.take(targets.maze), targets, self.setting, budget)


def study_agent(label: str, policy: LoadedPolicy, hook: str | None, maze_set: int) -> Agent:
    """The agent as the study measures it: its layer ``hook`` (None: the network's default)
    and the held-out mazes of ``maze_set`` (0: the table's)."""
    env = policy.config.env.held_out()
    shift = maze_set * STUDY_MAZE_SET_STRIDE
    return Agent(
        label,
        policy,
        policy.net,
        policy.net.resolve(hook),
        env,
        env.test_distribution(),
        policy.config.eval.start_level + ANALYSIS_OFFSET + shift,
        policy.config.eval.start_level + shift,
    )


def describe(agent: Agent) -> dict[str, Any]:
    """What the agent is and what it cost: observation, network, width at the hook, steps."""
    cfg = agent.policy.config
    net = cfg.agent.network
    shape = agent.net.shapes[agent.hook]
    minutes, cpu = training_cost(agent.policy.run)
    return {
        "source": agent.policy.label,
        "observation": (
            f"RGB {cfg.env.obs_size}x{cfg.env.obs_size}"
            if cfg.env.obs_mode == "rgb"
            else f"grid {cfg.env.world_size}x{cfg.env.world_size}"
        ),
        "actions": agent.net.shapes["fc_policy"][0],
        "network": _network(net),
        "hook": agent.hook,
        "hook_shape": list(shape),
        "parameters": int(sum(p.numel() for p in agent.policy.model.policy.parameters())),
        "steps": agent.policy.steps,
        "train_minutes": minutes,
        "cpu": cpu,
        "world": cfg.env.world_size,
        "sizes": [cfg.env.min_size, cfg.env.max_size],
        "cheese_region": cfg.env.cheese_region,
    }


def training_cost(run: Path) -> tuple[float | None, str | None]:
    """Training minutes and the CPU they were spent on: from ``metrics.json``; for runs that
    predate its ``machine`` field, from a shipped policy's ``provenance.json`` or the run's
    ``train.log``. A run that moved between CPUs names each, in order."""
    metrics = read_json_object(run / "metrics.json")
    provenance = read_json_object(run / "provenance.json")
    cpu = metrics.get("machine") or provenance.get("machine")
    starts = provenance.get("machines") or [
        h for h in read_history(run) if isinstance(h, dict) and h.get("machine")
    ]
    kinds = list(dict.fromkeys(str(h.get("machine")) for h in starts if isinstance(h, dict)))
    if len(kinds) > 1:
        cpu = " then ".join(kinds)
    log_file = run / "train.log"
    if cpu is None and log_file.is_file():
        marker = "compute: CPU ("
        line = next((x for x in log_file.read_text().splitlines() if marker in x), "")
        cpu = line.partition(marker)[2].partition(")")[0] or None
    minutes = metrics.get("train_minutes_total")
    if minutes is None:  # a shipped policy trained before metrics recorded it
        minutes = provenance.get("train_minutes")
    return minutes, cpu


def _network(net: Any) -> str:
    """The network in a few words: its kind and channel widths."""
    if net.kind == "small":
        return f"small CNN, 4 x {net.channels} channels"
    widths = list(net.widths) or [16 * net.scale, 32 * net.scale, 32 * net.scale]
    return "IMPALA, blocks of " + "-".join(str(w) for w in widths) + " channels"
