"""Training throughput: PPO steps/s for a config, and the share of wall time in the environment."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.vec_env import VecEnvWrapper

from agents.config import ConfigError, TrainConfig
from agents.sb3 import MazeVecEnv, build_ppo

CONF = Path(__file__).resolve().parent.parent / "conf"


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


@dataclass
class BenchmarkConfig:
    """Settings of ``python -m experiments.benchmark``.

    Attributes:
        seconds: Length of each timed window.
        repeats: Timed windows per figure (the median is printed).
        threads: Torch thread counts for the training figures.
        train: Measure PPO training throughput.
        eval: Measure the evaluation time and the hook overhead.
        presets: Seed-scale presets whose training throughput and time split are measured.
        procgen_python: Python of a venv with procgen-mirror (``make peer-venv``), the peer.
        json: Also write the figures to this JSON file.
    """

    seconds: float = 1.0
    repeats: int = 3
    threads: list[int] = field(default_factory=lambda: [1, 2])
    train: bool = True
    eval: bool = True
    presets: list[str] = field(default_factory=lambda: ["easy", "hard"])
    procgen_python: str = ".venv-procgen/bin/python"
    json: str | None = None


def check(cfg: BenchmarkConfig) -> None:
    if cfg.seconds <= 0 or cfg.repeats < 1 or any(t < 1 for t in cfg.threads):
        raise ConfigError("seconds must be > 0, repeats >= 1 and every thread count >= 1")
    unknown = [p for p in cfg.presets if not (CONF / "experiment" / f"{p}.yaml").is_file()]
    if unknown:
        raise ConfigError(f"unknown preset(s) {unknown}: see conf/experiment/")


def preset(name: str) -> TrainConfig:
    """The validated `TrainConfig` of a preset in ``conf/experiment/``."""
    from hydra import compose, initialize_config_dir

    from agents.config import register_configs, to_train_config

    register_configs()
    with initialize_config_dir(str(CONF), version_base=None):
        return to_train_config(compose("config", overrides=[f"experiment={name}"]))


def run_benchmark(cfg: BenchmarkConfig) -> dict[str, float | None]:
    """Measures and prints every figure; returns them by name."""
    import json

    from mazegen import MazeConfig
    from mazegen.benchmark import env_steps_per_second, mazes_per_second, procgen_steps_per_second

    check(cfg)
    results: dict[str, float | None] = {}

    def show(name: str, value: float | None, unit: str) -> None:
        results[name] = value
        text = "n/a" if value is None else f"{value:>12,.0f} {unit}"
        print(f"{name:<48} {text}", flush=True)

    hard = MazeConfig()  # procgen hard: 25x25 world, sizes 3..25
    print("== environment (random actions, procgen hard mazes, median of windows) ==")
    for mode in ("rgb", "grid"):
        for n in (1, 64, 256):
            show(
                f"mazegen {mode:4s} {n:>3} envs",
                env_steps_per_second(n, hard.replace(obs_mode=mode), cfg.seconds, cfg.repeats),
                "steps/s",
            )
    show(
        "mazegen generation, 25x25 mazes",
        mazes_per_second(hard.replace(min_size=25), seconds=cfg.seconds, repeats=cfg.repeats),
        "mazes/s",
    )
    show(
        "mazegen generation, sizes 3..25",
        mazes_per_second(hard, seconds=cfg.seconds, repeats=cfg.repeats),
        "mazes/s",
    )
    peer = procgen_steps_per_second(Path(cfg.procgen_python), 64, "hard", cfg.seconds, cfg.repeats)
    show("procgen maze hard 64 envs (peer, same run)", peer, "steps/s")
    if peer:
        ratio = results["mazegen rgb   64 envs"] / peer  # type: ignore[operator]
        print(f"{'ratio mazegen rgb / procgen at 64 envs':<48} {ratio:>12.1f} x")
        results["ratio_rgb64_vs_procgen"] = ratio
    if cfg.train:
        from agents.config import AgentConfig, PPOConfig, TrainConfig
        from agents.networks import NetworkConfig

        quick = preset("quick")
        impala = TrainConfig(
            env=hard,
            num_envs=16,
            agent=AgentConfig(
                network=NetworkConfig(kind="impala", scale=4),
                ppo=PPOConfig(n_steps=32, batch_size=256),
            ),
        )
        print("== PPO training (stable-baselines3, CPU) ==")
        for threads in cfg.threads:
            r = training_throughput(quick, 40_000, threads)
            show(f"quick preset, {threads} torch thread(s)", r["steps_per_s"], "steps/s")
            print(f"{'  share of wall time in the env':<48} {100 * r['env_share']:>12.1f} %")
            results[f"quick_env_share_t{threads}"] = r["env_share"]
        for threads in cfg.threads:
            r = training_throughput(impala, 1024, threads)
            show(
                f"langosco IMPALA s=4, 64x64 RGB, {threads} thread(s)", r["steps_per_s"], "steps/s"
            )
            print(f"{'  share of wall time in the env':<48} {100 * r['env_share']:>12.2f} %")
            results[f"impala_env_share_t{threads}"] = r["env_share"]
    if cfg.train and cfg.presets:
        import dataclasses

        print("== seed-scale presets (IMPALA on grid observations, PPO, CPU) ==")
        for name in cfg.presets:
            base = preset(name)
            steps = 8 * base.agent.ppo.n_steps * base.num_envs
            for threads in cfg.threads:
                for precision in ("fp32", "bf16"):
                    variant = dataclasses.replace(base, precision=precision)
                    r = training_throughput(variant, steps, threads)
                    show(
                        f"{name} preset, {precision}, {threads} thread(s)",
                        r["steps_per_s"],
                        "steps/s",
                    )
                    results[f"{name}_{precision}_env_share_t{threads}"] = r["env_share"]
                split = time_split(base, threads)
                total = 1000.0 / results[f"{name} preset, bf16, {threads} thread(s)"]  # type: ignore[operator]
                parts = ", ".join(f"{k} {v:.3f}" for k, v in split.items())
                other = total - sum(split.values())
                print(
                    f"  s per 1,000 steps (bf16, {threads} thread(s)): {parts}, "
                    f"SB3 and the rest {other:.3f} (of {total:.3f})"
                )
                results.update({f"{name}_split_t{threads}_{k}": v for k, v in split.items()})
    if cfg.eval:
        import torch

        from agents.networks import MazeNet, NetworkConfig, make_embedder

        torch.set_num_threads(cfg.threads[0])
        print("== analysis ==")
        ev = evaluation_seconds(1000)
        print(
            f"{'evaluate shipped policy, 1,000 mazes/distribution':<48} {ev['seconds']:>12.1f} s",
            flush=True,
        )
        results["evaluate_seconds_1000"] = ev["seconds"]
        emb = make_embedder(NetworkConfig(kind="impala", scale=4), (3, 64, 64), 255.0)
        net = MazeNet(emb, torch.nn.Linear(256, 15), torch.nn.Linear(256, 1)).eval()
        obs = torch.randint(0, 255, (64, 3, 64, 64)).float()
        h = hook_overhead(net, obs, "embedder.block2.res1.resadd_out", repeats=10)
        print(f"{'IMPALA s=4 forward, batch 64':<48} {h['plain_ms']:>12.1f} ms")
        print(
            f"{'  + cache one hook / + patch and cache':<48} "
            f"{h['cache_overhead_pct']:>+11.1f} % / {h['patch_overhead_pct']:+.1f} %"
        )
        results.update({f"hook_{k}": v for k, v in h.items()})
    if cfg.json:
        Path(cfg.json).write_text(json.dumps(results, indent=2) + "\n")
    return results
