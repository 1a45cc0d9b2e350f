"""The 2023 network sees procgen's frames: its action probabilities on this project's
procgen-faithful observations are those on procgen's own (to 1e-5), on sampled fixture levels.

Design. The fixtures (``tests/fixtures/procgen_maze.json``, written by
``experiments/procgen_fixtures.py`` in ``.venv-procgen``) hold hashes of procgen's frames, not
the frames. So:

- the default suite renders this mode's start frame of sampled fixture levels, checks that it
  hashes to procgen's (the same bytes as procgen's frame), and that the network's probabilities
  on each frame do not depend on the batch it is in (to 1e-5): with equal bytes and a
  batch-independent forward, the probabilities are procgen's;
- the slow test has procgen render frames itself (``.venv-procgen``), runs the network on both,
  and compares the probabilities directly (to 1e-5); on a frame that differs it saves both
  frames beside each other and reports the differing pixels and the largest change in
  probability.

Both run the network of a file built with the 2023 key names and shapes at full width
(``tests.synthetic2023``, ``scale=4``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from synthetic2023 import write_2023  # noqa: E402

from agents.policy.loading import load_policy  # noqa: E402
from agents.settings.pth import PthConfig, env_settings  # noqa: E402
from mazegen import MazeConfig, generate_levels  # noqa: E402
from mazegen.render import observe  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "procgen_maze.json"
PROCGEN_PYTHON = ROOT / ".venv-procgen" / "bin" / "python"
SAMPLED = 6  # fixture levels per distribution mode


def frame_hash(frame: np.ndarray) -> str:
    """The fixtures' hash: sha256 prefix of a [64, 64, 3] uint8 frame (C order)."""
    return hashlib.sha256(np.ascontiguousarray(frame, dtype=np.uint8).tobytes()).hexdigest()[:16]


def vanilla(mode: str) -> MazeConfig:
    """procgen ``maze`` in this mode: the cheese anywhere (the fixtures' levels are vanilla)."""
    return MazeConfig(**{**env_settings(PthConfig(distribution=mode)), "cheese_region": None})


def our_frames(mode: str, levels: list[int]) -> np.ndarray:
    """This mode's start frames of ``levels``: ``[N, 64, 64, 3]`` uint8."""
    obs = observe(generate_levels(levels, vanilla(mode)), vanilla(mode))  # [N, 3, 64, 64]
    return np.ascontiguousarray(np.asarray(obs).transpose(0, 2, 3, 1))


def probs(net: torch.nn.Module, frames: np.ndarray) -> torch.Tensor:
    """``[N, 15]`` action probabilities on ``[N, 64, 64, 3]`` frames."""
    x = torch.as_tensor(frames).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        return torch.softmax(net(x)[0], dim=-1)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> torch.nn.Module:
    path = write_2023(tmp_path_factory.mktemp("ckpt") / "model_rand_region_5.pth", scale=4)
    return load_policy(path).net


@pytest.mark.parametrize("mode", ["hard", "easy"])
def test_probabilities_on_fixture_frames(net: torch.nn.Module, mode: str) -> None:
    entries = json.loads(FIXTURES.read_text())["modes"][mode]
    rng = np.random.default_rng(2023)
    picked = [entries[i] for i in rng.choice(len(entries), size=SAMPLED, replace=False)]
    frames = our_frames(mode, [e["level"] for e in picked])
    for e, frame in zip(picked, frames, strict=True):
        assert frame_hash(frame) == e["frames"][0], f"{mode} level {e['level']}: frame differs"
    together = probs(net, frames)
    alone = torch.cat([probs(net, f[None]) for f in frames])
    assert (together - alone).abs().max().item() <= 1e-5


@pytest.mark.slow
def test_procgen_probabilities(net: torch.nn.Module, tmp_path: Path) -> None:
    if not PROCGEN_PYTHON.is_file():
        pytest.skip(f"no procgen side environment at {PROCGEN_PYTHON} (make peer-venv)")
    script = ROOT / "experiments" / "procgen_fixtures.py"
    subprocess.run(
        [str(PROCGEN_PYTHON), str(script), "--levels", "4", "--seed", "7"]
        + ["--out", str(tmp_path / "f.json"), "--frames", str(tmp_path / "frames")],
        check=True,
        cwd=ROOT,
    )
    worst, differing = 0.0, []
    for npy in sorted((tmp_path / "frames").glob("*.npy")):
        mode, level = npy.stem.split("_")
        theirs = np.load(npy)[:1]  # the start frame, [1, 64, 64, 3]
        ours = our_frames(mode, [int(level)])
        delta = (probs(net, ours) - probs(net, theirs)).abs().max().item()
        worst = max(worst, delta)
        if not np.array_equal(ours, theirs):
            keep = ROOT / "outputs" / "procgen_mismatch"
            keep.mkdir(parents=True, exist_ok=True)
            np.save(keep / f"{npy.stem}_ours.npy", ours)
            shutil.copy(npy, keep / f"{npy.stem}_procgen.npy")
            diff = np.abs(ours.astype(int) - theirs.astype(int)).max(axis=-1)
            differing.append(f"{npy.stem}: {(diff > 0).mean():.2%} px, max {diff.max()}")
    assert worst <= 1e-5, f"largest change in probability {worst:.2e}; frames: {differing}"
