"""The resumable bookkeeping of a JAX run and what one repeat reports."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from soen_train.jax.checkpoint import JaxCheckpoint
from soen_train.loop_policy.early_stopping import StoppingState


@dataclass
class JaxRunResult:
    """What a JAX repeat reports: metrics, checkpoint paths and timings."""

    metrics: Dict[str, float]
    best_checkpoint: Optional[str] = None
    last_checkpoint: Optional[str] = None
    compile_seconds: float = 0.0
    train_seconds: float = 0.0


@dataclass
class TrainerState:
    """The resumable bookkeeping of a run (saved in every checkpoint).

    ``stopping`` is the early-stopping rule's state (best ``val_loss`` and epochs since it);
    checkpoints store it as ``best_val`` / ``stale_epochs``.
    """

    epoch: int = 0  # epochs completed
    global_step: int = 0
    stopping: StoppingState = field(default_factory=StoppingState)
    top_k: List[Tuple[float, str]] = field(default_factory=list)  # (val_loss, path), best first
    history: List[Dict[str, float]] = field(default_factory=list)
    lr_schedule: Dict[str, Any] = field(default_factory=dict)
    best_path: Optional[str] = None

    @property
    def best_val(self) -> float:
        """Best validation loss so far (+inf before the first)."""
        return self.stopping.best

    @property
    def stale_epochs(self) -> int:
        """Validations since the best one."""
        return self.stopping.wait

    def to_dict(self) -> Dict[str, Any]:
        """JSON-safe form (stored in checkpoints)."""
        return {
            "best_val": self.best_val,
            "stale_epochs": self.stale_epochs,
            "top_k": [[v, p] for v, p in self.top_k],
            "history": self.history,
            "lr_schedule": self.lr_schedule,
            "best_path": self.best_path,
        }

    @classmethod
    def from_checkpoint(cls, ckpt: JaxCheckpoint) -> "TrainerState":
        """Rebuild from a checkpoint's ``trainer_state``."""
        s = ckpt.trainer_state
        stopping = StoppingState(best=float(s.get("best_val", math.inf)),
                                 wait=int(s.get("stale_epochs", 0)))
        return cls(
            epoch=ckpt.epoch,
            global_step=ckpt.global_step,
            stopping=stopping,
            top_k=[(float(v), str(p)) for v, p in s.get("top_k", [])],
            history=[dict(r) for r in s.get("history", [])],
            lr_schedule=dict(s.get("lr_schedule", {})),
            best_path=s.get("best_path"),
        )
