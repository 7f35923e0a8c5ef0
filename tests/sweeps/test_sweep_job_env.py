"""Override text round trips through Hydra's parser; trial env overrides and storage URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hypothesis import example, given, settings
from hypothesis import strategies as st

from soen_train.sweeps.job_env import trial_env_overrides
from soen_train.sweeps.override_text import primitive_text, quote_override_value
from soen_train.sweeps.storage import (
    StorageConfigError,
    masked_url,
    resolve_storage_url,
    url_has_password,
)

PARSER = OverridesParser.create()


@settings(max_examples=150, deadline=None)
@given(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=30).filter(
        lambda s: "${" not in s
    )
)
@example("\\\n")  # a backslash before a final newline (regex `$` matched before the newline)
def test_quoted_text_parses_back_exactly(text: str) -> None:
    assert PARSER.parse_override(f"k={quote_override_value(text)}").value() == text


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.booleans(),
        st.integers(-(10**9), 10**9),
        st.floats(allow_nan=False),
        st.text(max_size=20).filter(lambda s: "${" not in s),
    )
)
def test_primitive_text_parses_back_with_its_type(value) -> None:
    back = PARSER.parse_override(f"k={primitive_text(value)}").value()
    assert type(back) is type(value) and back == value


def test_interpolations_are_refused() -> None:
    with pytest.raises(ValueError, match="interpolation"):
        quote_override_value("${oc.env:HOME}")


def test_trial_env_overrides_set_hydra_env_set() -> None:
    url = "sqlite:////tmp/a b/it's/optuna.db"
    lines = trial_env_overrides(url, "my study", 12)
    parsed = {
        PARSER.parse_override(line).key_or_group: PARSER.parse_override(line).value()
        for line in lines
    }
    assert parsed == {
        "hydra.job.env_set.SOEN_OPTUNA_STORAGE": url,
        "hydra.job.env_set.SOEN_OPTUNA_STUDY": "my study",
        "hydra.job.env_set.SOEN_OPTUNA_TRIAL": "12",  # env values are strings
    }
    assert all(line.startswith("++") for line in lines)  # add, or replace a user's env_set key
    without = trial_env_overrides(url, "s", 1, include_storage=False)
    assert [line.split("=")[0] for line in without] == [
        "++hydra.job.env_set.SOEN_OPTUNA_STUDY",
        "++hydra.job.env_set.SOEN_OPTUNA_TRIAL",
    ]


def test_default_storage_is_an_absolute_sqlite_file_in_the_sweep_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert (
        resolve_storage_url(None, "multirun/run1")
        == f"sqlite:///{tmp_path}/multirun/run1/optuna.db"
    )
    # Jobs may chdir, so a relative SQLite path is pinned to the sweeper's cwd.
    assert (
        resolve_storage_url("sqlite:///studies/s.db", "x") == f"sqlite:///{tmp_path}/studies/s.db"
    )
    assert (
        resolve_storage_url("sqlite:////abs/s.db?timeout=5", "x") == "sqlite:////abs/s.db?timeout=5"
    )
    assert resolve_storage_url("postgresql://u@h/db", "x") == "postgresql://u@h/db"


@pytest.mark.parametrize(
    "bad, message",
    [
        ("optuna.db", "not a database URL"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite:///", "names no"),
    ],
)
def test_bad_storage_values_are_explained(bad: str, message: str) -> None:
    with pytest.raises(StorageConfigError, match=message):
        resolve_storage_url(bad, "sweep")


def test_passwords_are_detected_and_masked() -> None:
    url = "postgresql://alice:s3cret@db.example:5432/optuna"
    assert url_has_password(url)
    assert "s3cret" not in masked_url(url) and "alice" in masked_url(url)
    assert not url_has_password("sqlite:////tmp/optuna.db")
