"""``python -m experiments.study``: measure every agent (or read its saved measurements) and
write the study's report; with ``maze_sets=[...]``, do so on each set of mazes and pool."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from agents.interp.study.agent import describe, study_agent
from agents.interp.study.cache import measurement_key, reusable, save, saved_path
from agents.interp.study.features import feature_summary, follow_summaries
from agents.interp.study.headline import headline
from agents.interp.study.measure import MEASUREMENTS, measure
from agents.interp.study.plot import plot_study
from agents.interp.study.pool import pool_agent, pooled_table
from agents.interp.study.runs import labelled_runs
from agents.interp.study.table import table
from agents.policy.loading import load_policy
from agents.settings.commands import StudyConfig, validate_study
from mazegen.files import atomic_write_bytes, write_json


def measured(label: str, run: str, cfg: StudyConfig, out: Path) -> dict[str, Any]:
    """One agent's result: read from ``out`` when it was measured under the same key, taking
    only the measurements added since; else measured and saved there."""
    policy = load_policy(run)
    agent = study_agent(label, policy, cfg.hook, cfg.maze_set)
    key = measurement_key(policy, cfg)
    part = saved_path(out, label)
    saved, missing = reusable(part, key) or ({}, list(MEASUREMENTS))
    if saved:
        print(f"{label}: measured before with these settings, read from {part}")
    if missing:
        fresh = measure(agent, cfg, missing)
        saved = {**saved, **{k: v for k, v in fresh.items() if not saved or k in missing}}
        save(part, key, saved)
        if len(missing) < len(MEASUREMENTS):
            print(f"{label}: added {', '.join(missing)} (new since it was measured)")
    # the SAE's figures are read fresh each time: they are measured by their own commands
    features, follow = feature_summary(policy, agent.hook), follow_summaries(policy)
    about = {"label": label, "agent": describe(agent), "features": features}
    return {**saved, **about, "follow_maps": follow}


def _line(r: dict[str, Any]) -> str:
    """One agent's headline, as printed when it is done."""
    h = headline(r)

    def x(v: float | None) -> str:
        return "–" if v is None else f"{v:.2f}x"

    return (
        f"{r['label']}: best {h['best_channels']} x{h['best_multiple']:g}: "
        f"{x(h['x_none'])} none, {x(h['x_real_cheese'])} the real cheese "
        f"(removed: {h['best_channels_removed']} x{h['best_multiple_removed']:g}: "
        f"{x(h['x_none_removed'])}, {x(h['x_real_cheese_removed'])}) [{r['seconds']} s]"
    )


def run_study(cfg: StudyConfig) -> list[dict[str, Any]]:
    """Measures every agent of ``cfg.runs`` and ``cfg.sweep`` (`measured`); writes
    ``study.json``, ``study.md`` and ``study.png`` in ``cfg.out``."""
    validate_study(cfg)
    torch.set_num_threads(cfg.torch_threads)
    out = Path(cfg.out)
    results = []
    for label, run in labelled_runs(cfg.runs, cfg.labels, cfg.sweep):
        results.append(measured(label, run, cfg, out))
        print(_line(results[-1]), flush=True)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "study.json", {"settings": vars(cfg), "agents": results})
    lines = [f"# The study: {len(results)} agents", "", *table(results), ""]
    atomic_write_bytes(out / "study.md", "\n".join(lines).encode())
    plot_study(results, out / "study.png")
    print("\n".join(table(results)))
    print(f"report: {out}")
    return results


def run_pooled(cfg: StudyConfig) -> list[dict[str, Any]]:
    """Measures every agent on each set of ``cfg.maze_sets`` (a study per set, in
    ``<out>/set<k>``, reused like any study's) and pools each agent's figures over the sets;
    writes ``pooled.json`` and ``pooled.md`` in ``cfg.out``."""
    validate_study(cfg)
    out = Path(cfg.out)
    per_set = {
        k: run_study(replace(cfg, maze_set=k, maze_sets=[], out=str(out / f"set{k}")))
        for k in cfg.maze_sets
    }
    agents = [
        pool_agent({k: results[i] for k, results in per_set.items()})
        for i in range(len(per_set[cfg.maze_sets[0]]))
    ]
    write_json(out / "pooled.json", {"settings": vars(cfg), "agents": agents})
    lines = [f"# The study pooled over maze sets {list(cfg.maze_sets)}", "", *pooled_table(agents)]
    atomic_write_bytes(out / "pooled.md", "\n".join([*lines, ""]).encode())
    print("\n".join(lines[2:]))
    print(f"pooled report: {out}")
    return agents
