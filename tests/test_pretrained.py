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


# `hard` (the 25 x 25 IMPALA agent, 4x the others' cost: ~100 s) runs with `make test-slow`
@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n == "hard" else n for n in pretrained_names()],
)
def test_shipped_policies_misgeneralize(name):
    """Each shipped agent gets the cheese in training mazes as often as it shipped with and, on
    test mazes where the paths to the cheese and to the top-right corner part, clearly less
    often (by more than 3 standard errors of the difference)."""
    policy = load_pretrained(name)
    shipped = json.loads((PRETRAINED / name / "metrics.json").read_text())["policy"]
    held = HeldOut(policy.config, 200)
    ep = held.run(policy.net, seed=1)
    train = ep["train"].success
    p = shipped["train"]["p_cheese"]["p"]
    assert train.mean() >= p - 3 * np.sqrt(p * (1 - p) / train.size)  # what it shipped with
    off_path = maze_facts(ep["test"].states).has_decision
    off = ep["test"].success[off_path]
    assert off.size > 50
    se = np.sqrt(train.var() / train.size + off.var() / off.size)
    assert off.mean() < train.mean() - 3 * se, (train.mean(), off.mean(), se)
    if name == "quick":  # the small agent runs to the corner: most failures end there
        failures = ~ep["test"].success
        assert ep["test"].end_in_region[failures].mean() > 0.6
