import json

import numpy as np
import pytest
from conftest import run_cli

pytest.importorskip("torch")

from agents.interp.divergence import evaluate_divergence, maze_facts  # noqa: E402
from agents.interp.regression import behavioural_regression  # noqa: E402
from agents.policy.metrics import rate, wilson  # noqa: E402
from agents.policy.scripted import oracle_act_fn, top_right_act_fn  # noqa: E402
from mazegen import MazeConfig, MazeState  # noqa: E402
from mazegen.state import BatchState  # noqa: E402

CFG = MazeConfig(
    world_size=9,
    min_size=5,
    max_size=9,
    cheese_region=2,
    obs_mode="grid",
    action_mode="cardinal",
    max_steps=100,
)


def test_oracle_gets_every_cheese_on_shortest_paths():
    r = evaluate_divergence(
        oracle_act_fn("cardinal"),
        CFG,
        2,
        episodes=60,
        start_level=10**6,
        divergence_mazes=5,
        resamples=5,
    )
    for name in ("train", "test", "paired_train", "paired_test"):
        assert r[name]["p_cheese"]["p"] == 1.0, name
        assert r[name]["ratio_steps_to_bfs"]["mean"] == pytest.approx(1.0)
        assert r[name]["p_timeout"]["p"] == 0.0
    assert r["test"]["decision_square"]["p_cheese"]["p"] == 1.0


def test_top_right_policy_never_gets_off_path_cheese():
    r = evaluate_divergence(
        top_right_act_fn("cardinal"),
        CFG,
        2,
        episodes=80,
        start_level=10**6,
        divergence_mazes=10,
        resamples=5,
    )
    dec = r["test"]["decision_subset"]
    assert dec["n"] > 20 and dec["p_cheese"]["p"] == 0.0
    ds = r["test"]["decision_square"]
    assert ds["n_reached"] == ds["n_decision_mazes"] > 20 and ds["p_top_right"]["p"] == 1.0
    assert r["test"]["p_end_in_region"]["p"] == pytest.approx(1 - r["test"]["p_cheese"]["p"])
    # the policy ignores the cheese: moving it changes no action distribution
    assert r["paired"]["action_divergence"]["tv_mean_over_squares"]["mean"] < 1e-6
    # ... while the oracle's actions do depend on it
    o = evaluate_divergence(
        oracle_act_fn("cardinal"),
        CFG,
        2,
        episodes=10,
        start_level=10**6,
        divergence_mazes=10,
        resamples=2,
    )
    assert o["paired"]["action_divergence"]["tv_mean_over_squares"]["mean"] > 0.1


HAND = """
.....
.####
..C##
.####
M....
"""


def test_hand_built_maze_facts():
    rows = HAND.split()
    walls = np.array([[ch == "#" for ch in row] for row in rows])
    s = MazeState(walls=walls, mouse=(4, 0), cheese=(2, 2), inner_size=5)
    f = maze_facts(BatchState.stack([s, s.with_cheese((0, 2))]))
    assert f.decision == [(2, 0), None]
    assert f.path_to_cheese.tolist() == [4, 6]
    assert f.dsq_to_cheese[0] == 2 and f.dsq_to_corner[0] == 6
    assert f.cheese_to_corner_path.tolist() == [8, 2]
    assert f.cheese_to_corner_euclid[0] == pytest.approx(np.hypot(2, 2))


def test_regression_recovers_planted_dependence():
    rng = np.random.default_rng(0)
    n = 800
    x1, x2, x3 = rng.normal(size=(3, n))
    y = rng.random(n) < 1 / (1 + np.exp(-(3 * x1 - 2 * x3)))
    r = behavioural_regression({"x1": x1, "x2": x2, "x3": x3}, y, resamples=30)
    c = r["coefficients"]
    assert c["x1"] > 1.0 and c["x3"] < -0.7 and abs(c["x2"]) < 0.3
    assert r["stability"]["x1"]["sign_agreement"] == 1.0
    assert r["cv_accuracy"] > r["base_rate"] + 0.1


def test_wilson_interval():
    lo, hi = wilson(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert rate(np.ones(10, bool))["hi"] == 1.0
    # the interval holds p exactly at 0 and at n successes (rounding once put 1.0 outside it)
    for n in range(1, 400):
        for k in (0, n):
            lo, hi = wilson(k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0, (k, n, lo, hi)


def evaluate_cli(*args):
    return run_cli("evaluate", *args)


def test_evaluate_cli_writes_report(tiny_run, tmp_path):
    out = evaluate_cli(
        f"run={tiny_run}",
        "episodes=60",
        "divergence_mazes=10",
        "resamples=5",
        f"out={tmp_path / 'ev'}",
    )
    assert out.returncode == 0, out.stderr
    assert "P(cheese)" in out.stdout and "paired_test" in out.stdout
    report = json.loads((tmp_path / "ev" / "eval.json").read_text())
    for key in ("train", "test", "paired_train", "paired_test", "paired", "regression", "schema"):
        assert key in report
    assert report["test"]["p_cheese"]["n"] == 60
    for png in ("p_cheese_vs_distance.png", "decision_square.png"):
        assert (tmp_path / "ev" / png).stat().st_size > 1000


@pytest.mark.parametrize(
    "args, message",
    [
        (["episodes=0"], "episodes must be >= 1"),
        (["run=/nonexistent/run"], "does not exist"),
        (["sweep=/nonexistent/sweep"], "does not exist"),
    ],
)
def test_evaluate_bad_input(args, message):
    out = evaluate_cli(*args)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_evaluate_run_without_model_and_empty_sweep(tmp_path, tiny_run):
    run = tmp_path / "nomodel"
    run.mkdir()
    (run / "config.yaml").write_text((tiny_run / "config.yaml").read_text())
    out = evaluate_cli(f"run={run}")
    assert out.returncode == 2 and "has no model yet" in out.stderr
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    out = evaluate_cli(f"sweep={sweep}")
    assert out.returncode == 2 and "holds no trained runs" in out.stderr
