"""The procgen-faithful mode against procgen itself (fixtures written by
``experiments/procgen_fixtures.py`` from procgen 0.10.7): levels, start frames, frames after
scripted steps and the first frame of the next level, easy and hard."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from mazegen import MazeBatch, MazeConfig
from mazegen.batch import Autoreset
from mazegen.procgen_levels import mt19937_outputs, procgen_level
from mazegen.procgen_textures import textures_available

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "procgen_maze.json"
WORLD = {"easy": 15, "hard": 25}

needs_textures = pytest.mark.skipif(
    not textures_available() and not os.environ.get("CI"),
    reason="procgen textures not cached (make procgen-textures)",
)


def _fixtures() -> dict:
    return json.loads(FIXTURES.read_text())


def frame_hash(obs: np.ndarray) -> str:
    """The fixture hash of a ``[3, 64, 64]`` observation (procgen's [64, 64, 3] layout)."""
    return hashlib.sha256(np.ascontiguousarray(obs.transpose(1, 2, 0)).tobytes()).hexdigest()[:16]


def _walls(hexstr: str, w: int) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(hexstr), dtype=np.uint8))
    return bits[: w * w].reshape(w, w).astype(bool)


def play_fixture(mode: str, lv: dict) -> list[tuple[int, str, str]]:
    """Replays one fixture level in a procgen-mode env; returns the (frame index, ours,
    procgen's) hashes that differ (the last frame: the next level's start)."""
    w = WORLD[mode]
    env = MazeBatch(1, MazeConfig(world_size=w, max_size=w, procgen=True), Autoreset.SAME_STEP)
    obs, _ = env.reset(seed=0, options={"level": lv["level"]})
    ours = [frame_hash(obs[0])]
    for k, a in enumerate(lv["actions"]):
        obs, reward, terminated, _, _ = env.step(np.array([a]))
        if k == len(lv["actions"]) - 1:
            assert terminated[0] and reward[0] == 10.0, (mode, lv["level"])
            obs, _ = env.reset(options={"level": lv["next_level"]})
        ours.append(frame_hash(obs[0]))
    return [(i, a, b) for i, (a, b) in enumerate(zip(ours, lv["frames"])) if a != b]


def test_mt19937_is_std_mt19937() -> None:
    # the C++ standard's check value: the 10000th output of a default-seeded std::mt19937
    assert mt19937_outputs(5489, 10000)[-1] == 4123659995


@pytest.mark.parametrize("mode", ["easy", "hard"])
def test_levels_equal_procgen(mode: str) -> None:
    """Inner size, walls, start and cheese of every fixture level equal procgen's."""
    w = WORLD[mode]
    levels = _fixtures()["modes"][mode]
    assert len(levels) >= 100
    for lv in levels:
        walls, size, cheese, _ = procgen_level(lv["level"], w, None)
        assert size == lv["maze_dim"], lv["level"]
        assert cheese == tuple(lv["cheese"]), lv["level"]
        np.testing.assert_array_equal(walls, _walls(lv["walls"], w), err_msg=str(lv["level"]))


@needs_textures
@pytest.mark.parametrize("mode", ["easy", "hard"])
def test_frames_equal_procgen(mode: str) -> None:
    """Every fixture frame (start, after each step, next level's first) is procgen's, byte for
    byte."""
    bad = {lv["level"]: play_fixture(mode, lv) for lv in _fixtures()["modes"][mode]}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"{len(bad)} levels differ, e.g. {next(iter(bad.items()))}"
