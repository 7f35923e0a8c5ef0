"""The epoch-metric catalog, declared once: accuracy, perplexity, bits per character.

A metric is ``fn(outputs, targets) -> float`` on the concatenated outputs and targets of a
whole epoch (exact epoch values), with no params. Only the torch backend implements them
(``soen_train.training.metrics``); the JAX loop hands its host arrays to those same
functions, so the catalog has one backend.
"""

from __future__ import annotations

from collections.abc import Iterable

from soen_train.catalog.declaration import Catalog, entry

#: Every metric (``logging.metrics``), logged as ``val_<name>`` / ``test_<name>``.
METRIC_CATALOG = Catalog(
    "metric",
    [
        entry(
            "accuracy",
            summary=(
                "[B, C] outputs: fraction with argmax = label. [B, T, C]: over positions with "
                "0 <= label < C only (padding −100 excluded); 0 if none"
            ),
        ),
        entry("perplexity", summary="exp(mean cross entropy in nats), padding excluded"),
        entry("bits_per_character", "bpc", summary="mean cross entropy / ln 2"),
    ],
    backends=("torch",),
    read_params={"torch": lambda fn: {}},
)


def validate_metric_names(names: Iterable[str]) -> None:
    """Raise ``UnknownNameError`` (listing valid metrics) for any unknown name."""
    for name in names:
        METRIC_CATALOG.canonical(str(name))
