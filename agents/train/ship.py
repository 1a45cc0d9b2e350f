"""Shipping a finished run as a named pretrained policy (``python -m experiments.ship``): its
config, weights and metrics copied into ``agents/pretrained/<name>/`` with its provenance."""

from __future__ import annotations

import json
from pathlib import Path

from agents.run.folder import (
    CONFIG,
    METRICS,
    MODEL,
    PRETRAINED,
    RunError,
    git_commit,
    read_config,
    read_history,
    write_config,
)
from agents.settings.commands import ShipConfig, validate_ship
from mazegen.files import atomic_write_bytes, write_json


def ship(run: Path, name: str, dest: Path = PRETRAINED) -> Path:
    """Copies a finished run's ``config.yaml``, ``model.zip`` and ``metrics.json`` into
    ``dest/<name>/`` with ``provenance.json`` (the command, its overrides, steps, training
    minutes, the git commit of the code that trained it and its CPU), each file written
    atomically. The shipped config's ``name`` is ``name`` (a run of the ``hard`` preset ships
    as another name beside ``hard``). Returns the folder."""
    import dataclasses
    import platform

    if not name.isidentifier():
        raise RunError(f"a shipped policy's name must be a plain word, got {name!r}")
    for f in (CONFIG, MODEL, METRICS):
        if not (run / f).is_file():
            raise RunError(f"{run} is not a finished run: {f} is missing")
    metrics = json.loads((run / METRICS).read_text())
    history = read_history(run)
    commands = [
        "python -m experiments.train "
        + " ".join("resume=<run>" if o.startswith("resume=") else o for o in h.get("overrides", []))
        for h in history
    ]
    if not any(h.get("from_step") == 0 for h in history):
        # a run older than its history: its first command is in Hydra's record of overrides
        overrides_file = run / ".hydra" / "overrides.yaml"
        lines = overrides_file.read_text().splitlines() if overrides_file.is_file() else []
        first = " ".join(o.removeprefix("- ") for o in lines if o.strip())
        commands.insert(0, f"python -m experiments.train {first}".rstrip())
    # the code that trained it (recorded at each start since 2026-12-03), else the code shipping it
    trained_at = [h["git_commit"] for h in history if h.get("git_commit")]
    commit = trained_at[0] if trained_at else git_commit()
    out = dest / name
    out.mkdir(parents=True, exist_ok=True)
    write_config(out, dataclasses.replace(read_config(run), name=name))
    for f in (MODEL, METRICS):
        atomic_write_bytes(out / f, (run / f).read_bytes())
    import torch

    from agents.train.compute import machine

    m = machine()
    write_json(
        out / "provenance.json",
        {
            "command": commands[0],
            "commands": commands,
            "run_folder": str(run),
            "total_steps": metrics.get("total_steps"),
            "train_minutes": metrics.get("train_minutes_total"),
            "git_commit": commit,
            "git_commit_of": "training's first start" if trained_at else "shipping",
            # the CPU it trained on when the run recorded it, else the shipping machine's
            "machine": metrics.get("machine") or f"{m.kind}; {m.cores} CPUs; {platform.machine()}",
            # each start's CPU (recorded since 2026-12-03), for a run that moved between them
            "machines": [
                {"from_step": h.get("from_step"), "machine": h["machine"]}
                for h in history
                if h.get("machine")
            ],
            "torch": torch.__version__,
        },
    )
    return out


def ship_command(cfg: ShipConfig) -> None:
    """``python -m experiments.ship``: ships ``cfg.run`` as ``cfg.name``."""
    validate_ship(cfg)
    print(f"shipped {ship(Path(cfg.run), cfg.name)}")
