"""The ``DATASETS`` registry and what every built-in dataset maker provides."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from soen_train.data.makers.params import Param
from soen_train.registry import Registry


@dataclass
class MadeDataset:
    """A generated dataset: ``{split: (data [N, T, D] float32, labels)}`` plus root attributes."""

    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    attrs: dict[str, Any] = field(default_factory=dict)


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
