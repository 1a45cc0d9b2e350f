"""``agents.interp.subspace``: a signal held by a few directions vs by a few channels."""

import pytest

torch = pytest.importorskip("torch")

from agents.interp.subspace import (  # noqa: E402
    channel_share,
    near_share,
    principal_directions,
    project,
)


def _rotated_signal(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A [batch, 8, 5, 5] signal that lies in 2 directions, each spread over all 8 channels."""
    g = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(8, 8, generator=g))
    coef = torch.randn(6, 2, 5, 5, generator=g) * torch.tensor([3.0, 1.0]).view(1, 2, 1, 1)
    return torch.einsum("ck,nkhw->nchw", basis[:, :2], coef), basis[:, :2]


def test_a_rotated_code_is_found_in_directions_not_channels():
    delta, true = _rotated_signal()
    directions, share = principal_directions(delta)
    assert share[1] == pytest.approx(1.0, abs=1e-5)  # two directions hold all of it
    assert share[0] > 0.8  # the first, 3x larger, most (9 : 1 in expectation)
    # the two directions span the true plane
    overlap = torch.linalg.svdvals(true.T @ directions[:, :2])
    assert torch.allclose(overlap, torch.ones(2), atol=1e-4)
    # ...while two channels hold far less of it
    assert channel_share(delta)[1] < 0.8
    assert torch.allclose(project(delta, directions, 2), delta, atol=1e-4)


def test_a_channel_code_is_found_in_channels_and_projection_is_exact():
    delta = torch.zeros(4, 6, 3, 3)
    delta[:, 2] = torch.randn(4, 3, 3)
    directions, share = principal_directions(delta)
    assert share[0] == pytest.approx(1.0) and channel_share(delta)[0] == pytest.approx(1.0)
    assert abs(float(directions[2, 0])) == pytest.approx(1.0)
    full = torch.randn(3, 6, 4, 4)
    d, _ = principal_directions(full)
    assert torch.allclose(project(full, d, 6), full, atol=1e-5)  # every direction: unchanged
    assert torch.count_nonzero(project(full, d, 0)) == 0


def test_a_zero_signal_has_no_share():
    directions, share = principal_directions(torch.zeros(2, 4, 3, 3))
    assert directions.shape == (4, 4) and torch.all(share == 0)
    assert torch.all(channel_share(torch.zeros(2, 4, 3, 3)) == 0)


def test_near_share_finds_a_code_held_at_the_cells():
    delta = torch.zeros(2, 3, 6, 6)
    delta[0, :, 1, 4] = 2.0  # at the first maze's cell
    delta[0, 0, 2, 5] = 1.0  # beside it
    delta[1, 1, 5, 0] = 1.0  # at the second maze's second cell
    delta[1, 2, 0, 0] = 1.0  # far from both of its cells
    cells = torch.tensor([[[1, 4], [-1, -1]], [[3, 3], [5, 0]]])  # [batch, m, 2]
    total = 3 * 4.0 + 1 + 1 + 1
    assert near_share(delta, cells, 0) == pytest.approx((12 + 1) / total)
    assert near_share(delta, cells, 1) == pytest.approx((12 + 1 + 1) / total)
    assert near_share(delta, cells, 6) == pytest.approx(1.0)
    assert near_share(torch.zeros(1, 2, 3, 3), torch.tensor([[[0, 0]]]), 1) == 0.0
