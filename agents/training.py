"""A training run from a `TrainConfig` into a run folder, with checkpoints and resume."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.analysis.metrics import summarize
from agents.callbacks import (
    CheckpointCallback,
    CurriculumCallback,
    EvalCallback,
    HeldOut,
    eval_line,
)
from agents.checkpoint import (
    Checkpoint,
    checkpoint_bytes,
    read_checkpoint,
    read_legacy_vecnorm,
)
from agents.config import ConfigError, TrainConfig
from agents.events import truncate_events
from agents.loading import load_weights
from agents.progress import ProgressCallback
from agents.rollout import random_act_fn, rollout
from agents.runs import (
    CHECKPOINTS,
    CONFIG,
    METRICS,
    MODEL,
    TB,
    RunError,
    append_history,
    atomic_write_json,
    checkpoints,
    read_config,
    run_of,
    write_config,
)
from agents.sb3 import MazeVecEnv, build_ppo, resolve_device
from mazegen.files import atomic_write_bytes, remove_stale_temps

log = logging.getLogger(__name__)


def _make_env(cfg: TrainConfig, seed: int) -> Any:
    ppo = cfg.agent.ppo
    env: Any = MazeVecEnv(
        cfg.env,
        cfg.num_envs,
        seed=seed,
        reward_scale=ppo.reward_scale,
        shaping=ppo.distance_shaping,
        gamma=ppo.gamma,
    )
    if cfg.agent.ppo.normalize_reward:
        from stable_baselines3.common.vec_env import VecNormalize

        env = VecNormalize(env, norm_obs=False, norm_reward=True, gamma=cfg.agent.ppo.gamma)
    return env


@dataclass
class ResumePoint:
    """Where a resumed run continues from.

    Attributes:
        run: The run folder.
        config: Its stored config.
        path: The checkpoint file.
        checkpoint: Its contents.
        skipped: Newer checkpoints that could not be read, with why (one line each).
    """

    run: Path
    config: TrainConfig
    path: Path
    checkpoint: Checkpoint
    skipped: list[str] = field(default_factory=list)
    reward_norm: dict[str, float] | None = None


def find_resume_point(target: Path, unsafe_pickle: bool = False) -> ResumePoint:
    """``resume=<run folder>``: its newest readable checkpoint; ``resume=<checkpoint.zip>``:
    that one. Raises `RunError` (one line) when there is none."""
    if not target.exists():
        raise RunError(f"resume target {target} does not exist")
    if target.is_file():
        import zipfile

        if not zipfile.is_zipfile(target):
            raise RunError(
                f"resume={target}: not a run folder nor a checkpoint .zip; give the run folder "
                "(its newest readable checkpoint is used) or one of its checkpoints"
            )
        if not (run_of(target) / CONFIG).is_file():
            raise RunError(f"resume={target}: no {CONFIG} in its run folder {run_of(target)}")
    run = run_of(target) if target.is_file() else target
    cfg = read_config(run)
    if target.is_file():
        point = ResumePoint(run, cfg, target, read_checkpoint(target, True, unsafe_pickle))
        point.reward_norm = _reward_norm(point, unsafe_pickle)
        return point
    found = checkpoints(run)
    if not found:
        raise RunError(f"{run} has no checkpoints to resume from ({CHECKPOINTS}/ is empty)")
    skipped: list[str] = []
    for _, path in reversed(found):
        try:
            ckpt = read_checkpoint(path, with_optimizer=True, unsafe_pickle=unsafe_pickle)
        except RunError as e:
            if "unsafe_pickle" in str(e):
                raise  # an old-format run: every checkpoint needs the same decision
            skipped.append(f"{path.name} ({e})")
            continue
        point = ResumePoint(run, cfg, path, ckpt, skipped)
        point.reward_norm = _reward_norm(point, unsafe_pickle)
        return point
    raise RunError(f"no checkpoint of {run} can be read: {'; '.join(skipped)}")


def _reward_norm(point: ResumePoint, unsafe_pickle: bool) -> dict[str, float] | None:
    stats = point.checkpoint.trainer.get("reward_norm")
    if stats is not None:
        return dict(stats)
    legacy = point.path.with_suffix(".vecnorm.pkl")
    if point.config.agent.ppo.normalize_reward and legacy.is_file():
        return read_legacy_vecnorm(legacy, unsafe_pickle)
    return None


def _set_aside_newer(run: Path, step: int) -> list[str]:
    """Renames checkpoints newer than ``step`` (a resume from an older one would otherwise
    mix two histories) to ``*.zip.superseded``; returns their names."""
    moved = []
    for s, path in checkpoints(run):
        if s > step:
            path.rename(path.with_name(path.name + ".superseded"))
            moved.append(path.name)
    return moved


def prepare_compute(cfg: TrainConfig) -> TrainConfig:
    """Sets up this process for ``cfg`` (threads, allocator), decides its precision by
    measurement and logs what the run computes on. Returns ``cfg`` with ``precision`` resolved
    and ``precision_chosen`` saying why."""
    import dataclasses

    from agents.compute import busy_cores, choose_precision, machine, tune_allocator
    from agents.sb3 import spaces

    torch.set_num_threads(cfg.torch_threads)
    device = resolve_device(cfg.device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is available; use device=cpu or auto")
    tuned = tune_allocator()
    m = machine()
    busy = busy_cores()
    others = "" if busy is None else f"; other processes keep {busy:.1f} of {m.cores} cores busy"
    idle = busy is not None and busy < m.cores - cfg.torch_threads - 0.5
    hint = f" (idle cores: torch_threads={m.cores} would use them)" if idle else ""
    log.info(
        "compute: %s (%s), torch %s, %s, %d torch thread(s)%s%s",
        device if device != "cpu" else "CPU",
        m.kind,
        m.torch,
        "allocator tuned" if tuned else "default allocator",
        cfg.torch_threads,
        others,
        hint,
    )
    obs, _ = spaces(cfg)
    choice = choose_precision(
        cfg.precision,
        cfg.agent.network,
        tuple(int(x) for x in obs.shape),  # type: ignore[arg-type]
        float(obs.high.max()),
        cfg.agent.ppo.batch_size,
        device,
    )
    if choice.warning:
        log.warning(choice.warning)
    log.info("precision: %s (precision=%s)", choice.reason, cfg.precision)
    return dataclasses.replace(cfg, precision=choice.precision, precision_chosen=choice.reason)


def train(
    cfg: TrainConfig, run: Path, resume: ResumePoint | None = None, unsafe_pickle: bool = False
) -> dict[str, Any]:
    """Trains (or resumes, from ``resume``) into ``run``; returns the final metrics (also in
    ``metrics.json``)."""
    import dataclasses

    resolved = prepare_compute(cfg)
    # the run's config keeps the setting (auto re-decides on the next machine) and the choice
    cfg = dataclasses.replace(cfg, precision_chosen=resolved.precision_chosen)
    for stale in remove_stale_temps(run):
        log.info("removed %s, left by a write that was killed", stale)
    tb = str(run / TB)
    if resume is not None:
        env = _make_env(cfg, seed=cfg.seed + 7919)  # fresh levels, not a replay
        model = build_ppo(resolved, env, tb)
        ckpt = resume.checkpoint
        load_weights(model.policy, ckpt, resume.path, run)
        if ckpt.optimizer is not None:
            model.policy.optimizer.load_state_dict(ckpt.optimizer)
        model.num_timesteps = ckpt.num_timesteps
        model._n_updates = ckpt.n_updates
        stats = resume.reward_norm
        if stats is not None and cfg.agent.ppo.normalize_reward:
            env.ret_rms.mean, env.ret_rms.var = np.float64(stats["mean"]), np.float64(stats["var"])
            env.ret_rms.count = stats["count"]
        for note in resume.skipped:
            log.warning("skipped unreadable checkpoint %s", note)
        for name in _set_aside_newer(run, ckpt.num_timesteps):
            log.warning("set aside %s (newer than the resumed checkpoint)", name)
        truncate_events(run / TB, ckpt.num_timesteps)
        write_config(run, cfg)  # honoured overrides (a longer total_steps) are the run's now
        log.info("resuming %s from %s at step %d", run, resume.path.name, model.num_timesteps)
        stage = int(ckpt.trainer.get("curriculum_stage", 0))
        trained_s = float(ckpt.trainer.get("train_seconds", 0.0))
        reset = False
    else:
        if (run / MODEL).exists() or checkpoints(run):
            raise RunError(f"{run} already holds a run; resume it with resume={run}")
        write_config(run, cfg)
        env = _make_env(cfg, seed=cfg.seed)
        model = build_ppo(resolved, env, tb)
        stage = 0
        trained_s = 0.0
        reset = True
    remaining = cfg.total_steps - model.num_timesteps
    evaluator = EvalCallback(cfg, trained_s)
    curriculum = CurriculumCallback(cfg.curriculum, cfg.env, stage=stage)
    ckpt_cb = CheckpointCallback(
        run,
        cfg.checkpoint_every,
        state=lambda: {"curriculum_stage": curriculum.stage, "train_seconds": evaluator.elapsed()},
    )
    progress = ProgressCallback(cfg.total_steps, bar=cfg.progress)
    start = time.perf_counter()
    if remaining > 0:
        model.learn(
            remaining,
            callback=[curriculum, evaluator, ckpt_cb, progress],
            tb_log_name="PPO",
            reset_num_timesteps=reset,
        )
    seconds = time.perf_counter() - start
    ckpt_cb.model = model
    ckpt_cb.save()
    atomic_write_bytes(
        run / MODEL,
        checkpoint_bytes(model.policy, None, model.num_timesteps, model._n_updates),
    )
    metrics, scalars = final_metrics(model, cfg)
    metrics["train_minutes_total"] = round(evaluator.elapsed() / 60, 2)
    if remaining > 0:  # SB3's logger exists once learn() ran in this session
        for pending in ("name_to_value", "name_to_count", "name_to_excluded"):
            # the last update's statistics, which SB3 never writes either: logged now they
            # would repeat the last rollout's step
            getattr(model.logger, pending).clear()
        for key, value in scalars.items():  # the curves end on the final, larger evaluation
            model.logger.record(key, value)
        model.logger.record("time/train_minutes", metrics["train_minutes_total"])
        model.logger.dump(model.num_timesteps)
    log.info(
        "final evaluation (%d mazes per distribution) | %s",
        cfg.eval.final_episodes,
        eval_line(model.num_timesteps, cfg.total_steps, scalars, None),
    )
    metrics["train_seconds_this_session"] = round(seconds, 1)
    metrics["total_steps"] = int(model.num_timesteps)
    atomic_write_json(run / METRICS, metrics)
    return metrics


FINAL_SEED = 0  # experiments.evaluate's default seed: both report the same numbers


def final_metrics(model: Any, cfg: TrainConfig) -> tuple[dict[str, Any], dict[str, float]]:
    """Held-out evaluation of the trained policy and of a random policy, both distributions,
    on the levels and with the action sampling that ``experiments.evaluate`` uses by default.
    Returns the metrics and their TensorBoard scalars."""
    held = HeldOut(cfg, cfg.eval.final_episodes)
    out: dict[str, Any] = {"policy": {}, "random": {}}
    episodes = held.run(model, seed=FINAL_SEED)
    for dist, ep in episodes.items():
        out["policy"][dist] = summarize(ep)
    act = random_act_fn(int(model.action_space.n))
    rng = np.random.default_rng(0)
    for dist, states in held.states.items():
        env_cfg = held.train_cfg if dist == "train" else held.test_cfg
        out["random"][dist] = summarize(rollout(act, states, env_cfg, region=held.region, rng=rng))
    out["region"] = held.region
    out["episodes_per_distribution"] = cfg.eval.final_episodes
    out["seed"] = FINAL_SEED
    return out, held.scalars(episodes)


def start(given: TrainConfig, run: Path, overrides: list[str]) -> tuple[Path, dict[str, Any]]:
    """What ``python -m experiments.train`` does: a new run into ``run``, or (``resume=``) the
    continuation of an old one in its own folder. Returns the run folder and its metrics."""
    import dataclasses

    from agents.config import resume_config

    unsafe = given.unsafe_pickle
    entry = {"overrides": list(overrides), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    if given.resume:
        point = find_resume_point(Path(given.resume).expanduser(), unsafe)
        cfg = dataclasses.replace(
            resume_config(point.config, given, overrides), resume=None, unsafe_pickle=False
        )
        append_history(point.run, {**entry, "from_step": point.checkpoint.num_timesteps})
        return point.run, train(cfg, point.run, resume=point, unsafe_pickle=unsafe)
    cfg = dataclasses.replace(given, unsafe_pickle=False)
    if (run / MODEL).exists() or checkpoints(run):
        raise RunError(f"{run} already holds a run; resume it with resume={run}")
    append_history(run, {**entry, "from_step": 0})
    return run, train(cfg, run)
