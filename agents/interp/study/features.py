"""The study table's feature rows: each agent's SAE figures, read from the measurements saved
beside its SAEs (``python -m experiments.sae retarget-features`` and ``follow-map``;
`agents.interp.features`), or the command that trains one when it has none."""

from __future__ import annotations

from typing import Any

from agents.interp.features.ceiling import BOUND
from agents.interp.features.dictionary import measured_path, sae_path, train_command
from agents.interp.features.following import PICKED
from agents.policy.loading import LoadedPolicy
from mazegen.files import read_json_object


def feature_summary(policy: LoadedPolicy, hook: str) -> dict[str, Any]:
    """The agent's SAE measurement (``{"command": ...}`` when it has no SAE or no measurement
    yet): the best feature row with the cheese present and removed, and the ceiling's."""
    if not sae_path(policy, hook).is_file():
        return {"command": train_command(policy, hook)}
    saved = read_json_object(measured_path(policy, hook))
    inter = saved.get("interventions")
    if not isinstance(inter, dict):
        run = policy.run.name if policy.shipped else str(policy.run)
        return {"command": f"python -m experiments.sae retarget-features run={run} hook={hook}"}

    picked = (saved.get("best_present") or {}).get("label")

    def best(present: bool, prefix: str) -> dict[str, Any]:
        """The row the search picked where the measurement names it (the best feature row with
        the cheese present, in measurements since 2026-12-06), else the best on the report set."""
        rows = {
            k: v
            for k, v in inter.items()
            if k.startswith(prefix)
            and k.endswith(", cheese removed") != present
            and (prefix != "top " or "features" in k)
        }
        chosen = present and prefix == "top " and picked in rows
        label = picked if chosen else max(rows, key=lambda k: rows[k]["success"]["p"])
        r = rows[label]
        return {"label": label, "p": r["success"]["p"], "x_none": r["x_none"],
                "x_real_cheese": r["x_real_cheese"], "search_picked": chosen}  # fmt: skip

    return {
        "sae": saved.get("sae"),
        "present": best(True, "top "),
        "removed": best(False, "top "),
        "ceiling_present": best(True, "cheese difference"),
        "ceiling_removed": best(False, "cheese difference"),
    }


def feature_cells(summary: dict[str, Any]) -> tuple[str, str, str]:
    """The three cells of an agent: its SAE; the best features set, cheese present / removed;
    the ceiling, cheese present / removed."""
    if "command" in summary:
        return f"no SAE measured: `{summary['command']}`", "–", "–"
    q = (summary.get("sae") or {}).get("quality") or {}
    sae = summary.get("sae") or {}
    share = (q.get("p_cheese") or {}).get("share")
    head = (
        f"{sae.get('width')} features, k {sae.get('k')}: FVE {q.get('fve', 0):.2f}, "
        f"L0 {q.get('mean_l0', 0):.1f}, dead {q.get('dead')}, P(cheese) spliced "
        + ("–" if share is None else f"{share:.2f}")
    )

    def cell(r: dict[str, Any]) -> str:
        how = " (search-picked)" if r.get("search_picked") else ""
        return (
            f"{r['label']}{how}: {r['p']:.3f} = {r['x_none']:.2f}x none, {r['x_real_cheese']:.2f}x"
        )

    present, removed = summary["present"], summary["removed"]
    return (
        head,
        f"{cell(present)}; {cell(removed)}",
        f"{cell(summary['ceiling_present'])}; {cell(summary['ceiling_removed'])}",
    )


def follow_summaries(policy: LoadedPolicy) -> list[dict[str, Any]]:
    """Each follow map kept beside the policy's SAEs (``python -m experiments.sae follow-map``
    without ``out=``): its SAE (hook, tag), maze sets and targets, and the pooled rows of the
    search-picked scale and of the maze's bound. Empty when the policy has none."""
    found = []
    # named as `measured_path` names them: <hook>[-<tag>].follow-map.json
    for path in sorted(sae_path(policy, "").parent.glob("*.follow-map.json")):
        saved = read_json_object(path)
        pooled = saved.get("pooled") or {}
        picked = next((v for k, v in pooled.items() if PICKED in k), None)
        if picked is None:
            continue
        found.append(
            {key: saved.get(key) for key in ("hook", "tag", "maze_sets", "targets")}
            | {"picked": picked, "bound": pooled.get(BOUND)}
        )
    return found


def follow_cell(summaries: list[dict[str, Any]]) -> str:
    """The study cell of an agent's follow maps: each one's search-picked figures with the cheese
    present, pooled over its maze sets, and the maze's bound on the same targets."""
    if not summaries:
        return "–"

    def one(s: dict[str, Any]) -> str:
        p, bound = s["picked"], s.get("bound")
        sets = ",".join(str(m) for m in s.get("maze_sets") or [])
        hook = str(s.get("hook", "")).removeprefix("embedder.").removesuffix(".resadd_out")
        tail = "" if bound is None else f"; the maze's bound {bound['x_none']:.2f}x"
        return (
            f"`{s.get('tag')}` at {hook}, maze sets {sets} ({s.get('targets')} targets): "
            f"{p['p']:.3f} = {p['x_none']:.2f}x none, {p['x_real_cheese']:.2f}x{tail}"
        )

    return "; ".join(one(s) for s in summaries)
