import numpy as np
import pytest

torch = pytest.importorskip("torch")

from agents.interp.activations import without_cheese  # noqa: E402
from agents.interp.goal_field import GoalField, field_samples, fit_goal_field  # noqa: E402
from agents.policy.hooked import HookedMazeNet, HookError  # noqa: E402
from mazegen import MazeConfig, generate_levels  # noqa: E402
from mazegen.queries import shortest_path  # noqa: E402

CFG = MazeConfig(world_size=9, min_size=5, max_size=9, obs_mode="grid", action_mode="cardinal")


def test_field_is_the_kernel_centred_on_each_position_and_clipped_at_the_border():
    kernel = torch.arange(2 * 3 * 3, dtype=torch.float32).reshape(2, 3, 3)
    f = GoalField("h", kernel, scale=2.0).field(torch.tensor([[4, 4], [0, 8]]), (9, 9))
    assert f.shape == (2, 2, 9, 9)
    assert torch.equal(f[0, :, 3:6, 3:6], 2 * kernel)
    assert f[0].abs().sum() == 2 * kernel.abs().sum()  # nothing else is touched
    assert torch.equal(f[1, :, 0:2, 7:9], 2 * kernel[:, 1:, :2])  # the corner keeps its part


def test_samples_cover_the_path_to_each_target_with_the_direction_toward_it():
    states = generate_levels(range(3), CFG)
    data = field_samples(states, np.random.default_rng(0), others=0.0)
    s = states[0]
    rows = np.flatnonzero(data.maze == 0)
    t = tuple(data.target[rows[0]])
    path = shortest_path(s.walls, s.start, t)
    mine = [tuple(data.mouse[r]) for r in rows if tuple(data.target[r]) == t]
    assert sorted(mine) == sorted(path[:-1])  # every square before the target, once
    steps = {(-1, 0): 0, (1, 0): 1, (0, -1): 2, (0, 1): 3}
    for r in rows[: len(mine)]:
        assert tuple(data.target[r]) == t
        nxt = path[path.index(tuple(data.mouse[r])) + 1]
        delta = (nxt[0] - data.mouse[r][0], nxt[1] - data.mouse[r][1])
        assert data.direction[r] == steps[delta]
    assert (data.cheese == data.target).all()  # the default moves the cheese onto the target


class Compass(torch.nn.Module):
    """Differentiable planted readout: walks toward the centre of mass of channel 2 of
    ``embedder.relu1_out`` (which copies the cheese); with no cheese it is uniform."""

    def forward(self, feats):  # [B, 4, 9, 9]
        b = feats.shape[0]
        mouse = feats[:, 1].reshape(b, -1).argmax(dim=1)
        mr, mc = (mouse // 9).float(), (mouse % 9).float()
        rows = torch.arange(9.0).reshape(1, 9, 1)
        cols = torch.arange(9.0).reshape(1, 1, 9)
        g = feats[:, 2]
        dr = (g * (rows - mr.reshape(b, 1, 1))).sum(dim=(1, 2))
        dc = (g * (cols - mc.reshape(b, 1, 1))).sum(dim=(1, 2))
        return 3.0 * torch.stack([-dc, dr, -dr, dc], dim=1)  # cardinal: left, down, up, right


class NoValue(torch.nn.Module):
    def forward(self, feats):
        return torch.zeros(feats.shape[0], 1)


def CompassNet():  # noqa: N802 - a network, built like the real ones
    embedder = torch.nn.Sequential()
    embedder.add_module("scale_in", Float())
    embedder.add_module("conv1", torch.nn.Conv2d(3, 4, 1, bias=False))
    embedder.add_module("relu1_out", torch.nn.ReLU())
    with torch.no_grad():
        embedder.conv1.weight.zero_()
        for c in range(3):
            embedder.conv1.weight[c, c] = 1.0
    return HookedMazeNet(embedder, Compass(), NoValue(), (3, 9, 9))


class Float(torch.nn.Module):
    def forward(self, obs):
        return obs.float()


def test_fitting_discovers_the_planted_goal_channel_and_steers():
    net = CompassNet()
    states = without_cheese(generate_levels(range(20), CFG))  # only the field says where to go
    field, info = fit_goal_field(
        net,
        "embedder.relu1_out",
        states,
        CFG,
        np.random.default_rng(0),
        size=3,
        steps=150,
        batch=256,
        cheese_on_target=False,
    )
    assert info["loss_start"] == pytest.approx(np.log(4), abs=1e-4)  # no cheese: uniform
    assert info["loss_end"] < info["loss_start"] - 0.1
    # a compass toward the target picks the path's direction about half the time in a maze
    # (chance: a quarter)
    assert info["direction_accuracy"] > 0.4
    centre = field.kernel[:, 1, 1]
    assert int(centre.argmax()) == 2 and centre[2] > 0  # mass on the planted channel's target
    assert all(p.requires_grad for p in net.parameters())  # the network is left as it was


def test_goal_field_errors_are_one_line():
    net = CompassNet()
    states = generate_levels(range(2), CFG)
    with pytest.raises(HookError, match="odd"):
        fit_goal_field(net, "embedder.relu1_out", states, CFG, np.random.default_rng(0), size=4)
    with pytest.raises(HookError, match="did you mean"):
        fit_goal_field(net, "embedder.relu2_out", states, CFG, np.random.default_rng(0))
    bad = GoalField("embedder.relu1_out", torch.zeros(3, 3, 3))
    obs = torch.zeros(1, 3, 9, 9)
    patch = {"embedder.relu1_out": bad.patch(np.array([1, 1]))}
    with pytest.raises(HookError, match="does not fit"), net.hooks(patches=patch):
        net(obs)


def test_goal_fields_round_trip_and_bad_files_give_one_line_errors(tmp_path):
    from agents.interp.goal_field import load_goal_field, save_goal_fields

    kernel = torch.randn(4, 5, 5)
    path = tmp_path / "fields.npz"
    save_goal_fields(path, {"goal_field": GoalField("embedder.relu1_out", kernel)})
    back = load_goal_field(path)
    assert back.hook == "embedder.relu1_out" and torch.equal(back.kernel, kernel)
    with pytest.raises(HookError, match="no goal-field file"):
        load_goal_field(tmp_path / "missing.npz")
    with pytest.raises(HookError, match="holds no goal field 'other'"):
        load_goal_field(path, "other")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(HookError, match="not a readable goal-field file"):
        load_goal_field(bad)
