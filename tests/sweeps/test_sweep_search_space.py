"""Sweep override syntax -> Optuna distributions -> job overrides that parse back to the value."""

from __future__ import annotations

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from soen_train.sweeps.search_space import SearchSpaceError, build_search_space

PARSER = OverridesParser.create()


def parsed_value(override_line: str):
    """What Hydra makes of one ``key=value`` job override."""
    return PARSER.parse_override(override_line).value()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("interval(0, 1)", FloatDistribution(0.0, 1.0)),
        ("tag(log, interval(1e-4, 1e-1))", FloatDistribution(1e-4, 0.1, log=True)),
        ("tag(int, interval(1, 64))", IntDistribution(1, 64)),
        ("tag(log, int, interval(1, 64))", IntDistribution(1, 64, log=True)),
        ("range(1, 10, 2)", IntDistribution(1, 9, step=2)),  # half-open: 1,3,5,7,9
        ("range(10, 0, -3)", IntDistribution(1, 10, step=3)),  # 10,7,4,1
        ("tag(log, range(1, 8))", IntDistribution(1, 7, log=True)),
        ("range(0.1, 1.0, 0.1)", FloatDistribution(0.1, 0.9, step=0.1)),
        ("choice(max, mean, final)", CategoricalDistribution(["max", "mean", "final"])),
        ("adam,sgd,3", CategoricalDistribution(["adam", "sgd", 3])),
    ],
)
def test_upstream_syntax_maps_to_distributions(text: str, expected) -> None:
    space = build_search_space({"k": text}, [])
    assert space.params["k"].distribution == expected
    assert space.fixed_overrides == []


def test_command_line_replaces_config_params_and_fixed_overrides_pass_through() -> None:
    space = build_search_space(
        {"x": "interval(0, 1)", "y": "choice(a, b)"},
        ["x=interval(2, 3)", "epochs=3", "~dropout", "+extra=choice(1,2)"],
    )
    assert space.params["x"].distribution == FloatDistribution(2.0, 3.0)
    assert set(space.params) == {"x", "y", "+extra"}
    assert space.fixed_overrides == ["epochs=3", "~dropout"]


def test_job_overrides_parse_back_to_the_sampled_values() -> None:
    space = build_search_space(
        {
            "lr": "tag(log, interval(1e-5, 1e-1))",
            "n": "range(1, 10, 2)",
            "name": "choice(plain, 'with space', \"it's\", 'a,b')",
            "shape": "choice([1,2], [3])",
            "flag": "choice(true, false)",
        },
        ["fixed=7"],
    )
    values = {
        "lr": 1.2345678901234567e-05,
        "n": 7,
        "name": "with space",
        "shape": "[1,2]",
        "flag": False,
    }
    lines = space.job_overrides(values)
    assert lines[0] == "fixed=7"
    back = {line.split("=", 1)[0]: parsed_value(line) for line in lines[1:]}
    assert back["lr"] == values["lr"]  # repr keeps every digit of the float
    assert back["n"] == 7
    assert back["name"] == "with space"
    assert back["shape"] == [1, 2]  # a list choice is handed to the job as a list
    assert back["flag"] is False
    for tricky in ("a,b", "it's"):  # escaped so the job sees one string, not a sweep
        assert parsed_value(space.job_overrides({**values, "name": tricky})[3]) == tricky


def test_composition_key_ignores_numbers_but_not_choices() -> None:
    """Jobs that differ only in sampled numbers compose alike (one early check for all); a
    categorical value may name a config group option, so it stays in the key."""
    space = build_search_space(
        {"lr": "tag(log, interval(1e-4, 1e-1))", "n": "range(1, 10, 2)", "model": "choice(a, b)"},
        ["fixed=7"],
    )
    key = space.composition_key({"lr": 1e-3, "n": 3, "model": "a"})
    assert key == space.composition_key({"lr": 5e-2, "n": 9, "model": "a"})
    assert key != space.composition_key({"lr": 1e-3, "n": 3, "model": "b"})
    assert key[0] == "fixed=7" and "model=a" in key


def test_grid_lists_every_discrete_value() -> None:
    space = build_search_space({"n": "range(0, 6, 2)", "f": "range(0.5, 2.0, 0.5)", "c": "x,y"}, [])
    assert space.grid() == {"n": [0, 2, 4], "f": [0.5, 1.0, 1.5], "c": ["x", "y"]}
    with pytest.raises(SearchSpaceError, match="continuous"):
        build_search_space({"x": "interval(0, 1)"}, []).grid()


@pytest.mark.parametrize(
    "text, message",
    [
        ("shuffle(range(1, 4))", "shuffle"),
        ("tag(squared, interval(0, 1))", "valid: \\['log', 'int'\\]"),
        ("tag(log, interval(0, 1))", "start > 0"),
        ("interval(2, 1)", "start < end"),
        ("tag(int, interval(0.5, 4))", "whole-number"),
        ("tag(log, range(1, 10, 2))", "step 1"),
        ("range(5, 1)", "empty"),
        ("choice(a, a)", "twice"),
        ("tag(log, choice(1, 2))", "no meaning on a choice"),
        ("interval(0, ", "cannot parse"),
    ],
)
def test_bad_sweeps_name_the_key_and_the_problem(text: str, message: str) -> None:
    with pytest.raises(SearchSpaceError, match=message) as info:
        build_search_space({"lr": text}, [])
    assert "lr" in str(info.value) or "cannot parse" in str(info.value)


def test_value_outside_the_choices_is_an_error() -> None:
    space = build_search_space({"c": "choice(1, 2)"}, [])
    with pytest.raises(SearchSpaceError, match="not one of the choices"):
        space.job_overrides({"c": 3})
    with pytest.raises(SearchSpaceError, match="lack"):
        space.job_overrides({})
