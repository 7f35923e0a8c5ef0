"""Built-in dataset makers (``pulses``, ``digits``, ``mnist``, ``mnist1d``) and ``build_dataset``.

Importing this package registers every maker in ``DATASETS``.
"""

from soen_train.data.makers import digits, mnist, mnist1d, pulses  # noqa: F401  (registers makers)
from soen_train.data.makers.building import (
    build_dataset,
    dataset_output_path,
    fetch_dataset_sources,
)
from soen_train.data.makers.catalog import DATASETS, DatasetMaker, MadeDataset
from soen_train.data.makers.mnist import locate_mnist

__all__ = ["DATASETS", "DatasetMaker", "MadeDataset", "build_dataset", "dataset_output_path",
           "fetch_dataset_sources",
           "locate_mnist"]
