"""What ``python -m experiments.play`` does: its settings (`PlayConfig`) and `play`, which
loads the policy and opens the window or records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agents.config import ConfigError

COMPARABLE = {"cheese-vector": "cheese_vector"}  # compare= value -> the session's patch


@dataclass
class PlayConfig:
    """Settings of the viewer.

    Attributes:
        run: Run folder or checkpoint (None: the shipped policy).
        mode: ``watch``, ``human`` (play yourself) or ``record`` (headless video).
        distribution: ``train`` or ``test`` mazes to start with.
        episodes: Episodes to record (record mode).
        out: Video path for record mode (.gif or .mp4).
        fps: Frames per second of the recorded video.
        save_dir: Where the ``s`` key saves states and screenshots.
        seed: Seed of the sampled actions.
        goal_field: A ``goal_fields.npz`` from ``experiments.patch retarget``: the ``t`` key
            then steers with that learned field instead of the cheese channel.
        compare: Record mode: a patch to show beside the unpatched policy on the same mazes
            with the same seed (``cheese-vector``: the maze's cheese vector subtracted).
        unsafe_pickle: Also load old checkpoints that only unpickling can read (runs code from
            the file: only for files you trust).
    """

    run: str | None = None
    mode: str = "watch"
    distribution: str = "test"
    episodes: int = 3
    out: str = "outputs/play/rollout.gif"
    fps: int = 8
    save_dir: str = "outputs/play"
    seed: int = 0
    goal_field: str | None = None
    compare: str | None = None
    unsafe_pickle: bool = False


def validate(config: PlayConfig) -> None:
    if config.mode not in ("watch", "human", "record"):
        raise ConfigError(f"mode must be watch, human or record, got {config.mode!r}")
    if config.distribution not in ("train", "test"):
        raise ConfigError(f"distribution must be train or test, got {config.distribution!r}")
    if config.episodes < 1 or config.fps < 1:
        raise ConfigError("episodes and fps must be >= 1")
    if config.seed < 0:
        raise ConfigError(f"seed must be >= 0, got {config.seed}")
    if config.compare is not None and config.compare not in COMPARABLE:
        raise ConfigError(f"compare must be one of {', '.join(COMPARABLE)}, got {config.compare!r}")
    if config.compare is not None and config.mode != "record":
        raise ConfigError("compare= makes a side-by-side recording: add mode=record")


def play(config: PlayConfig) -> None:
    from agents.loading import load_policy
    from agents.play.patches import patch_factories
    from agents.play.record import record
    from agents.play.session import PlaySession
    from agents.play.window import DisplayError, run_window
    from agents.rollout import net_act_fn
    from agents.sb3 import maze_net

    validate(config)
    policy = load_policy(config.run, unsafe_pickle=config.unsafe_pickle)
    net = maze_net(policy.model)
    field = None
    if config.goal_field is not None:
        from agents.analysis.goal_field import load_goal_field
        from agents.analysis.hooks import HookError, check_names

        try:
            field = load_goal_field(config.goal_field)
            check_names(net, [field.hook])
        except HookError as e:
            raise ConfigError(f"goal_field: {e}") from None
    act = None if config.mode == "human" else net_act_fn(net)
    session = PlaySession(
        policy.config.env,
        act,
        seed=config.seed,
        patch_factory=patch_factories(net, policy.config.env, goal_field=field),
    )
    if config.distribution != session.distribution:
        session.toggle_distribution()
    if config.mode == "record":
        out = Path(config.out)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            probe = out.parent / f".{out.name}.probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise ConfigError(
                f"cannot write to {out.parent} ({e.strerror}); pick another out="
            ) from None
        other = None
        if config.compare is not None:
            other = PlaySession(
                policy.config.env,
                act,
                seed=config.seed,
                patch_factory=session.patch_factory,
            )
            if config.distribution != other.distribution:
                other.toggle_distribution()
            other.toggle_patch(COMPARABLE[config.compare])
        try:
            n = record(session, out, config.episodes, config.fps, compare=other)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        print(f"wrote {n} frames of {config.episodes} episode(s) to {out}")
        return
    try:
        run_window(session, Path(config.save_dir))
    except DisplayError as e:
        raise ConfigError(str(e)) from None
