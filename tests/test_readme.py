import re

import pytest
from conftest import ROOT

pytest.importorskip("torch")


def test_readme_python_examples_run():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 2
    namespace: dict = {}
    exec(compile("\n".join(blocks), "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["states"].num == 256
    assert tuple(namespace["cache"]["embedder.relu2_out"].shape) == (1, 16, 9, 9)
