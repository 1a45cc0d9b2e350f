"""What TensorBoard shows of the held-out evaluations: train and test distribution in two colours.

TensorBoard colours a curve by its *run* (a folder of event files), not by its tag: in the
Scalars, Time Series and Custom Scalars dashboards alike, every tag of one run is drawn in the
run's colour, and the custom scalars' ``Multiline`` and ``Margin`` charts tell a run's tags
apart only by a marker shape (square, diamond, triangle...), named in a "Matches" list that
starts folded. So each distribution gets a run of its own beside the training's, named for it
(``tb/train_distribution``, ``tb/test_distribution``), holding the same tags
(``held-out/p_cheese``, ...): every chart of a measure then shows the two distributions in two
colours, named in the runs list beside the charts with their colour swatches. `LAYOUT` orders
those charts under readable titles in the Custom Scalars dashboard.

The training's own run keeps ``eval/<distribution>/<measure>`` (what `agents.interp.curves`
and runs written before this layout read).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

#: The measures charted, by their tag in the distribution runs, with the charts' titles.
MEASURES = {
    "p_cheese": "P(cheese)",
    "p_cheese_decision": "P(cheese), mazes with a decision square",
    "p_end_in_region": "P(episode ends in the top-right region)",
    "p_region_first": "P(top-right region before the cheese)",
}
#: The distribution runs' folders under ``tb/`` (their names in TensorBoard's runs list).
RUNS = {"train": "train_distribution", "test": "test_distribution"}
PREFIX = "held-out"
#: One chart per measure, matching its tag in both distribution runs (TensorBoard matches a
#: chart's regex at the start of a tag: without the ``$``, ``p_cheese`` would also draw
#: ``p_cheese_decision``).
LAYOUT = {
    "train vs test distribution (held-out mazes)": {
        title: ["Multiline", [f"^{PREFIX}/{measure}$"]] for measure, title in MEASURES.items()
    },
}
_EVAL = re.compile(r"^eval/(train|test)/(.+)$")


class DistributionBoard:
    """The train and test distribution runs of one training's TensorBoard folder.

    Args:
        tb: The training's TensorBoard folder (``<run>/tb``): the runs are written beside the
            training's own (``tb/PPO_1``).
    """

    def __init__(self, tb: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writers = {dist: SummaryWriter(str(tb / name)) for dist, name in RUNS.items()}

    def write(self, scalars: dict[str, float], step: int) -> None:
        """Every ``eval/<distribution>/<measure>`` of ``scalars`` as ``held-out/<measure>`` of
        that distribution's run, at ``step``; flushed."""
        for key, value in scalars.items():
            match = _EVAL.match(key)
            if match:
                dist, measure = match.groups()
                self.writers[dist].add_scalar(f"{PREFIX}/{measure}", value, step)
        for writer in self.writers.values():
            writer.flush()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


def write_layout(writer: Any) -> None:
    """Writes `LAYOUT` (the Custom Scalars dashboard's charts) with a SummaryWriter."""
    from torch.utils.tensorboard.summary import custom_scalars

    writer.file_writer.add_summary(custom_scalars(LAYOUT))
