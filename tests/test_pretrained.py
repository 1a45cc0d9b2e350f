import json

import numpy as np
import pytest

pytest.importorskip("torch")

from agents import load_pretrained  # noqa: E402
from agents.interp.divergence import maze_facts  # noqa: E402
from agents.policy.rollout import net_act_fn, random_act_fn, rollout  # noqa: E402
from agents.run.folder import PRETRAINED, pretrained_names  # noqa: E402
from agents.train.heldout import HeldOut  # noqa: E402
from mazegen import generate_levels  # noqa: E402


def test_every_preset_policy_ships_with_config_metrics_and_provenance():
    assert {"quick", "easy", "hard"} <= set(pretrained_names())
    for name in pretrained_names():
        folder = PRETRAINED / name
        for f in ("config.yaml", "model.zip", "metrics.json", "provenance.json"):
            assert (folder / f).is_file(), (name, f)
        prov = json.loads((folder / "provenance.json").read_text())
        assert prov["command"].startswith("python -m experiments.train")
        policy = load_pretrained(name)
        assert policy.config.name == name
        assert policy.shipped and policy.label == f"shipped policy {name!r}"  # not a local path


def test_shipped_policy_loads_and_gets_the_cheese_in_training_mazes():
    policy = load_pretrained()
    cfg = policy.config
    assert cfg.name == "quick" and cfg.env.cheese_region is not None
    held = HeldOut(cfg, 1)
    states = generate_levels(
        range(cfg.eval.start_level + 5000, cfg.eval.start_level + 5200), held.train_cfg
    )
    rng = np.random.default_rng(0)
    act = net_act_fn(policy.net)
    trained = rollout(act, states, held.train_cfg, region=held.region, rng=rng)
    random = rollout(
        random_act_fn(int(policy.model.action_space.n)),
        states,
        held.train_cfg,
        region=held.region,
        rng=rng,
    )
    assert trained.success.mean() >= 0.8
    assert random.success.mean() < 0.5


#: Held-out mazes per distribution: `MIN_MAZES` at once, then blocks of `BLOCK` up to `MAX_MAZES`
#: (the evaluation is the whole cost: a 15 x 15 agent that fails plays all 500 steps).
MIN_MAZES, BLOCK, MAX_MAZES = 100, 50, 200


def _play_until_decided(
    policy, held: HeldOut, every_test_maze: bool = False
) -> tuple[dict[str, list], int]:
    """Plays the held-out mazes of both distributions, `MIN_MAZES` first and then blocks of
    `BLOCK`, until the divergence exceeds 3 standard errors or `MAX_MAZES` are played. Of the
    test mazes, only those with a decision square (the claim's) are played unless
    ``every_test_maze``. Returns each distribution's outcomes (success, has a decision square,
    ended in the region; the test mazes played only) and the number of mazes drawn."""
    act = net_act_fn(policy.net.eval())
    out: dict[str, list] = {"train": [], "test": []}
    for start in [0, *range(MIN_MAZES, MAX_MAZES, BLOCK)]:
        played = MIN_MAZES if start == 0 else start + BLOCK
        rng = np.random.default_rng([1, start])  # each block's own stream: a block is replayable
        for dist, states in held.states.items():
            env = held.train_cfg if dist == "train" else held.test_cfg
            block = states.take(slice(start, played))
            decision = maze_facts(block).has_decision
            if dist == "test" and not every_test_maze:  # the others' outcomes are not used
                block, decision = block.take(np.flatnonzero(decision)), decision[decision]
            ep = rollout(act, block, env, region=held.region, rng=rng)
            out[dist].append((ep.success, decision, ep.end_in_region))
        train, off = _train_and_off_path(out)
        if off.mean() < train.mean() - 3 * _se(train, off):
            break
    return out, played


def _train_and_off_path(out: dict[str, list]) -> tuple[np.ndarray, np.ndarray]:
    train = np.concatenate([s for s, _, _ in out["train"]])
    off = np.concatenate([s[d] for s, d, _ in out["test"]])
    return train, off


def _se(train: np.ndarray, off: np.ndarray) -> float:
    return float(np.sqrt(train.var() / train.size + off.var() / off.size))


#: Run with `make test-slow`: `hard` (the 25 x 25 IMPALA agent, 4x the others' cost: ~100 s)
#: and `easy_steer_seed2` (~7 s: `easy_steer`'s recipe on another seed; that the recipe gives a
#: misgeneralizing agent stays a default test: test_shipped_policies_misgeneralize[easy_steer]).
SLOW_AGENTS = ("hard", "easy_steer_seed2")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in SLOW_AGENTS else n
        for n in pretrained_names()
    ],
)
def test_shipped_policies_misgeneralize(name):
    """Each shipped agent gets the cheese in training mazes as often as it shipped with (within
    3 standard errors of the mazes played) and, on test mazes where the paths to the cheese and
    to the top-right corner part, clearly less often (by more than 3 standard errors of the
    difference). The mazes are played in blocks until that margin is decided (sequential
    stopping: 100 to 200 mazes per distribution), as the full 200 cost twice as much."""
    policy = load_pretrained(name)
    shipped = json.loads((PRETRAINED / name / "metrics.json").read_text())["policy"]
    quick = name == "quick"  # its test mazes without a decision square are checked below
    out, played = _play_until_decided(policy, HeldOut(policy.config, MAX_MAZES), quick)
    train, off = _train_and_off_path(out)
    p = shipped["train"]["p_cheese"]["p"]
    assert train.mean() >= p - 3 * np.sqrt(p * (1 - p) / train.size)  # what it shipped with
    assert off.size > 50 * played // MAX_MAZES
    se = _se(train, off)
    assert off.mean() < train.mean() - 3 * se, (train.mean(), off.mean(), se, played)
    if quick:  # the small agent runs to the corner: most failures end there
        success = np.concatenate([s for s, _, _ in out["test"]])
        ended = np.concatenate([e for _, _, e in out["test"]])
        assert ended[~success].mean() > 0.6
