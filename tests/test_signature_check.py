"""The argument-order check: positional parameters in the contract's order, read from
the source's syntax tree in the grader."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from grader.cli import cli
from grader.rubric import parse_rubric
from grader.signature_check import SignatureFinding, check_signatures, contract_signatures
from grader.submission import find_submissions, prepare
from grader.topics import TOPICS
from tests.conftest import HONEST_LOSSES, MINICOURSE, make_submission

ROOT = Path(__file__).resolve().parent.parent

CONTRACT_SOURCE = '''
__all__ = ["cross_entropy", "step_decay", "SGD", "EarlyStopping", "clip"]


def cross_entropy(input, target, reduction="mean", ignore_index=-100):
    ...


def step_decay(t, lr0, step_size, gamma=0.1):
    ...


def clip(params, max_norm, /, *, error_if_nonfinite=False):
    ...


def _helper(b, a):
    ...


class Optimizer:
    def __init__(self, params, defaults):
        ...


class SGD(Optimizer):
    def __init__(self, params, lr=0.01, momentum=0.0):
        ...

    def step(self, closure=None):
        ...

    def _private(self, b, a):
        ...


class EarlyStopping:
    def __init__(self, patience=5, min_delta=0.0, mode="min", _clock=None):
        ...
'''
CONTRACT = contract_signatures(CONTRACT_SOURCE)
FULL = CONTRACT_SOURCE.replace('__all__ = ["cross_entropy", "step_decay", "SGD", "EarlyStopping", "clip"]', "")


def findings(source: str, topic: str = "losses") -> list[SignatureFinding]:
    return check_signatures(source, topic, CONTRACT)


def replaced(old: str, new: str) -> str:
    assert FULL.count(old) == 1, old
    return FULL.replace(old, new)


def test_the_contract_holds_public_functions_and_methods_only():
    assert set(CONTRACT) == {
        "cross_entropy", "step_decay", "clip", "SGD.__init__", "SGD.step", "EarlyStopping.__init__",
    }
    assert CONTRACT["SGD.__init__"].positional == ("self", "params", "lr", "momentum")
    assert CONTRACT["clip"].positional == ("params", "max_norm")


def test_the_contract_itself_and_every_shipped_topic_are_clean():
    assert findings(FULL) == []
    for topic in TOPICS:
        text = (ROOT / "reference" / f"{topic}.py").read_text(encoding="utf-8")
        contract = contract_signatures(text)
        assert contract, topic
        assert check_signatures(text, topic, contract) == []
        stub = (ROOT / "assignments" / f"{topic}.py").read_text(encoding="utf-8")
        assert check_signatures(stub, topic, contract) == [], topic


def test_swapped_positional_order_is_found_with_a_clear_message():
    found = findings(replaced("def cross_entropy(input, target,", "def cross_entropy(target, input,"))
    assert [(f.function, f.line) for f in found] == [("cross_entropy", 5)]
    assert found[0].message == (
        "cross_entropy(target, input, ...): the contract's order is cross_entropy(input, target, ...): "
        "calls by position get the arguments swapped"
    )
    assert found[0].describe("losses").startswith("argument order in losses.cross_entropy (line 5): ")


def test_a_moved_parameter_names_the_wrong_binding():
    found = findings(replaced("def step_decay(t, lr0, step_size,", "def step_decay(lr0, step_size, t,"))
    assert len(found) == 1 and found[0].function == "step_decay"
    assert "step_decay(lr0, step_size, t, ...)" in found[0].message
    assert "the contract's order is step_decay(t, lr0, step_size, ...)" in found[0].message
    assert "pass arguments to the wrong parameters" in found[0].message


def test_an_inserted_parameter_before_the_contract_ones_is_found():
    found = findings(replaced("def cross_entropy(input, target,", "def cross_entropy(input, weight, target,"))
    assert [f.function for f in found] == ["cross_entropy"]


@pytest.mark.parametrize("signature", [
    "def cross_entropy(logits, labels, reduction='mean', ignore_index=-100):",  # renamed, same order
    "def cross_entropy(input, target, reduction='mean', ignore_index=-100, label_smoothing=0.0, *, w=None):",
    "def cross_entropy(*args, **kwargs):",
    "def cross_entropy(input, *args, **kwargs):",
    "def cross_entropy(input, target, /, reduction='mean', ignore_index=-100):",
    "async def cross_entropy(input, target, reduction='mean', ignore_index=-100):",
])
def test_renamed_extra_trailing_and_star_args_are_fine(signature):
    assert findings(replaced("def cross_entropy(input, target, reduction=\"mean\", ignore_index=-100):",
                             signature)) == []


def test_too_few_positional_parameters_without_star_args_are_found():
    found = findings(replaced("def cross_entropy(input, target, reduction=\"mean\", ignore_index=-100):",
                              "def cross_entropy(input, target, *, reduction='mean', ignore_index=-100):"))
    assert len(found) == 1
    assert found[0].message.endswith("a call that passes reduction by position fails")


def test_methods_are_checked_and_private_parameters_ignored():
    found = findings(replaced("def __init__(self, params, lr=0.01, momentum=0.0):",
                              "def __init__(self, lr, params, momentum=0.0):"))
    assert [f.function for f in found] == ["SGD.__init__"]
    assert "SGD.__init__(self, lr, params, ...)" in found[0].message
    found = findings(replaced('def __init__(self, patience=5, min_delta=0.0, mode="min", _clock=None):',
                              'def __init__(self, min_delta=0.0, patience=5, mode="min"):'))
    assert [f.function for f in found] == ["EarlyStopping.__init__"]
    # a private contract parameter may move or go; so may a private method's
    assert findings(replaced('mode="min", _clock=None):', 'mode="min"):')) == []
    assert findings(replaced("def _private(self, b, a):", "def _private(self, a, b):")) == []
    assert findings(replaced("def step(self, closure=None):", "def step(this, closure=None):")) == []


def test_a_method_inherited_from_a_class_in_the_module_is_read_there():
    source = replaced("    def __init__(self, params, lr=0.01, momentum=0.0):\n        ...\n", "")
    source = source.replace("def __init__(self, params, defaults):", "def __init__(self, lr, params):")
    assert [f.function for f in findings(source)] == ["SGD.__init__"]
    # a base the check cannot see (imported) is left alone
    assert findings("import torch\nclass SGD(torch.optim.SGD):\n    pass\n") == []


def test_decorators_are_read_through():
    source = replaced("def step_decay(t, lr0,", "@functools.lru_cache()\n@my.wrapper\ndef step_decay(lr0, t,")
    assert [f.function for f in findings("import functools\n" + source)] == ["step_decay"]
    # a staticmethod against a method is not a question of order, nor is a property
    assert findings(replaced("def step(self, closure=None):", "@staticmethod\n    def step(closure=None):")) == []
    assert findings(replaced("def step(self, closure=None):", "@property\n    def step(self):")) == []


def test_assignment_aliases_resolve_to_the_definition_bound_at_that_point():
    source = FULL + "\ndef _ce(target, input, reduction='mean'):\n    ...\n\ncross_entropy = _ce\n"
    found = findings(source)
    assert [f.function for f in found] == ["cross_entropy"] and found[0].line == source.count("\n") - 3
    # the last binding wins; a later redefinition of the alias's target changes nothing
    good = FULL + "\ndef _ce(input, target, *rest):\n    ...\n\ncross_entropy = _ce\n\ndef _ce(target, input):\n    ...\n"
    assert findings(good) == []
    chained = FULL + "\n_a = lambda lr0, t, step_size: 0.0\n_b = _a\nstep_decay = _b\n"
    assert [f.function for f in findings(chained)] == ["step_decay"]
    both = FULL + "\ndef _x(target, input):\n    ...\n\ncross_entropy = step_decay = _x\n"
    assert [f.function for f in findings(both)] == ["cross_entropy", "step_decay"]
    unpacked = FULL + "\ndef _x(target, input):\n    ...\n\ncross_entropy, other = _x, 1\n"
    assert [f.function for f in findings(unpacked)] == ["cross_entropy"]
    in_class = replaced("    def step(self, closure=None):\n        ...\n", "    step = lambda closure, self: None\n")
    assert [f.function for f in findings(in_class)] == ["SGD.step"]
    aliased_class = FULL.replace("class SGD(Optimizer):", "class _MySGD(Optimizer):") + "\nSGD = _MySGD\n"
    assert findings(aliased_class) == []
    bad_class = aliased_class.replace("def step(self, closure=None):", "def step(closure, self):")
    assert [f.function for f in findings(bad_class)] == ["SGD.step"]


def test_unresolvable_missing_and_nested_definitions_are_not_findings():
    assert findings("from somewhere import cross_entropy\nimport functools\n"
                    "step_decay = functools.partial(max, 1)\n") == []
    assert findings("x = 1\n") == []  # missing: the suites say so
    nested = "def outer():\n    def cross_entropy(target, input):\n        ...\n    return cross_entropy\n"
    assert findings(nested) == []
    main_only = FULL + "\nif __name__ == '__main__':\n    def step_decay(lr0, t):\n        ...\n"
    assert findings(main_only) == []
    conditional = FULL + "\nif True:\n    def step_decay(lr0, t):\n        ...\n"
    assert [f.function for f in findings(conditional)] == ["step_decay"]
    deleted = FULL + "\ndel step_decay\n"
    assert findings(deleted) == []


def test_notebook_converted_source_is_plain_python():
    from grader.notebook import notebook_to_source

    cell = "def step_decay(lr0, t, step_size, gamma=0.1):\n    return lr0\n"
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# hi"]},
                    {"cell_type": "code", "metadata": {}, "source": [cell], "outputs": [], "execution_count": None}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    source = notebook_to_source(json.dumps(nb), "optimizers.ipynb")
    assert [f.function for f in findings(source, "optimizers")] == ["step_decay"]


def test_no_contract_no_findings_and_syntax_errors_raise():
    assert check_signatures("def f(:\n", "losses", {}) == []
    with pytest.raises(SyntaxError):
        check_signatures("def f(:\n", "losses", CONTRACT)


def test_the_shared_tree_is_only_read():
    source = replaced("def cross_entropy(input, target,", "def cross_entropy(target, input,")
    tree = ast.parse(source)
    before = ast.dump(tree)
    assert check_signatures("", "losses", CONTRACT, tree) == findings(source)
    assert ast.dump(tree) == before


def test_a_hostile_source_stays_within_a_time_budget():
    parts = [FULL]
    # tens of thousands of definitions and an alias chain through all of them
    parts += [f"def f{i}(a, b, c=1, d=2):\n    return a\n" for i in range(20_000)]
    parts += ["g0 = f0"] + [f"g{i} = g{i - 1}" for i in range(1, 20_000)] + ["cross_entropy = g19999"]
    # a long chain of classes whose methods must be looked up through the bases
    parts += ["class K0:\n    pass"] + [f"class K{i}(K{i - 1}):\n    x = {i}" for i in range(1, 5_000)]
    parts += ["SGD = K4999", "EarlyStopping = K4999"]
    # nesting as deep as the parser allows, statements and expressions
    deep = "".join("    " * i + "if x:\n" for i in range(90)) + "    " * 90 + "def step_decay(lr0, t):\n" + "    " * 91 + "pass\n"
    parts.append(deep)
    parts.append("y = " + "(" * 150 + "1" + ")" * 150)
    source = "\n".join(parts) + "\n"
    assert len(source) > 1_000_000
    tree = ast.parse(source)
    started = time.process_time()  # CPU time: the machine is shared
    found = check_signatures(source, "losses", CONTRACT, tree)
    assert time.process_time() - started < 1.0
    assert [f.function for f in found] == ["step_decay"]  # f0(a, b, c, d): a renamed cross_entropy


def test_intake_records_findings_for_every_topic_with_a_contract(tmp_path):
    contracts = {t: contract_signatures((ROOT / "reference" / f"{t}.py").read_text(encoding="utf-8"))
                 for t in ("losses", "training")}
    ref = (ROOT / "reference" / "training.py").read_text(encoding="utf-8")
    training = ref.replace("def __init__(self, patience: int = 5, min_delta: float = 0.0,",
                           "def __init__(self, min_delta: float = 0.0, patience: int = 5,")
    assert training != ref
    sub = make_submission(tmp_path, "s", {
        "training.py": training,
        "losses.py": "def mse_loss(target, input, reduction='mean'):\n    return (input - target) ** 2\n",
    })
    prepared = prepare(find_submissions([sub])[0], tmp_path / "job", ["losses", "training"], contracts=contracts)
    assert [f.function for f in prepared.signatures["losses"]] == ["mse_loss"]
    assert [f.function for f in prepared.signatures["training"]] == ["EarlyStopping.__init__"]
    without = prepare(find_submissions([sub])[0], tmp_path / "job2", ["losses", "training"])
    assert without.signatures == {}


def test_the_rubric_field_is_validated_and_inherited_by_topics():
    base = {"topics": {"losses": {"tests": {"mse_loss": 1}}, "init": {"argument_order_penalty": 0.5,
                                                                        "tests": {"uniform": 1}}}}
    assert parse_rubric(base).topics["losses"].argument_order_penalty == 0.0
    r = parse_rubric({**base, "argument_order_penalty": 2})
    assert r.topics["losses"].argument_order_penalty == 2.0 and r.topics["init"].argument_order_penalty == 0.5
    from grader.errors import RubricError
    with pytest.raises(RubricError, match="argument_order_penalty: must be a number >= 0"):
        parse_rubric({**base, "argument_order_penalty": -1})
    with pytest.raises(RubricError, match="topics.init.argument_order_penalty: must be a number >= 0"):
        parse_rubric({"topics": {"init": {"argument_order_penalty": "two", "tests": {"uniform": 1}}}})
    shipped = yaml.safe_load((ROOT / "reference" / "rubric.yaml").read_text(encoding="utf-8"))
    assert parse_rubric(shipped).topics["losses"].argument_order_penalty > 0


@pytest.mark.slow
def test_a_swapped_submission_loses_the_penalty_with_its_message_in_the_json(tmp_path):
    rubric = yaml.safe_load((MINICOURSE / "reference" / "rubric.yaml").read_text(encoding="utf-8"))
    rubric["argument_order_penalty"] = 2
    rubric_path = tmp_path / "rubric.yaml"
    rubric_path.write_text(yaml.safe_dump(rubric), encoding="utf-8")
    honest_def = "def mse_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = \"mean\")"
    assert honest_def in HONEST_LOSSES
    # mse is symmetric: every suite test passes, only the contract's order is broken
    swapped = HONEST_LOSSES.replace(honest_def, "def mse_loss(target, input, reduction=\"mean\")")
    renamed = HONEST_LOSSES.replace("def cross_entropy(input: torch.Tensor, target: torch.Tensor,",
                                    "def cross_entropy(logits: torch.Tensor, labels: torch.Tensor,").replace(
        "    m = input.amax", "    input, target = logits, labels\n    m = input.amax")
    subs = tmp_path / "subs"
    folders = [make_submission(subs, "swapped", {"losses.py": swapped}),
               make_submission(subs, "renamed", {"losses.py": renamed})]
    out = tmp_path / "r.json"
    result = CliRunner().invoke(cli, ["grade", *map(str, folders), "--course", str(MINICOURSE), "--rubric",
                                      str(rubric_path), "--device", "cpu", "--json", str(out), "--jobs", "2",
                                      "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    schema = json.loads((ROOT / "docs" / "results.schema.json").read_text(encoding="utf-8"))
    assert list(Draft202012Validator(schema).iter_errors(doc)) == []
    by_id = {s["id"]: s for s in doc["submissions"]}
    assert by_id["renamed"]["score"] == 10.0 and by_id["renamed"]["flags"] == []
    swapped_result = by_id["swapped"]
    assert swapped_result["score"] == 8.0
    entry = [t for t in swapped_result["topics"]["losses"]["tests"] if t["id"] == "losses::argument_order"]
    assert len(entry) == 1 and entry[0]["score"] == -2.0 and entry[0]["max_score"] == 0.0
    message = ("mse_loss(target, input, ...): the contract's order is mse_loss(input, target, ...): "
               "calls by position get the arguments swapped")
    assert entry[0]["message"] == message
    assert swapped_result["flags"] == [f"argument order in losses.mse_loss (line 8): {message}"]
    others = [t for t in swapped_result["topics"]["losses"]["tests"] if t["id"] != "losses::argument_order"]
    assert all(t["score"] == t["max_score"] for t in others)
