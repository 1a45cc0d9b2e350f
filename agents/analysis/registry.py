"""The analyses of ``python -m experiments.patch <name>``, by name, and the one function that
runs any of them into a report folder.

Adding an analysis: write ``run_<name>(ctx: Context) -> Report`` in its own module and add one
line to `ANALYSES`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agents.analysis.channels import run_find_channels, run_resample_channels
from agents.analysis.context import Context, PatchConfig, Report, build_context, validate
from agents.analysis.hooks import run_hooks
from agents.analysis.retarget import run_retarget
from agents.analysis.vectors import run_cheese_vector, run_top_right_vector, run_vector_field
from agents.config import ConfigError
from agents.runs import atomic_write_json
from mazegen.files import atomic_write_bytes

ANALYSES: dict[str, Callable[[Context], Report]] = {
    "hooks": run_hooks,
    "cheese-vector": run_cheese_vector,
    "top-right-vector": run_top_right_vector,
    "vector-field": run_vector_field,
    "find-channels": run_find_channels,
    "resample-channels": run_resample_channels,
    "retarget": run_retarget,
}


def check(cfg: PatchConfig) -> None:
    """Validates the settings, the analysis name included (one-line `ConfigError`)."""
    if cfg.analysis not in ANALYSES:
        raise ConfigError(f"analysis must be one of {', '.join(ANALYSES)}; got {cfg.analysis!r}")
    validate(cfg)


def jsonable(obj: Any) -> Any:
    """numpy scalars and arrays -> Python numbers and lists; NaN -> None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and obj != obj:
        return None
    return obj


def run_analysis(cfg: PatchConfig) -> tuple[dict[str, Any], Path]:
    """Runs ``cfg.analysis``; writes ``report.json``, its PNGs and ``summary.md``; returns the
    report (with ``summary``, the Markdown lines) and the folder."""
    check(cfg)
    ctx = build_context(cfg)
    made = [p for p in (ctx.out, *ctx.out.parents) if not p.exists()]
    ctx.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        result = ANALYSES[cfg.analysis](ctx)
    except BaseException:
        for folder in made:  # a failed analysis leaves no empty report folders behind
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    report: dict[str, Any] = {
        "analysis": cfg.analysis,
        "source": ctx.policy.label,
        "hook": ctx.hook,
        "mazes": cfg.mazes,
        "start_level": ctx.levels.start,
        **result.data,
        "figures": result.figures,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    atomic_write_json(ctx.out / "report.json", jsonable(report))
    summary = [
        f"# {cfg.analysis}",
        "",
        f"policy `{ctx.policy.label}`, hook `{ctx.hook}`, {cfg.mazes} held-out mazes from "
        f"level {ctx.levels.start}",
        "",
        *result.lines,
        "",
    ]
    atomic_write_bytes(ctx.out / "summary.md", "\n".join(summary).encode())
    report["summary"] = "\n".join(result.lines)
    return report, ctx.out
