"""Sets a training process up for its machine: the thread count (`choose_threads`), the
device, the allocator and the precision (`choose_precision`), and says so in the log."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import torch

from agents.settings.train import TrainConfig
from agents.train.compute import busy_cores, choose_threads, machine, tune_allocator
from agents.train.precision import choose_precision

log = logging.getLogger(__name__)


def resolve_threads(cfg: TrainConfig) -> tuple[TrainConfig, str]:
    """``cfg`` with ``torch_threads_chosen`` decided for this session (`choose_threads`, from
    the cores other processes keep busy now), and the decision's reason for the log."""
    m = machine()
    busy = busy_cores() if cfg.torch_threads == 0 else None
    threads, why = choose_threads(cfg.torch_threads, m.cores, busy)
    return dataclasses.replace(cfg, torch_threads_chosen=threads), why


def prepare_compute(cfg: TrainConfig, obs_space: Any, threads_why: str = "") -> TrainConfig:
    """Sets up this process for ``cfg`` (its ``torch_threads_chosen`` threads, the allocator),
    decides its precision by measurement on observations of ``obs_space`` and logs what the
    run computes on. Returns ``cfg`` with ``precision`` resolved and ``precision_chosen``
    saying why."""
    if cfg.torch_threads_chosen < 1:
        cfg, threads_why = resolve_threads(cfg)
    torch.set_num_threads(cfg.torch_threads_chosen)
    device = "cuda" if cfg.device == "auto" and torch.cuda.is_available() else cfg.device
    device = "cpu" if device == "auto" else device
    if device.startswith("cuda") and not torch.cuda.is_available():
        from agents.settings.base import ConfigError

        raise ConfigError("device=cuda but no CUDA device is available; use device=cpu or auto")
    tuned = tune_allocator()
    m = machine()
    busy = busy_cores()
    others = "" if busy is None else f"; other processes keep {busy:.1f} of {m.cores} cores busy"
    spare = choose_threads(0, m.cores, busy)[0]
    if cfg.torch_threads > 0 and spare > cfg.torch_threads:
        others += f" (idle cores: torch_threads=0 would use {spare})"
    log.info(
        "compute: %s (%s), torch %s, %s, %d torch thread(s)%s%s",
        device if device != "cpu" else "CPU",
        m.kind,
        m.torch,
        "allocator tuned" if tuned else "default allocator",
        cfg.torch_threads_chosen,
        f" ({threads_why})" if threads_why else "",
        others,
    )
    choice = choose_precision(
        cfg.precision,
        cfg.agent.network,
        tuple(int(x) for x in obs_space.shape),  # type: ignore[arg-type]
        float(obs_space.high.max()),
        cfg.agent.ppo.batch_size,
        device,
    )
    if choice.warning:
        log.warning(choice.warning)
    log.info("precision: %s (precision=%s)", choice.reason, cfg.precision)
    return dataclasses.replace(cfg, precision=choice.precision, precision_chosen=choice.reason)
