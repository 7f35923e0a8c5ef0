"""docs/catalog.md is generated from the catalog declarations and must match them exactly."""

from pathlib import Path

from soen_train.catalog.layers import LAYER_CATALOG
from soen_train.catalog.losses import LOSS_CATALOG
from soen_train.catalog.metrics import METRIC_CATALOG
from soen_train.catalog.optimizers import OPTIMIZER_CATALOG
from soen_train.catalog.source_functions import SOURCE_CATALOG
from soen_train.catalog.time_pooling import POOLING_CATALOG
from soen_train.config.catalog_doc import format_default, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"


def test_catalog_doc_is_up_to_date():
    assert DOC.read_text() == render(), (
        "docs/catalog.md is stale: run `python -m soen_train.config.catalog_doc > docs/catalog.md`"
    )


def test_every_declared_entry_appears_with_each_param_and_default():
    text = DOC.read_text()
    for cat in (LOSS_CATALOG, POOLING_CATALOG, METRIC_CATALOG, OPTIMIZER_CATALOG, SOURCE_CATALOG,
                LAYER_CATALOG):
        for decl in cat.declarations():
            rows = [line for line in text.splitlines() if line.startswith(f"| `{decl.name}`")]
            assert rows, f"{cat.kind} '{decl.name}' has no row"
            row = rows[0]
            for alias in decl.aliases:
                assert f"`{alias}`" in row
            for key, default in decl.params.items():
                assert f"`{key}` ({format_default(default)})" in row, (decl.name, key)
            reason = decl.missing.get("jax")
            if reason:
                assert f"no: {reason}" in row


def test_defaults_are_written_as_in_yaml():
    assert [format_default(v) for v in (None, True, 1e-06, (0.9, 0.999), "mae")] == [
        "null", "true", "1e-06", "(0.9, 0.999)", "mae",
    ]


def test_every_schedule_appears_with_each_param_and_default():
    from soen_train.registry import signature_params
    from soen_train.training.loss_weight_schedules import LOSS_WEIGHT_SCHEDULES
    from soen_train.training.lr_schedules import LR_SCHEDULES, schedule_parameters

    text = DOC.read_text()
    cases = [(n, schedule_parameters(n)) for n in LR_SCHEDULES.names()]
    cases += [
        (n, signature_params(LOSS_WEIGHT_SCHEDULES.get(n).__init__, skip=1))
        for n in LOSS_WEIGHT_SCHEDULES.names()
    ]
    for name, params in cases:
        rows = [line for line in text.splitlines() if line.startswith(f"| `{name}`")]
        assert rows, name
        for key, default in params.items():
            assert any(f"`{key}` ({format_default(default)})" in row for row in rows), (name, key)
