"""The console progress bar: Lightning's rich bar without the logger version (`v_num`, an
MLflow run id that says nothing to the user) and with metrics short enough for one line."""

from __future__ import annotations

from typing import Any, Dict, Union

from lightning.pytorch.callbacks import RichProgressBar


class CompactProgressBar(RichProgressBar):
    """RichProgressBar showing each metric with 4 significant digits and no `v_num`."""

    def get_metrics(self, trainer: Any, pl_module: Any) -> Dict[str, Union[int, str, float]]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return {k: f"{v:.4g}" if isinstance(v, float) else v for k, v in metrics.items()}
