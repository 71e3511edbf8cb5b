"""The released notebook's self-check, executed as a student runs it: in a real kernel.

A copy of ``assignments/activations.ipynb`` with four functions written (from the
reference), softmax written without subtracting the max, and the rest untouched is saved, then executed top to bottom by nbclient;
the self-check cell's outputs must hold the table, marking each public test as the
reference's answers for those three functions earn it, and name the checked file and
its save time.
"""

from __future__ import annotations

import ast
import json
import re
import shutil

import pytest

from tests.mutation import ROOT

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

pytestmark = pytest.mark.slow

SOLVED = ("sigmoid", "tanh", "relu", "leaky_relu")
NAIVE_SOFTMAX = '''def softmax(x, dim=-1):
    e = torch.exp(x)  # no max subtracted: overflows for large inputs
    return e / e.sum(dim=dim, keepdim=True)
'''



def _reference(wanted) -> str:
    """The reference's definitions whose names pass ``wanted``, without solution markers."""
    source = (ROOT / "reference" / "activations.py").read_text(encoding="utf-8")
    texts = [ast.get_source_segment(source, n) for n in ast.parse(source).body
             if isinstance(n, ast.FunctionDef) and wanted(n.name)]
    return "\n\n\n".join("\n".join(line for line in text.splitlines() if "### BEGIN SOLUTION" not in line
                                   and "### END SOLUTION" not in line) for text in texts)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    work = tmp_path_factory.mktemp("student")
    shutil.copytree(ROOT / "assignments" / "public_tests", work / "public_tests")
    nb = nbformat.read(ROOT / "assignments" / "activations.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("# Helpers shared by your functions"):
            cell.source = _reference(lambda name: name.startswith("_"))  # the helpers they use
        if cell.cell_type == "code" and cell.source.startswith("def softmax("):
            cell.source = NAIVE_SOFTMAX
        for name in SOLVED:
            if cell.cell_type == "code" and cell.source.startswith(f"def {name}("):
                cell.source = _reference(lambda other, name=name: other == name)
    path = work / "activations.ipynb"
    nbformat.write(nb, path)  # the check reads the saved file
    client = nbclient.NotebookClient(nbformat.read(path, as_version=4), timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(work)}})
    client.execute()
    return client.nb


def _outputs(nb, role: str) -> list[dict]:
    cell = next(c for c in nb.cells if c.get("metadata", {}).get("grader", {}).get("role") == role)
    return cell.outputs


def test_the_self_check_cell_shows_the_table(executed):
    outputs = _outputs(executed, "check")
    assert not [o for o in outputs if o.output_type == "error"]
    pages = [o.data["text/html"] for o in outputs if o.output_type == "display_data" and "text/html" in o.data]
    assert len(pages) == 1
    page = pages[0]
    assert re.search(r"checking activations\.ipynb \(saved \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, \d+ s ago\)", page)
    assert "public-test points" in page
    rows = {name: mark for mark, name in re.findall(r"<tr class='(?:pass|fail)'><td>(\S) (\w+)</td>", page)}
    assert rows.get("sigmoid_tanh") == rows.get("relu_leaky_relu") == "\u2713"
    assert rows["large_inputs"] == "\u2717"  # the naive softmax overflows
    failing = re.search(r"<td>\u2717 large_inputs</td><td>[\d.]+/[\d.]+</td><td><ul><li>(.*?)</li>", page).group(1)
    assert "softmax" in failing and "max" in failing  # the case and its hint
    stub_row = re.search(r"<tr class='stub'><td>\u2717 not started</td><td>0/[\d.]+</td><td>([^<]*)</td>", page)
    assert stub_row and {"gelu", "log_softmax"} <= set(stub_row.group(1).split(", "))
    assert not set(SOLVED) & set(stub_row.group(1).split(", "))
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "running the public tests on activations.ipynb" in text


def test_the_notebook_saved_with_outputs_is_still_graded_as_a_module(executed, tmp_path):
    """The executed notebook (outputs and all) converts to the same module: the check
    cell and the plots are not part of it."""
    from grader.notebook import notebook_to_source

    source = notebook_to_source(json.dumps(executed), "activations.ipynb")
    assert "grader.check" not in source and "def sigmoid(" in source
