from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.errors import RubricError
from grader.rubric import load_rubric, parse_rubric


def _base(**topic):
    return {"schema": 1, "topics": {"losses": {"tests": {"mse_loss": 2}, **topic}}}


def test_valid_rubric_with_named_tiers_and_limits():
    r = parse_rubric(
        {
            "schema": 1, "seed": 3, "show_expected": True,
            "limits": {"call_timeout": 5, "memory_mb": 1024},
            "tiers": {"near": [{"within": 10, "credit": 0.5}]},
            "topics": {"losses": {"points": 5, "forbidden_penalty": 1,
                                  "tests": {"mse_loss": 2, "cross_entropy": {"points": 3, "tiers": "near"}}}},
        }
    )
    assert r.seed == 3 and r.show_expected and r.limits.call_timeout == 5 and r.limits.memory_mb == 1024
    assert r.topics["losses"].points == 5 and r.max_score == 5
    assert r.topics["losses"].groups["cross_entropy"].tiers[0].credit == 0.5


@pytest.mark.parametrize(
    "data,words",
    [
        ({"schema": 2}, "unsupported rubric schema"),
        ({"topcs": {}}, "unknown key 'topcs'"),
        ({"topics": {"lossess": {}}}, "topics.lossess: unknown topic"),
        (_base(points=7), "topics.losses.points: is 7 but the tests' points add up to 2"),
        ({"topics": {"losses": {"tests": {"mse_loss": "two"}}}}, "topics.losses.tests.mse_loss: must be a number"),
        ({"topics": {"losses": {"tests": {"mse_loss": {"points": 1, "tiers": "nope"}}}}}, "no tier list named 'nope'"),
        ({"topics": {"losses": {"tests": {"mse_loss": {"points": 1, "tiers": [{"within": 10, "credit": 2}]}}}}},
         "credit: must be at most 1"),
        ({"limits": {"call_timout": 3}}, "limits: unknown key 'call_timout'"),
        ({"limits": {"memory_mb": 1.5}}, "limits.memory_mb: must be an integer"),
        ({"show_expected": "yes"}, "show_expected: must be true or false"),
        ([1, 2], "expected a mapping"),
        ({"settings": {"capstone": {"epochs": [1]}}}, "settings.capstone.epochs: must be a number or a string"),
        ({"settings": {"capstone": 3}}, "settings.capstone: expected a mapping"),
        ({"topics": {"losses": {"tests": {"mse_loss": float("inf")}}}}, "topics.losses.tests.mse_loss: must be a number >= 0, got inf"),
        ({"topics": {"losses": {"tests": {"mse_loss": float("nan")}}}}, "topics.losses.tests.mse_loss: must be a number"),
        ({"topics": {"losses": {"tests": {"mse_loss": -1}}}}, "topics.losses.tests.mse_loss: must be a number >= 0, got -1"),
        (_base(forbidden_penalty=-2), "topics.losses.forbidden_penalty: must be a number >= 0"),
        ({"limits": {"call_timeout": float("inf")}}, "limits.call_timeout: must be a number >= 1, got inf"),
        ({"seed": float("inf")}, "seed: must be an integer >= 0"),
        ({"tiers": {"near": [{"within": 10, "credit": 0.25}, {"within": 100, "credit": 0.5}]}},
         "tiers.near[1].credit: 0.5 for within 100 is more than the 0.25 for within 10"),
        ({"topics": {"losses": {"tests": {"mse_loss": {"tiers": []}}}}}, "topics.losses.tests.mse_loss: needs 'points'"),
    ],
)
def test_errors_name_the_field(data, words):
    with pytest.raises(RubricError) as err:
        parse_rubric(data, "rubric.yaml")
    assert str(err.value).startswith("rubric.yaml")
    assert words in str(err.value)


def test_settings_reach_the_suites_unchanged():
    r = parse_rubric({"schema": 1, "settings": {"capstone": {"epochs": 8, "lr": 0.01, "name": "digits"}}})
    assert r.settings == {"capstone": {"epochs": 8, "lr": 0.01, "name": "digits"}}
    assert parse_rubric({"schema": 1}).settings == {}


def test_load_reports_yaml_errors_with_line(tmp_path):
    path = tmp_path / "rubric.yaml"
    path.write_text("schema: 1\ntopics:\n  losses: [\n")
    with pytest.raises(RubricError, match="rubric.yaml: not valid YAML at line"):
        load_rubric(path)
    with pytest.raises(RubricError, match="not found"):
        load_rubric(tmp_path / "missing.yaml")


def test_shipped_rubric_is_valid():
    from tests.mutation import ROOT

    r = load_rubric(ROOT / "reference" / "rubric.yaml")
    assert r.max_score > 0


def test_parallel_graders_read_the_same_rubric_settings_included():
    from grader.parallel import _rubric_to_data

    shipped = load_rubric(Path(__file__).resolve().parent.parent / "reference" / "rubric.yaml")
    again = parse_rubric(_rubric_to_data(shipped), "copy")
    assert again.settings == shipped.settings and again.settings["capstone"]["epochs"] > 0
    assert again.topics == shipped.topics and again.limits == shipped.limits and again.seed == shipped.seed


def test_load_refuses_a_folder_or_fifo_without_blocking(tmp_path):
    import os

    (tmp_path / "dir.yaml").mkdir()
    os.mkfifo(tmp_path / "fifo.yaml")
    for name in ("dir.yaml", "fifo.yaml"):
        with pytest.raises(RubricError, match=f"{name}: the rubric must be a YAML file"):
            load_rubric(tmp_path / name)


def test_load_reports_bad_encoding_in_one_line(tmp_path):
    path = tmp_path / "rubric.yaml"
    path.write_bytes("schema: 1\n# r\xe9sum\xe9\n".encode("latin-1"))
    with pytest.raises(RubricError, match="rubric.yaml: cannot read the rubric") as err:
        load_rubric(path)
    assert "\n" not in str(err.value)


_yaml_like = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**20) | st.floats(allow_nan=True) | st.text(max_size=6)
    | st.sampled_from(["losses", "mse_loss", "near", "points", "tiers", "tests"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["schema", "seed", "show_expected", "limits", "tiers", "settings", "topics", "losses",
                         "mse_loss", "points", "tests", "within", "credit", "forbidden_penalty", "near",
                         "call_timeout", "memory_mb"]) | st.integers(0, 3) | st.text(max_size=4),
        inner, max_size=4),
    max_leaves=15,
)


@settings(max_examples=150, derandomize=True, deadline=None)
@given(_yaml_like)
def test_any_yaml_value_parses_or_is_a_rubric_error(data):
    try:
        r = parse_rubric(data, "rubric.yaml")
    except RubricError as exc:
        assert str(exc).startswith("rubric.yaml") and "\n" not in str(exc)
        return
    assert math.isfinite(r.max_score) and r.max_score >= 0
    for topic in r.topics.values():
        for group in topic.groups.values():
            assert math.isfinite(group.points) and group.points >= 0
            assert all(0 <= t.credit <= 1 and t.within >= 1 for t in group.tiers)
