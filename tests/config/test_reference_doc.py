"""docs/configuration.md is generated from the schema and must match it exactly."""

import dataclasses
import typing
from pathlib import Path

from soen_train.config import schema
from soen_train.config.reference_doc import field_docs, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_reference_doc_is_up_to_date():
    assert DOC.read_text() == render(), (
        "docs/configuration.md is stale: run "
        "`python -m soen_train.config.reference_doc > docs/configuration.md`"
    )


def test_every_schema_field_is_documented():
    undocumented = []
    for _, cls in vars(schema).items():
        if (
            isinstance(cls, type)
            and dataclasses.is_dataclass(cls)
            and cls.__module__ == schema.__name__
        ):
            docs = field_docs(cls)
            undocumented += [
                f"{cls.__name__}.{f.name}" for f in dataclasses.fields(cls) if f.name not in docs
            ]
    assert undocumented == []


def test_every_key_appears_with_its_default():
    text = DOC.read_text()
    assert "| `training.max_epochs` | int | `100` |" in text
    assert "| `training.optimizer.lr` | float | `${training.lr}` |" in text
    hints = typing.get_type_hints(schema.DataConfig)
    for name in hints:
        assert f"`data.{name}`" in text
