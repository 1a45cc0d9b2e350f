import pytest
from conftest import TINY, train_cli, train_config

torch = pytest.importorskip("torch")

from agents.settings.base import ConfigError  # noqa: E402
from agents.train.ppo import build_ppo  # noqa: E402
from agents.train.sparsity import ActivationL1  # noqa: E402
from agents.train.vecenv import MazeVecEnv  # noqa: E402


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))


def test_the_hook_adds_the_gradient_of_the_l1_penalty():
    x = torch.randn(11, 5)
    explicit, hooked = _net(), _net()
    out = explicit[1](explicit[0](x))
    loss = explicit[2](out).pow(2).sum() + 0.3 * out.abs().mean()
    loss.backward()
    penalty = ActivationL1(hooked, "embedder.1", 0.3)
    hooked(x).pow(2).sum().backward()
    for a, b in zip(explicit.parameters(), hooked.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad)
    plain = _net()
    plain(x).pow(2).sum().backward()
    assert not torch.allclose(plain[0].weight.grad, hooked[0].weight.grad)
    assert penalty.pop_mean_abs() == pytest.approx(float(out.detach().abs().mean()))
    assert penalty.pop_mean_abs() is None  # popped
    penalty.remove()
    with torch.no_grad():
        hooked(x)
    hooked(x).sum().backward()
    assert penalty.pop_mean_abs() is None  # removed: nothing recorded


def test_the_hook_leaves_inference_alone():
    net, x = _net(), torch.randn(4, 5)
    expected = net(x)
    penalty = ActivationL1(net, "1", 1.0)
    with torch.no_grad():
        torch.testing.assert_close(net(x), expected)
    assert penalty.pop_mean_abs() is None


def test_a_wrong_layer_name_says_which_exist():
    exact = r"^agent.ppo.activation_l1_hook: no layer 'embedder.block9' in the network$"
    with pytest.raises(ConfigError, match=exact):
        ActivationL1(torch.nn.Sequential(), "embedder.block9", 1.0)
    net = torch.nn.Sequential()
    net.add_module("block2", torch.nn.Identity())
    with pytest.raises(ConfigError, match="did you mean embedder.block2"):
        ActivationL1(net, "embedder.block3", 1.0)


def _hooked_abs_mean(coef: float) -> float:
    """Mean |a| at the hooked layer on fixed observations after 4 tiny PPO iterations."""
    from agents.policy.hooked import HookedMazeNet

    cfg = train_config(
        "experiment=study9_fullres",
        "num_envs=8",
        "agent.ppo.n_steps=64",
        "agent.ppo.batch_size=128",
        f"agent.ppo.activation_l1={coef}",
    )
    env = MazeVecEnv(cfg.env, cfg.num_envs, seed=0)
    model = build_ppo(cfg, env, None)
    model.learn(4 * 8 * 64)
    obs = torch.as_tensor(MazeVecEnv(cfg.env, 32, seed=1).reset())
    net = HookedMazeNet.of(model.policy)
    with torch.no_grad():
        _, cache = net.run_with_cache(obs, [net.default_hook])
    return float(cache[net.default_hook].abs().mean())


def test_the_penalty_shrinks_the_hooked_layer_in_training():
    assert _hooked_abs_mean(2.0) < 0.8 * _hooked_abs_mean(0.0)


def test_bad_penalty_settings_fail_with_one_line(tmp_path):
    for args, message in [
        (["agent.ppo.activation_l1=-1"], "agent.ppo.activation_l1 must be >= 0"),
        (
            ["agent.network.kind=impala", "agent.ppo.activation_l1=0.1"]
            + ["agent.ppo.activation_l1_hook=embedder.block2.res1.resad"],
            "did you mean embedder.block2.res1.resadd_out",
        ),
    ]:
        out = train_cli(*TINY, *args, f"hydra.run.dir={tmp_path / 'bad'}", check=False)
        assert out.returncode == 2, out.stderr
        lines = [line for line in out.stderr.strip().splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and message in lines[0], out.stderr
