"""Every command's settings, in one place: the schemas Hydra validates command lines against.

- `agents.settings.train`: `TrainConfig`, the settings of a training run (stored in its run
  folder as ``config.yaml``), its parts and what a resume may change.
- `agents.settings.commands`: the settings of the other commands.
- `agents.settings.sae`: `SaeConfig`, the sparse autoencoders' command.
- `agents.settings.base`: `ConfigError`, ``CONF`` (the YAML folder) and `to_object`.
"""

from agents.settings.base import CONF, ConfigError, to_object
from agents.settings.commands import (
    BenchmarkConfig,
    CurvesConfig,
    EvaluateConfig,
    PatchConfig,
    PlayConfig,
    ShipConfig,
    StudyConfig,
)
from agents.settings.sae import SaeConfig
from agents.settings.train import TrainConfig, to_train_config

#: ConfigStore name -> schema: ``conf/<command>.yaml`` lists ``<name>`` first in its defaults.
SCHEMAS: dict[str, type] = {
    "train_schema": TrainConfig,
    "evaluate_schema": EvaluateConfig,
    "patch_schema": PatchConfig,
    "play_schema": PlayConfig,
    "curves_schema": CurvesConfig,
    "ship_schema": ShipConfig,
    "study_schema": StudyConfig,
    "benchmark_schema": BenchmarkConfig,
    "sae_schema": SaeConfig,
}


#: ConfigStore entry (``<name>.yaml``) -> the node this process stored there.
_stored: dict[str, object] = {}


def register_schemas() -> None:
    """Registers every command's schema with Hydra's ConfigStore (idempotent).

    A schema is converted once per process (the ConfigStore hands out deep copies of what it
    holds, so the stored node never changes); an entry that is missing or was replaced since is
    stored again."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for name, schema in SCHEMAS.items():
        key = f"{name}.yaml"
        if key in _stored and store.repo.get(key) is _stored[key]:
            continue
        store.store(name=name, node=schema)
        _stored[key] = store.repo[key]


def preset(name: str, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """The validated `TrainConfig` of ``experiment=<name>`` (``conf/experiment/<name>.yaml``)
    with ``overrides``, composed by Hydra inside a Hydra app or out of one."""
    import hydra
    from hydra.core.global_hydra import GlobalHydra

    register_schemas()
    args = [f"experiment={name}", *overrides]
    if GlobalHydra.instance().is_initialized():  # inside a command: its search path is CONF
        return to_train_config(hydra.compose("config", overrides=args))
    with hydra.initialize_config_dir(str(CONF), version_base=None):
        return to_train_config(hydra.compose("config", overrides=args))


__all__ = [
    "CONF",
    "SCHEMAS",
    "BenchmarkConfig",
    "ConfigError",
    "CurvesConfig",
    "EvaluateConfig",
    "PatchConfig",
    "PlayConfig",
    "SaeConfig",
    "ShipConfig",
    "StudyConfig",
    "TrainConfig",
    "preset",
    "register_schemas",
    "to_object",
    "to_train_config",
]
