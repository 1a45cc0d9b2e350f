"""Throughput measurements of the environment (steps/s, mazes/s) and of procgen's maze as a peer.

Figures are medians of repeated timed windows with random actions, as in procgen's own
benchmarks. The procgen peer needs numpy < 2 and gym3, so it runs in a virtual environment of
its own (``make peer-venv``) as a subprocess of the same benchmark run.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

from mazegen.batch import MazeBatch
from mazegen.config import MazeConfig
from mazegen.generate import generate_levels


def _median_rate(fn, units: float, seconds: float, repeats: int) -> float:  # type: ignore[no-untyped-def]
    rates = []
    for _ in range(repeats):
        n = 0
        start = time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        rates.append(n * units / elapsed)
    return statistics.median(rates)


def env_steps_per_second(
    num_envs: int, config: MazeConfig, seconds: float = 1.0, repeats: int = 3
) -> float:
    """Steps/s of `MazeBatch` (next-step autoreset, copied observations) with random actions."""
    env = MazeBatch(num_envs, config)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, env.num_actions, size=(512, num_envs))
    k = [0]

    def step() -> None:
        env.step(actions[k[0] % 512])
        k[0] += 1

    for _ in range(50):
        step()
    return _median_rate(step, num_envs, seconds, repeats)


def mazes_per_second(
    config: MazeConfig, batch: int = 1024, seconds: float = 1.0, repeats: int = 3
) -> float:
    """Mazes/s of batched generation (fresh level numbers each call)."""
    start = [0]

    def gen() -> None:
        generate_levels(range(start[0], start[0] + batch), config)
        start[0] += batch

    return _median_rate(gen, batch, seconds, repeats)


PROCGEN_SCRIPT = """
import json, statistics, sys, time
import numpy as np
from procgen import ProcgenGym3Env
num, mode, seconds, repeats = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
env = ProcgenGym3Env(num=num, env_name="maze", distribution_mode=mode)
rng = np.random.default_rng(0)
acts = rng.integers(0, 15, size=(512, num)).astype(np.int32)
for i in range(50):
    env.act(acts[i]); env.observe()
rates = []
for _ in range(repeats):
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        env.act(acts[n % 512]); env.observe(); n += 1
    rates.append(n * num / (time.perf_counter() - t0))
print(json.dumps({"steps_per_s": statistics.median(rates)}))
"""


def procgen_steps_per_second(
    python: Path, num_envs: int = 64, mode: str = "hard", seconds: float = 1.0, repeats: int = 3
) -> float | None:
    """procgen ``maze`` steps/s measured by ``python`` (a venv holding procgen), or None."""
    if not python.exists():
        return None
    out = subprocess.run(
        [str(python), "-c", PROCGEN_SCRIPT, str(num_envs), mode, str(seconds), str(repeats)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if out.returncode != 0:
        return None
    return float(json.loads(out.stdout.strip().splitlines()[-1])["steps_per_s"])
