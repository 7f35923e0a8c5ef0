"""Reading and writing run records: MLflow wiring, TensorBoard reading, sweep summaries.

`from soen_train.tracking import TBReader` works; pandas and TensorBoard load only on first use.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("TBReader", "read_tb_logs"):
        from soen_train.tracking import tb_reader

        return getattr(tb_reader, name)
    raise AttributeError(f"module 'soen_train.tracking' has no attribute {name!r}")
