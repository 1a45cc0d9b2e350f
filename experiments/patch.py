"""Hook, patch and steer the policy: ``python -m experiments.patch <analysis> [key=value ...]``.

Analyses (`agents.analysis.registry.ANALYSES`): hooks, cheese-vector, top-right-vector,
vector-field, find-channels, resample-channels, retarget. With no ``run=``, analyses the shipped
policy. Writes report.json, PNGs and summary.md.
"""

from __future__ import annotations

import sys

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from agents.analysis.context import PatchConfig
from agents.analysis.registry import check, run_analysis
from agents.config import to_object
from experiments._cli import fail_cleanly, precheck

ConfigStore.instance().store(name="patch_schema", node=PatchConfig)


@hydra.main(version_base=None, config_path="../conf", config_name="patch")
def main(cfg: DictConfig) -> None:
    with fail_cleanly():
        report, out = run_analysis(to_object(cfg, PatchConfig))
        print(report["summary"])
        print(f"report: {out} ({report['seconds']} s)")


def positional_analysis(argv: list[str]) -> list[str]:
    """``patch retarget x=1`` -> ``patch analysis=retarget x=1``."""
    if len(argv) > 1 and "=" not in argv[1] and not argv[1].startswith("-"):
        return [argv[0], f"analysis={argv[1]}", *argv[2:]]
    return argv


def _check(cfg: DictConfig) -> None:
    """The settings, and that ``run=`` names something loadable (before anything is written)."""
    from agents.runs import resolve

    config = to_object(cfg, PatchConfig)
    check(config)
    if config.run is not None:
        resolve(config.run)


if __name__ == "__main__":
    sys.argv = positional_analysis(sys.argv)
    precheck("patch", _check, PatchConfig)
    main()
