"""The study's first measurement: P(cheese) on held-out mazes of both distributions, and on
test mazes with a decision square."""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.interp.activations import Setting, play
from agents.interp.study.agent import Agent
from agents.policy.metrics import rate
from agents.policy.rollout import net_act_fn
from mazegen import generate_levels
from mazegen.queries import has_decision_square


def behaviour(agent: Agent, mazes: int) -> dict[str, Any]:
    """P(cheese) on ``mazes`` held-out mazes of the training and the test distribution, and on
    the test mazes with a decision square."""
    levels = range(agent.behaviour_start, agent.behaviour_start + mazes)
    act = net_act_fn(agent.net, agent.net.device)
    out: dict[str, Any] = {}
    rng = np.random.default_rng(0)
    for dist, env in (("train", agent.env), ("test", agent.test_env)):
        states = generate_levels(levels, env)
        ep = play(act, states, Setting(env, agent.env.eval_region, rng))
        out[dist] = rate(ep.success)
        if dist == "test":
            out["test_decision_square"] = rate(ep.success[has_decision_square(states)])
    return out
