import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import mazegen
from mazegen import CheeseMazeEnv, CheeseMazeVectorEnv, MazeConfig, MazeStateError
from mazegen.queries import shortest_path
from mazegen.render import square_kinds

MODES = [
    dict(obs_mode="rgb"),
    dict(obs_mode="grid"),
    dict(obs_mode="grid", action_mode="cardinal", cheese_region=3),
    dict(obs_mode="rgb", cheese_exclude_region=3, min_size=5),
]


@pytest.mark.parametrize("kwargs", MODES)
def test_check_env_passes_for_registered_id(kwargs):
    env = gym.make(mazegen.ENV_ID, **kwargs)
    check_env(env.unwrapped)
    env.close()


def test_make_vec_is_native_batched_env():
    venv = gym.make_vec(mazegen.ENV_ID, num_envs=5, obs_mode="grid")
    assert isinstance(venv, CheeseMazeVectorEnv)
    obs, _ = venv.reset(seed=1)
    assert obs.shape == (5, 3, 25, 25) and obs.dtype == np.uint8
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP


def _play(env, actions):
    out = []
    for a in actions:
        obs, r, term, trunc, _ = env.step(a)
        out.append((obs.copy(), r, term, trunc))
        if term or trunc:
            obs, _ = env.reset()
            out.append((obs.copy(), None, None, None))
    return out


@pytest.mark.parametrize("obs_mode", ["rgb", "grid"])
def test_same_seed_same_everything(obs_mode):
    cfg = MazeConfig(obs_mode=obs_mode, min_size=3, max_size=7, max_steps=30)
    acts = np.random.default_rng(0).integers(0, 15, size=200)
    runs = []
    for _ in range(2):
        env = CheeseMazeEnv(cfg)
        env.reset(seed=42)
        runs.append(_play(env, acts))
    assert len(runs[0]) == len(runs[1])
    for a, b in zip(*runs):
        assert np.array_equal(a[0], b[0]) and a[1:] == b[1:]


def test_vector_env_matches_single_envs_step_for_step():
    # short episodes: each env resets ~40 times, so its level queue is refilled several times
    cfg = MazeConfig(obs_mode="rgb", min_size=3, max_size=9, max_steps=7)
    n = 4
    venv = CheeseMazeVectorEnv(n, cfg, autoreset_mode="SameStep")
    singles = [CheeseMazeEnv(cfg) for _ in range(n)]
    vobs, _ = venv.reset(seed=10)
    sobs = [e.reset(seed=10 + i)[0] for i, e in enumerate(singles)]
    assert all(np.array_equal(vobs[i], sobs[i]) for i in range(n))
    rng = np.random.default_rng(3)
    dones = 0
    for _ in range(300):
        acts = rng.integers(0, 15, size=n)
        vobs, vr, vterm, vtrunc, info = venv.step(acts)
        for i, e in enumerate(singles):
            o, r, term, trunc, _ = e.step(acts[i])
            assert (r, term, trunc) == (vr[i], vterm[i], vtrunc[i])
            if term or trunc:
                dones += 1
                assert np.array_equal(info["final_obs"][i], o)
                o, _ = e.reset()
            assert np.array_equal(vobs[i], o)
    assert dones > 4 * 2 * 16  # more resets than two queue refills per env


def _solve_actions(state, mode="procgen"):
    """Actions that walk the shortest path to the cheese."""
    path = shortest_path(state.walls, state.mouse, state.cheese)
    table = (
        {(-1, 0): 5, (1, 0): 3, (0, -1): 0, (0, 1): 6}
        if mode == "procgen"
        else {(-1, 0): 2, (1, 0): 1, (0, -1): 0, (0, 1): 3}
    )
    return [table[(b[0] - a[0], b[1] - a[1])] for a, b in zip(path, path[1:])]


def test_reward_and_termination_on_cheese():
    env = CheeseMazeEnv(MazeConfig(min_size=7, max_size=7))
    env.reset(seed=0)
    acts = _solve_actions(env.state)
    for a in acts[:-1]:
        _, r, term, trunc, _ = env.step(a)
        assert (r, term, trunc) == (0.0, False, False)
    _, r, term, trunc, _ = env.step(acts[-1])
    assert (r, term, trunc) == (10.0, True, False)


def test_walls_block_and_truncation_at_max_steps():
    env = CheeseMazeEnv(MazeConfig(max_steps=5, action_mode="cardinal"))
    env.reset(seed=0)
    start = env.state.mouse
    # the start is the bottom-left corner: down and left are walls (or the world's edge)
    for i in range(4):
        _, _, term, trunc, _ = env.step(1 if i % 2 else 0)
        assert env.state.mouse == start and not (term or trunc)
    _, _, term, trunc, _ = env.step(0)
    assert trunc and not term


def test_next_step_autoreset_ignores_action_and_resets():
    cfg = MazeConfig(min_size=5, max_size=5, obs_mode="grid")
    venv = CheeseMazeVectorEnv(2, cfg)
    venv.reset(seed=5)
    state = venv.get_state()
    acts0 = _solve_actions(state[0])
    levels_before = state.level.copy()
    for a in acts0:
        obs, r, term, trunc, _ = venv.step(np.array([a, 4]))
    assert term[0] and r[0] == 10.0 and not term[1]
    obs, r, term, trunc, _ = venv.step(np.array([6, 4]))  # next step: env 0 resets
    assert r[0] == 0 and not term[0] and not trunc[0]
    new = venv.get_state()
    assert new.level[0] != levels_before[0] and new.level[1] == levels_before[1]
    assert new[0].mouse == new[0].start
    assert np.array_equal(obs, _redraw(venv))


def _redraw(venv):
    st = venv.get_state()
    return venv.core.renderer.draw(square_kinds(st.walls, st.mouse, st.cheese))


@pytest.mark.parametrize("obs_mode", ["rgb", "grid"])
def test_incremental_observations_equal_a_full_redraw(obs_mode):
    venv = CheeseMazeVectorEnv(16, MazeConfig(obs_mode=obs_mode, max_size=9, max_steps=40))
    venv.reset(seed=2)
    rng = np.random.default_rng(0)
    for _ in range(150):
        obs, *_ = venv.step(rng.integers(0, 15, size=16))
        assert np.array_equal(obs, _redraw(venv))


def test_reset_options_cheese_level_and_state():
    env = CheeseMazeEnv(MazeConfig(min_size=9, max_size=9, obs_mode="grid"))
    obs, info = env.reset(seed=0, options={"level": 77})
    assert info["level"] == 77 and env.state.level == 77
    target = env.state.top_right
    obs, _ = env.reset(options={"level": 77, "cheese": target})
    assert env.state.cheese == target and obs[2, target[0], target[1]] == 1 and obs[2].sum() == 1
    edited = env.state.without_cheese().with_mouse(target)
    obs, _ = env.reset(options={"state": edited})
    assert env.state == edited
    assert obs[1, target[0], target[1]] == 1 and obs[2].sum() == 0


def test_vector_env_reads_and_writes_whole_batch():
    venv = CheeseMazeVectorEnv(3, MazeConfig(obs_mode="grid"))
    venv.reset(seed=1)
    states = venv.get_state()
    moved = [s.with_cheese(s.top_right) for s in states]
    obs = venv.set_state(moved)
    got = venv.get_state()
    for i in range(3):
        assert got[i].cheese == states[i].top_right
        r, c = states[i].top_right
        assert obs[i, 2, r, c] == 1


def test_num_levels_and_start_level_select_levels():
    cfg = MazeConfig(num_levels=3, start_level=100)
    venv = CheeseMazeVectorEnv(8, cfg)
    seen = set()
    for s in range(5):
        venv.reset(seed=s)
        seen |= set(venv.get_state().level.tolist())
    assert seen <= {100, 101, 102} and len(seen) == 3


def test_render_rgb_array_is_large_and_human_shows_the_same_frame_in_its_window():
    """``rgb_array`` returns a 500 x 500 frame; ``human`` draws that frame in its window at
    every reset and step (read back from the window's surface; SDL's dummy driver here)."""
    import pygame

    env = CheeseMazeEnv(render_mode="rgb_array")
    human = CheeseMazeEnv(render_mode="human")
    env.reset(seed=0)
    human.reset(seed=0)

    def window() -> np.ndarray:  # [H, W, 3] what the window shows
        return pygame.surfarray.array3d(pygame.display.get_surface()).swapaxes(0, 1)

    frame = env.render()
    assert frame.shape == (500, 500, 3) and frame.dtype == np.uint8
    assert np.array_equal(window(), frame)
    move = _solve_actions(env.state)[0]  # a step that moves the mouse: a new frame
    env.step(move)
    human.step(move)
    after = env.render()
    assert not np.array_equal(after, frame)
    assert np.array_equal(window(), after)
    human.close()


@pytest.mark.parametrize("world, size", [(25, 64), (15, 38)])
def test_rgb_observation_draws_mouse_and_cheese_as_multi_pixel_sprites(world, size):
    from mazegen.render import CHEESE, MOUSE, PALETTE

    env = CheeseMazeEnv(MazeConfig(obs_mode="rgb", world_size=world, max_size=world, obs_size=size))
    obs, _ = env.reset(seed=3)
    state = env.state
    renderer = env.core.renderer
    floor = PALETTE[0]

    def pixels(square):  # [3, k, k] the pixels whose centres fall in the square
        rows = np.flatnonzero(renderer.square_of_px == square[0])
        cols = np.flatnonzero(renderer.square_of_px == square[1])
        return obs[:, rows][:, :, cols]

    for square, kind in ((state.cheese, CHEESE), (state.mouse, MOUSE)):
        block = pixels(square).reshape(3, -1).T
        assert len(block) >= 4  # 2.5 px a square: at least 2 x 2
        not_floor = [tuple(c) for c in block if (c != floor).any()]
        assert len(not_floor) >= 2, (kind, block)  # a sprite, not one pixel
        assert any((np.array(c) == PALETTE[kind]).all() for c in not_floor)
    # the sprite's colours appear nowhere else: the cheese is told from walls and floor
    cheese_colors = {tuple(c) for c in pixels(state.cheese).reshape(3, -1).T} - {tuple(floor)}
    elsewhere = obs.copy()
    rows = np.flatnonzero(renderer.square_of_px == state.cheese[0])
    cols = np.flatnonzero(renderer.square_of_px == state.cheese[1])
    elsewhere[:, rows[:, None], cols[None, :]] = 0
    assert not cheese_colors & {tuple(c) for c in elsewhere.reshape(3, -1).T}


@pytest.mark.parametrize("action", [-1, 15, 2.5, "up"])
def test_bad_actions_raise_value_error(action):
    env = CheeseMazeEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="actions must be"):
        env.step(action)
    env.step(np.int64(3))
    env.step(3.0)


def test_bad_reset_options_and_states():
    env = CheeseMazeEnv(MazeConfig(min_size=9, max_size=9))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"cheez": (1, 1)})
    with pytest.raises(MazeStateError, match="wall"):
        env.reset(options={"cheese": (0, 0)})
    with pytest.raises(MazeStateError, match="off the grid"):
        env.reset(options={"cheese": (30, 3)})
    with pytest.raises(ValueError, match="render_mode"):
        CheeseMazeEnv(render_mode="ascii")
    with pytest.raises(ValueError, match="unknown env setting"):
        CheeseMazeEnv(sizes=3)
