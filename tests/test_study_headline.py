"""The direction of the study's headline results, on shipped agents (``docs/study/index.md``).

On the shipped `easy` agent, moving the real cheese to a target square sends the mouse there
far more often than setting its best cheese channels there (at the value the study's search
picks). On the shipped `easy_spread` agent (`easy`'s recipe with a penalty that holds the
cheese's code near the cheese), its top cheese channel set over the target's 3 x 3 with the
cheese removed steers the mouse there more often than no intervention, where `easy`'s does not;
on the shipped `easy_steer` one channel set at the target's cell, at the value the study's search
picks, multiplies no intervention's success by at least 1.4 at 95 % confidence, and on
`easy_steer_seed2` (the same recipe on another seed) its top 3 channels beat no intervention.
The tests measure on the study's targets, through the study's own functions, and assert each
gap by several standard errors, so they fail if the figures turn (the channels of `easy` start
to steer, those of the spread agents stop). A gap asserted in standard errors is checked as the
targets come in, ten mazes at a time, and the test stops once it holds: a behaviour that is
broken plays all of them and fails. The ratio bound is checked the same way, each look at the
confidence that keeps 95 % over all of them (Bonferroni).
"""

import math
from collections.abc import Iterator

import numpy as np
import pytest

pytest.importorskip("torch")

from agents import load_pretrained  # noqa: E402
from agents.interp.interventions import (  # noqa: E402
    NONE,
    REAL_CHEESE_MOVED,
    REMOVED,
    channels_set,
    no_intervention,
    real_cheese_moved,
    successes,
)
from agents.interp.study.agent import Agent, study_agent  # noqa: E402
from agents.interp.study.bounds import paired_gain, ratio_lower_bound  # noqa: E402
from agents.interp.study.cheese_channels import rank_channels  # noqa: E402
from agents.interp.study.retargeting import (  # noqa: E402
    Plan,
    channel_settings,
    outcomes,
)
from agents.interp.value_search import ValueSearch, pick_multiple, search_values  # noqa: E402
from agents.settings.levels import STUDY_RETARGET_OFFSET, STUDY_SEARCH_OFFSET  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """The study's measurements run on one torch thread (`StudyConfig.torch_threads`), as the
    tests that go through `run_study` do: two threads beside a busy core run several times
    slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


#: The study's value grid (`StudyConfig.multiples`).
MULTIPLES = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]


def _se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-4) / n)


def _agent(name: str) -> Agent:
    """A shipped agent on the study's table mazes (maze set 0), its layer the default."""
    return study_agent(name, load_pretrained(name), None, 0)


def test_real_cheese_retargets_and_the_best_channels_do_not():
    """The study's retargeting on `easy`, cheese present (its top 1 and 3 channels, each at the
    value its search picks, against no intervention and the real cheese moved; the splices and
    the rows with the cheese removed, which this claim does not read, left out)."""
    agent = _agent("easy")
    ranking = rank_channels(agent, 60)
    plan = Plan(12, 2, 10, [1, 3], [0.5, 2.0, 8.0], 2.0)
    rng = np.random.default_rng(0)
    trial = agent.trial(STUDY_RETARGET_OFFSET, plan.mazes, plan.per_maze, rng, plan.budget)
    _, settings = channel_settings(agent, plan, ranking, rng)
    present = [r for r in settings if not r.label.endswith(REMOVED)]
    got = outcomes([no_intervention(), real_cheese_moved(), *present], trial)
    best = max((r.label for r in present), key=lambda k: got[k]["success"]["p"])
    none, real = got[NONE]["success"]["p"], got[REAL_CHEESE_MOVED]["success"]["p"]
    channels = got[best]["success"]["p"]
    n = len(trial.targets.maze)
    assert n >= 100
    se = math.hypot(_se(real, n), _se(channels, n))
    assert real - channels > 4 * se, (real, channels, se)
    # the real cheese at least doubles no intervention; the channels stay near it
    assert real > 2 * none and got[best]["x_none"] < 1.5


@pytest.mark.slow  # ~30 s: the study's second and third results; the headline above stays default
def test_resolution_grows_channels_that_track_the_cheese_but_do_not_steer(tmp_path):
    """The study's second and third results, on the shipped `study9_fullres` agent (block 2 at
    one position a maze square): its best cheese channel tracks the cheese far more often than
    `easy`'s (pooled) best one, by several standard errors, yet its top channels set at a
    target still retarget the mouse no better than no intervention, far below the real cheese
    moved; and the cheese's move, spliced once, steers along its top 11 principal directions
    far better than along its top 11 channels (a code in directions that mix channels)."""
    from test_study import TINY

    from agents.interp.study.headline import headline
    from agents.interp.study.run import run_study
    from agents.settings import StudyConfig

    n = 150
    fullres, easy = (rank_channels(_agent(a), n).accuracy[0] for a in ("study9_fullres", "easy"))
    se = math.hypot(_se(fullres, n), _se(easy, n))
    assert fullres - easy > 4 * se, (fullres, easy, se)

    small = {**TINY, "behaviour_mazes": 20, "retarget_mazes": 30, "targets_per_maze": 10}
    small |= {"search_mazes": 2, "channel_counts": [3, 11], "multiples": [0.5, 2.0, 8.0]}
    (r,) = run_study(StudyConfig(runs=["study9_fullres"], out=str(tmp_path), **small))
    h = headline(r)
    t = r["retargeting"]["targets"]
    gap = h["real_cheese"] - h["channels_present"]
    se = math.hypot(_se(h["real_cheese"], t), _se(h["channels_present"], t))
    assert gap > 4 * se and h["x_none"] < 1.5, (h["real_cheese"], h["channels_present"], se)

    directions, channels = h["directions_splice_once"], h["splice_once"]  # the top 11 of each
    se = math.hypot(_se(directions, t), _se(channels, t))
    assert directions - channels > 4 * se, (directions, channels, se)
    share = r["directions"]
    assert share["counts"][-1] == 11 and share["share"][-1] > share["channel_share"][-1] + 0.2


def _area_gains(
    name: str, multiple: float, radius: int = 1, count: int = 1, mazes: int = 40
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The study's area measurement at a fixed value (no search): the top ``count`` tracking
    channels of a shipped agent set within ``radius`` of the target (1: its 3 x 3) at
    ``multiple`` times their largest activation, cheese removed, on the study's targets (20 in
    each of ``mazes`` mazes, drawn as `area_setting` draws them). Yields, ten mazes at a time,
    the success flags so far of that setting and of no intervention on the same targets."""
    agent = _agent(name)
    ranking = rank_channels(agent, 60)
    top = ranking.ranked[:count]
    row = channels_set("set", top, multiple * ranking.found.largest(top), radius, removed=True)
    rng = np.random.default_rng([0, 2])
    hits: list[np.ndarray] = []
    nones: list[np.ndarray] = []
    for first in range(0, mazes, 10):
        trial = agent.trial(STUDY_RETARGET_OFFSET + first, 10, 20, rng, 2.0)
        hit = successes([no_intervention(), row], trial)
        hits.append(hit[row.label])
        nones.append(hit["none"])
        yield np.concatenate(hits), np.concatenate(nones)


def test_the_spread_penalty_grows_a_channel_that_steers_when_set_around_the_target():
    """The study's best steering result before the steering recipe, on the shipped
    `easy_spread` agent (`easy`'s recipe with the spread and L1 penalties): its top cheese
    channel, set over the target's 3 x 3 at 0.5x with the cheese removed, sends the mouse to the
    target more often than no intervention, by several standard errors of the paired difference
    (+0.066, 4.3 SE on the 700 targets), and by far more than `easy`'s top channel set the same
    way (which does nothing: -0.030). Each of the two gaps is checked as the blocks come in and
    stops being measured once it holds: `easy`'s blocks stop when the difference is decided
    (here after two), `easy_spread`'s when its own gain is too."""
    easy_runs = _area_gains("easy", 0.5)
    easy, se_easy, margin, apart = 0.0, 0.0, 0.0, False
    for spread_run in _area_gains("easy_spread", 0.5):
        spread, se_spread = paired_gain(*spread_run)
        if not apart:  # `easy` is played on the same blocks until the difference holds
            easy_run = next(easy_runs)
            easy, se_easy = paired_gain(*easy_run)
            margin = 3.5 * math.hypot(se_spread, se_easy)
            apart = spread - easy > margin
        if apart and spread > 3.5 * se_spread:
            break
    n = len(spread_run[0])
    assert spread > 3.5 * se_spread, (spread, se_spread, n)
    assert apart, (spread, easy, margin, len(easy_run[0]))


def test_the_steering_agents_top_channel_multiplies_no_intervention_by_at_least_1_4x_at_95pc():
    """The goal's figure on the shipped `easy_steer` (the spread penalty at 0.3, 1M steps): its
    top cheese channel set at the target's cell, cheese removed, at the value the study's search
    picks (searched on mazes of their own, the study's value grid), sends the mouse to the
    target so much more often than no intervention on the same targets (the area measurement's
    draw, 700 in 40 mazes) that the ratio of their successes is above 1.4 at 95 % confidence.

    The bound is checked as the targets come in, ten mazes at a time, and the test stops at the
    first block where it holds; each of the 4 looks bounds at 1 - 0.05 / 4 (Bonferroni), so
    that the chance of passing when the ratio is 1.4 or below stays under 5 % however many looks
    are taken. Here the first 180 targets decide it (0.211 / 0.072, bound 1.70 at 98.75 %); all
    700 give 0.197 / 0.109 = 1.82x, bound 1.54 at 95 % and 1.45 at 98.75 % (the study's figure
    on other draws: 2.12x on set 0, 2.01x over sets 1-4)."""
    agent = _agent("easy_steer")
    ranking = rank_channels(agent, 60)
    top = ranking.ranked[:1]
    largest = ranking.found.largest(top)
    search = agent.trial(STUDY_SEARCH_OFFSET, 5, 20, np.random.default_rng(0), 2.0)
    tried = search_values(search, ValueSearch(top, largest, MULTIPLES, 0, ["removed"]))
    multiple = pick_multiple(tried["removed"], MULTIPLES)
    mazes, block = 40, 10
    confidence = 1 - 0.05 / (mazes // block)  # one look a block, 95 % over all of them
    for steered, none in _area_gains("easy_steer", multiple, radius=0, mazes=mazes):
        bound = ratio_lower_bound(steered, none, confidence)
        if bound > 1.4:
            break
    assert bound > 1.4, (multiple, steered.mean(), none.mean(), bound, len(none))
    assert paired_gain(steered, none)[0] > 0


@pytest.mark.slow  # ~6 s (~25 s on the slow EPYC): a repetition on a second seed; the recipe's
# claim stays a default test (its 1.4x bound on `easy_steer`, above)
def test_another_seed_of_the_steering_recipe_steers_with_its_top_channels():
    """The recipe, not one lucky run: on the shipped `easy_steer_seed2` (`easy_steer`'s recipe on
    seed 2) the top 3 channels set at the target's cell at 2x their largest activation (the
    value the study's search picks on these mazes), cheese removed, send the mouse to the target
    more often than no intervention on the study's targets (+0.070, 5.4 SE on all 700), by
    several standard errors of the paired difference."""
    for run in _area_gains("easy_steer_seed2", 2.0, radius=0, count=3):
        gain, se = paired_gain(*run)
        if gain > 4 * se:
            break
    assert gain > 4 * se, (gain, se, len(run[0]))
