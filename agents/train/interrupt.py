"""Stopping a run on Ctrl-C or SIGTERM without losing its work.

Slurm preempts a job with SIGTERM, a person stops one with Ctrl-C, and an interactive session
that ends kills its jobs; without this, everything since the last periodic checkpoint is
lost. With it, the run stops at the next environment step, drops the part of the rollout not
yet trained on, writes a checkpoint at the last trained step and exits with 128 + the signal's
number (130 for Ctrl-C, 143 for SIGTERM), ready for ``resume=``.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

log = logging.getLogger("agents.train.training")

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunStopped(Exception):
    """A run stopped by a signal after writing its checkpoint."""

    def __init__(self, signum: int, step: int, checkpoint: str) -> None:
        self.signum = signum
        self.step = step
        self.checkpoint = checkpoint
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step:,}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopOnSignal(BaseCallback):
    """Stops training at the next step once SIGINT or SIGTERM arrives (a second Ctrl-C stops
    at once, losing the work since the last checkpoint).

    Must come first in the callback list: on the step it stops at, it puts the step count back
    to the start of the unfinished rollout before the other callbacks read it, so none of them
    checkpoints or evaluates steps that were never trained on.
    """

    def __init__(self) -> None:
        super().__init__()
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}
        self._rollout_start = 0

    def _on_training_start(self) -> None:
        if threading.current_thread() is threading.main_thread():  # handlers live there only
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            self._restore()
            raise KeyboardInterrupt
        self.signum = signum
        log.warning(
            "%s: stopping at the next step and writing a checkpoint (Ctrl-C again: stop now)",
            signal.Signals(signum).name,
        )

    def _on_rollout_start(self) -> None:
        self._rollout_start = self.model.num_timesteps

    def _on_step(self) -> bool:
        if self.signum is None:
            return True
        self.model.num_timesteps = self._rollout_start  # the partial rollout is dropped
        return False

    def _on_training_end(self) -> None:
        self._restore()

    def _restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}
