"""How a follow map (`agents.interp.features.follow_map`) is fit: along the mouse's paths.

The steps of episodes played on fit mazes with the features' own change written at every step
(`EveryStepAct` x1, the row the map imitates: where the mouse goes when those features are
written as the map should write them), each labelled with the change that row wrote there
(`along_paths`, `changes_at`); the map trained on the steps of most fit mazes and measured on
the rest's (`fit_follow_map`, `train_follow_map`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from agents.interp.features.dictionary import Sae
from agents.interp.features.every_step import EveryStepAct, step_change
from agents.interp.features.follow_map import (
    FollowMap,
    FollowMapNet,
    episode_planes,
    follow_inputs,
)
from agents.interp.interventions import Arm, Intervention, Trial, successes
from agents.policy.hooked import HookedMazeNet
from agents.policy.rollout import ActFn


@dataclass
class Recorder:
    """An ``act_fn`` that keeps every observation it is asked about (and its episode) and
    answers as ``inner`` does."""

    inner: ActFn
    obs: list[np.ndarray] = field(default_factory=list)
    episode: list[np.ndarray] = field(default_factory=list)
    #: a function of the observation and the maze index, as ``inner`` must be
    pure: ClassVar[bool] = True

    def __call__(self, obs: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        index = np.arange(len(obs)) if idx is None else np.array(idx)
        self.obs.append(np.array(obs, copy=True))
        self.episode.append(index)
        return self.inner(obs, index)


def along_paths(sae: Sae, trial: Trial, features: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Every step (observation ``[N, 3, W, W]``, episode ``[N]``) the episodes of ``trial``
    visit with ``features``' own change written at every step (`EveryStepAct` x1): where the
    mouse goes when those features are written as the follow map should write them."""
    if trial.setting.config.obs_mode != "grid":
        raise ValueError("the follow map reads grid observations only")
    kept: list[Recorder] = []

    def build(t: Trial) -> Arm:
        squares = torch.as_tensor(t.targets.squares)
        kept.append(Recorder(EveryStepAct(t.net, t.hook, sae, features, 1.0, squares)))
        return t.states, kept[-1]

    successes([Intervention("along the paths", build)], trial)
    return np.concatenate(kept[0].obs), np.concatenate(kept[0].episode)


def changes_at(
    net: HookedMazeNet,
    hook: str,
    sae: Sae,
    obs: np.ndarray,
    squares: np.ndarray,
    features: list[int],
    batch: int = 512,
) -> tuple[torch.Tensor, torch.Tensor]:
    """At each observation ``[N, 3, W, W]``: ``features``' change between it with the cheese on
    ``squares`` ``[N, 2]`` and as it is ``[N, k, h, w]`` (what `EveryStepAct` writes there,
    `step_change`), and the layer as it is ``[N, C, h, w]``."""
    parts = [
        step_change(net, hook, sae, torch.as_tensor(obs[i : i + batch], device=net.device),
                    torch.as_tensor(squares[i : i + batch]), features)
        for i in range(0, len(obs), batch)
    ]  # fmt: skip
    return torch.cat([c for c, _ in parts]), torch.cat([a for _, a in parts])


def fit_follow_map(
    sae: Sae,
    trial: Trial,
    features: list[int],
    steps: int,
    seed: int,
    width: int = 32,
    reads_layer: bool = True,
    held_out: float = 0.2,
) -> tuple[FollowMap, dict[str, Any]]:
    """The follow map of ``features`` (`train_follow_map`) on the steps `along_paths` of
    ``trial``'s episodes, those in its first ``1 - held_out`` mazes to train on, the rest's to
    measure it. Also returns what it was fit on."""
    mazes = int(trial.targets.maze.max()) + 1
    if mazes < 2:
        raise ValueError(f"a follow map needs at least 2 fit mazes, got {mazes}")
    obs, episode = along_paths(sae, trial, features)
    squares = trial.targets.squares[episode]
    y, layer = changes_at(trial.net, trial.hook, sae, obs, squares, features)  # [N, k, h, w]
    planes = episode_planes(trial.states, trial.targets.squares)[torch.as_tensor(episode)]
    x = follow_inputs(torch.as_tensor(obs), planes)
    cut = min(max(1, int(round(mazes * (1 - held_out)))), mazes - 1)
    held = trial.targets.maze[episode] >= cut
    fmap = train_follow_map(sae, x, layer, y, held, features, steps, seed, width, reads_layer)
    fitted = {"mazes": mazes, "episodes": int(len(trial.targets.maze)), "steps_seen": len(obs),
              "held_out_steps": int(held.sum())}  # fmt: skip
    return fmap, fitted


def train_follow_map(
    sae: Sae,
    x: torch.Tensor,
    layer: torch.Tensor,
    y: torch.Tensor,
    held: np.ndarray,
    features: list[int],
    steps: int,
    seed: int,
    width: int = 32,
    reads_layer: bool = True,
) -> FollowMap:
    """A follow map trained (Adam, cosine schedule, batches of 128) for ``steps`` to predict
    ``y`` ``[N, k, h, w]`` from the inputs ``x`` ``[N, 6, W, W]`` (`follow_inputs`) and the
    layer ``[N, C, h, w]`` on the rows not ``held`` ``[N]``; its ``fve`` measured on those
    held."""
    fit_rows = torch.as_tensor(np.flatnonzero(~held))
    out_rows = torch.as_tensor(np.flatnonzero(held))
    if not len(fit_rows) or not len(out_rows):
        raise ValueError("a follow map needs steps to fit on and steps held out")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    world, shape = x.shape[-1], (y.shape[2], y.shape[3])
    model = FollowMapNet(width, len(features), world, shape, sae.width if reads_layer else 0)
    fmap = FollowMap(list(features), model)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        j = fit_rows[torch.randint(len(fit_rows), (128,), generator=gen)]
        loss = (fmap.change(sae, x[j], layer[j]) - y[j]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    model.eval()
    with torch.no_grad():
        pred = torch.cat([fmap.change(sae, x[j], layer[j]) for j in out_rows.split(512)])
    rest = y[out_rows]
    spread = max(float((rest - rest.mean((0, 2, 3), True)).pow(2).sum()), 1e-12)
    fve = 1.0 - float((pred - rest).pow(2).sum()) / spread
    return FollowMap(list(features), model, fve)
