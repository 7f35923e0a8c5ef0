"""The ``DATASETS`` registry and what every built-in dataset maker provides."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from soen_train.data.makers.params import Param
from soen_train.registry import Registry

#: Class names of the digit datasets (labels 0..9).
DIGIT_CLASS_NAMES: tuple[str, ...] = tuple(str(d) for d in range(10))


@dataclass
class MadeDataset:
    """A generated dataset: ``{split: (data [N, T, D] float32, labels)}`` plus root attributes."""

    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    attrs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def classification(
        cls,
        splits: dict[str, tuple[np.ndarray, np.ndarray]],
        *,
        task: str,
        description: str,
        class_names: Sequence[str],
        seed: int,
        **extra: Any,
    ) -> MadeDataset:
        """A classification dataset with the root attributes every built-in one carries.

        Shape attributes are read from the data (``seq_length`` T and ``n_features`` D of
        the [N, T, D] arrays, ``total_samples`` over all splits), so they cannot disagree.

        Args:
            splits: {split: (data float32 [N, T, D], int labels [N])}.
            task: the ``task`` attribute (dataset name).
            description: one line saying what the data is.
            class_names: one name per class label 0, 1, ... (``n_classes`` is their number).
            seed: the seed that made the data (``random_seed``).
            **extra: further root attributes (e.g. ``source`` files).
        """
        data = splits["train"][0]
        attrs = {
            "task": task,
            "description": description,
            "n_classes": len(class_names),
            "class_names": ",".join(class_names),
            "seq_length": int(data.shape[1]),
            "n_features": int(data.shape[2]),
            "total_samples": int(sum(len(labels) for _, labels in splits.values())),
            "random_seed": seed,
            **extra,
        }
        return cls(splits=splits, attrs=attrs)


class DatasetMaker(ABC):
    """Base of the built-in makers: declared params, a version, and ``make``.

    ``version`` changes whenever the generated data would change for the same params, so
    files written by an older maker are rebuilt.
    """

    name: str = ""
    version: int = 1
    params: ClassVar[Mapping[str, Param]] = {}

    def fetch(self, params: Mapping[str, Any], out_path: Path) -> None:
        """Bring the source files to this machine if they are missing (a download for MNIST).

        Called before anything else is done with the dataset, so a missing source fails fast.
        Generated datasets have nothing to fetch.
        """
        return None

    def sources(self, params: Mapping[str, Any], out_path: Path) -> dict[str, Any]:
        """Identity of the input files the dataset is built from (none for generated data)."""
        return {}

    @abstractmethod
    def make(self, params: Mapping[str, Any], out_path: Path) -> MadeDataset:
        """Build the splits and attributes for the resolved ``params``."""


DATASETS: Registry[DatasetMaker] = Registry("dataset")
