"""TensorBoard's held-out charts: each distribution is a run of its own (TensorBoard colours
curves by run), and each chart of the layout matches its one measure in both runs."""

import re

import pytest

pytest.importorskip("torch")
pytest.importorskip("tensorboard")

from agents.train.board import LAYOUT, MEASURES, RUNS, DistributionBoard  # noqa: E402


def _scalars(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = folder.glob("events.out.tfevents.*")
    acc = EventAccumulator(str(events))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_each_distribution_is_a_run_of_its_own_with_the_same_tags(tmp_path):
    board = DistributionBoard(tmp_path)
    for step, (train, test) in enumerate([(0.5, 0.25), (0.75, 0.5)]):
        scalars = {
            "eval/train/p_cheese": train,
            "eval/test/p_cheese": test,
            "eval/test/p_cheese_decision": test / 2,
            "time/train_minutes": 1.0,  # not an evaluation: left to the training's run
        }
        board.write(scalars, step * 100)
    board.close()
    train = _scalars(tmp_path / RUNS["train"])
    test = _scalars(tmp_path / RUNS["test"])
    assert train == {"held-out/p_cheese": [(0, 0.5), (100, 0.75)]}
    assert test == {
        "held-out/p_cheese": [(0, 0.25), (100, 0.5)],
        "held-out/p_cheese_decision": [(0, 0.125), (100, 0.25)],
    }


def test_each_chart_draws_its_own_measure_only():
    (charts,) = LAYOUT.values()
    assert list(charts) == list(MEASURES.values())
    tags = [f"held-out/{m}" for m in MEASURES]
    for (kind, (regex,)), tag in zip(charts.values(), tags, strict=True):
        assert kind == "Multiline"
        # TensorBoard's custom scalars plugin matches a chart's regex with re.match
        assert [t for t in tags if re.match(regex, t)] == [tag]
