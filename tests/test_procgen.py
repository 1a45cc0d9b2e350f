"""The procgen-faithful mode against procgen itself (fixtures written by
``experiments/procgen_fixtures.py`` from procgen 0.10.7): levels, start frames, frames after
scripted steps and the first frame of the next level, easy and hard."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from mazegen import (
    PROCGEN_ENV_ID,
    MazeBatch,
    MazeConfig,
    MazeConfigError,
    ProcgenTexturesMissing,
    shortest_path,
)
from mazegen.batch import Autoreset
from mazegen.levels import PROCGEN_HELD_OUT_START, training_levels
from mazegen.procgen_levels import _mt_batch, background_of, mt19937_outputs, procgen_level
from mazegen.procgen_render import ProcgenObs
from mazegen.procgen_textures import ENV_VAR, cache_dir, textures_available

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


def replay(mode: str, lv: dict) -> list[np.ndarray]:
    """Our frames ``[3, 64, 64]`` of one fixture level replayed in a procgen-mode env: the
    start, after each step, and (the last) the next level's first frame."""
    w = WORLD[mode]
    env = MazeBatch(1, MazeConfig(world_size=w, max_size=w, procgen=True), Autoreset.SAME_STEP)
    obs, _ = env.reset(seed=0, options={"level": lv["level"]})
    frames = [obs[0]]
    for k, a in enumerate(lv["actions"]):
        obs, reward, terminated, _, _ = env.step(np.array([a]))
        if k == len(lv["actions"]) - 1:
            assert terminated[0] and reward[0] == 10.0, (mode, lv["level"])
            obs, _ = env.reset(options={"level": lv["next_level"]})
        frames.append(obs[0])
    return frames


def replay_hashes(mode: str, levels: list[dict]) -> list[list[str]]:
    """The hashes of `replay`'s frames of every fixture level, the levels played side by side
    in one batch (one level generation for all of them instead of three per level, 2.5 s a
    mode): env ``i`` plays level ``i``'s script (the same frames: the start, after each step,
    the next level's first), each env finishing at its own script's end, where its reward is
    10 and not before. Envs whose script is over repeat its last action; their frames are not
    kept, and all envs are then reset to their next levels at once."""
    w = WORLD[mode]
    cfg = MazeConfig(world_size=w, max_size=w, procgen=True)
    env = MazeBatch(len(levels), cfg, Autoreset.DISABLED)
    obs, _ = env.reset(seed=0, options={"level": [lv["level"] for lv in levels]})
    hashes = [[frame_hash(o)] for o in obs]
    last = [len(lv["actions"]) - 1 for lv in levels]
    for k in range(max(last) + 1):
        actions = np.array([lv["actions"][min(k, end)] for lv, end in zip(levels, last)])
        obs, reward, terminated, _, _ = env.step(actions)
        for i, end in enumerate(last):
            if k < end:
                assert not terminated[i], (mode, levels[i]["level"], k)
                hashes[i].append(frame_hash(obs[i]))
            elif k == end:
                assert terminated[i] and reward[i] == 10.0, (mode, levels[i]["level"])
    obs, _ = env.reset(options={"level": [lv["next_level"] for lv in levels]})
    for h, o in zip(hashes, obs):
        h.append(frame_hash(o))
    return hashes


def test_mt19937_is_std_mt19937() -> None:
    # the C++ standard's check value: the 10000th output of a default-seeded std::mt19937
    assert mt19937_outputs(5489, 10000)[-1] == 4123659995
    # the batched seeding and twist the level queue uses give the same outputs
    seeds = [5489, 0, 1, 77, 2**31 - 2, 2**32 - 1]
    batch = _mt_batch(seeds, blocks=2)
    for i, seed in enumerate(seeds):
        np.testing.assert_array_equal(batch[i], mt19937_outputs(seed, 2 * 624))


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
    levels = _fixtures()["modes"][mode]
    bad = {}
    for lv, ours in zip(levels, replay_hashes(mode, levels), strict=True):
        assert len(ours) == len(lv["frames"]), lv["level"]
        differ = [(i, a, b) for i, (a, b) in enumerate(zip(ours, lv["frames"])) if a != b]
        if differ:  # (frame index, our hash, procgen's)
            bad[lv["level"]] = differ
    assert not bad, f"{len(bad)} levels differ, e.g. {next(iter(bad.items()))}"


# ---- behaviour beyond the fixtures --------------------------------------------------------------
def _procgen_batch(n: int = 1, **kw: object) -> MazeBatch:
    auto = kw.pop("autoreset", Autoreset.DISABLED)
    return MazeBatch(n, MazeConfig(procgen=True, **kw), autoreset=auto)  # type: ignore[arg-type]


@needs_textures
def test_mouse_mirrors_on_right_and_redraws_after_edits() -> None:
    """A move right (even into a wall) mirrors the mouse, a move left turns it back, a no-op
    keeps it; moving the cheese or the mouse redraws the frame as a fresh draw of the state."""
    env = _procgen_batch(1)
    obs, _ = env.reset(seed=0, options={"level": 1234})
    renderer = env.renderer
    assert isinstance(renderer, ProcgenObs)

    def drawn(mirrored: bool) -> np.ndarray:
        st = env.get_state()
        return renderer.draw(st, background_of(st.level), np.array([mirrored]))[0]

    np.testing.assert_array_equal(obs[0], drawn(False))
    for action, mirrored in ((6, True), (4, True), (9, True), (0, False), (8, True), (1, False)):
        obs, *_ = env.step(np.array([action]))
        np.testing.assert_array_equal(obs[0], drawn(mirrored), err_msg=f"action {action}")
        assert not np.array_equal(obs[0], drawn(not mirrored))
    state = env.get_state()
    free = np.argwhere(~state.walls[0])
    spot = next(
        tuple(sq) for sq in free if tuple(sq) not in (tuple(state.mouse[0]), tuple(state.cheese[0]))
    )
    before = obs[0].copy()
    obs = env.set_state(state.placed(cheese=np.array([spot])))
    np.testing.assert_array_equal(obs[0], drawn(False))
    assert not np.array_equal(obs[0], before)
    obs = env.set_state(state.placed(mouse=np.array([spot])))
    np.testing.assert_array_equal(obs[0], drawn(False))


@needs_textures
def test_cheese_reached_shows_the_next_levels_first_frame() -> None:
    """Same-step autoreset (procgen's): the step that eats the cheese returns the next level's
    start frame, mouse unmirrored, reward 10."""
    env = _procgen_batch(
        1, cheese_region=1, autoreset=Autoreset.SAME_STEP, world_size=15, max_size=15
    )
    env.reset(seed=3, options={"level": 77})
    state = env.get_state()[0]
    path = shortest_path(state.walls, state.mouse, state.cheese)
    actions = {(0, -1): 0, (1, 0): 3, (-1, 0): 5, (0, 1): 6}
    for a, b in zip(path, path[1:]):
        obs, reward, terminated, _, info = env.step(np.array([actions[(b[0] - a[0], b[1] - a[1])]]))
    assert terminated[0] and reward[0] == 10.0
    fresh = env.get_state()
    assert fresh.level[0] != 77 and tuple(fresh.mouse[0]) == fresh[0].start
    renderer = env.renderer
    assert isinstance(renderer, ProcgenObs)
    np.testing.assert_array_equal(obs[0], renderer.draw(fresh, background_of(fresh.level))[0])


def test_rand_region_places_as_procgen_aisc() -> None:
    """procgenAISC's rule (by construction from maze_aisc.cpp): the maze and background are
    vanilla's, the cheese is on an open square of the inner top-right n x n, never the start;
    n >= the maze size is vanilla's square set; with n = 1 most big mazes get no cheese."""
    none = 0
    for level in range(200):
        walls, size, vanilla, bg = procgen_level(level, 25, None)
        for n in (1, 3, 5, 30):
            w2, s2, cheese, bg2 = procgen_level(level, 25, n)
            assert s2 == size and bg2 == bg
            np.testing.assert_array_equal(w2, walls)
            if cheese is None:
                none += n == 1
                continue
            margin = (25 - size) // 2
            k = min(n, size)
            r, c = cheese
            assert not walls[r, c] and (r, c) != (25 - 1 - margin, margin)
            assert margin <= r < margin + k and margin + size - k <= c < margin + size
            if n == 1:
                assert (r, c) == (margin, margin + size - 1)
    assert none <= 4


def test_procgen_config_is_checked() -> None:
    for bad in (
        dict(obs_mode="grid"),
        dict(action_mode="cardinal"),
        dict(obs_size=96),
        dict(world_size=21, max_size=21),
        dict(min_size=5),
        dict(cheese_exclude_region=1, min_size=3),
        dict(start_level=PROCGEN_HELD_OUT_START),
    ):
        with pytest.raises(MazeConfigError) as e:
            MazeConfig(procgen=True, **bad)  # type: ignore[arg-type]
        assert "\n" not in str(e.value)
    cfg = MazeConfig(procgen=True, cheese_region=5)
    assert cfg.test_distribution().cheese_region is None  # procgen's vanilla maze
    assert cfg.held_out().procgen and cfg.held_out().start_level == 0
    assert training_levels(0, 0, procgen=True) == (0, PROCGEN_HELD_OUT_START)


@needs_textures
def test_training_levels_stay_below_the_held_out_range() -> None:
    env = _procgen_batch(64, autoreset=Autoreset.NEXT_STEP)
    _, info = env.reset(seed=0)
    assert (info["level"] < PROCGEN_HELD_OUT_START).all()

    class Largest:  # a generator that always draws the top of the range
        def integers(self, n: int) -> int:
            return n - 1

    assert env._draw_level(Largest()) == PROCGEN_HELD_OUT_START - 1  # type: ignore[arg-type]


@needs_textures
def test_registered_ids() -> None:
    env = gym.make(PROCGEN_ENV_ID)
    obs, info = env.reset(seed=0)
    assert obs.shape == (3, 64, 64) and env.unwrapped.config.world_size == 25
    easy = gym.make(PROCGEN_ENV_ID, distribution_mode="easy", rand_region=5)
    assert easy.unwrapped.config.world_size == 15 and easy.unwrapped.config.cheese_region == 5
    vec = gym.make_vec(PROCGEN_ENV_ID, num_envs=2, distribution_mode="easy")
    assert vec.reset(seed=0)[0].shape == (2, 3, 64, 64)
    assert vec.unwrapped.config.procgen and vec.unwrapped.config.world_size == 15
    with pytest.raises(MazeConfigError):
        gym.make(PROCGEN_ENV_ID, distribution_mode="memory")


def test_missing_or_altered_textures_name_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(ProcgenTexturesMissing, match="make procgen-textures") as e:
        ProcgenObs(25)
    assert "\n" not in str(e.value)
    monkeypatch.delenv(ENV_VAR)
    if not textures_available():
        pytest.skip("procgen textures not cached")
    for f in cache_dir().glob("*.npy"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    wall = np.load(tmp_path / "wall.npy")
    wall[0, 0, 0] ^= 1
    np.save(tmp_path / "wall.npy", wall)
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(ProcgenTexturesMissing, match="altered.*make procgen-textures"):
        ProcgenObs(25)


@pytest.mark.slow
def test_fixtures_regenerated_from_procgen(tmp_path: Path) -> None:
    """Runs procgen itself (``make peer-venv``) on fresh levels and compares every frame; on a
    mismatch, procgen's frame and ours are saved side by side in outputs/procgen-mismatch/."""
    python = ROOT / ".venv-procgen" / "bin" / "python"
    if not python.exists():
        pytest.skip("procgen's venv is missing (make peer-venv)")
    out, frames = tmp_path / "fx.json", tmp_path / "frames"
    cmd = [
        str(python),
        str(ROOT / "experiments" / "procgen_fixtures.py"),
        "--levels",
        "25",
        "--seed",
        "7",
        "--out",
        str(out),
        "--frames",
        str(frames),
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    fresh = json.loads(out.read_text())
    saved = ROOT / "outputs" / "procgen-mismatch"
    bad = []
    for mode, levels in fresh["modes"].items():
        for lv in levels:
            walls, size, cheese, _ = procgen_level(lv["level"], WORLD[mode], None)
            assert (size, cheese) == (lv["maze_dim"], tuple(lv["cheese"]))
            np.testing.assert_array_equal(walls, _walls(lv["walls"], WORLD[mode]))
            ours = replay(mode, lv)
            theirs = np.load(frames / f"{mode}_{lv['level']}.npy")
            for i, (a, b) in enumerate(zip(ours, theirs)):
                if not np.array_equal(a.transpose(1, 2, 0), b):
                    saved.mkdir(parents=True, exist_ok=True)
                    stem = f"{mode}_{lv['level']}_{i}"
                    np.save(saved / f"{stem}_procgen.npy", b)
                    np.save(saved / f"{stem}_ours.npy", a.transpose(1, 2, 0))
                    bad.append(stem)
    assert not bad, f"{len(bad)} frames differ from procgen's; both saved in {saved}"


def test_reset_frames_drawn_ahead_match_their_levels() -> None:
    """Frames of new levels are drawn ahead, batch by batch, when the level queue refills: every
    reset's first frame must be the one its own level draws (random play, same-step autoreset)."""
    from mazegen.batch import MazeBatch
    from mazegen.env import procgen_config
    from mazegen.render import observe

    cfg = procgen_config("easy")
    batch = MazeBatch(64, cfg, autoreset="SameStep")
    batch.reset(seed=3)
    acts = np.random.default_rng(1).integers(0, batch.num_actions, (1500, 64))
    resets = 0
    for t in range(1500):
        obs, _, _, _, info = batch.step(acts[t])
        if "final_index" in info:
            idx = info["final_index"]
            expected = observe(batch.get_state(idx), cfg)
            assert np.array_equal(np.asarray(expected), np.asarray(obs[idx])), f"step {t}"
            resets += len(idx)
    assert resets > 100  # many levels came from the queue
