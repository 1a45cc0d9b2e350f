"""PPO training throughput of a preset, and where a step's time goes.

A figure trains the preset's own network, environment, minibatch size and PPO settings, with
each rollout shortened to two minibatches (``n_steps = 2 * batch_size / num_envs``): the cost
per environment step is the same as the preset's (it is per sample), and a precision that is
emulated on this CPU (bf16 at ~0.1x) still finishes in minutes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import resource
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch

from agents.settings.train import TrainConfig
from agents.train.compute import tune_allocator
from agents.train.ppo import build_ppo
from agents.train.vecenv import MazeVecEnv

#: The parts of a PPO step that `throughput` times, in the order it prints them.
PARTS = ("backward", "update_forward", "rollout_forward", "optimizer", "env")


def short_rollout(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with each rollout two minibatches long (at least one step per env)."""
    ppo = cfg.agent.ppo
    n_steps = max(1, 2 * ppo.batch_size // cfg.num_envs)
    batch = min(ppo.batch_size, n_steps * cfg.num_envs)
    ppo = dataclasses.replace(ppo, n_steps=n_steps, batch_size=batch)
    return dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, ppo=ppo))


@contextlib.contextmanager
def _timed(obj: Any, name: str, into: dict[str, float], key: str) -> Iterator[None]:
    """Adds the wall time of every call of ``obj.<name>`` to ``into[key]`` while active."""
    original = getattr(obj, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            into[key] += time.perf_counter() - start

    setattr(obj, name, wrapper)
    try:
        yield
    finally:
        if name in vars(obj):
            delattr(obj, name)  # the class's own method again
        else:
            setattr(obj, name, original)


def throughput(cfg: TrainConfig, precision: str, threads: int, rollouts: int) -> dict[str, float]:
    """Trains ``short_rollout(cfg)`` in ``precision`` on ``threads`` torch threads for one
    warm-up rollout, then times ``rollouts`` more.

    Returns:
        ``steps_per_s``; seconds per 1,000 env steps in each of `PARTS` and in ``other``
        (SB3's own work: buffers, advantages, logging, the loss arithmetic); ``sys_share``
        (kernel time over wall time) and ``faults_per_k`` (minor page faults per 1,000 steps).
    """
    torch.set_num_threads(threads)
    tune_allocator()
    run = dataclasses.replace(short_rollout(cfg), precision=precision)
    ppo = run.agent.ppo
    env = MazeVecEnv(run.env, run.num_envs, seed=run.seed, reward_scale=ppo.reward_scale)
    model = build_ppo(run, env, None)
    rollout = ppo.n_steps * run.num_envs
    model.learn(rollout)  # warm-up: allocations, kernel selection, the first optimizer step
    spent = dict.fromkeys(PARTS, 0.0)
    policy: Any = model.policy
    backward: Callable[..., Any] = torch.Tensor.backward

    def timed_backward(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return backward(self, *args, **kwargs)
        finally:
            spent["backward"] += time.perf_counter() - start

    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_timed(env, "step_wait", spent, "env"))
        stack.enter_context(_timed(policy, "forward", spent, "rollout_forward"))
        stack.enter_context(_timed(policy, "evaluate_actions", spent, "update_forward"))
        stack.enter_context(_timed(policy.optimizer, "step", spent, "optimizer"))
        torch.Tensor.backward = timed_backward  # type: ignore[method-assign]
        stack.callback(setattr, torch.Tensor, "backward", backward)
        model.learn(rollouts * rollout, reset_num_timesteps=False)
    wall = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    steps = rollouts * rollout
    per_k = 1000.0 / steps
    out = {"steps_per_s": steps / wall}
    out.update({k: v * per_k for k, v in spent.items()})
    out["other"] = wall * per_k - sum(spent.values()) * per_k
    out["sys_share"] = (usage1.ru_stime - usage0.ru_stime) / wall
    out["faults_per_k"] = (usage1.ru_minflt - usage0.ru_minflt) * per_k
    return out
