"""Training progress for people: a bar that stops at the requested total on a terminal, and
periodic one-line reports when the output is a file or a Slurm log."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

log = logging.getLogger("agents.train.training")


class ProgressCallback(BaseCallback):
    """A progress bar on a terminal (``bar=True``), else a log line every ``every_s`` seconds.

    Args:
        total: The step the run ends at (the bar never passes it, though PPO finishes its last
            rollout).
        bar: Draw a bar when stdout is a terminal.
        every_s: Seconds between progress lines when there is no bar.
    """

    def __init__(self, total: int, bar: bool = True, every_s: float = 60.0) -> None:
        super().__init__()
        self.total = total
        self.use_bar = bar and sys.stdout.isatty()
        self.every_s = every_s
        self._bar: Any = None
        self._last = 0.0
        self._start = (0.0, 0)

    def _on_training_start(self) -> None:
        self._start = (time.perf_counter(), self.num_timesteps)
        self._last = time.perf_counter()
        if self.use_bar:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.total,
                initial=min(self.num_timesteps, self.total),
                unit="step",
                unit_scale=True,
                dynamic_ncols=True,
            )

    def _on_step(self) -> bool:
        now = time.perf_counter()
        if self._bar is not None:
            self._bar.n = min(self.num_timesteps, self.total)
            if now - self._last > 0.5:
                self._bar.refresh()
                self._last = now
        elif now - self._last >= self.every_s:
            self._last = now
            t0, s0 = self._start
            rate = (self.num_timesteps - s0) / max(now - t0, 1e-9)
            eta = max(self.total - self.num_timesteps, 0) / max(rate, 1e-9)
            log.info(
                "%s/%s steps (%.0f%%) | %s steps/s | ETA %.0f min",
                f"{min(self.num_timesteps, self.total):,}",
                f"{self.total:,}",
                100 * min(self.num_timesteps / self.total, 1.0),
                f"{rate:,.0f}",
                eta / 60,
            )
        return True

    def _on_training_end(self) -> None:
        if self._bar is not None:
            self._bar.n = min(self.num_timesteps, self.total)
            self._bar.close()
