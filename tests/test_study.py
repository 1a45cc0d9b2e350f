"""``experiments.study``: the same measurements on every agent, into one table."""

import json

import pytest

pytest.importorskip("torch")

from agents.interp.study.agent import study_agent  # noqa: E402
from agents.interp.study.cache import measurement_key, reusable, save  # noqa: E402
from agents.interp.study.headline import headline  # noqa: E402
from agents.interp.study.run import run_study  # noqa: E402
from agents.policy.loading import load_policy  # noqa: E402
from agents.settings import StudyConfig  # noqa: E402
from agents.settings.base import ConfigError  # noqa: E402

TINY = dict(
    behaviour_mazes=4,
    mazes=20,
    resample_mazes=6,
    retarget_mazes=2,
    targets_per_maze=4,
    search_mazes=1,
    channel_counts=[1, 3],
    multiples=[1.0, 4.0],
)


def test_study_measures_every_agent_into_one_table(tmp_path, monkeypatch):
    results = run_study(StudyConfig(runs=["quick", "easy"], out=str(tmp_path), **TINY))
    assert [r["label"] for r in results] == ["quick", "easy"]
    saved = json.loads((tmp_path / "study.json").read_text())
    assert [a["label"] for a in saved["agents"]] == ["quick", "easy"]
    easy = saved["agents"][1]
    assert easy["agent"]["hook"] == "embedder.block2.res1.resadd_out"
    assert easy["agent"]["hook_shape"] == [32, 8, 8] and easy["agent"]["steps"] >= 6_000_000
    assert easy["channels"]["passing"] <= 32 and len(easy["channels"]["ranked"]) == 16
    inter = easy["retargeting"]["interventions"]
    settings = {  # no intervention, the real cheese, each channel set (both conditions)
        "none",
        "cheese removed",
        "real cheese moved",
        "top 1 channels",
        "top 1 channels, cheese removed",
        "top 3 channels",
        "top 3 channels, cheese removed",
    }
    expected = settings | {
        "top 1 splice, computed once",
        "top 3 splice, computed once",
        "steering top 1 splice, computed once",
        "steering top 3 splice, computed once",
        "directions top 1 splice, computed once",
        "directions top 3 splice, computed once",
        "whole-layer splice, computed once",
    }
    assert set(inter) == expected
    # channels ranked by what the whole-layer splice loses without each: largest loss first
    steering = easy["steering"]
    assert len(steering["ranked"]) == 16 and len(set(steering["ranked"])) == 16
    assert steering["loss"] == sorted(steering["loss"], reverse=True)
    assert 0.0 <= steering["whole_layer"] <= 1.0
    none = inter["none"]["success"]["p"]
    for r in inter.values():  # every intervention on the same targets, ratios consistent
        assert r["success"]["n"] == easy["retargeting"]["targets"] == 8
        if none:
            assert r["x_none"] == pytest.approx(r["success"]["p"] / none)
    values = easy["retargeting"]["values"]
    assert set(values["top 3"]["tried"]) == {"1", "4"} and values["top 3"]["multiple"] in (1, 4)
    # the value is searched with the cheese removed too; the best wins, the smallest on a tie
    tried = values["top 3"]["tried_removed"]
    assert set(tried) == {"1", "4"}
    best = values["top 3"]["multiple_removed"]
    assert tried[f"{best:g}"] == max(tried.values()) and (best == 1 or tried["1"] < tried["4"])
    h = headline(easy)
    assert h["best_channels"] in ("top 1 channels", "top 3 channels")
    md = (tmp_path / "study.md").read_text()
    assert "| measure | `quick` | `easy` |" in md and "position invariance" in md
    assert "the top channels by steering instead" in md
    assert "the top principal directions of the cheese's move instead of channels" in md
    d = easy["directions"]  # cumulative shares: more directions hold more, never above 1
    assert d["counts"] == [1, 3] and d["share"][0] <= d["share"][1] <= 1.0 + 1e-6
    # the principal directions hold at least as much of the move as as many channels
    assert all(a >= b - 1e-6 for a, b in zip(d["share"], d["channel_share"]))
    loc = easy["locality"]  # easy's 8 x 8 map: two cells of 64
    assert loc["even"] == pytest.approx(2 / 64) and 0 <= loc["cell"] <= loc["3x3"] <= 1
    assert loc["3x3"] > 9 * loc["even"]  # the move sits near the cheese, not spread evenly
    assert "locality: share of the cheese's move at its two cells" in md
    assert "retarget by steps from the path to the top-right (0 / 1-4 / 5-9 / 10-24)" in md
    assert "retarget by steps from the mouse to the target (1-4 / 5-12 / 13+)" in md
    area = easy["area_setting"]  # the top channels set over the target's 3 x 3, own targets
    assert area["radius"] == 1 and area["targets"] == 8
    assert set(area["interventions"]) == settings
    assert set(area["values"]["top 1"]["tried"]) == {"1", "4"}
    area_none = area["interventions"]["none"]["success"]["p"]
    for r in area["interventions"].values():
        assert r["success"]["n"] == 8
        if area_none:
            assert r["x_none"] == pytest.approx(r["success"]["p"] / area_none)
    assert "set over the target's 3x3 instead" in md
    assert (tmp_path / "study.png").stat().st_size > 5000

    # each finished agent is kept: a stopped or extended study reads it back while its
    # checkpoint and the settings are unchanged, and measures it again when a setting changes
    part = tmp_path / "agents" / "quick.json"
    saved_part = json.loads(part.read_text())
    saved_part["result"]["seconds"] = -1.0
    # ...saved before a version that only added a measurement: it gains it, the rest is kept
    measured = saved_part["result"]["area_setting"]
    old = {**saved_part, "key": {**saved_part["key"], "measurements": 6}}
    old["result"] = {k: v for k, v in saved_part["result"].items() if k != "area_setting"}
    part.write_text(json.dumps(old))
    # the plot was drawn and checked above: the study run again only names it (0.5 s a figure)
    drawn = _record_plots(monkeypatch)
    added = run_study(StudyConfig(runs=["quick"], out=str(tmp_path), **TINY))
    assert drawn == [(["quick"], tmp_path / "study.png")]
    assert added[0]["seconds"] == -1.0  # read back, not measured again
    kept = json.loads(part.read_text())["result"]["area_setting"]

    def figures(area: dict) -> dict[str, float]:  # the saved file's keys are sorted
        return {k: r["success"]["p"] for k, r in area["interventions"].items()} | {
            k: v["multiple"] for k, v in area["values"].items()
        }

    # taken exactly as `measure` takes it
    assert figures(added[0]["area_setting"]) == figures(kept) == figures(measured)
    # ...but one whose successors changed a measurement is measured again (`run_study` measures
    # whatever `reusable` refuses, as the first run above did)
    policy = load_policy("quick")
    key = measurement_key(policy, StudyConfig(runs=["quick"], out=str(tmp_path), **TINY))
    assert reusable(part, key) is not None  # the key it was saved under
    part.write_text(json.dumps({**old, "key": {**old["key"], "measurements": 5}}))
    assert reusable(part, key) is None
    # a setting added later is left out of the key at its default (old results stay valid)...
    assert "maze_set" not in saved_part["key"]["settings"]
    # ...and in it otherwise: another maze set is measured again, on other mazes
    other = StudyConfig(runs=["quick"], out=str(tmp_path), **{**TINY, "maze_set": 1})
    other_key = measurement_key(policy, other)
    assert other_key["settings"]["maze_set"] == 1
    save(part, key, saved_part["result"])
    assert reusable(part, key) == (saved_part["result"], [])
    assert reusable(part, other_key) is None
    table, moved = (
        study_agent("q", policy, c.hook, c.maze_set) for c in (StudyConfig(**TINY), other)
    )
    assert moved.start - table.start == moved.behaviour_start - table.behaviour_start == 10**4


def test_study_measures_every_run_of_a_sweep(tmp_path, tiny_run):
    import shutil

    from agents.interp.study.runs import labelled_runs

    sweep = tmp_path / "multirun"
    for job in ("0", "1"):
        shutil.copytree(tiny_run, sweep / job)
    (sweep / ".submitit").mkdir()  # the launcher's own folder: not a run
    cfg = StudyConfig(runs=["quick"], sweep=str(sweep), out=str(tmp_path / "report"), **TINY)
    from agents.run.folder import read_config

    name = read_config(tiny_run).name  # shared by both jobs: their folders tell them apart
    labels = [label for label, _ in labelled_runs(cfg.runs, cfg.labels, cfg.sweep)]
    assert labels == ["quick", f"{name}_0", f"{name}_1"]
    only_sweep = StudyConfig(sweep=str(sweep), out=str(tmp_path / "report2"), **TINY)
    results = run_study(only_sweep)
    assert [r["label"] for r in results] == [f"{name}_0", f"{name}_1"]
    assert results[0]["agent"]["steps"] == results[1]["agent"]["steps"] > 0
    with pytest.raises(Exception, match="holds no trained runs"):
        run_study(StudyConfig(sweep=str(sweep / ".submitit"), **TINY))


def _record_plots(monkeypatch) -> list[tuple[list[str], object]]:
    """Replaces the study's plot (`plot_study`, drawn and checked by
    test_study_measures_every_agent_into_one_table) with a record of the agents' labels and
    the path of each plot a study asks for."""
    from agents.interp.study import run

    drawn: list[tuple[list[str], object]] = []
    monkeypatch.setattr(
        run, "plot_study", lambda results, path: drawn.append(([r["label"] for r in results], path))
    )
    return drawn


def test_study_pools_an_agents_figures_over_maze_sets(tmp_path, capsys, monkeypatch):
    from agents.interp.study.run import run_pooled

    drawn = _record_plots(monkeypatch)  # each set's study names its plot; none is drawn
    cfg = StudyConfig(runs=["quick"], out=str(tmp_path), maze_sets=[1, 2], **TINY)
    pooled = run_pooled(cfg)
    assert drawn == [(["quick"], tmp_path / f"set{k}" / "study.png") for k in (1, 2)]
    sets = [json.loads((tmp_path / f"set{k}" / "study.json").read_text()) for k in (1, 2)]
    assert [s["settings"]["maze_set"] for s in sets] == [1, 2]
    per = [s["agents"][0]["retargeting"] for s in sets]
    (agent,) = pooled
    assert agent["maze_sets"] == [1, 2] and agent["targets"] == sum(r["targets"] for r in per)
    shown = [s["agents"][0]["behaviour"]["train"] for s in sets]
    assert list(agent["behaviour"]) == ["train", "test", "test_decision_square"]
    assert agent["behaviour"]["train"] == pytest.approx(
        sum(b["p"] * b["n"] for b in shown) / sum(b["n"] for b in shown)
    )

    def p(r: dict, name: str) -> float:
        return r["interventions"][name]["success"]["p"]

    n = [r["targets"] for r in per]
    name = "top 1 channels, cheese removed"
    fig = agent["retargeting"][name]
    # target-weighted over the sets; ratios to the pooled no intervention and real cheese
    want = (p(per[0], name) * n[0] + p(per[1], name) * n[1]) / sum(n)
    none = (p(per[0], "none") * n[0] + p(per[1], "none") * n[1]) / sum(n)
    assert fig["success"] == pytest.approx(want)
    assert fig["x_none"] == pytest.approx(want / none)
    by_set = [p(r, name) / p(r, "none") for r in per]
    assert fig["x_none_by_set"] == pytest.approx(by_set)
    assert fig["x_none_se"] == pytest.approx(abs(by_set[0] - by_set[1]) / 2)
    assert fig["multiples"] == [r["values"]["top 1"]["multiple_removed"] for r in per]
    lines = (tmp_path / "pooled.md").read_text().splitlines()
    row = next(line for line in lines if line.startswith(f"| {name} | "))
    assert f"{fig['x_none']:.2f}x none" in row
    # each set's measurements are reused: pooling again measures nothing
    capsys.readouterr()
    again = run_pooled(cfg)
    assert capsys.readouterr().out.count("measured before with these settings") == 2
    assert again[0]["retargeting"][name] == fig


def test_pooling_survives_a_set_where_nothing_succeeds():
    from agents.interp.study.pool import pool_agent, pooled_table

    def result(none: float, chan: float) -> dict:
        inter = {
            name: {"success": {"p": p}}
            for name, p in (("none", none), ("real cheese moved", 0.5), ("top 1 channels", chan))
        }
        values = {"top 1": {"multiple": 2.0, "multiple_removed": 1.0}}
        behaviour = {d: {"p": 0.5, "n": 10} for d in ("train", "test", "test_decision_square")}
        return {
            "label": "a",
            "behaviour": behaviour,
            "retargeting": {"targets": 100, "interventions": inter, "values": values},
        }

    pooled = pool_agent({1: result(0.0, 0.1), 2: result(0.2, 0.3)})
    fig = pooled["retargeting"]["top 1 channels"]
    assert fig["x_none_by_set"] == [None, pytest.approx(1.5)] and fig["x_none_se"] is None
    assert fig["x_none"] == pytest.approx(0.2 / 0.1) and fig["multiples"] == [2.0, 2.0]
    assert any(
        "| top 1 channels | 0.200 = 2.00x none / 0.40x real" in r for r in pooled_table([pooled])
    )


def test_the_best_channel_set_is_the_smallest_on_a_tie_in_any_key_order():
    from agents.interp.study.headline import best_setting

    def fig(p: float) -> dict:
        return {"success": {"p": p}, "x_none": p / 0.1, "x_real_cheese": p / 0.3}

    # as a saved file orders them (sorted keys): "top 11" comes before "top 3"
    inter = {
        name: fig(p)
        for name, p in (
            ("cheese removed", 0.1),
            ("none", 0.1),
            ("real cheese moved", 0.3),
            ("top 1 channels", 0.1),
            ("top 1 channels, cheese removed", 0.1),
            ("top 11 channels", 0.2),
            ("top 11 channels, cheese removed", 0.25),
            ("top 3 channels", 0.2),
            ("top 3 channels, cheese removed", 0.25),
        )
    }
    values = {f"top {n}": {"multiple": 1.0, "multiple_removed": 2.0} for n in (1, 3, 11)}
    best = best_setting({"interventions": inter, "values": values})
    assert best["best_channels"] == "top 3 channels"
    assert best["best_channels_removed"] == "top 3 channels"


def test_study_settings_are_checked():
    from agents.settings.commands import validate_study

    for bad, message in (
        (dict(runs=[]), "give the runs"),
        (dict(sweep="multirun/x", labels=["a"]), "labels"),
        (dict(runs=["quick"], labels=["a", "b"]), "labels"),
        (dict(runs=["quick"], multiples=[0.0]), "multiples"),
        (dict(runs=["quick"], channel_counts=[]), "channel_counts"),
        (dict(runs=["quick"], maze_set=10), "maze_set must be 0-9"),
        (dict(runs=["quick"], maze_set=1, mazes=20_000), "must fit in 10000 levels"),
        (dict(runs=["quick"], maze_sets=[0, 2], mazes=20_000), "must fit in 10000 levels"),
        (dict(runs=["quick"], maze_set=1, maze_sets=[2]), "not both"),
        (dict(runs=["quick"], maze_sets=[1, 1]), "different sets among 0-9"),
        (dict(runs=["quick"], maze_sets=[10]), "different sets among 0-9"),
    ):
        with pytest.raises(ConfigError, match=message):
            validate_study(StudyConfig(**bad))


def test_training_cost_names_every_cpu_a_run_moved_between(tmp_path):
    from agents.interp.study.agent import training_cost

    (tmp_path / "metrics.json").write_text(
        json.dumps({"train_minutes_total": 12.5, "machine": "B, 2 torch thread(s)"})
    )
    starts = [
        {"from_step": 0, "machine": "A, 2 torch thread(s)"},
        {"from_step": 10, "machine": "A, 2 torch thread(s)"},
        {"from_step": 20, "machine": "B, 2 torch thread(s)"},
    ]
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(h) + "\n" for h in starts))
    assert training_cost(tmp_path) == (12.5, "A, 2 torch thread(s) then B, 2 torch thread(s)")
    history.write_text(json.dumps(starts[2]) + "\n")  # one CPU: the metrics' own words
    assert training_cost(tmp_path) == (12.5, "B, 2 torch thread(s)")


def test_success_by_steps_from_the_mouse_merges_the_distance_bins():
    from agents.interp.study.headline import by_reach

    bins = {
        "1-2": {"p": 1.0, "n": 1},
        "3-4": {"p": 0.5, "n": 4},  # 1-4: 3 of 5
        "5-8": {"p": 0.0, "n": 0},  # empty bins add nothing
        "9-12": {"p": 0.25, "n": 8},  # 5-12: 2 of 8
    }  # no target 13+ steps away
    r = {"retargeting": {"interventions": {"x": {"success_by_distance": bins}}}}
    assert by_reach(r, "x") == "0.60 / 0.25 / –"
