import json
from dataclasses import fields

import numpy as np
import pytest

pytest.importorskip("torch")

from agents import load_pretrained  # noqa: E402
from agents.interp.divergence import maze_facts  # noqa: E402
from agents.policy.rollout import net_act_fn, random_act_fn, rollout  # noqa: E402
from agents.run.folder import PRETRAINED, pretrained_names  # noqa: E402
from agents.train.heldout import HeldOut  # noqa: E402
from mazegen import generate_levels  # noqa: E402
from mazegen.state import BatchState  # noqa: E402


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


#: Held-out mazes: at least `MIN_TRAIN` training mazes, and test mazes drawn up to each of `LOOKS`
#: in turn (the evaluation is the whole cost: a 15 x 15 agent that fails plays all 500 steps).
#: The training mazes start at 100 whatever the look: the first assertion (train success as
#: shipped, within 3 standard errors) is never made on fewer than before.
MIN_TRAIN, LOOKS = 100, (75, 100, 150, 200)
MAX_MAZES = LOOKS[-1]

#: The divergence must exceed `Z` standard errors at one of the `LOOKS`. Four looks at 3.17 SE
#: (Bonferroni: 4 x P(Z > 3.17) = 0.0031) are no more likely to pass an agent that does not
#: misgeneralize than the looks this test made before (3 SE at 100, 150 and 200 mazes: 0.0031
#: for those correlated looks, 0.0040 by Bonferroni).
Z = 3.17

#: The settings in which the test distribution differs from the training one
#: (`MazeConfig.test_distribution`): they only generate mazes, so the training and the test
#: mazes of a block are played in one batch and the failures' 500-step tails are shared.
_GENERATION = {"cheese_region", "cheese_exclude_region", "min_size"}


def _play_until_decided(
    policy, held: HeldOut, every_test_maze: bool = False
) -> tuple[dict[str, list], int]:
    """Plays the held-out mazes of both distributions in blocks (test mazes up to each of
    `LOOKS`, training mazes up to the same count but at least `MIN_TRAIN`) until the divergence
    exceeds `Z` standard errors or `MAX_MAZES` test mazes are drawn. Of the test mazes, only
    those with a decision square (the claim's) are played unless ``every_test_maze`` (then the
    first block draws `MIN_TRAIN` test mazes, as many as the claim about their failures had).
    Returns each distribution's outcomes (success, has a decision square, ended in the region;
    the test mazes played only) and the number of test mazes drawn."""
    train_cfg, test_cfg = held.train_cfg, held.test_cfg
    differ = {
        f.name for f in fields(train_cfg) if getattr(train_cfg, f.name) != getattr(test_cfg, f.name)
    }
    assert differ <= _GENERATION, f"the distributions also differ in {differ - _GENERATION}"
    act = net_act_fn(policy.net.eval())
    out: dict[str, list] = {"train": [], "test": []}
    looks = [n for n in LOOKS if n >= MIN_TRAIN] if every_test_maze else LOOKS
    bounds = {"train": 0, "test": 0}
    for look, drawn in enumerate(looks):
        blocks, decisions = [], []
        for dist, states in held.states.items():
            upto = max(drawn, MIN_TRAIN) if dist == "train" else drawn
            block = states.take(slice(bounds[dist], upto))
            bounds[dist] = upto
            decision = maze_facts(block).has_decision
            if dist == "test" and not every_test_maze:  # the others' outcomes are not used
                block, decision = block.take(np.flatnonzero(decision)), decision[decision]
            blocks.append(block)
            decisions.append(decision)
        rng = np.random.default_rng([1, look])  # each block's own stream: a block is replayable
        both = BatchState.concat(blocks)
        ep = rollout(act, both, train_cfg, region=held.region, rng=rng)
        n = blocks[0].num
        for dist, part, decision in (
            ("train", slice(0, n), decisions[0]),
            ("test", slice(n, both.num), decisions[1]),
        ):
            out[dist].append((ep.success[part], decision, ep.end_in_region[part]))
        train, off = _train_and_off_path(out)
        if off.mean() < train.mean() - Z * _se(train, off):
            break
    return out, drawn


def _train_and_off_path(out: dict[str, list]) -> tuple[np.ndarray, np.ndarray]:
    train = np.concatenate([s for s, _, _ in out["train"]])
    off = np.concatenate([s[d] for s, d, _ in out["test"]])
    return train, off


def _se(train: np.ndarray, off: np.ndarray) -> float:
    return float(np.sqrt(train.var() / train.size + off.var() / off.size))


#: Run with `make test-slow`: `easy_steer_seed2` (`easy_steer`'s recipe on another seed, 1.6 s
#: on the Zen 3 EPYC: a repetition; that the recipe gives a misgeneralizing agent stays a
#: default test: test_shipped_policies_misgeneralize[easy_steer]). `hard` (the 25 x 25 IMPALA
#: agent, 11 s before the rollout memo, 3.0 s with it) is a claim of its own and runs by default.
SLOW_AGENTS = ("easy_steer_seed2",)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in SLOW_AGENTS else n
        for n in pretrained_names()
    ],
)
def test_shipped_policies_misgeneralize(name):
    """Each shipped agent gets the cheese in training mazes as often as it shipped with (within
    3 standard errors of the mazes played, 100 or more) and, on test mazes where the paths to
    the cheese and to the top-right corner part, clearly less often (by more than `Z` standard
    errors of the difference). The mazes are played in blocks until that margin is decided
    (sequential stopping: 75 to 200 test mazes drawn), as the full 200 cost several times as
    much."""
    policy = load_pretrained(name)
    shipped = json.loads((PRETRAINED / name / "metrics.json").read_text())["policy"]
    quick = name == "quick"  # its test mazes without a decision square are checked below
    out, played = _play_until_decided(policy, HeldOut(policy.config, MAX_MAZES), quick)
    train, off = _train_and_off_path(out)
    p = shipped["train"]["p_cheese"]["p"]
    assert train.mean() >= p - 3 * np.sqrt(p * (1 - p) / train.size)  # what it shipped with
    assert off.size > 50 * played // MAX_MAZES
    se = _se(train, off)
    assert off.mean() < train.mean() - Z * se, (train.mean(), off.mean(), se, played)
    if quick:  # the small agent runs to the corner: most failures end there
        success = np.concatenate([s for s, _, _ in out["test"]])
        ended = np.concatenate([e for _, _, e in out["test"]])
        assert ended[~success].mean() > 0.6


def test_a_pure_policy_is_computed_once_per_maze_and_observation_with_the_same_episodes():
    """`rollout` memoizes a `pure` act_fn: a shipped policy played on held-out test mazes (where
    its failures wander until the time-out) gives the same episodes, step for step, as the same
    policy unmarked (called for every active maze at every step), from far fewer forward rows;
    and two interventions stacked on one network (the same maze at rows i and n + i, their first
    observations identical) keep their own outcomes, so the memo tells mazes by their index."""
    from agents.interp.activations import patched_act_fn, stack_acts
    from agents.interp.patches import zero
    from agents.policy.rollout import is_pure

    policy = load_pretrained("easy")
    net = policy.net.eval()
    held = HeldOut(policy.config, 24)
    states = held.states["test"]
    rows: list[int] = []
    counter = net.register_forward_pre_hook(lambda _, args: rows.append(len(args[0])))
    hook = net.default_hook
    # rows [0, n): no patch; [n, 2n): the default layer zeroed (the mouse wanders)
    stacked = stack_acts(
        [patched_act_fn(net, lambda idx: {}), patched_act_fn(net, lambda idx: {hook: zero()})],
        states.num,
    )
    both = BatchState.concat([states, states])
    played = {}
    try:
        for name, act in (("memo", stacked), ("plain", lambda obs, idx: stacked(obs, idx))):
            assert is_pure(act) == (name == "memo")
            rows.clear()
            ep = rollout(
                act,
                both,
                held.train_cfg,
                region=held.region,
                rng=np.random.default_rng(3),
                max_steps=200,
            )
            played[name] = (ep, sum(rows))
    finally:
        counter.remove()
    (memo, memo_rows), (plain, plain_rows) = played["memo"], played["plain"]
    for field in ("success", "steps", "end_square", "visited_region"):
        assert np.array_equal(getattr(memo, field), getattr(plain, field)), field
    assert plain_rows == plain.steps.sum()  # unmarked: every active maze at every step
    assert memo_rows < 0.5 * plain_rows, (memo_rows, plain_rows)
    n = states.num  # the zeroed layer changes the outcomes: the halves differ
    assert not np.array_equal(memo.steps[:n], memo.steps[n:])
