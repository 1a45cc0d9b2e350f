"""What ``python -m experiments.play`` does (`play`): loads the policy and opens the window or
records. Its settings are `agents.settings.commands.PlayConfig`."""

from __future__ import annotations

from pathlib import Path

from agents.settings.base import ConfigError
from agents.settings.commands import COMPARABLE, PlayConfig, validate_play


def check_play(config: PlayConfig) -> None:
    """The settings, and for a recording that its folder can be written (before the policy is
    loaded, so a bad ``out=`` fails at once)."""
    validate_play(config)
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


def play(config: PlayConfig) -> None:
    from agents.play.patches import patch_factories
    from agents.play.recorder import record
    from agents.play.session import PlaySession
    from agents.play.window import DisplayError, run_window
    from agents.policy.loading import load_policy
    from agents.policy.rollout import net_act_fn

    check_play(config)
    policy = load_policy(config.run, unsafe_pickle=config.unsafe_pickle, pth=config.pth)
    net = policy.net
    field = None
    if config.goal_field is not None:
        from agents.interp.goal_field import load_goal_field
        from agents.policy.hooked import HookError

        try:
            field = load_goal_field(config.goal_field)
            net.check([field.hook])
        except HookError as e:
            raise ConfigError(f"goal_field: {e}") from None
    act = None if config.mode == "human" else net_act_fn(net)
    session = PlaySession(
        policy.config.env,
        act,
        seed=config.seed,
        patch_factory=patch_factories(net, policy.config.env, goal_field=field),
        name=policy.label,
    )
    if config.distribution != session.distribution:
        session.toggle_distribution()
    if config.mode == "record":
        out = Path(config.out)
        other = None
        if config.compare is not None:
            other = PlaySession(
                policy.config.env,
                act,
                seed=config.seed,
                patch_factory=session.patch_factory,
                name=policy.label,
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
