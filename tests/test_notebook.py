"""The example notebooks: stored without outputs, and every cell runs (a failing cell fails the test).

Each notebook in ``examples/`` runs top to bottom in a fresh ``python3`` kernel (``nbclient``) with
``examples/`` as working directory, as a reader would run it from a checkout.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
#: the notebook's own budget (about a minute on an idle 2-core machine), with room for a loaded CI machine.
CELL_TIMEOUT_S = 600


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS] == ["flashsim_tutorial.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    """Outputs stay out of git: no cell carries outputs or an execution count."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    stored = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not stored, f"{path.name}: cells {stored} carry outputs (clear them before committing)"


def run_notebook(path: Path) -> nbformat.NotebookNode:
    """Execute ``path`` in a fresh kernel in its folder; a failing cell raises CellExecutionError."""
    nb = nbformat.read(path, as_version=4)
    where = {"metadata": {"path": str(path.parent)}}
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources=where).execute()
    return nb


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path):
    """Every cell runs without error; the plots and the error table come out."""
    nb = run_notebook(path)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "correlated / naive error" in text


def test_a_failing_cell_fails_the_run(tmp_path):
    """The runner really fails on a broken cell (what makes CI fail when the notebook breaks)."""
    cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("assert x == 2, 'broken'")]
    nb = nbformat.v4.new_notebook(cells=cells)
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(CellExecutionError, match="broken"):
        run_notebook(path)
