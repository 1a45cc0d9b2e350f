"""Resuming a run: which checkpoint it continues from, checked before anything runs, read once.

``resume=<run folder>`` continues from the newest checkpoint that can be read (corrupt newer ones
are skipped with one line each); ``resume=<checkpoint.zip>`` from exactly that one, and the
checkpoints after it are set aside, so the run's history never mixes two branches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from agents.run.checkpoint import Checkpoint, read_checkpoint, read_legacy_vecnorm
from agents.run.folder import CHECKPOINTS, RunError, checkpoint_run, checkpoints, read_config
from agents.settings.train import TrainConfig


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
