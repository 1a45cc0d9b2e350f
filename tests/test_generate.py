import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mazegen import (
    MazeBatch,
    MazeConfig,
    MazeConfigError,
    generate,
    generate_levels,
    is_tree,
    level_rng,
)
from mazegen.queries import distances

odd = st.integers(1, 12).map(lambda k: 2 * k + 1)


@st.composite
def configs(draw):
    lo = draw(odd)
    hi = draw(odd.filter(lambda s: s >= lo))
    w = draw(odd.filter(lambda s: s >= hi))
    region = draw(st.one_of(st.none(), st.integers(1, 30)))
    return MazeConfig(world_size=w, min_size=lo, max_size=hi, cheese_region=region)


@settings(max_examples=60, deadline=None)
@given(configs(), st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=6))
def test_mazes_are_trees_with_reachable_cheese_in_region(cfg, levels):
    batch = generate_levels(levels, cfg)
    for state in batch:
        s, o = state.inner_size, state.offset
        assert cfg.min_size <= s <= cfg.max_size and s % 2 == 1
        assert is_tree(state.walls)
        # everything outside the inner maze is wall
        inside = np.zeros_like(state.walls)
        inside[o : o + s, o : o + s] = True
        assert state.walls[~inside].all()
        assert state.mouse == state.start == (o + s - 1, o)
        assert state.cheese is not None and state.cheese != state.start
        assert distances(state.walls, state.mouse)[state.cheese] > 0
        if cfg.cheese_region is not None:
            assert state.in_region(state.cheese, cfg.cheese_region)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(0, 10**6))
def test_exclude_region_puts_cheese_outside(n, level):
    cfg = MazeConfig(
        min_size=2 * n + 1 if 2 * n + 1 > n else n + 2, max_size=25, cheese_exclude_region=n
    )
    state = generate_levels([level], cfg)[0]
    assert not state.in_region(state.cheese, n)
    assert state.cheese != state.start


def test_region_one_is_the_corner():
    cfg = MazeConfig(cheese_region=1)
    for state in generate_levels(range(20), cfg):
        assert state.cheese == state.top_right


def test_level_is_independent_of_batch_and_cheese_mode():
    levels = [3, 99, 12345]
    together = generate_levels(levels, MazeConfig(cheese_region=5))
    anywhere = generate_levels(levels, MazeConfig())
    for i, level in enumerate(levels):
        alone = generate_levels([level], MazeConfig(cheese_region=5))[0]
        assert alone == together[i]
        # same maze layout whatever the cheese distribution
        assert np.array_equal(anywhere[i].walls, together[i].walls)


def test_generate_is_a_pure_function_of_the_generator():
    cfg = MazeConfig(min_size=9, max_size=15)
    a = generate(np.random.default_rng(7), cfg)
    b = generate(np.random.default_rng(7), cfg)
    c = generate(np.random.default_rng(8), cfg)
    assert a == b
    assert a != c
    assert generate(level_rng(5), cfg, level=5) == generate_levels([5], cfg)[0]


def test_sizes_cover_the_odd_range_uniformly():
    cfg = MazeConfig(min_size=3, max_size=25)
    sizes = generate_levels(range(1300), cfg).inner_size
    counts = np.bincount(sizes, minlength=26)[3::2]
    assert (counts > 0).all()
    assert counts.min() > 0.6 * counts.mean()


@pytest.mark.parametrize(
    "cfg",
    [
        MazeConfig(min_size=5, max_size=5, world_size=5, cheese_region=3),
        MazeConfig(min_size=5, max_size=9, world_size=9, cheese_region=3),
    ],
    ids=["5x5", "9x9"],
)
def test_cheese_is_uniform_over_region_squares(cfg):
    """In each maze the cheese is on one of the open squares of its top-right region (the start
    excluded), each equally likely: among the mazes with k such squares, the cheese's index in
    reading order passes a chi-square test of uniformity (p > 1e-4 for the sum over k)."""
    batch = generate_levels(range(4000), cfg)
    region = batch.region_mask(cfg.cheese_region) & ~batch.walls  # [N, W, W]
    region[np.arange(batch.num), batch.mouse[:, 0], batch.mouse[:, 1]] = False
    assert region[np.arange(batch.num), batch.cheese[:, 0], batch.cheese[:, 1]].all()
    k = region.reshape(batch.num, -1).sum(axis=1)
    flat = batch.cheese[:, 0] * cfg.world_size + batch.cheese[:, 1]
    index = np.array([r.reshape(-1)[:f].sum() for r, f in zip(region, flat)])  # in reading order
    stat, dof = 0.0, 0
    for size in np.unique(k):
        counts = np.bincount(index[k == size], minlength=size)
        expected = counts.sum() / size
        if expected < 10:  # too few mazes with this many squares for the approximation
            continue
        stat += float(((counts - expected) ** 2 / expected).sum())
        dof += int(size) - 1
    assert dof >= 4
    # the chi-square distribution's upper 1e-4 quantile (Wilson-Hilferty approximation)
    z = 3.719
    bound = dof * (1 - 2 / (9 * dof) + z * np.sqrt(2 / (9 * dof))) ** 3
    assert stat < bound, (stat, bound, dof)


def test_procgen_like_mazes_have_branching():
    # Kruskal mazes branch a lot: many dead ends, unlike a DFS corridor
    state = generate_levels([1], MazeConfig(min_size=25))[0]
    open_ = ~state.walls
    pad = np.pad(open_, 1)
    degree = pad[:-2, 1:-1].astype(int) + pad[2:, 1:-1] + pad[1:-1, :-2] + pad[1:-1, 2:]
    dead_ends = int(((degree == 1) & open_).sum())
    assert dead_ends > 20


@pytest.mark.parametrize(
    "bad",
    [
        dict(min_size=4),
        dict(max_size=27),
        dict(world_size=24),
        dict(min_size=9, max_size=7),
        dict(min_size=1),
        dict(cheese_region=0),
        dict(obs_mode="pixels"),
        dict(action_mode="wasd"),
        dict(cheese_region=2, cheese_exclude_region=2),
        dict(cheese_exclude_region=3),
        dict(max_steps=0),
        dict(num_levels=-1),
        dict(obs_size=10),
        dict(min_size="5"),
    ],
)
def test_bad_configs_raise_one_line_value_errors(bad):
    with pytest.raises(ValueError) as e:
        MazeConfig(**bad)
    assert "\n" not in str(e.value) and len(str(e.value)) < 200


class _Largest:
    """A generator stub that always draws the largest value it is allowed."""

    def integers(self, n):
        return n - 1


@settings(max_examples=300, deadline=None)
@given(
    start=st.one_of(st.integers(0, 2**32), st.integers(2**31 - 50, 2**31 + 50)),
    num=st.one_of(st.integers(0, 2**32), st.integers(0, 100)),
)
def test_no_training_config_draws_a_held_out_level(start, num):
    """Whatever start_level / num_levels say, the env's levels lie below HELD_OUT_START, and a
    training config whose eval levels overlap its training levels is refused."""
    from mazegen.levels import HELD_OUT_START, draw_training_level, training_levels

    try:
        cfg = MazeConfig(
            world_size=5, min_size=3, max_size=5, obs_mode="grid", start_level=start, num_levels=num
        )
    except MazeConfigError as e:
        first, end = training_levels(start, num)
        assert first >= HELD_OUT_START or end > HELD_OUT_START, e
        return
    highest = draw_training_level(_Largest(), cfg.start_level, cfg.num_levels)
    assert cfg.start_level <= highest < HELD_OUT_START
    batch = MazeBatch(8, cfg)
    _, info = batch.reset(seed=start % 1000)
    assert (info["level"] < HELD_OUT_START).all() and (info["level"] >= cfg.start_level).all()
    pytest.importorskip("omegaconf")
    from agents.settings.base import ConfigError
    from agents.settings.train import TrainConfig, validate

    _, end = training_levels(cfg.start_level, cfg.num_levels)
    for eval_start in (end - 1, end, HELD_OUT_START):
        train_cfg = TrainConfig(env=cfg)
        train_cfg.eval.start_level = eval_start
        if eval_start < end:
            with pytest.raises(ConfigError, match="held-out mazes are never trained on"):
                validate(train_cfg)
        else:
            validate(train_cfg)
