"""`experiments.evaluate`'s logic: evaluate a policy (or every run of a sweep) into a folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from agents.interp.divergence import evaluate_divergence
from agents.interp.plots import (
    FEATURE_NAMES,
    plot_decision_square,
    plot_p_cheese_vs_distance,
    plot_region_sweep,
    plot_regression,
)
from agents.interp.sizes import announce, full_time, record, shrink
from agents.policy.loading import load_policy
from agents.policy.rollout import net_act_fn
from agents.run.folder import sweep_runs
from agents.settings.commands import EvaluateConfig
from mazegen.files import write_json

EVAL_DIR = "eval"
EVAL_JSON = "eval.json"


def evaluate(cfg: EvaluateConfig) -> None:
    """``python -m experiments.evaluate``: one policy (printing its table) or a whole sweep."""
    from agents.settings.commands import validate_evaluate

    validate_evaluate(cfg)
    if cfg.sweep is not None:
        _, out = evaluate_sweep(cfg)
        print(f"sweep plot and table: {out}")
        return
    result, out = evaluate_run(cfg, cfg.run, None if cfg.out is None else Path(cfg.out))
    print(summary_table(result))
    print(
        f"evaluated {result['episodes']} mazes per distribution in {result['seconds']:.1f} s; "
        f"results: {out}"
    )


def evaluate_run(
    cfg: EvaluateConfig, run: str | None = None, out: Path | None = None
) -> tuple[dict[str, Any], Path]:
    """Evaluates one policy; writes ``eval.json`` and the plots; returns (result, folder)."""
    torch.set_num_threads(cfg.torch_threads)
    policy = load_policy(run, unsafe_pickle=cfg.unsafe_pickle, pth=cfg.pth)
    cfg, shrunk = shrink(cfg, policy)
    notice = announce(shrunk)
    if notice:
        print(notice, flush=True)
    tcfg = policy.config
    region = tcfg.env.eval_region
    if out is None:
        out = policy.report_dir(EVAL_DIR)
    act = net_act_fn(policy.net, policy.net.device)
    start = time.perf_counter()
    result = evaluate_divergence(
        act,
        tcfg.env.held_out(),
        region,
        cfg.episodes,
        cfg.start_level if cfg.start_level is not None else tcfg.eval.start_level,
        seed=cfg.seed,
        deterministic=cfg.deterministic,
        divergence_mazes=min(cfg.divergence_mazes, cfg.episodes),
        resamples=cfg.resamples,
    )
    result["seconds"] = round(time.perf_counter() - start, 2)
    result.update(policy.provenance)
    result.update(record(shrunk))
    after = full_time(shrunk, result["seconds"])
    if after:
        print(after)
    result["schema"] = SCHEMA
    out.mkdir(parents=True, exist_ok=True)
    plot_p_cheese_vs_distance(result, out / "p_cheese_vs_distance.png")
    plot_decision_square(result, out / "decision_square.png")
    plot_regression(result, out / "regression_coefficients.png")
    write_json(out / EVAL_JSON, result)
    return result, out


def summary_table(result: dict[str, Any]) -> str:
    """A short text table comparing the distributions."""
    cols = ("train", "test", "paired_train", "paired_test")
    rows = [
        ("P(cheese)", "p_cheese"),
        ("P(top-right first)", "p_region_first"),
        ("P(ends in top-right)", "p_end_in_region"),
        ("P(time-out)", "p_timeout"),
    ]
    lines = [f"{'':<24}" + "".join(f"{c:>15}" for c in cols)]
    for label, key in rows:
        lines.append(f"{label:<24}" + "".join(_pm(result[c][key]) for c in cols))
    lines.append(
        f"{'mean steps':<24}" + "".join(f"{result[c]['steps']['mean']:>15.1f}" for c in cols)
    )
    dec = result["test"]["decision_subset"]
    lines.append(
        f"test mazes with a decision square: {dec['n']}, P(cheese) "
        f"{dec['p_cheese']['p']:.3f}; at the decision square toward cheese "
        f"{result['test']['decision_square']['p_cheese']['p']:.3f}, toward top-right "
        f"{result['test']['decision_square']['p_top_right']['p']:.3f}"
    )
    reg = result["regression"]
    if reg.get("cv_accuracy") is not None:
        top = sorted(reg["coefficients"].items(), key=lambda kv: -abs(kv[1]))[:2]
        lines.append(
            f"regression accuracy {reg['cv_accuracy']:.3f} vs base rate "
            f"{reg['base_rate']:.3f}; strongest: "
            + ", ".join(f"{FEATURE_NAMES.get(k, k)} {v:+.2f}" for k, v in top)
        )
    div = result["paired"]["action_divergence"]
    lines.append(
        f"paired mazes: action TV over squares {div['tv_mean_over_squares']['mean']:.3f},"
        f" at the decision square {div['tv_at_decision_square']['mean']:.3f}"
    )
    return "\n".join(lines)


def _pm(stats: dict[str, float]) -> str:
    return f"{stats['p']:>9.3f}±{(stats['hi'] - stats['lo']) / 2:.3f}"


def evaluate_sweep(cfg: EvaluateConfig) -> tuple[list[dict[str, Any]], Path]:
    """Evaluates every run of a multirun folder; plots P(cheese) against the training region."""
    assert cfg.sweep is not None
    root = Path(cfg.sweep).expanduser()
    runs = sweep_runs(root)
    rows = []
    for run in runs:
        result, _ = evaluate_run(cfg, str(run))
        region = int(result["region"])
        rows.append(
            {
                "run": str(run),
                "region": region,
                "train": result["train"]["p_cheese"],
                "test": result["test"]["p_cheese"],
                "test_decision_subset": result["test"]["decision_subset"]["p_cheese"],
            }
        )
        print(
            f"region {region}: train {result['train']['p_cheese']['p']:.3f}, "
            f"test {result['test']['p_cheese']['p']:.3f}  ({run.name})",
            flush=True,
        )
    out = Path(cfg.out) if cfg.out else root / EVAL_DIR
    out.mkdir(parents=True, exist_ok=True)
    plot_region_sweep(rows, out / "p_cheese_vs_region.png")
    write_json(out / "sweep.json", {"runs": rows})
    return rows, out


SCHEMA = {
    "train / test": "held-out mazes of the training distribution (cheese in the top-right n x n) "
    "and of the test distribution (cheese anywhere outside it)",
    "paired_train / paired_test": "the same training-distribution mazes, with the cheese where "
    "it was and moved to a uniform open square outside the region",
    "p_*": "{p, lo, hi, n}: a rate with its 95% Wilson interval",
    "p_cheese": "reached the cheese within max_steps",
    "p_region_first": "entered the top-right region before reaching the cheese",
    "p_visit_region": "entered the top-right region at some step",
    "p_end_in_region": "the episode ended with the mouse in the top-right region",
    "p_timeout": "did not reach the cheese (truncated)",
    "steps": "{mean, lo, hi, n}: episode length",
    "ratio_steps_to_bfs": "steps / shortest-path length, successful episodes",
    "decision_subset": "the rates on mazes that have a decision square (cheese off the path to "
    "the top-right corner)",
    "decision_square": "first move off the decision square: toward cheese / top-right / back",
    "p_cheese_by_distance_from_top_right": "P(cheese) in quantile bins of the cheese's Euclidean "
    "distance from the inner top-right corner",
    "paired.action_divergence": "total variation and KL(train || moved) between the policy's "
    "direction distributions with the mouse on each open square",
    "regression": "L1 logistic regression of success on standardized maze features (test "
    "mazes with a decision square): cv accuracy vs base rate, coefficients, "
    "bootstrap stability",
}
