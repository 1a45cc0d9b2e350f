"""``experiments.study``: the same measurements on every agent, into one table."""

import json

import pytest

pytest.importorskip("torch")

from agents.interp.study import run_study  # noqa: E402
from agents.interp.study_table import headline  # noqa: E402
from agents.settings import StudyConfig  # noqa: E402
from agents.settings.base import ConfigError  # noqa: E402

TINY = dict(
    behaviour_mazes=20,
    mazes=20,
    resample_mazes=6,
    retarget_mazes=2,
    targets_per_maze=4,
    search_mazes=1,
    channel_counts=[1, 3],
    multiples=[1.0, 4.0],
)


def test_study_measures_every_agent_into_one_table(tmp_path):
    results = run_study(StudyConfig(runs=["quick", "easy"], out=str(tmp_path), **TINY))
    assert [r["label"] for r in results] == ["quick", "easy"]
    saved = json.loads((tmp_path / "study.json").read_text())
    assert [a["label"] for a in saved["agents"]] == ["quick", "easy"]
    easy = saved["agents"][1]
    assert easy["agent"]["hook"] == "embedder.block2.res1.resadd_out"
    assert easy["agent"]["hook_shape"] == [32, 8, 8] and easy["agent"]["steps"] >= 6_000_000
    assert easy["channels"]["passing"] <= 32 and len(easy["channels"]["ranked"]) == 16
    inter = easy["retargeting"]["interventions"]
    expected = {
        "none",
        "cheese removed",
        "real cheese moved",
        "top 1 channels",
        "top 1 channels, cheese removed",
        "top 3 channels",
        "top 3 channels, cheese removed",
        "top 1 splice, computed once",
        "top 3 splice, computed once",
        "whole-layer splice, computed once",
    }
    assert set(inter) == expected
    none = inter["none"]["success"]["p"]
    for r in inter.values():  # every intervention on the same targets, ratios consistent
        assert r["success"]["n"] == easy["retargeting"]["targets"] == 8
        if none:
            assert r["x_none"] == pytest.approx(r["success"]["p"] / none)
    values = easy["retargeting"]["values"]
    assert set(values["top 3"]["tried"]) == {"1", "4"} and values["top 3"]["multiple"] in (1, 4)
    h = headline(easy)
    assert h["best_channels"] in ("top 1 channels", "top 3 channels")
    md = (tmp_path / "study.md").read_text()
    assert "| measure | `quick` | `easy` |" in md and "position invariance" in md
    assert "retarget by steps from the path to the top-right (0 / 1-4 / 5-9 / 10-24)" in md
    assert (tmp_path / "study.png").stat().st_size > 5000

    # each finished agent is kept: a stopped or extended study reads it back while its
    # checkpoint and the settings are unchanged, and measures it again when a setting changes
    part = tmp_path / "agents" / "quick.json"
    saved_part = json.loads(part.read_text())
    saved_part["result"]["seconds"] = -1.0
    part.write_text(json.dumps(saved_part))
    again = run_study(StudyConfig(runs=["quick"], out=str(tmp_path), **TINY))
    assert again[0]["seconds"] == -1.0
    changed = run_study(StudyConfig(runs=["quick"], out=str(tmp_path), **{**TINY, "seed": 1}))
    assert changed[0]["seconds"] >= 0 and changed[0]["label"] == "quick"


def test_study_settings_are_checked():
    from agents.settings.commands import validate_study

    for bad, message in (
        (dict(runs=[]), "give the runs"),
        (dict(runs=["quick"], labels=["a", "b"]), "labels"),
        (dict(runs=["quick"], multiples=[0.0]), "multiples"),
        (dict(runs=["quick"], channel_counts=[]), "channel_counts"),
    ):
        with pytest.raises(ConfigError, match=message):
            validate_study(StudyConfig(**bad))
