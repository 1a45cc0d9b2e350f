"""The ``hooks`` analysis: every hook point of the policy with its activation shape."""

from __future__ import annotations

from agents.interp.context import Context, Report


def run_hooks(ctx: Context) -> Report:
    """Lists ``ctx.net``'s hook names and shapes (per observation, no batch dimension)."""
    shapes = {k: list(v) for k, v in ctx.net.shapes.items()}
    aliases = ctx.net.aliases
    lines = [f"- `{k}`: {v}" for k, v in shapes.items()]
    lines.append(f"also accepted, procgen-tools' names: {', '.join(f'`{a}`' for a in aliases)}")
    return Report({"hooks": shapes, "aliases": aliases}, lines)
