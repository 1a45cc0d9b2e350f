"""Every bad input gets one ``error:`` line and exit status 2 (or a one-line ValueError from the
env), before anything is written. The table runs in-process through each command's own
pre-Hydra check; a few rows also go through a real subprocess to prove the wiring."""

import sys

import numpy as np
import pytest
from conftest import run_cli, spawn_cli

pytest.importorskip("torch")

from agents import cli as _cli  # noqa: E402

PRESETS = [p.stem for p in (_cli.CONF / "experiment").glob("*.yaml")]
TRAIN = [
    ("+foo=1", "unknown setting 'foo'"),
    ("totl_steps=5", "did you mean total_steps"),
    ("num_envs=many", "num_envs"),
    ("agent.network.channels=0", "agent.network.channels must be an integer >= 1"),
    ("agent.network.fc=0", "agent.network.fc must be an integer >= 1"),
    ("agent.ppo.learning_rate=nan", "learning_rate must be a positive finite number"),
    ("agent.ppo.learning_rate=inf", "learning_rate must be a positive finite number"),
    ("env.reward=nan", "reward must be a finite number"),
    ("seed=-1", "seed must be an integer >= 0"),
    ("eval.start_level=-3", "eval.start_level must be >= 0"),
    ("agent.ppo.batch_size=500", "must divide n_steps x num_envs"),
    # every preset, listed as Hydra sorts them (so a new preset needs no edit here)
    ("experiment=nope", "available: " + ", ".join(sorted(PRESETS))),
    ("hydra.run.dir=/proc/cheese-maze-test", "cannot create the run folder"),
    ("hydra.run.dir=README.md", "it is a file"),
    ("total_steps=0", "total_steps must be a positive"),
    ("eval.final_episodes=0", "eval.final_episodes must be >= 1, got 0; set eval.final_episodes=1"),
    ("curriculum.max_stage_steps=-1", "curriculum.max_stage_steps must be >= 0, got -1"),
    ("env.min_size=4", "odd"),
    ("precision=fp16", "precision must be"),
    ("curriculum.max_sizes=[9,7]", "strictly increasing"),
    ("resume=README.md", "README.md"),
    ("a b", "cannot parse the override"),
]
EVALUATE = [
    ("start_level=-5", "start_level must be >= 0"),
    ("run=README.md", "README.md is neither a run folder nor a checkpoint"),
    ("episods=3", "did you mean episodes"),
    ("run=no-such-run", "no-such-run does not exist"),
]
# a check of several settings names the one that is wrong, its value and what to set
PATCH = [
    ("analysis=cheese-vectr", "analysis must be one of"),
    ("mazes=0", "error: mazes must be >= 1, got 0; set mazes=1 or more"),
    ("num_channels=0", "error: num_channels must be >= 1, got 0; set num_channels=1 or more"),
    ("torch_threads=0", "error: torch_threads must be >= 1, got 0"),
    ("field_mazes=-1", "error: field_mazes must be >= 1, got -1"),
    ("amplify=nan", "amplify must be a finite number"),
]
PLAY = [
    ("mode=fly", "mode must be"),
    ("seed=-2", "seed must be >= 0"),
    ("fps=0", "error: fps must be >= 1, got 0; set fps=1 or more"),
]
OTHERS = [
    ("benchmark", "rollouts=0", "error: rollouts must be >= 1, got 0; set rollouts=1 or more"),
    ("benchmark", "seconds=0", "error: seconds must be > 0, got 0"),
    ("ship", "run=outputs/x", "error: name is missing: give name=<policy name>"),
    ("study", ("runs=[easy]", "seed=-1"), "error: seed must be >= 0, got -1; set seed=0 or more"),
    ("study", ("runs=[easy]", "budget_factor=0.5"), "error: budget_factor must be >= 1, got 0.5"),
    ("sae", ("action=fly", "run=easy"), "error: action must be one of"),
    ("sae", ("run=easy", "width=8", "k=9"), "error: k must be <= width (8), got 9"),
    ("sae", "width=64", "error: give the policy: run="),
]


def _prechecked(module: str, arg: str | tuple[str, ...], capsys, monkeypatch) -> str:
    monkeypatch.setattr(sys, "argv", [module, *((arg,) if isinstance(arg, str) else arg)])
    with pytest.raises(SystemExit) as exit_:
        _cli.precheck(*_cli.precheck_of(module))
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


@pytest.mark.parametrize(
    "module, arg, message",
    [("train", a, m) for a, m in TRAIN]
    + [("evaluate", a, m) for a, m in EVALUATE]
    + [("patch", a, m) for a, m in PATCH]
    + [("play", a, m) for a, m in PLAY]
    + OTHERS,
)
def test_bad_command_line_value_gets_one_line(module, arg, message, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(_cli.CONF.parent)
    before = sorted(p.name for p in _cli.CONF.parent.iterdir())
    err = _prechecked(module, arg, capsys, monkeypatch)
    assert message in err
    assert sorted(p.name for p in _cli.CONF.parent.iterdir()) == before  # nothing written


@pytest.mark.parametrize(
    "args, message",
    [
        (("train", "agent.ppo.learning_rate=nan"), "learning_rate"),
        (("evaluate", "start_level=-5"), "start_level"),
        (("patch", "cheese-vectr"), "analysis must be one of"),
    ],
)
def test_commands_exit_2_with_one_line(args, message):
    out = spawn_cli(*args)  # a real process: its exit status and its stderr
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr


@pytest.mark.parametrize(
    "options, message",
    [
        ({"cheese": (2.9, 0.9)}, "cheese coordinates must be integers"),
        ({"cheese": ("a", "b")}, "cheese coordinates must be integers"),
        ({"cheese": [(1, 1), (1, 1), (1, 1)]}, "one per environment reset"),
        ({"level": 1.5}, "levels must be integers"),
        ({"level": 2**63}, "levels must be integers"),
        ({"level": "3"}, "levels must be integers"),
        ({"state": "not a state"}, "must be a MazeState"),
        ({"bogus": 1}, "unknown reset option"),
    ],
)
def test_bad_env_options_are_one_line_value_errors(options, message):
    from mazegen import MazeBatch, MazeConfig

    env = MazeBatch(2, MazeConfig(world_size=9, min_size=5, max_size=9, obs_mode="grid"))
    env.reset(seed=0)
    before = env.get_state()
    with pytest.raises(ValueError, match=message) as e:
        env.reset(options=options)
    assert "\n" not in str(e.value)
    after = env.get_state()
    assert np.array_equal(before.walls, after.walls)  # a refused reset changes nothing


@pytest.mark.parametrize(
    ("command", "setting"),
    [("evaluate", "episodes"), ("patch", "analysis"), ("play", "mode"), ("curves", "runs")]
    + [("ship", "name")],
)
def test_help_lists_only_the_commands_own_settings(command, setting):
    """``--help`` shows the command's settings, with the values given beside it."""
    out = run_cli(command, "--help")
    assert out.returncode == 0
    assert f"python -m experiments.{command}" in out.stdout
    assert f"\n{setting}: " in out.stdout  # its own settings, filled in
    assert "experiment: easy" not in out.stdout and "Configuration groups" not in out.stdout
    if command == "patch":
        assert "\nmazes: 7\n" in run_cli(command, "--help", "mazes=7").stdout
