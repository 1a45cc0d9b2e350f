import os

import numpy as np
import pytest
from conftest import ROOT, run_cli

torch = pytest.importorskip("torch")
pygame = pytest.importorskip("pygame")

from agents.play import (  # noqa: E402
    DisplayError,
    PlaySession,
    record,
    run_window,
)
from agents.policy.scripted import oracle_act_fn, top_right_act_fn  # noqa: E402
from mazegen import MazeConfig  # noqa: E402
from mazegen.queries import open_squares  # noqa: E402
from mazegen.render import _FRAME_COLORS  # noqa: E402

PX = 480 // 9  # the window's pixels per square for a 9 x 9 world
CFG = MazeConfig(
    world_size=9,
    min_size=7,
    max_size=9,
    cheese_region=2,
    obs_mode="grid",
    action_mode="cardinal",
    max_steps=60,
)


def session(act=None):
    return PlaySession(CFG, act if act is not None else top_right_act_fn("cardinal"))


def drive(s, *batches, tmp_path=None):
    """Runs the window for one frame per batch of synthesized events."""
    queue = [list(b) for b in batches]
    run_window(
        s,
        tmp_path or ROOT / "outputs" / "test-play",
        max_frames=len(queue),
        events=lambda: queue.pop(0) if queue else [],
    )


def click(square, button=1, px=PX):
    r, c = square
    pos = (c * px + px // 2, r * px + px // 2)
    return pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=button)


def key(k):
    return pygame.event.Event(pygame.KEYDOWN, key=k, mod=0, unicode="")


def cell(img, square, px=PX):
    r, c = square
    return img[r * px : (r + 1) * px, c * px : (c + 1) * px]


def test_click_moves_cheese_in_state_and_frame(tmp_path):
    s = session()
    s.paused = True
    target = next(
        sq for sq in open_squares(s.state.walls) if sq not in (s.state.mouse, s.state.cheese)
    )
    drive(s, [click(target)], tmp_path=tmp_path)
    assert s.state.cheese == target
    block = cell(s.frame(), target)
    assert (block == _FRAME_COLORS["cheese"]).all(axis=-1).any()
    # right-click moves the mouse
    other = next(
        sq for sq in open_squares(s.state.walls) if sq not in (s.state.mouse, s.state.cheese)
    )
    drive(s, [click(other, button=3)], tmp_path=tmp_path)
    assert s.state.mouse == other
    # a click on a wall is refused with a message, nothing moves
    wall = tuple(int(x) for x in np.argwhere(s.state.walls)[0])
    drive(s, [click(wall)], tmp_path=tmp_path)
    assert s.state.cheese == target and "wall" in s.message


def test_pause_stops_and_single_step_advances_one(tmp_path):
    s = session()
    s.speed = 200
    drive(s, [key(pygame.K_SPACE)], [], [], tmp_path=tmp_path)
    assert s.paused
    before = s.steps
    drive(s, [], [], [], tmp_path=tmp_path)
    assert s.steps == before
    drive(s, [key(pygame.K_PERIOD)], tmp_path=tmp_path)
    assert s.steps == before + 1
    drive(s, [key(pygame.K_SPACE)], [], [], tmp_path=tmp_path)  # resume: steps again
    assert not s.paused and s.steps > before + 1


def test_vector_field_draws_an_arrow_on_every_open_square():
    s = session(oracle_act_fn("cardinal"))
    plain = s.frame()
    s.show_field = True
    arrows = s.frame()
    squares, probs = s.field_probs()
    assert len(squares) == len(open_squares(s.state.walls)) - 1  # all but the cheese square
    for sq in squares:
        changed = (cell(arrows, sq) != cell(plain, sq)).any(axis=-1)
        assert changed.sum() >= 3, sq


def test_play_yourself_arrow_keys_move_the_mouse(tmp_path):
    s = PlaySession(CFG, None)
    start = s.state.mouse
    # below the inner bottom-left start is wall or the world's edge: the step is taken, the
    # mouse stays
    world = s.state.world_size
    assert start[0] + 1 == world or s.state.walls[start[0] + 1, start[1]]
    drive(s, [key(pygame.K_DOWN)], tmp_path=tmp_path)
    assert s.steps == 1 and s.state.mouse == start
    # the corner start of a connected maze is open upward or rightward: that key moves there
    up = not s.state.walls[start[0] - 1, start[1]]
    press, (dr, dc) = (pygame.K_UP, (-1, 0)) if up else (pygame.K_RIGHT, (0, 1))
    assert not s.state.walls[start[0] + dr, start[1] + dc]
    drive(s, [key(press)], tmp_path=tmp_path)
    assert s.steps == 2 and s.state.mouse == (start[0] + dr, start[1] + dc)


def test_record_writes_expected_number_of_frames(tmp_path):
    import imageio.v2 as imageio

    from mazegen import generate_levels
    from mazegen.queries import distances

    s = session(oracle_act_fn("cardinal"))
    mazes = generate_levels([s.level, s.level + 1], s.env_config)
    # the oracle walks shortest paths: (path length + 1) frames per episode
    expected = sum(int(distances(m.walls, m.mouse)[m.cheese]) + 1 for m in mazes)
    out = tmp_path / "run.gif"
    n = record(s, out, episodes=2, fps=10)
    assert n == expected
    assert len(imageio.mimread(out)) == expected
    with pytest.raises(ValueError, match="gif or .mp4"):
        record(s, tmp_path / "run.avi", episodes=1)


def test_save_writes_state_and_screenshot(tmp_path):
    from mazegen import MazeState

    s = session()
    drive(s, [key(pygame.K_s)], tmp_path=tmp_path)
    npz = list(tmp_path.glob("*.npz"))
    assert npz and MazeState.load(npz[0]) == s.state and list(tmp_path.glob("*.png"))


def test_no_display_says_so_and_suggests_record(monkeypatch, tmp_path):
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(DisplayError, match="mode=record"):
        run_window(session(), tmp_path, max_frames=1)


def play_cli(*args):
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("SDL_VIDEODRIVER", None)
    return run_cli("play", *args, env=env)


def test_play_cli_record_and_errors(tmp_path):
    # the train distribution: the shipped policy reaches the cheese in ~15 steps (on test mazes
    # it runs to the 100-step limit, 100 frames to encode)
    out = play_cli("mode=record", "episodes=1", "distribution=train", f"out={tmp_path / 'a.gif'}")
    assert out.returncode == 0 and (tmp_path / "a.gif").stat().st_size > 0, out.stderr
    out = play_cli()  # watch mode with no display
    assert out.returncode == 2 and "no display" in out.stderr and "record" in out.stderr
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # root ignores permissions: use a file as the parent
        blocker = tmp_path / "file"
        blocker.write_text("x")
        target = blocker / "a.gif"
    else:
        target = locked / "a.gif"
    out = play_cli("mode=record", f"out={target}")
    assert out.returncode == 2 and "cannot write" in out.stderr
    out = play_cli("run=/nonexistent")
    assert out.returncode == 2 and "does not exist" in out.stderr


def test_patch_toggles_with_the_shipped_policy(tmp_path):
    from agents import load_pretrained
    from agents.play import patch_factories
    from agents.policy.rollout import net_act_fn

    policy = load_pretrained()
    net = policy.net
    s = PlaySession(
        policy.config.env, net_act_fn(net), patch_factory=patch_factories(net, policy.config.env)
    )
    drive(s, [key(pygame.K_SPACE)], [key(pygame.K_t)], tmp_path=tmp_path)
    assert s.patch == "retarget" and s.awaiting_target
    target = next(sq for sq in open_squares(s.state.walls) if sq != s.state.mouse)
    drive(s, [click(target)], tmp_path=tmp_path)
    assert s.target == target and not s.awaiting_target and s.state.cheese != target
    assert "patch retarget" in "\n".join(s.hud_lines())
    _, patched = s.field_probs()
    s.patch = None
    _, plain = s.field_probs()
    s.patch = "retarget"
    assert np.abs(patched - plain).max() > 0.05  # the patch changes the policy somewhere
    drive(s, [key(pygame.K_c)], tmp_path=tmp_path)
    assert s.patch == "cheese_vector"


def test_retarget_key_steers_with_a_goal_field(tmp_path):
    from agents import load_pretrained
    from agents.interp.goal_field import GoalField
    from agents.play import patch_factories
    from agents.policy.rollout import net_act_fn

    policy = load_pretrained()
    net = policy.net
    kernel = torch.zeros(16, 3, 3)
    kernel[:, 1, 1] = 5.0
    factories = patch_factories(
        net, policy.config.env, goal_field=GoalField("embedder.relu1_out", kernel)
    )
    s = PlaySession(policy.config.env, net_act_fn(net), patch_factory=factories)
    drive(s, [key(pygame.K_SPACE)], [key(pygame.K_t)], tmp_path=tmp_path)
    target = next(sq for sq in open_squares(s.state.walls) if sq != s.state.mouse)
    drive(s, [click(target)], tmp_path=tmp_path)
    _, patched = s.field_probs()
    s.patch = None
    _, plain = s.field_probs()
    assert np.abs(patched - plain).max() > 0.05
    out = play_cli(
        "mode=record", "goal_field=/nonexistent/goal_fields.npz", f"out={tmp_path / 'r.gif'}"
    )
    assert out.returncode == 2 and "no goal-field file" in out.stderr


def test_same_seed_same_actions_in_evaluation_viewer_and_recorder(tmp_path):
    """One policy, one sampler: the viewer, the recorder and evaluation's rollout take the same
    steps from the same maze with the same seed."""
    import numpy as np
    from PIL import Image

    from agents import load_pretrained
    from agents.play import PlaySession, record
    from agents.policy.rollout import net_act_fn, rollout
    from mazegen.state import BatchState

    policy = load_pretrained()
    act = net_act_fn(policy.net)
    viewer = PlaySession(policy.config.env, act_fn=act, seed=7)
    start = viewer.state
    squares = [start.mouse]
    while not viewer.done:
        viewer.step()
        squares.append(viewer.state.mouse)
    ep = rollout(
        act,
        BatchState.stack([start]),
        viewer.env_config,
        region=policy.config.env.eval_region,
        rng=np.random.default_rng(7),
        record_path=True,
    )
    assert [tuple(x) for x in ep.path[: len(squares), 0].tolist()] == squares
    assert int(ep.steps[0]) == viewer.steps
    # the recorder on a train maze, where the episode ends at the cheese (~15 steps) rather than
    # at the step limit: the same squares and the same length as the viewer's
    watched, recorded = (PlaySession(policy.config.env, act_fn=act, seed=7) for _ in range(2))
    watched.toggle_distribution()
    recorded.toggle_distribution()
    squares, taken = [watched.state.mouse], [recorded.state.mouse]
    while not watched.done:
        watched.step()
        squares.append(watched.state.mouse)
    assert watched.state.mouse == watched.state.cheese  # it ended at the cheese

    def step(action=None, real=recorded.step):
        real(action)
        taken.append(recorded.state.mouse)

    recorded.step = step  # what the recorder steps through
    gif = tmp_path / "one.gif"
    frames = record(recorded, gif, episodes=1, fps=10)
    assert taken == squares  # the recorder played the same episode
    assert frames == watched.steps + 1
    with Image.open(gif) as im:
        assert im.info["duration"] == 100  # 10 frames per second (GIF keeps centiseconds)


def test_recordings_are_readable_timed_and_can_compare(tmp_path):
    """Frames at least 400 px wide with a caption, GIF timing in milliseconds, MP4 through the
    bundled ffmpeg, and a side-by-side recording of the same mazes unpatched vs patched."""
    from PIL import Image

    out = run_cli(
        "play",
        "mode=record",
        "episodes=1",
        "fps=5",
        "compare=cheese-vector",
        f"out={tmp_path / 'cmp.gif'}",
    )
    assert out.returncode == 0, out.stderr
    with Image.open(tmp_path / "cmp.gif") as im:
        width, height = im.size
        assert width >= 2 * 400 and height > 400  # two mazes side by side, captions below
        durations = []
        for k in range(min(im.n_frames, 5)):
            im.seek(k)
            durations.append(im.info["duration"])
    assert durations == [200] * len(durations)
    # a train maze: the policy reaches the cheese in ~15 steps (a test maze's 100 frames cost
    # ~1 s more to render and encode)
    out = run_cli(
        "play", "mode=record", "episodes=1", "distribution=train", f"out={tmp_path / 'one.mp4'}"
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "one.mp4").stat().st_size > 10_000
    import imageio.v2 as imageio

    with imageio.get_reader(tmp_path / "one.mp4", format="FFMPEG") as reader:
        assert reader.get_meta_data()["fps"] == 8
        assert next(iter(reader)).shape[1] >= 400
    bad = run_cli("play", "compare=cheese-vector")
    assert bad.returncode == 2 and "mode=record" in bad.stderr


def test_panel_names_the_policy_the_distribution_and_the_maze():
    s = PlaySession(CFG, top_right_act_fn("cardinal"), name="shipped policy 'quick'")
    hud = s.hud_lines()
    assert hud[:3] == [
        "agent: shipped policy 'quick'",
        "test distribution: cheese outside the top-right 2x2",
        "maze 1: held-out level 2,149,483,648",  # 2**31 + the viewer's offset, readable
    ]
    s.toggle_distribution()
    s.new_maze()
    assert s.describe()[1:] == [
        "train distribution: cheese in the top-right 2x2",
        "maze 2: held-out level 2,149,483,649",
    ]
    assert PlaySession(CFG, None, name="run/model.zip").who().startswith("you play (arrow keys)")


def test_long_names_wrap_after_slashes_to_fit():
    from agents.play.session import wrap

    name = "agent: outputs/easy/2025-01-02_03-04-05/checkpoints/step_100000.zip"
    lines = wrap(name, lambda t: len(t) <= 30)
    assert lines[0] + "".join(p.removeprefix("  ") for p in lines[1:]) == name  # at slashes
    assert len(lines) > 1 and all(len(p) <= 30 for p in lines)
    assert wrap("short", lambda t: len(t) <= 30) == ["short"]


def test_window_title_and_recorded_caption_name_the_policy(tmp_path, monkeypatch):
    from agents.play import recorder

    name = "outputs/easy/2025-01-02_03-04-05/checkpoints/step_100000.zip"
    s = PlaySession(CFG, oracle_act_fn("cardinal"), name=name)
    titles = []
    run_window(
        s,
        tmp_path,
        max_frames=2,
        events=lambda: titles.append(pygame.display.get_caption()[0]) or [],
    )
    assert titles[-1] == f"cheese-maze - {name}"
    shown = []
    real = recorder.caption
    monkeypatch.setattr(recorder, "caption", lambda lines, w: shown.append(lines) or real(lines, w))
    short = recorder.video_frame(PlaySession(CFG, oracle_act_fn("cardinal"), name="x"), 60)
    long = recorder.video_frame(s, 60)
    assert shown[-1][:3] == s.describe() and shown[-1][0] == f"agent: {name}"
    assert long.shape[0] > short.shape[0]  # the long path wrapped onto more lines
    # a comparison whose halves wrap differently still records (each frame one size)
    other = PlaySession(CFG, oracle_act_fn("cardinal"), name="x")
    assert record(s, tmp_path / "cmp.gif", episodes=1, compare=other) > 1


def test_play_names_the_loaded_policy(monkeypatch, tmp_path):
    from agents.play import app, recorder
    from agents.settings import PlayConfig

    seen = []
    monkeypatch.setattr(recorder, "record", lambda session, *a, **k: seen.append(session) or 0)
    app.play(PlayConfig(mode="record", out=str(tmp_path / "a.gif"), run="pretrained:quick"))
    assert seen[0].name == "shipped policy 'quick'"
