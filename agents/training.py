"""A training run from a `TrainConfig` into a run folder, with checkpoints and resume."""

from __future__ import annotations

import logging
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.analysis.metrics import summarize
from agents.callbacks import CheckpointCallback, EvalCallback, HeldOut
from agents.config import ConfigError, TrainConfig
from agents.rollout import random_act_fn, rollout
from agents.runs import (
    METRICS,
    MODEL,
    TB,
    RunError,
    atomic_write_json,
    check_compatible,
    check_model_file,
    checkpoints,
    read_config,
    save_model,
    write_config,
)
from agents.sb3 import MazeVecEnv, build_ppo, resolve_device

log = logging.getLogger(__name__)


def _make_env(cfg: TrainConfig, seed: int) -> Any:
    env: Any = MazeVecEnv(cfg.env, cfg.num_envs, seed=seed, reward_scale=cfg.agent.ppo.reward_scale)
    if cfg.agent.ppo.normalize_reward:
        from stable_baselines3.common.vec_env import VecNormalize

        env = VecNormalize(env, norm_obs=False, norm_reward=True, gamma=cfg.agent.ppo.gamma)
    return env


def prepare_resume(run: Path) -> tuple[TrainConfig, Path]:
    """Checks a run folder can be resumed; returns its config and last checkpoint."""
    if not run.is_dir():
        raise RunError(f"resume folder {run} does not exist")
    cfg = read_config(run)
    ckpts = checkpoints(run)
    if not ckpts:
        raise RunError(f"{run} has no checkpoints to resume from")
    last = ckpts[-1][1]
    check_model_file(last)
    return cfg, last


def train(cfg: TrainConfig, run: Path) -> dict[str, Any]:
    """Trains (or resumes) into ``run``; returns the final metrics (also in ``metrics.json``)."""
    torch.set_num_threads(cfg.torch_threads)
    device = resolve_device(cfg.device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is available; use device=cpu or auto")
    run.mkdir(parents=True, exist_ok=True)
    tb = str(run / TB)
    if cfg.resume:
        from stable_baselines3 import PPO

        stored, last = prepare_resume(Path(cfg.resume))
        cfg = stored  # the run's own config defines the target; resume is not re-applied
        env = _make_env(cfg, seed=cfg.seed + 7919)  # fresh levels, not a replay
        model = PPO.load(last, env=env, device=device, tensorboard_log=tb)
        check_compatible(model, cfg, last)
        vecnorm = last.with_suffix(".vecnorm.pkl")
        if cfg.agent.ppo.normalize_reward and vecnorm.is_file():
            stats = pickle.loads(vecnorm.read_bytes())
            env.ret_rms = stats.ret_rms
        log.info("resuming %s from %s at step %d", run, last.name, model.num_timesteps)
        reset = False
    else:
        if (run / MODEL).exists() or checkpoints(run):
            raise RunError(f"{run} already holds a run; resume it with resume={run}")
        write_config(run, cfg)
        env = _make_env(cfg, seed=cfg.seed)
        model = build_ppo(cfg, env, tb)
        reset = True
    remaining = cfg.total_steps - model.num_timesteps
    evaluator = EvalCallback(cfg)
    ckpt = CheckpointCallback(run, cfg.checkpoint_every)
    start = time.perf_counter()
    if remaining > 0:
        model.learn(
            remaining,
            callback=[evaluator, ckpt],
            tb_log_name="PPO",
            reset_num_timesteps=reset,
            progress_bar=cfg.progress,
        )
    seconds = time.perf_counter() - start
    ckpt.model = model
    ckpt.save()
    save_model(model, run / MODEL)
    metrics = final_metrics(model, cfg)
    metrics["train_seconds_this_session"] = round(seconds, 1)
    metrics["total_steps"] = int(model.num_timesteps)
    atomic_write_json(run / METRICS, metrics)
    return metrics


def final_metrics(model: Any, cfg: TrainConfig) -> dict[str, Any]:
    """Held-out evaluation of the trained policy and of a random policy, both distributions."""
    held = HeldOut(cfg, cfg.eval.final_episodes)
    out: dict[str, Any] = {"policy": {}, "random": {}}
    for dist, ep in held.run(model, seed=12345).items():
        out["policy"][dist] = summarize(ep)
    act = random_act_fn(int(model.action_space.n))
    rng = np.random.default_rng(0)
    for dist, states in held.states.items():
        env_cfg = held.train_cfg if dist == "train" else held.test_cfg
        out["random"][dist] = summarize(rollout(act, states, env_cfg, region=held.region, rng=rng))
    out["region"] = held.region
    out["episodes_per_distribution"] = cfg.eval.final_episodes
    return out
