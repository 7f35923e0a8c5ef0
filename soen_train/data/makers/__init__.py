"""Built-in dataset makers (``pulses``, ``digits``, ``mnist``) and ``build_dataset``.

Importing this package registers every maker in ``DATASETS``.
"""

from soen_train.data.makers import digits, mnist, pulses  # noqa: F401  (registers the makers)
from soen_train.data.makers.building import build_dataset
from soen_train.data.makers.catalog import DATASETS, DatasetMaker, MadeDataset
from soen_train.data.makers.mnist import locate_mnist

__all__ = ["DATASETS", "DatasetMaker", "MadeDataset", "build_dataset", "locate_mnist"]
