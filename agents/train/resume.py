"""Resuming a run: which checkpoint it continues from, checked before anything runs, read once.

``resume=<run folder>`` continues from the newest checkpoint that can be read (corrupt newer ones
are skipped with one line each); ``resume=<checkpoint.zip>`` from exactly that one, and the
checkpoints after it are set aside, so the run's history never mixes two branches.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.run.checkpoint import Checkpoint, read_checkpoint, read_legacy_vecnorm
from agents.run.folder import CHECKPOINTS, RunError, checkpoint_run, checkpoints, read_config
from agents.settings.train import TrainConfig

log = logging.getLogger("agents.train.training")


@dataclass
class ResumePoint:
    """Where a resumed run continues from.

    Attributes:
        run: The run folder.
        config: Its stored config.
        path: The checkpoint file.
        checkpoint: Its contents.
        skipped: Newer checkpoints that could not be read, with why (one line each).
        reward_norm: The reward-normalization statistics to continue with (mean, var, count),
            where the run normalizes rewards.
    """

    run: Path
    config: TrainConfig
    path: Path
    checkpoint: Checkpoint
    skipped: list[str] = field(default_factory=list)
    reward_norm: dict[str, float] | None = None


def resume_target(target: Path) -> tuple[Path, TrainConfig]:
    """The run folder and stored config that ``resume=<target>`` names, checked without reading
    any weights (what the command line is checked against before anything runs). Raises
    `RunError` (one line) for a missing target, a file that is not a checkpoint of a run, or a
    run folder without checkpoints."""
    if not target.exists():
        raise RunError(f"resume target {target} does not exist")
    run = checkpoint_run(target, f"resume={target}") if target.is_file() else target
    cfg = read_config(run)
    if target.is_dir() and not checkpoints(run):
        raise RunError(f"{run} has no checkpoints to resume from ({CHECKPOINTS}/ is empty)")
    return run, cfg


def find_resume_point(target: Path, unsafe_pickle: bool = False) -> ResumePoint:
    """``resume=<run folder>``: its newest readable checkpoint; ``resume=<checkpoint.zip>``:
    that one. Raises `RunError` (one line) when there is none."""
    run, cfg = resume_target(target)
    if target.is_file():
        point = ResumePoint(run, cfg, target, read_checkpoint(target, True, unsafe_pickle))
        point.reward_norm = _reward_norm(point, unsafe_pickle)
        return point
    skipped: list[str] = []
    for _, path in reversed(checkpoints(run)):
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


def set_aside_newer(run: Path, step: int) -> list[str]:
    """Renames checkpoints newer than ``step`` (a resume from an older one would otherwise
    mix two histories) to ``*.zip.superseded``; returns their names."""
    moved = []
    for s, path in checkpoints(run):
        if s > step:
            path.rename(path.with_name(path.name + ".superseded"))
            moved.append(path.name)
    return moved


def restore(model: Any, env: Any, resume: ResumePoint, run: Path) -> tuple[int, float]:
    """Puts a freshly built PPO ``model`` (on ``env``) where ``resume`` left off: weights,
    optimizer state, step and update counters, reward-normalization statistics; sets newer
    checkpoints aside and drops the TensorBoard events past the step. Returns the curriculum
    stage and the wall seconds trained so far."""
    from agents.policy.loading import load_weights
    from agents.run.folder import TB
    from agents.train.events import truncate_events

    ckpt = resume.checkpoint
    load_weights(model.policy, ckpt, resume.path, run)
    if ckpt.optimizer is not None:
        model.policy.optimizer.load_state_dict(ckpt.optimizer)
    model.num_timesteps = ckpt.num_timesteps
    model.n_updates = ckpt.n_updates
    stats = resume.reward_norm
    if stats is not None and resume.config.agent.ppo.normalize_reward:
        env.ret_rms.mean, env.ret_rms.var = np.float64(stats["mean"]), np.float64(stats["var"])
        env.ret_rms.count = stats["count"]
    for note in resume.skipped:
        log.warning("skipped unreadable checkpoint %s", note)
    for name in set_aside_newer(run, ckpt.num_timesteps):
        log.warning("set aside %s (newer than the resumed checkpoint)", name)
    truncate_events(run / TB, ckpt.num_timesteps)
    log.info("resuming %s from %s at step %d", run, resume.path.name, model.num_timesteps)
    return int(ckpt.trainer.get("curriculum_stage", 0)), float(
        ckpt.trainer.get("train_seconds", 0.0)
    )
