"""Settings of ``python -m experiments.sae``: sparse autoencoders on a policy's hooked layer and
the feature measurements (`agents.interp.features`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from agents.settings.base import ConfigError, at_least
from agents.settings.levels import STUDY_MAZE_SETS

#: How ``train`` makes the dictionary (`SaeConfig.dictionary`).
DICTIONARIES = ("learned", "moves")
#: Where a learned dictionary's decoder starts (`SaeConfig.init`).
INITS = ("random", "moves", "moves-fixed", "moves-paired")
#: What ``python -m experiments.sae <action>`` does.
SAE_ACTIONS = (
    "train",
    "find-features",
    "resample-features",
    "retarget-features",
    "layers",
    "dictionaries",
    "follow-map",
)


@dataclass
class SaeConfig:
    """Settings of ``python -m experiments.sae <action> run=<policy>``.

    Attributes:
        action: One of `SAE_ACTIONS`.
        run: Shipped name, run folder or checkpoint of the policy.
        hook: Layer (None: the network's default, the 2023 layer on IMPALA).
        layers: The layers whose ceiling the ``layers`` action measures (empty: every stage
            output with a map, `agents.interp.features.layers.stream_layers`).
        tags: The dictionaries of ``hook`` the ``dictionaries`` action compares, by tag (``""``
            the untagged one; empty: ``tag``).
        maze_sets: The maze sets the ``dictionaries`` action pools (empty: ``maze_set``).
        per_target: The ``dictionaries`` action also writes, for each of ``counts``, each
            target's own top ``n`` features (those that carry most of its move), not the same
            ``n`` at every target.
        width: Dictionary size (features).
        k: Features kept per position (top-k); 0 uses the L1 penalty instead.
        l1: The L1 penalty on feature activations when ``k=0``.
        steps: Optimizer steps.
        batch: Positions per step.
        lr: Adam's learning rate.
        rollout_mazes: Training-distribution mazes played by the policy to collect activations.
        dictionary: ``learned`` (a sparse autoencoder trained on the activations) or ``moves``
            (not learned, not sparse: the signed principal directions of the cheese's move on
            ``rollout_mazes`` training mazes, ``targets_per_maze`` moves each; a baseline).
        init: Where a ``learned`` dictionary's decoder starts: ``random`` directions, or
            ``moves``: its first ``min(width, 2C)`` features on the ``moves`` dictionary's
            signed directions (the encoder their transpose; the rest random), then trained on
            the activations as any learned one (top-k ``k``); ``moves-fixed``: the same start
            with those decoder rows held there while it trains (the encoder, the biases and the
            other rows train); ``moves-paired``: as ``moves``, each direction followed by its
            opposite, so that the first ``2n`` features are the top ``n`` directions both ways
            (with ``move_within=2n``, the move's loss on them).
        signed: Features that go both ways (sparse coding without the ReLU: the ``k``
            pre-activations largest in size kept with their signs), so that a feature's change
            follows a direction both ways as the move's does; with ``init=moves`` its first
            ``min(width, C)`` features start on the move's directions, one each, and with
            ``dictionary=moves`` the dictionary is those C directions, one feature each.
        move_weight: Weight of a second loss for a ``learned`` dictionary (0: none): the
            features' change, decoded, against the cheese's move itself (the layer with the
            cheese moved to a target minus as played, on the same training mazes as
            ``init=moves``' directions), as a share of the move's size, so that the move is
            held by the features and not left to the reconstruction's error.
        move_within: With ``move_weight``, the move loss counts the change of the first
            ``move_within`` features only (0: every feature), so that a few features hold the
            move, as a retargeting row that writes at most that many features needs. With
            ``init=moves`` those features start on the top directions, one sign each; with
            ``init=moves-paired`` and ``move_within=2n``, on the top ``n`` directions both ways.
        move_per_target: With ``move_weight``, the move loss counts, for each target, the
            change of the ``move_per_target`` features that carry most of its move (0: as
            ``move_within`` says), so that a few features per target hold it, as a row that
            writes each target's own top features needs (``dictionaries per_target=true``); a
            step's move batch is ``batch // 16`` targets' whole maps.
        tag: Names a second SAE of the same layer (``<hook>-<tag>.safetensors``), e.g. ``mix``.
        removed_share: Share of the collected activations taken with the cheese removed (0: the
            policy's own observations only; a mix lets the dictionary hold both).
        eval_mazes: Held-out mazes for P(cheese) with the reconstruction spliced in.
        mazes: Test mazes for ranking the features by how well they track the cheese.
        retarget_mazes: Training-distribution mazes whose squares are the reported targets.
        search_mazes: Other mazes on which values, scales and erasure sets are searched.
        targets_per_maze: Targets drawn per maze.
        counts: Sizes of the top-feature sets set at the target.
        multiples: Values tried: multiples of the largest activation the features reach (set
            at the target), or of their mean change around the cheese (their pattern).
        erase_counts: How many cheese features the erasure removes (searched).
        scales: Scales of the cheese's move tried for the layer's ceiling.
        radii: Radii of the "map" rows: the top features' change within r of the cheese
            (averaged on the search mazes, aligned on the cheese) written around the target.
        erase_radii: Radii around the cheese within which a map row's erasure replaces every
            feature (or the whole vector, the SAE's error too) by its cheese-removed value
            (searched; a radius past the map's size takes the whole map).
        wall_radius: Radius of the "wall map" rows (0: none): the top move features' change
            within r of the cheese predicted from the walls around it
            (`agents.interp.features.wall_map`), fit on the test mazes, written around the target.
        wall_placements: Cheese placements per maze the wall map and the conv map are fit on.
        conv_mazes: Fit mazes of the "conv map" rows (0: none): the top move features' change
            predicted from the whole maze by a small convolutional network
            (`agents.interp.features.conv_map`), fit on placements of the cheese in the maze
            set's fit mazes (a fifth of them held out for its figure), written at the target.
        conv_steps: Training steps of the conv map (batches of 64 placements).
        erase_hook: An earlier layer at which the cheese is erased under the map rows' writes
            (None: no such rows; `agents.interp.features.upstream`): within each of
            ``erase_radii`` of the cheese, the whole vector there, or with ``erase_tag`` that
            layer's SAE features, replaced by its value without the cheese.
        erase_tag: The SAE of ``erase_hook`` whose features are replaced (its tag; "" the
            untagged one; None: the whole vector).
        follow_mazes: Fit mazes of the ``follow-map`` action's map (``maze_set``'s): the top
            move features' change predicted at every step, fit along the mouse's paths
            (`agents.interp.features.follow_map`; a fifth of them held out for its figure).
        follow_steps: Training steps of the follow map (batches of 128 steps).
        follow_width: Channels of the follow map's convolutions.
        follow_layer: The follow map also reads the layer's SAE features at each step (False:
            from the maze and the mouse's square alone). Without ``out``, ``follow-map`` keeps
            its result, the map's weights in it, beside the SAE
            (``<hook>[-<tag>].follow-map.json``; ``.follow-map-layer.json`` with the layer).
        follow_scales: Scales of the follow map's write tried on each set's search targets.
        maze_set: Held-out maze set of the retargeting (0: the study's; 1-9 others).
        out: Report folder (default: the policy's report folder ``sae/``).
        seed: Seed of the trainer, sampled actions and drawn targets.
        torch_threads: Torch CPU threads.
    """

    action: str = "train"
    run: str | None = None
    hook: str | None = None
    layers: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    maze_sets: list[int] = field(default_factory=list)
    per_target: bool = False
    width: int = 256
    k: int = 4
    l1: float = 1e-3
    steps: int = 3000
    batch: int = 1024
    lr: float = 1e-3
    rollout_mazes: int = 300
    dictionary: str = "learned"
    init: str = "random"
    signed: bool = False
    move_weight: float = 0.0
    move_within: int = 0
    move_per_target: int = 0
    tag: str = ""
    removed_share: float = 0.0
    eval_mazes: int = 300
    mazes: int = 100
    retarget_mazes: int = 30
    search_mazes: int = 10
    targets_per_maze: int = 10
    counts: list[int] = field(default_factory=lambda: [1, 3, 11])
    multiples: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0, 4.0, 8.0, 16.0])
    erase_counts: list[int] = field(default_factory=lambda: [0, 16, 64, 256])
    scales: list[float] = field(default_factory=lambda: [1.0, 2.0, 3.0])
    radii: list[int] = field(default_factory=lambda: [2, 3, 5])
    erase_radii: list[int] = field(default_factory=lambda: [1, 2, 4])
    wall_radius: int = 5
    wall_placements: int = 8
    conv_mazes: int = 200
    conv_steps: int = 2000
    erase_hook: str | None = None
    erase_tag: str | None = None
    follow_mazes: int = 500
    follow_steps: int = 5000
    follow_width: int = 32
    follow_layer: bool = False
    follow_scales: list[float] = field(default_factory=lambda: [1.0, 1.5, 2.0])
    maze_set: int = 0
    out: str | None = None
    seed: int = 0
    torch_threads: int = 1


def validate_sae(cfg: SaeConfig) -> None:
    """Raises `ConfigError` naming the first bad setting."""
    if cfg.action not in SAE_ACTIONS:
        raise ConfigError(f"action must be one of {list(SAE_ACTIONS)}, got {cfg.action!r}")
    if not cfg.run:
        raise ConfigError("give the policy: run=<shipped name, run folder or checkpoint>")
    at_least(1, ("width", cfg.width), ("steps", cfg.steps), ("batch", cfg.batch))
    at_least(1, ("rollout_mazes", cfg.rollout_mazes), ("eval_mazes", cfg.eval_mazes))
    at_least(1, ("mazes", cfg.mazes), ("retarget_mazes", cfg.retarget_mazes))
    at_least(1, ("search_mazes", cfg.search_mazes), ("targets_per_maze", cfg.targets_per_maze))
    at_least(0, ("k", cfg.k), ("seed", cfg.seed), ("maze_set", cfg.maze_set))
    at_least(0, ("wall_radius", cfg.wall_radius))
    at_least(1, ("wall_placements", cfg.wall_placements), ("conv_steps", cfg.conv_steps))
    at_least(0, ("conv_mazes", cfg.conv_mazes))
    if cfg.conv_mazes == 1:
        raise ConfigError("conv_mazes must be 0 (no conv map) or at least 2, got 1")
    at_least(2, ("follow_mazes", cfg.follow_mazes))
    at_least(1, ("follow_steps", cfg.follow_steps), ("follow_width", cfg.follow_width))
    at_least(1, ("torch_threads", cfg.torch_threads))
    if cfg.dictionary not in DICTIONARIES:
        raise ConfigError(f"dictionary must be one of {list(DICTIONARIES)}, got {cfg.dictionary!r}")
    if cfg.init not in INITS:
        raise ConfigError(f"init must be one of {list(INITS)}, got {cfg.init!r}")
    if cfg.signed and cfg.init == "moves-paired":
        raise ConfigError("a signed feature goes both ways: give init=moves, not moves-paired")
    if cfg.init != "random" and cfg.dictionary != "learned":
        raise ConfigError(f"init={cfg.init} starts a learned dictionary: give dictionary=learned")
    if not (math.isfinite(cfg.move_weight) and cfg.move_weight >= 0):
        raise ConfigError(f"move_weight must be >= 0, got {cfg.move_weight}")
    if cfg.move_weight > 0 and cfg.dictionary != "learned":
        raise ConfigError("move_weight trains a learned dictionary: give dictionary=learned")
    if not 0 <= cfg.move_within <= cfg.width:
        raise ConfigError(f"move_within must be in [0, width={cfg.width}], got {cfg.move_within}")
    if cfg.move_within and not cfg.move_weight > 0:
        raise ConfigError("move_within limits the move loss: give move_weight > 0 too")
    if not 0 <= cfg.move_per_target <= cfg.width:
        raise ConfigError(
            f"move_per_target must be in [0, width={cfg.width}], got {cfg.move_per_target}"
        )
    if cfg.move_per_target and not (cfg.move_weight > 0 and cfg.move_within == 0):
        raise ConfigError(
            "move_per_target shapes the move loss: give move_weight > 0 and no move_within"
        )
    if cfg.k > cfg.width:
        raise ConfigError(f"k must be <= width ({cfg.width}), got {cfg.k}")
    if not 0 <= cfg.removed_share < 1:
        raise ConfigError(f"removed_share must be in [0, 1), got {cfg.removed_share}")
    if cfg.erase_tag is not None and not cfg.erase_hook:
        raise ConfigError("erase_tag names an SAE of erase_hook: give erase_hook=<layer> too")
    if cfg.erase_hook and not (cfg.conv_mazes or cfg.wall_radius):
        raise ConfigError("erase_hook erases under a map's write: give conv_mazes or wall_radius")
    if not 0 <= cfg.maze_set < STUDY_MAZE_SETS:
        raise ConfigError(f"maze_set must be 0-{STUDY_MAZE_SETS - 1}, got {cfg.maze_set}")
    if len(set(cfg.maze_sets)) != len(cfg.maze_sets) or not all(
        0 <= k < STUDY_MAZE_SETS for k in cfg.maze_sets
    ):
        raise ConfigError(
            f"maze_sets must list different sets among 0-{STUDY_MAZE_SETS - 1}, "
            f"got {list(cfg.maze_sets)}"
        )
    if len(set(cfg.tags)) != len(cfg.tags):
        raise ConfigError(f"tags must list different dictionaries, got {list(cfg.tags)}")
    for name in ("l1", "lr"):
        value = getattr(cfg, name)
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{name} must be a positive number, got {value!r}")
    for name in ("counts", "multiples", "scales", "follow_scales"):
        values = list(getattr(cfg, name))
        if not values or min(values) <= 0:
            raise ConfigError(f"{name} must list positive numbers, got {values}")
    for name in ("radii", "erase_radii"):
        values = list(getattr(cfg, name))
        if values and min(values) < 0:
            raise ConfigError(f"{name} must list radii >= 0, got {values}")
    if not cfg.erase_counts or min(cfg.erase_counts) < 0:
        raise ConfigError(f"erase_counts must list counts >= 0, got {list(cfg.erase_counts)}")
