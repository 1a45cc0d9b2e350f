import numpy as np
import pytest
from conftest import assert_same_grads_unlike_plain

torch = pytest.importorskip("torch")

from agents.interp.activations import map_position  # noqa: E402
from agents.train import locality  # noqa: E402
from agents.train.sparsity import ActivationPenalty  # noqa: E402
from mazegen.render import GRID_CHEESE_CHANNEL  # noqa: E402


def _grid_obs(cheese: list[tuple[int, int] | None], world: int = 9) -> torch.Tensor:
    """Grid observations ``[batch, 3, world, world]`` with random walls and the given cheese."""
    rng = np.random.default_rng(0)
    obs = np.zeros((len(cheese), 3, world, world), dtype=np.float32)
    obs[:, 0] = rng.random((len(cheese), world, world)) < 0.3
    for i, square in enumerate(cheese):
        if square is not None:
            obs[i, 0, square[0], square[1]] = 0
            obs[i, GRID_CHEESE_CHANNEL, square[0], square[1]] = 1
    return torch.as_tensor(obs)


@pytest.mark.parametrize("shape", [(9, 9), (5, 5), (3, 3)])
def test_cheese_cells_follow_the_analyses_map_rule(shape):
    squares = [(r, c) for r in range(9) for c in range(9)]
    cells = locality.cheese_cells(_grid_obs(squares), shape)
    expected = map_position(np.array(squares), 9, (32, *shape))
    np.testing.assert_array_equal(cells.numpy(), expected)
    assert locality.cheese_cells(_grid_obs([None]), shape).tolist() == [[-1, -1]]


def test_far_mask_leaves_out_the_cheese_neighbourhood():
    cells = torch.tensor([[4, 4], [0, 0], [-1, -1]])
    at_cell = locality.far_mask(cells, (9, 9), 0)
    assert at_cell.shape == (3, 1, 9, 9)
    assert at_cell.sum(dim=(1, 2, 3)).tolist() == [80, 80, 0]
    assert at_cell[0, 0, 4, 4] == 0 and at_cell[1, 0, 0, 0] == 0
    assert locality.far_mask(cells, (9, 9), 1).sum(dim=(1, 2, 3)).tolist() == [72, 77, 0]


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d
    return torch.nn.Sequential(
        conv(3, 4, 3, padding=1), torch.nn.Tanh(), conv(4, 4, 3, padding=1), conv(4, 2, 3)
    )


@pytest.mark.parametrize("radius", [0, 1])
def test_the_hook_adds_the_gradient_of_the_spread_penalty(radius):
    x = _grid_obs([(1, 1), (4, 6), None, (8, 8)], world=9)
    spread, eps = 0.7, 1e-12
    explicit, hooked = _net(), _net()

    def layer(net: torch.nn.Module, obs: torch.Tensor) -> torch.Tensor:
        return net[2](net[1](net[0](obs)))  # [batch, 4, 9, 9]

    out = layer(explicit, x)
    delta = out - layer(explicit, locality.without_cheese(x))  # both runs carry gradients
    far = locality.far_mask(locality.cheese_cells(x, (9, 9)), (9, 9), radius)
    norm = (delta.pow(2).sum(dim=1, keepdim=True) + eps).sqrt()  # smooth where delta is 0
    (explicit[3](out).pow(2).sum() + spread * (far * norm).mean()).backward()
    penalty = ActivationPenalty(hooked, "embedder.2", 0.0, 0.0, spread, radius)
    assert_same_grads_unlike_plain(explicit, hooked, _net(), x)
    share = penalty.pop_means()["cheese_move_far_share"]
    assert share == pytest.approx(locality.far_share(delta, far))
    one_sided = _net()  # the penalty through the run with cheese alone: another gradient
    d1 = layer(one_sided, x) - layer(one_sided, locality.without_cheese(x)).detach()
    (
        one_sided[3](layer(one_sided, x)).pow(2).sum()
        + spread * (far * d1.norm(dim=1, keepdim=True)).mean()
    ).backward()
    assert not torch.allclose(one_sided[0].weight.grad, hooked[0].weight.grad)
    assert 0 < share < 1


def test_the_spread_hook_leaves_inference_and_the_input_alone():
    net, x = _net(), _grid_obs([(2, 3), (7, 7)])
    kept = x.clone()
    expected = net(x)
    penalty = ActivationPenalty(net, "2", 0.0, 0.0, 1.0)
    with torch.no_grad():
        torch.testing.assert_close(net(x), expected)
    assert penalty.pop_means() == {}
    torch.testing.assert_close(net(x), expected)  # with gradients: same forward values
    torch.testing.assert_close(x, kept)
    assert set(penalty.pop_means()) >= {"cheese_move_far_share"}
    penalty.remove()
    net(x).sum().backward()
    assert penalty.pop_means() == {}


def test_the_spread_gradient_is_zero_where_the_cheese_changes_nothing():
    delta = torch.randn(2, 4, 5, 5)
    delta[0, :, 0, 0] = 0
    far = torch.ones(2, 1, 5, 5)
    far[1, 0, 2, 2] = 0
    grad = locality.spread_grad(delta, far, 1.0)
    assert torch.isfinite(grad).all()
    assert not grad[0, :, 0, 0].any() and not grad[1, :, 2, 2].any()
    unit = grad[1, :, 0, 0] * 50  # positions: 2 x 5 x 5
    torch.testing.assert_close(unit, delta[1, :, 0, 0] / delta[1, :, 0, 0].norm())
