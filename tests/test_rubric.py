from __future__ import annotations

from pathlib import Path

import pytest

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
