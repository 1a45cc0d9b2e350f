"""``agents.interp.features.follow_map``: a map of the move features' change that follows the
mouse, fit along its paths, and its row (``python -m experiments.sae follow-map``)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from agents.interp.activations import without_cheese  # noqa: E402
from agents.interp.features.dictionary import Sae  # noqa: E402
from agents.interp.features.follow_fit import (  # noqa: E402
    along_paths,
    changes_at,
    fit_follow_map,
    train_follow_map,
)
from agents.interp.features.follow_map import (  # noqa: E402
    FollowAct,
    FollowMap,
    FollowMapNet,
    episode_planes,
    follow_inputs,
    follow_row,
)
from agents.interp.features.rows import feature_move  # noqa: E402
from agents.interp.study.agent import study_agent  # noqa: E402
from agents.policy.loading import load_policy  # noqa: E402
from agents.settings import ConfigError  # noqa: E402
from agents.settings.levels import STUDY_RETARGET_OFFSET  # noqa: E402
from agents.settings.sae import SaeConfig, validate_sae  # noqa: E402
from mazegen.queries import distances  # noqa: E402
from mazegen.render import observe  # noqa: E402


def _quick(mazes: int = 6, per_maze: int = 2, seed: int = 0):
    """`quick` at its default layer, a random SAE of it and a trial on fresh mazes."""
    policy = load_policy("quick")
    agent = study_agent("quick", policy, None, 0)
    c, h, w = agent.net.shapes[agent.hook]
    torch.manual_seed(seed)
    sae = Sae(c, 24, 6)
    trial = agent.trial(STUDY_RETARGET_OFFSET, mazes, per_maze, np.random.default_rng(seed), 2.0)
    return agent, sae, trial, (h, w)


def _random_map(sae: Sae, world: int, shape, reads_layer: bool = True) -> FollowMap:
    torch.manual_seed(1)
    net = FollowMapNet(8, 5, world, shape, sae.width if reads_layer else 0)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.3)
    return FollowMap([3, 0, 7, 1, 2], net.eval(), 0.5)


def test_the_inputs_show_the_step_and_what_stays_put_in_the_episode():
    """The step's open squares, mouse and cheese, read from its observation; the episode's
    target and path distances from it and from the cheese (none without the cheese)."""
    agent, _, trial, _ = _quick()
    world = agent.env.world_size
    planes = episode_planes(trial.states, trial.targets.squares)
    obs = torch.as_tensor(observe(trial.states, agent.env))
    x = follow_inputs(obs, planes)
    assert x.shape == (len(trial.targets.maze), 6, world, world)
    for i, (r, c) in enumerate(trial.targets.squares):
        walls = trial.states.walls[i]
        assert torch.equal(x[i, 0], torch.as_tensor(~walls, dtype=torch.float32))
        m, ch = trial.states.mouse[i], trial.states.cheese[i]
        assert x[i, 1].sum() == 1 and x[i, 1, m[0], m[1]] == 1
        assert x[i, 2].sum() == 1 and x[i, 2, ch[0], ch[1]] == 1
        assert x[i, 3].sum() == 1 and x[i, 3, r, c] == 1
        d = distances(walls, (int(r), int(c)))
        assert np.allclose(x[i, 4].numpy(), np.where(d >= 0, d / world, 0.0))
        d = distances(walls, (int(ch[0]), int(ch[1])))
        assert np.allclose(x[i, 5].numpy(), np.where(d >= 0, d / world, 0.0))
    gone = episode_planes(without_cheese(trial.states), trial.targets.squares)
    assert gone[:, 2].abs().sum() == 0 and torch.equal(gone[:, :2], planes[:, :2])


def test_the_follow_act_adds_the_maps_change_through_its_features_decoder_at_the_layer():
    """At each step: the layer as it is, plus ``scale`` x the map's change (from that step's
    inputs and that layer's features) through its features' decoder rows, each episode's own
    planes whatever order the episodes come in; scale 0 is the policy as it is. The map's JSON
    gives the same map."""
    agent, sae, trial, shape = _quick()
    world = agent.env.world_size
    fmap = _random_map(sae, world, shape)
    planes = episode_planes(trial.states, trial.targets.squares)
    k = np.arange(len(trial.targets.maze))[::-1].copy()  # the episodes in another order
    later = trial.states.take(k)
    later.mouse[:] = trial.targets.squares  # the mouse elsewhere: a later step
    obs = observe(later, agent.env)
    act = FollowAct(agent.net, agent.hook, sae, fmap, 1.5, planes)
    x = torch.as_tensor(obs)
    with torch.no_grad(), agent.net.hooks(cache=[agent.hook]) as there:
        agent.net(x)
    layer = there[agent.hook]
    with torch.no_grad():
        change = fmap.change(sae, follow_inputs(x, planes[torch.as_tensor(k)]), layer)
        want = layer + 1.5 * torch.einsum("bfhw,fc->bchw", change, sae.w_dec[fmap.features])
        with agent.net.hooks(patches={agent.hook: lambda a: want.to(a.dtype)}):
            logits, _ = agent.net(x)
    expected = torch.softmax(logits.float(), -1).numpy()
    got = act(obs, k)
    assert np.allclose(got, expected, atol=1e-5)
    plain = trial.unpatched()(obs, k)
    assert np.abs(got - plain).max() > 1e-3  # the write moves the policy
    assert np.allclose(FollowAct(agent.net, agent.hook, sae, fmap, 0.0, planes)(obs, k), plain,
                       atol=1e-6)  # fmt: skip
    # another episode's planes would be another write
    wrong = act(obs, np.arange(len(k)))
    assert np.abs(wrong - got).max() > 1e-4
    again = FollowMap.from_json(fmap.to_json())
    inputs = follow_inputs(x, planes[torch.as_tensor(k)])
    with torch.no_grad():
        assert torch.allclose(again.change(sae, inputs, layer), change, atol=1e-6)
    assert again.features == fmap.features and again.name == fmap.name
    maze_only = _random_map(sae, world, shape, reads_layer=False)
    assert maze_only.name == "follow map (the maze)"
    with torch.no_grad():  # the maze alone: the layer does not change its prediction
        alone = maze_only.change(sae, inputs, layer)
        assert torch.equal(alone, maze_only.change(sae, inputs, 0 * layer))
    with pytest.raises(ValueError, match="reads the layer's features"):
        fmap.net(inputs)
    row = follow_row(sae, fmap, 2.0)
    assert row.label == "top 5 move features' follow map (the maze and the layer) x2, at every step"


def test_a_follow_map_is_fit_on_the_steps_the_every_step_write_visits_and_their_change():
    """`along_paths`: every step the episodes visit under the features' own change written at
    every step, each episode's start among them; `changes_at` labels each with that change
    (at the start: the move `feature_move` takes once); `fit_follow_map` holds out the last
    fit mazes' steps, with and without the layer."""
    agent, sae, trial, _ = _quick(mazes=6, per_maze=3)
    feats = [0, 1, 2, 3]
    obs, episode = along_paths(sae, trial, feats)
    starts = observe(trial.states, agent.env)
    assert len(obs) > len(starts) and set(episode) == set(range(len(trial.targets.maze)))
    first = {int(e): i for i, e in reversed(list(enumerate(episode)))}  # each first step
    for e, i in first.items():
        assert np.array_equal(obs[i], starts[e])
    rows = np.array([first[e] for e in range(len(starts))])
    change, layer = changes_at(agent.net, agent.hook, sae, obs[rows],
                               trial.targets.squares[episode[rows]], feats)  # fmt: skip
    with torch.no_grad():
        once = feature_move(sae, trial, trial.states)[:, feats]
    assert torch.allclose(change, once, atol=1e-4)
    assert not torch.allclose(change, torch.zeros_like(change))
    assert layer.shape[1:] == agent.net.shapes[agent.hook]
    for reads in (True, False):
        fmap, fitted = fit_follow_map(sae, trial, feats, 5, seed=0, width=4, reads_layer=reads)
        # (the trial's sampler has moved on: other draws, other steps)
        assert fitted["mazes"] == 6 and fitted["steps_seen"] > len(starts)
        assert 0 < fitted["held_out_steps"] < fitted["steps_seen"]
        assert fmap.reads_layer == reads and np.isfinite(fmap.fve)


def test_the_trainer_learns_a_change_that_follows_its_inputs_and_measures_it_held_out():
    """`train_follow_map` on labels the inputs determine (each step's target and its path
    distance, pooled to the layer's map) explains nearly all of them on the held-out steps;
    the same labels shuffled among the steps, nothing."""
    from agents.interp.features.conv_map import pooling

    agent, sae, trial, (h, w) = _quick(mazes=40, per_maze=4)
    world = agent.env.world_size
    x = follow_inputs(torch.as_tensor(observe(trial.states, agent.env)),
                      episode_planes(trial.states, trial.targets.squares))  # fmt: skip
    pool = pooling(world, (h, w))  # [h * w, W * W], as the map pools
    y = 3.0 * (x[:, 3:5].flatten(2) @ pool.T).reshape(len(x), 2, h, w)  # [N, 2, h, w]
    layer = torch.zeros(len(x), *agent.net.shapes[agent.hook])
    held = np.arange(len(x)) >= 0.75 * len(x)
    fmap = train_follow_map(sae, x, layer, y, held, [5, 6], 300, seed=0, width=8,
                            reads_layer=False)  # fmt: skip
    shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    noise = train_follow_map(sae, x, layer, shuffled, held, [5, 6], 300, seed=0, width=8,
                             reads_layer=False)  # fmt: skip
    assert fmap.fve > 0.6 and noise.fve < 0.2, (fmap.fve, noise.fve)
    assert fmap.net.world == world and fmap.features == [5, 6]
    with pytest.raises(ValueError, match="steps to fit on and steps held out"):
        train_follow_map(sae, x, layer, y, np.zeros(len(x), bool), [5, 6], 1, 0, 8, False)


def test_follow_map_settings_say_what_to_fix():
    with pytest.raises(ConfigError, match="follow_mazes must be >= 2"):
        validate_sae(SaeConfig(run="easy", follow_mazes=1))
    with pytest.raises(ConfigError, match="follow_scales must list positive numbers"):
        validate_sae(SaeConfig(run="easy", follow_scales=[]))
    with pytest.raises(ConfigError, match="follow_steps must be >= 1"):
        validate_sae(SaeConfig(run="easy", follow_steps=0))


def test_follow_map_command_picks_each_sets_scale_on_its_search_and_pools_the_picks(
    capsys, tmp_path
):
    """``follow-map``: the map fit once, each set's scale the best on its search targets, the
    pooled picked row made of each set's row at its picked scale, played beside the bound and
    the features' own change at every step on the same draws; its figure drawn."""
    from agents.interp.features.command import run_sae
    from agents.interp.features.following import PICKED

    cfg = SaeConfig(action="follow-map", run="easy", hook="embedder.block1.res1.resadd_out",
                    tag="s32k12mw1r11", counts=[3], follow_mazes=4, follow_steps=20,
                    follow_width=8, follow_scales=[1.0, 3.0], search_mazes=2,
                    retarget_mazes=2, targets_per_maze=3, maze_sets=[1, 2],
                    out=str(tmp_path))  # fmt: skip
    result = run_sae(cfg)
    name = result["map"]["name"]
    picked = f"top 3 move features' {name}{PICKED}, at every step"
    assert len(result["features"]) == 3 and result["targets"] == 12
    for k, pick in result["picks"].items():
        tried = pick["tried"]
        assert pick["scale"] == max([1.0, 3.0], key=lambda s: tried[f"{s:g}"])
        rates = result["sets"][k]
        at_scale = f"top 3 move features' {name} x{pick['scale']:g}, at every step"
        assert rates[picked] == rates[at_scale]
    assert FollowMap.from_json(result["weights"]).features == result["features"]
    assert (tmp_path / "follow-map.json").exists()
    assert result["figure"] == "follow_map.png" and (tmp_path / "follow_map.png").stat().st_size
    out = capsys.readouterr().out
    assert "scale picked on each set's search targets: set 1 x" in out and picked in out


def test_the_shipped_follow_map_retargets_with_the_cheese_present():
    """On fresh mazes (maze set 9's retargeting mazes past the 30 its measurement played),
    `easy`'s shipped follow map (``s32k12mw1r11``'s 11 move features written at every step as
    the map predicts their change from the maze and the mouse's square, at x1.5, the scale most
    sets' searches picked) beats no intervention by several standard errors, paired over the
    same targets, checked five mazes (50 targets) at a time as in the SAE's own test (here after
    95 targets: +0.27, 6.0 SE; 185: +0.23, 7.4 SE); the same map with its write zeroed (x0) is
    no intervention, gains 0.0 on all of them and fails."""
    from agents.interp.features.dictionary import load_sae, measured_path
    from agents.interp.interventions import no_intervention, successes
    from mazegen.files import read_json_object

    policy = load_policy("easy")
    hook = "embedder.block1.res1.resadd_out"
    agent = study_agent("easy", policy, hook, 9)
    sae, _ = load_sae(policy, hook, "s32k12mw1r11")
    shipped = read_json_object(measured_path(policy, hook, "s32k12mw1r11", "follow-map"))
    fmap = FollowMap.from_json(shipped["weights"])
    assert not fmap.reads_layer and len(fmap.features) == 11 and fmap.fve > 0.7
    row = follow_row(sae, fmap, 1.5)
    rng = np.random.default_rng(0)
    gains: list[np.ndarray] = []
    for first in range(30, 50, 5):
        trial = agent.trial(STUDY_RETARGET_OFFSET + first, 5, 10, rng, 2.0)
        hit = successes([no_intervention(), row], trial)
        gains.append(hit[row.label].astype(float) - hit["none"].astype(float))
        diff = np.concatenate(gains)
        se = diff.std(ddof=1) / np.sqrt(len(diff))
        if diff.mean() > 3 * se:
            break
    assert diff.mean() > 3 * se, (diff.mean(), se, len(diff))
