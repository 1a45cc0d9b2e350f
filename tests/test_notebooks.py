"""Every notebook in ``notebooks/`` runs top to bottom (at a small size), so an API change that
breaks one fails the tests; they are stored without outputs and leave no files behind.

The default tests execute each notebook's code cells in this process, in a fresh IPython shell
(a new namespace, ``%matplotlib inline``, figures and rich outputs collected as a kernel would
send them): the same code top to bottom and the same asserted outputs, without a kernel's start
and its second import of torch. ``make test-slow`` runs them in a real Jupyter kernel too."""

import os
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


def _execute_in_process(book, folder: Path) -> None:
    """Runs ``book``'s code cells in order in a new IPython shell (working folder ``folder``),
    stopping at the first error, and stores each cell's rich outputs (``display`` calls, the
    inline backend's figures, the value of a last expression not ended by ``;``) in the cell as
    ``display_data`` and ``execute_result`` outputs, as a kernel's messages would. The process's
    matplotlib backend and settings, the working folder and IPython's singleton are restored."""
    import matplotlib
    import matplotlib.pyplot as plt
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from matplotlib_inline import backend_inline
    from traitlets.config import Config

    outputs: list[dict] = []

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, *args, **kwargs):
            outputs.append({"output_type": "display_data", "data": dict(data)})

    class Hook(DisplayHook):
        def write_format_data(self, format_dict, md_dict=None):
            outputs.append({"output_type": "execute_result", "data": dict(format_dict)})

    class Shell(InteractiveShell):
        def enable_gui(self, gui=None):  # the inline backend needs no event loop
            pass

    assert not InteractiveShell.initialized(), "another IPython shell is running"
    backend, rc, cwd = matplotlib.get_backend(), dict(matplotlib.rcParams), os.getcwd()
    # a new process: the inline backend chooses its figure formats for the new shell
    if hasattr(backend_inline.configure_inline_support, "current_backend"):
        del backend_inline.configure_inline_support.current_backend
    config = Config()
    config.HistoryManager.enabled = False  # no history database in the user's home
    shell = Shell.instance(config=config)
    try:
        shell.display_pub = Publisher(shell=shell)
        shell.displayhook = Hook(shell=shell, cache_size=0)
        shell.display_trap.hook = shell.displayhook
        os.chdir(folder)
        for cell in book.cells:
            if cell.cell_type != "code":
                continue
            outputs.clear()
            result = shell.run_cell(cell.source, store_history=True)
            cell.outputs = [nbformat.from_dict(o) for o in outputs]
            result.raise_error()
    finally:
        os.chdir(cwd)
        plt.close("all")
        Shell.clear_instance()
        plt.switch_backend(backend)
        matplotlib.rcParams.update(rc)


def _check_outputs(path: Path, book, folder: Path, temporary: set) -> None:
    # nothing written into the notebook's folder nor left in the temporary folder
    assert not list(folder.iterdir()), list(folder.iterdir())
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    monkeypatch.setenv("CHEESE_MAZE_NOTEBOOK", "small")
    book = nbformat.read(path, as_version=4)
    temporary = set(Path(tempfile.gettempdir()).glob("cheese-*"))
    _execute_in_process(book, tmp_path)
    _check_outputs(path, book, tmp_path, temporary)


# the same claim as test_notebook_runs_top_to_bottom (which runs the same cells in this process),
# here in a real Jupyter kernel: its start and the second import of torch cost 2-12 s a notebook
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_in_a_kernel(path, tmp_path, monkeypatch):
    monkeypatch.setenv("CHEESE_MAZE_NOTEBOOK", "small")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one torch thread per kernel: two run at once
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    temporary = set(Path(tempfile.gettempdir()).glob("cheese-*"))
    client.execute()  # the kernel inherits the environment
    _check_outputs(path, book, tmp_path, temporary)


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
