"""The settings of a training run (`TrainConfig`): the Hydra schema, its validation, and what
a resumed run may change.

`TrainConfig` is registered with Hydra's ConfigStore (`agents.settings.register_schemas`), so
unknown keys and ill-typed values are rejected before anything runs; `validate` then checks
ranges and the combinations a type cannot express, each with a one-line message. The run
folder stores it as ``config.yaml``, from which every later command rebuilds the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.settings.base import ConfigError, at_least, finite, positive, to_object, too_low
from mazegen.config import MazeConfig, MazeConfigError
from mazegen.levels import HELD_OUT_START, PROCGEN_LEVEL_END, held_out_start, training_levels


@dataclass
class NetworkConfig:
    """Network settings (`agents.policy.networks` builds it).

    Attributes:
        kind: ``"small"`` (four 3x3 convs at full resolution, for grid observations) or
            ``"impala"`` (the IMPALA CNN of Espeholt et al. / Langosco et al.).
        channels: Channels of each conv of the small network.
        scale: IMPALA width scale s (channels 16s, 32s, 32s; the analysed models use s = 4).
        fc: Width of the final fully connected layer.
        pool: IMPALA only: whether each of the three blocks halves the resolution (max-pool
            3/2). ``[true, false, true]`` keeps block 2 at block 1's resolution, so on a 25 x 25
            grid block 2 is a 13 x 13 map of the maze (one position per maze cell), as the
            2023 agent's block 2 is 16 x 16 on its 64 x 64 image.
        widths: IMPALA only: the channels of the three blocks, overriding ``scale`` (empty:
            16s, 32s, 32s). ``[16, 128, 32]`` widens block 2 alone to the 2023 agent's 128.
    """

    kind: str = "small"
    channels: int = 32
    scale: int = 1
    fc: int = 256
    pool: list[bool] = field(default_factory=lambda: [True, True, True])
    widths: list[int] = field(default_factory=list)


@dataclass
class CurriculumConfig:
    """A schedule over maze sizes inside the fixed world (`agents.train.curriculum`). Empty
    ``max_sizes`` (the default) trains on the target distribution.

    Attributes:
        max_sizes: Largest inner maze size of each stage, increasing (odd, each <= env.max_size).
            Sizes in a stage are uniform over the odd values ``env.min_size..max_sizes[k]``;
            after the last stage training uses ``env.max_size``.
        advance_at: Advance when the rollout success rate (cheese reached before the time
            limit) over at least ``min_episodes`` finished episodes reaches this.
        min_episodes: Episodes that each success estimate covers.
        max_stage_steps: Advance after this many steps in a stage regardless (0: never), so a
            stage the agent cannot master does not stall the run.
    """

    max_sizes: list[int] = field(default_factory=list)
    advance_at: float = 0.8
    min_episodes: int = 500
    max_stage_steps: int = 0


def check_curriculum(cur: CurriculumConfig, env: MazeConfig) -> str | None:
    """A one-line problem with the schedule for ``env``, or None."""
    sizes = list(cur.max_sizes)
    if any(isinstance(s, bool) or not isinstance(s, int) for s in sizes):
        return f"curriculum.max_sizes must be integers, got {sizes}"
    if any(s % 2 == 0 or s < env.min_size or s > env.max_size for s in sizes):
        return (
            f"curriculum.max_sizes must be odd sizes in [env.min_size, env.max_size] = "
            f"[{env.min_size}, {env.max_size}], got {sizes}"
        )
    if sizes != sorted(set(sizes)):
        return f"curriculum.max_sizes must be strictly increasing, got {sizes}"
    if not 0 < cur.advance_at <= 1:
        return f"curriculum.advance_at must be in (0, 1], got {cur.advance_at}"
    return too_low(1, "curriculum.min_episodes", cur.min_episodes) or too_low(
        0, "curriculum.max_stage_steps", cur.max_stage_steps
    )


@dataclass
class PPOConfig:
    """PPO hyperparameters (stable-baselines3 names). ``batch_size`` is the minibatch size.

    ``normalize_reward`` divides rewards by a running std of returns (SB3's VecNormalize, as in
    Langosco et al.); ``reward_scale`` multiplies them by a constant (the env still pays 10).
    ``distance_shaping`` c > 0 adds the potential-based term ``c * (d - gamma * d')`` for the
    BFS distance d to the cheese (a named shortcut: 0, plain PPO, is the reference).
    ``activation_l1`` c > 0 adds ``c * mean|a|`` over the activations ``a`` at the hook point
    ``activation_l1_hook`` (empty: the layer the analyses hook, ``embedder.block2.res1.resadd_out``
    on IMPALA networks) to the loss of every update (`agents.train.sparsity`; 0: plain PPO);
    ``activation_group`` c > 0 adds ``c * mean ||a[:, :, y, x]||_2``, the group lasso over
    positions (each position's channel vector a group), at the same hook point;
    ``activation_spread`` c > 0 adds ``c * mean far * ||d[:, :, y, x]||_2`` for ``d`` the change
    the cheese makes at that layer and ``far`` the positions more than
    ``activation_spread_radius`` map positions from the cheese (`agents.train.locality`; grid
    observations only).
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
    activation_l1: float = 0.0
    activation_l1_hook: str = ""
    activation_group: float = 0.0
    activation_spread: float = 0.0
    activation_spread_radius: int = 0


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
        torch_threads: Torch CPU threads; 0 (the quick preset's): chosen at start from the
            cores other processes leave idle (all idle cores, at most 4; 1 when another job
            keeps a core busy, since a second thread that shares a busy core slows training
            down many times over). The count used is recorded in ``torch_threads_chosen``.
        torch_threads_chosen: Written by training, not read: the thread count of the run's
            latest session (rerun with ``torch_threads=<it>`` to reproduce its weights on the
            same CPU).
        precision: ``"auto"`` (the default): bf16 where a short probe of the network on this
            machine finds it faster than fp32 (`agents.train.precision`), else fp32; ``"fp32"``; or
            ``"bf16"``: the network's forward and backward passes in bfloat16 autocast
            (weights, heads and losses stay float32). bf16 is 2-3x fp32 on CPUs with AMX and
            about 0.1x where it is emulated (AVX2-only CPUs). Evaluation and analyses always
            run in float32.
        precision_chosen: Written by training, not read: what ``precision`` resolved to in
            the run's latest session and why, e.g. ``"fp32: bf16 is emulated here, bf16 0.08x
            fp32 on this CPU (AMD EPYC, AVX2)"``.
        checkpoint_every: Write a checkpoint every this many steps.
        checkpoint_keep: Keep the newest this many checkpoints; 0 keeps every one (to measure
            an agent along its training, e.g. the study over checkpoints).
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
    torch_threads_chosen: int = 0
    precision: str = "auto"
    precision_chosen: str = ""
    checkpoint_every: int = 100_000
    checkpoint_keep: int = 3
    resume: str | None = None
    progress: bool = True
    unsafe_pickle: bool = False


def validate(cfg: TrainConfig) -> None:
    """Checks ranges and combinations; raises `ConfigError` with one line that says what to fix."""
    try:
        cfg.env.validate()
    except MazeConfigError as e:
        raise ConfigError(f"env: {e}") from None
    for name in ("total_steps", "num_envs", "checkpoint_every"):
        positive(name, getattr(cfg, name))
    if isinstance(cfg.torch_threads, bool) or cfg.torch_threads < 0:
        raise ConfigError(
            f"torch_threads must be an integer >= 0 (0: the idle cores), got {cfg.torch_threads}"
        )
    if cfg.checkpoint_keep < 0:
        raise ConfigError(
            f"checkpoint_keep must be >= 0 (0 keeps every checkpoint), got {cfg.checkpoint_keep}"
        )
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
        positive(f"agent.ppo.{name}", getattr(ppo, name))
    penalties = ("activation_l1", "activation_group", "activation_spread")
    for name in ("ent_coef", "vf_coef", "distance_shaping", *penalties):
        finite(f"agent.ppo.{name}", getattr(ppo, name))
        if getattr(ppo, name) < 0:
            raise ConfigError(f"agent.ppo.{name} must be >= 0, got {getattr(ppo, name)}")
    radius = ppo.activation_spread_radius
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise ConfigError(
            f"agent.ppo.activation_spread_radius must be an integer >= 0, got {radius!r}"
        )
    if ppo.activation_spread > 0 and cfg.env.obs_mode != "grid":
        raise ConfigError(
            "agent.ppo.activation_spread needs grid observations (env.obs_mode=grid), "
            f"got env.obs_mode={cfg.env.obs_mode}"
        )
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
    at_least(0, ("eval.every_steps", cfg.eval.every_steps))
    at_least(
        1, ("eval.episodes", cfg.eval.episodes), ("eval.final_episodes", cfg.eval.final_episodes)
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
    procgen = bool(getattr(cfg.env, "procgen", False))
    if procgen and cfg.eval.start_level >= PROCGEN_LEVEL_END:
        raise ConfigError(
            f"eval.start_level ({cfg.eval.start_level}) lies outside procgen's levels: in procgen "
            f"mode set eval.start_level={held_out_start(procgen=True)} (its held-out range)"
        )
    first, end = training_levels(cfg.env.start_level, cfg.env.num_levels, procgen)
    if cfg.eval.start_level < end:
        raise ConfigError(
            f"eval.start_level ({cfg.eval.start_level}) must lie at or above the training "
            f"levels [{first}, {end}): held-out mazes are never trained on"
        )


def to_train_config(cfg: Any) -> TrainConfig:
    """An OmegaConf config (from Hydra or a run folder) -> a validated `TrainConfig`."""
    obj = to_object(cfg, TrainConfig)
    assert isinstance(obj, TrainConfig)
    validate(obj)
    return obj
