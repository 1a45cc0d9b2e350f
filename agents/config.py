"""Structured configs of a training run: the Hydra schema and its validation.

`TrainConfig` is registered with Hydra's ConfigStore (see `register_configs`), so unknown keys
and ill-typed values are rejected before anything runs; `validate` then checks ranges and the
combinations a type cannot express, each with a one-line message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from agents.curriculum import CurriculumConfig, check_curriculum
from agents.networks import NetworkConfig
from mazegen.config import MazeConfig, MazeConfigError
from mazegen.levels import HELD_OUT_START


class ConfigError(ValueError):
    """A training, evaluation or analysis setting is invalid."""


@dataclass
class PPOConfig:
    """PPO hyperparameters (stable-baselines3 names). ``batch_size`` is the minibatch size.

    ``normalize_reward`` divides rewards by a running std of returns (SB3's VecNormalize, as in
    Langosco et al.); ``reward_scale`` multiplies them by a constant (the env still pays 10).
    ``distance_shaping`` c > 0 adds the potential-based term ``c * (d - gamma * d')`` for the
    BFS distance d to the cheese (a named shortcut: 0, plain PPO, is the reference).
    """

    learning_rate: float = 5e-4
    n_steps: int = 256
    batch_size: int = 2048
    n_epochs: int = 3
    gamma: float = 0.999
    gae_lambda: float = 0.95
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    clip_range: float = 0.2
    max_grad_norm: float = 0.5
    normalize_reward: bool = False
    reward_scale: float = 1.0
    distance_shaping: float = 0.0
    anneal_lr: bool = False


@dataclass
class AgentConfig:
    network: NetworkConfig = field(default_factory=NetworkConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)


@dataclass
class EvalConfig:
    """Held-out evaluation during training.

    Attributes:
        every_steps: Evaluate every this many environment steps (0: only at the end).
        episodes: Mazes per distribution (train and test) at each evaluation.
        final_episodes: Mazes per distribution for the final `metrics.json`.
        start_level: First held-out level; training levels lie below it.
        deterministic: Greedy actions instead of sampling (sampling is the default: greedy
            memoryless policies loop).
        video: Log a short rollout GIF strip to TensorBoard at each evaluation.
    """

    every_steps: int = 100_000
    episodes: int = 200
    final_episodes: int = 1000
    start_level: int = HELD_OUT_START
    deterministic: bool = False
    video: bool = True


@dataclass
class TrainConfig:
    """A training run.

    Attributes:
        name: Experiment name (the run folder's parent).
        total_steps: Environment steps to train for.
        num_envs: Parallel environments (one batched env).
        seed: Seed of the environments, the network and PPO.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when present).
        torch_threads: Torch CPU threads (1 is safe on a shared 2-core machine).
        precision: ``"auto"`` (the default): bf16 where a short probe of the network on this
            machine finds it faster than fp32 (`agents.compute`), else fp32; ``"fp32"``; or
            ``"bf16"``: the network's forward and backward passes in bfloat16 autocast
            (weights, heads and losses stay float32). bf16 is 2-3x fp32 on CPUs with AMX and
            about 0.1x where it is emulated (AVX2-only CPUs). Evaluation and analyses always
            run in float32.
        precision_chosen: Written by training, not read: what ``precision`` resolved to in
            the run's latest session and why, e.g. ``"fp32: bf16 is emulated here, bf16 0.08x
            fp32 on this CPU (AMD EPYC, AVX2)"``.
        checkpoint_every: Write a checkpoint every this many steps.
        curriculum: A schedule over maze sizes (none by default).
        resume: A run folder (its newest readable checkpoint) or a checkpoint file to continue
            from. The run's own config is used; overrides of the settings in `RESUMABLE` are
            honoured (``total_steps`` extends the run), others are refused.
        progress: Show a progress bar.
        unsafe_pickle: Let resume read an old run's pickled files (runs code from them: only
            for runs you trust). A permission for one command; never stored as true.
    """

    env: MazeConfig = field(default_factory=MazeConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    name: str = "quick"
    total_steps: int = 1_000_000
    num_envs: int = 64
    seed: int = 0
    device: str = "cpu"
    torch_threads: int = 1
    precision: str = "auto"
    precision_chosen: str = ""
    checkpoint_every: int = 100_000
    resume: str | None = None
    progress: bool = True
    unsafe_pickle: bool = False


# What a resumed run may change: how long it runs, how it is watched, and how it goes on
# learning (a PPO setting or a curriculum threshold takes effect from the resumed step, like a
# schedule); not the task (env), the network, the held-out levels or the reward normalization.
RESUMABLE = (
    "total_steps",
    "checkpoint_every",
    "eval.every_steps",
    "eval.episodes",
    "eval.final_episodes",
    "eval.video",
    "device",
    "torch_threads",
    "precision",
    "precision_chosen",
    "progress",
    "curriculum.advance_at",
    "curriculum.min_episodes",
    "curriculum.max_stage_steps",
    *(
        f"agent.ppo.{f.name}"
        for f in fields(PPOConfig)
        if f.name != "normalize_reward"  # its statistics exist only if it was on
    ),
)
# Command-line keys that are not settings of the run.
_NOT_SETTINGS = ("resume", "unsafe_pickle")


def _positive(name: str, value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")


def _finite(name: str, value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")


def validate(cfg: TrainConfig) -> None:
    """Checks ranges and combinations; raises `ConfigError` with one line that says what to fix."""
    try:
        cfg.env.validate()
    except MazeConfigError as e:
        raise ConfigError(f"env: {e}") from None
    for name in ("total_steps", "num_envs", "checkpoint_every", "torch_threads"):
        _positive(name, getattr(cfg, name))
    ppo = cfg.agent.ppo
    for name in (
        "learning_rate",
        "n_steps",
        "batch_size",
        "n_epochs",
        "clip_range",
        "max_grad_norm",
        "reward_scale",
    ):
        _positive(f"agent.ppo.{name}", getattr(ppo, name))
    for name in ("ent_coef", "vf_coef", "distance_shaping"):
        _finite(f"agent.ppo.{name}", getattr(ppo, name))
        if getattr(ppo, name) < 0:
            raise ConfigError(f"agent.ppo.{name} must be >= 0, got {getattr(ppo, name)}")
    for name in ("gamma", "gae_lambda"):
        if not 0 < getattr(ppo, name) <= 1:
            raise ConfigError(f"agent.ppo.{name} must be in (0, 1], got {getattr(ppo, name)}")
    rollout = ppo.n_steps * cfg.num_envs
    if ppo.batch_size > rollout or rollout % ppo.batch_size:
        raise ConfigError(
            f"agent.ppo.batch_size ({ppo.batch_size}) must divide n_steps x num_envs "
            f"({ppo.n_steps} x {cfg.num_envs} = {rollout}) so every minibatch is full"
        )
    if isinstance(cfg.seed, bool) or cfg.seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {cfg.seed!r}")
    if cfg.eval.start_level < 0:
        raise ConfigError(f"eval.start_level must be >= 0, got {cfg.eval.start_level}")
    if cfg.eval.every_steps < 0 or cfg.eval.episodes < 1 or cfg.eval.final_episodes < 1:
        raise ConfigError(
            "eval.every_steps must be >= 0 and eval.episodes, eval.final_episodes >= 1"
        )
    problem = check_curriculum(cfg.curriculum, cfg.env)
    if problem:
        raise ConfigError(problem)
    net = cfg.agent.network
    if net.kind not in ("small", "impala"):
        raise ConfigError(f"agent.network.kind must be 'small' or 'impala', got {net.kind!r}")
    for name in ("channels", "scale", "fc"):
        value = getattr(net, name)
        if value < 1:
            raise ConfigError(f"agent.network.{name} must be an integer >= 1, got {value}")
    if net.widths and (len(net.widths) != 3 or min(net.widths) < 1):
        raise ConfigError(
            f"agent.network.widths needs three channel counts >= 1 (or []), got {list(net.widths)}"
        )
    if len(net.pool) != 3:
        raise ConfigError(
            f"agent.network.pool needs one flag per IMPALA block (3), got {list(net.pool)}"
        )
    if net.kind == "small" and cfg.env.obs_mode == "rgb" and cfg.env.obs_size > 32:
        raise ConfigError(
            f"the small network works at full resolution and cannot take {cfg.env.obs_size}px "
            "RGB observations; use env.obs_mode=grid or agent.network.kind=impala"
        )
    if cfg.precision not in ("auto", "fp32", "bf16"):
        raise ConfigError(f"precision must be 'auto', 'fp32' or 'bf16', got {cfg.precision!r}")
    if cfg.device not in ("cpu", "cuda", "auto") and not cfg.device.startswith("cuda:"):
        raise ConfigError(f"device must be cpu, cuda, cuda:N or auto, got {cfg.device!r}")
    if (
        cfg.eval.start_level <= cfg.env.start_level + max(cfg.env.num_levels - 1, 0)
        and cfg.env.num_levels > 0
    ):
        raise ConfigError(
            "eval.start_level must lie above the training levels "
            f"[{cfg.env.start_level}, {cfg.env.start_level + cfg.env.num_levels})"
        )


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    from dataclasses import fields, is_dataclass

    if not is_dataclass(obj):
        return {prefix: obj}
    out: dict[str, Any] = {}
    for f in fields(obj):
        out.update(_flat(getattr(obj, f.name), f"{prefix}{f.name}."))
    return {k.rstrip("."): v for k, v in out.items()}


def _touched(overrides: list[str]) -> list[str]:
    """Setting prefixes that command-line overrides touch (``""``: an experiment preset, all)."""
    keys = []
    for o in overrides:
        key = o.split("=", 1)[0].lstrip("+~")
        if key.startswith("hydra") or key in _NOT_SETTINGS:
            continue
        keys.append("" if key == "experiment" else key)
    return keys


def resume_config(stored: TrainConfig, given: TrainConfig, overrides: list[str]) -> TrainConfig:
    """The config a resumed run continues with: ``stored`` plus the overrides it can honour.

    Args:
        stored: The run's own config.
        given: The config the command line composed (defaults plus ``overrides``).
        overrides: The command line's ``key=value`` overrides.

    Raises:
        ConfigError: An override changes a setting a resumed run cannot change (the env, the
            network, PPO): one line naming it.
    """
    import dataclasses

    old, new = _flat(stored), _flat(given)
    prefixes = _touched(overrides)
    touched = [k for k in new if any(k == p or k.startswith(p + ".") or p == "" for p in prefixes)]
    changed = [k for k in touched if k not in _NOT_SETTINGS and new[k] != old.get(k)]
    refused = [k for k in changed if k not in RESUMABLE]
    if refused:
        k = refused[0]
        raise ConfigError(
            f"resume keeps the run's own {k} ({old.get(k)!r}, not {new[k]!r}): a resumed run "
            "can change its length, monitoring, compute, PPO settings and curriculum thresholds, "
            f"not its env, network, seed or held-out levels; start a new run to change {k}"
        )

    def replaced(obj: Any, path: list[str], value: Any) -> Any:
        if len(path) == 1:
            return dataclasses.replace(obj, **{path[0]: value})
        return dataclasses.replace(
            obj, **{path[0]: replaced(getattr(obj, path[0]), path[1:], value)}
        )

    out = stored
    for k in changed:
        out = replaced(out, k.split("."), new[k])
    validate(out)
    return out


def register_configs() -> None:
    """Registers the schema with Hydra's ConfigStore as ``train_schema``."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="train_schema", node=TrainConfig)


def to_object(cfg: Any, schema: type) -> Any:
    """An OmegaConf config -> an instance of the dataclass ``schema`` (one-line errors)."""
    from omegaconf import OmegaConf

    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), cfg))
    except MazeConfigError as e:
        raise ConfigError(f"env: {e}") from None
    except Exception as e:  # omegaconf's validation errors
        first = str(e).strip().splitlines()[0]
        raise ConfigError(f"invalid config: {first}") from None


def to_train_config(cfg: Any) -> TrainConfig:
    """An OmegaConf config (from Hydra or a run folder) -> a validated `TrainConfig`."""
    obj = to_object(cfg, TrainConfig)
    assert isinstance(obj, TrainConfig)
    validate(obj)
    return obj
