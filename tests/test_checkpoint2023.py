"""The 2023 checkpoints (Langosco et al.'s format) load weights-only and run in every command.

The files are built by `tests.synthetic2023` with the 2023 network's key names and shapes
(``scale=1`` for speed: the same keys at a quarter of the width; one test loads ``scale=4``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from synthetic2023 import state_2023, write_2023  # noqa: E402

from agents.interp.context import build_context  # noqa: E402
from agents.interp.evaluate import evaluate_run  # noqa: E402
from agents.interp.registry import run_analysis  # noqa: E402
from agents.policy.loading import load_policy  # noqa: E402
from agents.run.folder import RunError  # noqa: E402
from agents.settings.commands import EvaluateConfig, PatchConfig  # noqa: E402
from agents.settings.pth import PthConfig  # noqa: E402


@pytest.fixture(scope="session")
def pth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_2023(tmp_path_factory.mktemp("ckpt") / "model_rand_region_5.pth", scale=1)


def reference(state: dict[str, torch.Tensor], obs: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of the 2023 network, written from its description (procgen-tools'
    ``InterpretableImpalaModel`` + ``CategoricalPolicy``): obs / 255, three blocks of conv ->
    max-pool 3/2/1 -> two (relu conv relu conv + x), relu, flatten, fc, relu, log-softmax."""
    h = obs.float() / 255.0

    def conv(x: torch.Tensor, key: str) -> torch.Tensor:
        return F.conv2d(x, state[f"{key}.weight"], state[f"{key}.bias"], padding=1)

    for i in (1, 2, 3):
        h = F.max_pool2d(conv(h, f"embedder.block{i}.conv"), 3, 2, 1)
        for r in (1, 2):
            res = f"embedder.block{i}.res{r}"
            h = conv(F.relu(conv(F.relu(h), f"{res}.conv1")), f"{res}.conv2") + h
    h = F.relu(F.linear(torch.flatten(F.relu(h), 1), state["embedder.fc.weight"]))
    h = F.relu(h + state["embedder.fc.bias"])
    logits = F.linear(h, state["fc_policy.weight"], state["fc_policy.bias"])
    return F.log_softmax(logits, dim=1)


def test_loads_with_the_2023_forward(pth: Path) -> None:
    policy = load_policy(pth)
    assert policy.bare and policy.config.env.cheese_region == 5
    assert policy.config.env.world_size == 25 and policy.model.action_space.n == 15
    assert policy.report_dir("eval") == Path("outputs", "eval", "model_rand_region_5")
    obs = torch.randint(0, 256, (3, 3, 64, 64), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits, _ = policy.net(obs.float())
    got = F.log_softmax(logits, dim=1)
    assert torch.allclose(got, reference(state_2023(1), obs), atol=1e-5)


def test_environment_from_settings(pth: Path) -> None:
    easy = load_policy(pth, pth=PthConfig(distribution="easy", rand_region=3))
    assert easy.config.env.world_size == 15 and easy.config.env.cheese_region == 3
    assert easy.provenance["environment_2023"]["world_size"] == 15
    assert load_policy(pth, pth=PthConfig(rand_region=0)).config.env.cheese_region == 1


def test_hook_names_and_shapes(pth: Path, tmp_path: Path) -> None:
    net = load_policy(pth).net
    shapes = net.shapes
    assert shapes["embedder.block2.res1.resadd_out"] == (32, 16, 16)
    assert shapes["embedder.block1.maxpool_out"] == (16, 32, 32)
    assert shapes["embedder.relufc_out"] == (256,) and shapes["fc_policy"] == (15,)
    # procgen-tools' names of the modules this project names without _out
    obs = torch.zeros(1, 3, 64, 64)
    names = ["embedder.block1.conv_out", "embedder.block3.res2.conv2_out", "embedder.fc_out"]
    _, cache = net.run_with_cache(obs, [*names, "fc_policy_out", "embedder.block1.conv"])
    assert cache["embedder.block1.conv_out"].shape == (1, 16, 64, 64)
    assert torch.equal(cache["embedder.block1.conv_out"], cache["embedder.block1.conv"])
    assert cache["fc_policy_out"].shape == (1, 15) and cache["embedder.fc_out"].shape == (1, 256)
    assert net.resolve("embedder.flatten_out") == "embedder.flatten"
    big = load_policy(write_2023(tmp_path / "big.pth", scale=4)).net
    assert big.shapes["embedder.block2.res1.resadd_out"] == (128, 16, 16)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("actions", "fc_policy.weight expected (15, 256), found (4, 256)"),
        ("missing", "embedder.block2.res1.conv2.bias is missing"),
        ("extra", "unexpected key embedder.block4.conv.weight"),
        ("bare", "holds no state dict under 'model_state_dict'"),
    ],
)
def test_wrong_file_is_one_line(tmp_path: Path, change: str, message: str) -> None:
    path = tmp_path / "other.pth"
    state = state_2023(1, actions=4 if change == "actions" else 15)
    if change == "missing":
        del state["embedder.block2.res1.conv2.bias"]
    if change == "extra":
        state["embedder.block4.conv.weight"] = torch.zeros(1)
    torch.save([1, 2] if change == "bare" else {"model_state_dict": state}, path)
    with pytest.raises(RunError) as e:
        load_policy(path)
    assert message in str(e.value) and "\n" not in str(e.value)


class _Runs:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.makedirs, (self.marker,))


def test_weights_only_refuses_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    torch.save({"model_state_dict": state_2023(1), "extra": _Runs(str(marker))}, path)
    with pytest.raises(RunError, match="refused by weights-only loading"):
        load_policy(path)
    assert not marker.exists()


def test_sizes_shrink_unless_full(pth: Path) -> None:
    ctx = build_context(PatchConfig(analysis="retarget", run=str(pth), mazes=200))
    assert ctx.cfg.mazes == 40 and ctx.shrunk["mazes"] == (200, 40) and len(ctx.levels) == 40
    small = build_context(PatchConfig(analysis="retarget", run=str(pth), mazes=7))
    assert small.cfg.mazes == 7 and "mazes" not in small.shrunk  # a smaller size is kept
    full = build_context(PatchConfig(analysis="retarget", run=str(pth), pth=PthConfig(full=True)))
    assert full.cfg.mazes == 200 and not full.shrunk
    hooks = build_context(PatchConfig(analysis="hooks", run=str(pth)))
    assert not hooks.shrunk  # listing the hooks runs no mazes


def test_evaluate_runs(pth: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.interp import divergence

    # episodes of 50 steps, not 500: the random weights never reach the cheese, and the claim
    # (the evaluation runs on a 2023 checkpoint and reports its environment) is not about length
    played = divergence.rollout
    monkeypatch.setattr(divergence, "rollout", lambda *a, **k: played(*a, **k, max_steps=50))
    cfg = EvaluateConfig(run=str(pth), episodes=3, divergence_mazes=1, resamples=2)
    result, _ = evaluate_run(cfg, cfg.run, tmp_path / "eval")
    assert result["environment_2023"]["cheese_region"] == 5 and result["episodes"] == 3


@pytest.mark.parametrize(
    "analysis", [pytest.param("cheese-vector", marks=pytest.mark.slow), "retarget"]
)
def test_patch_runs(pth: Path, tmp_path: Path, analysis: str) -> None:
    patch = PatchConfig(
        analysis=analysis,
        run=str(pth),
        mazes=2,
        search_mazes=1,
        targets_per_maze=2,
        goal_field=False,
        out=str(tmp_path / analysis),
    )
    report, out = run_analysis(patch)
    assert report["source"].endswith("model_rand_region_5.pth")
    assert report["environment_2023"]["world_size"] == 25 and (out / "report.json").is_file()


def test_viewer_session(pth: Path) -> None:
    from agents.play import patch_factories
    from agents.play.session import PlaySession
    from agents.policy.rollout import net_act_fn

    policy = load_policy(pth)
    net, env = policy.net, policy.config.env
    s = PlaySession(env, net_act_fn(net), patch_factory=patch_factories(net, env), name="2023")
    start = s.state.mouse
    probs = s.direction_probs()
    assert probs is not None and probs.shape == (4,)
    assert 0 < float(probs.sum()) <= 1 + 1e-6  # 15 actions: the no-ops hold the rest
    for _ in range(3):
        s.step()
    assert s.frame().ndim == 3 and (s.state.mouse != start or s.steps == 3)
    s.toggle_patch("cheese_vector")
    assert s.patch == "cheese_vector" and s.field_probs() is not None


def test_no_paired_or_donor_mazes_is_one_line() -> None:
    """Tiny runs (``resample-channels mazes=2``, a few evaluation mazes) used to end in
    ``BatchState.stack([])``; they now say which setting to raise."""
    from agents.interp.channels import donors_for
    from agents.interp.divergence import outside_region_cheese
    from agents.settings.base import ConfigError
    from mazegen import MazeConfig, generate_levels

    states = generate_levels(range(2), MazeConfig(world_size=9, max_size=9, obs_mode="grid"))
    with pytest.raises(ConfigError, match=r"analyse more mazes \(mazes=\)"):
        donors_for(states, states, same_place=True)  # its only donors are the mazes themselves
    with pytest.raises(ConfigError, match=r"evaluate more mazes \(episodes=\)"):
        outside_region_cheese(states, 9, np.random.default_rng(0))  # every square in the region


def test_command_lines_take_the_file(pth: Path) -> None:
    """The command-line check before Hydra runs (`agents.cli.checked`) resolves ``run=``: a
    2023 file is a run of its own, not a checkpoint missing its config.yaml."""
    from agents.run.folder import resolve

    assert resolve(pth) == (pth.parent, pth)


def test_procgen_runs_evaluate_on_procgens_held_out_levels(pth: Path) -> None:
    """A 2023 file's evaluation levels lie in procgen's held-out range, and a procgen-mode
    training config whose held-out levels fall outside procgen's level space is refused."""
    from agents.settings.base import ConfigError
    from agents.settings.pth import PthConfig, env_settings
    from agents.settings.train import AgentConfig, EvalConfig, NetworkConfig, TrainConfig, validate
    from mazegen import MazeConfig
    from mazegen.levels import PROCGEN_HELD_OUT_START, PROCGEN_LEVEL_END

    assert load_policy(pth).config.eval.start_level == PROCGEN_HELD_OUT_START
    env = MazeConfig(**env_settings(PthConfig()))
    assert env.procgen
    agent = AgentConfig(network=NetworkConfig(kind="impala"))
    with pytest.raises(ConfigError, match="eval.start_level=2130706432"):
        validate(TrainConfig(env=env, agent=agent))
    ok = TrainConfig(env=env, agent=agent, eval=EvalConfig(start_level=PROCGEN_HELD_OUT_START))
    validate(ok)
    assert PROCGEN_HELD_OUT_START < PROCGEN_LEVEL_END
