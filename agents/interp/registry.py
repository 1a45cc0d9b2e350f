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

from agents.interp.channels import run_find_channels, run_resample_channels
from agents.interp.context import Context, Report, build_context
from agents.interp.listing import run_hooks
from agents.interp.retarget_analysis import run_retarget
from agents.interp.sizes import announce, full_time, record
from agents.interp.vectors import run_cheese_vector, run_top_right_vector, run_vector_field
from agents.settings.commands import ANALYSIS_NAMES, PatchConfig
from mazegen.files import atomic_write_bytes, write_json

ANALYSES: dict[str, Callable[[Context], Report]] = {
    "hooks": run_hooks,
    "cheese-vector": run_cheese_vector,
    "top-right-vector": run_top_right_vector,
    "vector-field": run_vector_field,
    "find-channels": run_find_channels,
    "resample-channels": run_resample_channels,
    "retarget": run_retarget,
}
assert tuple(ANALYSES) == ANALYSIS_NAMES, "the settings list the analyses this table runs"


def run_analysis(cfg: PatchConfig) -> tuple[dict[str, Any], Path]:
    """Runs ``cfg.analysis``; writes ``report.json``, its PNGs and ``summary.md``; returns the
    report (with ``summary``, the Markdown lines) and the folder."""
    ctx = build_context(cfg)  # validates the settings first
    cfg = ctx.cfg  # a 2023 checkpoint's sizes (agents.interp.sizes)
    notice = announce(ctx.shrunk)
    if notice:
        print(notice, flush=True)
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
        **ctx.policy.provenance,
        **record(ctx.shrunk),
        "hook": ctx.hook,
        "mazes": cfg.mazes,
        "start_level": ctx.levels.start,
        **result.data,
        "figures": result.figures,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    write_json(ctx.out / "report.json", report)
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
    after = full_time(ctx.shrunk, report["seconds"])
    report["summary"] = "\n".join([*result.lines, *([after] if after else [])])
    return report, ctx.out


def run_and_print(cfg: PatchConfig) -> None:
    """``python -m experiments.patch``: runs the analysis and prints its summary."""
    report, out = run_analysis(cfg)
    print(report["summary"])
    print(f"report: {out} ({report['seconds']} s)")
