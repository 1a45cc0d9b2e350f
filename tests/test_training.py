import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import ROLLOUT, ROOT, TINY, fork_cli, train_cli, train_config

pytest.importorskip("torch")

from agents.policy.loading import load_policy  # noqa: E402
from agents.run.checkpoint import read_checkpoint  # noqa: E402
from agents.run.folder import RunError, checkpoints  # noqa: E402
from agents.settings.base import ConfigError  # noqa: E402


def tb_scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value)]}`` of the training's TensorBoard run, and
    ``{<run>:<tag>: ...}`` of the others (the distribution runs: `agents.train.board`)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    timed: dict[str, list[tuple[float, int, float]]] = {}
    for events in (run / "tb").rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        folder = events.parent.name
        for tag in acc.Tags()["scalars"]:
            key = tag if folder.startswith("PPO_") else f"{folder}:{tag}"
            timed.setdefault(key, []).extend(
                (e.wall_time, e.step, e.value) for e in acc.Scalars(tag)
            )
    # in the order written (two files of one folder can share a name's second, so not by name)
    return {k: [(s, v) for _, s, v in sorted(p, key=lambda e: e[0])] for k, p in timed.items()}


def test_tiny_training_run_produces_complete_run_folder(tiny_run):
    for name in ("config.yaml", "model.zip", "metrics.json", ".hydra/config.yaml"):
        assert (tiny_run / name).is_file(), name
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["total_steps"] >= 512
    for who in ("policy", "random"):
        for dist in ("train", "test"):
            stats = metrics[who][dist]["p_cheese"]
            assert stats["n"] == 16 and stats["lo"] <= stats["p"] <= stats["hi"]  # final_episodes
    assert checkpoints(tiny_run)[-1][0] >= 512
    scalars = tb_scalars(tiny_run)
    for tag in (
        "eval/train/p_cheese",
        "eval/test/p_cheese",
        "eval/test/p_region_first",
        "eval/test/p_end_in_region",
        "eval/train/steps",
        "train/value_loss",
    ):
        assert tag in scalars, tag
    # a point at step 0, every eval.every_steps, and the final (larger) evaluation at the end
    assert [s for s, _ in scalars["eval/test/p_cheese"]] == [0, 256, 512]
    final = json.loads((tiny_run / "metrics.json").read_text())["policy"]["test"]["p_cheese"]["p"]
    assert scalars["eval/test/p_cheese"][-1][1] == pytest.approx(final)
    assert "eval/test/p_cheese_decision" in scalars
    assert "rollout/success_rate" not in scalars  # replaced by a tag that says what it counts
    assert "rollout/p_cheese_of_finished_episodes" in scalars
    # one chart per measure overlays the train and test curves, each distribution a run of its
    # own (TensorBoard colours curves by run) holding the training run's evaluations
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = (tiny_run / "tb").glob("PPO_*/events.out.tfevents.*")
    acc = EventAccumulator(str(events))
    acc.Reload()
    assert "custom_scalars__config__" in acc.Tags()["tensors"]
    for dist in ("train", "test"):
        own = scalars[f"{dist}_distribution:held-out/p_cheese"]
        assert own == scalars[f"eval/{dist}/p_cheese"]
    # the console lines of each evaluation are in train.log too
    lines = (tiny_run / "train.log").read_text().splitlines()
    assert sum("held-out P(cheese)" in ln for ln in lines) == 3


def test_checkpoints_load_and_act_identically(tiny_run):
    last = checkpoints(tiny_run)[-1][1]
    a = load_policy(tiny_run)  # model.zip
    b = load_policy(last)
    obs = np.random.default_rng(0).integers(0, 2, size=(32, 3, 9, 9)).astype(np.uint8)
    import torch

    with torch.no_grad():
        la, va = a.net(torch.as_tensor(obs))
        lb, vb = b.net(torch.as_tensor(obs))
    assert torch.equal(la, lb) and torch.equal(va, vb)
    assert a.config == b.config


def _signal_at(run, at: int, checkpoint_every: int, signum: int) -> tuple[int, list[str]]:
    """Trains a tiny run (evaluated every ``at`` steps) into ``run`` in a new process and sends
    it ``signum`` once its evaluation at ``at`` steps is logged; returns its exit code and
    output lines."""
    total = 40960  # far longer than the test waits: the signal stops it
    args = [a for a in TINY if not a.startswith(("total_steps", "checkpoint_every", "eval.every"))]
    args += [
        f"total_steps={total}",
        f"checkpoint_every={checkpoint_every}",
        f"eval.every_steps={at}",
    ]
    proc = fork_cli("train", *args, f"hydra.run.dir={run}", merge_stderr=True)
    guard = threading.Timer(300, proc.kill)  # a hung run fails the test instead of hanging it
    guard.start()
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if line.split("|")[0].strip().endswith(f"{at:,}/{total:,} steps"):
            os.kill(proc.pid, signum)
            break
    lines += proc.stdout.readlines()
    proc.wait()
    guard.cancel()
    return proc.returncode, lines


def test_kill_then_resume_continues_steps_and_events(tmp_path):
    run = tmp_path / "killed"
    # killed at an event: once the evaluation at 9 rollouts, after the checkpoint at 8, is in
    # TensorBoard, so the events run past the checkpoint the run resumes from (the next
    # checkpoint is 7 rollouts away: the kill lands long before it)
    _, lines = _signal_at(run, 9 * ROLLOUT, 8 * ROLLOUT, signal.SIGKILL)
    assert any("wrote checkpoint step_000000001024.zip" in ln for ln in lines), "".join(lines)
    saved = checkpoints(run)
    assert [s for s, _ in saved] == [1024], saved
    assert not (run / "model.zip").exists()
    killed_at = saved[-1][0]
    assert max(s for s, _ in tb_scalars(run)["eval/test/p_cheese"]) == 1152 > killed_at
    target = killed_at + 2 * ROLLOUT
    out = train_cli(f"resume={run}", f"total_steps={target}")  # a length is a resumable setting
    assert f"run folder: {run}" in out.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["total_steps"] == target  # the target, not counted twice
    steps = [s for s, _ in tb_scalars(run)["eval/test/p_cheese"]]
    assert steps[-1] == target
    assert any(s > killed_at for s in steps) and any(s <= killed_at for s in steps)
    for tag, points in tb_scalars(run).items():  # no curve repeats a step or runs backwards
        steps = [s for s, _ in points]
        assert all(a < b for a, b in zip(steps, steps[1:])), (tag, steps)
    assert (run / ".hydra").is_dir() and (run / ".hydra-resume").is_dir()
    # one curve, continued, and the curves of the two distributions
    assert sorted(p.name for p in (run / "tb").iterdir()) == [
        "PPO_1",
        "test_distribution",
        "train_distribution",
    ]
    assert "test_distribution:held-out/p_cheese" in tb_scalars(run)


# SIGINT goes through the same handler as SIGTERM: its run is a repetition, kept for
# `make test-slow`
@pytest.mark.parametrize(
    "signum", [pytest.param(signal.SIGINT, marks=pytest.mark.slow), signal.SIGTERM]
)
def test_a_signal_stops_the_run_with_a_checkpoint_at_the_last_trained_step(tmp_path, signum):
    """Ctrl-C or Slurm's SIGTERM: the run writes a checkpoint at the end of its last trained
    rollout (not only at the periodic one), says how to continue, exits with 128 + signal, and
    the resume continues from there."""
    run = tmp_path / "stopped"
    at = 2 * ROLLOUT
    code, lines = _signal_at(run, at, 100000, signum)
    out = "".join(lines)
    assert code == 128 + signum, out
    assert f"continue with: python -m experiments.train resume={run}" in out
    saved = checkpoints(run)  # no periodic checkpoint was due: this one is the signal's
    assert len(saved) == 1 and not (run / "model.zip").exists(), saved
    step = saved[0][0]
    assert step >= at and step % ROLLOUT == 0, step  # only whole, trained rollouts count
    assert f"at step {step:,}" in out
    if signum == signal.SIGINT:  # the resume is the same code after either signal: run it once
        return
    resumed = train_cli(f"resume={run}", f"total_steps={step + 2 * ROLLOUT}")
    assert f"run folder: {run}" in resumed.stdout
    assert json.loads((run / "metrics.json").read_text())["total_steps"] == step + 2 * ROLLOUT


@pytest.mark.parametrize(
    "args, message",
    [
        (["total_steps=0"], "total_steps must be a positive"),
        (["total_steps=-5"], "total_steps must be a positive"),
        (["env.obs_mode=rgb"], "small network"),
        (["env.min_size=4"], "odd"),
        (["agent.ppo.batch_size=1000000"], "batch_size"),
        (["device=tpu"], "device must be"),
    ],
)
def test_bad_values_are_refused_by_the_config(args, message):
    with pytest.raises(ConfigError, match=message):
        train_config(*args)


def test_a_bad_value_fails_before_training_with_one_line(tmp_path):
    """The command line turns the config's refusal into exit 2 and one line (the same path for
    every value above), and starts nothing."""
    run = tmp_path / "bad"
    out = train_cli("env.min_size=4", f"hydra.run.dir={run}", check=False)
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "odd" in lines[0], out.stderr
    assert not (run / "checkpoints").exists()


def test_unknown_override_is_rejected_by_hydra(tmp_path):
    out = train_cli("totl_steps=5", f"hydra.run.dir={tmp_path / 'x'}", check=False)
    assert out.returncode != 0 and "totl_steps" in out.stderr
    out = train_cli("num_envs=many", f"hydra.run.dir={tmp_path / 'y'}", check=False)
    assert out.returncode != 0 and "num_envs" in out.stderr


def test_bad_resume_folders(tmp_path, tiny_run):
    from agents.train.training import check_command_line, start

    out = train_cli(f"resume={tmp_path / 'nope'}", check=False)  # the CLI: one line, exit 2
    assert out.returncode == 2 and "does not exist" in out.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RunError, match="config.yaml is missing"):
        check_command_line(train_config(f"resume={empty}"), [f"resume={empty}"])
    # a corrupt newest checkpoint is skipped with one line naming it; the run resumes from the
    # newest valid one and completes
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_run, broken)
    (broken / "model.zip").unlink()
    (broken / "metrics.json").unlink()
    (older_step, older), (newest_step, newest) = checkpoints(broken)[-2:]
    newest.write_bytes(b"truncated")
    out = train_cli(f"resume={broken}", f"total_steps={newest_step}")
    notes = [ln for ln in (out.stdout + out.stderr).splitlines() if "skipped" in ln]
    assert len(notes) == 1 and newest.name in notes[0] and "not a valid" in notes[0], notes
    assert f"from {older.name}" in out.stdout
    assert json.loads((broken / "metrics.json").read_text())["total_steps"] == newest_step
    # resume=<checkpoint.zip> resumes from exactly that checkpoint
    branch = tmp_path / "branch"
    shutil.copytree(tiny_run, branch)
    first_step, first = checkpoints(branch)[0]
    out = train_cli(f"resume={first}", f"total_steps={2 * first_step}")
    assert f"from {first.name} at step {first_step}" in out.stdout
    assert (branch / "checkpoints" / (newest.name + ".superseded")).is_file()
    # training into a folder that already holds a run refuses instead of overwriting it
    before = (tiny_run / "model.zip").read_bytes()
    with pytest.raises(RunError, match="already holds a run"):
        start(train_config(*TINY), tiny_run, list(TINY))
    assert (tiny_run / "model.zip").read_bytes() == before


def test_load_policy_errors(tmp_path, tiny_run):
    mine = load_policy(tiny_run)
    assert not mine.shipped and mine.label == str(tiny_run / "model.zip")  # outside the cwd
    with pytest.raises(RunError, match="does not exist"):
        load_policy(tmp_path / "missing")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"nope")
    (tmp_path / "config.yaml").write_text((tiny_run / "config.yaml").read_text())
    with pytest.raises(RunError, match="neither a run folder nor a checkpoint"):
        load_policy(bad)
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.yaml").write_text(
        (tiny_run / "config.yaml")
        .read_text()
        .replace("obs_mode: grid", "obs_mode: rgb")
        .replace("kind: small", "kind: impala")
    )
    (other / "model.zip").write_bytes((tiny_run / "model.zip").read_bytes())
    with pytest.raises(RunError, match="pair the checkpoint"):
        load_policy(other)


@pytest.mark.slow  # two runs through the submitit launcher, then the sweep's evaluation: ~35 s
def test_submitit_local_multirun_sweeps_two_tiny_runs(tmp_path):
    sweep = tmp_path / "sweep"
    out = train_cli(
        "-m",
        "hydra/launcher=local",
        "env.cheese_region=1,2",
        *[a for a in TINY if not a.startswith(("total_steps", "eval."))],
        "total_steps=1024",
        "eval.every_steps=0",
        "eval.final_episodes=20",
        f"hydra.sweep.dir={sweep}",
        timeout=600,
    )
    runs = sorted(p for p in sweep.iterdir() if p.is_dir() and (p / "metrics.json").is_file())
    assert len(runs) == 2, out.stdout + out.stderr
    regions = sorted(load_policy(r).config.env.cheese_region for r in runs)
    assert regions == [1, 2]
    # the sweep's evaluation command reads every run of it
    ev = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.evaluate",
            f"sweep={sweep}",
            "episodes=30",
            "divergence_mazes=5",
            "resamples=2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ev.returncode == 0, ev.stderr
    assert (sweep / "eval" / "p_cheese_vs_region.png").is_file()
    table = json.loads((sweep / "eval" / "sweep.json").read_text())
    assert sorted(r["region"] for r in table["runs"]) == [1, 2]


@pytest.mark.slow
def test_default_preset_learns_and_misgeneralizes(tmp_path):
    """The README's main job, end to end (about 4-5 minutes on 2 CPU cores)."""
    run = tmp_path / "default"
    train_cli(f"hydra.run.dir={run}", "progress=false", timeout=1500)
    m = json.loads((run / "metrics.json").read_text())["policy"]
    assert m["train"]["p_cheese"]["p"] >= 0.9
    assert m["train"]["p_cheese"]["p"] - m["test"]["p_cheese"]["p"] > 0.2
    failures = 1 - m["test"]["p_cheese"]["p"]
    assert m["test"]["p_end_in_region"]["p"] > 0.5 * failures


@pytest.mark.slow  # the 64 x 64 IMPALA network trained and resumed: ~27 s
def test_langosco_preset_trains_and_resumes_with_reward_normalization(tmp_path):
    """The procgen-scale path (IMPALA, 64x64 RGB, 15 actions, VecNormalize) end to end, tiny."""
    run = tmp_path / "langosco"
    small = [
        "experiment=langosco",
        "agent.network.scale=1",
        "num_envs=4",
        "agent.ppo.n_steps=16",
        "agent.ppo.batch_size=32",
        "total_steps=128",
        "checkpoint_every=64",
        "eval.every_steps=0",
        "eval.final_episodes=4",
        "env.max_size=9",
        "env.max_steps=30",
        "eval.video=false",
        "progress=false",
    ]
    train_cli(*small, f"hydra.run.dir={run}")
    policy = load_policy(run)
    assert policy.config.agent.network.kind == "impala" and policy.model.action_space.n == 15
    assert tuple(policy.model.observation_space.shape) == (3, 64, 64)
    saved = checkpoints(run)
    stats = [read_checkpoint(p).trainer["reward_norm"] for _, p in saved]
    assert all(s["count"] > 1 and s["var"] > 0 for s in stats)  # statistics, as plain JSON
    assert not list(run.rglob("*.pkl"))
    # simulate a crash after the first checkpoint: resume restores the reward statistics
    for _, p in saved[1:]:
        p.unlink()
    (run / "model.zip").unlink()
    out = train_cli(f"resume={run}")
    assert "run folder" in out.stdout
    assert json.loads((run / "metrics.json").read_text())["total_steps"] == 128


@pytest.mark.parametrize(  # the shipped agents' presets and the study's (experiment=study/<name>)
    "preset",
    sorted(
        p.relative_to(ROOT / "conf" / "experiment").with_suffix("").as_posix()
        for p in (ROOT / "conf" / "experiment").rglob("*.yaml")
    ),
)
def test_presets_compose_and_validate(preset):
    from hydra import compose, initialize_config_dir

    from agents.cli import register_resolvers
    from agents.settings import register_schemas, to_train_config

    register_resolvers()
    register_schemas()
    with initialize_config_dir(str(ROOT / "conf"), version_base=None):
        cfg = to_train_config(compose("config", overrides=[f"experiment={preset}"]))
    if preset.startswith("study"):  # a study's agents are labelled by their preset's name
        assert cfg.name == preset.removeprefix("study/")
    if "langosco" in preset:  # Table 2 of Langosco et al. and procgen hard
        ppo = cfg.agent.ppo
        assert (
            ppo.gamma,
            ppo.gae_lambda,
            ppo.learning_rate,
            ppo.n_epochs,
            ppo.ent_coef,
            ppo.clip_range,
            ppo.normalize_reward,
        ) == (0.999, 0.95, 5e-4, 3, 0.01, 0.2, True)
        assert cfg.num_envs * ppo.n_steps // ppo.batch_size == 8  # 8 minibatches
        assert (
            cfg.env.world_size,
            cfg.env.min_size,
            cfg.env.max_size,
            cfg.env.obs_mode,
            cfg.env.action_mode,
            cfg.env.cheese_region,
        ) == (25, 3, 25, "rgb", "procgen", 5)
        assert cfg.agent.network.kind == "impala" and cfg.agent.network.scale == 4
        assert cfg.total_steps == 200_000_000 and cfg.device == "auto"
    elif preset in ("quick", "region_sweep"):  # the README's default run and its sweep
        assert cfg.env.obs_mode == "grid"
        assert cfg.total_steps == (270_000 if preset == "quick" else 1_000_000)
    if preset == "quick":  # make train: the idle cores, chosen at start
        assert cfg.torch_threads == 0
