import numpy as np

from agents.interp.curves import Curve, _branch_point, plot_curves


def _curve(label, steps, train):
    steps = np.asarray(steps)
    nan = np.full(steps.size, np.nan)
    return Curve(
        label, steps, steps / 1e4, np.asarray(train, float), np.asarray(train) - 0.1, nan, nan
    )


def test_a_branch_is_drawn_from_where_it_left_its_parent(tmp_path):
    parent = _curve("parent", [0, 1, 2, 3, 4], [0.2, 0.4, 0.5, 0.6, 0.65])
    branch = _curve("branch", [0, 1, 2, 3, 4], [0.2, 0.4, 0.5, 0.62, 0.7])  # copied at step 2
    unrelated = _curve("other", [0, 1, 2], [0.3, 0.35, 0.5])
    assert _branch_point(parent, []) == 0
    assert _branch_point(branch, [parent]) == 2  # joins its parent's last shared point
    assert _branch_point(unrelated, [parent, branch]) == 0
    assert _branch_point(parent, [parent]) == 4  # a copy that never trained: its last point
    out = tmp_path / "curves.png"
    plot_curves([parent, branch, unrelated], out)
    assert out.stat().st_size > 10_000
