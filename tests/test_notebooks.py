"""Every notebook in ``notebooks/`` runs top to bottom (at a small size), so an API change that
breaks one fails the tests; they are stored without outputs and leave no files behind."""

import tempfile
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks_and_they_are_stored_without_outputs():
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_steering.ipynb",
        "03_run_folder.ipynb",
    ]
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        for cell in book.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    monkeypatch.setenv("CHEESE_MAZE_NOTEBOOK", "small")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one torch thread per kernel: two run at once
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    temporary = set(Path(tempfile.gettempdir()).glob("cheese-*"))
    client.execute()  # the kernel inherits the environment
    # nothing written into the notebook's folder nor left in the temporary folder
    assert not list(tmp_path.iterdir()), list(tmp_path.iterdir())
    assert set(Path(tempfile.gettempdir()).glob("cheese-run-*")) <= temporary
    figures = [
        out
        for cell in book.cells
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    assert len(figures) >= 2, f"{path.name} drew {len(figures)} figures"
    if path.stem == "01_quickstart":  # the explorer: a live widget, and a picture where none runs
        (explorer,) = [
            out["data"]
            for cell in book.cells
            for out in cell.get("outputs", [])
            if "application/vnd.jupyter.widget-view+json" in out.get("data", {})
        ]
        assert explorer["image/png"] and "MazeExplorer" in explorer["text/plain"]


@pytest.mark.slow  # the 4x-wide network's family on 25 x 25 procgen mazes: about a minute
def test_steering_notebook_runs_on_a_2023_checkpoint(tmp_path, monkeypatch):
    """The steering notebook takes a file in the 2023 checkpoint format (random weights, the
    2023 key names and shapes at width 1x) through `CHEESE_MAZE_POLICY`, no code of the user's."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from synthetic2023 import write_2023

    pth = write_2023(tmp_path / "model_rand_region_5.pth", scale=1)
    monkeypatch.setenv("CHEESE_MAZE_NOTEBOOK", "small")
    monkeypatch.setenv("CHEESE_MAZE_POLICY", str(pth))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    book = nbformat.read(NOTEBOOKS[1], as_version=4)
    work = tmp_path / "work"
    work.mkdir()
    nbclient.NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    ).execute()
    printed = "".join(out.get("text", "") for cell in book.cells for out in cell.get("outputs", []))
    # the file's network, not the default agent: its hooked layer at 64 x 64 input, width 1x
    (line,) = [
        ln for ln in printed.splitlines() if ln.startswith("embedder.block2.res1.resadd_out")
    ]
    assert line.split()[-3:] == ["(32,", "16,", "16)"], line
    assert not list(work.iterdir())
