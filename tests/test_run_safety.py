"""Run folders are safe to share and to run in parallel: loading never runs code from a file,
two runs never share a folder, resume keeps its promises, files are readable by others."""

import base64
import dataclasses
import io
import json
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import ROLLOUT, TINY, fork_cli, run_cli, train_cli, train_config

torch = pytest.importorskip("torch")

from agents.run.checkpoint import read_checkpoint  # noqa: E402
from agents.run.folder import RunError, checkpoints, read_config  # noqa: E402
from agents.settings.base import ConfigError  # noqa: E402
from agents.train.ship import ship  # noqa: E402
from agents.train.training import check_command_line  # noqa: E402


class _Payload:
    """Unpickling this runs ``touch <marker>``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _pickled(marker: Path) -> bytes:
    return pickle.dumps(_Payload(marker))


def _torch_pickled(marker: Path) -> bytes:
    buf = io.BytesIO()
    torch.save({"weight": _Payload(marker)}, buf)
    return buf.getvalue()


def _crafted_archive(path: Path, marker: Path, where: set[str], real: Path) -> None:
    """A stable-baselines3-style archive with a payload in the entries named by ``where``
    (``data``, ``policy``, ``optimizer``); the other entries are real (from ``real``)."""
    legit = read_checkpoint(real, with_optimizer=True)
    data = {
        "num_timesteps": 1024,
        "_n_updates": 3,
        "policy_class": {
            ":type:": "<class 'abc.ABCMeta'>",
            ":serialized:": base64.b64encode(
                _pickled(marker) if "data" in where else pickle.dumps(1)
            ).decode(),
        },
    }
    policy = io.BytesIO()
    torch.save(legit.policy, policy)
    optimizer = io.BytesIO()
    torch.save(legit.optimizer, optimizer)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data", json.dumps(data))
        z.writestr("policy.pth", _torch_pickled(marker) if "policy" in where else policy.getvalue())
        z.writestr(
            "policy.optimizer.pth",
            _torch_pickled(marker) if "optimizer" in where else optimizer.getvalue(),
        )
        z.writestr("_stable_baselines3_version", "2.3.0")


def _crafted_run(tmp: Path, tiny_run: Path, marker: Path, where: set[str], norm: bool) -> Path:
    run = tmp / "crafted"
    (run / "checkpoints").mkdir(parents=True)
    config = (tiny_run / "config.yaml").read_text()
    if norm:
        config = config.replace("normalize_reward: false", "normalize_reward: true")
    (run / "config.yaml").write_text(config)
    ckpt = run / "checkpoints" / "step_000000001024.zip"
    _crafted_archive(ckpt, marker, where, checkpoints(tiny_run)[-1][1])
    shutil.copy(ckpt, run / "model.zip")
    if norm:
        ckpt.with_suffix(".vecnorm.pkl").write_bytes(_pickled(marker))
    return run


COMMANDS = {
    "evaluate": lambda run: ("evaluate", f"run={run}", "episodes=5", "divergence_mazes=2"),
    "patch": lambda run: ("patch", "hooks", f"run={run}"),
    "play": lambda run: ("play", "mode=record", f"run={run}", "episodes=1", f"out={run}/r.gif"),
    "train": lambda run: ("train", f"resume={run}", "progress=false"),
}


@pytest.mark.parametrize(
    "command, where",
    # every command meets a payload in the weights; only resume reads the optimizer state and
    # the normalization statistics, and the payload in `data` rides along in every case
    [(c, "policy") for c in sorted(COMMANDS)]
    + [("train", "optimizer"), ("train", "vecnorm"), ("evaluate", "optimizer")],
)
def test_crafted_archive_runs_no_code_through_any_command(tmp_path, tiny_run, where, command):
    marker = tmp_path / "PWNED"
    run = _crafted_run(tmp_path, tiny_run, marker, {where, "data"}, norm=where == "vecnorm")
    out = run_cli(*COMMANDS[command](run))
    assert not marker.exists(), f"{command} ran code from a {where} payload"
    if command != "train" and where != "policy":
        # inference needs neither the optimizer nor the statistics: weights only, and says so
        assert "pickled fields ignored" in out.stdout + out.stderr
        return
    assert out.returncode == 2, out.stdout + out.stderr
    errors = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and errors[0].startswith("error:"), out.stderr
    assert "unpickling" in errors[0] and "unsafe_pickle=true" in errors[0]


def test_unsafe_flag_is_explicit_and_named_so(tmp_path, tiny_run):
    marker = tmp_path / "PWNED"
    run = _crafted_run(tmp_path, tiny_run, marker, {"policy"}, norm=False)
    with pytest.raises(RunError, match="unsafe_pickle"):
        read_checkpoint(run / "model.zip")
    assert not marker.exists()
    with pytest.raises(RunError, match="not a state dict"):  # it ran, then was seen to be junk
        read_checkpoint(run / "model.zip", unsafe_pickle=True)  # the user's explicit choice
    assert marker.exists()


def test_two_runs_started_together_get_two_complete_folders(tmp_path):
    import datetime

    # every folder name the default pattern can give in the next minute is taken already, so
    # both runs meet a collision, whichever seconds they start in
    now = datetime.datetime.now()
    taken = {
        (now + datetime.timedelta(seconds=dt)).strftime("%Y-%m-%d_%H-%M-%S") for dt in range(-2, 60)
    }
    base = tmp_path / "outputs" / "quick"
    for name in taken:
        (base / name).mkdir(parents=True)
    args = [a for a in TINY if not a.startswith(("eval.", "total_steps"))]
    args += [f"total_steps={ROLLOUT}", "eval.every_steps=0", "eval.final_episodes=8"]
    procs = [  # two processes: the folder is claimed by an exclusive mkdir, not in memory
        fork_cli("train", *args, f"seed={seed}", cwd=tmp_path)  # the default folder pattern
        for seed in (1, 2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert all(not any((base / name).iterdir()) for name in taken)  # no run wrote into one
    runs = sorted(p for p in base.iterdir() if p.name not in taken)
    assert len(runs) == 2
    seeds = []
    for run in runs:
        stem, _, suffix = run.name.rpartition("_")
        assert stem in taken and suffix in ("2", "3"), run.name  # a suffixed name, not theirs
        for name in ("config.yaml", "model.zip", "metrics.json"):
            assert (run / name).is_file(), (run, name)
        assert len(checkpoints(run)) >= 1
        seeds.append(
            int(
                next(
                    ln
                    for ln in (run / "config.yaml").read_text().splitlines()
                    if ln.startswith("seed:")
                ).split()[1]
            )
        )
    assert sorted(seeds) == [1, 2]


def test_resume_honours_or_refuses_overrides_and_cleans_debris(tmp_path, tiny_run):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    for name in ("model.zip", "metrics.json"):
        (run / name).unlink()
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    # the command line: exit 2, one line, nothing written (the same path for every key)
    out = train_cli(f"resume={run}", "env.max_size=7", check=False)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "resume keeps the run's own env.max_size" in out.stderr
    for override, key in (  # the check it runs, for the other kinds of setting
        ("agent.network.channels=8", "agent.network.channels"),
        ("seed=3", "seed"),
    ):
        args = [f"resume={run}", override]
        with pytest.raises(ConfigError, match=f"resume keeps the run's own {key} "):
            check_command_line(train_config(*args), args)
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before  # nothing written
    # resumed at its own last step (a run stopped at a checkpoint, to ship it): nothing is
    # trained, no checkpoint is written (none labelled step 0), the final files are
    kept = [step for step, _ in checkpoints(run)]
    train_cli(f"resume={run}", "total_steps=512", "checkpoint_keep=0")  # 0: nothing pruned
    assert [step for step, _ in checkpoints(run)] == kept
    assert json.loads((run / "metrics.json").read_text())["total_steps"] == 512
    assert (run / "model.zip").is_file()
    stale = run / "checkpoints" / ".step_000000000512.zip.k1ll3d.tmp"
    stale.write_bytes(b"half a file")
    out = train_cli(
        f"resume={run}", "total_steps=768", "agent.ppo.ent_coef=0.002", "checkpoint_keep=0"
    )
    assert not stale.exists()
    # checkpoint_keep=0 prunes none: the run's newest three and the resume's two
    assert [step for step, _ in checkpoints(run)] == kept + [512 + ROLLOUT, 512 + 2 * ROLLOUT]
    assert json.loads((run / "metrics.json").read_text())["total_steps"] == 768
    config = (run / "config.yaml").read_text()
    assert "total_steps: 768" in config and "ent_coef: 0.002" in config
    for path in [run / "config.yaml", run / "model.zip", run / "metrics.json"] + [
        p for _, p in checkpoints(run)
    ]:
        assert path.stat().st_mode & 0o044 == 0o044, f"{path} is not readable by others"
    # shipped, its provenance replays the first command and then the resume
    shipped = ship(run, "tiny", dest=tmp_path / "pretrained")
    # the shipped config is the run's under the shipped name, and loads as that name
    assert read_config(run).name != "tiny" and read_config(shipped).name == "tiny"
    assert dataclasses.replace(read_config(shipped), name="") == dataclasses.replace(
        read_config(run), name=""
    )
    assert (shipped / "model.zip").read_bytes() == (run / "model.zip").read_bytes()
    commands = json.loads((shipped / "provenance.json").read_text())["commands"]
    assert commands[0].startswith("python -m experiments.train total_steps=512 ")
    assert commands[1:] == [
        "python -m experiments.train resume=<run> total_steps=512 checkpoint_keep=0",
        "python -m experiments.train resume=<run> total_steps=768 agent.ppo.ent_coef=0.002"
        " checkpoint_keep=0",
    ]
    # it names the code that trained it (not the code that shipped it) and the CPU it ran on
    prov = json.loads((shipped / "provenance.json").read_text())
    first = json.loads((run / "history.jsonl").read_text().splitlines()[0])
    if first.get("git_commit"):  # a git checkout
        assert prov["git_commit"] == first["git_commit"]
        assert prov["git_commit_of"] == "training's first start"
    assert prov["machine"] == json.loads((run / "metrics.json").read_text())["machine"]
    # ...and the CPU of each start, from the first step and from the resume
    assert [m["from_step"] for m in prov["machines"]] == [0, 512, 512]
    assert all("torch thread(s)" in m["machine"] for m in prov["machines"])
    # a run older than its history: the first command comes from Hydra's record
    history = run / "history.jsonl"
    history.write_text("".join(history.read_text().splitlines(keepends=True)[1:]))
    shipped = ship(run, "tiny", dest=tmp_path / "pretrained")
    assert json.loads((shipped / "provenance.json").read_text())["commands"] == commands


def test_refused_run_leaves_no_folder(tmp_path):
    for bad in ("agent.ppo.learning_rate=nan", "+nonsense=1", "seed=-1", "checkpoint_keep=-1"):
        run = tmp_path / "refused"
        out = train_cli(bad, f"hydra.run.dir={run}", check=False)
        assert out.returncode == 2 and not run.exists(), out.stderr
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    out = run_cli("train", "total_steps=0", cwd=elsewhere)  # the default folder pattern, too
    assert out.returncode == 2 and not list(elsewhere.iterdir()), out.stderr


def test_truncated_events_stay_scalars_up_to_the_resumed_step(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    from agents.train.events import truncate_events

    w = SummaryWriter(tmp_path / "PPO_1")
    for step in range(11):
        w.add_scalar("eval/train/p_cheese", step / 10, step)
    w.close()
    assert truncate_events(tmp_path, 5) == 5
    (events,) = tmp_path.rglob("events.out.tfevents.*")
    acc = EventAccumulator(str(events))
    acc.Reload()
    assert [e.step for e in acc.Scalars("eval/train/p_cheese")] == list(range(6))
    assert truncate_events(tmp_path, 5) == 0  # nothing past the step: files untouched
