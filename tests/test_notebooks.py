"""The tutorial notebooks (docs/tutorials) run from top to bottom on zoo models, and are committed without outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the [test] extra: pip install -e '.[test]'")
nbclient = pytest.importorskip("nbclient", reason="nbclient is in the [test] extra: pip install -e '.[test]'")
pytest.importorskip("ipykernel", reason="ipykernel is in the [test] extra: pip install -e '.[test]'")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "docs" / "tutorials").glob("*.ipynb"))


def test_there_are_two_tutorials_committed_without_outputs():
    assert [p.name for p in NOTEBOOKS] == ["01_your_generator.ipynb", "02_realism.ipynb"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code), f"{path.name} has outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_shows_its_paths(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
                            allow_errors=False).execute()
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
             if o.output_type == "execute_result" and "text/html" in o.get("data", {})]
    assert shown, "no cell showed a path"
    for output in shown:
        page = output["data"]["text/html"]
        assert "<img src='data:image/png;base64," in page and "<svg" in page
        assert "image/png" in output["data"]  # where HTML is not shown, the strip is
    assert list(tmp_path.iterdir()) == []  # nothing written where the notebook ran
