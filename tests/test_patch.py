import json

import numpy as np
import pytest
from conftest import run_cli, train_config

pytest.importorskip("torch")

from agents.interp.registry import ANALYSES, run_analysis  # noqa: E402
from agents.run.checkpoint import save_checkpoint  # noqa: E402
from agents.run.folder import write_config  # noqa: E402
from agents.settings import PatchConfig  # noqa: E402
from agents.train.ppo import build_ppo  # noqa: E402
from agents.train.vecenv import MazeVecEnv  # noqa: E402
from mazegen.files import jsonable  # noqa: E402


@pytest.fixture(scope="session")
def impala_run(tmp_path_factory):
    """An (untrained) langosco-preset IMPALA policy in a run folder: the analyses must run on
    the procgen-scale network too."""
    cfg = train_config(
        "experiment=langosco",
        "agent.network.scale=1",
        "num_envs=2",
        "agent.ppo.n_steps=8",
        "agent.ppo.batch_size=16",
        "env.max_size=9",
        "env.max_steps=8",
    )
    run = tmp_path_factory.mktemp("impala")
    write_config(run, cfg)
    model = build_ppo(cfg, MazeVecEnv(cfg.env, 2), None)
    save_checkpoint(run / "model.zip", model.policy, None, 0, 0)
    return run


# what each analysis must report, beyond its settings: key -> a check of the value
REPORTED = {
    "hooks": {"hooks": lambda v: v["embedder.block2.res1.resadd_out"] == [32, 16, 16]},
    "cheese-vector": {
        "effects": lambda v: {"unpatched", "cheese vector x-1", "cheese vector x+1"} <= set(v),
        "transfer": lambda v: set(v["by_shift"]) == {"0", "1", "2", "3", "5"},
        "cheese_on_path_to_corner": lambda v: 0 <= v <= 1,
    },
    "top-right-vector": {"effects": lambda v: any("top-right x+1" in k for k in v)},
    "vector-field": {},
    "find-channels": {
        "channels": lambda v: (
            v["channels_in_layer"] == 32
            and all(0 <= r["channel"] < 32 and 0 <= r["tracking_accuracy"] <= 1 for r in v["top"])
        )
    },
    "resample-channels": {
        "cheese_elsewhere": lambda v: v["mazes"] == 6 and v["mean_abs_change"] > 0,
        "cheese_same_place": lambda v: v["mazes"] == 6 and v["mean_abs_change"] > 0,
        "random_channels_elsewhere": lambda v: len(v) >= 1,
    },
}


@pytest.mark.parametrize("analysis", [a for a in ANALYSES if a != "retarget"])
def test_analyses_run_on_the_impala_network(impala_run, analysis, tmp_path):
    import imageio.v2 as imageio

    report, out = run_analysis(
        PatchConfig(analysis=analysis, run=str(impala_run), mazes=6, out=str(tmp_path / analysis))
    )
    assert report["hook"] == "embedder.block2.res1.resadd_out"
    # the file holds the report: every figure the analysis returned, and nothing else
    saved = json.loads((out / "report.json").read_text())
    assert saved == json.loads(
        json.dumps(jsonable({k: v for k, v in report.items() if k != "summary"}))
    )
    assert saved["analysis"] == analysis and saved["mazes"] == 6
    for key, ok in REPORTED[analysis].items():
        assert ok(saved[key]), (key, saved[key])
    # the summary is the analysis' own lines under a header naming the policy and hook
    summary = (out / "summary.md").read_text()
    assert summary.startswith(f"# {analysis}\n") and "embedder.block2.res1.resadd_out" in summary
    assert report["summary"] and report["summary"] in summary
    # every figure named is a readable picture in the folder
    assert set(report["figures"]) == {p.name for p in out.glob("*.png")}
    for name in report["figures"]:
        image = imageio.imread(out / name)
        assert image.ndim == 3 and min(image.shape[:2]) >= 200, (name, image.shape)


def test_retarget_runs_on_the_impala_network(impala_run, tmp_path):
    report, out = run_analysis(
        PatchConfig(
            analysis="retarget",
            run=str(impala_run),
            mazes=1,
            targets_per_maze=6,
            field_mazes=1,
            field_steps=1,
            field_batch=64,
            out=str(tmp_path),
        )
    )
    fits = report["goal_fields"]
    assert fits["goal_field"]["hook"] == "embedder.block1.res1.resadd_out"
    assert np.load(out / "goal_fields.npz")["goal_field"].shape == (16, 13, 13)
    # none, cheese moved, channel sets, the virtual cheese, five goal-field interventions
    assert {"none", "real cheese moved", "goal field", "real cheese moved + goal field"} <= set(
        report["interventions"]
    )
    assert any(k.startswith("channel ") for k in report["interventions"])


def test_retarget_on_the_shipped_policy_reports_every_intervention(tmp_path):
    report, out = run_analysis(
        PatchConfig(
            analysis="retarget",
            mazes=4,
            field_mazes=3,
            field_steps=8,
            field_batch=256,
            out=str(tmp_path),
        )
    )
    inter = report["interventions"]
    assert {"none", "real cheese moved", "goal field", "real cheese moved + goal field"} <= set(
        inter
    )
    assert {"whole-layer splice x3, computed once", "cheese removed"} <= set(inter)
    assert any(k.startswith("channel ") for k in inter)
    fits = report["goal_fields"]
    assert fits["goal_field"]["hook"] == "embedder.relu1_out"
    # the fitted field lowers the loss on the same samples (the start and end of the fit are
    # each on samples of their own: noise can order them either way)
    assert fits["goal_field"]["loss_fitted"] < fits["goal_field"]["loss_unfitted"] - 0.01
    kernels = np.load(out / "goal_fields.npz")
    assert kernels["goal_field"].shape == (16, 13, 13)
    for r in inter.values():
        assert 0 <= r["success"]["p"] <= 1 and 0 < r["path_probability"] <= 1
        assert (
            r["success_near_top_right"]["n"] + r["success_far_from_top_right"]["n"]
            == r["success"]["n"]
            == report["targets"]
        )
        for key in ("success_by_distance", "success_by_path_distance"):
            assert sum(b["n"] for b in r[key].values()) == r["success"]["n"]
    # the real cheese moved onto the target retargets the agent: it reaches the target more
    # often than with no intervention, by more than 3 standard errors of the difference
    moved, none = inter["real cheese moved"]["success"], inter["none"]["success"]
    se = np.sqrt(sum(r["p"] * (1 - r["p"]) / r["n"] for r in (moved, none)))
    assert moved["p"] - none["p"] > 3 * se, (moved, none)
    assert (out / "retarget_heatmaps.png").is_file() and (out / "goal_field.png").is_file()


def patch_cli(*args):
    return run_cli("patch", *args)


def test_patch_cli_positional_analysis_and_errors(tmp_path):
    out = patch_cli("cheese-vector", "mazes=4", f"out={tmp_path}")
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    eff = report["effects"]
    assert set(eff) == {"unpatched", "cheese vector x-1", "cheese vector x+1"}
    assert (tmp_path / "vector_field.png").stat().st_size > 1000
    bad = patch_cli("cheese-vectr")
    assert bad.returncode == 2 and "analysis must be one of" in bad.stderr
    bad = patch_cli("hooks", "hook=embedder.relu9_out")
    assert bad.returncode == 2 and "did you mean" in bad.stderr
    report = tmp_path / "refused"
    bad = patch_cli("retarget", "channels=[99]", "mazes=2", f"out={report / 'retarget'}")
    assert bad.returncode == 2 and "out of range" in bad.stderr
    assert not report.exists()  # nothing left behind


@pytest.mark.slow
def test_goal_field_retargets_the_shipped_policy_far_from_the_top_right(tmp_path):
    """The README's retargeting figures, at a smaller scale: a learned goal field steers the
    shipped policy better than moving the real cheese, most of all far from the top-right."""
    report, _ = run_analysis(PatchConfig(analysis="retarget", mazes=40, out=str(tmp_path)))
    inter = report["interventions"]
    none, moved = inter["none"], inter["real cheese moved"]
    field, both = inter["goal field"], inter["real cheese moved + goal field"]
    assert field["success"]["p"] > 1.5 * none["success"]["p"]
    assert field["success_far_from_top_right"]["p"] > moved["success_far_from_top_right"]["p"]
    assert both["success"]["p"] > max(moved["success"]["p"], field["success"]["p"])


def test_retarget_sets_the_channels_over_the_targets_neighbourhood_with_a_radius():
    import torch

    from agents.interp.activations import Setting, map_position
    from agents.interp.interventions import Trial, channels_set
    from agents.interp.retarget import targets_at
    from agents.policy.loading import load_policy
    from agents.settings.base import ConfigError
    from agents.settings.commands import validate_patch
    from mazegen import generate_levels

    policy = load_policy("easy")
    env = policy.config.env.held_out()
    hook = "embedder.block2.res1.resadd_out"
    base = generate_levels(range(2), env)
    squares = np.array([[0, 0], [7, 7]])  # a corner and the middle of the 15 x 15 world
    setting = Setting(env, env.eval_region, np.random.default_rng(0))
    trial = Trial(policy.net, hook, base, targets_at(base, squares), setting)
    pos = map_position(squares, env.world_size, policy.net.shapes[hook])
    for radius, cells in ((0, [1, 1]), (1, [4, 9])):
        row = channels_set("c", [2, 5], 9.0, radius)
        states, act = row.build(trial)
        assert states is trial.states and row.label == "c"
        x = torch.zeros(2, *policy.net.shapes[hook])
        y = act.patches_for(np.arange(2))[hook](x)
        assert [int((y[i, 2] == 9).sum()) for i in range(2)] == cells
        assert torch.equal(y[:, 2] == 9, y[:, 5] == 9) and not (y[:, [0, 1, 3]] != 0).any()
        assert all(y[i, 2, pos[i][0], pos[i][1]] == 9 for i in range(2))  # the target's own
    # with the cheese removed: the same patch, on the mazes without their cheese
    removed = channels_set("c", [2, 5], 9.0, removed=True)
    states, _ = removed.build(trial)
    assert removed.label == "c, cheese removed" and states is trial.removed
    assert all(s.cheese is None for s in states)
    with pytest.raises(ConfigError, match="radius must be an integer >= 0"):
        validate_patch(PatchConfig(radius=-1))


def test_retarget_searches_each_channel_sets_value(tmp_path):
    """``multiples=[...]``: each set at the multiple of its largest activation that retargeted
    best on search mazes of its own, reported with every multiple's success."""
    from agents.settings.base import ConfigError
    from agents.settings.commands import validate_patch

    multiples = [0.5, 1.0, 2.0]
    report, out = run_analysis(
        PatchConfig(
            analysis="retarget",
            run="easy_spread",
            mazes=2,
            targets_per_maze=8,
            search_mazes=3,
            multiples=multiples,
            num_channels=3,
            goal_field=False,
            amplify=0.0,
            out=str(tmp_path),
        )
    )
    sets = report["channel_sets"]
    assert len(sets) >= 2 and set(sets) <= set(report["interventions"])
    largest = {}
    for label, s in sets.items():
        tried = s["tried"]
        assert set(tried) == {"0.5", "1", "2"} and 0 < s["targets"] <= 24  # 3 mazes, <= 8 each
        assert all(0 <= p <= 1 for p in tried.values())
        best = max(tried.values())
        assert tried[f"{s['multiple']:g}"] == best  # the best, the smallest on a tie
        assert s["multiple"] == min(m for m in multiples if tried[f"{m:g}"] == best)
        largest[label] = s["value"] / s["multiple"]
    # the unit is each set's own largest activation (the top 3 reach at least the top 1's)
    top1 = next(k for k in sets if k.startswith("channel "))
    assert largest["top 3 channels"] >= largest[top1] > 0
    assert "searched" in (out / "summary.md").read_text()
    with pytest.raises(ConfigError, match="not both"):
        validate_patch(PatchConfig(value=1.0, multiples=[1.0]))
    with pytest.raises(ConfigError, match="multiples must be positive"):
        validate_patch(PatchConfig(multiples=[0.0]))


def test_the_intervention_table_splices_the_cheese_move_and_refuses_two_rows_of_one_label():
    """The rows of `agents.interp.interventions`: a splice adds (a restriction of) the
    cheese's move, computed once on the trial, times its scale; labels name what each does and
    must differ within a table."""
    import torch

    from agents.interp.activations import Setting
    from agents.interp.interventions import (
        Trial,
        arms,
        no_intervention,
        only_channels,
        real_cheese_moved,
        splice,
    )
    from agents.interp.retarget import targets_at
    from agents.policy.loading import load_policy
    from mazegen import generate_levels

    policy = load_policy("quick")
    env = policy.config.env.held_out()
    base = generate_levels(range(3), env)
    squares = np.array([[1, 1], [1, 3], [3, 1]])
    setting = Setting(env, env.eval_region, np.random.default_rng(0))
    trial = Trial(policy.net, policy.net.default_hook, base, targets_at(base, squares), setting)
    move = trial.cheese_move  # [3, C, H, W]
    assert move.shape[0] == 3 and move.abs().sum() > 0 and trial.cheese_move is move
    row = splice("top 2", only_channels([0, 1]), scale=3.0)
    assert row.label == "top 2 splice x3, computed once"
    states, act = row.build(trial)
    x = torch.zeros(3, *move.shape[1:])
    y = act.patches_for(np.array([2, 0, 1]))[trial.hook](x)
    assert torch.allclose(y[:, :2], 3.0 * move[[2, 0, 1], :2]) and not y[:, 2:].any()
    assert splice("whole-layer").label == "whole-layer splice, computed once"
    assert list(trial.moved.cheese.tolist()) == squares.tolist()
    with pytest.raises(ValueError, match="share the label"):
        arms([no_intervention(), real_cheese_moved(), no_intervention()], trial)
