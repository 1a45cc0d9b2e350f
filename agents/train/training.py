"""A training run from a `TrainConfig` into a run folder, with checkpoints and resume."""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import Any

from agents.run.checkpoint import save_checkpoint
from agents.run.folder import (
    METRICS,
    MODEL,
    TB,
    RunError,
    append_history,
    checkpoints,
    git_commit,
    write_config,
)
from agents.settings.train import TrainConfig
from agents.train.callbacks import CheckpointCallback, CurriculumCallback, EvalCallback
from agents.train.compute import machine
from agents.train.heldout import eval_line, final_metrics
from agents.train.interrupt import RunStopped, StopOnSignal
from agents.train.ppo import build_ppo, make_env
from agents.train.prepare import prepare_compute, resolve_threads
from agents.train.progress import ProgressCallback
from agents.train.resume import ResumePoint, find_resume_point, restore
from mazegen.files import remove_stale_temps, write_json

log = logging.getLogger(__name__)


def train(
    cfg: TrainConfig, run: Path, resume: ResumePoint | None = None, threads_why: str = ""
) -> dict[str, Any]:
    """Trains (or resumes, from ``resume``) into ``run``; returns the final metrics (also in
    ``metrics.json``). ``cfg.torch_threads_chosen`` is decided here unless `start` did
    (``threads_why`` says why, for the log).

    Raises:
        RunStopped: on SIGINT or SIGTERM, after writing a checkpoint at the last trained step.
    """
    if resume is None and ((run / MODEL).exists() or checkpoints(run)):
        raise RunError(f"{run} already holds a run; resume it with resume={run}")
    for stale in remove_stale_temps(run):
        log.info("removed %s, left by a write that was killed", stale)
    env = make_env(cfg, seed=cfg.seed if resume is None else cfg.seed + 7919)  # fresh levels
    resolved = prepare_compute(cfg, env.observation_space, threads_why)
    # the run's config keeps the settings (auto re-decides on the next machine) and the choices;
    # a resume's honoured overrides (a longer total_steps) are the run's from now on
    cfg = dataclasses.replace(
        cfg,
        precision_chosen=resolved.precision_chosen,
        torch_threads_chosen=resolved.torch_threads_chosen,
    )
    write_config(run, cfg)
    model = build_ppo(resolved, env, str(run / TB))
    stage, trained_s = (0, 0.0) if resume is None else restore(model, env, resume, run)
    reset = resume is None
    remaining = cfg.total_steps - model.num_timesteps
    evaluator = EvalCallback(cfg, trained_s)
    curriculum = CurriculumCallback(cfg.curriculum, cfg.env, stage=stage)
    ckpt_cb = CheckpointCallback(
        run,
        cfg.checkpoint_every,
        keep=cfg.checkpoint_keep,
        state=lambda: {"curriculum_stage": curriculum.stage, "train_seconds": evaluator.elapsed()},
    )
    progress = ProgressCallback(cfg.total_steps, bar=cfg.progress)
    stop = StopOnSignal()
    start = time.perf_counter()
    if remaining > 0:
        model.learn(
            remaining,
            callback=[stop, curriculum, evaluator, ckpt_cb, progress],  # stop first: see it
            tb_log_name="PPO",
            reset_num_timesteps=reset,
        )
    seconds = time.perf_counter() - start
    if remaining > 0:  # else nothing was trained: the resumed checkpoint is the last step's
        ckpt_cb.model = model
        saved = ckpt_cb.save()
        if stop.signum is not None:
            raise RunStopped(stop.signum, model.num_timesteps, str(saved))
    save_checkpoint(run / MODEL, model.policy, None, model.num_timesteps, model.n_updates)
    metrics, scalars = final_metrics(model, cfg)
    metrics["train_minutes_total"] = round(evaluator.elapsed() / 60, 2)
    if remaining > 0:  # the TensorBoard writer exists once learn() ran in this session
        evaluator.log_final(scalars)  # the curves end on the final, larger evaluation
    log.info(
        "final evaluation (%d mazes per distribution) | %s",
        cfg.eval.final_episodes,
        eval_line(model.num_timesteps, cfg.total_steps, scalars, None),
    )
    metrics["train_seconds_this_session"] = round(seconds, 1)
    # what the minutes were spent on (the last session's CPU, for a run that spanned several)
    metrics["machine"] = _machine(cfg)
    metrics["total_steps"] = int(model.num_timesteps)
    write_json(run / METRICS, metrics)
    return metrics


def _machine(cfg: TrainConfig) -> str:
    """The CPU a session trains on and its thread count; each start records its own, since a
    run that spans sessions may span CPUs."""
    return f"{machine().kind}, {cfg.torch_threads_chosen or cfg.torch_threads} torch thread(s)"


def start(given: TrainConfig, run: Path, overrides: list[str]) -> tuple[Path, dict[str, Any]]:
    """What ``python -m experiments.train`` does: a new run into ``run``, or (``resume=``) the
    continuation of an old one in its own folder. Returns the run folder and its metrics."""
    from agents.settings.resume import resume_config

    unsafe = given.unsafe_pickle
    entry = {
        "overrides": list(overrides),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "git_commit": git_commit(),
    }
    if given.resume:
        point = find_resume_point(Path(given.resume).expanduser(), unsafe)
        cfg = dataclasses.replace(
            resume_config(point.config, given, overrides), resume=None, unsafe_pickle=False
        )
        cfg, why = resolve_threads(cfg)  # each session decides its own
        entry["machine"] = _machine(cfg)
        append_history(point.run, {**entry, "from_step": point.checkpoint.num_timesteps})
        return point.run, train(cfg, point.run, resume=point, threads_why=why)
    cfg = dataclasses.replace(given, unsafe_pickle=False)
    if (run / MODEL).exists() or checkpoints(run):
        raise RunError(f"{run} already holds a run; resume it with resume={run}")
    cfg, why = resolve_threads(cfg)
    append_history(run, {**entry, "from_step": 0, "machine": _machine(cfg)})
    return run, train(cfg, run, threads_why=why)


def check_command_line(given: TrainConfig, overrides: list[str]) -> None:
    """What ``experiments.train`` checks before Hydra writes anything: the settings, and for
    ``resume=`` the run it names and which of the overrides it can honour (no weights read)."""
    from agents.settings.resume import resume_config
    from agents.train.resume import resume_target

    if given.resume:
        _, stored = resume_target(Path(given.resume).expanduser())
        resume_config(stored, given, overrides)


def start_and_report(given: TrainConfig, run: Path, overrides: list[str]) -> None:
    """``python -m experiments.train``: `start`, then the run's folder and headline figures;
    a run stopped by a signal says how to continue it and exits with 128 + its number."""
    try:
        run, metrics = start(given, run, overrides)
    except RunStopped as e:
        folder = Path(e.checkpoint).parent.parent
        print(f"{e}; checkpoint {e.checkpoint}")
        print(f"continue with: python -m experiments.train resume={folder}")
        sys.exit(e.exit_code)
    pol, rnd = metrics["policy"], metrics["random"]
    print(f"run folder: {run}")
    print(
        f"held-out P(cheese): train distribution {pol['train']['p_cheese']['p']:.3f}, "
        f"test distribution {pol['test']['p_cheese']['p']:.3f} "
        f"(random policy {rnd['test']['p_cheese']['p']:.3f}); test episodes ending in "
        f"the top-right region: {pol['test']['p_end_in_region']['p']:.3f}"
    )
    print(f"TensorBoard: tensorboard --logdir {run / 'tb'}")
