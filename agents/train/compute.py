"""The machine a run computes on: what its CPU is, how busy it is, how many threads to use on
it, and its allocator (`agents.train.prepare` sets a training process up from these). Only
`machine` needs torch (imported there), so the rest is cheap to import in a new process."""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Machine:
    """What a figure was measured on.

    Attributes:
        cpu: The CPU's model name.
        capability: ``torch.backends.cpu.get_cpu_capability()`` (``AVX2``, ``AVX512``, ...).
        bf16_native: Whether oneDNN runs bf16 natively (AVX512-BF16 or AMX), not emulated.
        amx: Whether the CPU has AMX tiles.
        cores: CPUs this process may run on.
        torch: The torch version.
    """

    cpu: str
    capability: str
    bf16_native: bool
    amx: bool
    cores: int
    torch: str

    @property
    def kind(self) -> str:
        """A short name of the CPU kind: ``"AMD EPYC, AVX2, bf16 emulated"``."""
        extra = "AMX" if self.amx else ("bf16 native" if self.bf16_native else "bf16 emulated")
        return f"{self.cpu}, {self.capability}, {extra}"


def _cpu_flags() -> tuple[str, set[str]]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), set()
    model, flags = "", set[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return model or platform.machine(), flags


def machine() -> Machine:
    """The CPU this process runs on, as torch sees it (``ATEN_CPU_CAPABILITY`` and
    ``ONEDNN_MAX_CPU_ISA`` lower what it reports, for emulating an older CPU)."""
    import torch

    model, flags = _cpu_flags()
    capability = torch.backends.cpu.get_cpu_capability()
    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        native = False
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    capped = isa not in ("", "ALL") and "AMX" not in isa
    amx = "amx_tile" in flags and not capped
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return Machine(model, capability, native, amx, int(cores or 1), torch.__version__)


#: The window `busy_cores` measures over by default, in seconds; ``$CHEESE_MAZE_LOAD_SECONDS``
#: sets another (the test suite's many tiny runs use a shorter one).
LOAD_SECONDS = 0.25


def busy_cores(seconds: float | None = None) -> float | None:
    """How many of the machine's cores other processes keep busy (from ``/proc/stat`` over
    ``seconds``, while this process sleeps; None: ``$CHEESE_MAZE_LOAD_SECONDS`` if set, else
    `LOAD_SECONDS`); None where that cannot be read."""
    if seconds is None:
        seconds = float(os.environ.get("CHEESE_MAZE_LOAD_SECONDS") or LOAD_SECONDS)

    def sample() -> tuple[int, int] | None:
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        except (OSError, IndexError):
            return None
        values = [int(x) for x in fields]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values[:8]), idle

    a = sample()
    time.sleep(seconds)
    b = sample()
    if a is None or b is None or b[0] == a[0]:
        return None
    total, idle = b[0] - a[0], b[1] - a[1]
    return (total - idle) / total * (os.cpu_count() or 1)


def tune_allocator() -> bool:
    """Keeps freed memory in the process instead of returning it to the kernel (glibc only).

    glibc serves large blocks with ``mmap`` and trims freed heap memory, so the tensors a PPO
    update allocates and frees every minibatch are mapped and unmapped again each time: on an
    AVX2 EPYC the quick preset spent 16 % of its time in the kernel on page faults. Raising the
    mmap and trim thresholds removes that (about 1.2x the training speed). Returns whether it
    took effect.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    trimmed = bool(libc.mallopt(m_trim_threshold, 1 << 30))
    # glibc caps the mmap threshold at 32 MiB in some versions: fall back to the cap
    mapped = libc.mallopt(m_mmap_threshold, 1 << 30) or libc.mallopt(m_mmap_threshold, 32 << 20)
    return trimmed and bool(mapped)


#: ``torch_threads=0`` uses at most this many threads: the presets' networks are small (not
#: measured beyond the 2-core machines of this project).
MAX_AUTO_THREADS = 4


def choose_threads(requested: int, cores: int, busy: float | None) -> tuple[int, str]:
    """The torch thread count for ``torch_threads=requested`` on ``cores`` cores of which other
    processes keep ``busy`` busy (`busy_cores`; None: unknown), and why, for the log.

    An explicit count (> 0) is kept. ``0`` takes the cores that are idle, counting a core idle
    when other processes use at most a quarter of it, at least 1 and at most
    `MAX_AUTO_THREADS`: an OpenMP thread that shares a core with another job waits for it at
    every parallel region (the quick preset trained at 237 steps/s on two threads beside a
    busy core, against 3,725 on one; AMX Xeon), so a busy core is never counted.
    """
    if requested > 0:
        return requested, f"torch_threads={requested}"
    if busy is None:
        return 1, "torch_threads=0: 1 (the other processes' load could not be read)"
    idle = int(cores - busy + 0.25)
    n = max(1, min(idle, cores, MAX_AUTO_THREADS))
    return n, f"torch_threads=0: {n} ({cores - busy:.1f} of {cores} cores idle)"
