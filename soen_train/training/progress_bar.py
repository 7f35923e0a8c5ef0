"""The console progress bar: Lightning's rich bar without the logger version (`v_num`, an
MLflow run id that says nothing to the user) and with metrics short enough for one line."""

from __future__ import annotations

import time
from typing import Any, Dict, Union

from lightning.pytorch.callbacks import RichProgressBar

# a redraw per training step costs about as much as a tiny SOEN's step; ten a second look the same
MIN_REDRAW_INTERVAL_S = 0.1


class CompactProgressBar(RichProgressBar):
    """RichProgressBar showing each metric with 4 significant digits and no `v_num`, redrawn
    at most every MIN_REDRAW_INTERVAL_S during training (and always at an epoch's last batch)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_redraw = float("-inf")

    def get_metrics(self, trainer: Any, pl_module: Any) -> Dict[str, Union[int, str, float]]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return {k: f"{v:.4g}" if isinstance(v, float) else v for k, v in metrics.items()}

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        now = time.monotonic()
        if batch_idx + 1 >= self.total_train_batches or now - self._last_redraw >= MIN_REDRAW_INTERVAL_S:
            self._last_redraw = now
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
