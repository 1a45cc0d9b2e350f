import numpy as np
import pytest

torch = pytest.importorskip("torch")

from agents.interp.activations import (  # noqa: E402
    Setting,
    map_position,
    patched_act_fn,
    stack_acts,
    without_cheese,
)
from agents.interp.channels import find_cheese_channels  # noqa: E402
from agents.interp.patches import (  # noqa: E402
    add_vector,
    mean_ablate,
    resample,
    scale_channels,
    set_channels,
    zero,
)
from agents.interp.retarget import check_target, retarget, targets_of  # noqa: E402
from agents.policy.hooked import HookedMazeNet, HookError  # noqa: E402
from agents.policy.networks import make_embedder  # noqa: E402
from agents.policy.rollout import rollout  # noqa: E402
from agents.settings.train import NetworkConfig  # noqa: E402
from mazegen import MazeConfig, generate_levels  # noqa: E402
from mazegen.actions import ACTION_DIRECTIONS  # noqa: E402
from mazegen.queries import optimal_moves, shortest_path  # noqa: E402
from mazegen.render import observe  # noqa: E402

SMALL_HOOKS = [
    "embedder.scale_in",
    "embedder.conv1",
    "embedder.relu1_out",
    "embedder.conv2",
    "embedder.relu2_out",
    "embedder.conv3",
    "embedder.relu3_out",
    "embedder.conv4",
    "embedder.relu4_out",
    "embedder.flatten",
    "embedder.fc",
    "embedder.relufc_out",
    "fc_policy",
    "fc_value",
]


def make_net(kind, shape, scale=1, actions=15):
    emb = make_embedder(NetworkConfig(kind=kind, channels=8, scale=scale), shape, 255.0)
    torch.manual_seed(0)
    heads = torch.nn.Linear(256, actions), torch.nn.Linear(256, 1)
    return HookedMazeNet(emb, *heads, shape).eval()


def test_small_network_hook_names_and_shapes_are_stable():
    net = make_net("small", (3, 9, 9), actions=4)
    shapes = net.shapes
    assert list(shapes) == SMALL_HOOKS
    assert shapes["embedder.relu3_out"] == (8, 9, 9) and shapes["fc_policy"] == (4,)


def test_impala_hooks_include_the_2023_layer_with_its_shape():
    net = make_net("impala", (3, 64, 64), scale=4)
    shapes = net.shapes
    assert shapes["embedder.block2.res1.resadd_out"] == (128, 16, 16)
    assert shapes["embedder.block1.maxpool_out"] == (64, 32, 32)
    assert shapes["embedder.block3.res2.resadd_out"] == (128, 8, 8)
    for block in (1, 2, 3):
        for res in (1, 2):
            for part in ("relu1_out", "conv1", "relu2_out", "conv2", "resadd_out"):
                assert f"embedder.block{block}.res{res}.{part}" in shapes
    n_convs = sum(1 for k in shapes if k.split(".")[-1].startswith("conv"))
    assert n_convs == 15  # "15 conv layers"
    params = sum(p.numel() for p in net.embedder.parameters())
    assert 2.5e6 < params < 4.5e6  # ~3.5M with the heads in the original


def test_cache_identity_and_zero_patches():
    net = make_net("small", (3, 9, 9), actions=4)
    obs = torch.randint(0, 2, (5, 3, 9, 9)).float()
    (logits, value), cache = net.run_with_cache(obs, ["embedder.relu2_out", "embedder.fc"])
    assert cache["embedder.relu2_out"].shape == (5, 8, 9, 9)
    assert cache["embedder.fc"].shape == (5, 256)
    (l2, v2), _ = net.run_with_cache(obs, [], patches={"embedder.relu2_out": lambda x: x})
    assert torch.equal(logits, l2) and torch.equal(value, v2)
    (l3, _), _ = net.run_with_cache(obs, [], patches={"embedder.relu2_out": zero()})
    assert not torch.allclose(logits, l3)


def test_hooks_are_removed_after_an_exception():
    net = make_net("small", (3, 9, 9), actions=4)
    obs = torch.zeros(1, 3, 9, 9)
    before = net(obs)[0]
    with pytest.raises(RuntimeError, match="boom"), net.hooks(patches={"embedder.conv1": zero()}):
        raise RuntimeError("boom")
    assert all(not m._forward_hooks for m in net.modules())
    assert torch.equal(net(obs)[0], before)


def test_patches_compose_left_to_right_and_cache_sees_the_result():
    net = make_net("small", (3, 9, 9), actions=4)
    obs = torch.ones(1, 3, 9, 9)
    fns = [lambda x: x + 1.0, lambda x: x * 2.0]
    _, cache = net.run_with_cache(obs, ["embedder.relu1_out"])
    _, patched = net.run_with_cache(
        obs, ["embedder.relu1_out"], patches={"embedder.relu1_out": fns}
    )
    assert torch.allclose(patched["embedder.relu1_out"], (cache["embedder.relu1_out"] + 1) * 2)


def test_patch_primitives():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float).reshape(2, 3, 4, 4)
    v = torch.ones(3, 4, 4)
    assert torch.equal(add_vector(v, -2.0)(x), x - 2)
    assert torch.equal(mean_ablate(x.mean(0))(x)[1], x.mean(0))
    other = -x
    r = resample(other, channels=[1])(x)
    assert torch.equal(r[:, 1], other[:, 1]) and torch.equal(r[:, 0], x[:, 0])
    s = set_channels([2], (1, 3), 9.0)(x)
    assert (s[:, 2, 1, 3] == 9).all() and (s != x).sum() == 2
    scaled = scale_channels([1], 0.0)(x)
    assert (scaled[:, 1] == 0).all() and torch.equal(scaled[:, 0], x[:, 0])
    per = set_channels([0], [(0, 0), (3, 3)], 5.0)(x)
    assert per[0, 0, 0, 0] == 5 and per[1, 0, 3, 3] == 5 and per[1, 0, 0, 0] != 5
    # radius 1: the 3 x 3 around each position, clipped at the edge (4 cells at a corner, 9 inside)
    area = set_channels([0, 2], [(0, 0), (2, 1)], 7.0, radius=1)(x)
    changed = area != x
    assert changed[0, 0].sum() == 4 and changed[1, 0].sum() == 9 and not changed[:, [1]].any()
    assert (area[0, 0, :2, :2] == 7).all() and (area[1, 2, 1:4, 0:3] == 7).all()
    assert torch.equal(area[0, 0, 2:], x[0, 0, 2:]) and torch.equal(area[1, 0, 0], x[1, 0, 0])
    with pytest.raises(HookError, match="radius >= 0"):
        set_channels([0], (0, 0), 1.0, radius=-1)


def test_bad_hook_inputs_give_one_line_errors():
    net = make_net("small", (3, 9, 9), actions=4)
    obs = torch.zeros(1, 3, 9, 9)
    with pytest.raises(HookError, match="did you mean embedder.relu3_out"):
        net.run_with_cache(obs, ["embedder.relu3"])
    with pytest.raises(HookError, match="vector has shape"):
        net.run_with_cache(obs, [], patches={"embedder.relu3_out": add_vector(torch.ones(5))})
    with pytest.raises(HookError, match="out of range"):
        net.run_with_cache(obs, [], patches={"embedder.relu3_out": set_channels([99], (0, 0), 1.0)})
    with pytest.raises(HookError, match="outside the 9x9"):
        net.run_with_cache(obs, [], patches={"embedder.relu3_out": set_channels([0], (9, 0), 1.0)})
    state = generate_levels([1], MazeConfig(world_size=9, min_size=5, max_size=9))[0]
    wall = tuple(int(v) for v in np.argwhere(state.walls)[0])
    with pytest.raises(HookError, match="on a wall"):
        check_target(state, wall)


class PlantedEmbedder(torch.nn.Module):
    """conv1's channel 2 copies the cheese channel; the others see walls and the mouse."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 4, 1, bias=False)
        with torch.no_grad():
            self.conv1.weight.zero_()
            self.conv1.weight[0, 0] = 1.0  # walls
            self.conv1.weight[1, 1] = 1.0  # mouse
            self.conv1.weight[2, 2] = 1.0  # cheese -> the planted channel
            self.conv1.weight[3, 0] = -0.5
        self.relu1_out = torch.nn.ReLU()

    def forward(self, x):
        return self.relu1_out(self.conv1(x.float()))


class GoToPeak(torch.nn.Module):
    """A scripted readout: logits for the move that walks toward channel 2's peak."""

    def forward(self, feats):
        logits = torch.full((feats.shape[0], 4), -20.0)
        for i in range(feats.shape[0]):
            walls = feats[i, 0].numpy() > 0.5
            mouse = tuple(int(v) for v in np.argwhere(feats[i, 1].numpy() > 0.5)[0])
            if feats[i, 2].max() <= 0:
                continue
            peak = tuple(int(v) for v in np.unravel_index(int(feats[i, 2].argmax()), walls.shape))
            moves = optimal_moves(walls, peak)[mouse] if peak != mouse else np.zeros(4, bool)
            if moves.any():
                direction = int(np.argmax(moves))  # up, down, left, right
                logits[i, (2, 1, 0, 3)[direction]] = 20.0  # cardinal: left, down, up, right
        return logits


class NoValue(torch.nn.Module):
    def forward(self, feats):
        return torch.zeros(feats.shape[0], 1)


def PlantedNet():  # noqa: N802 - a network, built like the real ones
    """A planted policy as a hooked network: channel 2 of ``embedder.relu1_out`` copies the
    cheese and the readout walks toward its peak."""
    return HookedMazeNet(PlantedEmbedder(), GoToPeak(), NoValue(), (3, 9, 9))


def test_channel_discovery_finds_the_planted_channel_and_retargeting_moves_the_readout():
    cfg = MazeConfig(
        world_size=9, min_size=5, max_size=9, obs_mode="grid", action_mode="cardinal", max_steps=60
    )
    net = PlantedNet()
    states = generate_levels(range(40), cfg)
    found = find_cheese_channels(net, "embedder.relu1_out", states, cfg)
    assert found.top[0]["channel"] == 2 and found.top[0]["tracking_accuracy"] == 1.0
    # retarget: the planted channel set high at a target square leads the readout there
    targets = []
    for s in states:
        far = [sq for sq in map(tuple, np.argwhere(~s.walls)) if sq not in (s.start, s.cheese)]
        targets.append(far[len(far) // 2])
    targets = np.array(targets)
    pos = map_position(targets, cfg.world_size, (4, 9, 9))
    act = patched_act_fn(net, lambda idx: {"embedder.relu1_out": set_channels([2], pos[idx], 5.0)})
    no_cheese = without_cheese(states)  # only the patch says where to go
    ep = rollout(act, no_cheese, cfg, region=1, rng=np.random.default_rng(0), goal=targets)
    assert ep.reached_goal.all()
    plain = rollout(
        patched_act_fn(net, lambda idx: {}),
        no_cheese,
        cfg,
        region=1,
        rng=np.random.default_rng(0),
        goal=targets,
    )
    assert plain.reached_goal.mean() < 0.5  # unpatched, the readout wanders


def test_stacked_acts_give_each_row_its_own_interventions_patches():
    """Row k * n + i of a stack is maze i under act k, whichever rows a step passes (the
    active ones, in any order): set, added and listed patches, and no patch at all."""
    cfg = MazeConfig(world_size=9, min_size=5, max_size=9, obs_mode="grid")
    net = make_net("small", (3, 9, 9), actions=4)
    n = 5
    obs = observe(generate_levels(range(n), cfg), cfg)
    pos = np.array([[1, 2], [3, 3], [0, 8], [4, 1], [7, 7]])
    shift = torch.randn(n, 8, 9, 9)
    acts = [
        patched_act_fn(net, lambda idx: {}),
        patched_act_fn(
            net, lambda idx: {"embedder.relu1_out": set_channels([1, 3], pos[idx], 4.0)}
        ),
        patched_act_fn(
            net,
            lambda idx: {
                "embedder.relu1_out": [
                    add_vector(shift[torch.as_tensor(idx)]),
                    scale_channels([0], 0),
                ],
                "embedder.relu2_out": scale_channels([2], 3.0),
            },
        ),
    ]
    alone = np.concatenate([act(obs) for act in acts])  # [3 n, actions]
    assert not np.allclose(alone[:n], alone[n : 2 * n]) and not np.allclose(
        alone[:n], alone[2 * n :]
    )
    stacked = stack_acts(acts, n)
    rows = np.array([14, 0, 7, 3, 10, 11, 5])  # some of them, out of order
    np.testing.assert_allclose(
        stacked(np.concatenate([obs] * 3)[rows], rows), alone[rows], atol=1e-5
    )
    with pytest.raises(ValueError, match="one network"):
        stack_acts([acts[0], patched_act_fn(make_net("small", (3, 9, 9)), lambda idx: {})], n)


def test_targets_behind_the_cheese_are_those_whose_only_path_passes_it():
    cfg = MazeConfig(world_size=9, min_size=5, max_size=9, obs_mode="grid")
    states = generate_levels(range(12), cfg)
    targets = targets_of(states)
    want = [
        states[m].cheese in shortest_path(states[m].walls, states[m].mouse, (int(r), int(c)))
        for m, (r, c) in zip(targets.maze, targets.squares)
    ]
    assert targets.behind_cheese.tolist() == want and 0.02 < np.mean(want) < 0.5


def test_retargeting_plays_interventions_as_one_batch_with_the_same_outcomes():
    """Deterministic moves: the stacked batch and one rollout per intervention give the same
    success and path probability for every intervention."""
    cfg = MazeConfig(
        world_size=9, min_size=5, max_size=9, obs_mode="grid", action_mode="cardinal", max_steps=60
    )
    net = PlantedNet()
    states = generate_levels(range(12), cfg)
    targets = targets_of(states, 3, np.random.default_rng(0))
    base = states.take(targets.maze)
    pos = map_position(targets.squares, cfg.world_size, (4, 9, 9))
    interventions = {
        "none": (base, patched_act_fn(net, lambda idx: {})),
        "removed": (without_cheese(base), patched_act_fn(net, lambda idx: {})),
        "set": (
            without_cheese(base),
            patched_act_fn(
                net, lambda idx: {"embedder.relu1_out": set_channels([2], pos[idx], 5.0)}
            ),
        ),
    }
    setting = Setting(cfg, 1, np.random.default_rng(0), deterministic=True)
    dirs = ACTION_DIRECTIONS[cfg.action_mode]
    stacked = retarget(interventions, targets, setting, dirs)
    one_by_one = {  # plain functions are not stacked
        k: (s, lambda obs, idx=None, act=act: act(obs, idx))
        for k, (s, act) in interventions.items()
    }
    alone = retarget(one_by_one, targets, setting, dirs)
    assert (
        stacked["set"].summary["success"]["p"] == 1.0 > stacked["removed"].summary["success"]["p"]
    )
    for k in interventions:
        np.testing.assert_array_equal(stacked[k].reached, alone[k].reached)
        a, b = stacked[k].summary, alone[k].summary
        assert {m: v for m, v in a.items() if "path_prob" not in m} == {
            m: v for m, v in b.items() if "path_prob" not in m
        }
        assert a["path_probability"] == pytest.approx(b["path_probability"], abs=1e-6)
