"""Training callbacks: held-out evaluation on both distributions (TensorBoard and one console
line each), the size curriculum, and atomic checkpoints."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Image

from agents.policy.hooked import HookedMazeNet
from agents.run.checkpoint import save_checkpoint
from agents.run.folder import checkpoint_path, checkpoints
from agents.settings.train import CurriculumConfig, TrainConfig
from agents.train.board import DistributionBoard, write_layout
from agents.train.curriculum import stage_config
from agents.train.heldout import HeldOut, eval_line, path_image
from agents.train.ppo import MazePPO
from agents.train.vecenv import MazeVecEnv, unwrap
from mazegen import MazeConfig

log = logging.getLogger("agents.train.training")


class EvalCallback(BaseCallback):
    """Held-out evaluation at step 0 and every ``every_steps``: P(cheese) (all mazes and those
    with a decision square), P(top-right first / ends in top-right), mean length on both
    distributions -> TensorBoard ``eval/``, the same in a run per distribution (train and test
    in two colours on one chart per measure: `agents.train.board`) and one console /
    ``train.log`` line each."""

    def __init__(self, cfg: TrainConfig, trained_s: float = 0.0) -> None:
        super().__init__()
        self.cfg = cfg
        self.every = cfg.eval.every_steps
        self.held_out = HeldOut(cfg, cfg.eval.episodes)
        self._next = 0
        self._clock: tuple[float, int] = (time.perf_counter(), 0)
        self._before = trained_s  # wall seconds of training before this session (resumes)
        self.net: HookedMazeNet | None = None  # built once the model is known
        self.board: DistributionBoard | None = None  # opened with SB3's TensorBoard writer

    def elapsed(self) -> float:
        """Wall seconds this run has trained, over all its sessions (evaluations included)."""
        return self._before + time.perf_counter() - self._clock[0]

    def _on_training_start(self) -> None:
        self._clock = (time.perf_counter(), self.num_timesteps)
        self.net = HookedMazeNet.of(self.model.policy)
        tb = self.tensorboard()
        if tb is not None:
            write_layout(tb)
            self.board = DistributionBoard(Path(tb.log_dir).parent)
        if self.every:
            self._next = (self.num_timesteps // self.every + 1) * self.every
            if self.num_timesteps == 0:
                self.evaluate()

    def tensorboard(self) -> Any:
        """The SummaryWriter behind SB3's TensorBoard output, if any."""
        from stable_baselines3.common.logger import TensorBoardOutputFormat

        for fmt in self.logger.output_formats:
            if isinstance(fmt, TensorBoardOutputFormat):
                return fmt.writer
        return None

    def _on_step(self) -> bool:
        if self.every and self.num_timesteps >= self._next:
            self._next += self.every
            if self.num_timesteps < self.cfg.total_steps:  # the final evaluation covers the end
                self.evaluate()
        return True

    def rate(self) -> float | None:
        t0, s0 = self._clock
        dt = time.perf_counter() - t0
        return (self.num_timesteps - s0) / dt if dt > 0 and self.num_timesteps > s0 else None

    def evaluate(self) -> None:
        assert self.net is not None, "evaluate runs once training has started"
        episodes = self.held_out.run(
            self.net, seed=self.num_timesteps, record_path=self.cfg.eval.video
        )
        scalars = self.held_out.scalars(episodes)
        for key, value in scalars.items():
            self.logger.record(key, value)
        self.logger.record("time/train_minutes", self.elapsed() / 60)
        if self.cfg.eval.video:
            test = episodes["test"]
            strip = np.concatenate(
                [path_image(test, i, self.held_out.region) for i in range(min(4, test.states.num))],
                axis=1,
            )
            self.logger.record(
                "eval/test_paths", Image(strip, "HWC"), exclude=("stdout", "log", "json", "csv")
            )
        self.logger.dump(self.num_timesteps)
        if self.board is not None:
            self.board.write(scalars, self.num_timesteps)
        # the console line once the point is in TensorBoard
        log.info(eval_line(self.num_timesteps, self.cfg.total_steps, scalars, self.rate()))

    def log_final(self, scalars: dict[str, float]) -> None:
        """The final evaluation as the last point of every ``eval/`` curve, written straight to
        TensorBoard (through SB3's logger it would also flush the last update's statistics,
        which SB3 never writes, at the last rollout's step)."""
        tb = self.tensorboard()
        if tb is None:
            return
        for key, value in scalars.items():
            tb.add_scalar(key, value, self.num_timesteps)
        tb.add_scalar("time/train_minutes", self.elapsed() / 60, self.num_timesteps)
        tb.flush()
        if self.board is not None:  # the last points: the distribution runs are done
            self.board.write(scalars, self.num_timesteps)
            self.board.close()
            self.board = None


class CheckpointCallback(BaseCallback):
    """Writes ``checkpoints/step_<N>.zip`` atomically every ``every`` steps; keeps the last
    ``keep`` (0: all)."""

    def __init__(
        self,
        run: Path,
        every: int,
        keep: int = 3,
        state: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.run = run
        self.every = every
        self.keep = keep
        self.state = state  # extra trainer state (the curriculum stage) saved beside each one
        self._next = 0

    def _on_training_start(self) -> None:
        self._next = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next += self.every
            self.save()
        return True

    def save(self) -> Path:
        """Writes ``checkpoints/step_<N>.zip`` (weights, optimizer, trainer state); prunes."""
        path = checkpoint_path(self.run, self.num_timesteps)
        trainer = self.state() if self.state is not None else {}
        vecnorm = self.model.get_vec_normalize_env()
        if vecnorm is not None:
            rms = vecnorm.ret_rms
            trainer["reward_norm"] = {
                "mean": float(rms.mean),
                "var": float(rms.var),
                "count": float(rms.count),
            }
        model: MazePPO = self.model  # type: ignore[assignment]
        save_checkpoint(
            path, model.policy, model.policy.optimizer, self.num_timesteps, model.n_updates, trainer
        )
        if self.keep > 0:
            for _, old in checkpoints(self.run)[: -self.keep]:
                old.unlink(missing_ok=True)
        log.info("wrote checkpoint %s at step %d", path.name, self.num_timesteps)
        return path


class CurriculumCallback(BaseCallback):
    """Advances the size schedule at the end of rollouts; logs ``curriculum/*`` and
    ``rollout/p_cheese_of_finished_episodes`` (over the episodes that ended during the rollout:
    early in training only short, successful ones finish, so it starts high; the held-out
    ``eval/`` curves are the unbiased measure).

    Args:
        cur: The schedule.
        env: The target distribution.
        stage: The stage to start in (a resumed run continues where it was).
    """

    def __init__(self, cur: CurriculumConfig, env: MazeConfig, stage: int = 0) -> None:
        super().__init__()
        self.cur = cur
        self.target = env
        self.stage = stage
        self._stage_start = 0
        self._seen = (0, 0)  # env counters (finished, succeeded) at the last estimate
        self._rollout = (0, 0)  # the same at the last rollout's end
        self.last_success = float("nan")

    @property
    def done(self) -> bool:
        return self.stage >= len(self.cur.max_sizes)

    def _maze_env(self) -> MazeVecEnv:
        env = self.model.get_env()
        assert env is not None, "the curriculum needs the model's training env"
        return unwrap(env)

    def _on_training_start(self) -> None:
        env = self._maze_env()
        if not self.done:  # without a schedule the env already draws the target distribution
            env.core.set_distribution(stage_config(self.cur, self.target, self.stage))
        self._stage_start = self.num_timesteps
        self._seen = (env.finished, env.succeeded)
        self._rollout = self._seen

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        env = self._maze_env()
        done = env.finished - self._rollout[0]
        if done:
            self.logger.record(
                "rollout/p_cheese_of_finished_episodes", (env.succeeded - self._rollout[1]) / done
            )
        self._rollout = (env.finished, env.succeeded)
        self.logger.record(
            "curriculum/max_size", stage_config(self.cur, self.target, self.stage).max_size
        )
        if self.done:
            return
        finished = env.finished - self._seen[0]
        timed_out = (
            self.cur.max_stage_steps > 0
            and self.num_timesteps - self._stage_start >= self.cur.max_stage_steps
        )
        if finished < self.cur.min_episodes and not timed_out:
            return
        self.last_success = (env.succeeded - self._seen[1]) / max(finished, 1)
        self._seen = (env.finished, env.succeeded)
        self.logger.record("curriculum/stage_success", self.last_success)
        if self.last_success >= self.cur.advance_at or timed_out:
            self.stage += 1
            self._stage_start = self.num_timesteps
            env.core.set_distribution(stage_config(self.cur, self.target, self.stage))


__all__ = ["CheckpointCallback", "CurriculumCallback", "EvalCallback"]
