"""Training throughput: PPO steps/s for a config, and the share of wall time in the environment."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.vec_env import VecEnvWrapper

from agents.config import TrainConfig
from agents.sb3 import MazeVecEnv, build_ppo


class _TimedVecEnv(VecEnvWrapper):
    """Accumulates the wall time spent inside the wrapped env's reset and step."""

    def __init__(self, venv: Any) -> None:
        super().__init__(venv)
        self.seconds = 0.0

    def reset(self) -> Any:
        t = time.perf_counter()
        obs = self.venv.reset()
        self.seconds += time.perf_counter() - t
        return obs

    def step_wait(self) -> Any:
        t = time.perf_counter()
        out = self.venv.step_wait()
        self.seconds += time.perf_counter() - t
        return out


def training_throughput(cfg: TrainConfig, steps: int, threads: int) -> dict[str, float]:
    """Trains ``cfg`` for ``steps`` (after one warm-up rollout) and times it.

    Returns:
        ``steps_per_s`` (whole PPO loop: collection and updates) and ``env_share`` (fraction
        of that wall time spent stepping the environment).
    """
    torch.set_num_threads(threads)
    env = _TimedVecEnv(
        MazeVecEnv(cfg.env, cfg.num_envs, seed=cfg.seed, reward_scale=cfg.agent.ppo.reward_scale)
    )
    model = build_ppo(cfg, env, None)
    rollout = cfg.agent.ppo.n_steps * cfg.num_envs
    model.learn(rollout)  # warm-up: allocations, first optimizer step
    env.seconds = 0.0
    start = time.perf_counter()
    model.learn(max(steps, rollout), reset_num_timesteps=False)
    total = time.perf_counter() - start
    done = max(steps, rollout)
    done = -(-done // rollout) * rollout  # SB3 finishes whole rollouts
    return {"steps_per_s": done / total, "env_share": env.seconds / total}


def time_split(cfg: TrainConfig, threads: int, repeats: int = 5) -> dict[str, float]:
    """Where a PPO step's time goes, from timing the parts alone (seconds per 1,000 env steps).

    ``env``: stepping ``cfg.num_envs`` mazes; ``rollout_forward``: the policy on a batch of
    ``num_envs`` observations (no gradient); ``update``: forward + backward + Adam on minibatches
    of ``batch_size``, ``n_epochs`` times per sample. Their sum against a measured PPO step
    shows SB3's own overhead (buffers, GAE, logging).
    """
    import statistics

    torch.set_num_threads(threads)
    env = MazeVecEnv(cfg.env, cfg.num_envs, seed=cfg.seed)
    model = build_ppo(cfg, env, None)
    policy: Any = model.policy
    obs = env.reset()
    n, b = cfg.num_envs, cfg.agent.ppo.batch_size
    a = env.core.num_actions
    rng = np.random.default_rng(0)

    def median_s(fn: Any) -> float:
        fn()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    def env_step() -> None:
        env.step_async(rng.integers(0, a, n))
        env.step_wait()

    x = torch.as_tensor(obs).float()
    xb = x.repeat((b + n - 1) // n, 1, 1, 1)[:b]
    acts = torch.as_tensor(rng.integers(0, a, b))

    def forward() -> None:
        with torch.no_grad():
            policy(x)

    def update() -> None:
        values, logp, entropy = policy.evaluate_actions(xb, acts)
        loss = values.mean() + logp.mean() + entropy.mean()
        policy.optimizer.zero_grad()
        loss.backward()
        policy.optimizer.step()

    per_k = 1000.0
    return {
        "env": median_s(env_step) * per_k / n,
        "rollout_forward": median_s(forward) * per_k / n,
        "update": median_s(update) * per_k / b * cfg.agent.ppo.n_epochs,
    }


def hook_overhead(
    net: torch.nn.Module, obs: torch.Tensor, hook: str, repeats: int = 30
) -> dict[str, float]:
    """Forward-pass time without hooks, with one cached hook, and with one patch + one cache.

    Returns milliseconds per forward (median over ``repeats``) and the overheads in percent.
    """
    import statistics

    from agents.analysis.hooks import hooks

    def timed(ctx: Any) -> float:
        times = []
        with torch.no_grad():
            for _ in range(repeats):
                start = time.perf_counter()
                with ctx():
                    net(obs)
                times.append(time.perf_counter() - start)
        return statistics.median(times) * 1e3

    import contextlib

    timed(contextlib.nullcontext)  # warm-up
    plain = timed(contextlib.nullcontext)
    cached = timed(lambda: hooks(net, cache=[hook]))
    patched = timed(lambda: hooks(net, cache=[hook], patches={hook: lambda x: x * 1.0}))
    return {
        "plain_ms": plain,
        "cache_ms": cached,
        "patch_ms": patched,
        "cache_overhead_pct": 100 * (cached / plain - 1),
        "patch_overhead_pct": 100 * (patched / plain - 1),
    }


def evaluation_seconds(episodes: int = 1000) -> dict[str, float]:
    """Wall time of the full divergence evaluation of the shipped policy."""
    from agents.analysis.divergence import evaluate_divergence
    from agents.loading import load_pretrained
    from agents.rollout import net_act_fn
    from agents.sb3 import maze_net

    policy = load_pretrained()
    env = policy.config.env.held_out()
    act = net_act_fn(maze_net(policy.model))
    start = time.perf_counter()
    evaluate_divergence(act, env, env.eval_region, episodes, policy.config.eval.start_level)
    return {"episodes_per_distribution": episodes, "seconds": time.perf_counter() - start}
