import numpy as np
import pytest

pytest.importorskip("torch")

from agents import load_pretrained  # noqa: E402
from agents.analysis.divergence import maze_facts  # noqa: E402
from agents.callbacks import HeldOut  # noqa: E402
from agents.rollout import net_act_fn, random_act_fn, rollout  # noqa: E402
from agents.sb3 import maze_net  # noqa: E402
from mazegen import generate_levels  # noqa: E402


def test_shipped_policy_loads_and_gets_the_cheese_in_training_mazes():
    policy = load_pretrained()
    cfg = policy.config
    assert cfg.name == "quick" and cfg.env.cheese_region is not None
    held = HeldOut(cfg, 1)
    states = generate_levels(
        range(cfg.eval.start_level + 5000, cfg.eval.start_level + 5200), held.train_cfg
    )
    rng = np.random.default_rng(0)
    act = net_act_fn(maze_net(policy.model))
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


def test_shipped_policy_misgeneralizes():
    policy = load_pretrained()
    held = HeldOut(policy.config, 300)
    ep = held.run(policy.model, seed=1)
    train, test = ep["train"].success.mean(), ep["test"].success.mean()
    assert train > 0.85 and train - test > 0.2
    off_path = maze_facts(ep["test"].states).has_decision  # cheese off the path to the corner
    assert off_path.sum() > 100 and ep["test"].success[off_path].mean() < train - 0.4
    failures = ~ep["test"].success
    assert ep["test"].end_in_region[failures].mean() > 0.6  # most failures end in the top-right
