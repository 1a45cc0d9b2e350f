import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Headless everywhere: pygame windows go to SDL's dummy driver, torch uses one thread.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
# the precision probe's cache in a folder of the test session's, not in the user's home
os.environ.setdefault("CHEESE_MAZE_CACHE", tempfile.mkdtemp(prefix="cheese-maze-cache-"))


ROOT = Path(__file__).resolve().parent.parent
TINY = [
    "total_steps=4096",
    "num_envs=16",
    "agent.ppo.n_steps=64",
    "agent.ppo.batch_size=256",
    "checkpoint_every=1024",
    "eval.every_steps=2048",
    "eval.episodes=20",
    "eval.final_episodes=40",
    "progress=false",
]


def run_cli(module, *args, env=None, timeout=300):
    """Runs ``python -m experiments.<module> args...`` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", f"experiments.{module}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def train_cli(*args, check=True, timeout=240):
    out = run_cli("train", *args, env=dict(os.environ, HYDRA_FULL_ERROR="0"), timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"train failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out


def train_config(*overrides):
    """The `TrainConfig` that ``python -m experiments.train`` would compose from ``overrides``."""
    from hydra import compose, initialize_config_dir

    from agents.cli import register_resolvers
    from agents.settings import register_schemas
    from agents.settings.train import to_train_config

    register_resolvers()
    register_schemas()
    with initialize_config_dir(str(ROOT / "conf"), version_base=None):
        return to_train_config(compose("config", overrides=list(overrides)))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished tiny training run, trained once per test session and shared by the xdist
    workers (the first to arrive trains it under a lock; tests copy it before changing it)."""
    import fcntl

    shared = tmp_path_factory.getbasetemp().parent  # common to the workers of one session
    run = shared / "tiny-run"
    with open(shared / "tiny-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (run / "metrics.json").is_file():
            out = train_cli(*TINY, f"hydra.run.dir={run}")
            assert "held-out P(cheese)" in out.stdout
    return run


def assert_same_grads_unlike_plain(explicit, hooked, plain, x):
    """``hooked`` (penalty installed, backward run) has the gradients of ``explicit`` (penalty
    written out, backward run), and they differ from those of ``plain`` (no penalty) on ``x``."""
    import torch

    hooked(x).pow(2).sum().backward()
    for a, b in zip(explicit.parameters(), hooked.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad)
    plain(x).pow(2).sum().backward()
    assert not torch.allclose(plain[0].weight.grad, hooked[0].weight.grad)
