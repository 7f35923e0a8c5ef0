"""docs/models.md names every layer type, edge mode, connectivity pattern, weight init,
parameter distribution and source function that the registries hold (so a new entry cannot
ship undocumented)."""

from __future__ import annotations

from pathlib import Path

import pytest

from soen_train.model.connectivity import CONNECTION_PATTERNS, WEIGHT_INITS
from soen_train.model.distributions import PARAM_DISTRIBUTIONS
from soen_train.model.dynamic_edges import EDGE_MODES
from soen_train.model.layers import LAYER_TYPES
from soen_train.model.source_functions import SOURCE_FUNCTIONS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "models.md").read_text()

CATALOGS = {
    "layer type": LAYER_TYPES.names(),
    "edge mode": EDGE_MODES,
    "connection pattern": CONNECTION_PATTERNS.names(),
    "weight init": WEIGHT_INITS.names(),
    "parameter distribution": PARAM_DISTRIBUTIONS.names(),
    "source function": SOURCE_FUNCTIONS.names(),
}


@pytest.mark.parametrize("catalog", sorted(CATALOGS))
def test_models_doc_names_every_entry(catalog: str) -> None:
    missing = [name for name in CATALOGS[catalog] if f"`{name}`" not in DOC]
    assert not missing, f"docs/models.md does not name these {catalog}s: {missing}"
