"""The notebooks' teaching plots: they draw the student's values, fall back without
matplotlib, name the function to implement first, and never run on import."""

from __future__ import annotations

import ast
import builtins
import json
import sys
import time
import types

import numpy as np
import pytest
import torch

from grader.notebook import notebook_to_source
from grader.notebook_plots import PLOTS, plot_cells
from grader.notebooks import build_notebook
from grader.static_check import check_source
from grader.stubgen import make_stub
from tests.mutation import ROOT

TOPICS = sorted(PLOTS)
ALLOWED_IMPORTS = {"torch", "numpy", "matplotlib", "sklearn"}


def reference_source(topic: str) -> str:
    return (ROOT / "reference" / f"{topic}.py").read_text(encoding="utf-8")


def module_namespace(topic: str, solutions: bool) -> dict:
    """The module a notebook stands for, run as in Jupyter (``__name__ == "__main__"``)."""
    notebook = build_notebook(topic, reference_source(topic), solutions=solutions, points=1.0)
    namespace: dict = {"__name__": "__main__"}
    exec(compile(notebook_to_source(json.dumps(notebook)), f"<{topic} notebook>", "exec"), namespace)
    return namespace


class Recorder:
    """A stand-in for matplotlib objects: every method call is recorded, nothing drawn."""

    def __init__(self, log: list, name: str):
        self._log, self._name = log, name

    def __getattr__(self, attr: str):
        def method(*args, **kwargs):
            self._log.append((f"{self._name}.{attr}", args, kwargs))
            return Recorder(self._log, f"{self._name}.{attr}()")

        return method


def fake_pyplot(log: list) -> types.ModuleType:
    pyplot = types.ModuleType("matplotlib.pyplot")

    def subplots(nrows: int = 1, ncols: int = 1, squeeze: bool = True, **kwargs):
        log.append(("plt.subplots", (nrows, ncols), kwargs))
        axes = [[Recorder(log, f"ax[{r}][{c}]") for c in range(ncols)] for r in range(nrows)]
        if squeeze and nrows == ncols == 1:
            return Recorder(log, "fig"), axes[0][0]
        assert not squeeze, "plot cells index axes as axes[row][col]: pass squeeze=False"
        return Recorder(log, "fig"), axes

    pyplot.subplots = subplots
    pyplot.__getattr__ = lambda attr: Recorder(log, "plt").__getattr__(attr)  # type: ignore[attr-defined]
    return pyplot


@pytest.fixture
def no_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)


@pytest.fixture
def plot_log(monkeypatch) -> list:
    log: list = []
    package = types.ModuleType("matplotlib")
    package.pyplot = fake_pyplot(log)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "matplotlib", package)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", package.pyplot)
    return log


def run_cells(topic: str, namespace: dict) -> None:
    for _, code in plot_cells(topic):
        exec(compile(code, f"<{topic} plot>", "exec"), namespace)


def plotted(log: list, method: str = "plot") -> list[tuple]:
    return [args for name, args, _ in log if name.endswith(f".{method}")]


# -- structure ----------------------------------------------------------------------------
@pytest.mark.parametrize("topic", TOPICS)
def test_cells_are_guarded_and_use_only_the_notebooks_names(topic):
    namespace = module_namespace(topic, solutions=False)
    for text, code in plot_cells(topic):
        assert text.startswith("## Plot: ")
        tree = ast.parse(code)
        assert len(tree.body) == 1 and ast.unparse(tree.body[0].test) == "__name__ == '__main__'"
        bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        bound |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        bound |= {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
        bound |= {n.name for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler) and n.name}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
                assert {a.name.split(".")[0] for a in node.names} <= ALLOWED_IMPORTS
            elif isinstance(node, ast.ImportFrom):
                bound |= {a.asname or a.name for a in node.names}
                assert node.module.split(".")[0] in ALLOWED_IMPORTS
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        foreign = used - bound - set(dir(builtins)) - set(namespace)
        assert not foreign, f"{topic}: the plot uses names the notebook does not define: {foreign}"


@pytest.mark.parametrize("topic", TOPICS)
def test_a_stripped_plot_cell_costs_no_points(topic):
    """Pasted into the module (metadata deleted), a plot calls nothing a manual topic forbids."""
    source = reference_source(topic) + "\n\n" + "\n\n".join(code for _, code in plot_cells(topic))
    assert check_source(source, topic) == []


def test_topics_without_plots_get_none():
    assert plot_cells("no_such_topic") == []


# -- against the reference ----------------------------------------------------------------
@pytest.mark.parametrize("topic", TOPICS)
def test_reference_without_matplotlib_prints_the_fallback(topic, no_matplotlib, capsys):
    namespace = module_namespace(topic, solutions=True)
    started = time.perf_counter()
    run_cells(topic, namespace)
    assert time.perf_counter() - started < 15
    out = capsys.readouterr().out.splitlines()
    assert out == ["This plot needs matplotlib (pip install matplotlib); the values are computed."] * len(
        plot_cells(topic)
    )


@pytest.mark.parametrize("topic", TOPICS)
def test_reference_draws_with_matplotlib(topic, plot_log, capsys):
    namespace = module_namespace(topic, solutions=True)
    run_cells(topic, namespace)
    assert capsys.readouterr().out == ""
    shows = [name for name, _, _ in plot_log if name == "plt.show"]
    assert len(shows) == len(plot_cells(topic))
    assert any(plotted(plot_log, method) for method in ("plot", "semilogy", "hist", "bar"))


def test_activation_curves_are_the_students_values(plot_log):
    namespace = module_namespace("activations", solutions=True)
    namespace["tanh"] = lambda x: torch.full_like(x, 0.25)  # a student's wrong tanh is drawn as is
    run_cells("activations", namespace)
    curves = plotted(plot_log)
    x = torch.linspace(-5.0, 5.0, 401, dtype=torch.float64)
    sig, dsig, tanh, dtanh = (np.asarray(args[1]) for args in curves[:4])
    np.testing.assert_allclose(np.asarray(curves[0][0]), x.numpy())
    np.testing.assert_allclose(sig, torch.sigmoid(x).numpy(), atol=1e-12)
    np.testing.assert_allclose(dsig, (torch.sigmoid(x) * (1 - torch.sigmoid(x))).numpy(), atol=1e-12)
    np.testing.assert_allclose(tanh, 0.25)
    np.testing.assert_allclose(dtanh, (1 - torch.tanh(x) ** 2).numpy(), atol=1e-12)
    bars = plotted(plot_log, "bar")
    z = torch.tensor([2.0, 1.0, 0.5, -0.5, -1.0], dtype=torch.float64)
    np.testing.assert_allclose(np.asarray(bars[0][1]), torch.softmax(z / 0.5, 0).numpy(), atol=1e-12)


def test_loss_curves_are_the_students_values(plot_log):
    run_cells("losses", module_namespace("losses", solutions=True))
    curves = [tuple(map(np.asarray, args[:2])) for args in plotted(plot_log)]
    (r, mse), (_, mae), (_, huber), (z, bce_pos), (_, bce_neg) = curves
    np.testing.assert_allclose(mse, r**2)
    np.testing.assert_allclose(mae, np.abs(r))
    np.testing.assert_allclose(huber, np.where(np.abs(r) <= 1, r**2 / 2, np.abs(r) - 0.5))
    np.testing.assert_allclose(bce_pos, np.logaddexp(0, -z), atol=1e-12)
    np.testing.assert_allclose(bce_neg, np.logaddexp(0, z), atol=1e-12)


def test_optimizer_paths_come_from_the_students_steps(plot_log, capsys):
    namespace = module_namespace("optimizers", solutions=True)

    def unfinished(self):
        raise NotImplementedError("optimizers.Adam.step: not implemented yet")

    namespace["Adam"].step = unfinished
    run_cells("optimizers", namespace)
    assert capsys.readouterr().out.splitlines() == ["Left out until you implement them: Adam.step"]
    plot_log = plot_log[: [n for n, _, _ in plot_log].index("plt.show")]  # the first cell: the paths
    paths = [a for n, a, kw in plot_log if n == "ax[0][0].plot" and "label" in kw]
    labels = [kw["label"] for n, a, kw in plot_log if n == "ax[0][0].plot" and "label" in kw]
    assert labels == ["SGD, lr 0.09", "SGD + momentum 0.9, lr 0.02", "RMSprop, lr 0.05", "Adagrad, lr 0.7"]
    xs, ys = np.asarray(paths[0][0]), np.asarray(paths[0][1])
    assert len(xs) == 61 and (xs[0], ys[0]) == (-4.0, 1.0)
    np.testing.assert_allclose((xs[1], ys[1]), (-4.0 + 0.09 * 4.0, 1.0 - 0.09 * 20.0))
    assert any(n == "ax[0][0].contour" for n, _, _ in plot_log)


def test_training_curves_are_the_students_history(plot_log):
    namespace = module_namespace("training", solutions=True)
    history = {"train_loss": [3.0, 2.0, 1.0], "val_loss": [3.5, 2.5, 2.6], "val_accuracy": [0.1, 0.5, 0.6]}
    namespace["train"] = lambda *args, **kwargs: history
    run_cells("training", namespace)
    (e1, train), (_, val), (_, acc) = plotted(plot_log)
    assert list(e1) == [1, 2, 3] and train == history["train_loss"] and val == history["val_loss"]
    assert acc == history["val_accuracy"]


# -- against the stubs --------------------------------------------------------------------
@pytest.mark.parametrize("topic", TOPICS)
def test_stubs_name_what_to_implement_first(topic, plot_log, capsys):
    namespace = module_namespace(topic, solutions=False)
    run_cells(topic, namespace)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(plot_cells(topic))
    stub = make_stub(reference_source(topic), topic)
    for line in out:
        assert line.startswith("Implement ") and line.endswith(" first, then run this cell again.")
        name = line[len("Implement "):-len(" first, then run this cell again.")]
        assert f'"{topic}.{name}: not implemented yet"' in stub
    assert not plotted(plot_log)


def test_a_bare_not_implemented_error_names_the_function(capsys):
    namespace = module_namespace("dropout", solutions=True)

    def dropout(x, p=0.5, training=True, generator=None):
        raise NotImplementedError

    namespace["dropout"] = dropout
    run_cells("dropout", namespace)
    assert capsys.readouterr().out == "Implement dropout first, then run this cell again.\n"


@pytest.mark.parametrize("topic", ["activations", "optimizers"])
def test_importing_the_notebook_never_plots(topic, plot_log, capsys):
    notebook = build_notebook(topic, reference_source(topic), solutions=True, points=1.0)
    for cell in notebook["cells"]:
        cell["metadata"].pop("grader", None)  # a student deleted the roles
    namespace: dict = {"__name__": topic}
    exec(compile(notebook_to_source(json.dumps(notebook)), topic, "exec"), namespace)
    assert capsys.readouterr().out == "" and plot_log == []
