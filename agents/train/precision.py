"""The precision a training run uses, decided by measurement: bf16 is 2-3x fp32 on CPUs with
AMX (and on GPUs) but about 0.1x where it is emulated (AVX2-only CPUs), and a CPU's capability
flags alone do not say which. A short probe times the network's own forward and backward passes
in both precisions; the result is cached per machine, torch build, network and batch."""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from agents.policy.networks import make_embedder
from agents.settings.train import NetworkConfig
from agents.train.compute import machine

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")
#: bf16 must be at least this much faster than fp32 for ``auto`` to take it (fp32 is the
#: reference numerics; a tie is not worth the rounding).
BF16_MIN_SPEEDUP = 1.1


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a training run uses, and why.

    Attributes:
        requested: The setting (``auto``, ``fp32`` or ``bf16``).
        precision: What runs (``fp32`` or ``bf16``).
        ratio: bf16's speed over fp32's on this network and machine (> 1: bf16 is faster);
            None where it was not measured.
        reason: One line for the log and the run's config.
        warning: A one-line warning (an explicit ``bf16`` that runs slower than fp32), or "".
    """

    requested: str
    precision: str
    ratio: float | None
    reason: str
    warning: str = ""


def decide(requested: str, ratio: float | None, where: str = "this CPU") -> PrecisionChoice:
    """The choice for a measured speed ratio (bf16 over fp32); ``where`` names the machine."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {requested!r}")
    measured = "" if ratio is None else f"{ratio:.2f}x fp32"
    if requested == "fp32":
        return PrecisionChoice(requested, "fp32", ratio, "fp32: set explicitly")
    if requested == "bf16":
        warning = ""
        if ratio is not None and ratio < 1:
            warning = (
                f"precision=bf16 runs this network at {measured} on {where} (bf16 is emulated "
                "here); precision=auto or fp32 trains faster"
            )
        why = f"bf16: set explicitly ({measured or 'not measured'})"
        return PrecisionChoice(requested, "bf16", ratio, why, warning)
    if ratio is None:
        return PrecisionChoice(requested, "fp32", None, "fp32: bf16 could not be measured here")
    if ratio >= BF16_MIN_SPEEDUP:
        return PrecisionChoice(requested, "bf16", ratio, f"bf16: {measured} on {where}")
    why = "bf16 is emulated here" if ratio < 0.5 else "bf16 is not faster here"
    return PrecisionChoice(requested, "fp32", ratio, f"fp32: {why}, bf16 {measured} on {where}")


def cache_dir() -> Path:
    """Where measurements are cached: ``$CHEESE_MAZE_CACHE`` or ``~/.cache/cheese-maze``."""
    given = os.environ.get("CHEESE_MAZE_CACHE")
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cheese-maze"


def time_step(
    net: torch.nn.Module, x: torch.Tensor, bf16: bool, repeats: int, budget_s: float
) -> list[float]:
    """Seconds of forward + backward of ``net`` on ``x`` (channels-last), after one warm-up;
    stops early once ``budget_s`` is spent (the warm-up alone may exceed it)."""
    device_type = x.device.type

    def once() -> float:
        if device_type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            out = net(x).float()
        out.sum().backward()
        if device_type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    spent = once()
    times: list[float] = []
    while len(times) < repeats and spent < budget_s:
        times.append(once())
        spent += times[-1]
    return times or [spent]


def probe_ratio(
    network: NetworkConfig,
    obs_shape: tuple[int, int, int],
    high: float,
    batch: int,
    device: str = "cpu",
    budget_s: float = 3.0,
    step: Callable[..., list[float]] = time_step,
) -> tuple[float, float, float]:
    """bf16's speed over fp32's for ``network``'s forward + backward on a batch of ``batch``
    random observations: the median of the seconds ``step`` (`time_step`) measures in each
    precision. Returns (ratio, fp32 seconds, bf16 seconds) per step."""
    torch.manual_seed(0)
    net = make_embedder(network, obs_shape, high).to(device)
    net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    x = torch.randint(0, int(high) + 1, (batch, *obs_shape), device=device).float()
    x = x.contiguous(memory_format=torch.channels_last)
    fp32 = statistics.median(step(net, x, False, 3, budget_s / 3))
    # stop bf16 once it is clearly slower: emulated bf16 can cost 10x fp32
    bf16 = statistics.median(step(net, x, True, 3, max(4 * fp32, budget_s / 3)))
    return fp32 / bf16, fp32, bf16


def choose_precision(
    requested: str,
    network: NetworkConfig,
    obs_shape: tuple[int, int, int],
    high: float,
    batch: int,
    device: str = "cpu",
    probe: Callable[..., tuple[float, float, float]] = probe_ratio,
) -> PrecisionChoice:
    """Decides the training precision by measurement (``fp32`` is not measured).

    The probe runs on a batch of at most 128 (the ratio, not the absolute speed, is what is
    needed), with this process's torch thread count; its result is cached in `cache_dir`.
    """
    if requested == "fp32":
        return decide("fp32", None)
    m = machine()
    where = "this GPU" if device.startswith("cuda") else f"this CPU ({m.cpu}, {m.capability})"
    batch = min(batch, 128)
    key = json.dumps(
        [m.cpu, m.capability, m.bf16_native, m.amx, m.torch, device, torch.get_num_threads()]
        + [asdict(network), list(obs_shape), batch],
        sort_keys=True,
    )
    path = cache_dir() / "precision.json"
    from mazegen.files import read_json_object

    cache = read_json_object(path)
    entry = cache.get(key)
    if entry is None:
        try:
            ratio, fp32_s, bf16_s = probe(network, obs_shape, high, batch, device)
        except RuntimeError as e:  # bf16 unsupported by a kernel on this device
            log.warning("bf16 probe failed (%s); using fp32", str(e).splitlines()[0])
            return decide(requested, None, where)
        entry = {
            "ratio": ratio,
            "fp32_ms": 1e3 * fp32_s,
            "bf16_ms": 1e3 * bf16_s,
            "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        cache[key] = entry
        _write_json(path, cache)
    return decide(requested, float(entry["ratio"]), where)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from mazegen.files import atomic_write_bytes

    try:
        atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode())
    except OSError as e:  # a read-only home: the probe simply runs again next time
        log.debug("could not cache the precision probe in %s: %s", path, e)
